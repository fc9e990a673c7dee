"""Composition and diagnosis of the upstream sources, the WAN link they may talk to, and a real
double-NAT lab where UPnP and STUN disagree."""

from __future__ import annotations

import ipaddress
import json
import os

import pytest
from nat_lab import Lab, build, require, start_miniupnpd, start_stun

from ddns_agent import upstream
from ddns_agent.addresses import ERROR, OK, REFUSED, Candidate, Selection, select
from ddns_agent.errors import SourceError

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "netifd")


def status(path: str) -> dict:
    with open(os.path.join(FIXTURES, path)) as f:
        data = json.load(f)
    return data["result"][1] if "result" in data else data


def test_wan_link_from_a_real_dhcp_wan():
    link = upstream.link_from_status(status("openwrt-22.03-real/dhcp-public/status_wan_up.json"), "wan")
    assert (link.device, str(link.address), str(link.network), str(link.gateway)) == \
        ("eth1", "203.0.113.54", "203.0.113.0/24", "203.0.113.1")
    assert link.allows("203.0.113.1") and link.allows("203.0.113.200")
    assert not link.allows("203.0.113.255") and not link.allows("198.51.100.1")


def test_wan_link_from_a_real_pppoe_wan_allows_only_the_peer():
    link = upstream.link_from_status(status("status_wan_pppoe_jsonrpc_kodemaniak.json"), "wan")
    assert (link.device, str(link.network), str(link.gateway)) == \
        ("pppoe-wan", "192.168.1.100/32", "10.0.0.1")
    assert link.allows("10.0.0.1")
    assert not link.allows("10.0.0.2") and not link.allows("192.168.1.100")


def test_wan_link_of_a_down_interface_is_a_source_error():
    with pytest.raises(SourceError, match="netifd wan is down"):
        upstream.link_from_status(status("openwrt-22.03-real/dhcp-public/status_wan_initial.json"), "wan")


def test_default_routes_are_read_from_the_kernel_table(tmp_path):
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "wan\t00000000\t0101A8C0\t0003\t0\t0\t10\t00000000\t0\t0\t0\n"
        "wwan\t00000000\t01020A0A\t0003\t0\t0\t5\t00000000\t0\t0\t0\n"
        "lan\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "down\t00000000\t01010101\t0002\t0\t0\t0\t00000000\t0\t0\t0\n")
    assert upstream.default_routes(str(table)) == [
        (5, "wwan", ipaddress.IPv4Address("10.10.2.1")), (10, "wan", ipaddress.IPv4Address("192.168.1.1"))]


def test_cached_answers_and_errors_once_per_key():
    calls = []

    def fetch():
        calls.append(1)
        raise SourceError("gateway silent")

    for _ in range(2):
        with pytest.raises(SourceError, match="gateway silent"):
            upstream.cached(("test", "x"), fetch)
    assert len(calls) == 1
    upstream.forget()
    with pytest.raises(SourceError):
        upstream.cached(("test", "x"), fetch)
    assert len(calls) == 2
    upstream.forget()


def sel(addresses, origin: str, family: int = 4) -> Selection:
    return select([Candidate(ipaddress.ip_address(a), origin) for a in addresses], family, False, origin)


def error(origin: str, reason: str) -> Selection:
    return Selection(None, ERROR, reason, origin)


def test_private_wan_with_upnp_answer_publishes_it_and_says_why():
    tried = [("netifd", sel(["192.168.1.2"], "netifd wan")),
             ("upnp", sel(["203.0.113.7"], "upnp 192.168.1.1"))]
    chosen = upstream.compose(tried, 4)
    assert (chosen.status, chosen.address, chosen.origin) == (OK, "203.0.113.7", "upnp 192.168.1.1")
    assert chosen.reason == ("WAN has a private address (192.168.1.2); upstream gateway reports 203.0.113.7 "
                             "via UPnP")


def test_cgnat_wan_is_explained_and_a_stun_address_is_not_published():
    tried = [("netifd", sel(["100.64.3.2"], "netifd wan")), ("upnp", error("upnp", "UPnP: no gateway")),
             ("stun", sel(["198.51.100.9"], "stun stun.example.net:3478"))]
    chosen = upstream.compose(tried, 4)
    assert chosen.status == REFUSED and chosen.address is None
    assert chosen.reason == (
        "STUN sees 198.51.100.9, the ISP's shared address; WAN is behind CGNAT (100.64.3.2): no public "
        "IPv4 exists for this line; ask the ISP for a public address, publish IPv6 only, or use a tunnel")


def test_gateway_behind_cgnat_is_named():
    tried = [("netifd", sel(["192.168.1.2"], "netifd wan")),
             ("upnp", sel(["100.64.0.7"], "upnp 192.168.1.1"))]
    chosen = upstream.compose(tried, 4)
    assert chosen.status == REFUSED
    assert "the upstream gateway is behind CGNAT (100.64.0.7 via UPnP): no public IPv4 exists" \
        in chosen.reason


def test_gateway_behind_cgnat_means_a_stun_address_is_not_published():
    tried = [("upnp", sel(["100.64.0.7"], "upnp 192.168.1.1")), ("stun", sel(["198.51.100.2"], "stun x"))]
    chosen = upstream.compose(tried, 4)
    assert chosen.status == REFUSED and chosen.address is None
    assert chosen.reason.startswith("STUN sees 198.51.100.2, the ISP's shared address; the upstream gateway "
                                    "is behind CGNAT (100.64.0.7 via UPnP)")


def test_gateway_without_public_address_warns_about_the_stun_address():
    failure = "NAT-PMP: the gateway answered network failure: " + upstream.NO_PUBLIC
    tried = [("natpmp", error("natpmp", failure)),
             ("stun", sel(["198.51.100.2"], "stun x"))]
    chosen = upstream.compose(tried, 4)
    assert (chosen.status, chosen.address) == (OK, "198.51.100.2")
    assert chosen.reason == ("NAT-PMP says the modem has no public address, so 198.51.100.2 probably belongs "
                             "to the ISP's CGNAT: connections to it may not arrive")


def test_stun_disagreeing_with_upnp_is_called_double_nat():
    tried = [("upnp", sel(["203.0.113.7"], "upnp 192.168.1.1")),
             ("stun", sel(["198.51.100.2"], "stun 198.51.100.1"))]
    chosen = upstream.compose(tried, 4)
    assert chosen.address == "203.0.113.7"
    assert chosen.reason == ("STUN sees 198.51.100.2 but UPnP reports 203.0.113.7: another NAT sits "
                             "beyond the modem (double NAT); connections to 203.0.113.7 may not arrive")


def test_stun_agreeing_adds_nothing():
    tried = [("netifd", sel(["203.0.113.7"], "netifd wan")), ("stun", sel(["203.0.113.7"], "stun x"))]
    assert upstream.compose(tried, 4).reason == ""


def test_private_wan_and_no_upstream_answer_lists_every_reason():
    tried = [("netifd", sel(["192.168.1.2"], "netifd wan")),
             ("upnp", error("upnp", "UPnP: no gateway on eth1 answered the SSDP search")),
             ("natpmp", error("natpmp", "NAT-PMP: gateway 192.168.1.1 does not speak NAT-PMP"))]
    chosen = upstream.compose(tried, 4)
    assert chosen.status == REFUSED
    assert chosen.reason == ("WAN has a private address (192.168.1.2) and no upstream source gave a "
                             "public one (UPnP: no gateway on eth1 answered the SSDP search; NAT-PMP: "
                             "gateway 192.168.1.1 does not speak NAT-PMP)")


def test_ipv6_gets_no_ipv4_diagnosis():
    tried = [("netifd", sel(["fd00::1"], "netifd wan", 6)), ("stun", sel(["2001:db8::7"], "stun x", 6))]
    chosen = upstream.compose(tried, 6)
    assert (chosen.status, chosen.address, chosen.reason) == (OK, "2001:db8::7", "")


def test_observe_stops_at_the_winner_but_still_asks_a_later_stun():
    answers = {"netifd": sel(["192.168.1.2"], "netifd wan"), "upnp": sel(["203.0.113.7"], "upnp 192.168.1.1"),
               "natpmp": sel(["203.0.113.7"], "natpmp 192.168.1.1"), "stun": sel(["198.51.100.2"], "stun x")}
    asked = []

    def one(name):
        asked.append(name)
        return answers[name]

    chosen = upstream.observe(("netifd", "upnp", "natpmp", "stun"), one, 4)
    assert asked == ["netifd", "upnp", "stun"]
    assert (chosen.address, chosen.origin) == ("203.0.113.7", "upnp 192.168.1.1")
    assert "double NAT" in chosen.reason


def test_observe_ignores_a_failed_stun_check():
    answers = {"upnp": sel(["203.0.113.7"], "upnp 192.168.1.1"), "stun": error("stun", "STUN: silent")}
    chosen = upstream.observe(("upnp", "stun"), answers.get, 4)
    assert (chosen.status, chosen.address, chosen.reason) == (OK, "203.0.113.7", "")


# The real thing: miniupnpd learns its address from a STUN server next to it, while a second NAT
# sits between it and the STUN server the user named.

@pytest.fixture(scope="module")
def double_nat():
    require("nft", "miniupnpd", "turnserver")
    lab = Lab()
    try:
        build(lab, beyond=True)
        start_stun(lab, "isp", "203.0.113.1", "coturn-isp")
        start_stun(lab, "net", "198.51.100.1", "coturn-net")
        start_miniupnpd(lab)
        yield lab
    finally:
        lab.close()


def observed(out: dict, name: str) -> Selection:
    if "error" in out:
        return Selection(None, ERROR, out["error"], name)
    return select([Candidate(ipaddress.ip_address(a), o) for a, o in zip(out["addresses"], out["origins"])],
                  4, False, name)


def test_router_behind_double_nat_is_told_so(double_nat):
    upnp = double_nat.read("router", "upnp", {"device": "wan0"})
    stun = double_nat.read("router", "stun", {"options": {"stun_server": "198.51.100.1"}})
    chosen = upstream.compose([("upnp", observed(upnp, "upnp")), ("stun", observed(stun, "stun"))], 4)
    assert (chosen.status, chosen.address, chosen.origin) == (OK, "203.0.113.7", "upnp 192.168.1.1")
    assert "STUN sees 198.51.100.2 but UPnP reports 203.0.113.7: another NAT sits beyond the modem" \
        in chosen.reason
