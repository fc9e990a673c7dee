"""The no-change fast path: answer `update` from a summary in tmpfs, before config or json load.

DHCPv6 renewals and periodic runs call `ddns-agent update` far more often than an address changes,
so that run must cost little more than the interpreter itself (bench: no-change vs `python3 -c
pass`). After a cycle in which every record is right and every record reads netifd, the agent
leaves `state_dir/quick`:

    quick 1
    config <path> <mtime_ns> <size> <inode>
    next <unix time of the next due re-check, 0 for none>
    if <interface>            (one line per netifd interface the records use)
    dev <device> <fingerprint>  (one line per device the records read over netlink)
    file <path> <mtime_ns> <size> <inode>   (each <secret>_file and cacert the config reads)

A later `update` exits 0 at once when the config file is the same, no re-check is due, every
interface's addresses (read exactly as the hotplug script reads them) equal `fp/<interface>`, and
every device's netlink dump gives the same `device_fingerprint`. Anything unexpected (no summary,
an upstream record, -v, --force, ubus missing or slow, netlink refused) falls through to the full
cycle, which decides. This module imports only `os`, `sys`, `time` and `_signal` (loaded at every
interpreter start) and `_socket` for the netlink read below: no annotations from `__future__`, no
spawn.py, `select` or `_struct`. Each module found and loaded costs ~0.3 M instructions or more
(callgrind), against ~36 M for the interpreter's start: the whole run is ~1.1x that.
"""

import os
import sys
import time

NAME = "quick"
DEFAULT_CONFIG = "/etc/config/ddns_agent"
DEFAULT_STATE_DIR = "/var/run/ddns_agent"
UBUS_TIMEOUT_S = 2
UBUS_LIMIT = 1 << 20  # bytes of `ubus call` output read at most


class Args:
    """The few arguments of `[--config F] [--state-dir D] update [--interface I]`."""

    __slots__ = ("config", "state_dir", "interface", "seen")

    def __init__(self) -> None:
        self.config = None
        self.state_dir = None
        self.interface = None
        self.seen = None  # what unchanged() read, for the full cycle: see handed_over()


def parse(argv: list) -> "Args | None":
    """Args for a plain `update` (no -v, no --force); None for anything else (argparse decides)."""
    a = Args()
    seen_update = False
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in ("--config", "-c", "--state-dir", "--interface", "-i") and i + 1 < len(argv):
            value = argv[i + 1]
            if word in ("--config", "-c") and not seen_update:
                a.config = value
            elif word == "--state-dir" and not seen_update:
                a.state_dir = value
            elif word in ("--interface", "-i") and seen_update:
                a.interface = value
            else:
                return None
            i += 2
            continue
        if word == "update" and not seen_update:
            seen_update = True
            i += 1
            continue
        return None
    return a if seen_update else None


def _config_id(path: str) -> str:
    st = os.stat(path)
    return "%s %d %d %d" % (path, st.st_mtime_ns, st.st_size, st.st_ino)


def write(state_dir: str, config_path: str, next_check: "float | None", interfaces: list,
          files: tuple = (), devices: "dict | None" = None) -> None:
    """Leave the summary for the next run (the agent calls this after an all-right cycle).

    `devices`: device name -> its device_fingerprint from the cycle's own netlink read.
    """
    lines = ["quick 1", "config " + _config_id(os.path.abspath(config_path)),
             "next %d" % (next_check or 0)] + ["if " + i for i in sorted(interfaces)]
    lines += ["dev %s %s" % (d, fp) for d, fp in sorted((devices or {}).items())]
    lines += ["file " + _config_id(os.path.abspath(f)) for f in files]
    from ddns_agent.state import write_atomic  # the full cycle only: state is loaded already

    write_atomic(os.path.join(state_dir, NAME), "\n".join(lines) + "\n")


def sources_of(records: list, interface: "str | None") -> "tuple | None":
    """(netifd interfaces, netlink devices) the records read; None when this path cannot check them.

    A device's fingerprint is the one read in the cycle that writes the summary, so only a cycle
    over every record (no --interface) may vouch for devices.
    """
    interfaces, devices = set(), set()
    for r in records:
        names = set(r.source or ("auto",))
        if not names <= {"auto", "netifd", "netlink"}:
            return None
        for kind, name in getattr(r, "members", ()) or _single(r, names):
            if kind == "device" and interface not in (None, "*") or not name:
                return None
            (devices if kind == "device" else interfaces).add(name)
    return interfaces, devices


def _single(r, names: set) -> list:
    """The sources of a one-address record as a set's members: [(kind, name)]."""
    netifd = "netifd" in names or ("auto" in names and r.interface)
    netlink = "netlink" in names or ("auto" in names and not r.interface)
    out = [("interface", r.interface)] if netifd else []
    return out + [("device", r.device)] if netlink else out


def clear(state_dir: str) -> None:
    """Remove the summary: the next run takes the full cycle."""
    try:
        os.unlink(os.path.join(state_dir, NAME))
    except OSError:
        pass


def _expire(signum, frame) -> None:
    raise TimeoutError()  # nothing else in the read raises it: os.read on a pipe never times out


def _ubus_status(interface: str) -> "bytes | None":
    """`ubus call network.interface.<i> status` as printed (tab-indented); None on any trouble.

    posix_spawnp searches PATH, and SIGALRM bounds the read: no spawn.py or `select` to load. Only
    at the start of a run (cli.main): the main thread, no other timer set.
    """
    import _signal

    r, w = os.pipe()
    try:
        pid = os.posix_spawnp("ubus", ["ubus", "call", "network.interface." + interface, "status"],
                              os.environ, file_actions=[
                                  (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                                  (os.POSIX_SPAWN_DUP2, w, 1),
                                  (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    except OSError:
        os.close(r)
        return None
    finally:
        os.close(w)
    old = _signal.signal(_signal.SIGALRM, _expire)
    chunks, size, status = [], 0, None
    try:
        _signal.setitimer(_signal.ITIMER_REAL, UBUS_TIMEOUT_S)
        while size <= UBUS_LIMIT:
            data = os.read(r, 65536)
            if not data:
                status = os.waitpid(pid, 0)[1]
                break
            chunks.append(data)
            size += len(data)
        _signal.setitimer(_signal.ITIMER_REAL, 0)
    except TimeoutError:
        pass
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _signal.signal(_signal.SIGALRM, old)
        os.close(r)
    if status is None:  # too slow or too much: no answer
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        return None
    return b"".join(chunks) if status == 0 else None


def fingerprint(text: bytes) -> str:
    """What the hotplug script's sed | sort -u prints, from `ubus call` output."""
    found = set()
    for line in text.decode("utf-8", "replace").split("\n"):
        s = line.lstrip(" \t")
        if s.startswith('"address": "'):
            value = s[12:]
            if value.endswith(","):
                value = value[:-1]
            if value.endswith('"') and '"' not in value[:-1]:
                found.add(value[:-1])
    return "".join(v + "\n" for v in sorted(found))


def unchanged(args: Args) -> bool:
    """True when a full `update` would change nothing (see the module docstring)."""
    state_dir = args.state_dir or DEFAULT_STATE_DIR
    try:
        with open(os.path.join(state_dir, NAME)) as f:
            mark = _identity(os.fstat(f.fileno()))
            lines = f.read().split("\n")
        if lines[0] != "quick 1" or not lines[1].startswith("config "):
            return False
        if lines[1][7:] != _config_id(os.path.abspath(args.config or DEFAULT_CONFIG)):
            return False
        due = int(lines[2][5:])
        interfaces = [ln[3:] for ln in lines[3:] if ln.startswith("if ")]
        for ln in lines[3:]:  # a replaced token file or CA changes the config as much as an edit
            if ln.startswith("file ") and ln[5:] != _config_id(ln[5:].rsplit(" ", 3)[0]):
                return False
    except (OSError, IndexError, ValueError):
        return False
    if due and time.time() >= due:
        return False
    devices = dict(ln[4:].split(" ", 1) for ln in lines[3:] if ln.startswith("dev "))
    if args.interface is not None:
        if args.interface in devices:
            devices, interfaces = {args.interface: devices[args.interface]}, []
        else:
            # fp/<interface> exists only while every record served by it is right
            interfaces, devices = [args.interface], {}
    if not interfaces and not devices:
        return False
    for device, known in devices.items():
        if _read_device(device) != known:
            return False
    if not interfaces:
        return True
    for iface in interfaces:
        try:
            with open(os.path.join(state_dir, "fp", iface)) as f:
                known = f.read()
        except OSError:
            return False
        text = _ubus_status(iface)
        if text is None:
            return False
        if fingerprint(text) != known:
            args.seen = (mark, iface, text)
            return False
    return True


def _identity(st) -> tuple:
    return st.st_ino, st.st_mtime_ns, st.st_size


def handed_over(state_dir: str, seen: "tuple | None") -> dict:
    """{interface: `ubus call` output} that unchanged() read and the cycle may use instead of reading.

    Called under the state lock. Every run that publishes first removes the summary (agent._intend),
    and every cycle that ends right rewrites it, so a summary still the one unchanged() read means
    no run has published or looked since that read: it is the newest look, and a run that read
    later waits for this one and reads again. Anything else: {} (read again, the last address wins).
    """
    if seen is None:
        return {}
    try:
        if _identity(os.stat(os.path.join(state_dir, NAME))) != seen[0]:
            return {}
    except OSError:
        return {}
    return {seen[1]: seen[2]}


# -- netlink devices: one RTM_GETLINK and one RTM_GETADDR dump, without socket/_struct/ipaddress ---

NETLINK_TIMEOUT_S = 2
_ORDER = sys.byteorder
_IFA_F_SECONDARY, _IFA_F_DADFAILED, _IFA_F_DEPRECATED, _IFA_F_TENTATIVE = 0x01, 0x08, 0x20, 0x40


def device_fingerprint(up: bool, entries: list) -> str:
    """One token from what decides a device's selection (sources._from_netlink, addresses.select).

    `entries` in kernel order: (packed address bytes, preferred lifetime or None, deprecated,
    temporary, tentative). Lifetimes count down every second, so only the order they rank the
    addresses in is kept: with the same addresses, flags and order, select() picks the same one.
    """
    ranked = sorted(range(len(entries)), key=lambda i: (
        entries[i][1] is not None, -(entries[i][1] or 0), i))
    return ("up" if up else "down") + "".join(
        ",%s:%d%d%d" % (entries[i][0].hex(), *(bool(f) for f in entries[i][2:])) for i in ranked)


def _u(data: bytes, offset: int, size: int) -> int:
    """An unsigned native-endian field (netlink's byte order), without loading _struct."""
    return int.from_bytes(data[offset:offset + size], _ORDER)


def _dump(sock, kind: int, flags: int, body: bytes) -> "list | None":
    """(type, body) replies to one request; None when the dump was interrupted or refused."""
    o = _ORDER  # nlmsghdr: length, type, flags, seq 1, pid 0
    sock.send((16 + len(body)).to_bytes(4, o) + kind.to_bytes(2, o) + (1 | flags).to_bytes(2, o)
              + (1).to_bytes(4, o) + bytes(4) + body)
    replies = []
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + 16 <= len(data):
            length, rkind, rflags, seq = (_u(data, offset, 4), _u(data, offset + 4, 2),
                                          _u(data, offset + 6, 2), _u(data, offset + 8, 4))
            if length < 16:
                return None
            if seq == 1:
                if rkind == 3 or (rkind == 2 and data[offset + 16:offset + 20] == bytes(4)):
                    return replies  # NLMSG_DONE, or NLMSG_ERROR with errno 0
                if rkind == 2 or rflags & 0x10:  # an error, or NLM_F_DUMP_INTR
                    return None
                replies.append((rkind, data[offset + 16:offset + length]))
                if not rflags & 2:  # not NLM_F_MULTI: the single answer
                    return replies
            offset += (length + 3) & ~3


def _read_device(device: str) -> "str | None":
    """device_fingerprint of `device` as the kernel holds it now; None on any trouble."""
    import _socket

    try:
        index = _socket.if_nametoindex(device)
        sock = _socket.socket(16, 3 | getattr(_socket, "SOCK_CLOEXEC", 0), 0)  # AF_NETLINK, SOCK_RAW
    except (OSError, ValueError):
        return None
    try:
        sock.settimeout(NETLINK_TIMEOUT_S)
        sock.bind((0, 0))
        links = _dump(sock, 18, 0, bytes(4) + index.to_bytes(4, _ORDER) + bytes(8))  # RTM_GETLINK
        addrs = _dump(sock, 22, 0x300, bytes(8))  # RTM_GETADDR dump, AF_UNSPEC
    except OSError:
        return None
    finally:
        sock.close()
    if not links or addrs is None:
        return None
    flags = _u(links[0][1], 8, 4)  # ifinfomsg.ifi_flags
    entries = []
    for kind, body in addrs:
        if kind != 20 or len(body) < 8:  # RTM_NEWADDR
            continue
        family, aflags, ifindex = body[0], body[2], _u(body, 4, 4)  # ifaddrmsg
        if ifindex != index or family not in (2, 10):
            continue
        attrs, offset = {}, 8
        while offset + 4 <= len(body):
            alen, atype = _u(body, offset, 2), _u(body, offset + 2, 2)
            if alen < 4:
                break
            attrs[atype & 0x3FFF] = body[offset + 4:offset + alen]
            offset += (alen + 3) & ~3
        if 8 in attrs:  # IFA_FLAGS
            aflags = _u(attrs[8], 0, 4)
        raw = attrs.get(2) or attrs.get(1)  # IFA_LOCAL, else IFA_ADDRESS
        if aflags & _IFA_F_DADFAILED or raw is None:
            continue
        preferred = None
        if 6 in attrs:  # IFA_CACHEINFO
            value = _u(attrs[6], 0, 4)
            preferred = None if value == 0xFFFFFFFF else value
        entries.append((raw[:4] if family == 2 else raw[:16], preferred,
                        aflags & _IFA_F_DEPRECATED or preferred == 0,
                        family == 10 and aflags & _IFA_F_SECONDARY, aflags & _IFA_F_TENTATIVE))
    return device_fingerprint(flags & 0x41 == 0x41, entries)  # IFF_UP and IFF_RUNNING
