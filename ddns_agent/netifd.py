"""Source: read `ubus call network.interface.<name> status` from netifd, and nothing else.

Every key other than up/pending/available/autostart/dynamic/proto/device/data/errors is absent
while an interface is down (specs/openwrt.md §1.1), so every address key is treated as optional.
"""

from __future__ import annotations

from ddns_agent.addresses import Candidate
from ddns_agent.errors import SourceError

NOT_FOUND = 4         # ubus status code UBUS_STATUS_NOT_FOUND (ubusmsg.h)
OUTPUT_LIMIT = 1 << 20  # bytes; ubusd's own message limit (UBUS_MAX_MSGLEN) is 1 MiB
# ubusd's socket since 22.03, then the one before (specs/openwrt.md §1.4). python3-ubus 0.1.1 (the
# 22.03 feed) still defaults to the old path in connect(), so the path is always passed.
SOCKETS = ("/var/run/ubus/ubus.sock", "/var/run/ubus.sock")
RETRY_PAUSE = 0.2     # s; dynamic interfaces (wan_6) get their ubus object after the ifup event
# ubus exit status = ubus status code (ubus cli.c main; libubus.c __ubus_strerror).
_UBUS_STATUS = {
    1: "Invalid command", 2: "Invalid argument", 3: "Method not found", 4: "Not found",
    5: "No response", 6: "Permission denied", 7: "Request timed out", 8: "Operation not supported",
    9: "Unknown error", 10: "Connection failed", 11: "Out of memory", 12: "Parsing message data failed",
    13: "System error", 255: "Failed to connect to ubus",
}


class _NotFound(Exception):
    pass


def _connect(ubus) -> str | None:
    """Connect python3-ubus to the first socket in SOCKETS that answers; None, or why none did."""
    if ubus.get_connected():
        return None
    why = ""
    for path in SOCKETS:
        try:
            ubus.connect(path)
            return None
        except (OSError, RuntimeError) as e:
            why = str(e).strip() or e.__class__.__name__
    return why


def _disconnect(ubus) -> None:
    try:
        if ubus.get_connected():
            ubus.disconnect()
    except (OSError, RuntimeError):
        pass


def _via_binding(ubus, obj: str, timeout: float) -> str | dict:
    try:
        replies = ubus.call(obj, "status", {}, timeout=max(1, int(timeout * 1000)))
    except RuntimeError as e:
        # After ubusd restarts, this connection is dead and every object "not found" (seen on
        # 22.03 with `watch`): connect afresh on the next read; the not-found retry does that.
        _disconnect(ubus)
        # python-ubus raises RuntimeError("Object '...' was not found.") for an unknown object.
        if "not found" in str(e).lower():
            raise _NotFound()
        raise SourceError("ubus call %s status failed: %s" % (obj, str(e).strip()))
    except OSError as e:
        raise SourceError("cannot connect to ubus: %s" % (str(e).strip() or e.__class__.__name__))
    if not replies:
        raise SourceError("ubus call %s status returned no data" % obj)
    return replies[0]


def _via_command(path: str, obj: str, timeout: float) -> str:
    from ddns_agent import spawn

    try:
        code, out, err = spawn.run([path, "-S", "call", obj, "status"], timeout, OUTPUT_LIMIT)
    except spawn.Timeout:
        raise SourceError("ubus call %s status timed out after %g s" % (obj, timeout))
    except spawn.TooLarge:
        raise SourceError("ubus call %s status printed more than %d KiB; not reading it"
                          % (obj, OUTPUT_LIMIT >> 10))
    except OSError as e:
        raise SourceError("cannot run %s: %s" % (path, e.strerror or e))
    if code == NOT_FOUND:
        raise _NotFound()
    if code != 0:
        detail = err.decode("utf-8", "replace").strip().splitlines()
        text = detail[-1] if detail else _UBUS_STATUS.get(code, "exit %d" % code)
        if code in (10, 255):  # UBUS_STATUS_CONNECTION_FAILED, or the CLI could not connect at all
            raise SourceError("cannot connect to ubus (is ubusd running?): %s" % text)
        raise SourceError("ubus call %s status failed: %s" % (obj, text))
    return out.decode("utf-8", "replace")


def _reader(timeout: float):
    try:
        import ubus  # python3-ubus (CZ.NIC): optional, saves a fork per call
    except ImportError:
        ubus = None
    why = None
    if ubus is not None:
        why = _connect(ubus)
        if why is None:
            return lambda obj: _via_binding(ubus, obj, timeout)
    from ddns_agent.spawn import which

    # a binding that cannot connect is no answer: the ubus command may still reach ubusd
    path = which("ubus")
    if path is None and why is not None:
        raise SourceError("cannot connect to ubus (tried %s): %s" % (", ".join(SOCKETS), why))
    if path is None:
        raise SourceError("cannot read netifd: neither the python3-ubus module nor the ubus command "
                          "was found (on plain Linux use option device and the netlink source)")
    return lambda obj: _via_command(path, obj, timeout)


def status(interface: str, timeout: float = 5.0) -> dict:
    """The netifd status object of `interface`; SourceError when it cannot be read."""
    obj = "network.interface." + interface
    for attempt in (0, 1):
        try:
            raw = _reader(timeout)(obj)
            break
        except _NotFound:
            if attempt:
                raise SourceError("interface %s does not exist in netifd (ubus: Not found)" % interface)
            import time

            time.sleep(RETRY_PAUSE)
    return decode(raw, interface)


def decode(raw, interface: str) -> dict:
    """The status object from what ubus printed (text) or the binding returned (dict)."""
    obj = "network.interface." + interface
    if isinstance(raw, (str, bytes)):
        from ddns_agent.jsonlib import loads

        try:
            raw = loads(raw)
        except ValueError as e:
            raise SourceError("ubus call %s status returned malformed JSON: %s" % (obj, e))
    if not isinstance(raw, dict):
        raise SourceError("ubus call %s status returned %s, not an object" % (obj, type(raw).__name__))
    return raw


def is_up(status: dict) -> bool:
    """True when netifd reports the interface up (addresses are only listed then)."""
    return status.get("up") is True


def down_reason(status: dict, interface: str) -> str:
    """"wan is down", with what netifd says about why when it says anything."""
    codes = [e.get("code") for e in _entries(status, "errors") if e.get("code")]
    if codes:
        why = ", ".join(str(c) for c in codes)
    elif status.get("pending") is True:
        why = "still connecting"
    elif status.get("available") is False:
        why = "its device is missing"
    else:
        return "%s is down" % interface
    return "%s is down (%s)" % (interface, why)


def _entries(status: dict, key: str) -> list:
    value = status.get(key)
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def _lifetime(entry: dict) -> int | None:
    value = entry.get("preferred")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _address(text, family: int, interface: str, key: str):
    import ipaddress

    try:
        address = ipaddress.ip_address(text) if isinstance(text, str) else None
    except ValueError:
        address = None
    if address is None or address.version != family:
        raise SourceError("netifd %s: %s %r is not an IPv%d address" % (interface, key, text, family))
    return address


def _network(entry: dict, interface: str, key: str):
    import ipaddress

    address = _address(entry.get("address"), 6, interface, key)
    try:
        return ipaddress.IPv6Network("%s/%s" % (address, entry.get("mask")), strict=False)
    except ValueError:
        raise SourceError("netifd %s: %s %s has no valid mask (%r)" % (
            interface, key, address, entry.get("mask")))


def candidates(status: dict, family: int, interface: str) -> list:
    """The interface's own addresses of `family` (ipv4-address or ipv6-address), in netifd's order.

    netifd has no temporary flag; deprecated means `preferred` == 0. SourceError on an entry that
    is not an address (e.g. a redacted "<hidden>").
    """
    key = "ipv4-address" if family == 4 else "ipv6-address"
    origin = "netifd " + interface
    found = []
    for entry in _entries(status, key):
        preferred = _lifetime(entry)
        found.append(Candidate(_address(entry.get("address"), family, interface, key), origin,
                               preferred, deprecated=preferred == 0))
    return found


def _by_lifetime(entries: list) -> list:
    # Longest preferred lifetime first (None = no lifetime = forever), stable for ties: while an
    # old and a new delegated prefix are both listed, the new one (longer lifetime) comes first.
    def key(entry: dict) -> int:
        value = _lifetime(entry)
        return -(1 << 62) if value is None else -value
    return sorted(entries, key=key)


def suffix_candidates(status: dict, suffix: str, interface: str) -> list:
    """Addresses made of each prefix assigned to `interface` (lan side) and `suffix`.

    Uses `ipv6-prefix-assignment`; when there is none, the interface's own delegated prefixes
    (`ipv6-prefix`, wan6 side). Ordered by longest preferred lifetime. ValueError on a bad suffix.
    """
    from ddns_agent.addresses import join_suffix

    key = "ipv6-prefix-assignment"
    entries = _entries(status, key)
    if not entries:
        key = "ipv6-prefix"
        entries = _entries(status, key)
    origin = "netifd %s %s" % (interface, key)
    found = []
    for entry in _by_lifetime(entries):
        preferred = _lifetime(entry)
        found.append(Candidate(join_suffix(_network(entry, interface, key), suffix), origin,
                               preferred, deprecated=preferred == 0))
    return found


def local_candidates(status: dict, interface: str) -> list:
    """The router's own address in each prefix assigned to `interface` (`local-address`).

    This is where a PD-only line puts the router's global address: lan's `ipv6-address` is usually
    empty. The assignment's lifetimes apply; ordered by longest preferred lifetime.
    """
    key = "ipv6-prefix-assignment"
    origin = "netifd %s local-address" % interface
    found = []
    for entry in _by_lifetime(_entries(status, key)):
        local = entry.get("local-address")
        if not isinstance(local, dict) or "address" not in local:
            continue  # `{}` while the assignment is not enabled on the interface
        preferred = _lifetime(entry)
        found.append(Candidate(_address(local["address"], 6, interface, key + ".local-address"),
                               origin, preferred, deprecated=preferred == 0))
    return found


def has_prefix_assignment(status: dict) -> bool:
    """True when netifd assigned a delegated (or ULA) prefix to this interface."""
    return bool(_entries(status, "ipv6-prefix-assignment"))


def _collect(value, out: set) -> None:
    todo = [value]  # a loop, not recursion: deep nesting must not end in RecursionError
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "address" and isinstance(item, str):
                    out.add(item)
                else:
                    todo.append(item)
        elif isinstance(value, list):
            todo.extend(value)


def fingerprint(status) -> str:
    """Every "address" value anywhere in `status`, sorted and unique, one per line.

    Equals, on `ubus call` output, what the hotplug script computes without Python:
    sed -n 's/^[[:space:]]*"address": "\\([^"]*\\)",\\{0,1\\}$/\\1/p' | LC_ALL=C sort -u
    Lifetimes are left out on purpose: a DHCPv6 renew that only refreshes them changes nothing.
    """
    found: set = set()
    _collect(status, found)
    # sort -u in the C locale compares bytes; UTF-8 byte order equals code point order.
    return "".join(line + "\n" for line in sorted(found))
