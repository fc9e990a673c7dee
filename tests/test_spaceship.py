"""Spaceship DNS records against the key-checking fake over real HTTPS, on both transports."""

from __future__ import annotations

import json

import agent_env
import pytest
from agent_env import AgentEnv, set_wan
from fakes import Fault
from fakes.server import FakeHttp
from fakes.spaceship import PREFIX, SpaceshipFake

from ddns_agent.errors import (
    AuthError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnconfirmedError,
)
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.spaceship import Spaceship
from ddns_agent.secret import Secret

KEY = "SzhRk2Lq8Vx4Bn7Mc1Zp"
SECRET = "LXWTq9Hm3Jr6Kt0Ys5Df2Gw8Pv4Nb1Ce7Ua"
READ_ONLY = "RoKey0aB1cD2eF3gH4iJ"
WRONG = "LXWTwrongwrongwrongwrongwrongwrong0"
RECORDS = "/dns/records/example.com"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, secret: str = SECRET, key: str = KEY) -> Spaceship:
        return Spaceship({"api_key": Secret(key), "api_secret": Secret(secret),
                          "endpoint": self.server.url + PREFIX}, self.http)

    def routes(self) -> list:
        return ["%s %s" % (r.method, r.route[len(PREFIX):]) for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = SpaceshipFake(KEY, SECRET, ("example.com", "example.net"), read_only_key=READ_ONLY)
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl)


def test_first_run_finds_the_existing_record_with_one_request(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    api.fake.add("example.com", "homer", "A", "203.0.113.6")
    api.fake.add("example.com", "home", "AAAA", "2001:db8::5")
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl) == ("home/A", "203.0.113.5", 1800)
    assert api.routes() == ["GET " + RECORDS]
    req = api.server.requests[0]
    assert (req.headers["x-api-key"], req.headers["x-api-secret"]) == (KEY, SECRET)
    assert (req.query["take"], req.query["skip"]) == ("500", "0")


def test_find_reads_every_page(api):
    for i in range(600):
        api.fake.add("example.com", "h%d" % i, "A", "198.51.100.1")
    api.fake.add("example.com", "@", "A", "203.0.113.5")
    assert api.provider().find(rec("@")).value == "203.0.113.5"
    assert [r.query["skip"] for r in api.server.requests] == ["0", "500"]
    assert api.provider().find(rec("nas")) is None


def test_two_records_of_the_name_are_one_change_that_the_next_save_replaces(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5")
    api.fake.add("example.com", "home", "A", "203.0.113.6")
    found = api.provider().find(rec())
    assert found.value == "203.0.113.5,203.0.113.6"
    api.provider().update(rec(), found, "203.0.113.6")
    assert [r["address"] for r in api.fake.named("home")] == ["203.0.113.6"]


def test_missing_record_is_created_with_the_default_ttl(api):
    made = api.provider().create(rec(), "203.0.113.7")
    assert [(r["address"], r["ttl"]) for r in api.fake.named("home")] == [("203.0.113.7", 3600)]
    assert (made.id, made.ttl) == ("home/A", 3600)
    assert api.server.requests[0].json() == {"force": True, "items": [
        {"type": "A", "name": "home", "address": "203.0.113.7"}]}


def test_apex_aaaa_with_a_ttl_is_created_as_at(api):
    api.provider().create(rec("@", "AAAA", ttl=300), "2001:db8::7")
    assert [(r["address"], r["ttl"]) for r in api.fake.named("@", "AAAA")] == [("2001:db8::7", 300)]


def test_update_with_a_cached_id_is_one_save_that_replaces_the_record_and_keeps_the_ttl(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    result = api.provider().update(rec(), Remote("home/A", "203.0.113.5", 1800), "203.0.113.9")
    assert api.routes() == ["PUT " + RECORDS]
    assert api.server.requests[0].json()["items"] == [
        {"type": "A", "name": "home", "address": "203.0.113.9", "ttl": 1800}]
    assert [(r["address"], r["ttl"]) for r in api.fake.named("home")] == [("203.0.113.9", 1800)]
    assert (result.id, result.ttl) == ("home/A", 1800)


def test_update_without_a_known_ttl_reads_it_once_rather_than_reset_it(api):
    api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    api.provider().update(rec(), Remote("home/A", None), "203.0.113.9")
    assert api.routes() == ["GET " + RECORDS, "PUT " + RECORDS]
    assert [(r["address"], r["ttl"]) for r in api.fake.named("home")] == [("203.0.113.9", 1800)]


def test_an_id_for_another_name_or_type_asks_nothing(api):
    for stale in ("nas/A", "home/AAAA", "12345", None):
        with pytest.raises(NotFoundError):
            api.provider().update(rec(), Remote(stale, None), "203.0.113.9")
    assert api.server.requests == []


def test_unknown_domain_is_rejected(api):
    with pytest.raises(RejectedError, match="domain example.org is not on Spaceship DNS"):
        api.provider().find(RecordSpec("x", "example.org", "home", "A"))


def test_wrong_secret_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="refused api_key/api_secret: Unauthorized") as info:
        api.provider(WRONG).find(rec())
    assert WRONG not in str(info.value) and len(api.server.requests) == 1


def test_key_without_write_permission_says_which_permission(api):
    with pytest.raises(AuthError, match="dnsRecords:write"):
        api.provider(key=READ_ONLY).create(rec(), "203.0.113.7")
    assert api.fake.records == []


def test_ttl_above_3600_is_refused_naming_the_field(api):
    with pytest.raises(RejectedError, match="items\\[0\\].ttl: must be between 60 and 3600"):
        api.provider().create(rec(ttl=7200), "203.0.113.7")
    assert api.fake.records == []


def test_rate_limit_waits_as_told(api):
    api.server.inject(status=429, headers={"Retry-After": "60"}, body=b'{"detail": "Too Many Requests"}')
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 60.0


def test_server_error_is_transient(api):
    api.server.inject(status=500, body=b'{"detail": "Internal Server Error"}')
    with pytest.raises(TransientError, match="HTTP 500"):
        api.provider().find(rec())


@pytest.mark.parametrize("fault", [Fault(body=b'{"items": [{"type"'), Fault(body=b'{"total": 1}'),
                                   Fault(body=b'{"items": [{"type": "A", "name": "home", "address": 7}]}')],
                         ids=["truncated JSON", "no items", "address not text"])
def test_malformed_answers_are_unconfirmed(api, fault):
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError, match="malformed"):
        api.provider().find(rec())


def test_check_lists_the_domains_and_changes_nothing(api):
    assert api.provider().check() == "API key accepted; domains example.com, example.net"
    assert api.fake.writes == 0 and all(r.method == "GET" for r in api.server.requests)


def test_the_fake_refuses_what_spaceship_refuses(api):
    def send(method, path, body=None, key=KEY, secret=SECRET, content_type="application/json"):
        headers = {"Content-Type": content_type}
        if key:
            headers["X-API-Key"] = key
        if secret:
            headers["X-API-Secret"] = secret
        data = json.dumps(body).encode() if body is not None else None
        resp = api.http.request(method, api.server.url + PREFIX + path, headers, data)
        return resp.status

    one = {"type": "A", "name": "x", "address": "203.0.113.1"}
    assert send("GET", RECORDS + "?take=10&skip=0", key=None) == 401
    assert send("GET", RECORDS + "?take=10&skip=0", secret=WRONG) == 401
    assert send("GET", RECORDS) == 400  # take and skip are required
    assert send("GET", RECORDS + "?take=501&skip=0") == 400
    assert send("PUT", RECORDS, {"items": [dict(one, address="2001:db8::1")]}) == 400
    assert send("PUT", RECORDS, {"items": [dict(one, name="X")]}) == 400
    assert send("PUT", RECORDS, {"items": [dict(one, ttl=59)]}) == 400
    assert send("PUT", RECORDS, {"items": []}) == 400
    assert send("PUT", RECORDS, {"items": [one]}, content_type="text/plain") == 415
    assert send("PUT", RECORDS, {"items": [one]}, key=READ_ONLY) == 403
    assert send("PUT", "/dns/records/example.org", {"items": [one]}) == 404
    assert api.fake.records == []
    api.fake.add("example.com", "x", "A", "203.0.113.5")
    assert send("PUT", RECORDS, {"items": [one]}) == 422  # a conflict, without force
    assert [r["address"] for r in api.fake.named("x")] == ["203.0.113.5"]


def test_runs_in_process_through_fake_http():
    fake = SpaceshipFake(KEY, SECRET)
    http = FakeHttp(fake)
    provider = Spaceship({"api_key": Secret(KEY), "api_secret": Secret(SECRET),
                          "endpoint": http.url + PREFIX}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert [r["address"] for r in fake.named("home")] == ["203.0.113.8"]
    assert [r.method for r in http.requests] == ["PUT", "PUT"]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'sp'
	option type 'spaceship'
	option api_key '%(key)s'
	option api_secret_file '%(secret_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'sp'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'sp'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '600'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = SpaceshipFake(KEY, SECRET)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    secret_file = tmp_path / "spaceship.secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    env.config(CONFIG % {"key": KEY, "secret_file": secret_file, "endpoint": server.url + PREFIX,
                         "cacert": server.cafile})
    return env, fake


def assert_no_secret(env: AgentEnv, *runs) -> None:
    agent_env.assert_no_secret(env, runs, SECRET, KEY, WRONG)


def test_cli_creates_then_updates_with_one_request_per_record_then_sends_nothing(agent):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert "home.example.com A: published 203.0.113.7" in first.stderr
    assert [(r["address"], r["ttl"]) for r in fake.named("home", "A")] == [("203.0.113.7", 3600)]
    assert [(r["address"], r["ttl"]) for r in fake.named("home", "AAAA")] == [("2001:db8::7", 600)]

    set_wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert [r.method for r in fake.requests[before:]] == ["PUT", "PUT"]
    assert [(r["address"], r["ttl"]) for r in fake.named("home", "A")] == [("203.0.113.8", 3600)]
    assert [(r["address"], r["ttl"]) for r in fake.named("home", "AAAA")] == [("2001:db8::8", 600)]

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr
    assert_no_secret(env, first, second, third)


def test_cli_wrong_secret_fails_the_record_and_check_online_says_so(agent, tmp_path):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    (tmp_path / "spaceship.secret").write_text(WRONG)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr
    assert "Spaceship refused api_key/api_secret" in done.stderr
    assert "Traceback" not in done.stderr and fake.records == []
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider sp (spaceship): FAILED: Spaceship refused api_key/api_secret" in check.stdout
    (tmp_path / "spaceship.secret").write_text(SECRET)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider sp (spaceship): OK: API key accepted; domains example.com" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)


def test_providers_command_lists_spaceship_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("spaceship:"):].split("\n\n")[0]
    assert "required: api_key (or api_key_file), api_secret (or api_secret_file)" in block
