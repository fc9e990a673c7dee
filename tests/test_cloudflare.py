"""Cloudflare provider against the fake API over real HTTPS, on both transports."""

from __future__ import annotations

import json

import pytest
from fakes import Fault, json_response
from fakes.cloudflare import PREFIX, CloudflareFake
from fakes.server import FakeHttp

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
from ddns_agent.providers.cloudflare import Cloudflare
from ddns_agent.secret import Secret

TOKEN = "cf-test-token-Zx81qLmN0pQrStUv"
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, **options) -> Cloudflare:
        opts = {"api_token": Secret(TOKEN), "endpoint": self.server.url + PREFIX}
        opts.update(options)
        return Cloudflare(opts, self.http)

    def routes(self) -> list:
        return ["%s %s" % (r.method, r.route[len(PREFIX):]) for r in self.server.requests]


@pytest.fixture
def api(serve, client):
    fake = CloudflareFake(TOKEN, {"example.com": ZONE, "example.net": "f" * 32})
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None, **options) -> RecordSpec:
    return RecordSpec("home_v4", "example.com", name, type, ttl, options)


def test_first_run_finds_the_existing_record(api):
    made = api.fake.add("example.com", "home.example.com", "A", "203.0.113.5", ttl=300)
    found = api.provider().find(rec())
    assert (found.id, found.value, found.ttl) == ("%s/%s" % (ZONE, made["id"]), "203.0.113.5", 300)
    assert api.routes() == ["GET /zones", "GET /zones/%s/dns_records" % ZONE]
    listing = api.server.requests[1]
    assert listing.query["name.exact"] == "home.example.com" and listing.query["type"] == "A"
    assert listing.headers["authorization"] == "Bearer " + TOKEN


def test_zone_is_looked_up_once_per_instance(api):
    provider = api.provider()
    provider.find(rec())
    provider.find(rec("nas"))
    assert api.routes().count("GET /zones") == 1


def test_configured_zone_id_skips_the_lookup(api):
    api.fake.add("example.com", "home.example.com", "A", "203.0.113.5")
    assert api.provider(zone_id=ZONE).find(rec()).value == "203.0.113.5"
    assert len(api.server.requests) == 1


def test_missing_record_is_created_with_auto_ttl_and_proxy_off(api):
    provider = api.provider()
    assert provider.find(rec()) is None
    made = provider.create(rec(), "203.0.113.7")
    [stored] = api.fake.find("home.example.com")
    assert (stored["content"], stored["ttl"], stored["proxied"]) == ("203.0.113.7", 1, False)
    assert made.id == "%s/%s" % (ZONE, stored["id"])


def test_create_sends_configured_ttl_proxied_and_aaaa(api):
    api.provider().create(rec(type="AAAA", ttl=300, proxied="1"), "2001:db8::7")
    [stored] = api.fake.find("home.example.com", "AAAA")
    assert (stored["content"], stored["ttl"], stored["proxied"]) == ("2001:db8::7", 300, True)


def test_apex_record_uses_the_zone_name(api):
    api.provider().create(rec("@"), "203.0.113.7")
    assert api.fake.find("example.com")[0]["content"] == "203.0.113.7"


def test_update_with_a_cached_id_is_one_request_and_keeps_dashboard_settings(api):
    made = api.fake.add("example.com", "home.example.com", "A", "203.0.113.5", ttl=300, proxied=True)
    cached = Remote("%s/%s" % (ZONE, made["id"]), "203.0.113.5", 300)
    result = api.provider().update(rec(), cached, "203.0.113.9")  # fresh instance, no zone_id
    assert api.routes() == ["PATCH /zones/%s/dns_records/%s" % (ZONE, made["id"])]
    assert api.server.requests[0].json() == {"content": "203.0.113.9"}
    stored = api.fake.records[made["id"]]
    assert (stored["content"], stored["ttl"], stored["proxied"]) == ("203.0.113.9", 300, True)
    assert (result.id, result.value) == (cached.id, "203.0.113.9")


def test_update_sends_ttl_and_proxied_only_when_configured(api):
    made = api.fake.add("example.com", "home.example.com", "A", "203.0.113.5", ttl=300, proxied=True)
    cached = Remote("%s/%s" % (ZONE, made["id"]), "203.0.113.5", 300)
    api.provider().update(rec(ttl=120, proxied="0"), cached, "203.0.113.9")
    assert api.server.requests[0].json() == {"content": "203.0.113.9", "ttl": 120, "proxied": False}
    assert api.fake.records[made["id"]]["proxied"] is False


def test_update_with_a_stale_id_raises_not_found(api):
    with pytest.raises(NotFoundError, match="81044"):
        api.provider().update(rec(), Remote("%s/%s" % (ZONE, "0" * 32), "203.0.113.5"), "203.0.113.9")


def test_update_of_an_id_from_another_zone_raises_not_found(api):
    stale = Remote("%s/%s" % ("e" * 32, "0" * 32), "203.0.113.5")
    with pytest.raises(NotFoundError):
        api.provider().update(rec(), stale, "203.0.113.9")
    with pytest.raises(NotFoundError):
        api.provider(zone_id=ZONE).update(rec(), stale, "203.0.113.9")


def test_update_to_content_another_record_has_is_a_failure_naming_both(api):
    other = api.fake.add("example.com", "home.example.com", "A", "203.0.113.9")
    made = api.fake.add("example.com", "home.example.com", "A", "203.0.113.5")
    cached = Remote("%s/%s" % (ZONE, made["id"]), "203.0.113.5")
    with pytest.raises(ProviderError) as info:
        api.provider().update(rec(), cached, "203.0.113.9")
    assert info.value.retry == "never"  # not a stop: the next run looks again once the user cleaned up
    message = str(info.value)
    assert other["id"] in message and made["id"] in message and "still holds 203.0.113.5" in message
    assert api.fake.records[made["id"]]["content"] == "203.0.113.5" and api.fake.writes == 0


def test_find_reports_the_other_records_of_the_same_name(api):
    first = api.fake.add("example.com", "home.example.com", "A", "203.0.113.5")
    second = api.fake.add("example.com", "home.example.com", "A", "198.51.100.1", ttl=300)
    found = api.provider().find(rec())
    assert found.id.endswith(first["id"])
    others = [(o.id.rpartition("/")[2], o.value, o.ttl) for o in found.others]
    assert others == [(second["id"], "198.51.100.1", 300)]


def test_create_of_a_record_that_already_exists_adopts_it(api):
    made = api.fake.add("example.com", "home.example.com", "A", "203.0.113.7")
    result = api.provider().create(rec(), "203.0.113.7")
    assert result.id.endswith(made["id"])
    assert len(api.fake.records) == 1


def test_find_matches_the_name_itself_across_pages(api):
    api.fake.ignore_name_filter = True
    api.fake.max_per_page = 2
    for label in ("a", "b", "c", "homer", "x"):
        api.fake.add("example.com", label + ".example.com", "A", "198.51.100.1")
    made = api.fake.add("example.com", "home.example.com", "A", "203.0.113.5")
    provider = api.provider(zone_id=ZONE)
    assert provider.find(rec()).id.endswith(made["id"])
    assert [r.query["page"] for r in api.server.requests] == ["1", "2", "3"]
    assert provider.find(rec("nas")) is None


def test_wrong_token_is_an_auth_error_that_never_shows_the_token(api):
    provider = Cloudflare({"api_token": Secret("wrong-" + TOKEN), "endpoint": api.server.url + PREFIX},
                          api.http)
    with pytest.raises(AuthError, match="10000 Authentication error") as info:
        provider.find(rec())
    assert TOKEN not in str(info.value)
    assert len(api.server.requests) == 1


def test_wrong_zone_id_is_rejected(api):
    with pytest.raises(RejectedError, match="7003"):
        api.provider(zone_id="e" * 32).find(rec())


def test_unknown_zone_name_is_rejected(api):
    spec = RecordSpec("x", "example.org", "home", "A")
    with pytest.raises(RejectedError, match="zone example.org not found"):
        api.provider().find(spec)


def test_ttl_outside_cloudflare_range_is_rejected(api):
    with pytest.raises(RejectedError, match="9021"):
        api.provider().create(rec(ttl=30), "203.0.113.7")
    assert api.fake.records == {}


def test_rate_limit_carries_retry_after(api):
    api.server.inject(status=429, headers={"Retry-After": "30"},
                      body=json_response({"success": False, "errors": [{"code": 971, "message":
                                          "Please wait and consider throttling your request speed"}],
                                          "messages": [], "result": None}).body)
    with pytest.raises(RateLimitedError) as info:
        api.provider().find(rec())
    assert info.value.retry_after == 30.0


def test_server_error_is_transient(api):
    api.server.inject(status=500, body="<html>oops</html>")
    with pytest.raises(TransientError, match="HTTP 500") as info:
        api.provider().find(rec())
    assert not isinstance(info.value, UnconfirmedError)


@pytest.mark.parametrize("fault", [Fault(body=b'{"success": true, "result": [{"id"'),
                                   Fault(body=b'{"result": []}'),
                                   Fault(body=b'{"success": true, "result": {"id": 5}}')],
                         ids=["truncated JSON", "no envelope", "no record"])
def test_malformed_answers_are_unconfirmed(api, fault):
    made = api.fake.add("example.com", "home.example.com", "A", "203.0.113.5")
    api.server.inject(fault)
    with pytest.raises(UnconfirmedError, match="malformed"):
        api.provider(zone_id=ZONE).update(rec(), Remote("%s/%s" % (ZONE, made["id"]), None), "203.0.113.9")


def test_timeout_after_sending_an_update_is_unconfirmed_though_it_landed(serve, transport):
    from ddns_agent.http import Timeouts, make_http
    fake = CloudflareFake(TOKEN, {"example.com": ZONE})
    server = serve(fake)
    made = fake.add("example.com", "home.example.com", "A", "203.0.113.5")
    server.inject(delay=2.0)
    with make_http(Timeouts(2, 0.3), cacert=server.cafile) as http:
        provider = Cloudflare({"api_token": Secret(TOKEN), "endpoint": server.url + PREFIX}, http)
        with pytest.raises(UnconfirmedError, match="no answer from"):
            provider.update(rec(), Remote("%s/%s" % (ZONE, made["id"]), None), "203.0.113.9")
    assert fake.records[made["id"]]["content"] == "203.0.113.9"


def test_check_reads_the_zone_and_changes_nothing(api):
    assert api.provider(zone_id=ZONE).check() == "zone example.com reachable (id %s)" % ZONE
    assert "zone example.net reachable" in api.provider().check()
    assert api.fake.writes == 0 and all(r.method == "GET" for r in api.server.requests)


def test_bad_proxied_option_names_the_record_and_option(api):
    with pytest.raises(ConfigError, match="home_v4.proxied: expected 0 or 1, got 'maybe'"):
        api.provider().create(rec(proxied="maybe"), "203.0.113.7")


def test_runs_in_process_through_fake_http():
    fake = CloudflareFake(TOKEN, {"example.com": ZONE})
    http = FakeHttp(fake)
    provider = Cloudflare({"api_token": Secret(TOKEN), "endpoint": http.url + PREFIX}, http)
    made = provider.create(rec(), "203.0.113.7")
    provider.update(rec(), made, "203.0.113.8")
    assert fake.find("home.example.com")[0]["content"] == "203.0.113.8"
    assert [r.method for r in http.requests] == ["GET", "POST", "PATCH"]


def test_the_fake_refuses_what_cloudflare_refuses(api):
    def call(method: str, path: str, body=None, auth: str | None = "Bearer " + TOKEN,
             content_type: str = "application/json"):
        headers = {"Content-Type": content_type}
        if auth is not None:
            headers["Authorization"] = auth
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        resp = api.http.request(method, api.server.url + PREFIX + path, headers, data)
        env = resp.json()
        return resp.status, [e["code"] for e in env["errors"]]

    records = "/zones/%s/dns_records" % ZONE
    good = {"type": "A", "name": "home.example.com", "content": "203.0.113.7", "ttl": 1, "proxied": False}
    assert call("GET", records, auth=None) == (400, [9106])
    assert call("GET", records, auth="Bearer wrong-token-0000") == (403, [10000])
    assert call("GET", "/zones/%s/dns_records" % ("0" * 32)) == (400, [7003, 7000])
    assert call("POST", records, dict(good, content="2001:db8::7")) == (400, [9005])
    assert call("POST", records, dict(good, ttl=30)) == (400, [9021])
    assert call("POST", records, dict(good, proxied="no")) == (400, [9003])
    assert call("POST", records, dict(good, name="home.example.org")) == (400, [1004])
    assert call("POST", records, dict(good, type="TXT")) == (400, [1004])
    form = "application/x-www-form-urlencoded"
    assert call("POST", records, b"content=203.0.113.7", content_type=form) == (400, [9207])
    assert api.fake.records == {}
    assert call("POST", records, good) == (200, [])
    assert call("POST", records, good) == (400, [81057])
    assert call("PATCH", records + "/" + "0" * 32, {"content": "203.0.113.8"}) == (404, [81044])
    assert len(api.fake.records) == 1



# -- record sets (docs/record-sets.md) ----------------------------------------------------------------

def member(name: str = "home") -> RecordSpec:
    return RecordSpec("home", "example.com", name, "A", None, {}, in_set=True)


def test_find_all_lists_every_record_of_the_name_and_delete_removes_one_by_id(api):
    a = api.fake.add("example.com", "home.example.com", "A", "203.0.113.5")
    b = api.fake.add("example.com", "home.example.com", "A", "198.51.100.7")
    api.fake.add("example.com", "other.example.com", "A", "192.0.2.1")
    provider = api.provider()
    found = provider.find_all(member())
    assert [(r.id, r.value) for r in found] == [("%s/%s" % (ZONE, a["id"]), "203.0.113.5"),
                                                ("%s/%s" % (ZONE, b["id"]), "198.51.100.7")]
    provider.delete(member(), found[1])
    assert api.routes()[-1] == "DELETE /zones/%s/dns_records/%s" % (ZONE, b["id"])
    assert [r["content"] for r in api.fake.find("home.example.com")] == ["203.0.113.5"]


def test_delete_of_a_record_already_gone_is_not_found_as_the_real_api_answers(api):
    with pytest.raises(NotFoundError, match="81044"):
        api.provider().delete(member(), Remote("%s/%s" % (ZONE, "0" * 32), "203.0.113.5"))


def test_a_member_held_by_a_record_not_ours_is_never_adopted(api):
    theirs = api.fake.add("example.com", "home.example.com", "A", "203.0.113.5")
    made = api.provider().create(member(), "203.0.113.5")  # the fake answers 81057, as Cloudflare does
    assert made.id is None and made.value == "203.0.113.5"
    assert list(api.fake.records) == [theirs["id"]]
