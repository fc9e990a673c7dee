"""Per record, which source to read and what it answers: a `Selection` (address or reason).

Sources are looked up by name in `SOURCES`; a later source (upnp, natpmp, stun, url) adds one entry.
One run reads each interface or device once, however many records use it.
"""

from __future__ import annotations

from ddns_agent.addresses import DOWN, ERROR, NONE, OK, Selection, select
from ddns_agent.errors import DdnsError, SourceError


class Cache:
    """What one run has read: netifd status per interface, netlink state per device (or the error)."""

    __slots__ = ("_seen", "state_dir")

    def __init__(self, state_dir: str | None = None) -> None:
        self._seen: dict = {}
        self.state_dir = state_dir  # where sources that remember between runs (url) keep it

    def get(self, key: tuple, read):
        """`read()` the first time `key` is asked for, the same value (or SourceError) afterwards.

        Keys: ("netifd", interface) -> status dict; ("netlink", device) -> (is_up, candidates);
        ("netifd", interface, family, suffix, allow_private) -> Selection, and the same for netlink.
        """
        if key not in self._seen:
            try:
                self._seen[key] = (read(), None)
            except SourceError as e:
                self._seen[key] = (None, e)
        value, error = self._seen[key]
        if error is not None:
            raise error
        return value

    def put(self, key: tuple, value) -> None:
        """Take `value` as what `key` reads in this run (Observer: the fast path's look)."""
        self._seen[key] = (value, None)


def _family(record) -> int:
    return 6 if str(record.type).upper() == "AAAA" else 4


def _shared(kind: str, option: str, name: str, record, family: int, cache: Cache, read) -> Selection:
    """`read(record, family, cache, name)`, once per run for all the records it would answer alike."""
    if not name:
        return Selection(None, ERROR, "source %s needs option %s" % (kind, option), kind)
    # everything a local source's answer depends on: records sharing an interface share one answer
    key = kind, name, family, record.ipv6_suffix if family == 6 else None, bool(record.allow_private)
    return cache.get(key, lambda: read(record, family, cache, name))


def _from_netifd(record, family: int, cache: Cache) -> Selection:
    return _shared("netifd", "interface", record.interface, record, family, cache, _read_netifd)


def _read_netifd(record, family: int, cache: Cache, name: str) -> Selection:
    from ddns_agent import netifd
    from ddns_agent.addresses import refusal

    origin = "netifd %s" % name
    status = cache.get(("netifd", name), lambda: netifd.status(name))
    if not netifd.is_up(status):
        return Selection(None, DOWN, netifd.down_reason(status, name), origin)
    if family == 6 and record.ipv6_suffix:
        try:
            found = netifd.suffix_candidates(status, record.ipv6_suffix, name)
        except ValueError as e:
            return Selection(None, ERROR, str(e), origin)
        if not found:
            return Selection(None, NONE, "%s has no delegated IPv6 prefix to join with ipv6_suffix %s"
                             % (name, record.ipv6_suffix), origin)
        return select(found, 6, record.allow_private, name)
    found = netifd.candidates(status, family, name)
    # PD-only lines: lan's own ipv6-address is empty; its global address sits in the assignment
    # (netifd writes it to the kernel directly, specs/openwrt.md §1.5).
    if family == 6 and netifd.has_prefix_assignment(status) and not any(
            refusal(c.address) is None for c in found):
        found = found + netifd.local_candidates(status, name)
    return select(found, family, record.allow_private, name)


def _from_netlink(record, family: int, cache: Cache) -> Selection:
    return _shared("netlink", "device", record.device, record, family, cache, _read_netlink)


def _read_netlink(record, family: int, cache: Cache, name: str) -> Selection:
    from ddns_agent import netlink

    origin = "netlink %s" % name
    up, found = cache.get(("netlink", name), lambda: (netlink.is_up(name), netlink.addresses(name)))
    if not up:
        return Selection(None, DOWN, "%s is down" % name, origin)
    if family == 6 and record.ipv6_suffix:
        return _netlink_suffix(found, record, origin)
    return select(found, family, record.allow_private, name)


def _netlink_suffix(found: list, record, origin: str) -> Selection:
    # A Linux host learns its /64 by SLAAC or DHCPv6: keep the network bits of each global address
    # and put the configured host part behind them.
    import ipaddress

    from ddns_agent.addresses import Candidate, join_suffix, refusal

    joined = []
    for c in found:
        if c.address.version == 6 and refusal(c.address) is None and not c.temporary:
            try:
                address = join_suffix(ipaddress.IPv6Network((c.address, 64), strict=False),
                                      record.ipv6_suffix)
            except ValueError as e:
                return Selection(None, ERROR, str(e), origin)
            joined.append(Candidate(address, origin + " prefix", c.preferred, c.deprecated,
                                    tentative=c.tentative))
    if not joined:
        return Selection(None, NONE, "%s has no global IPv6 prefix to join with ipv6_suffix %s"
                         % (record.device, record.ipv6_suffix), origin)
    return select(joined, 6, record.allow_private, record.device)


def _auto(record, family: int, cache: Cache) -> Selection:
    if record.interface:
        return _from_netifd(record, family, cache)
    if record.device:
        return _from_netlink(record, family, cache)
    return Selection(None, ERROR, "record %s has neither option interface nor option device"
                     % record.key, "")


def _upstream_module(source: str = ""):
    """ddns_agent.upstream, loaded only for records that list an upstream source.

    It ships in ddns-agent-upstream: when that is not installed, None (or SourceError naming `source`).
    """
    import importlib

    try:
        return importlib.import_module("ddns_agent.upstream")
    except ModuleNotFoundError as e:
        if e.name != "ddns_agent.upstream":
            raise
    if source:
        raise SourceError("source %s is not installed: opkg install ddns-agent-upstream" % source)
    return None


def _upstream(name: str):
    def read(record, family: int, cache: Cache) -> Selection:
        return _upstream_module(name).reader(name)(record, family, cache)
    return read


# name -> function(record, family, cache) -> Selection
SOURCES = {"auto": _auto, "netifd": _from_netifd, "netlink": _from_netlink,
           "upnp": _upstream("upnp"), "natpmp": _upstream("natpmp"), "stun": _upstream("stun"),
           "url": _upstream("url")}


_UPSTREAM = frozenset(("upnp", "natpmp", "stun", "url"))


def _one(name: str, record, family: int, cache: Cache) -> Selection:
    read = SOURCES.get(name)
    if read is None:
        return Selection(None, ERROR, "source %s is not available in this build" % name, name)
    try:
        return read(record, family, cache)
    except SourceError as e:
        # Unreadable is not empty: the record is kept as published and retried on the next event.
        return Selection(None, ERROR, str(e), name)


def observe(record, family: int | None = None, cache: Cache | None = None) -> Selection:
    """The address `record` should publish now, or why there is none (never raises SourceError).

    `family` defaults to the record type (A -> 4, AAAA -> 6). Sources in `record.source` are tried
    in order; the first 'ok' answer wins, otherwise the first source's answer is returned.
    A record set gets [(interface or device, Selection)], one per member (observe_members).
    """
    if getattr(record, "members", ()):
        return observe_members(record, cache)
    if family is None:
        family = _family(record)
    if cache is None:
        cache = Cache()
    names = record.source or ("auto",)
    if isinstance(names, str):
        names = (names,)
    upstream = None if _UPSTREAM.isdisjoint(names) else _upstream_module()
    if upstream is not None:  # words for a private WAN, CGNAT, double NAT
        return upstream.observe(names, lambda n: _one(n, record, family, cache), family)
    first = None
    for name in names:
        selection = _one(name, record, family, cache)
        if selection.status == OK:
            return selection
        if first is None:
            first = selection
        elif name in _UPSTREAM:  # only without ddns-agent-upstream: say it is missing
            reason = "; ".join(r for r in (first.reason, selection.reason) if r)
            first = Selection(None, first.status, reason, first.origin, first.candidates)
    return first


class View:
    """`record` with some fields replaced, e.g. one source of a record set as a plain record."""

    def __init__(self, record, **fields) -> None:
        self._record = record
        self.__dict__.update(fields)

    def __getattr__(self, attr: str):
        return getattr(self._record, attr)


def observe_members(record, cache: Cache | None = None) -> list:
    """[(interface or device name, Selection)] for each source of a record set, in config order."""
    cache = cache or Cache()
    family = _family(record)
    return [(name, _one("netifd" if kind == "interface" else "netlink", View(
        record, interface=name, device=name, members=()), family, cache)) for kind, name in record.members]


def interfaces_of(record) -> tuple:
    """The netifd interfaces `record` reads (several for a record set)."""
    members = getattr(record, "members", ())
    if members:
        return tuple(n for kind, n in members if kind == "interface")
    return (record.interface,) if record.interface else ()


def observe_all(records: list) -> dict:
    """record.key -> Selection for every record; each interface or device is read once."""
    cache = Cache()
    return {record.key: observe(record, None, cache) for record in records}


def _owns_prefixes(interface: str) -> bool:
    # wan6 (default config) or the dynamic <iface>_6 that PPP and 6rd create (specs/openwrt.md §1.3).
    return interface == "wan6" or interface.endswith("_6") or interface.endswith("6")


def related_records(records: list, interface: str) -> list:
    """Records to re-evaluate after an event for `interface` (a netifd name, a device, or "*").

    "*" means all of them. Otherwise those on `interface` (or on that device), plus, when it is a
    prefix owner (wan6, wan_6, ...), every AAAA record on another netifd interface (lan gets no
    event of its own when the delegated prefix changes).
    Which of them read prefix assignments is only known from their status, so all are re-read;
    an unchanged address sends nothing.
    """
    if interface == "*":
        return list(records)
    found = [r for r in records if r.interface == interface or (not r.interface and r.device == interface)
             or any(n == interface for _, n in getattr(r, "members", ()))]
    if _owns_prefixes(interface):
        for r in records:
            if (r not in found and _family(r) == 6 and _reads_netifd(r)
                    and any(not _owns_prefixes(i) for i in interfaces_of(r))):
                found.append(r)
    return found


def _reads_netifd(record) -> bool:
    names = record.source or ("auto",)
    if isinstance(names, str):
        names = (names,)
    return "netifd" in names or "auto" in names


class Observer:
    """Reads each interface or device once per cycle; also gives netifd fingerprints from that read.

    Read under the state lock: a run that waited for the lock must publish the address of now, not
    the one it saw when it started. `handed`: {interface: `ubus call` output} the fast path read
    before the lock, which quick.handed_over() vouches is still the newest look (one spawn fewer).
    """

    def __init__(self, state_dir: str | None = None, handed: dict | None = None) -> None:
        self.cache = Cache(state_dir)
        for interface, text in (handed or {}).items():
            from ddns_agent import netifd

            try:
                self.cache.put(("netifd", interface), netifd.decode(text, interface))
            except DdnsError:  # malformed: the cycle reads it itself and says why
                pass

    def observe(self, record):
        """The record's Selection (address or reason); [(source, Selection)] for a record set."""
        return observe(record, None, self.cache)

    def fingerprint(self, interface: str) -> str | None:
        """The netifd fingerprint of `interface` (see netifd.fingerprint), None when unreadable."""
        from ddns_agent import netifd

        try:
            status = self.cache.get(("netifd", interface), lambda: netifd.status(interface))
        except SourceError:
            return None
        return netifd.fingerprint(status)

    def device_fingerprint(self, device: str) -> str | None:
        """quick.device_fingerprint of `device` from this cycle's netlink read, None when unreadable."""
        from ddns_agent import netlink, quick

        try:
            up, found = self.cache.get(("netlink", device),
                                       lambda: (netlink.is_up(device), netlink.addresses(device)))
        except SourceError:
            return None
        return quick.device_fingerprint(up, [(c.address.packed, c.preferred, c.deprecated,
                                              c.temporary, c.tentative) for c in found])
