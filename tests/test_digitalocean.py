"""DigitalOcean API v2 against the token-checking fake over real HTTPS, on both transports."""

from __future__ import annotations

import agent_env
import pytest
from agent_env import AgentEnv, set_wan
from fakes import Fault
from fakes.digitalocean import PREFIX, DigitalOceanFake
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
from ddns_agent.providers.digitalocean import DigitalOcean
from ddns_agent.secret import Secret

TOKEN = "dop_v1_3f9c2a7b1e4d6058a9b7c3d2e1f0a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1"
READ_ONLY = "dop_v1_ro_77aa3c1e9b2d4f6081a3b5c7d9e1f2a4"
WRONG = "dop_v1_wrong_0a1b2c3d4e5f60718293a4b5c6d7e8f9"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, token: str = TOKEN) -> DigitalOcean:
        return DigitalOcean({"api_token": Secret(token), "endpoint": self.server.url + PREFIX}, self.http)

    def routes(self) -> list:
        return ["%s %s" % (r.method, r.route[len(PREFIX):]) for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = DigitalOceanFake(TOKEN, ("example.com", "example.net"), read_only_token=READ_ONLY)
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl)


def test_first_run_finds_the_existing_record_with_one_request(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=300)
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl) == (str(made["id"]), "203.0.113.5", 300)
    assert api.routes() == ["GET /domains/example.com/records"]
    query = api.server.requests[0].query
    assert (query["name"], query["type"]) == ("home.example.com", "A")
    assert api.server.requests[0].headers["authorization"] == "Bearer " + TOKEN


def test_near_miss_names_and_other_types_are_not_ours(api):
    api.fake.add("example.com", "homer", "A", "203.0.113.5")
    api.fake.add("example.com", "home", "AAAA", "2001:db8::5")
    api.fake.add("example.net", "home", "A", "203.0.113.6")
    assert api.provider().find(rec()) is None


def test_find_matches_the_name_itself_across_pages(api):
    api.fake.ignore_name_filter = True
    api.fake.max_per_page = 2
    for label in ("a", "b", "c", "homer", "@"):
        api.fake.add("example.com", label, "A", "198.51.100.1")
    made = api.fake.add("example.com", "home", "A", "203.0.113.5")
    provider = api.provider()
    assert provider.find(rec()).id == str(made["id"])
    assert [r.query["page"] for r in api.server.requests] == ["1", "2", "3"]
    assert provider.find(rec("nas")) is None


def test_other_records_of_the_name_are_reported_not_touched(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home", "A", "203.0.113.6")
    found = api.provider().find(rec())
    assert found.id == str(first["id"])
    assert [(o.id, o.value) for o in found.others] == [(str(second["id"]), "203.0.113.6")]


def test_a_long_or_hostile_error_message_stays_one_short_line(api):
    api.server.inject(status=422, body=('{"id": "unprocessable_entity", "message": "bad\\n%s %s"}'
                                        % ("x" * 500, TOKEN)).encode())
    with pytest.raises(RejectedError) as info:
        api.provider().create(rec(), "203.0.113.7")
    assert "\n" not in str(info.value) and TOKEN not in str(info.value) and len(str(info.value)) < 260


def test_missing_record_is_created_with_digitaloceans_default_ttl(api):
    provider = api.provider()
    assert provider.find(rec()) is None
    made = provider.create(rec(), "203.0.113.7")
    [stored] = api.fake.named("home")
    assert (stored["data"], stored["ttl"]) == ("203.0.113.7", 1800)
    assert made.id == str(stored["id"])
    assert api.server.requests[-1].json() == {"type": "A", "name": "home", "data": "203.0.113.7"}


def test_apex_aaaa_with_a_ttl_is_created_as_at(api):
    api.provider().create(rec("@", "AAAA", ttl=300), "2001:db8::7")
    [stored] = api.fake.named("@", "AAAA")
    assert (stored["data"], stored["ttl"]) == ("2001:db8::7", 300)
    assert api.provider().find(rec("@", "AAAA")).value == "2001:db8::7"


def test_update_with_a_cached_id_is_one_patch_that_keeps_the_ttl(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=120)
    result = api.provider().update(rec(), Remote(str(made["id"]), "203.0.113.5"), "203.0.113.9")
    assert api.routes() == ["PATCH /domains/example.com/records/%d" % made["id"]]
    assert api.server.requests[0].json() == {"type": "A", "data": "203.0.113.9"}
    assert (api.fake.records[made["id"]]["data"], api.fake.records[made["id"]]["ttl"]) == ("203.0.113.9", 120)
    assert (result.value, result.ttl) == ("203.0.113.9", 120)


def test_update_sends_the_ttl_when_configured(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=120)
    api.provider().update(rec(ttl=600), Remote(str(made["id"]), None), "203.0.113.9")
    assert api.fake.records[made["id"]]["ttl"] == 600


def test_update_with_a_stale_id_raises_not_found(api):
    with pytest.raises(NotFoundError, match="not_found"):
        api.provider().update(rec(), Remote("999", "203.0.113.5"), "203.0.113.9")
    with pytest.raises(NotFoundError):
        api.provider().update(rec(), Remote("zone/abc", None), "203.0.113.9")
    assert len(api.server.requests) == 1


def test_unknown_domain_is_rejected_not_retried(api):
    with pytest.raises(RejectedError, match="domain example.org not found"):
        api.provider().find(RecordSpec("x", "example.org", "home", "A"))


def test_wrong_token_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="refused the API token: unauthorized") as info:
        api.provider(WRONG).find(rec())
    assert WRONG not in str(info.value) and len(api.server.requests) == 1


def test_read_only_token_is_told_which_scope_it_lacks(api):
    with pytest.raises(AuthError, match="domain:update"):
        api.provider(READ_ONLY).create(rec(), "203.0.113.7")
    assert api.fake.records == {}


def test_ttl_below_30_is_refused(api):
    with pytest.raises(RejectedError, match="Ttl must be at least 30"):
        api.provider().create(rec(ttl=10), "203.0.113.7")
    assert api.fake.records == {}


def test_rate_limit_waits_as_told(api):
    api.server.inject(status=429, headers={"Retry-After": "60"},
                      body=b'{"id": "too_many_requests", "message": "API Rate limit exceeded."}')
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 60.0


def test_server_error_is_transient(api):
    api.server.inject(status=503, body=b'{"id": "server_error", "message": "Unexpected server-side error"}')
    with pytest.raises(TransientError, match="HTTP 503"):
        api.provider().find(rec())


@pytest.mark.parametrize("fault", [Fault(body=b'{"domain_record": {"id"'), Fault(body=b'[]'),
                                   Fault(body=b'{"domain_record": {"id": "x", "data": 5}}')],
                         ids=["truncated JSON", "not an object", "no record"])
def test_malformed_answers_are_unconfirmed(api, fault):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5")
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError, match="malformed"):
        api.provider().update(rec(), Remote(str(made["id"]), None), "203.0.113.9")


def test_check_lists_the_domains_and_changes_nothing(api):
    assert api.provider().check() == "token accepted; domains example.com, example.net"
    assert api.fake.writes == 0 and api.routes() == ["GET /domains"]


def test_the_fake_refuses_what_digitalocean_refuses(api):
    import json

    from ddns_agent.http import url_join
    base = api.server.url + PREFIX + "/domains/example.com/records"

    def send(method, url, body=None, token=TOKEN, content_type="application/json"):
        headers = {"Content-Type": content_type}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if body is not None else None
        resp = api.http.request(method, url, headers, data)
        return resp.status, resp.json().get("id")

    assert send("GET", base, token=None) == (401, "unauthorized")
    assert send("GET", base, token="") == (401, "unauthorized")
    invalid = (422, "unprocessable_entity")
    assert send("POST", base, {"type": "A", "name": "x", "data": "10.0.0.300"}) == invalid
    assert send("POST", base, {"type": "A", "name": "x", "data": "2001:db8::1"}) == invalid
    assert send("POST", base, {"type": "A", "data": "203.0.113.1"}) == (422, "unprocessable_entity")
    assert send("POST", base, {"type": "A", "name": "x", "data": "203.0.113.1"}, content_type="text/plain") \
        == (415, "unsupported_media_type")
    made = api.fake.add("example.com", "home", "A", "203.0.113.5")
    assert send("PATCH", url_join(base, str(made["id"])), {"data": "203.0.113.1"}) == \
        (422, "unprocessable_entity")  # type is required
    assert send("PATCH", url_join(base, str(made["id"])), {"type": "A", "data": "203.0.113.1"},
                token=READ_ONLY) == (403, "forbidden")
    assert api.fake.records[made["id"]]["data"] == "203.0.113.5" and len(api.fake.records) == 1


def test_runs_in_process_through_fake_http():
    fake = DigitalOceanFake(TOKEN)
    http = FakeHttp(fake)
    provider = DigitalOcean({"api_token": Secret(TOKEN), "endpoint": http.url + PREFIX}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.named("home")[0]["data"] == "203.0.113.8"
    assert [r.method for r in http.requests] == ["POST", "PATCH"]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'do'
	option type 'digitalocean'
	option api_token_file '%(token_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'do'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'do'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '3600'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = DigitalOceanFake(TOKEN)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    token_file = tmp_path / "do.token"
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
    assert [(r["data"], r["ttl"]) for r in fake.named("home", "A")] == [("203.0.113.7", 1800)]
    assert [(r["data"], r["ttl"]) for r in fake.named("home", "AAAA")] == [("2001:db8::7", 3600)]

    set_wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert [r.method for r in fake.requests[before:]] == ["PATCH", "PATCH"]
    assert [r["data"] for r in fake.named("home", "A") + fake.named("home", "AAAA")] == \
        ["203.0.113.8", "2001:db8::8"]

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr
    assert_no_secret(env, first, second, third)


def test_cli_wrong_token_fails_the_record_and_check_online_says_so(agent, tmp_path):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    (tmp_path / "do.token").write_text(WRONG)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr and "DigitalOcean refused the API token" in done.stderr
    assert "Traceback" not in done.stderr and fake.records == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider do (digitalocean): FAILED: DigitalOcean refused the API token" in check.stdout
    (tmp_path / "do.token").write_text(TOKEN)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider do (digitalocean): OK: token accepted; domains example.com" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)


def test_providers_command_lists_digitalocean_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("digitalocean:"):].split("\n\n")[0]
    assert "api_token (or api_token_file)" in block
