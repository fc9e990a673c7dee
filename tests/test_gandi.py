"""Gandi LiveDNS v5 against the token-checking fake over real HTTPS, on both transports."""

from __future__ import annotations

import json

import agent_env
import pytest
from agent_env import AgentEnv, set_wan
from fakes import Fault
from fakes.gandi import PREFIX, GandiFake
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
from ddns_agent.providers.gandi import Gandi
from ddns_agent.secret import Secret

TOKEN = "gandi-pat-0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"
OTHER = "gandi-pat-other-1a2b3c4d5e6f7a8b9c0d1e2f3a4b"
WRONG = "gandi-pat-wrong-9f8e7d6c5b4a3f2e1d0c9b8a7f6e"
HOME = "/domains/example.com/records/home/A"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, token: str = TOKEN) -> Gandi:
        return Gandi({"api_token": Secret(token), "endpoint": self.server.url + PREFIX}, self.http)

    def routes(self) -> list:
        return ["%s %s" % (r.method, r.route[len(PREFIX):]) for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = GandiFake(TOKEN, ("example.com", "example.net"), other_token=OTHER)
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl)


def test_first_run_reads_the_rrset_with_one_request(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl) == ("home/A", "203.0.113.5", 1800)
    assert api.routes() == ["GET " + HOME]
    assert api.server.requests[0].headers["authorization"] == "Bearer " + TOKEN


def test_missing_rrset_is_created_with_gandis_default_ttl(api):
    provider = api.provider()
    assert provider.find(rec()) is None
    made = provider.create(rec(), "203.0.113.7")
    assert api.fake.get("home") == {"rrset_ttl": 10800, "rrset_values": ["203.0.113.7"]}
    assert (made.id, made.ttl) == ("home/A", 10800)
    assert api.server.requests[-1].json() == {"rrset_values": ["203.0.113.7"]}


def test_apex_aaaa_with_a_ttl_is_created_as_at(api):
    api.provider().create(rec("@", "AAAA", ttl=300), "2001:db8::7")
    assert api.fake.get("@", "AAAA") == {"rrset_ttl": 300, "rrset_values": ["2001:db8::7"]}
    assert api.routes() == ["PUT /domains/example.com/records/@/AAAA"]


def test_update_with_a_cached_id_is_one_put_that_keeps_the_ttl(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    result = api.provider().update(rec(), Remote("home/A", None, 1800), "203.0.113.9")
    assert api.routes() == ["PUT " + HOME]
    assert api.server.requests[0].json() == {"rrset_values": ["203.0.113.9"], "rrset_ttl": 1800}
    assert api.fake.get("home") == {"rrset_ttl": 1800, "rrset_values": ["203.0.113.9"]}
    assert (result.id, result.ttl) == ("home/A", 1800)


def test_update_without_a_known_ttl_reads_it_once_rather_than_reset_it(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    api.provider().update(rec(), Remote("home/A", None), "203.0.113.9")
    assert api.routes() == ["GET " + HOME, "PUT " + HOME]
    assert api.fake.get("home") == {"rrset_ttl": 1800, "rrset_values": ["203.0.113.9"]}


def test_update_sends_a_configured_ttl(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    result = api.provider().update(rec(ttl=600), Remote("home/A", None, 1800), "203.0.113.9")
    assert api.fake.get("home")["rrset_ttl"] == 600 and result.ttl == 600


def test_an_id_for_another_name_or_type_asks_nothing(api):
    for stale in ("nas/A", "home/AAAA", "12345", None):
        with pytest.raises(NotFoundError):
            api.provider().update(rec(), Remote(stale, None), "203.0.113.9")
    assert api.server.requests == []


def test_unknown_domain_is_rejected_on_create(api):
    spec = RecordSpec("x", "example.org", "home", "A")
    assert api.provider().find(spec) is None
    with pytest.raises(RejectedError, match="domain example.org not found"):
        api.provider().create(spec, "203.0.113.7")


def test_wrong_token_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="Gandi refused the token: Unauthorized") as info:
        api.provider(WRONG).find(rec())
    assert WRONG not in str(info.value) and len(api.server.requests) == 1


def test_token_without_permission_on_the_domain_says_which_permission(api):
    with pytest.raises(AuthError, match="technical configuration"):
        api.provider(OTHER).create(rec(), "203.0.113.7")
    assert api.fake.rrsets == {}


def test_ttl_below_300_is_refused_naming_the_field(api):
    with pytest.raises(RejectedError, match="rrset_ttl: Must be between 300 and 2592000"):
        api.provider().create(rec(ttl=60), "203.0.113.7")
    assert api.fake.rrsets == {}


def test_rate_limit_waits_as_told(api):
    api.server.inject(status=429, headers={"Retry-After": "60"},
                      body=b'{"code": 429, "message": "Too Many Requests", "cause": "Too Many Requests"}')
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 60.0


def test_server_error_is_transient(api):
    api.server.inject(status=500, body=b'{"code": 500, "message": "oops", "cause": "Internal Server Error"}')
    with pytest.raises(TransientError, match="HTTP 500"):
        api.provider().find(rec())


@pytest.mark.parametrize("fault", [Fault(body=b'{"rrset_values": ["203'), Fault(body=b'{"rrset_values": []}'),
                                   Fault(body=b'{"rrset_values": [7]}')],
                         ids=["truncated JSON", "no value", "not text"])
def test_malformed_answers_are_unconfirmed(api, fault):
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError, match="malformed"):
        api.provider().find(rec())


def test_check_lists_the_domains_and_changes_nothing(api):
    assert api.provider().check() == "token accepted; domains example.com, example.net"
    assert api.fake.writes == 0 and api.routes() == ["GET /domains"]
    with pytest.raises(RejectedError, match="reaches no LiveDNS domain"):
        api.provider(OTHER).check()


def test_the_fake_refuses_what_gandi_refuses(api):
    def send(method, path, body=None, token=TOKEN, content_type="application/json"):
        headers = {"Content-Type": content_type}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if body is not None else None
        resp = api.http.request(method, api.server.url + PREFIX + path, headers, data)
        return resp.status, resp.json().get("cause")

    bad = (400, "Bad Request")
    assert send("GET", HOME, token=None) == (401, "Unauthorized")
    assert send("GET", HOME, token="") == (401, "Unauthorized")
    assert send("PUT", HOME, {"rrset_values": ["2001:db8::1"]}) == bad
    assert send("PUT", HOME, {"rrset_values": []}) == bad
    assert send("PUT", HOME, {"rrset_values": ["203.0.113.1"], "rrset_ttl": 299}) == bad
    assert send("PUT", HOME, {"rrset_values": ["203.0.113.1"], "rrset_ttl": 2592001}) == bad
    assert send("PUT", "/domains/example.com/records/Home/A", {"rrset_values": ["203.0.113.1"]}) == bad
    assert send("PUT", HOME, {"rrset_values": ["203.0.113.1"]}, content_type="text/plain")[0] == 415
    assert send("PUT", HOME, {"rrset_values": ["203.0.113.1"]}, token=OTHER) == (403, "Forbidden")
    assert send("DELETE", HOME)[0] == 405
    assert api.fake.rrsets == {}


def test_runs_in_process_through_fake_http():
    fake = GandiFake(TOKEN)
    http = FakeHttp(fake)
    provider = Gandi({"api_token": Secret(TOKEN), "endpoint": http.url + PREFIX}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.get("home")["rrset_values"] == ["203.0.113.8"]
    assert [r.method for r in http.requests] == ["PUT", "PUT"]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'gd'
	option type 'gandi'
	option api_token_file '%(token_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'gd'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'gd'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '3600'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = GandiFake(TOKEN)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    token_file = tmp_path / "gandi.token"
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
    assert fake.get("home", "A") == {"rrset_ttl": 10800, "rrset_values": ["203.0.113.7"]}
    assert fake.get("home", "AAAA") == {"rrset_ttl": 3600, "rrset_values": ["2001:db8::7"]}

    set_wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert [r.method for r in fake.requests[before:]] == ["PUT", "PUT"]
    assert fake.get("home", "A") == {"rrset_ttl": 10800, "rrset_values": ["203.0.113.8"]}
    assert fake.get("home", "AAAA") == {"rrset_ttl": 3600, "rrset_values": ["2001:db8::8"]}

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr
    assert_no_secret(env, first, second, third)


def test_cli_wrong_token_fails_the_record_and_check_online_says_so(agent, tmp_path):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    (tmp_path / "gandi.token").write_text(WRONG)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr and "Gandi refused the token" in done.stderr
    assert "Traceback" not in done.stderr and fake.rrsets == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider gd (gandi): FAILED: Gandi refused the token" in check.stdout
    (tmp_path / "gandi.token").write_text(TOKEN)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider gd (gandi): OK: token accepted; domains example.com" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)


def test_providers_command_lists_gandi_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("gandi:"):].split("\n\n")[0]
    assert "api_token (or api_token_file)" in block
