"""Porkbun API v3 against the key-checking fake over real HTTPS, on both transports."""

from __future__ import annotations

import json

import agent_env
import pytest
from agent_env import AgentEnv, set_wan
from fakes import Fault
from fakes.porkbun import PREFIX, PorkbunFake
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
from ddns_agent.providers.porkbun import Porkbun
from ddns_agent.secret import Secret

API_KEY = "pk1_4f7a9c2e1b3d5f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a"
SECRET = "sk1_9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
WRONG = "sk1_0000000000000000wrong000000000000000000000000000000000000000000"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, secret: str = SECRET) -> Porkbun:
        return Porkbun({"api_key": Secret(API_KEY), "secret_api_key": Secret(secret),
                        "endpoint": self.server.url + PREFIX}, self.http)

    def routes(self) -> list:
        return [r.route[len(PREFIX):] for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = PorkbunFake(API_KEY, SECRET, ("example.com", "example.net"))
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl)


def test_first_run_finds_the_existing_record_with_one_request_carrying_the_keys(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=900)
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl, found.others) == (made["id"], "203.0.113.5", 900, ())
    assert api.routes() == ["/dns/retrieveByNameType/example.com/A/home"]
    body = api.server.requests[0].json()
    assert (body["apikey"], body["secretapikey"]) == (API_KEY, SECRET)


def test_apex_is_read_without_a_subdomain_and_created_with_an_empty_name(api):
    provider = api.provider()
    assert provider.find(rec("@", "AAAA")) is None
    provider.create(rec("@", "AAAA"), "2001:db8::7")
    assert api.routes()[0] == "/dns/retrieveByNameType/example.com/AAAA"
    assert api.server.requests[1].json()["name"] == ""
    assert provider.find(rec("@", "AAAA")).value == "2001:db8::7"


def test_missing_record_is_created_with_porkbuns_default_ttl(api):
    made = api.provider().create(rec(), "203.0.113.7")
    [stored] = api.fake.named("home.example.com")
    assert (stored["content"], stored["ttl"]) == ("203.0.113.7", "600")
    assert (made.id, made.ttl) == (stored["id"], 600)
    assert "ttl" not in api.server.requests[0].json()


def test_update_with_a_cached_id_and_ttl_is_one_edit_that_keeps_the_ttl_and_notes(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=3600, notes="router")
    result = api.provider().update(rec(), Remote(made["id"], None, 3600), "203.0.113.9")
    assert api.routes() == ["/dns/edit/example.com/%s" % made["id"]]
    stored = api.fake.records[made["id"]]
    assert (stored["content"], stored["ttl"], stored["notes"]) == ("203.0.113.9", "3600", "router")
    assert (result.id, result.ttl) == (made["id"], 3600)


def test_update_without_a_known_ttl_reads_it_once_rather_than_reset_it(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=3600)
    api.provider().update(rec(), Remote(made["id"], None), "203.0.113.9")
    assert api.routes() == ["/dns/retrieveByNameType/example.com/A/home",
                            "/dns/edit/example.com/%s" % made["id"]]
    assert api.fake.records[made["id"]]["ttl"] == "3600"


def test_other_records_of_the_name_are_reported_not_touched(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home", "A", "203.0.113.6")
    found = api.provider().find(rec())
    assert found.id == first["id"]
    assert [(o.id, o.value) for o in found.others] == [(second["id"], "203.0.113.6")]


def test_update_sends_a_configured_ttl(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=3600)
    result = api.provider().update(rec(ttl=1200), Remote(made["id"], None, 3600), "203.0.113.9")
    assert api.fake.records[made["id"]]["ttl"] == "1200" and result.ttl == 1200


def test_update_with_a_stale_id_raises_not_found(api):
    with pytest.raises(NotFoundError, match="Edit error"):
        api.provider().update(rec(), Remote("999", "203.0.113.5", 600), "203.0.113.9")
    with pytest.raises(NotFoundError):
        api.provider().update(rec(), Remote("home/A", None), "203.0.113.9")
    assert len(api.server.requests) == 1


def test_wrong_secret_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="refused the API keys: Invalid API key") as info:
        api.provider(WRONG).find(rec())
    assert WRONG not in str(info.value) and len(api.server.requests) == 1


def test_domain_without_api_access_says_where_to_switch_it_on(api):
    api.fake.api_access["example.com"] = False
    with pytest.raises(RejectedError, match="API ACCESS is off for example.com"):
        api.provider().create(rec(), "203.0.113.7")
    assert api.fake.records == {}


def test_unknown_domain_is_rejected(api):
    with pytest.raises(RejectedError, match="Invalid domain"):
        api.provider().find(RecordSpec("x", "example.org", "home", "A"))


def test_rate_limit_waits_as_told(api):
    api.server.inject(status=429, headers={"Retry-After": "60"},
                      body=b'{"status": "ERROR", "message": "Rate limit exceeded."}')
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 60.0


def test_server_error_is_transient(api):
    api.server.inject(status=502, body=b"<html>bad gateway</html>")
    with pytest.raises(TransientError, match="HTTP 502"):
        api.provider().find(rec())


@pytest.mark.parametrize("fault", [Fault(body=b'{"status": "SUCCESS", "id"'), Fault(body=b'{"id": 5}'),
                                   Fault(body=b'{"status": "SUCCESS", "id": "x"}')],
                         ids=["truncated JSON", "no status", "no id"])
def test_malformed_answers_are_unconfirmed(api, fault):
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError, match="malformed"):
        api.provider().create(rec(), "203.0.113.9")


def test_check_pings_and_changes_nothing(api):
    assert api.provider().check() == "API keys accepted"
    assert api.routes() == ["/ping"] and api.fake.writes == 0


def test_the_fake_refuses_what_porkbun_refuses(api):
    def send(path, body, keys=True, method="POST"):
        payload = {"apikey": API_KEY, "secretapikey": SECRET} if keys else {}
        payload.update(body)
        resp = api.http.request(method, api.server.url + PREFIX + path, {"Content-Type": "application/json"},
                                json.dumps(payload).encode())
        answer = resp.json()
        return resp.status, answer["status"], answer.get("message", "")

    assert send("/ping", {}, keys=False)[2] == "All API requests require an apikey and secretapikey."
    assert send("/ping", {"secretapikey": WRONG}) == (403, "ERROR", "Invalid API key. (002)")
    assert send("/ping", {}, method="PUT")[:2] == (405, "ERROR")
    create = "/dns/create/example.com"
    assert send(create, {"type": "A", "content": "2001:db8::1"})[1:] == ("ERROR", "Invalid A record content.")
    assert send(create, {"type": "X", "content": "203.0.113.1"})[1:] == ("ERROR", "Invalid type passed.")
    assert send(create, {"name": "home.example.com", "type": "A", "content": "203.0.113.1"})[1] == "ERROR"
    assert send(create, {"type": "A", "content": "203.0.113.1", "ttl": "soon"})[2] == "Invalid TTL."
    assert send("/dns/edit/example.com/1", {"type": "A", "content": "203.0.113.1"})[1] == "ERROR"
    assert api.fake.records == {}
    assert send(create, {"name": "low", "type": "A", "content": "203.0.113.1", "ttl": 60})[1] == "SUCCESS"
    assert api.fake.named("low.example.com")[0]["ttl"] == "600"  # raised to the minimum


def test_runs_in_process_through_fake_http():
    fake = PorkbunFake(API_KEY, SECRET)
    http = FakeHttp(fake)
    provider = Porkbun({"api_key": Secret(API_KEY), "secret_api_key": Secret(SECRET),
                        "endpoint": http.url + PREFIX}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.named("home.example.com")[0]["content"] == "203.0.113.8"
    assert [r.method for r in http.requests] == ["POST", "POST"]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'pb'
	option type 'porkbun'
	option api_key '%(api_key)s'
	option secret_api_key_file '%(secret_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'pb'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'pb'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '3600'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = PorkbunFake(API_KEY, SECRET)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    secret_file = tmp_path / "pb.secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    env.config(CONFIG % {"api_key": API_KEY, "secret_file": secret_file, "endpoint": server.url + PREFIX,
                         "cacert": server.cafile})
    return env, fake


def assert_no_secret(env: AgentEnv, *runs) -> None:
    agent_env.assert_no_secret(env, runs, SECRET, API_KEY, WRONG)


def test_cli_creates_then_updates_with_one_request_per_record_then_sends_nothing(agent):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert "home.example.com A: published 203.0.113.7" in first.stderr
    assert [(r["content"], r["ttl"]) for r in fake.named("home.example.com", "A")] == [("203.0.113.7", "600")]
    assert [(r["content"], r["ttl"]) for r in fake.named("home.example.com", "AAAA")] == \
        [("2001:db8::7", "3600")]

    set_wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert [r.route.split("/")[5] for r in fake.requests[before:]] == ["edit", "edit"]
    assert [(r["content"], r["ttl"]) for r in fake.named("home.example.com", "A")] == [("203.0.113.8", "600")]
    assert [r["content"] for r in fake.named("home.example.com", "AAAA")] == ["2001:db8::8"]

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr
    assert_no_secret(env, first, second, third)


def test_cli_wrong_secret_fails_the_record_and_check_online_says_so(agent, tmp_path):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    (tmp_path / "pb.secret").write_text(WRONG)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr and "Porkbun refused the API keys" in done.stderr
    assert "Traceback" not in done.stderr and fake.records == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider pb (porkbun): FAILED: Porkbun refused the API keys" in check.stdout
    (tmp_path / "pb.secret").write_text(SECRET)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider pb (porkbun): OK: API keys accepted" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)


def test_providers_command_lists_porkbun_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("porkbun:"):].split("\n\n")[0]
    assert "api_key (or api_key_file), secret_api_key (or secret_api_key_file)" in block
