"""The peers `make bench` compares against (bench/peers.py) send documented requests, and the fakes take them.

tests/fixtures/peers/requests.json holds what ddclient 3.10, inadyn 2.10 and NewFuture ddns 4.2.0 really
sent to the fakes. Replayed here, every run must publish its address; what the real services refuse
(inadyn's User-Agent at DNSPod, a Cloudflare PUT missing fields or with TTL 0) stays refused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fakes import FakeRequest, call_handler
from fakes.cloudflare import PREFIX, CloudflareFake
from fakes.dnspod import DNSPodFake
from fakes.dyndns2 import Dyndns2Fake

DATA = json.loads((Path(__file__).parent / "fixtures" / "peers" / "requests.json").read_text())
CF_TOKEN = "cf-bench-token-Q7dLk2"
ZONE = "9" * 32
DNSPOD_TOKEN = "13490,6b5976c68aba5b14a0558b77c17c3932"
OLD = "192.0.2.1"
#: what the real service refuses, with the reason (the fixture keeps the refused requests)
REFUSED = {("dnspod", "inadyn")}


def setup(provider: str, client: str):
    """(fake, ids for the fixture's placeholders, published() -> the client's address)."""
    fqdn = "%s.example.com" % client
    if provider == "cloudflare":
        fake = CloudflareFake(CF_TOKEN, {"example.com": ZONE})
        rid = fake.add("example.com", fqdn, "A", OLD)["id"]
        return fake, {"{zone}": ZONE, "{%s}" % client: rid}, lambda: fake.records[rid]["content"]
    if provider == "dyndns2":
        fake = Dyndns2Fake({"bench": "noip-bench-pass"}, {fqdn: "bench"})
        return fake, {}, lambda: fake.records[fqdn]["A"]
    fake = DNSPodFake(DNSPOD_TOKEN)
    rid = fake.add("example.com", client, "A", OLD)
    return fake, {"{%s}" % client: rid}, lambda: fake.value(rid)


def replay(fake, ids: dict, req: dict):
    path, body = req["path"], req["body"]
    for k, v in ids.items():
        path, body = path.replace(k, v), body.replace(k, v)
    return call_handler(fake, FakeRequest(req["method"], path, dict(req["headers"]), body.encode()))


CASES = [(p, c) for p, cs in DATA["runs"].items() for c in cs if (p, c) not in REFUSED]


@pytest.mark.parametrize("provider,client", CASES, ids=["%s-%s" % c for c in CASES])
def test_the_fakes_publish_what_each_peer_sends(provider, client):
    fake, ids, published = setup(provider, client)
    for run in DATA["runs"][provider][client]:
        answers = [replay(fake, ids, r) for r in run["requests"]]
        assert published() == run["published_after"], [a.body[:200] for a in answers]
        assert answers[-1].status == 200
    assert not getattr(fake, "errors", [])


def test_dnspod_refuses_inadyns_user_agent_as_its_api_rules_say():
    fake, ids, published = setup("dnspod", "inadyn")
    (run, _) = DATA["runs"]["dnspod"]["inadyn"]
    resp = replay(fake, ids, run["requests"][0])
    assert resp.status == 403 and published() == OLD
    assert run["exit"] != 0  # inadyn itself reported the failure


def test_dnspod_domain_info_checks_login_and_domain():
    fake = DNSPodFake(DNSPOD_TOKEN)
    ua = {"user-agent": "DDNS/4.2.0 (ddns@newfuture.cc)", "content-type": "application/x-www-form-urlencoded"}

    def call(body: str, method: str = "POST") -> dict:
        resp = call_handler(fake, FakeRequest(method, "/Domain.Info", ua, body.encode()))
        return json.loads(resp.body)

    good = "login_token=%s&format=json&domain=example.com" % DNSPOD_TOKEN.replace(",", "%2C")
    answer = call(good)
    assert answer["status"]["code"] == "1" and answer["domain"]["name"] == "example.com"
    assert answer["domain"]["id"] == str(fake.domains["example.com"])
    assert call(good.replace("example.com", "example.org"))["status"]["code"] == "6"
    assert call(good.replace("13490", "13491"))["status"]["code"] == "-1"
    assert call(good, "GET")["status"]["code"] == "2"


def test_cloudflare_put_overwrites_and_refuses_what_cloudflare_refuses():
    fake = CloudflareFake(CF_TOKEN, {"example.com": ZONE})
    rec = fake.add("example.com", "home.example.com", "A", OLD, ttl=300, proxied=True)
    fake.records[rec["id"]]["comment"] = "set in the dashboard"
    other = fake.add("example.com", "home.example.com", "A", "198.51.100.9")
    path = "%s/zones/%s/dns_records/%s" % (PREFIX, ZONE, rec["id"])

    def put(body: dict, where: str = path, token: str = CF_TOKEN) -> tuple:
        headers = {"authorization": "Bearer " + token, "content-type": "application/json"}
        resp = call_handler(fake, FakeRequest("PUT", where, headers, json.dumps(body).encode()))
        return resp.status, [e["code"] for e in json.loads(resp.body)["errors"]]

    good = {"type": "A", "name": "home.example.com", "content": "203.0.113.7"}
    assert put(dict(good, ttl=0)) == (400, [9021])  # inadyn's body without a configured ttl
    assert put({k: v for k, v in good.items() if k != "content"}) == (400, [9005])
    assert put({k: v for k, v in good.items() if k != "type"}) == (400, [1004])
    assert put(dict(good, content=other["content"])) == (400, [81058])
    assert put(good, path.replace(rec["id"], "0" * 32)) == (404, [81044])
    assert put(good, token="wrong-token-0000") == (403, [10000])
    assert fake.records[rec["id"]]["content"] == OLD
    assert put(good) == (200, [])
    now = fake.records[rec["id"]]
    # an overwrite: what the body leaves out is back to its default, unlike PATCH
    assert (now["content"], now["ttl"], now["proxied"], now["comment"]) == ("203.0.113.7", 1, False, None)


def test_the_target_row_compares_with_the_fastest_python_or_perl_peer():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import peers

    def side(ms: float, mb: float, first: int) -> dict:
        s = {"median": ms, "p25": ms, "p75": ms}
        return {"change_ms": s, "change_rss_mb": {"median": mb}, "change_requests": [1],
                "noop_ms": s, "noop_rss_mb": {"median": mb}, "noop_requests": [0],
                "first_run_requests": first}

    def peer(ms: float, mb: float, first: int, agent_ms: float) -> dict:
        r = {"median": agent_ms / ms, "p25": agent_ms / ms, "p75": agent_ms / ms}
        return dict(side(ms, mb, first), ratio={"change": r, "noop": r})

    status = {p: "ok 1" for p in peers.PEERS}
    result = {"provider": "cloudflare", "skipped": {},
              "clients": {"agent": side(60, 20, 3), "ddclient": peer(120, 25, 3, 60),
                          "inadyn": peer(20, 8, 3, 60), "ddns": peer(100, 22, 3, 60)}}
    target = peers.provider_rows(result, status)[-1]
    # inadyn (C) is faster but not the reference; ddns is: 0.60x, 20 <= 22 MB, 3 <= 3 requests
    assert "(ddns)" in target[1] and target[4] is True and "MISSED" not in target[2]
    result["clients"]["agent"]["first_run_requests"] = 4
    target = peers.provider_rows(result, status)[-1]
    assert target[4] is False and "first-run requests 4 vs 3 MISSED" in target[2]
