"""name.com API v4 against the Basic-auth-checking fake over real HTTPS, on both transports."""

from __future__ import annotations

import json

import agent_env
import pytest
from agent_env import AgentEnv, set_wan
from fakes import Fault
from fakes.namecom import PREFIX, NameComFake
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
from ddns_agent.providers.namecom import NameCom
from ddns_agent.secret import Secret

USER = "homeuser"
TOKEN = "4f0c2e8a9b1d3f5e7a9c0b2d4f6e8a0c1b3d5f7e"
WRONG = "0000000000wrong00000000000000000000000000"
RECORDS = "/domains/example.com/records"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, token: str = TOKEN) -> NameCom:
        return NameCom({"username": USER, "api_token": Secret(token), "endpoint": self.server.url + PREFIX},
                       self.http)

    def routes(self) -> list:
        return ["%s %s" % (r.method, r.route[len(PREFIX):]) for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = NameComFake(USER, TOKEN, ("example.com", "example.net"))
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl)


def test_first_run_finds_the_existing_record_with_one_request(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    api.fake.add("example.com", "homer", "A", "203.0.113.6")
    api.fake.add("example.com", "home", "AAAA", "2001:db8::5")
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl, found.others) == (str(made["id"]), "203.0.113.5", 1800, ())
    assert api.routes() == ["GET " + RECORDS]
    assert api.server.requests[0].headers["authorization"].startswith("Basic ")


def test_find_reads_every_page_and_an_empty_zone_has_nothing(api):
    assert api.provider().find(rec()) is None  # the empty zone answers {}
    api.fake.max_per_page = 2
    for host in ("a", "b", "c", "d"):
        api.fake.add("example.com", host, "A", "198.51.100.1")
    made = api.fake.add("example.com", "", "A", "203.0.113.5")
    api.server.requests.clear()
    assert api.provider().find(rec("@")).id == str(made["id"])
    assert [r.query["page"] for r in api.server.requests] == ["1", "2", "3"]


def test_missing_record_is_created_with_the_default_ttl(api):
    made = api.provider().create(rec(), "203.0.113.7")
    [stored] = api.fake.named("home.example.com.")
    assert (stored["answer"], stored["ttl"]) == ("203.0.113.7", 300)
    assert (made.id, made.ttl) == (str(stored["id"]), 300)
    assert api.server.requests[0].json() == {"host": "home", "type": "A", "answer": "203.0.113.7"}


def test_apex_aaaa_with_a_ttl_is_created_with_an_empty_host(api):
    api.provider().create(rec("@", "AAAA", ttl=3600), "2001:db8::7")
    [stored] = api.fake.named("example.com.", "AAAA")
    assert (stored["answer"], stored["ttl"]) == ("2001:db8::7", 3600)


def test_update_with_a_cached_id_is_one_put_that_keeps_the_ttl(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    result = api.provider().update(rec(), Remote(str(made["id"]), None, 1800), "203.0.113.9")
    assert api.routes() == ["PUT %s/%d" % (RECORDS, made["id"])]
    assert api.server.requests[0].json() == {"host": "home", "type": "A", "answer": "203.0.113.9",
                                             "ttl": 1800}
    stored = api.fake.records[made["id"]]
    assert (stored["answer"], stored["ttl"]) == ("203.0.113.9", 1800)
    assert (result.id, result.ttl) == (str(made["id"]), 1800)


def test_update_without_a_known_ttl_reads_the_record_once_rather_than_reset_it(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    api.provider().update(rec(), Remote(str(made["id"]), None), "203.0.113.9")
    assert api.routes() == ["GET %s/%d" % (RECORDS, made["id"]), "PUT %s/%d" % (RECORDS, made["id"])]
    assert api.fake.records[made["id"]]["ttl"] == 1800


def test_other_records_of_the_name_are_reported_not_touched(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home", "A", "203.0.113.6")
    found = api.provider().find(rec())
    assert found.id == str(first["id"])
    assert [(o.id, o.value) for o in found.others] == [(str(second["id"]), "203.0.113.6")]


def test_update_with_a_stale_id_raises_not_found(api):
    with pytest.raises(NotFoundError, match="Not Found"):
        api.provider().update(rec(), Remote("999", "203.0.113.5", 300), "203.0.113.9")
    with pytest.raises(NotFoundError):
        api.provider().update(rec(), Remote("home/A", None), "203.0.113.9")
    assert len(api.server.requests) == 1


def test_unknown_domain_is_rejected(api):
    with pytest.raises(RejectedError, match="domain example.org not found"):
        api.provider().find(RecordSpec("x", "example.org", "home", "A"))


def test_wrong_token_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="refused username/api_token: Unauthenticated") as info:
        api.provider(WRONG).find(rec())
    assert WRONG not in str(info.value) and len(api.server.requests) == 1


def test_two_step_verification_without_api_access_says_what_to_switch_on(api):
    api.fake.two_step_blocked = True
    with pytest.raises(AuthError, match="2-step verification"):
        api.provider().create(rec(), "203.0.113.7")
    assert api.fake.records == {}


def test_ttl_below_300_is_refused(api):
    with pytest.raises(RejectedError, match="TTL must be at least 300"):
        api.provider().create(rec(ttl=60), "203.0.113.7")
    assert api.fake.records == {}


def test_rate_limit_waits_as_told(api):
    api.server.inject(status=429, headers={"Retry-After": "60"}, body=b'{"message": "Too Many Requests"}')
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 60.0


def test_server_error_is_transient(api):
    api.server.inject(status=500, body=b'{"message": "Internal Server Error"}')
    with pytest.raises(TransientError, match="HTTP 500"):
        api.provider().find(rec())


@pytest.mark.parametrize("fault", [Fault(body=b'{"id": 12345, "answer"'), Fault(body=b'[]'),
                                   Fault(body=b'{"id": "12345", "answer": "203.0.113.9"}')],
                         ids=["truncated JSON", "not an object", "id not a number"])
def test_malformed_answers_are_unconfirmed(api, fault):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5")
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError, match="malformed"):
        api.provider().update(rec(), Remote(str(made["id"]), None), "203.0.113.9")


def test_check_lists_the_domains_and_changes_nothing(api):
    assert api.provider().check() == "token accepted; domains example.com, example.net"
    assert api.fake.writes == 0 and api.routes() == ["GET /domains"]


def test_the_fake_refuses_what_namecom_refuses(api):
    import base64
    basic = "Basic " + base64.b64encode(("%s:%s" % (USER, TOKEN)).encode()).decode()

    def send(method, path, body=None, auth=True, content_type="application/json"):
        headers = {"Content-Type": content_type}
        if auth:
            headers["Authorization"] = basic
        data = json.dumps(body).encode() if body is not None else None
        resp = api.http.request(method, api.server.url + PREFIX + path, headers, data)
        return resp.status, resp.json().get("message")

    bad = (400, "Invalid Argument")
    assert send("GET", RECORDS, auth=False) == (401, "Unauthenticated")
    assert send("POST", RECORDS, {"host": "x", "type": "A", "answer": "2001:db8::1"}) == bad
    assert send("POST", RECORDS, {"host": "x.example.com", "type": "A", "answer": "203.0.113.1"}) == bad
    assert send("POST", RECORDS, {"host": "x", "type": "A", "answer": "203.0.113.1", "ttl": 299}) == bad
    assert send("POST", RECORDS, {"host": "x", "type": "A", "answer": "203.0.113.1"},
                content_type="text/plain")[0] == 415
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    assert send("POST", RECORDS, {"host": "home", "type": "A", "answer": "203.0.113.5"}) == bad  # duplicate
    # a PUT replaces the whole record: a TTL left out falls back to 300
    new = {"host": "home", "type": "A", "answer": "203.0.113.6"}
    assert send("PUT", "%s/%d" % (RECORDS, made["id"]), new)[0] == 200
    assert api.fake.records[made["id"]]["ttl"] == 300 and len(api.fake.records) == 1


def test_runs_in_process_through_fake_http():
    fake = NameComFake(USER, TOKEN)
    http = FakeHttp(fake)
    provider = NameCom({"username": USER, "api_token": Secret(TOKEN), "endpoint": http.url + PREFIX}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.named("home.example.com.")[0]["answer"] == "203.0.113.8"
    assert [r.method for r in http.requests] == ["POST", "PUT"]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'nc'
	option type 'namecom'
	option username '%(user)s'
	option api_token_file '%(token_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'nc'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'nc'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '3600'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = NameComFake(USER, TOKEN)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    token_file = tmp_path / "namecom.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    env.config(CONFIG % {"user": USER, "token_file": token_file, "endpoint": server.url + PREFIX,
                         "cacert": server.cafile})
    return env, fake


def assert_no_secret(env: AgentEnv, *runs) -> None:
    agent_env.assert_no_secret(env, runs, TOKEN, WRONG)


def test_cli_creates_then_updates_with_one_request_per_record_then_sends_nothing(agent):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert "home.example.com A: published 203.0.113.7" in first.stderr
    assert [(r["answer"], r["ttl"]) for r in fake.named("home.example.com.", "A")] == [("203.0.113.7", 300)]
    assert [(r["answer"], r["ttl"]) for r in fake.named("home.example.com.", "AAAA")] == \
        [("2001:db8::7", 3600)]

    set_wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert [r.method for r in fake.requests[before:]] == ["PUT", "PUT"]
    assert [(r["answer"], r["ttl"]) for r in fake.named("home.example.com.", "AAAA")] == \
        [("2001:db8::8", 3600)]
    assert [r["answer"] for r in fake.named("home.example.com.", "A")] == ["203.0.113.8"]

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr
    assert_no_secret(env, first, second, third)


def test_cli_wrong_token_fails_the_record_and_check_online_says_so(agent, tmp_path):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    (tmp_path / "namecom.token").write_text(WRONG)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr
    assert "name.com refused username/api_token" in done.stderr
    assert "Traceback" not in done.stderr and fake.records == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider nc (namecom): FAILED: name.com refused username/api_token" in check.stdout
    (tmp_path / "namecom.token").write_text(TOKEN)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider nc (namecom): OK: token accepted; domains example.com" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)


def test_providers_command_lists_namecom_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("namecom:"):].split("\n\n")[0]
    assert "required: username, api_token (or api_token_file)" in block
