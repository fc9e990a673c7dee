"""Selection rules: which addresses may be published, which one wins, and prefix + suffix."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddns_agent.addresses import Candidate, Selection, join_suffix, refusal, select


def cand(text: str, origin: str = "netifd wan", **kw) -> Candidate:
    return Candidate(ipaddress.ip_address(text), origin, **kw)


@pytest.mark.parametrize("text", [
    "192.0.2.1", "198.51.100.54", "203.0.113.62", "2001:db8::1", "2001:db8:200:ff00::1234",
    "8.8.8.8", "2606:4700::1111",
    # just outside the refused ranges
    "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0", "169.253.255.255",
    "192.167.255.255", "11.0.0.1", "1.0.0.0", "223.255.255.255", "fbff:ffff::1", "fec0::1",
])
def test_documentation_and_public_addresses_are_publishable(text):
    assert refusal(ipaddress.ip_address(text)) is None
    assert refusal(text) is None


@pytest.mark.parametrize("text,words", [
    ("10.0.0.1", "private (RFC 1918)"),
    ("172.16.0.1", "private (RFC 1918)"),
    ("172.31.255.255", "private (RFC 1918)"),
    ("192.168.1.2", "private (RFC 1918)"),
    ("100.64.0.0", "carrier-grade NAT (CGNAT)"),
    ("100.127.255.255", "carrier-grade NAT (CGNAT)"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("169.254.10.20", "link-local"),
    ("fe80::1", "link-local"),
    ("febf::1", "link-local"),
    ("fd5c:3a7e:91b4::1", "unique local (ULA)"),
    ("fc00::1", "unique local (ULA)"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "the limited broadcast address"),
    ("240.0.0.0", "reserved (240.0.0.0/4)"),
    ("255.255.255.254", "reserved (240.0.0.0/4)"),
    ("::ffff:198.51.100.1", "IPv4-mapped IPv6 address: it stands for 198.51.100.1"),
    ("::198.51.100.1", "deprecated IPv4-compatible"),
    ("::2", "deprecated IPv4-compatible"),
    ("100::", "discard-only (100::/64)"),
    ("100::ffff:ffff:ffff:ffff", "discard-only (100::/64)"),
    ("2001:db8::1%eth0", "an address with a zone index (%eth0)"),
    ("fe80::1%br-lan", "an address with a zone index (%br-lan)"),
])
def test_unpublishable_ranges_are_refused_with_their_kind(text, words):
    reason = refusal(ipaddress.ip_address(text))
    assert reason is not None and reason.startswith(str(ipaddress.ip_address(text)) + " is ")
    assert words in reason


@pytest.mark.parametrize("text", ["255.255.255.255", "::ffff:203.0.113.7", "::203.0.113.7", "100::1",
                                  "2001:db8::1%eth0"])
def test_allow_private_does_not_lift_the_refusal_of_unreachable_forms(text):
    assert refusal(ipaddress.ip_address(text), allow_private=True) is not None


def test_just_outside_the_new_refusals_is_publishable():
    for text in ("223.255.255.255", "100:0:0:1::1", "::1:0:0:0", "::fffe:203.0.113.7", "2001:db8::1"):
        assert refusal(ipaddress.ip_address(text)) is None, text


def test_cgnat_reason_tells_the_user_what_to_do():
    assert refusal(ipaddress.ip_address("100.64.3.2")) == (
        "100.64.3.2 is a carrier-grade NAT (CGNAT) address: the router is behind the ISP's CGNAT and "
        "no public IPv4 exists on this line; ask the ISP for a public address, publish IPv6 only, "
        "or use a tunnel")


def test_rfc1918_reason_points_upstream():
    reason = refusal(ipaddress.ip_address("192.168.1.2"))
    assert reason.startswith("192.168.1.2 is a private (RFC 1918) address: the router sits behind NAT, "
                             "the public address lives upstream (modem or ISP)")
    assert "allow_private" in reason


def test_ula_and_link_local_reasons_point_to_a_global_address():
    assert "global address" in refusal(ipaddress.ip_address("fd00::5"))
    assert "global address" in refusal(ipaddress.ip_address("fe80::5"))


@pytest.mark.parametrize("text,lifted", [
    ("192.168.1.2", True), ("100.64.3.2", True), ("fd00::1", True), ("10.1.1.1", True),
    ("127.0.0.1", False), ("fe80::1", False), ("169.254.1.1", False), ("ff02::1", False), ("::", False),
])
def test_allow_private_lifts_only_private_cgnat_and_ula(text, lifted):
    assert (refusal(ipaddress.ip_address(text), allow_private=True) is None) is lifted


def test_select_publishes_the_only_public_address():
    chosen = select([cand("203.0.113.54")], 4, name="wan")
    assert (chosen.status, chosen.address, chosen.origin) == ("ok", "203.0.113.54", "netifd wan")


def test_select_without_candidates_says_which_interface_lacks_the_family():
    chosen = select([], 4, name="wan")
    assert (chosen.status, chosen.address, chosen.reason) == ("none", None, "wan has no IPv4 address")
    chosen = select([cand("203.0.113.54")], 6, name="wan")
    assert (chosen.status, chosen.reason) == ("none", "wan has no IPv6 address")


def test_select_with_only_refused_addresses_gives_the_reason_of_the_best():
    chosen = select([cand("100.64.3.2"), cand("192.168.1.2", deprecated=True)], 4, name="wan")
    assert chosen.status == "refused"
    assert chosen.address is None
    assert chosen.reason.startswith("100.64.3.2 is a carrier-grade NAT")


def test_select_skips_refused_for_a_publishable_one():
    chosen = select([cand("192.168.1.2"), cand("fd00::1"), cand("198.51.100.7")], 4)
    assert chosen.address == "198.51.100.7"


def test_select_prefers_a_public_address_even_when_private_ones_are_allowed():
    chosen = select([cand("192.168.1.2"), cand("198.51.100.7")], 4, allow_private=True)
    assert chosen.address == "198.51.100.7"
    chosen = select([cand("192.168.1.2")], 4, allow_private=True)
    assert (chosen.status, chosen.address) == ("ok", "192.168.1.2")


def test_select_prefers_non_deprecated_then_non_tentative_then_non_temporary():
    base = [cand("2001:db8::1", deprecated=True, preferred=0),
            cand("2001:db8::2", tentative=True, preferred=900),
            cand("2001:db8::3", temporary=True, preferred=3600),
            cand("2001:db8::4", preferred=60)]
    assert select(base, 6).address == "2001:db8::4"
    assert select(base[:3], 6).address == "2001:db8::3"
    assert select(base[:2], 6).address == "2001:db8::2"
    assert select(base[:1], 6).address == "2001:db8::1"


def test_select_prefers_a_stable_global_ipv6_address_over_a_longer_lived_ula():
    chosen = select([cand("fd00::1"), cand("2001:db8:200:ff00::1", preferred=50)], 6, allow_private=True)
    assert chosen.address == "2001:db8:200:ff00::1"


def test_select_prefers_the_longest_preferred_lifetime_then_the_first_listed():
    old_new = [cand("2001:db8:100:ff00::1", preferred=20), cand("2001:db8:200:ff00::1", preferred=50)]
    assert select(old_new, 6).address == "2001:db8:200:ff00::1"
    assert select(old_new[::-1], 6).address == "2001:db8:200:ff00::1"
    forever = [cand("2001:db8::5", preferred=50), cand("2001:db8::6")]  # None = no lifetime = static
    assert select(forever, 6).address == "2001:db8::6"
    tie = [cand("203.0.113.2"), cand("203.0.113.1")]
    assert select(tie, 4).address == "203.0.113.2"


def test_select_ignores_the_other_family_and_duplicates():
    chosen = select([cand("2001:db8::1"), cand("203.0.113.9"), cand("203.0.113.9")], 4)
    assert chosen.address == "203.0.113.9"
    assert [str(c.address) for c in chosen.candidates] == ["203.0.113.9"]


def test_selection_to_json_is_plain_values():
    chosen = select([cand("203.0.113.9", preferred=5)], 4)
    assert isinstance(chosen, Selection)
    assert chosen.to_json() == {
        "address": "203.0.113.9", "status": "ok", "reason": "", "origin": "netifd wan",
        "candidates": [{"address": "203.0.113.9", "origin": "netifd wan", "preferred": 5,
                        "deprecated": False, "temporary": False, "tentative": False}]}


@pytest.mark.parametrize("network,suffix,expected", [
    ("2001:db8:200:ff00::/60", "::1234", "2001:db8:200:ff00::1234"),
    ("2001:db8:200:ff00::/56", "::1234", "2001:db8:200:ff00::1234"),
    ("2001:db8:1:2::/64", "::a:b:c:d", "2001:db8:1:2:a:b:c:d"),
    ("2001:db8:1:2:3:4:5:6/64", "::1", "2001:db8:1:2::1"),  # host bits of the prefix are dropped
    ("2001:db8::/48", "::ffff:ffff:ffff:ffff", "2001:db8::ffff:ffff:ffff:ffff"),
])
def test_join_suffix_puts_the_suffix_behind_the_prefix(network, suffix, expected):
    assert join_suffix(network, suffix) == ipaddress.IPv6Address(expected)
    assert join_suffix(ipaddress.IPv6Network(network, strict=False),
                       ipaddress.IPv6Address(suffix)) == ipaddress.IPv6Address(expected)


@pytest.mark.parametrize("network,suffix,words", [
    ("2001:db8::/80", "::1", "longer than /64"),
    ("2001:db8::/64", "1::1", "upper 64"),
    ("2001:db8::/64", "nonsense", "not an IPv6 suffix"),
])
def test_join_suffix_rejects_what_does_not_fit(network, suffix, words):
    with pytest.raises(ValueError, match=words):
        join_suffix(network, suffix)


@given(st.integers(0, (1 << 128) - 1), st.integers(0, 64), st.integers(0, (1 << 64) - 1))
def test_join_suffix_keeps_the_network_bits_and_the_suffix_host_bits(bits, prefixlen, host):
    network = ipaddress.IPv6Network((bits, prefixlen), strict=False)
    joined = join_suffix(network, ipaddress.IPv6Address(host))
    assert joined in network
    assert int(joined) & ((1 << 64) - 1) == host
