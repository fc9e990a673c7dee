"""Huawei Cloud DNS against the signature-checking fake over real HTTPS, on both transports, and the CLI."""

from __future__ import annotations

import time

import agent_env
import pytest
from agent_env import AgentEnv, set_wan
from fakes import Fault
from fakes.huaweicloud import HuaweiCloudFake
from fakes.server import FakeHttp

from ddns_agent.errors import AuthError, NotFoundError, RejectedError, TransientError, UnconfirmedError
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.huaweicloud import HuaweiCloud, sdk_sign
from ddns_agent.secret import Secret

AK = "HPUAL3WXKQ9TZ2MBVN7E"
SK = "u8Qp2Zr5Lx9Wc3Vb7Nm1Kj4Hg6Fd0Sa2Qw8Ee5Rt"
WRONG_SK = "u8Qp2Zr5Lx9Wc3Vb7Nm1Kj4Hg6Fd0Sa2Qw8Ee5RX"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, sk: str = SK, **options) -> HuaweiCloud:
        opts = {"access_key_id": AK, "secret_access_key": Secret(sk), "endpoint": self.server.url}
        opts.update(options)
        return HuaweiCloud(opts, self.http)

    def calls(self) -> list:
        return ["%s %s" % (r.method, r.route) for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = HuaweiCloudFake(AK, SK, zones=("example.com", "example.net"))
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home", "example.com", name, type, ttl)


def zone_id(api) -> str:
    return next(k for k, v in api.fake.zones.items() if v == "example.com.")


def test_find_looks_up_the_zone_then_the_exact_record_set(api):
    set_id = api.fake.add("home.example.com", "A", "203.0.113.5", ttl=600)
    api.fake.add("myhome.example.com", "A", "198.51.100.3")
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl) == ("%s/%s" % (zone_id(api), set_id), "203.0.113.5", 600)
    assert api.server.requests[0].query == {"type": "public", "name": "example.com.", "search_mode": "equal"}
    assert api.server.requests[1].query == {"name": "home.example.com.", "type": "A", "search_mode": "equal",
                                            "limit": "100", "offset": "0"}
    sent = api.server.requests[1]
    assert "SignedHeaders=content-type;host;x-sdk-date," in sent.headers["authorization"]
    assert SK not in str(sent.headers)


def test_no_record_set_is_not_found_and_other_lines_are_not_ours(api):
    api.fake.add("home.example.com", "A", "198.51.100.1", line="Dianxin")
    assert api.provider().find(rec()) is None


def test_create_posts_an_absolute_name_without_a_ttl_unless_set(api):
    made = api.provider().create(rec(), "203.0.113.7")
    assert api.server.requests[-1].json() == {"name": "home.example.com.", "type": "A",
                                               "records": ["203.0.113.7"]}
    [stored] = api.fake.named("home.example.com", "A")
    assert (stored["records"], stored["ttl"]) == (["203.0.113.7"], 300)
    assert made.id.endswith("/" + next(iter(api.fake.sets)))
    api.provider().create(rec("@", "AAAA", ttl=3600), "2001:db8::7")
    [apex] = api.fake.named("example.com", "AAAA")
    assert (apex["records"], apex["ttl"]) == (["2001:db8::7"], 3600)


def test_create_of_an_existing_record_set_adopts_it(api):
    set_id = api.fake.add("home.example.com", "A", "203.0.113.7")
    assert api.provider().create(rec(), "203.0.113.7").id.endswith(set_id)
    assert len(api.fake.sets) == 1


@pytest.mark.parametrize("type, old, new", [("A", "203.0.113.5", "203.0.113.9"),
                                            ("AAAA", "2001:db8::5", "2001:db8::9")])
def test_update_with_a_cached_id_is_one_put_that_keeps_the_ttl(api, type, old, new):
    set_id = api.fake.add("home.example.com", type, old, ttl=900)
    remote = Remote("%s/%s" % (zone_id(api), set_id), old)
    result = api.provider().update(rec(type=type), remote, new)
    assert api.calls() == ["PUT /v2.1/zones/%s/recordsets/%s" % (zone_id(api), set_id)]
    assert api.server.requests[0].json() == {"records": [new]}  # no ttl: the set keeps its own
    assert api.fake.sets[set_id]["records"] == [new] and api.fake.sets[set_id]["ttl"] == 900
    assert (result.id, result.value, result.ttl) == (remote.id, new, 900)


def test_update_sends_the_ttl_when_configured(api):
    set_id = api.fake.add("home.example.com", "A", "203.0.113.5", ttl=900)
    api.provider().update(rec(ttl=120), Remote("%s/%s" % (zone_id(api), set_id), "x"), "203.0.113.9")
    assert api.fake.sets[set_id]["ttl"] == 120


def test_update_with_a_stale_id_raises_not_found(api):
    with pytest.raises(NotFoundError, match="DNS.0313 This record set does not exist"):
        api.provider().update(rec(), Remote("%s/2c9e0000" % zone_id(api), "x"), "203.0.113.9")
    with pytest.raises(NotFoundError):
        api.provider().update(rec(), Remote("no-zone-in-this-id", "x"), "203.0.113.9")
    assert len(api.server.requests) == 1


def test_wrong_secret_key_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="refused access_key_id/secret_access_key: APIGW.0301") as info:
        api.provider(sk=WRONG_SK).find(rec())
    assert SK not in str(info.value) and WRONG_SK not in str(info.value)
    assert len(api.server.requests) == 1 and api.fake.writes == 0


def test_clock_skew_is_reported_as_such(api):
    provider = api.provider()
    provider.clock = lambda: time.time() - 1200
    with pytest.raises(AuthError, match="check the router's clock.*APIGW.0303"):
        provider.find(rec())
    provider.clock = lambda: time.time() - 600  # within the 15 minutes the gateway allows
    assert provider.find(rec()) is None


def test_refusals_carry_the_servers_code(api):
    with pytest.raises(RejectedError, match="DNS.0319 The TTL parameter has been out of range"):
        api.provider().create(rec(ttl=-5), "203.0.113.7")
    with pytest.raises(RejectedError, match="public zone example.org not found"):
        api.provider().find(RecordSpec("x", "example.org", "home", "A"))
    assert api.fake.sets == {}


def test_server_errors_are_transient_and_malformed_answers_unconfirmed(api):
    api.server.inject(status=503, body='{"code": "DNS.0000", "message": "The system is busy."}')
    with pytest.raises(TransientError):
        api.provider().find(rec())
    set_id = api.fake.add("home.example.com", "A", "203.0.113.5")
    for fault in (Fault(status=202, body=b'{"id": '), Fault(status=202, body=b'{"name": "x"}'),
                  Fault(truncate=True)):
        api.server.inject(fault)
        with pytest.raises(UnconfirmedError):
            api.provider().update(rec(), Remote("%s/%s" % (zone_id(api), set_id), "x"), "203.0.113.9")


def test_check_lists_the_zones_and_changes_nothing(api):
    assert api.provider().check() == "key accepted; zones example.com, example.net"
    assert api.fake.writes == 0
    with pytest.raises(AuthError):
        api.provider(sk=WRONG_SK).check()


def test_the_fake_checks_what_the_gateway_checks(api):
    def send(path: str, query: str = "", tamper=None, drop: str = "", **extra) -> tuple:
        host = "127.0.0.1:%d" % api.server.port
        signed = {"Content-Type": "application/json", "Host": host,
                  "X-Sdk-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())}
        sig = sdk_sign(AK, SK, "GET", path, query, signed, b"")
        headers = dict(signed, Authorization=sig.authorization)
        headers.update(extra)
        headers.pop(drop, None)
        target = path + ("?" + (tamper or query) if query else "")
        resp = api.http.request("GET", api.server.url + target, headers)
        body = resp.json()
        return resp.status, body.get("error_code") or body.get("code")

    assert send("/v2/zones", "type=public")[0] == 200
    assert send("/v2/zones", "type=public", tamper="type=private") == (401, "APIGW.0301")
    assert send("/v2/zones", "type=public", drop="Authorization") == (401, "APIGW.0301")
    assert send("/v2/zones", "type=public", **{"X-Sdk-Date": "20191115T033655Z"}) == (401, "APIGW.0303")
    assert send("/v2/zones", "type=public", Authorization="Bearer x") == (401, "APIGW.0301")
    assert send("/v2.1/zones/nope/recordsets") == (404, "DNS.0302")
    assert api.fake.writes == 0


def test_runs_in_process_through_fake_http():
    fake = HuaweiCloudFake(AK, SK)
    http = FakeHttp(fake)
    provider = HuaweiCloud({"access_key_id": AK, "secret_access_key": Secret(SK), "endpoint": http.url}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert [s["records"] for s in fake.sets.values()] == [["203.0.113.8"]]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'hw'
	option type 'huaweicloud'
	option access_key_id '%(ak)s'
	option secret_access_key_file '%(key_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'hw'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'hw'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '3600'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = HuaweiCloudFake(AK, SK)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    key_file = tmp_path / "sk"
    key_file.write_text(SK + "\n")
    key_file.chmod(0o600)
    env.config(CONFIG % {"ak": AK, "key_file": key_file, "endpoint": server.url, "cacert": server.cafile})
    return env, fake


def assert_no_secret(env: AgentEnv, *runs) -> None:
    agent_env.assert_no_secret(env, runs, SK, WRONG_SK)


def test_cli_creates_then_updates_with_one_request_per_record_then_sends_nothing(agent):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert "home.example.com A: published 203.0.113.7" in first.stderr
    assert [(s["records"], s["ttl"]) for s in fake.named("home.example.com", "A")] == [(["203.0.113.7"], 300)]
    assert [(s["records"], s["ttl"]) for s in fake.named("home.example.com", "AAAA")] == \
        [(["2001:db8::7"], 3600)]

    set_wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert [r.method for r in fake.requests[before:]] == ["PUT", "PUT"]

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr
    assert_no_secret(env, first, second, third)


def test_cli_wrong_key_fails_the_record_and_check_online_says_so(agent, tmp_path):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    (tmp_path / "sk").write_text(WRONG_SK)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr and "APIGW.0301" in done.stderr
    assert fake.sets == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider hw (huaweicloud): FAILED: Huawei Cloud refused access_key_id/secret_access_key" \
        in check.stdout
    (tmp_path / "sk").write_text(SK)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider hw (huaweicloud): OK: key accepted; zones example.com" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)


def test_providers_command_lists_huaweicloud_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("huaweicloud:"):].split("\n\n")[0]
    for option in ("access_key_id", "secret_access_key (or secret_access_key_file)"):
        assert option in block
