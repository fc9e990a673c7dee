"""What the upstream sources share: the WAN link they may talk to, a per-run cache, and the words.

The gateway sources (upnp, natpmp) talk only to the WAN's own subnet and its default gateway; the
outside sources (stun, url) only to the server the user named. `compose` turns the ordered answers of
a record's sources into one Selection whose reason says which case this is (private WAN behind a
modem, CGNAT, double NAT) and what the user can do.
"""

from __future__ import annotations

import ipaddress

from ddns_agent.addresses import DOWN, ERROR, NONE, OK, REFUSED, Selection
from ddns_agent.errors import SourceError

LOCAL = ("auto", "netifd", "netlink")
GATEWAY = ("upnp", "natpmp")
OUTSIDE = ("stun", "url")
LABELS = {"upnp": "UPnP", "natpmp": "NAT-PMP", "stun": "STUN", "url": "ip_url",
          "auto": "the WAN", "netifd": "netifd", "netlink": "netlink"}
# Said by upnp and natpmp when the gateway answers but has no address to give; compose() reads it.
NO_PUBLIC = "it has no public address of its own (its WAN is down, private or CGNAT)"
CGNAT_ADVICE = ("no public IPv4 exists for this line; ask the ISP for a public address, "
                "publish IPv6 only, or use a tunnel")

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B
_RTF_UP_GATEWAY = 0x3
_CACHE: dict = {}


class Link:
    """The WAN side a gateway source may talk to: device, its IPv4 address and subnet, the gateway."""

    __slots__ = ("device", "address", "network", "gateway")

    def __init__(self, device: str, address, network, gateway=None) -> None:
        self.device = device      # kernel device name, e.g. "eth1"
        self.address = address    # IPv4Address of the device
        self.network = network    # IPv4Network the device is on (a /32 on PPPoE)
        self.gateway = gateway    # IPv4Address of the default gateway, None when there is none

    def __repr__(self) -> str:
        return "Link(%s %s/%d via %s)" % (self.device, self.address, self.network.prefixlen, self.gateway)

    def allows(self, ip) -> bool:
        """True when `ip` is on the WAN's own subnet or is its gateway: the only peers we talk to."""
        try:
            ip = ipaddress.IPv4Address(ip)
        except ValueError:
            return False
        return (ip in self.network and ip != self.network.broadcast_address and
                ip != self.network.network_address) or ip == self.gateway


def cached(key: tuple, fetch, cache=None):
    """`fetch()` once per `key`: in `cache` (a sources.Cache, one update cycle) when given, else for
    the process run. A SourceError is remembered and raised again."""
    if cache is not None:
        return cache.get(key, fetch)
    hit = _CACHE.get(key)
    if hit is None:
        try:
            hit = (fetch(), None)
        except SourceError as e:
            hit = (None, str(e))
        _CACHE[key] = hit
    if hit[1] is not None:
        raise SourceError(hit[1])
    return hit[0]


def forget() -> None:
    """Drop everything `cached` remembers without a cache (a new event, or a test)."""
    _CACHE.clear()


def reader(name: str):
    """The sources.SOURCES entry for upstream source `name`: fn(record, family, cache) -> Selection.

    The module is imported on first use; its SourceError is left to sources.py to turn into words.
    """
    module = "ddns_agent." + ("ipurl" if name == "url" else name)

    def read(record, family: int, cache) -> Selection:
        import importlib

        from ddns_agent.addresses import select

        found = importlib.import_module(module).read(record, family, cache=cache)
        return select(found, family, record.allow_private, name)

    return read


READERS = {name: reader(name) for name in GATEWAY + OUTSIDE}


def _ioctl_address(device: str):
    import fcntl
    import socket
    import struct

    request = struct.pack("256s", device.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            address = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, request)[20:24]
            mask = fcntl.ioctl(s.fileno(), _SIOCGIFNETMASK, request)[20:24]
        except OSError as e:
            if e.errno == 19:
                raise SourceError("WAN device %s does not exist" % device)
            if e.errno == 99:
                raise SourceError("WAN device %s has no IPv4 address" % device)
            raise SourceError("cannot read the IPv4 address of %s: %s" % (device, e.strerror or e))
    address = ipaddress.IPv4Address(address)
    return address, ipaddress.IPv4Network("%s/%s" % (address, socket.inet_ntoa(mask)), strict=False)


def default_routes(path: str = "/proc/net/route") -> list:
    """IPv4 default routes as (metric, device, gateway), best first, from the kernel's table."""
    import socket
    import struct

    routes = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()[1:]
    except OSError as e:
        raise SourceError("cannot read %s: %s" % (path, e.strerror or e))
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or fields[1] != "00000000" or fields[7] != "00000000":
            continue
        try:
            flags = int(fields[3], 16)
            gateway = socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
            metric = int(fields[6])
        except ValueError:
            continue
        if flags & _RTF_UP_GATEWAY == _RTF_UP_GATEWAY:
            routes.append((metric, fields[0], ipaddress.IPv4Address(gateway)))
    return sorted(routes, key=lambda r: r[0])


def link_from_status(status: dict, interface: str) -> Link:
    """The WAN link described by a netifd status object (l3_device, first ipv4-address, default route)."""
    if status.get("up") is not True:
        raise SourceError("netifd %s is down" % interface)
    device = status.get("l3_device") or status.get("device")
    addresses = [e for e in status.get("ipv4-address") or () if isinstance(e, dict)]
    if not isinstance(device, str) or not addresses:
        raise SourceError("netifd %s has no IPv4 address" % interface)
    try:
        network = ipaddress.IPv4Network("%s/%s" % (addresses[0].get("address"), addresses[0].get("mask")),
                                        strict=False)
        address = ipaddress.IPv4Address(addresses[0].get("address"))
    except ValueError:
        raise SourceError("netifd %s: ipv4-address %r is not an IPv4 address" % (interface, addresses[0]))
    gateway = None
    for route in status.get("route") or ():
        if isinstance(route, dict) and route.get("target") == "0.0.0.0" and route.get("mask") == 0:
            try:
                gateway = ipaddress.IPv4Address(route.get("nexthop"))
            except ValueError:
                continue
            break
    return Link(device, address, network, gateway)


def wan_link(record, timeout: float = 3.0, log=None, cache=None) -> Link:
    """The WAN link for `record`: its `device`, else netifd's view of its `interface`, else the
    device of the IPv4 default route. SourceError when there is no usable IPv4 WAN."""
    device = getattr(record, "device", None)
    interface = getattr(record, "interface", None)
    if not device and interface:
        from ddns_agent import netifd

        try:
            status = cached(("netifd", interface), lambda: netifd.status(interface, timeout), cache)
            return link_from_status(status, interface)
        except SourceError as e:
            if log is not None:
                log.debug("%s: %s; using the kernel's default route" % (interface, e))
    routes = default_routes()
    gateway = None
    if device:
        gateway = next((gw for _, dev, gw in routes if dev == device), None)
    elif routes:
        _, device, gateway = routes[0]
    else:
        raise SourceError("no IPv4 default route: cannot tell which side is the WAN (set option device)")
    address, network = _ioctl_address(device)
    return Link(device, address, network, gateway)


def _seen(selection: Selection):
    if selection.address:
        return ipaddress.ip_address(selection.address)
    if selection.candidates:
        return selection.candidates[0].address
    return None


def _said(name: str, reason: str) -> str:
    label = LABELS.get(name, name)
    return reason if reason.startswith(label) else "%s: %s" % (label, reason)


def _is_private(address) -> bool:
    return address is not None and address.version == 4 and any(address in n for n in _RFC1918)


def _is_cgnat(address) -> bool:
    return address is not None and address.version == 4 and address in _CGNAT


def diagnose(tried: list, family: int) -> str:
    """Plain words for the case `tried` shows; "" when there is nothing to add.

    `tried` is the ordered list of (source name, Selection) a record's sources answered.
    """
    if family != 4:
        return ""
    local = next(((n, s) for n, s in tried if n in LOCAL and _seen(s) is not None), None)
    wan = _seen(local[1]) if local else None
    winner = next(((n, s) for n, s in tried if s.status == OK), None)
    notes = []
    if _is_cgnat(wan):
        notes.append("WAN is behind CGNAT (%s): %s" % (wan, CGNAT_ADVICE))
    elif _is_private(wan) and local[1].status != OK:
        if winner is not None and winner[0] in GATEWAY:
            notes.append("WAN has a private address (%s); upstream gateway reports %s via %s"
                         % (wan, winner[1].address, LABELS[winner[0]]))
        elif winner is not None:
            notes.append("WAN has a private address (%s); %s sees %s"
                         % (wan, LABELS.get(winner[0], winner[0]), winner[1].address))
        else:
            why = [_said(n, s.reason) for n, s in tried if n not in LOCAL and s.status != OK and s.reason]
            notes.append("WAN has a private address (%s) and no upstream source gave a public one%s"
                         % (wan, (" (" + "; ".join(why) + ")") if why else ""))
    for name, selection in tried:
        address = _seen(selection)
        if name in GATEWAY and _is_cgnat(address):
            notes.append("the upstream gateway is behind CGNAT (%s via %s): %s"
                         % (address, LABELS[name], CGNAT_ADVICE))
            break
    empty = next((n for n, s in tried if n in GATEWAY and s.status == ERROR and NO_PUBLIC in s.reason), None)
    if empty and winner is not None and winner[0] in OUTSIDE:
        notes.append("%s says the modem has no public address, so %s probably belongs to the ISP's CGNAT: "
                     "connections to it may not arrive" % (LABELS[empty], winner[1].address))
    reference = next(((n, _seen(s)) for n, s in tried if s.status == OK and n not in OUTSIDE), None)
    if reference is not None:
        for name, selection in tried:
            address = _seen(selection)
            if name in OUTSIDE and selection.status == OK and address != reference[1]:
                said = ("the WAN address is %s" % reference[1] if reference[0] in LOCAL
                        else "%s reports %s" % (LABELS[reference[0]], reference[1]))
                notes.append("%s sees %s but %s: another NAT sits beyond %s (double NAT); connections "
                             "to %s may not arrive" % (LABELS[name], address, said,
                                                       "this router" if reference[0] in LOCAL
                                                       else "the modem", reference[1]))
                break
    return "; ".join(notes)


def observe(names, one, family: int) -> Selection:
    """Try the sources `names` in order with `one(name) -> Selection`; the first `ok` wins.

    A `stun` listed after the winner is still asked, as a check: when it sees another address the
    reason says double NAT (its address never replaces the winner). The result is `compose`'s.
    """
    tried = []
    for name in names:
        won = any(s.status == OK for _, s in tried)
        if won and name != "stun":
            continue
        selection = one(name)
        if won and selection.status != OK:
            continue  # a failed check adds nothing
        tried.append((name, selection))
    return compose(tried, family)


def compose(tried: list, family: int) -> Selection:
    """One Selection from the ordered answers of a record's sources: the first `ok` wins.

    The reason carries `diagnose`'s words even when the status is ok. An address only seen from
    outside (stun, url) while the WAN or the upstream gateway has a CGNAT address is refused: it
    belongs to the ISP's NAT and does not lead back to this line.
    """
    note = diagnose(tried, family)
    behind_cgnat = any(_is_cgnat(_seen(s)) for n, s in tried if n in LOCAL + GATEWAY)
    for name, selection in tried:
        if selection.status != OK:
            continue
        if name in OUTSIDE and behind_cgnat:
            return Selection(None, REFUSED, "%s sees %s, the ISP's shared address; %s" % (
                LABELS[name], selection.address, note), selection.origin, selection.candidates)
        return Selection(selection.address, OK, note, selection.origin, selection.candidates)
    if not tried:
        return Selection(None, NONE, "no source configured")
    # Nothing publishable: report the most telling failure (refused > down > error > none).
    order = {REFUSED: 0, DOWN: 1, ERROR: 2, NONE: 3}
    name, worst = min(tried, key=lambda t: order.get(t[1].status, 4))
    reasons = "; ".join(_said(n, s.reason) for n, s in tried if s.reason)
    return Selection(None, worst.status, note or reasons or worst.reason, worst.origin, worst.candidates)
