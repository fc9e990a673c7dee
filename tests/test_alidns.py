"""Alibaba Cloud DNS against the signature-checking fake over real HTTPS, on both transports."""

from __future__ import annotations

import json
import os
import time

import pytest
from agent_env import REAL, AgentEnv, status_with
from fakes import Fault
from fakes.alidns import AliDnsFake, error
from fakes.server import FakeHttp

from ddns_agent.errors import (
    AuthError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnconfirmedError,
)
from ddns_agent.providers.alidns import AliDns
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.signing import rpc_query, rpc_signature, rpc_string_to_sign
from ddns_agent.secret import Secret

KEY_ID = "LTAI5tQ8mZ2xWcT4bN8vR1sL"
KEY_SECRET = "q7Hk2mZ9xWcT4bN8vR1sL6pY3fJ0dE"
WRONG_KEY_SECRET = "q7Hk2mZ9xWcT4bN8vR1sL6pY3fJ0dX"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, secret: str = KEY_SECRET, **options) -> AliDns:
        opts = {"access_key_id": KEY_ID, "access_key_secret": Secret(secret), "endpoint": self.server.url}
        opts.update(options)
        return AliDns(opts, self.http)

    def signed_post(self, params: dict, secret: str = KEY_SECRET):
        """POST `params` signed as a bare client would, with a fresh nonce and the current time."""
        form = {"Format": "JSON", "Version": "2015-01-09", "AccessKeyId": KEY_ID,
                "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
                "SignatureNonce": os.urandom(16).hex(),
                "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        form.update(params)
        form["Signature"] = rpc_signature(secret, rpc_string_to_sign("POST", form))
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.http.request("POST", self.server.url + "/", form_type, rpc_query(form).encode())

    def sent(self, index: int = -1) -> dict:
        """The business parameters of a request (common ones and the signature left out)."""
        form = self.server.requests[index].form
        return {k: v for k, v in form.items() if k not in (
            "Format", "Version", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce",
            "Timestamp", "Signature")}


@pytest.fixture
def api(serve, client):
    fake = AliDnsFake(KEY_ID, KEY_SECRET, domains=("example.com", "example.net"))
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl)


def test_first_run_finds_the_existing_record_with_one_signed_post(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=600)
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl) == (record_id, "203.0.113.5", 600)
    [req] = api.server.requests
    assert (req.method, req.route, req.query) == ("POST", "/", {})
    form = req.form
    assert (form["Format"], form["Version"], form["SignatureMethod"], form["SignatureVersion"]) == (
        "JSON", "2015-01-09", "HMAC-SHA1", "1.0")
    assert api.sent() == {"Action": "DescribeSubDomainRecords", "SubDomain": "home.example.com",
                          "DomainName": "example.com", "Type": "A", "PageNumber": "1", "PageSize": "100"}
    assert KEY_SECRET.encode() not in req.body


def test_near_miss_names_from_the_keyword_search_are_never_matched(api):
    api.fake.add("example.com", "home2", "A", "198.51.100.2")
    api.fake.add("example.com", "homelab", "A", "198.51.100.3")
    provider = api.provider()
    assert provider.find(rec()) is None  # the service did answer home2 and homelab
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5")
    assert provider.find(rec()).id == record_id
    assert provider.find(rec("home2")).value == "198.51.100.2"


def test_apex_is_found_by_the_zone_name_and_created_as_at(api):
    provider = api.provider()
    assert provider.find(rec("@")) is None
    assert api.sent()["SubDomain"] == "example.com"
    made = provider.create(rec("@"), "203.0.113.7")
    assert api.sent()["RR"] == "@"
    assert provider.find(rec("@")).id == made.id


def test_records_on_other_lines_are_not_ours(api):
    api.fake.add("example.com", "home", "A", "198.51.100.1", line="telecom")
    assert api.provider().find(rec()) is None


def test_find_reads_every_page(api):
    for i in range(120):
        api.fake.add("example.com", "home%d" % i, "A", "198.51.100.1")
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5")
    assert api.provider().find(rec()).id == record_id  # the fake lists the exact name last
    assert [r.form["PageNumber"] for r in api.server.requests] == ["1", "2"]


def test_missing_record_is_created_without_a_ttl(api):
    provider = api.provider()
    assert provider.find(rec()) is None
    made = provider.create(rec(), "203.0.113.7")
    assert api.sent() == {"Action": "AddDomainRecord", "DomainName": "example.com", "RR": "home",
                          "Type": "A", "Value": "203.0.113.7"}
    assert api.fake.records[made.id] == {"domain": "example.com", "rr": "home", "type": "A",
                                         "value": "203.0.113.7", "ttl": 600, "line": "default"}


def test_aaaa_with_a_ttl_is_created(api):
    made = api.provider().create(rec(type="AAAA", ttl=3600), "2001:db8::7")
    stored = api.fake.records[made.id]
    assert (stored["type"], stored["value"], stored["ttl"]) == ("AAAA", "2001:db8::7", 3600)
    assert (made.value, made.ttl) == ("2001:db8::7", 3600)


def test_create_of_an_identical_record_adopts_it(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.7")
    assert api.provider().create(rec(), "203.0.113.7").id == record_id
    assert api.fake.actions == ["AddDomainRecord", "DescribeSubDomainRecords"]
    assert len(api.fake.records) == 1


@pytest.mark.parametrize("type, old, new", [("A", "203.0.113.5", "203.0.113.9"),
                                            ("AAAA", "2001:db8::5", "2001:db8::9")])
def test_update_with_a_cached_id_is_one_request(api, type, old, new):
    record_id = api.fake.add("example.com", "home", type, old, ttl=900)
    result = api.provider().update(rec(type=type), Remote(record_id, old, 900), new)
    assert api.fake.actions == ["UpdateDomainRecord"]
    assert api.sent() == {"Action": "UpdateDomainRecord", "RecordId": record_id, "RR": "home", "Type": type,
                          "Value": new, "TTL": "900"}
    assert api.fake.records[record_id]["value"] == new and api.fake.records[record_id]["ttl"] == 900
    assert (result.id, result.value) == (record_id, new)


def test_update_with_an_unknown_ttl_reads_it_and_sends_it_back(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1200)
    result = api.provider().update(rec(), Remote(record_id, "203.0.113.5"), "203.0.113.9")
    assert api.fake.actions == ["DescribeSubDomainRecords", "UpdateDomainRecord"]
    assert api.sent()["TTL"] == "1200" and result.ttl == 1200
    assert api.fake.records[record_id]["ttl"] == 1200


def test_the_fake_resets_the_ttl_of_an_update_without_one(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1200)
    resp = api.signed_post({"Action": "UpdateDomainRecord", "RecordId": record_id, "RR": "home", "Type": "A",
                            "Value": "203.0.113.9"})
    assert resp.status == 200, resp.text
    assert api.fake.records[record_id]["ttl"] == 600  # the documented default, as the service does


def test_update_keeps_a_known_ttl_and_sends_a_configured_one(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=900)
    api.provider().update(rec(), Remote(record_id, "203.0.113.5", 900), "203.0.113.6")
    assert api.sent()["TTL"] == "900"
    api.provider().update(rec(ttl=1200), Remote(record_id, "203.0.113.6", 900), "203.0.113.7")
    assert api.sent()["TTL"] == "1200" and api.fake.records[record_id]["ttl"] == 1200


def test_update_to_the_value_already_there_counts_as_done(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.9")
    result = api.provider().update(rec(), Remote(record_id, "203.0.113.5", 600), "203.0.113.9")
    assert (result.id, result.value) == (record_id, "203.0.113.9")
    assert api.fake.duplicate_updates == 1 and api.fake.writes == 0


def test_update_to_a_value_another_record_holds_is_a_failure_naming_both(api):
    ours = api.fake.add("example.com", "home", "A", "203.0.113.5")
    other = api.fake.add("example.com", "home", "A", "203.0.113.9")
    with pytest.raises(ProviderError, match="record %s already holds 203.0.113.9 \\(DomainRecordDuplicate\\) "
                       "while ours, %s, still holds 203.0.113.5" % (other, ours)) as info:
        api.provider().update(rec(), Remote(ours, "203.0.113.5", 600), "203.0.113.9")
    assert info.value.retry == "never" and api.fake.value(ours) == "203.0.113.5"


def test_find_reports_the_other_records_of_the_same_name(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home", "A", "198.51.100.1", ttl=1200)
    api.fake.add("example.com", "home2", "A", "198.51.100.2")  # a near miss, not a duplicate
    found = api.provider().find(rec())
    assert found.id == first
    assert [(o.id, o.value, o.ttl) for o in found.others] == [(second, "198.51.100.1", 1200)]


def test_update_with_a_stale_id_raises_not_found(api):
    with pytest.raises(NotFoundError, match="DomainRecordNotBelongToUser"):
        api.provider().update(rec(), Remote("1234", "203.0.113.5", 600), "203.0.113.9")


def test_wrong_secret_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="SignatureDoesNotMatch") as info:
        api.provider(secret=WRONG_KEY_SECRET).find(rec())
    assert KEY_SECRET not in str(info.value) and WRONG_KEY_SECRET not in str(info.value)
    assert len(api.server.requests) == 1 and api.fake.actions == []


def test_unknown_access_key_id_is_an_auth_error(api):
    with pytest.raises(AuthError, match="InvalidAccessKeyId.NotFound"):
        api.provider(access_key_id="LTAIunknown").find(rec())


def test_clock_skew_is_reported_as_such(api):
    provider = api.provider()
    provider.clock = lambda: time.time() + 960
    with pytest.raises(AuthError, match="clock skew.*InvalidTimeStamp.Expired"):
        provider.find(rec())
    provider.clock = lambda: time.time() + 600  # within the 15 minutes the service allows
    assert provider.find(rec()) is None


def test_every_request_has_a_fresh_nonce_and_a_reused_one_is_refused(api):
    provider = api.provider()
    provider.find(rec())
    provider.find(rec())
    nonces = [r.form["SignatureNonce"] for r in api.server.requests]
    assert len(set(nonces)) == 2 and all(len(n) == 32 for n in nonces)
    provider.nonce = lambda: nonces[0]
    with pytest.raises(AuthError, match="SignatureNonceUsed"):
        provider.find(rec())


@pytest.mark.parametrize("status, code", [(400, "Throttling.User"), (503, "Throttling")])
def test_throttling_waits(api, status, code):
    api.server.inject(status=status, body=error(code, "Request was denied due to user flow control.").body)
    with pytest.raises(RateLimitedError, match=code):
        api.provider().find(rec())


def test_server_errors_are_transient(api):
    api.server.inject(status=500, body=error("InternalError", "The request processing has failed.").body)
    with pytest.raises(TransientError) as info:
        api.provider().find(rec())
    assert not isinstance(info.value, UnconfirmedError)
    api.server.inject(status=503, body="<html>unavailable</html>")
    with pytest.raises(TransientError, match="HTTP 503"):
        api.provider().find(rec())


@pytest.mark.parametrize("fault", [Fault(body=b'{"RequestId": "x", "RecordId": "99'),
                                   Fault(body=b'{"RequestId": "x"}'),
                                   Fault(body=b"<html>ok</html>"),
                                   Fault(truncate=True)],
                         ids=["truncated JSON", "no RecordId", "not JSON", "cut body"])
def test_malformed_answers_are_unconfirmed(api, fault):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5")
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError):
        api.provider().update(rec(), Remote(record_id, "203.0.113.5", 600), "203.0.113.9")


def test_refusals_carry_the_servers_code(api):
    with pytest.raises(RejectedError, match="IncorrectDomainUser"):
        api.provider().create(RecordSpec("x", "example.org", "home", "A"), "203.0.113.7")
    with pytest.raises(RejectedError, match="InvalidTTL"):
        api.provider().create(rec(ttl=60), "203.0.113.7")
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5")
    api.fake.locked.add(record_id)
    with pytest.raises(RejectedError, match="DomainRecordLocked"):
        api.provider().update(rec(), Remote(record_id, "203.0.113.5", 600), "203.0.113.9")
    api.fake.max_records = 1
    with pytest.raises(RejectedError, match="QuotaExceeded.Record"):
        api.provider().create(rec("nas"), "203.0.113.7")
    assert list(api.fake.records) == [record_id]


def test_check_names_the_domains_and_changes_nothing(api):
    assert api.provider().check() == "AccessKey accepted; domains example.com, example.net"
    assert api.fake.actions == ["DescribeDomains"] and api.fake.writes == 0
    with pytest.raises(AuthError):
        api.provider(secret=WRONG_KEY_SECRET).check()


def test_the_fake_checks_what_the_service_checks(api):
    def send(params: dict, method: str = "POST", secret: str = KEY_SECRET, drop: str = ""):
        common = {"Format": "JSON", "Version": "2015-01-09", "AccessKeyId": KEY_ID,
                  "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
                  "SignatureNonce": "%032x" % len(api.server.requests),
                  "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        params = dict(common, **params)
        params.pop(drop, None)
        params["Signature"] = rpc_signature(secret, rpc_string_to_sign(method, params))
        if method == "GET":
            resp = api.http.request("GET", api.server.url + "/?" + rpc_query(params))
        else:
            resp = api.http.request("POST", api.server.url + "/",
                                    {"Content-Type": "application/x-www-form-urlencoded"},
                                    rpc_query(params).encode())
        return resp.status, resp.json().get("Code")

    listing = {"Action": "DescribeSubDomainRecords", "SubDomain": "home.example.com"}
    assert send(listing, "GET") == (200, None)  # GET with a query is the other documented form
    assert send(listing, "POST") == (200, None)
    assert send(listing, secret=WRONG_KEY_SECRET) == (400, "SignatureDoesNotMatch")
    assert send(listing, drop="SignatureNonce") == (400, "MissingParameter")
    assert send(dict(listing, Version="2014-05-26")) == (400, "InvalidVersion")
    assert send(dict(listing, Timestamp="2024-01-01 00:00:00")) == (400, "InvalidTimeStamp.Format")
    assert send(dict(listing, PageSize="many")) == (400, "InvalidParameter")
    assert send({"Action": "AddDomainRecord", "DomainName": "example.com", "RR": "home", "Type": "A"}) == \
        (400, "MissingParameter")
    assert send({"Action": "DeleteDomain", "DomainName": "example.com"}) == (404, "InvalidAction.NotFound")
    assert api.fake.records == {}


def test_runs_in_process_through_fake_http():
    fake = AliDnsFake(KEY_ID, KEY_SECRET)
    http = FakeHttp(fake)
    provider = AliDns({"access_key_id": KEY_ID, "access_key_secret": Secret(KEY_SECRET),
                       "endpoint": http.url}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.value(made.id) == "203.0.113.8"
    assert fake.actions == ["AddDomainRecord", "UpdateDomainRecord"]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'ali'
	option type 'alidns'
	option access_key_id '%(id)s'
	option access_key_secret '%(secret)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'ali'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'ali'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '3600'
	option interface 'wan'
"""


def wan(env: AgentEnv, v4: str, v6: str) -> None:
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": v4, "mask": 24}],
                                        "ipv6-address": [{"address": v6, "mask": 64}]}))


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = AliDnsFake(KEY_ID, KEY_SECRET)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP

    def configure(secret: str = KEY_SECRET) -> None:
        env.config(CONFIG % {"id": KEY_ID, "secret": secret, "endpoint": server.url, "cacert": server.cafile})

    configure()
    return env, fake, configure


def assert_no_secret(env: AgentEnv, *runs, secrets=(KEY_SECRET,)) -> None:
    state = (env.state / "state.json").read_text() if (env.state / "state.json").exists() else ""
    for text in [state] + [r.stdout + r.stderr for r in runs]:
        for secret in secrets:
            assert secret not in text


def test_cli_creates_then_updates_with_one_request_per_record_then_sends_nothing(agent):
    env, fake, _ = agent
    fake.add("example.com", "home2", "A", "198.51.100.2")  # a near miss the search will return
    wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert "home.example.com A: published 203.0.113.7" in first.stderr
    assert [(r["value"], r["ttl"]) for r in fake.named("home", "A")] == [("203.0.113.7", 600)]
    assert [(r["value"], r["ttl"]) for r in fake.named("home", "AAAA")] == [("2001:db8::7", 3600)]
    assert fake.named("home2", "A")[0]["value"] == "198.51.100.2"

    wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert fake.actions[-2:] == ["UpdateDomainRecord", "UpdateDomainRecord"]
    assert len(fake.requests) == before + 2
    assert [r["value"] for r in fake.named("home", "A") + fake.named("home", "AAAA")] == \
        ["203.0.113.8", "2001:db8::8"]
    assert fake.named("home", "AAAA")[0]["ttl"] == 3600

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr
    assert fake.duplicate_updates == 0
    assert_no_secret(env, first, second, third)


def test_cli_wrong_secret_fails_the_record_and_check_online_says_so(agent):
    env, fake, configure = agent
    wan(env, "203.0.113.7", "2001:db8::7")
    configure(WRONG_KEY_SECRET)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr and "SignatureDoesNotMatch" in done.stderr
    assert fake.records == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider ali (alidns): FAILED: Alibaba Cloud DNS refused access_key_id/access_key_secret" \
        in check.stdout
    configure()
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider ali (alidns): OK: AccessKey accepted; domains example.com" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok, secrets=(KEY_SECRET, WRONG_KEY_SECRET))


def test_providers_command_lists_alidns_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("alidns:"):].split("\n\n")[0]
    for option in ("access_key_id", "access_key_secret (or access_key_secret_file)"):
        assert option in block


def test_cli_keeps_the_ttl_a_record_has_when_none_is_configured(agent):
    env, fake, _ = agent
    record_id = fake.add("example.com", "home", "A", "198.51.100.1", ttl=1200)
    wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert (fake.records[record_id]["value"], fake.records[record_id]["ttl"]) == ("203.0.113.7", 1200)

    wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")  # by cached id: UpdateDomainRecord without TTL would make it 600
    assert second.returncode == 0, second.stderr
    assert len(fake.requests) == before + 2  # one per record: the TTL came from the state, not a read
    assert (fake.records[record_id]["value"], fake.records[record_id]["ttl"]) == ("203.0.113.8", 1200)


def test_cli_says_which_other_records_of_the_name_it_left_alone(agent):
    env, fake, _ = agent
    ours = fake.add("example.com", "home", "A", "198.51.100.1")
    other = fake.add("example.com", "home", "A", "198.51.100.2")
    wan(env, "203.0.113.7", "2001:db8::7")
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert fake.value(ours) == "203.0.113.7" and fake.value(other) == "198.51.100.2"
    assert ("home.example.com A: the provider holds 1 more record(s) of this name, left as they are: "
            "%s (198.51.100.2); updated only %s" % (other, ours)) in done.stderr
    status = env.run("status")
    line = next(x for x in status.stdout.splitlines() if x.startswith("home.example.com") and " A " in x)
    assert "also at the provider, not updated: %s (198.51.100.2)" % other in line
    rows = json.loads(env.run("status", "--json").stdout)["records"]
    home = next(r for r in rows if r["record"] == "home")
    assert home["duplicates"] == [{"id": other, "value": "198.51.100.2"}]
    assert next(r for r in rows if r["record"] == "home6")["duplicates"] == []


def test_cli_domain_record_duplicate_from_another_record_is_a_failure(agent):
    env, fake, _ = agent
    ours = fake.add("example.com", "home", "A", "198.51.100.1")
    wan(env, "203.0.113.7", "2001:db8::7")
    assert env.run("update").returncode == 0
    other = fake.add("example.com", "home", "A", "203.0.113.8")  # made in the console meanwhile
    wan(env, "203.0.113.8", "2001:db8::7")
    done = env.run("update")  # UpdateDomainRecord by cached id answers DomainRecordDuplicate
    assert done.returncode == 1, done.stderr
    assert ("home.example.com A: failed: Alibaba Cloud DNS refused UpdateDomainRecord: record %s already "
            "holds 203.0.113.8 (DomainRecordDuplicate) while ours, %s, still holds 203.0.113.7"
            % (other, ours)) in done.stderr
    assert "published 203.0.113.8" not in done.stderr and fake.value(ours) == "203.0.113.7"
    assert env.saved()["home"]["stopped"] is False  # looked at again on the next run


def test_cli_signature_error_is_one_short_line(agent):
    env, fake, configure = agent
    configure(secret=WRONG_KEY_SECRET)
    wan(env, "203.0.113.7", "2001:db8::7")
    done = env.run("update")
    assert done.returncode == 1
    [line] = [x for x in done.stderr.splitlines() if "home.example.com A: failed" in x]
    assert "SignatureDoesNotMatch Specified signature is not matched with our calculation" in line
    assert "string to sign" not in done.stderr and "AccessKeyId%3D" not in done.stderr
    assert len(line) < 300
    error = env.saved()["home"]["error"]
    assert error.startswith("Alibaba Cloud DNS refused") and len(error) < 250
    assert_no_secret(env, done, secrets=(KEY_SECRET, WRONG_KEY_SECRET))


def test_the_fake_refuses_records_and_requests_the_service_refuses(api):
    def code(params: dict, method: str = "POST") -> tuple:
        resp = api.signed_post(params) if method == "POST" else api.http.request(
            method, api.server.url + "/", {"Content-Type": "application/x-www-form-urlencoded"}, b"")
        return resp.status, (resp.json().get("Code") if resp.body.startswith(b"{") else resp.body[:5])

    add = {"Action": "AddDomainRecord", "DomainName": "example.com", "RR": "home", "Type": "A",
           "Value": "203.0.113.7"}
    assert code(dict(add, Value="2001:db8::7")) == (400, "InvalidParameter")
    assert code(dict(add, Type="CNAME")) == (400, "InvalidParameter")
    assert code(dict(add, TTL="86401")) == (400, "InvalidTTL")
    assert code(dict(add, DomainName="example.org")) == (400, "IncorrectDomainUser")
    assert code(dict(add, SignatureMethod="HMAC-SHA256")) == (400, "IncompleteSignature")
    assert code(dict(add, Format="XML")) == (200, b"<?xml")  # the API's default format is XML
    assert code({}, "PUT") == (400, "UnsupportedHTTPMethod")
    assert code({"Action": "DeleteDomain", "DomainName": "example.com"}) == (404, "InvalidAction.NotFound")
    assert api.fake.records == {}
