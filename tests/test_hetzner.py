"""Hetzner Cloud DNS (zones, RRSets) against the token-checking fake over real HTTPS, on both transports."""

from __future__ import annotations

import json

import agent_env
import pytest
from agent_env import AgentEnv, set_wan
from fakes import Fault
from fakes.hetzner import PREFIX, HetznerFake
from fakes.server import FakeHttp

from ddns_agent.errors import (
    AuthError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnconfirmedError,
)
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.hetzner import Hetzner
from ddns_agent.secret import Secret

TOKEN = "hcloud-Qm7Zt2Lx9Vb4Nc8Kd1Pw6Rs3Yf5Hj0Ga2Ue7Io4Tn9Ma1Sd"
READ_ONLY = "hcloud-readonly-5Tg8Yh2Uj6Ik0Ol3Pz7Xc1Vb9Nm4Qw"
WRONG = "hcloud-wrong-9Aq2Ws4Ed6Rf8Tg0Yh1Uj3Ik5Ol7Pz"
RRSET = "/zones/example.com/rrsets/home/A"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, token: str = TOKEN) -> Hetzner:
        return Hetzner({"api_token": Secret(token), "endpoint": self.server.url + PREFIX}, self.http)

    def routes(self) -> list:
        return ["%s %s" % (r.method, r.route[len(PREFIX):]) for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = HetznerFake(TOKEN, ("example.com", "example.net"), read_only_token=READ_ONLY)
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl)


def test_first_run_reads_the_rrset_by_zone_name_with_one_request(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=300)
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl) == ("home/A", "203.0.113.5", 300)
    assert api.routes() == ["GET " + RRSET]
    assert api.server.requests[0].headers["authorization"] == "Bearer " + TOKEN


def test_missing_rrset_is_not_found_then_created_with_the_zone_default_ttl(api):
    provider = api.provider()
    assert provider.find(rec()) is None
    made = provider.create(rec(), "203.0.113.7")
    assert api.fake.values("home") == ["203.0.113.7"]
    assert api.fake.rrsets[("example.com", "home", "A")]["ttl"] is None
    assert made.id == "home/A"
    assert api.server.requests[-1].json() == {"name": "home", "type": "A",
                                              "records": [{"value": "203.0.113.7"}]}


def test_apex_aaaa_with_a_ttl_is_created_as_at(api):
    api.provider().create(rec("@", "AAAA", ttl=300), "2001:db8::7")
    assert api.fake.rrsets[("example.com", "@", "AAAA")]["ttl"] == 300
    assert api.provider().find(rec("@", "AAAA")).value == "2001:db8::7"
    assert api.routes()[-1] == "GET /zones/example.com/rrsets/@/AAAA"


def test_update_with_a_cached_id_is_one_set_records_that_keeps_ttl_labels_and_protection(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=120)
    result = api.provider().update(rec(), Remote("home/A", "203.0.113.5"), "203.0.113.9")
    assert api.routes() == ["POST " + RRSET + "/actions/set_records"]
    assert api.server.requests[0].json() == {"records": [{"value": "203.0.113.9"}]}
    rrset = api.fake.rrsets[("example.com", "home", "A")]
    assert (rrset["ttl"], rrset["labels"]) == (120, {"owner": "console"})
    assert api.fake.values("home") == ["203.0.113.9"]
    assert result.value == "203.0.113.9"


def test_a_configured_ttl_that_differs_from_a_read_one_is_changed_too(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=120)
    provider = api.provider()
    found = provider.find(rec(ttl=600))
    result = provider.update(rec(ttl=600), found, "203.0.113.9")
    assert api.routes()[1:] == ["POST %s/actions/%s" % (RRSET, a) for a in ("set_records", "change_ttl")]
    assert api.fake.rrsets[("example.com", "home", "A")]["ttl"] == 600 and result.ttl == 600


def test_update_of_a_deleted_rrset_raises_not_found(api):
    with pytest.raises(NotFoundError, match="not_found"):
        api.provider().update(rec(), Remote("home/A", "203.0.113.5"), "203.0.113.9")
    with pytest.raises(NotFoundError):  # an id from another name or type: no request
        api.provider().update(rec(), Remote("nas/A", None), "203.0.113.9")
    assert len(api.server.requests) == 1


def test_unknown_zone_is_rejected_on_create(api):
    spec = RecordSpec("x", "example.org", "home", "A")
    assert api.provider().find(spec) is None
    with pytest.raises(RejectedError, match="zone example.org not found"):
        api.provider().create(spec, "203.0.113.7")


def test_wrong_token_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="refused the API token: unauthorized") as info:
        api.provider(WRONG).find(rec())
    assert WRONG not in str(info.value) and len(api.server.requests) == 1


def test_read_only_token_is_told_it_needs_write_permission(api):
    with pytest.raises(AuthError, match="token_readonly"):
        api.provider(READ_ONLY).create(rec(), "203.0.113.7")
    assert api.fake.rrsets == {}


def test_change_protected_rrset_is_refused_and_stays(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5", protected=True)
    with pytest.raises(RejectedError, match="protected"):
        api.provider().update(rec(), Remote("home/A", None), "203.0.113.9")
    assert api.fake.values("home") == ["203.0.113.5"]


def test_ttl_below_60_is_refused(api):
    with pytest.raises(RejectedError, match="invalid_input"):
        api.provider().create(rec(ttl=30), "203.0.113.7")
    assert api.fake.rrsets == {}


def test_rate_limit_waits_as_told(api):
    api.server.inject(status=429, headers={"Retry-After": "60"},
                      body=b'{"error": {"code": "rate_limit_exceeded", "message": "limit", "details": {}}}')
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 60.0


def test_server_error_is_transient(api):
    api.server.inject(status=503, body=b'{"error": {"code": "maintenance", "message": "m", "details": {}}}')
    with pytest.raises(TransientError, match="HTTP 503"):
        api.provider().find(rec())


@pytest.mark.parametrize("fault", [Fault(body=b'{"action": {"id"'), Fault(body=b'{"action": null}'),
                                   Fault(body=b'[]')], ids=["truncated JSON", "no action", "not an object"])
def test_malformed_answers_are_unconfirmed(api, fault):
    api.fake.add("example.com", "home", "A", "203.0.113.5")
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError, match="malformed"):
        api.provider().update(rec(), Remote("home/A", None), "203.0.113.9")


def test_check_lists_the_zones_and_changes_nothing(api):
    assert api.provider().check() == "token accepted; zones example.com, example.net"
    assert api.fake.writes == 0 and all(r.method == "GET" for r in api.server.requests)


def test_the_fake_refuses_what_hetzner_refuses(api):
    base = api.server.url + PREFIX + "/zones/example.com/rrsets"

    def send(method, path, body=None, token=TOKEN, content_type="application/json"):
        headers = {"Content-Type": content_type}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if body is not None else None
        resp = api.http.request(method, base + path, headers, data)
        return resp.status, resp.json()["error"]["code"]

    assert send("GET", "/home/A", token=None) == (401, "unauthorized")
    assert send("GET", "/home/A", token="") == (401, "unauthorized")
    bad = (400, "invalid_input")
    one = [{"value": "203.0.113.1"}]
    assert send("POST", "", {"name": "Home", "type": "A", "records": one}) == bad
    assert send("POST", "", {"name": "home.example.com", "type": "A", "records": one}) == bad
    assert send("POST", "", {"name": "home", "type": "A", "records": [{"value": "2001:db8::1"}]}) == bad
    assert send("POST", "", {"name": "home", "type": "A", "records": []}) == bad
    assert send("POST", "", {"name": "home", "type": "A", "ttl": 59, "records": one}) == bad
    assert send("POST", "", {"name": "home", "type": "A"}, content_type="text/plain") == (400, "json_error")
    api.fake.add("example.com", "home", "A", "203.0.113.5")
    assert send("POST", "", {"name": "home", "type": "A", "records": [{"value": "203.0.113.1"}]}) == \
        (409, "uniqueness_error")
    assert send("POST", "/home/A/actions/set_records", {"records": [{"value": "203.0.113.1"}]},
                token=READ_ONLY) == (403, "token_readonly")
    assert send("POST", "/home/A/actions/change_ttl", {}) == bad
    assert api.fake.values("home") == ["203.0.113.5"] and len(api.fake.rrsets) == 1


def test_runs_in_process_through_fake_http():
    fake = HetznerFake(TOKEN)
    http = FakeHttp(fake)
    provider = Hetzner({"api_token": Secret(TOKEN), "endpoint": http.url + PREFIX}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.values("home") == ["203.0.113.8"]
    assert [r.method for r in http.requests] == ["POST", "POST"]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'hz'
	option type 'hetzner'
	option api_token_file '%(token_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'hz'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'hz'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '3600'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = HetznerFake(TOKEN)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    token_file = tmp_path / "hz.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    env.config(CONFIG % {"token_file": token_file, "endpoint": server.url + PREFIX, "cacert": server.cafile})
    return env, fake


def assert_no_secret(env: AgentEnv, *runs) -> None:
    agent_env.assert_no_secret(env, runs, TOKEN, WRONG)


def test_cli_creates_then_updates_with_one_request_per_record_then_sends_nothing(agent):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert "home.example.com A: published 203.0.113.7" in first.stderr
    assert fake.values("home", "A") == ["203.0.113.7"] and fake.values("home", "AAAA") == ["2001:db8::7"]
    assert fake.rrsets[("example.com", "home", "AAAA")]["ttl"] == 3600

    set_wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert [r.route.rsplit("/", 1)[-1] for r in fake.requests[before:]] == ["set_records", "set_records"]
    assert fake.values("home", "A") == ["203.0.113.8"] and fake.values("home", "AAAA") == ["2001:db8::8"]

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr
    assert_no_secret(env, first, second, third)


def test_cli_wrong_token_fails_the_record_and_check_online_says_so(agent, tmp_path):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    (tmp_path / "hz.token").write_text(WRONG)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr and "Hetzner refused the API token" in done.stderr
    assert "Traceback" not in done.stderr and fake.rrsets == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider hz (hetzner): FAILED: Hetzner refused the API token" in check.stdout
    (tmp_path / "hz.token").write_text(TOKEN)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider hz (hetzner): OK: token accepted; zones example.com" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)


def test_providers_command_lists_hetzner_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("hetzner:"):].split("\n\n")[0]
    assert "api_token (or api_token_file)" in block
