"""Amazon Route 53 against the SigV4-checking fake over real HTTPS, on both transports, and the CLI."""

from __future__ import annotations

import hashlib
import time

import agent_env
import pytest
from agent_env import AgentEnv, set_wan
from fakes import Fault
from fakes.route53 import Route53Fake
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
from ddns_agent.providers.route53 import Route53
from ddns_agent.providers.signing import v4_sign
from ddns_agent.secret import Secret

AK = "AKIAIOSFODNN7DDNSAGT"
SK = "k9Rz2Lw7Qp4Xv8Nb1Mc6Jd3Hf5Gs0Ta9Ye2Uo7Ii"
WRONG_SK = "k9Rz2Lw7Qp4Xv8Nb1Mc6Jd3Hf5Gs0Ta9Ye2Uo7IX"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, sk: str = SK, **options) -> Route53:
        opts = {"access_key_id": AK, "secret_access_key": Secret(sk), "endpoint": self.server.url}
        opts.update(options)
        return Route53(opts, self.http)

    def calls(self) -> list:
        return ["%s %s" % (r.method, r.route) for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = Route53Fake(AK, SK, zones=("example.com", "example.net"))
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home", "example.com", name, type, ttl)


def zone(api) -> str:
    return next(k for k, v in api.fake.zones.items() if v == "example.com.")


def test_find_reads_the_set_named_exactly(api):
    api.fake.add("home.example.com", "A", "203.0.113.5", ttl=900)
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl) == ("%s/900" % zone(api), "203.0.113.5", 900)
    assert api.calls() == ["GET /2013-04-01/hostedzonesbyname",
                           "GET /2013-04-01/hostedzone/%s/rrset" % zone(api)]
    assert api.server.requests[1].query == {"maxitems": "1", "name": "home.example.com.", "type": "A"}
    assert "/us-east-1/route53/aws4_request, SignedHeaders=host;x-amz-date," in \
        api.server.requests[1].headers["authorization"]


def test_a_listing_that_starts_at_another_name_is_not_found(api):
    api.fake.add("homes.example.com", "A", "198.51.100.3")  # the listing starts at the next name
    api.fake.add("home.example.com", "AAAA", "2001:db8::5")
    assert api.provider().find(rec()) is None


def test_create_is_one_upsert_with_ttl_300_unless_set(api):
    made = api.provider().create(rec(), "203.0.113.7")
    sent = api.server.requests[-1]
    assert sent.method == "POST" and sent.route == "/2013-04-01/hostedzone/%s/rrset/" % zone(api)
    body = sent.body.decode()
    assert "<Action>UPSERT</Action><ResourceRecordSet><Name>home.example.com.</Name><Type>A</Type>" \
           "<TTL>300</TTL><ResourceRecords><ResourceRecord><Value>203.0.113.7</Value>" in body
    assert api.fake.held("home.example.com", "A") == {"ttl": 300, "values": ["203.0.113.7"]}
    assert (made.id, made.ttl) == ("%s/300" % zone(api), 300)
    api.provider().create(rec("@", "AAAA", ttl=3600), "2001:db8::7")
    assert api.fake.held("example.com", "AAAA") == {"ttl": 3600, "values": ["2001:db8::7"]}


@pytest.mark.parametrize("type, old, new", [("A", "203.0.113.5", "203.0.113.9"),
                                            ("AAAA", "2001:db8::5", "2001:db8::9")])
def test_update_from_a_cached_id_is_one_upsert_keeping_the_sets_ttl(api, type, old, new):
    api.fake.add("home.example.com", type, old, ttl=900)
    found = api.provider().find(rec(type=type))
    before = len(api.server.requests)
    result = api.provider().update(rec(type=type), Remote(found.id, old), new)
    assert len(api.server.requests) == before + 1 and api.server.requests[-1].method == "POST"
    assert api.fake.held("home.example.com", type) == {"ttl": 900, "values": [new]}
    assert (result.id, result.value, result.ttl) == (found.id, new, 900)


def test_update_uses_the_configured_ttl_and_a_cached_id_without_zone_is_not_found(api):
    api.fake.add("home.example.com", "A", "203.0.113.5", ttl=900)
    result = api.provider().update(rec(ttl=60), Remote("%s/900" % zone(api), "x"), "203.0.113.9")
    assert api.fake.held("home.example.com", "A")["ttl"] == 60 and result.id.endswith("/60")
    with pytest.raises(NotFoundError):
        api.provider().update(rec(), Remote("garbage", "x"), "203.0.113.9")
    with pytest.raises(NotFoundError, match="NoSuchHostedZone"):
        api.provider().update(rec(), Remote("ZGONE/300", "x"), "203.0.113.9")


def test_hosted_zone_id_option_skips_the_lookup(api):
    api.provider(hosted_zone_id="/hostedzone/" + zone(api)).create(rec(), "203.0.113.7")
    assert api.calls() == ["POST /2013-04-01/hostedzone/%s/rrset/" % zone(api)]


def test_wrong_secret_key_is_an_auth_error_after_one_request(api):
    with pytest.raises(AuthError, match="access_key_id/secret_access_key: SignatureDoesNotMatch") as info:
        api.provider(sk=WRONG_SK).find(rec())
    assert SK not in str(info.value) and WRONG_SK not in str(info.value)
    assert len(api.server.requests) == 1 and api.fake.changes == []
    with pytest.raises(AuthError, match="InvalidClientTokenId"):
        api.provider(access_key_id="AKIAUNKNOWN").find(rec())


def test_clock_skew_is_reported_as_such(api):
    provider = api.provider()
    provider.clock = lambda: time.time() - 400
    with pytest.raises(AuthError, match="check the router's clock.*Signature expired"):
        provider.find(rec())
    provider.clock = lambda: time.time() - 200
    assert provider.find(rec()) is None


def test_invalid_change_batch_reasons_are_reported(api):
    with pytest.raises(RejectedError, match="InvalidChangeBatch Invalid Resource Record: FATAL problem: TTL"):
        api.provider().create(rec(ttl=3000000000), "203.0.113.7")
    with pytest.raises(RejectedError, match="public hosted zone example.org not found"):
        api.provider().find(RecordSpec("x", "example.org", "home", "A"))
    assert api.fake.sets == {}


def test_server_errors_are_transient_and_malformed_answers_unconfirmed(api):
    api.server.inject(status=503, body="<html>unavailable</html>")
    with pytest.raises(TransientError):
        api.provider().find(rec())
    api.server.inject(status=400, body='<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded'
                      '</Message></Error></ErrorResponse>')
    with pytest.raises(RateLimitedError, match="Rate exceeded"):
        api.provider().find(rec())
    for fault in (Fault(status=200, body=b"<ChangeResourceRecordSetsResponse>"), Fault(truncate=True)):
        api.server.inject(fault)
        with pytest.raises(UnconfirmedError):
            api.provider().update(rec(), Remote("%s/300" % zone(api), "x"), "203.0.113.9")


def test_check_lists_the_hosted_zones_and_changes_nothing(api):
    assert api.provider().check() == "key accepted; hosted zones example.com, example.net"
    assert api.provider(hosted_zone_id=zone(api)).check() == \
        "hosted zone example.com reachable (id %s)" % zone(api)
    assert api.fake.changes == []
    with pytest.raises(AuthError):
        api.provider(sk=WRONG_SK).check()


def test_the_fake_checks_what_route53_checks(api):
    host = "127.0.0.1:%d" % api.server.port

    def send(method: str, path: str, body: bytes = b"", tamper: bytes = b"", drop: str = "",
             **extra) -> tuple:
        signed = {"Host": host, "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())}
        sig = v4_sign("AWS4-HMAC-SHA256", "AWS4", "aws4_request", AK, SK, "us-east-1", "route53", method,
                      path, "", signed, hashlib.sha256(body).hexdigest())
        headers = dict(signed, Authorization=sig.authorization)
        headers.update(extra)
        headers.pop(drop, None)
        resp = api.http.request(method, api.server.url + path, headers, (tamper or body) if method == "POST"
                                else None)
        codes = [c for c in ("MissingAuthenticationToken", "IncompleteSignature", "SignatureDoesNotMatch",
                             "NoSuchHostedZone", "InvalidInput", "InvalidChangeBatch") if c in resp.text]
        return resp.status, codes[0] if codes else None

    assert send("GET", "/2013-04-01/hostedzone") == (200, None)
    assert send("GET", "/2013-04-01/hostedzone", drop="Authorization") == (403, "MissingAuthenticationToken")
    assert send("GET", "/2013-04-01/hostedzone", Authorization="AWS4-HMAC-SHA256 x") == \
        (403, "IncompleteSignature")
    assert send("GET", "/2013-04-01/hostedzone", **{"X-Amz-Date": "20150830T123600Z"}) == \
        (403, "SignatureDoesNotMatch")
    rrset = "/2013-04-01/hostedzone/%s/rrset/" % zone(api)
    batch = (b'<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch>'
             b"<Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>home.example.com.</Name><Type>A"
             b"</Type><ResourceRecords><ResourceRecord><Value>203.0.113.7</Value></ResourceRecord>"
             b"</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>"
             b"</ChangeResourceRecordSetsRequest>")
    assert send("POST", rrset, batch, tamper=batch.replace(b"203.0.113.7", b"198.51.100.1")) == \
        (403, "SignatureDoesNotMatch")
    assert send("POST", rrset, batch) == (400, "InvalidChangeBatch")  # no TTL
    assert send("POST", rrset, b"<nonsense/>") == (400, "InvalidInput")
    assert send("GET", "/2013-04-01/hostedzone/ZNOPE/rrset") == (404, "NoSuchHostedZone")
    assert api.fake.changes == []


def test_runs_in_process_through_fake_http():
    fake = Route53Fake(AK, SK)
    http = FakeHttp(fake)
    provider = Route53({"access_key_id": AK, "secret_access_key": Secret(SK), "endpoint": http.url}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.held("home.example.com", "A") == {"ttl": 300, "values": ["203.0.113.8"]}


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'aws'
	option type 'route53'
	option access_key_id '%(ak)s'
	option secret_access_key_file '%(key_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'aws'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'aws'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option ttl '3600'
	option interface 'wan'
"""


@pytest.fixture
def agent(tmp_path, serve, transport):
    fake = Route53Fake(AK, SK)
    server = serve(fake)
    env = AgentEnv(tmp_path)  # after `transport`: the agent inherits DDNS_AGENT_HTTP
    key_file = tmp_path / "sk"
    key_file.write_text(SK + "\n")
    key_file.chmod(0o600)
    env.config(CONFIG % {"ak": AK, "key_file": key_file, "endpoint": server.url, "cacert": server.cafile})
    return env, fake


def assert_no_secret(env: AgentEnv, *runs) -> None:
    agent_env.assert_no_secret(env, runs, SK, WRONG_SK)


def test_cli_creates_then_upserts_once_per_changed_record_then_sends_nothing(agent):
    env, fake = agent
    fake.add("home.example.com", "A", "198.51.100.1", ttl=120)  # an existing set keeps its TTL
    set_wan(env, "203.0.113.7", "2001:db8::7")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert "home.example.com A: published 203.0.113.7" in first.stderr
    assert fake.held("home.example.com", "A") == {"ttl": 120, "values": ["203.0.113.7"]}
    assert fake.held("home.example.com", "AAAA") == {"ttl": 3600, "values": ["2001:db8::7"]}

    set_wan(env, "203.0.113.8", "2001:db8::8")
    before = len(fake.requests)
    second = env.run("update")
    assert second.returncode == 0, second.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in second.stderr
    assert [r.method for r in fake.requests[before:]] == ["POST", "POST"]
    assert [c[0] for c in fake.changes[-2:]] == ["UPSERT", "UPSERT"]
    assert fake.held("home.example.com", "A") == {"ttl": 120, "values": ["203.0.113.8"]}

    before = len(fake.requests)
    third = env.run("update")
    assert third.returncode == 0, third.stderr
    assert len(fake.requests) == before and "published" not in third.stderr
    assert_no_secret(env, first, second, third)


def test_cli_wrong_key_fails_the_record_and_check_online_says_so(agent, tmp_path):
    env, fake = agent
    set_wan(env, "203.0.113.7", "2001:db8::7")
    (tmp_path / "sk").write_text(WRONG_SK)
    done = env.run("update")
    assert done.returncode == 1
    assert "home.example.com A: failed" in done.stderr and "SignatureDoesNotMatch" in done.stderr
    assert fake.sets == {}
    check = env.run("check", "--online")
    assert check.returncode != 0
    assert "provider aws (route53): FAILED: Route 53 refused access_key_id/secret_access_key" in check.stdout
    (tmp_path / "sk").write_text(SK)
    check_ok = env.run("check", "--online")
    assert check_ok.returncode == 0, check_ok.stdout + check_ok.stderr
    assert "provider aws (route53): OK: key accepted; hosted zones example.com" in check_ok.stdout
    assert_no_secret(env, done, check, check_ok)


def test_providers_command_lists_route53_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    block = out[out.index("route53:"):].split("\n\n")[0]
    for option in ("access_key_id", "secret_access_key (or secret_access_key_file)", "hosted_zone_id"):
        assert option in block
