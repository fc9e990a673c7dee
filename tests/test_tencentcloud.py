"""Tencent Cloud DNSPod API 3.0 against the signature-checking fake over real HTTPS, on both transports."""

from __future__ import annotations

import json
import time

import pytest
from agent_env import REAL, AgentEnv, status_with
from fakes import Fault
from fakes.server import FakeHttp
from fakes.tencentcloud import TencentCloudFake, error

from ddns_agent.errors import (
    AuthError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnconfirmedError,
)
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.signing import tc3_sign
from ddns_agent.providers.tencentcloud import TencentCloud
from ddns_agent.secret import Secret

SECRET_ID = "AKIDq7Hk2mZ9xWcT4bN8vR1sL6pY3fJ0dE5g"
SECRET_KEY = "Vb3xQ9mK2pL7wN4rT8yU1iO6aS5dF0gH"
WRONG_SECRET_KEY = "Vb3xQ9mK2pL7wN4rT8yU1iO6aS5dF0gX"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, key: str = SECRET_KEY, **options) -> TencentCloud:
        opts = {"secret_id": SECRET_ID, "secret_key": Secret(key), "endpoint": self.server.url}
        opts.update(options)
        return TencentCloud(opts, self.http)

    def actions(self) -> list:
        return [r.headers.get("x-tc-action") for r in self.server.requests]

    def signed_post(self, action: str, params: dict) -> dict:
        """POST `params` signed as a bare client would; the answer's Response."""
        body = json.dumps(params).encode()
        signed = {"Content-Type": "application/json", "Host": "127.0.0.1:%d" % self.server.port,
                  "X-TC-Action": action}
        ts = int(time.time())
        headers = dict(signed, **{"X-TC-Version": "2021-03-23", "X-TC-Timestamp": str(ts),
                                  "Authorization": tc3_sign(SECRET_ID, SECRET_KEY, "dnspod", ts, signed,
                                                            body).authorization})
        return self.http.request("POST", self.server.url + "/", headers, body).json()["Response"]

    def params(self, index: int = -1) -> dict:
        return self.server.requests[index].json()


@pytest.fixture
def api(serve, client):
    fake = TencentCloudFake(SECRET_ID, SECRET_KEY, domains=("example.com", "example.net"))
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []
    assert fake.noop_modifications == 0  # the same backend as DNSPod, which locks records for those


def rec(name: str = "home", type: str = "A", ttl: int | None = None, **options) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl, options)


def test_first_run_finds_the_existing_record_with_one_signed_request(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=600)
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl) == (record_id, "203.0.113.5", 600)
    [sent] = api.server.requests
    assert api.params() == {"Domain": "example.com", "Subdomain": "home", "RecordType": "A",
                            "RecordLine": "默认", "Offset": 0, "Limit": 100}
    assert sent.headers["x-tc-version"] == "2021-03-23"
    assert "SignedHeaders=content-type;host;x-tc-action," in sent.headers["authorization"]
    assert sent.headers["host"] == "127.0.0.1:%d" % api.server.port
    assert SECRET_KEY not in json.dumps(sent.headers) and SECRET_KEY.encode() not in sent.body


def test_no_record_is_not_found_not_a_failure(api):
    assert api.provider().find(rec()) is None
    assert api.fake.actions == ["DescribeRecordList"]  # answered ResourceNotFound.NoDataOfRecord


def test_near_miss_names_are_never_matched(api):
    api.fake.subdomain_is_keyword = True
    api.fake.add("example.com", "home2", "A", "198.51.100.2")
    api.fake.add("example.com", "myhome", "A", "198.51.100.3")
    api.fake.add("example.com", "home", "AAAA", "2001:db8::5")
    provider = api.provider()
    assert provider.find(rec()) is None
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5")
    assert provider.find(rec()).id == record_id
    assert provider.find(rec("home2")).value == "198.51.100.2"


def test_records_on_other_lines_are_not_ours_unless_configured(api):
    api.fake.add("example.com", "home", "A", "198.51.100.1", line="电信")
    assert api.provider().find(rec()) is None
    assert api.provider().find(rec(record_line="电信")).value == "198.51.100.1"
    assert api.provider(record_line="电信").find(rec()).value == "198.51.100.1"


def test_find_reads_every_page(api):
    api.fake.subdomain_is_keyword = True
    for i in range(150):
        api.fake.add("example.com", "home%d" % i, "A", "198.51.100.1")
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5")
    assert api.provider().find(rec()).id == record_id
    assert [r.json()["Offset"] for r in api.server.requests] == [0, 100]


def test_missing_record_is_created_on_the_default_line_without_a_ttl(api):
    provider = api.provider()
    assert provider.find(rec()) is None
    made = provider.create(rec(), "203.0.113.7")
    stored = api.fake.records[int(made.id)]
    assert stored == {"domain": "example.com", "name": "home", "type": "A", "line": "默认",
                      "value": "203.0.113.7", "ttl": 600}
    assert api.params() == {"Domain": "example.com", "SubDomain": "home", "RecordType": "A",
                            "RecordLine": "默认", "Value": "203.0.113.7"}


def test_apex_aaaa_with_a_ttl_is_created(api):
    made = api.provider().create(rec("@", "AAAA", ttl=3600), "2001:db8::7")
    stored = api.fake.records[int(made.id)]
    assert (stored["name"], stored["type"], stored["ttl"]) == ("@", "AAAA", 3600)
    assert (made.value, made.ttl) == ("2001:db8::7", 3600)


def test_create_of_an_identical_record_adopts_it(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.7")
    assert api.provider().create(rec(), "203.0.113.7").id == record_id
    assert api.actions() == ["CreateRecord", "DescribeRecordList"]
    assert len(api.fake.records) == 1


@pytest.mark.parametrize("type, old, new", [("A", "203.0.113.5", "203.0.113.9"),
                                            ("AAAA", "2001:db8::5", "2001:db8::9")])
def test_update_with_a_cached_id_is_one_modify_dynamic_dns_request(api, type, old, new):
    record_id = api.fake.add("example.com", "home", type, old, ttl=900)
    result = api.provider().update(rec(type=type), Remote(record_id, old, 900), new)
    assert api.actions() == ["ModifyDynamicDNS"]
    assert api.params() == {"Domain": "example.com", "SubDomain": "home", "RecordId": int(record_id),
                            "RecordLine": "默认", "Value": new, "Ttl": 900}
    assert api.fake.records[int(record_id)] == {"domain": "example.com", "name": "home", "type": type,
                                                "line": "默认", "value": new, "ttl": 900}
    assert (result.id, result.value) == (record_id, new)


def test_update_with_an_unknown_ttl_reads_it_and_sends_it_back(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1200)
    result = api.provider().update(rec(), Remote(record_id, "203.0.113.5"), "203.0.113.9")
    assert api.actions() == ["DescribeRecordList", "ModifyDynamicDNS"]
    assert api.params()["Ttl"] == 1200 and result.ttl == 1200
    assert api.fake.records[int(record_id)]["ttl"] == 1200


def test_update_with_an_unknown_ttl_and_an_unlisted_id_is_not_found(api):
    with pytest.raises(NotFoundError):
        api.provider().update(rec(), Remote("1339999999", "203.0.113.5"), "203.0.113.9")
    assert api.actions() == ["DescribeRecordList"]


def test_the_fake_resets_the_ttl_of_a_modify_dynamic_dns_without_one(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=1200)
    answer = api.signed_post("ModifyDynamicDNS", {"Domain": "example.com", "SubDomain": "home",
                                                  "RecordId": int(record_id), "RecordLine": "默认",
                                                  "Value": "203.0.113.9"})
    assert "Error" not in answer, answer
    assert api.fake.records[int(record_id)]["ttl"] == 600  # the domain default, as the service does


def test_update_sends_a_configured_ttl(api):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5", ttl=900)
    result = api.provider().update(rec(ttl=1200), Remote(record_id, "203.0.113.5", 900), "203.0.113.9")
    assert api.params()["Ttl"] == 1200
    assert api.fake.records[int(record_id)]["ttl"] == 1200 and result.ttl == 1200


def test_update_to_a_value_another_record_holds_is_a_failure_naming_both(api):
    ours = api.fake.add("example.com", "home", "A", "203.0.113.5")
    other = api.fake.add("example.com", "home", "A", "203.0.113.9")
    with pytest.raises(ProviderError, match="record %s already holds 203.0.113.9 "
                       "\\(InvalidParameter.DomainRecordExist\\) while ours, %s, still holds 203.0.113.5"
                       % (other, ours)) as info:
        api.provider().update(rec(), Remote(ours, "203.0.113.5", 600), "203.0.113.9")
    assert info.value.retry == "never" and api.fake.value(ours) == "203.0.113.5"


def test_find_reports_the_other_records_of_the_same_name(api):
    first = api.fake.add("example.com", "home", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home", "A", "198.51.100.1", ttl=1200)
    api.fake.add("example.com", "home", "A", "198.51.100.2", line="电信")  # another line: not ours
    found = api.provider().find(rec())
    assert found.id == first
    assert [(o.id, o.value, o.ttl) for o in found.others] == [(second, "198.51.100.1", 1200)]


def test_update_with_a_stale_id_raises_not_found(api):
    with pytest.raises(NotFoundError, match="InvalidParameter.RecordIdInvalid"):
        api.provider().update(rec(), Remote("1339999999", "203.0.113.5", 600), "203.0.113.9")


def test_update_with_an_id_that_is_no_number_asks_nothing(api):
    with pytest.raises(NotFoundError):
        api.provider().update(rec(), Remote("zone/abc", "203.0.113.5"), "203.0.113.9")
    assert api.server.requests == []


def test_wrong_secret_key_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="AuthFailure.SignatureFailure") as info:
        api.provider(key=WRONG_SECRET_KEY).find(rec())
    assert SECRET_KEY not in str(info.value) and WRONG_SECRET_KEY not in str(info.value)
    assert len(api.server.requests) == 1 and api.fake.actions == []


def test_unknown_secret_id_is_an_auth_error(api):
    with pytest.raises(AuthError, match="AuthFailure.SecretIdNotFound"):
        api.provider(secret_id="AKIDunknown").find(rec())


def test_clock_skew_is_reported_as_such(api):
    provider = api.provider()
    provider.clock = lambda: time.time() - 400
    with pytest.raises(AuthError, match="clock skew.*AuthFailure.SignatureExpire"):
        provider.find(rec())
    provider.clock = lambda: time.time() - 200  # within the 5 minutes the service allows
    assert provider.find(rec()) is None


@pytest.mark.parametrize("code", ["RequestLimitExceeded", "RequestLimitExceeded.RequestLimitExceeded"])
def test_rate_limit_codes_wait(api, code):
    api.server.inject(body=error(code, "请求的次数超过了频率限制。").body)
    with pytest.raises(RateLimitedError, match=code):
        api.provider().find(rec())


def test_server_errors_are_transient(api):
    api.server.inject(status=502, body="<html>bad gateway</html>")
    with pytest.raises(TransientError, match="HTTP 502") as info:
        api.provider().find(rec())
    assert not isinstance(info.value, UnconfirmedError)
    api.server.inject(body=error("InternalError", "内部错误。").body)
    with pytest.raises(TransientError, match="InternalError"):
        api.provider().find(rec())


@pytest.mark.parametrize("fault", [Fault(body=b'{"Response": {"RecordId": 1'),
                                   Fault(body=b'{"RecordId": 1}'),
                                   Fault(body=b'{"Response": {"RequestId": "x"}}'),
                                   Fault(truncate=True)],
                         ids=["truncated JSON", "no Response", "no RecordId", "cut body"])
def test_malformed_answers_are_unconfirmed(api, fault):
    record_id = api.fake.add("example.com", "home", "A", "203.0.113.5")
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError):
        api.provider().update(rec(), Remote(record_id, "203.0.113.5", 600), "203.0.113.9")


def test_refusals_carry_the_servers_code(api):
    with pytest.raises(RejectedError, match="LimitExceeded.RecordTtlLimit"):
        api.provider().create(rec(ttl=60), "203.0.113.7")
    with pytest.raises(RejectedError, match="InvalidParameterValue.DomainNotExists"):
        api.provider().find(RecordSpec("x", "example.org", "home", "A"))
    with pytest.raises(RejectedError, match="InvalidParameter.RecordLineInvalid"):
        api.provider(record_line="nowhere").create(rec(), "203.0.113.7")
    api.fake.locked.add("example.com")
    with pytest.raises(RejectedError, match="FailedOperation.DomainIsLocked"):
        api.provider().create(rec(), "203.0.113.7")
    assert api.fake.records == {}


def test_check_names_the_domains_and_changes_nothing(api):
    assert api.provider().check() == "key accepted; domains example.com, example.net"
    assert api.actions() == ["DescribeDomainList"] and api.fake.writes == 0
    with pytest.raises(AuthError):
        api.provider(key=WRONG_SECRET_KEY).check()


def test_the_fake_checks_what_the_service_checks(api):
    def send(action: str, params: dict, tamper=None, **extra):
        body = json.dumps(params).encode()
        host = "127.0.0.1:%d" % api.server.port
        signed = {"Content-Type": "application/json", "Host": host, "X-TC-Action": action}
        ts = int(time.time())
        headers = dict(signed, **{"X-TC-Version": "2021-03-23", "X-TC-Timestamp": str(ts),
                                  "Authorization": tc3_sign(SECRET_ID, SECRET_KEY, "dnspod", ts, signed,
                                                            body).authorization})
        headers.update(extra)
        resp = api.http.request("POST", api.server.url + "/", headers, tamper or body)
        assert resp.status == 200
        return resp.json()["Response"]["Error"]["Code"]

    listing = {"Domain": "example.com"}
    assert send("DescribeRecordList", listing, tamper=b'{"Domain": "example.net"}') == \
        "AuthFailure.SignatureFailure"
    assert send("DescribeRecordList", listing, **{"X-TC-Action": "CreateRecord"}) == \
        "AuthFailure.SignatureFailure"
    assert send("DescribeRecordList", listing, **{"X-TC-Version": "2018-08-26"}) == "NoSuchVersion"
    assert send("DescribeRecordList", listing, Authorization="Bearer x") == "AuthFailure.InvalidAuthorization"
    assert send("DescribeRecordList", {"Domain": "example.com", "Sub": "home"}) == "UnknownParameter"
    assert send("ModifyDynamicDNS", {"Domain": "example.com", "RecordId": "1", "RecordLine": "默认",
                                     "Value": "203.0.113.7"}) == "InvalidParameter"
    assert send("CreateRecord", {"Domain": "example.com", "RecordType": "A", "Value": "203.0.113.7"}) == \
        "MissingParameter"
    assert send("DeleteDomain", {"Domain": "example.com"}) == "InvalidAction"
    assert api.fake.records == {}


def test_runs_in_process_through_fake_http():
    fake = TencentCloudFake(SECRET_ID, SECRET_KEY)
    http = FakeHttp(fake)
    provider = TencentCloud({"secret_id": SECRET_ID, "secret_key": Secret(SECRET_KEY), "endpoint": http.url},
                            http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.value(made.id) == "203.0.113.8"
    assert fake.actions == ["CreateRecord", "ModifyDynamicDNS"]


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'tc'
	option type 'tencentcloud'
	option secret_id '%(id)s'
	option secret_key_file '%(key_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'tc'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'tc'
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
    fake = TencentCloudFake(SECRET_ID, SECRET_KEY)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    key_file = tmp_path / "secret_key"
    key_file.write_text(SECRET_KEY + "\n")
    key_file.chmod(0o600)
    env.config(CONFIG % {"id": SECRET_ID, "key_file": key_file, "endpoint": server.url,
                         "cacert": server.cafile})
    return env, fake


def assert_no_secret(env: AgentEnv, *runs) -> None:
    state = (env.state / "state.json").read_text() if (env.state / "state.json").exists() else ""
    for text in [state] + [r.stdout + r.stderr for r in runs]:
        assert SECRET_KEY not in text


def test_cli_creates_then_updates_with_one_request_per_record_then_sends_nothing(agent):
    env, fake = agent
    wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert "home.example.com A: published 203.0.113.7" in first.stderr
    assert [(r["value"], r["ttl"]) for r in fake.named("home", "A")] == [("203.0.113.7", 600)]
    assert [(r["value"], r["ttl"]) for r in fake.named("home", "AAAA")] == [("2001:db8::7", 3600)]

    wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert fake.actions[-2:] == ["ModifyDynamicDNS", "ModifyDynamicDNS"] and len(fake.requests) == before + 2
    assert [r["value"] for r in fake.named("home", "A") + fake.named("home", "AAAA")] == \
        ["203.0.113.8", "2001:db8::8"]

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr
    assert_no_secret(env, first, second, third)


def test_cli_wrong_key_fails_the_record_and_check_online_says_so(agent, tmp_path):
    env, fake = agent
    wan(env, "203.0.113.7", "2001:db8::7")
    (tmp_path / "secret_key").write_text(WRONG_SECRET_KEY)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr and "AuthFailure.SignatureFailure" in done.stderr
    assert fake.records == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider tc (tencentcloud): FAILED: Tencent Cloud refused secret_id/secret_key" in check.stdout
    (tmp_path / "secret_key").write_text(SECRET_KEY)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider tc (tencentcloud): OK: key accepted; domains example.com" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)
    for text in (done.stdout, done.stderr, check.stdout, check.stderr):
        assert WRONG_SECRET_KEY not in text


def test_providers_command_lists_tencentcloud_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("tencentcloud:"):].split("\n\n")[0]
    for option in ("secret_id", "secret_key (or secret_key_file)", "record_line"):
        assert option in block


def test_cli_keeps_the_ttl_a_record_has_when_none_is_configured(agent):
    env, fake = agent
    record_id = fake.add("example.com", "home", "A", "198.51.100.1", ttl=1200)
    wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert fake.records[int(record_id)]["value"] == "203.0.113.7"
    assert fake.records[int(record_id)]["ttl"] == 1200  # ModifyDynamicDNS without Ttl would make it 600

    wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert len(fake.requests) == before + 2  # one per record: the TTL came from the state, not a read
    stored = fake.records[int(record_id)]
    assert (stored["value"], stored["ttl"]) == ("203.0.113.8", 1200)


def test_the_fake_refuses_records_the_service_refuses(api):
    def code(action: str, **params) -> str | None:
        return api.signed_post(action, params).get("Error", {}).get("Code")

    create = {"Domain": "example.com", "SubDomain": "home", "RecordType": "A", "RecordLine": "默认",
              "Value": "203.0.113.7"}
    assert code("CreateRecord", **dict(create, SubDomain="ho me")) == "InvalidParameter.SubdomainInvalid"
    assert code("CreateRecord", **dict(create, RecordType="CNAME")) == "InvalidParameter.RecordTypeInvalid"
    assert code("CreateRecord", **dict(create, Value="2001:db8::7")) == "InvalidParameter.RecordValueInvalid"
    assert code("CreateRecord", **dict(create, TTL=599)) == "LimitExceeded.RecordTtlLimit"
    assert code("CreateRecord", **dict(create, TTL=604801)) == "LimitExceeded.RecordTtlLimit"
    assert code("CreateRecord", **dict(create, TTL="600")) == "InvalidParameter"  # a number, not a string
    assert code("CreateRecord", **dict(create, Domain="example.org")) == \
        "InvalidParameterValue.DomainNotExists"
    assert code("DescribeRecordList", Domain="example.com", Limit=3001) == \
        "InvalidParameterValue.LimitInvalid"
    assert code("ModifyDynamicDNS", **{"Domain": "example.com", "RecordId": 1, "RecordLine": "默认",
                                       "Value": "203.0.113.7", "TTL": 600}) == "UnknownParameter"  # it is Ttl
    assert api.fake.records == {}
