"""DNSPod legacy provider against the fake dnsapi.cn over real HTTPS, on both transports."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from agent_env import REAL, AgentEnv, status_with
from fakes import Fault, json_response
from fakes.dnspod import DNSPodFake
from fakes.server import FakeHttp

from ddns_agent import __version__
from ddns_agent.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnconfirmedError,
)
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.dnspod import DNSPod
from ddns_agent.secret import Secret

LOGIN_TOKEN = "13490,6b5976c68aba5b14a0558b77c17c3932"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, token: str = LOGIN_TOKEN, **options) -> DNSPod:
        opts = {"login_token": Secret(token), "endpoint": self.server.url}
        opts.update(options)
        return DNSPod(opts, self.http)

    def actions(self) -> list:
        return [r.route.strip("/") for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = DNSPodFake(LOGIN_TOKEN)
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []
    assert fake.noop_modifications == 0  # DNSPod locks records for those (specs §1)


def rec(name: str = "home", type: str = "A", ttl: int | None = None, **options) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl, options)


def test_first_run_finds_the_existing_record(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=600)
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl) == (record_id, "203.0.113.5", 600)
    [sent] = api.server.requests
    assert sent.route == "/Record.List"
    assert {k: sent.form[k] for k in ("login_token", "format", "lang", "error_on_empty", "domain",
                                      "sub_domain", "record_type")} == {
        "login_token": LOGIN_TOKEN, "format": "json", "lang": "en", "error_on_empty": "no",
        "domain": "example.com", "sub_domain": "home", "record_type": "A"}


def test_records_on_other_lines_are_not_ours_unless_configured(api):
    api.fake.add("example.com", "home", "A", "198.51.100.1", line="电信")
    assert api.provider().find(rec()) is None
    assert api.provider().find(rec(record_line="电信")).value == "198.51.100.1"
    assert api.provider(record_line="电信").find(rec()).value == "198.51.100.1"


def test_missing_record_is_created_on_the_default_line(api):
    provider = api.provider()
    assert provider.find(rec()) is None
    made = provider.create(rec(), "203.0.113.7")
    stored = api.fake.records[int(made.id)]
    assert (stored["name"], stored["line"], stored["value"]) == ("home", "默认", "203.0.113.7")
    assert stored["ttl"] == 600  # the API's default: no ttl was sent
    assert "ttl" not in api.server.requests[-1].form


def test_apex_and_aaaa_with_ttl_are_created(api):
    made = api.provider().create(rec("@", "AAAA", ttl=3600), "2001:db8::7")
    stored = api.fake.records[int(made.id)]
    assert (stored["name"], stored["type"], stored["ttl"]) == ("@", "AAAA", 3600)


def test_create_of_an_identical_record_adopts_it(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.7")
    assert api.provider().create(rec(), "203.0.113.7").id == record_id
    assert api.actions() == ["Record.Create", "Record.List"]
    assert len(api.fake.records) == 1


def test_update_of_an_a_record_is_one_ddns_request(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=900)
    result = api.provider().update(rec(), Remote(record_id, "203.0.113.5", 900), "203.0.113.9")
    assert api.actions() == ["Record.Ddns"]
    form = api.server.requests[0].form
    assert (form["record_id"], form["sub_domain"], form["record_line"]) == (record_id, "home", "默认")
    assert api.fake.records[int(record_id)] == {"domain": "example.com", "name": "home", "type": "A",
                                                "line": "默认", "value": "203.0.113.9", "ttl": 900}
    assert (result.id, result.value) == (record_id, "203.0.113.9")


def test_update_of_an_aaaa_record_is_one_modify_request_keeping_the_ttl(api):
    record_id = api.fake.add("example.com", "home", "AAAA", "2001:db8::5", ttl=900)
    api.provider().update(rec(type="AAAA"), Remote(record_id, "2001:db8::5", 900), "2001:db8::9")
    assert api.actions() == ["Record.Modify"]
    stored = api.fake.records[int(record_id)]
    assert (stored["value"], stored["ttl"]) == ("2001:db8::9", 900)


def test_update_of_an_aaaa_record_with_an_unknown_ttl_reads_it_and_sends_it_back(api):
    record_id = api.fake.add("example.com", "home", "AAAA", "2001:db8::5", ttl=1200)
    result = api.provider().update(rec(type="AAAA"), Remote(record_id, "2001:db8::5"), "2001:db8::9")
    assert api.actions() == ["Record.List", "Record.Modify"]  # Modify without ttl would reset it to 600
    assert api.server.requests[-1].form["ttl"] == "1200" and result.ttl == 1200
    assert api.fake.records[int(record_id)]["ttl"] == 1200


def test_update_that_changes_the_ttl_uses_modify(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=900)
    api.provider().update(rec(ttl=1200), Remote(record_id, "203.0.113.5", 900), "203.0.113.9")
    assert api.actions() == ["Record.Modify"]
    assert api.fake.records[int(record_id)]["ttl"] == 1200


def test_update_to_a_value_another_record_holds_is_a_failure_naming_both(api):
    ours = api.fake.add("example.com", "home", "A", "203.0.113.5")
    other = api.fake.add("example.com", "home", "A", "203.0.113.9")
    with pytest.raises(ProviderError, match="record %s already holds 203.0.113.9 \\(104\\) while ours, %s, "
                       "still holds 203.0.113.5" % (other, ours)):
        api.provider().update(rec(), Remote(ours, "203.0.113.5", 600), "203.0.113.9")
    assert api.fake.value(ours) == "203.0.113.5"


def test_find_reports_the_other_records_of_the_same_name(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home", "A", "198.51.100.1", ttl=1200)
    api.fake.add("example.com", "home", "A", "198.51.100.2", line="电信")  # another line: not ours
    found = api.provider().find(rec())
    assert found.id == first
    assert [(o.id, o.value, o.ttl) for o in found.others] == [(second, "198.51.100.1", 1200)]


def test_update_with_a_stale_id_raises_not_found(api):
    with pytest.raises(NotFoundError, match="8 Record id invalid"):
        api.provider().update(rec(), Remote("99999", "203.0.113.5"), "203.0.113.9")


def test_wrong_login_token_is_an_auth_error_after_one_request(api):
    wrong = "13490,00000000000000000000000000000000"
    with pytest.raises(AuthError, match="-1 Login failed") as info:
        api.provider(token=wrong).find(rec())
    assert LOGIN_TOKEN not in str(info.value) and wrong not in str(info.value)
    assert len(api.server.requests) == 1


def test_api_over_limit_waits(api):
    api.server.inject(body=json_response({"status": {"code": "-2", "message": "API usage over limit"}}).body)
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 600


def test_empty_list_as_code_10_means_not_found(api):
    api.server.inject(body=json_response({"status": {"code": "10", "message": "No records"}}).body)
    assert api.provider().find(rec()) is None


def test_rate_limit_429_carries_retry_after(api):
    api.server.inject(status=429, headers={"Retry-After": "120"}, body="slow down")
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 120


def test_server_error_is_transient(api):
    api.server.inject(status=503, body="<html>maintenance</html>")
    with pytest.raises(TransientError, match="HTTP 503"):
        api.provider().find(rec())


@pytest.mark.parametrize("fault", [Fault(body=b'{"status": {"code": "1", "mess'),
                                   Fault(body=b'{"records": []}'),
                                   Fault(truncate=True)],
                         ids=["truncated JSON", "no status", "cut body"])
def test_malformed_answers_are_unconfirmed(api, fault):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5")
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError):
        api.provider().update(rec(), Remote(record_id, "203.0.113.5"), "203.0.113.9")


def test_refusals_carry_the_servers_code_and_message(api):
    with pytest.raises(RejectedError, match="29 TTL is too small"):
        api.provider().create(rec(ttl=60), "203.0.113.7")
    with pytest.raises(RejectedError, match="6 Domain id invalid"):
        api.provider().find(RecordSpec("x", "example.org", "home", "A"))
    assert api.fake.records == {}


@pytest.mark.parametrize("agent", ["Mozilla/5.0 (X11; Linux x86_64)", "",
                                   "ddns_agent/0.1.0 (https://github.com/ddns-agent/ddns_agent)",
                                   "ddns_agent/0.1.0", "ddns_agent (me@example.com)",
                                   "python-urllib3/2.0.7"],
                         ids=["browser", "missing", "url instead of e-mail", "no contact", "no version",
                              "library default"])
def test_the_fake_bans_clients_without_a_proper_user_agent(api, agent):
    form = ("login_token=%s&format=json&domain=example.com" % LOGIN_TOKEN).encode()
    resp = api.http.request("POST", api.server.url + "/Record.List",
                            {"User-Agent": agent, "Content-Type": "application/x-www-form-urlencoded"}, form)
    assert (resp.status, resp.body) == (403, b"403 Forbidden: client blocked")
    assert api.fake.banned_requests == 1
    api.provider().find(rec())  # ours has the ProgramName/Version (contact-email) shape
    assert api.fake.banned_requests == 1


def test_user_agent_carries_the_contact_email(api):
    api.provider(contact_email="me@example.net").find(rec())
    api.provider().find(rec())
    assert [r.headers["user-agent"] for r in api.server.requests] == [
        "ddns_agent/%s (me@example.net)" % __version__,
        "ddns_agent/%s (ddns-agent@users.noreply.github.com)" % __version__]
    assert api.fake.banned_requests == 0


@pytest.mark.parametrize("contact", ["https://example.net/", "me", "me@localhost", "me@example.net (x)"])
def test_a_contact_email_that_is_no_address_is_a_config_error(contact):
    with pytest.raises(ConfigError) as info:
        DNSPod({"login_token": Secret(LOGIN_TOKEN), "contact_email": contact}, None)
    assert info.value.option == "contact_email"


def test_a_banned_client_waits_an_hour(api):
    api.server.inject(status=403, body="403 Forbidden")
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 3600


def test_the_fake_locks_a_record_after_five_no_change_modifications(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5")
    provider = api.provider()
    for _ in range(5):
        provider.update(rec(), Remote(record_id, "203.0.113.5"), "203.0.113.5")
    with pytest.raises(RejectedError, match="21 Record locked"):
        provider.update(rec(), Remote(record_id, "203.0.113.5"), "203.0.113.5")
    assert api.fake.noop_modifications == 6
    api.fake.noop_modifications = 0  # this test made them on purpose


def test_runs_in_process_through_fake_http():
    fake = DNSPodFake(LOGIN_TOKEN)
    http = FakeHttp(fake)
    provider = DNSPod({"login_token": Secret(LOGIN_TOKEN), "endpoint": http.url}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.value(made.id) == "203.0.113.8"
    assert [r.route for r in http.requests] == ["/Record.Create", "/Record.Ddns"]
    assert fake.noop_modifications == 0


def test_the_fake_answers_bare_clients_like_dnsapi_cn(api):
    def post(form: bytes, method: str = "POST"):
        return api.http.request(method, api.server.url + "/Record.List",
                                {"Content-Type": "application/x-www-form-urlencoded",
                                 "User-Agent": "bare client/1.0 (tester@example.net)"}, form)

    token = ("login_token=" + LOGIN_TOKEN).encode()
    assert post(token + b"&format=json", "GET").json()["status"]["code"] == "2"
    assert post(token + b"&domain=example.com").body.startswith(b"<?xml")  # format defaults to xml
    empty = post(token + b"&domain=example.com&format=json&sub_domain=nas")
    assert empty.json()["status"] == {"code": "10", "message": "No records",
                                      "created_at": "2024-01-01 00:00:00"}


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'dp'
	option type 'dnspod'
	option login_token_file '%(token_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'
%(extra)s
config record 'home'
	option provider 'dp'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = DNSPodFake(LOGIN_TOKEN)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    token_file = tmp_path / "dnspod.token"
    token_file.write_text(LOGIN_TOKEN + "\n")
    token_file.chmod(0o600)

    def configure(extra: str = "") -> None:
        env.config(CONFIG % {"token_file": token_file, "endpoint": server.url, "cacert": server.cafile,
                             "extra": extra})

    configure()
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": "203.0.113.7", "mask": 24}]}))
    yield env, fake, configure, token_file
    assert fake.errors == []
    assert fake.noop_modifications == 0


def test_cli_publishes_without_being_banned_and_names_the_contact(agent):
    env, fake, configure, _ = agent
    configure("\toption contact_email 'me@example.net'\n")
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert "home.example.com A: published 203.0.113.7" in done.stderr
    assert fake.banned_requests == 0
    agents = {r.headers["user-agent"] for r in fake.requests}
    assert agents == {"ddns_agent/%s (me@example.net)" % __version__}
    assert [r["value"] for r in fake.records.values()] == ["203.0.113.7"]


def test_cli_default_contact_is_not_banned_either(agent):
    env, fake, _, _ = agent
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert fake.banned_requests == 0 and [r["value"] for r in fake.records.values()] == ["203.0.113.7"]


def test_cli_wrong_token_says_the_token_was_refused(agent):
    env, fake, _, token_file = agent
    token_file.write_text("13490,00000000000000000000000000000000\n")
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed: DNSPod refused the login_token: -1 Login failed" in done.stderr
    assert "blocked" not in done.stderr
    assert len(fake.requests) == 1 and fake.banned_requests == 0  # stops at once: 30 failures ban
    status = env.run("status")
    assert "refused the login_token" in status.stdout
    again = env.run("update")
    assert len(fake.requests) == 1, again.stderr  # stopped until the config changes


def test_cli_check_refuses_a_contact_that_is_no_email(agent):
    env, fake, configure, _ = agent
    configure("\toption contact_email 'https://example.net/contact'\n")
    done = env.run("check")
    assert done.returncode == 2
    assert "dp.contact_email: expected an e-mail address" in done.stderr
    assert "Traceback" not in done.stderr and fake.requests == []


def test_the_fake_refuses_what_dnsapi_cn_refuses(api):
    def post(action: str, token: str = LOGIN_TOKEN, **params) -> str:
        form = dict({"login_token": token, "format": "json", "domain": "example.com"}, **params)
        resp = api.http.request("POST", "%s/%s" % (api.server.url, action),
                                {"Content-Type": "application/x-www-form-urlencoded",
                                 "User-Agent": "bare client/1.0 (tester@example.net)"},
                                urlencode(form).encode())
        return resp.json()["status"]["code"]

    create = {"sub_domain": "home", "record_type": "A", "record_line": "默认", "value": "203.0.113.7"}
    assert post("Record.Create", **dict(create, sub_domain="ho me")) == "22"
    assert post("Record.Create", **dict(create, record_type="CNAME")) == "27"
    assert post("Record.Create", **dict(create, record_line="nowhere")) == "26"
    assert post("Record.Create", **dict(create, value="2001:db8::7")) == "34"
    assert post("Record.Create", **dict(create, ttl="604801")) == "6"
    assert post("Record.Create", **dict(create, ttl="599")) == "29"
    assert post("Record.Create", **dict(create, domain="example.org")) == "6"
    assert post("Record.Modify", **dict(create, record_id="1")) == "8"
    assert api.fake.records == {}
    wrong = "13490,00000000000000000000000000000000"
    assert {post("Record.List", token=wrong) for _ in range(31)} == {"-1"}
    assert post("Record.List") == "-8"  # more than 30 failed logins: even the right token is refused
