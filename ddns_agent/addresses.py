"""Address selection rules shared by every source: "publishable?" with the reason, and which one wins.

Pure: no I/O. Sources turn what they read into `Candidate`s; `select` picks one per record and family.
The refusal list is written out by hand on purpose: `ipaddress.is_private`/`is_global` count the
documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) as private,
and tests and examples publish exactly those.
"""

from __future__ import annotations

import ipaddress

# Statuses of a Selection.
OK = "ok"            # `address` is the one to publish
DOWN = "down"        # the interface/device is down: keep what is published, never guess
REFUSED = "refused"  # only unpublishable addresses (private, CGNAT, ULA...): `reason` says why
ERROR = "error"      # the source could not be read: keep the record, retry on the next event
NONE = "none"        # up, but no address of this family

_ALLOW = "set allow_private 1 to publish it anyway"

# (network, kind, liftable by allow_private, what it means and what the user can do); first match wins.
_RULES4 = (
    ("0.0.0.0/8", "an unspecified (0.0.0.0/8) address", False,
     "the interface has no usable address yet; wait for it to come up"),
    ("10.0.0.0/8", "a private (RFC 1918) address", True,
     "the router sits behind NAT, the public address lives upstream (modem or ISP); " + _ALLOW),
    ("100.64.0.0/10", "a carrier-grade NAT (CGNAT) address", True,
     "the router is behind the ISP's CGNAT and no public IPv4 exists on this line; ask the ISP for "
     "a public address, publish IPv6 only, or use a tunnel"),
    ("127.0.0.0/8", "a loopback address", False,
     "it always means the asking machine itself; pick the interface or device that faces the internet"),
    ("169.254.0.0/16", "a link-local address", False,
     "no DHCP lease was obtained (self-assigned address); check the WAN link and the DHCP server"),
    ("172.16.0.0/12", "a private (RFC 1918) address", True,
     "the router sits behind NAT, the public address lives upstream (modem or ISP); " + _ALLOW),
    ("192.168.0.0/16", "a private (RFC 1918) address", True,
     "the router sits behind NAT, the public address lives upstream (modem or ISP); " + _ALLOW),
    ("224.0.0.0/4", "a multicast address", False,
     "it names a group, not a host; check the record's interface or device"),
    ("255.255.255.255/32", "the limited broadcast address", False,
     "it means every host on the local link, never one host; check the record's source"),
    ("240.0.0.0/4", "a reserved (240.0.0.0/4) address", False,
     "no network routes it on the internet; check the record's source"),
)
_RULES6 = (
    ("::/128", "the unspecified address", False,
     "the interface has no usable address yet; wait for it to come up"),
    ("::1/128", "the loopback address", False,
     "it always means the asking machine itself; pick the interface or device that faces the internet"),
    ("::ffff:0:0/96", "an IPv4-mapped IPv6 address", False,
     "it stands for an IPv4 address and is never reachable as IPv6; publish that IPv4 address in an "
     "A record"),
    ("::/96", "a deprecated IPv4-compatible IPv6 address (::x.x.x.x)", False,
     "no network routes it since RFC 4291; publish a global IPv6 address or the IPv4 one in an A record"),
    ("100::/64", "a discard-only (100::/64) address", False,
     "the network throws away whatever is sent to it (RFC 6666); check the record's source"),
    ("fe80::/10", "a link-local address", False,
     "it only works on one link; publish a global address (from SLAAC, DHCPv6 or the delegated prefix)"),
    ("fc00::/7", "a unique local (ULA) address", True,
     "it only works inside this site; publish a global address from the delegated prefix "
     "(ipv6_suffix) or the WAN, or " + _ALLOW),
    ("ff00::/8", "a multicast address", False,
     "it names a group, not a host; check the record's interface or device"),
)
_TABLES: dict = {}
_GLOBAL6 = ipaddress.IPv6Network("2000::/3")


def _table(version: int) -> tuple:
    table = _TABLES.get(version)
    if table is None:
        make = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
        table = _TABLES[version] = tuple(
            (make(net), kind, liftable, advice) for net, kind, liftable, advice in
            (_RULES4 if version == 4 else _RULES6))
    return table


class Candidate:
    """One address a source saw, with what the kernel or netifd says about it."""

    __slots__ = ("address", "origin", "preferred", "deprecated", "temporary", "tentative")

    def __init__(self, address, origin: str, preferred: int | None = None, deprecated: bool = False,
                 temporary: bool = False, tentative: bool = False) -> None:
        self.address = address          # ipaddress.IPv4Address | IPv6Address
        self.origin = origin            # "netifd wan", "netlink eth0"
        self.preferred = preferred      # remaining preferred lifetime in s; None = forever
        self.deprecated = deprecated    # preferred lifetime over: the address is going away
        self.temporary = temporary      # RFC 8981 privacy address: changes daily, never publish first
        self.tentative = tentative      # duplicate address detection still running

    def __repr__(self) -> str:
        flags = [n for n in ("deprecated", "temporary", "tentative") if getattr(self, n)]
        return "Candidate(%s, %r, preferred=%r%s)" % (
            self.address, self.origin, self.preferred, "".join(", " + f for f in flags))

    def to_json(self) -> dict:
        """Plain values for `plan --json`."""
        return {"address": str(self.address), "origin": self.origin, "preferred": self.preferred,
                "deprecated": self.deprecated, "temporary": self.temporary, "tentative": self.tentative}


class Selection:
    """What a source answers for one record: the address to publish, or why there is none."""

    __slots__ = ("address", "status", "reason", "origin", "candidates")

    def __init__(self, address: str | None, status: str, reason: str = "", origin: str = "",
                 candidates: list | None = None) -> None:
        self.address = address        # text form, only when status == "ok"
        self.status = status          # ok | down | refused | error | none
        self.reason = reason          # plain words for the user when status != "ok"
        self.origin = origin          # "netifd wan"
        self.candidates = candidates if candidates is not None else []

    def __repr__(self) -> str:
        return "Selection(%r, %r, %r, %r)" % (self.address, self.status, self.reason, self.origin)

    def to_json(self) -> dict:
        """Plain values for `plan --json`."""
        return {"address": self.address, "status": self.status, "reason": self.reason,
                "origin": self.origin, "candidates": [c.to_json() for c in self.candidates]}


def refusal(address, allow_private: bool = False) -> str | None:
    """None when `address` may be published; otherwise why not and what the user can do.

    `allow_private` lifts only the refusals of RFC 1918, CGNAT and ULA addresses (split-horizon
    setups publish those on purpose); loopback, link-local, unspecified, multicast, broadcast, reserved,
    IPv4-mapped, IPv4-compatible, discard-only and zoned addresses stay refused.
    """
    # every record of a run asks about the same few addresses; the key is the address's class, int
    # and zone: hashing and comparing the object itself runs ipaddress's Python __hash__ and __eq__
    key = (address, allow_private) if type(address) is str else (
        type(address), address._ip, getattr(address, "_scope_id", None), allow_private)
    why = _REFUSALS.get(key, key)
    if why is key:
        if len(_REFUSALS) >= 256:  # `watch` lives for months of privacy addresses
            _REFUSALS.clear()
        why = _REFUSALS[key] = _refusal(address, allow_private)
    return why


_REFUSALS: dict = {}


def _refusal(address, allow_private: bool) -> str | None:
    if isinstance(address, str):
        address = ipaddress.ip_address(address)
    if getattr(address, "scope_id", None):  # fe80::1%eth0: only this host knows which link it means
        return ("%s is an address with a zone index (%%%s): a zone names a link of this host and cannot "
                "be part of a DNS record; check the record's source" % (address, address.scope_id))
    for net, kind, liftable, advice in _table(address.version):
        if address in net:
            if liftable and allow_private:
                return None
            mapped = address.version == 6 and address.ipv4_mapped
            if mapped:  # name the IPv4 address it stands for
                advice = advice.replace("an IPv4 address", str(mapped)).replace("that IPv4 address", "it")
            return "%s is %s: %s" % (address, kind, advice)
    return None


def _rank(candidate: Candidate, index: int) -> tuple:
    address = candidate.address
    # A static address (no lifetime) outranks any leased one; then the longest preferred lifetime
    # wins, which makes the new prefix win while an old one is still listed (dhcpv6-pd `changed`).
    lifetime = -(1 << 62) if candidate.preferred is None else -candidate.preferred
    # Publishable by default first, so allow_private never beats a public address with a private one.
    return (refusal(address) is not None, candidate.deprecated, candidate.tentative, candidate.temporary,
            address.version == 6 and address not in _GLOBAL6, lifetime, index)


def select(candidates: list, family: int, allow_private: bool = False, name: str = "",
           origin: str = "") -> Selection:
    """Pick the address to publish among `candidates` of `family` (4 or 6); deterministic.

    Prefers publishable (by the default rules) over refused, then not deprecated, not tentative,
    not temporary, global unicast (2000::/3) for IPv6, the longest preferred lifetime, and finally
    the first listed.
    `name` (e.g. "wan") words the reason when nothing fits; `origin` defaults to the winner's.
    """
    seen: set = set()
    mine = []
    for c in candidates:
        if c.address.version == family and c.address not in seen:
            seen.add(c.address)
            mine.append(c)
    if not mine:
        return Selection(None, NONE, "%s has no IPv%d address" % (name or origin or "the source", family),
                         origin, [])
    ranked = sorted(range(len(mine)), key=lambda i: _rank(mine[i], i))
    refused = None
    for i in ranked:
        why = refusal(mine[i].address, allow_private)
        if why is None:
            best = mine[i]
            return Selection(str(best.address), OK, "", origin or best.origin, mine)
        if refused is None:
            refused = (mine[i], why)
    best, why = refused
    return Selection(None, REFUSED, why, origin or best.origin, mine)


def join_suffix(network, suffix) -> ipaddress.IPv6Address:
    """The network bits of `network` (prefix length <= 64) joined with the host bits of `suffix`.

    `suffix` is an address whose upper 64 bits are zero, e.g. "::1234" or "::a:b:c:d".
    Raises ValueError when either part does not fit.
    """
    if not isinstance(network, ipaddress.IPv6Network):
        network = ipaddress.IPv6Network(network, strict=False)
    if network.prefixlen > 64:
        raise ValueError("prefix %s is longer than /64; no room for an ipv6_suffix" % network)
    if not isinstance(suffix, ipaddress.IPv6Address):
        try:
            suffix = ipaddress.IPv6Address(suffix)
        except ValueError:
            raise ValueError("ipv6_suffix %r is not an IPv6 suffix like ::1234" % (suffix,))
    host = int(suffix)
    if host >> 64:
        raise ValueError("ipv6_suffix %s sets bits in the upper 64; use a form like ::1234" % suffix)
    return ipaddress.IPv6Address(int(network.network_address) | host)
