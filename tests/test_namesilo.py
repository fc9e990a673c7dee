"""NameSilo API against the key-checking fake over real HTTPS, on both transports."""

from __future__ import annotations

import agent_env
import pytest
from agent_env import AgentEnv, set_wan
from fakes import Fault
from fakes.namesilo import PREFIX, NameSiloFake
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
from ddns_agent.providers.namesilo import NameSilo
from ddns_agent.secret import Secret

KEY = "b8f3a1c9d2e47f6a0b5c"
WRONG = "0000wrong0000key0000"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, key: str = KEY) -> NameSilo:
        return NameSilo({"api_key": Secret(key), "endpoint": self.server.url + PREFIX}, self.http)

    def operations(self) -> list:
        return [r.route.rsplit("/", 1)[-1] for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = NameSiloFake(KEY, ("example.com", "example.net"))
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl)


def test_first_run_finds_the_only_record_though_it_comes_as_an_object(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=3603)
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl, found.others) == (made["record_id"], "203.0.113.5", 3603, ())
    assert api.operations() == ["dnsListRecords"]
    query = api.server.requests[0].query
    assert (query["version"], query["type"], query["domain"]) == ("1", "json", "example.com")
    assert query["key"] == KEY


def test_near_miss_names_and_other_types_are_not_ours(api):
    api.fake.add("example.com", "homer", "A", "203.0.113.5")
    api.fake.add("example.com", "home", "AAAA", "2001:db8::5")
    api.fake.add("example.com", "", "A", "203.0.113.6")
    assert api.provider().find(rec()) is None
    assert api.provider().find(rec("@")).value == "203.0.113.6"


def test_missing_record_is_created_with_the_default_ttl(api):
    made = api.provider().create(rec(), "203.0.113.7")
    [stored] = api.fake.named("home.example.com")
    assert (stored["value"], stored["ttl"]) == ("203.0.113.7", 7207)
    assert (made.id, made.ttl) == (stored["record_id"], 7207)
    assert "rrttl" not in api.server.requests[0].query


def test_apex_aaaa_with_a_ttl_is_created_with_an_empty_host(api):
    api.provider().create(rec("@", "AAAA", ttl=3600), "2001:db8::7")
    [stored] = api.fake.named("example.com", "AAAA")
    assert (stored["value"], stored["ttl"]) == ("2001:db8::7", 3600)
    assert api.server.requests[0].query["rrhost"] == ""


def test_update_with_a_cached_id_is_one_request_that_keeps_the_ttl_and_returns_the_new_id(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=86400)
    result = api.provider().update(rec(), Remote(made["record_id"], None, 86400), "203.0.113.9")
    assert api.operations() == ["dnsUpdateRecord"]
    [stored] = api.fake.named("home.example.com")
    assert (stored["value"], stored["ttl"]) == ("203.0.113.9", 86400)
    assert stored["record_id"] != made["record_id"]
    assert (result.id, result.ttl) == (stored["record_id"], 86400)


def test_update_without_a_known_ttl_reads_it_once_rather_than_reset_it(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=86400)
    api.provider().update(rec(), Remote(made["record_id"], None), "203.0.113.9")
    assert api.operations() == ["dnsListRecords", "dnsUpdateRecord"]
    assert [r["ttl"] for r in api.fake.named("home.example.com")] == [86400]


def test_other_records_of_the_name_are_reported_not_touched(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home", "A", "203.0.113.6")
    found = api.provider().find(rec())
    assert found.id == first["record_id"]
    assert [(o.id, o.value) for o in found.others] == [(second["record_id"], "203.0.113.6")]


def test_update_with_a_stale_id_raises_not_found(api):
    with pytest.raises(NotFoundError, match="280"):
        api.provider().update(rec(), Remote("abc123", "203.0.113.5", 7207), "203.0.113.9")
    for stale in (None, "", "../listDomains/3600"):  # no id, or none NameSilo could have made
        with pytest.raises(NotFoundError):
            api.provider().update(rec(), Remote(stale, None), "203.0.113.9")
    assert len(api.server.requests) == 1


def test_domain_not_in_the_account_is_rejected(api):
    with pytest.raises(RejectedError, match="not active or not in this account"):
        api.provider().find(RecordSpec("x", "example.org", "home", "A"))


def test_wrong_key_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="refused the API key: 110 Invalid API Key") as info:
        api.provider(WRONG).find(rec())
    assert WRONG not in str(info.value) and len(api.server.requests) == 1


def test_ttl_below_3600_is_refused(api):
    with pytest.raises(RejectedError, match="280 DNS modification error"):
        api.provider().create(rec(ttl=600), "203.0.113.7")
    assert api.fake.records == {}


def test_internal_error_code_is_transient(api):
    api.server.inject(body=b'{"request": {}, "reply": {"code": "201", "detail": "Internal system error"}}')
    with pytest.raises(TransientError, match="201"):
        api.provider().find(rec())


def test_rate_limit_waits_as_told(api):
    api.server.inject(status=429, headers={"Retry-After": "60"}, body=b"Too Many Requests")
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 60.0


def test_server_error_is_transient(api):
    api.server.inject(status=503, body=b"<html>unavailable</html>")
    with pytest.raises(TransientError, match="HTTP 503"):
        api.provider().find(rec())


@pytest.mark.parametrize("fault", [Fault(body=b'{"reply": {"code": 300'), Fault(body=b'{"reply": "ok"}'),
                                   Fault(body=b'{"reply": {"code": 300, "detail": "success"}}')],
                         ids=["truncated JSON", "no code", "no record id"])
def test_malformed_answers_are_unconfirmed(api, fault):
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError, match="malformed"):
        api.provider().create(rec(), "203.0.113.9")


def test_check_lists_the_domains_and_changes_nothing(api):
    assert api.provider().check() == "API key accepted; domains example.com, example.net"
    assert api.operations() == ["listDomains"] and api.fake.writes == 0


def test_the_fake_refuses_what_namesilo_refuses(api):
    from urllib.parse import urlencode

    def send(operation, params, base=True):
        query = {"version": "1", "type": "json", "key": KEY} if base else {}
        query.update(params)
        resp = api.http.request("GET", "%s%s/%s?%s" % (api.server.url, PREFIX, operation, urlencode(query)),
                                {}, None)
        return resp.json()["reply"]["code"]

    add = {"domain": "example.com", "rrtype": "A", "rrhost": "x", "rrvalue": "203.0.113.1"}
    assert send("dnsAddRecord", add, base=False) == 102
    assert send("dnsAddRecord", dict(add, type="xml")) == 105
    assert send("dnsAddRecord", dict(add, key=WRONG)) == 110
    assert send("dnsAddRecord", {k: v for k, v in add.items() if k != "rrvalue"}) == 108
    assert send("dnsAddRecord", dict(add, rrvalue="2001:db8::1")) == 280
    assert send("dnsAddRecord", dict(add, rrhost="x.example.com")) == 280
    assert send("dnsAddRecord", dict(add, rrttl="3599")) == 280
    assert send("dnsUpdateRecord", {"domain": "example.com", "rrid": "nope", "rrhost": "x",
                                    "rrvalue": "203.0.113.1"}) == 280
    assert send("dnsDeleteRecord", {"domain": "example.com"}) == 107
    assert api.fake.records == {}


def test_runs_in_process_through_fake_http():
    fake = NameSiloFake(KEY)
    http = FakeHttp(fake)
    provider = NameSilo({"api_key": Secret(KEY), "endpoint": http.url + PREFIX}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.named("home.example.com")[0]["value"] == "203.0.113.8"
    assert [r.route for r in http.requests] == ["/api/dnsAddRecord", "/api/dnsUpdateRecord"]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'ns'
	option type 'namesilo'
	option api_key_file '%(key_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'ns'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'ns'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '3600'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = NameSiloFake(KEY)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    key_file = tmp_path / "namesilo.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    env.config(CONFIG % {"key_file": key_file, "endpoint": server.url + PREFIX, "cacert": server.cafile})
    return env, fake


def assert_no_secret(env: AgentEnv, *runs) -> None:
    agent_env.assert_no_secret(env, runs, KEY, WRONG)


def test_cli_creates_then_updates_with_one_request_per_record_then_sends_nothing(agent):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert "home.example.com A: published 203.0.113.7" in first.stderr
    assert [(r["value"], r["ttl"]) for r in fake.named("home.example.com", "A")] == [("203.0.113.7", 7207)]
    assert [(r["value"], r["ttl"]) for r in fake.named("home.example.com", "AAAA")] == [("2001:db8::7", 3600)]

    set_wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert [r.route for r in fake.requests[before:]] == ["/api/dnsUpdateRecord"] * 2
    assert [(r["value"], r["ttl"]) for r in fake.named("home.example.com", "A")] == [("203.0.113.8", 7207)]
    assert [r["value"] for r in fake.named("home.example.com", "AAAA")] == ["2001:db8::8"]

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr

    set_wan(env, "203.0.113.9", "2001:db8::8")  # the new id saved by the last update is the one used
    fourth = env.run("update")
    assert fourth.returncode == 0, fourth.stderr
    assert [r.route for r in fake.requests[before:]] == ["/api/dnsUpdateRecord"]
    assert_no_secret(env, first, second, third, fourth)


def test_cli_wrong_key_fails_the_record_and_check_online_says_so(agent, tmp_path):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    (tmp_path / "namesilo.key").write_text(WRONG)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr and "NameSilo refused the API key" in done.stderr
    assert "Traceback" not in done.stderr and fake.records == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider ns (namesilo): FAILED: NameSilo refused the API key" in check.stdout
    (tmp_path / "namesilo.key").write_text(KEY)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider ns (namesilo): OK: API key accepted; domains example.com" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)


def test_providers_command_lists_namesilo_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("namesilo:"):].split("\n\n")[0]
    assert "required: api_key (or api_key_file)" in block
