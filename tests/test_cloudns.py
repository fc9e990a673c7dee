"""ClouDNS against the auth-checking fake over real HTTPS, on both transports."""

from __future__ import annotations

import agent_env
import pytest
from agent_env import AgentEnv, set_wan
from fakes import Fault
from fakes.cloudns import BAD_AUTH, ClouDNSFake
from fakes.server import FakeHttp

from ddns_agent.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnconfirmedError,
)
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.cloudns import ClouDNS
from ddns_agent.secret import Secret

AUTH_ID = "31337"
PASSWORD = "cloudns-Pw-7Hq2Zx9Lm4Vb"
WRONG = "cloudns-Pw-wrong-0000000"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, password: str = PASSWORD, **options) -> ClouDNS:
        opts = {"auth_id": AUTH_ID, "auth_password": Secret(password), "endpoint": self.server.url}
        opts.update(options)
        return ClouDNS(opts, self.http)

    def calls(self) -> list:
        return [r.route.rsplit("/", 1)[-1] for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = ClouDNSFake(AUTH_ID, PASSWORD, ("example.com", "example.net"))
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl)


def test_first_run_finds_the_existing_record_with_one_post_keeping_the_password_out_of_the_url(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    api.fake.add("example.com", "homer", "A", "203.0.113.6")
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl, found.others) == (made["id"], "203.0.113.5", 1800, ())
    [req] = api.server.requests
    assert (req.method, req.path) == ("POST", "/dns/records.json")
    assert req.form["auth-password"] == PASSWORD and req.form["host"] == "home" and req.form["type"] == "A"


def test_no_matching_record_is_an_empty_list(api):
    assert api.provider().find(rec()) is None
    assert api.provider().find(rec("@", "AAAA")) is None


def test_missing_record_is_created_with_ttl_3600(api):
    made = api.provider().create(rec(), "203.0.113.7")
    [stored] = api.fake.named("home")
    assert (stored["record"], stored["ttl"]) == ("203.0.113.7", "3600")
    assert (made.id, made.ttl) == (stored["id"], 3600)


def test_apex_aaaa_with_a_ttl_is_created_with_an_empty_host(api):
    api.provider().create(rec("@", "AAAA", ttl=300), "2001:db8::7")
    [stored] = api.fake.named("", "AAAA")
    assert (stored["record"], stored["ttl"]) == ("2001:db8::7", "300")
    assert api.provider().find(rec("@", "AAAA")).value == "2001:db8::7"


def test_update_with_a_cached_id_is_one_mod_record_that_keeps_the_ttl(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    result = api.provider().update(rec(), Remote(made["id"], None, 1800), "203.0.113.9")
    assert api.calls() == ["mod-record.json"]
    assert api.server.requests[0].form["ttl"] == "1800"
    assert (made["record"], made["ttl"]) == ("203.0.113.9", "1800") and result.ttl == 1800


def test_update_without_a_known_ttl_reads_it_once(api):
    made = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1800)
    api.provider().update(rec(), Remote(made["id"], None), "203.0.113.9")
    assert api.calls() == ["records.json", "mod-record.json"] and made["ttl"] == "1800"


def test_other_records_of_the_name_are_reported_not_touched(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home", "A", "203.0.113.6")
    found = api.provider().find(rec())
    assert found.id == first["id"]
    assert [(o.id, o.value) for o in found.others] == [(second["id"], "203.0.113.6")]


def test_ttl_must_be_one_cloudns_offers_named_as_the_records_option(api):
    with pytest.raises(ConfigError, match="home_v4.ttl: ClouDNS accepts only the TTLs 60, 300"):
        api.provider().create(rec(ttl=600), "203.0.113.7")
    assert api.server.requests == []


def test_update_with_a_stale_id_raises_not_found(api):
    with pytest.raises(NotFoundError, match="Invalid record-id"):
        api.provider().update(rec(), Remote("999", "203.0.113.5", 3600), "203.0.113.9")
    with pytest.raises(NotFoundError):
        api.provider().update(rec(), Remote("home/A", None), "203.0.113.9")
    assert len(api.server.requests) == 1


def test_unknown_zone_is_rejected(api):
    with pytest.raises(RejectedError, match="Invalid domain-name"):
        api.provider().find(RecordSpec("x", "example.org", "home", "A"))


def test_wrong_password_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="refused auth_id/auth_password: Invalid authentication") as info:
        api.provider(WRONG).find(rec())
    assert WRONG not in str(info.value) and len(api.server.requests) == 1


def test_a_sub_user_sends_sub_auth_id(serve, client):
    fake = ClouDNSFake(AUTH_ID, PASSWORD, sub_auth=True)
    server = serve(fake)
    http = client(server.cafile)
    opts = {"auth_id": AUTH_ID, "auth_password": Secret(PASSWORD), "endpoint": server.url}
    with pytest.raises(AuthError):
        ClouDNS(opts, http).check()
    assert ClouDNS(dict(opts, sub_auth="1"), http).check() == "API user accepted"
    assert "auth-id" not in server.requests[-1].form and server.requests[-1].form["sub-auth-id"] == AUTH_ID


def test_rate_limit_waits_as_told(api):
    api.server.inject(status=429, headers={"Retry-After": "60"}, body=b"Too Many Requests")
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 60.0


def test_server_error_is_transient(api):
    api.server.inject(status=503, body=b"<html>unavailable</html>")
    with pytest.raises(TransientError, match="HTTP 503"):
        api.provider().find(rec())


@pytest.mark.parametrize("fault", [Fault(body=b'{"status": "Success", "data": {"id"'), Fault(body=b'"ok"'),
                                   Fault(body=b'{"status": "Success", "data": {}}')],
                         ids=["truncated JSON", "not an object", "no id"])
def test_malformed_answers_are_unconfirmed(api, fault):
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError, match="malformed"):
        api.provider().create(rec(), "203.0.113.9")


def test_check_logs_in_and_changes_nothing(api):
    assert api.provider().check() == "API user accepted"
    assert api.calls() == ["login.json"] and api.fake.writes == 0


def test_the_fake_refuses_what_cloudns_refuses(api):
    from urllib.parse import urlencode

    def send(call, params, auth=True, method="POST"):
        form = {"auth-id": AUTH_ID, "auth-password": PASSWORD} if auth else {}
        form.update(params)
        url = api.server.url + "/dns/%s.json" % call
        if method == "GET":
            resp = api.http.request("GET", url + "?" + urlencode(form), {}, None)
        else:
            resp = api.http.request("POST", url, {"Content-Type": "application/x-www-form-urlencoded"},
                                    urlencode(form).encode())
        return resp.json()["statusDescription"]

    add = {"domain-name": "example.com", "record-type": "A", "host": "x", "record": "203.0.113.1",
           "ttl": "3600"}
    assert send("login", {}, auth=False) == "Missing auth-id or sub-auth-id."
    assert send("login", {"auth-password": WRONG}) == BAD_AUTH
    assert send("add-record", dict(add, ttl="600")).startswith("Invalid TTL")
    assert send("add-record", dict(add, ttl="")).startswith("Invalid TTL")
    assert send("add-record", dict(add, record="2001:db8::1")) == "Invalid IP address."
    assert send("add-record", dict(add, host="x.example.com")) == "Invalid host."
    assert send("add-record", {k: v for k, v in add.items() if k != "domain-name"}) == "Missing domain-name."
    assert send("mod-record", {"domain-name": "example.com", "record-id": "1", "host": "x",
                               "record": "203.0.113.1", "ttl": "3600"}) == "Invalid record-id."
    assert api.fake.records == {}
    assert send("add-record", add, method="GET") == "The record was added successfully."  # GET works too


def test_runs_in_process_through_fake_http():
    fake = ClouDNSFake(AUTH_ID, PASSWORD)
    http = FakeHttp(fake)
    provider = ClouDNS({"auth_id": AUTH_ID, "auth_password": Secret(PASSWORD), "endpoint": http.url}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.named("home")[0]["record"] == "203.0.113.8"
    assert [r.route for r in http.requests] == ["/dns/add-record.json", "/dns/mod-record.json"]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'cl'
	option type 'cloudns'
	option auth_id '%(auth_id)s'
	option auth_password_file '%(password_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'cl'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'cl'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '300'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = ClouDNSFake(AUTH_ID, PASSWORD)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    password_file = tmp_path / "cloudns.password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    env.config(CONFIG % {"auth_id": AUTH_ID, "password_file": password_file, "endpoint": server.url,
                         "cacert": server.cafile})
    return env, fake


def assert_no_secret(env: AgentEnv, *runs) -> None:
    agent_env.assert_no_secret(env, runs, PASSWORD, WRONG)


def test_cli_creates_then_updates_with_one_request_per_record_then_sends_nothing(agent):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert "home.example.com A: published 203.0.113.7" in first.stderr
    assert [(r["record"], r["ttl"]) for r in fake.named("home", "A")] == [("203.0.113.7", "3600")]
    assert [(r["record"], r["ttl"]) for r in fake.named("home", "AAAA")] == [("2001:db8::7", "300")]

    set_wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert [r.route for r in fake.requests[before:]] == ["/dns/mod-record.json"] * 2
    assert [(r["record"], r["ttl"]) for r in fake.named("home", "A")] == [("203.0.113.8", "3600")]
    assert [r["record"] for r in fake.named("home", "AAAA")] == ["2001:db8::8"]

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr
    assert_no_secret(env, first, second, third)


def test_cli_wrong_password_fails_the_record_and_check_online_says_so(agent, tmp_path):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    (tmp_path / "cloudns.password").write_text(WRONG)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr
    assert "ClouDNS refused auth_id/auth_password" in done.stderr
    assert "Traceback" not in done.stderr and fake.records == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider cl (cloudns): FAILED: ClouDNS refused auth_id/auth_password" in check.stdout
    (tmp_path / "cloudns.password").write_text(PASSWORD)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider cl (cloudns): OK: API user accepted" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)


def test_providers_command_lists_cloudns_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("cloudns:"):].split("\n\n")[0]
    assert "required: auth_id, auth_password (or auth_password_file)" in block and "sub_auth" in block
