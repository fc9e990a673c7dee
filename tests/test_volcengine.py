"""Volcengine DNS against the signature-checking fake over real HTTPS, on both transports, and the CLI."""

from __future__ import annotations

import hashlib
import time

import agent_env
import pytest
from agent_env import AgentEnv, set_wan
from fakes import Fault
from fakes.server import FakeHttp
from fakes.volcengine import VolcengineFake

from ddns_agent.errors import AuthError, NotFoundError, RejectedError, TransientError, UnconfirmedError
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.signing import v4_query, v4_sign
from ddns_agent.providers.volcengine import Volcengine
from ddns_agent.secret import Secret

AK = "AKLTNmQ4ZjFhYjcwZWQ3NDk2ZTk2YWYzMDc4ZGVmMGU2YzU"
SK = "TmpGaU1UQTFNR0UzTURrME5EQTBPRGt5TnpVd1pHSmlZekExTVRreVpqRQ=="
WRONG_SK = "TmpGaU1UQTFNR0UzTURrME5EQTBPRGt5TnpVd1pHSmlZekExTVRreVpqRX=="


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, sk: str = SK, **options) -> Volcengine:
        opts = {"access_key_id": AK, "secret_access_key": Secret(sk), "endpoint": self.server.url}
        opts.update(options)
        return Volcengine(opts, self.http)

    def actions(self) -> list:
        return [r.query.get("Action") for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = VolcengineFake(AK, SK, zones=("example.com", "example.net"))
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home", "example.com", name, type, ttl)


def test_find_looks_up_the_zone_then_the_exact_host(api):
    record_id = api.fake.add("home", "A", "203.0.113.5", ttl=900)
    api.fake.add("myhome", "A", "198.51.100.3")
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl) == (record_id, "203.0.113.5", 900)
    assert api.actions() == ["ListZones", "ListRecords"]
    assert api.server.requests[1].query == {"Action": "ListRecords", "Version": "2018-08-01",
                                            "ZID": str(next(iter(api.fake.zones))), "Host": "home",
                                            "Type": "A", "SearchMode": "exact", "PageNumber": "1",
                                            "PageSize": "500"}
    signed = api.server.requests[1].headers["authorization"]
    assert "/cn-north-1/DNS/request, SignedHeaders=host;x-date," in signed


def test_no_record_is_not_found_and_other_lines_are_not_ours(api):
    api.fake.add("home", "A", "198.51.100.1", line="telecom")
    assert api.provider().find(rec()) is None


def test_create_on_the_default_line_without_a_ttl_unless_set(api):
    made = api.provider().create(rec(), "203.0.113.7")
    assert api.server.requests[-1].json() == {"ZID": next(iter(api.fake.zones)), "Host": "home", "Type": "A",
                                               "Value": "203.0.113.7", "Line": "default"}
    signed = api.server.requests[-1].headers["authorization"]
    assert "SignedHeaders=content-type;host;x-content-sha256;x-date," in signed
    assert api.fake.records[made.id]["TTL"] == 600
    apex = api.provider().create(rec("@", "AAAA", ttl=3600), "2001:db8::7")
    assert (api.fake.records[apex.id]["Host"], api.fake.records[apex.id]["TTL"]) == ("@", 3600)


def test_create_of_an_identical_record_adopts_it(api):
    record_id = api.fake.add("home", "A", "203.0.113.7")
    assert api.provider().create(rec(), "203.0.113.7").id == record_id
    assert len(api.fake.records) == 1


@pytest.mark.parametrize("type, old, new", [("A", "203.0.113.5", "203.0.113.9"),
                                            ("AAAA", "2001:db8::5", "2001:db8::9")])
def test_update_with_a_cached_id_is_one_request_that_keeps_the_ttl(api, type, old, new):
    record_id = api.fake.add("home", type, old, ttl=900)
    result = api.provider().update(rec(type=type), Remote(record_id, old), new)
    assert api.actions() == ["UpdateRecord"]
    assert api.server.requests[0].json() == {"RecordID": record_id, "Host": "home", "Type": type,
                                             "Value": new, "Line": "default"}
    assert (api.fake.records[record_id]["Value"], api.fake.records[record_id]["TTL"]) == (new, 900)
    assert (result.id, result.value, result.ttl) == (record_id, new, 900)


def test_update_sends_the_ttl_when_configured_and_a_stale_id_is_not_found(api):
    record_id = api.fake.add("home", "A", "203.0.113.5", ttl=900)
    api.provider().update(rec(ttl=120), Remote(record_id, "x"), "203.0.113.9")
    assert api.fake.records[record_id]["TTL"] == 120
    with pytest.raises(NotFoundError, match="RecordNotFound"):
        api.provider().update(rec(), Remote("70999", "x"), "203.0.113.9")


def test_wrong_secret_key_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="access_key_id/secret_access_key: SignatureDoesNotMatch") as info:
        api.provider(sk=WRONG_SK).find(rec())
    assert SK not in str(info.value) and WRONG_SK not in str(info.value)
    assert len(api.server.requests) == 1 and api.fake.actions == []
    with pytest.raises(AuthError, match="InvalidAccessKey"):
        api.provider(access_key_id="AKLTunknown").find(rec())


def test_clock_skew_is_reported_as_such(api):
    provider = api.provider()
    provider.clock = lambda: time.time() - 1200
    with pytest.raises(AuthError, match="check the router's clock.*InvalidTimestamp"):
        provider.find(rec())
    provider.clock = lambda: time.time() - 600
    assert provider.find(rec()) is None


def test_refusals_carry_the_servers_code(api):
    with pytest.raises(RejectedError, match="InvalidParameter TTL must be 1-86400"):
        api.provider().create(rec(ttl=100000), "203.0.113.7")
    with pytest.raises(RejectedError, match="zone example.org not found"):
        api.provider().find(RecordSpec("x", "example.org", "home", "A"))
    assert api.fake.records == {}


def test_server_errors_are_transient_and_malformed_answers_unconfirmed(api):
    api.server.inject(status=502, body="<html>bad gateway</html>")
    with pytest.raises(TransientError):
        api.provider().find(rec())
    record_id = api.fake.add("home", "A", "203.0.113.5")
    for fault in (Fault(body=b'{"ResponseMetadata": {}, "Result": '), Fault(body=b'{"Result": 1}'),
                  Fault(truncate=True)):
        api.server.inject(fault)
        with pytest.raises(UnconfirmedError):
            api.provider().update(rec(), Remote(record_id, "x"), "203.0.113.9")


def test_check_lists_the_zones_and_changes_nothing(api):
    assert api.provider().check() == "key accepted; zones example.com, example.net"
    assert api.fake.writes == 0
    with pytest.raises(AuthError):
        api.provider(sk=WRONG_SK).check()


def test_the_fake_checks_what_the_gateway_checks(api):
    host = "127.0.0.1:%d" % api.server.port

    def send(params: dict, tamper: str = "", drop: str = "", **extra) -> tuple:
        query = v4_query(params)
        signed = {"Host": host, "X-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())}
        sig = v4_sign("HMAC-SHA256", "", "request", AK, SK, "cn-north-1", "DNS", "GET", "/", query, signed,
                      hashlib.sha256(b"").hexdigest())
        headers = dict(signed, Authorization=sig.authorization)
        headers.update(extra)
        headers.pop(drop, None)
        resp = api.http.request("GET", api.server.url + "/?" + (tamper or query), headers)
        meta = resp.json()["ResponseMetadata"]
        return resp.status, meta.get("Error", {}).get("Code")

    zones = {"Action": "ListZones", "Version": "2018-08-01"}
    assert send(zones) == (200, None)
    assert send(zones, tamper=v4_query(dict(zones, Key="example.net"))) == (401, "SignatureDoesNotMatch")
    assert send(zones, drop="Authorization") == (401, "InvalidAuthorization")
    assert send(zones, **{"X-Date": "20240619T071306Z"}) == (401, "InvalidTimestamp")
    assert send({"Action": "ListZones"}) == (400, "MissingParameter")
    assert send({"Action": "DeleteRecord", "Version": "2018-08-01"}) == (404, "InvalidActionOrVersion")
    assert send({"Action": "ListRecords", "Version": "2018-08-01"}) == (400, "MissingParameter")
    assert api.fake.writes == 0


def test_runs_in_process_through_fake_http():
    fake = VolcengineFake(AK, SK)
    http = FakeHttp(fake)
    provider = Volcengine({"access_key_id": AK, "secret_access_key": Secret(SK), "endpoint": http.url}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.records[made.id]["Value"] == "203.0.113.8"
    assert fake.actions == ["ListZones", "CreateRecord", "UpdateRecord"]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'volc'
	option type 'volcengine'
	option access_key_id '%(ak)s'
	option secret_access_key_file '%(key_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'volc'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'volc'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '3600'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = VolcengineFake(AK, SK)
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
    assert [(r["Value"], r["TTL"]) for r in fake.named("home", "A")] == [("203.0.113.7", 600)]
    assert [(r["Value"], r["TTL"]) for r in fake.named("home", "AAAA")] == [("2001:db8::7", 3600)]

    set_wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert fake.actions[-2:] == ["UpdateRecord", "UpdateRecord"] and len(fake.requests) == before + 2

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
    assert "home.example.com A: failed" in done.stderr and "SignatureDoesNotMatch" in done.stderr
    assert fake.records == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider volc (volcengine): FAILED: Volcengine refused access_key_id/secret_access_key" \
        in check.stdout
    (tmp_path / "sk").write_text(SK)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider volc (volcengine): OK: key accepted; zones example.com" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)


def test_providers_command_lists_volcengine_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("volcengine:"):].split("\n\n")[0]
    for option in ("access_key_id", "secret_access_key (or secret_access_key_file)"):
        assert option in block
