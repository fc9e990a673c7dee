"""The no-change fast path: answer `update` from a summary in tmpfs, before config or json load.

DHCPv6 renewals and periodic runs call `ddns-agent update` far more often than an address changes,
so that run must cost little more than the interpreter itself (bench: no-change vs `python3 -c
pass`). After a cycle in which every record is right and every record reads netifd, the agent
leaves `state_dir/quick`:

    quick 1
    config <path> <mtime_ns> <size> <inode>
    next <unix time of the next due re-check, 0 for none>
    if <interface>            (one line per netifd interface the records use)
    file <path> <mtime_ns> <size> <inode>   (each <secret>_file and cacert the config reads)

A later `update` exits 0 at once when the config file is the same, no re-check is due, and every
interface's addresses (read exactly as the hotplug script reads them) equal `fp/<interface>`.
Anything unexpected (no summary, a netlink or upstream record, -v, --force, ubus missing or slow)
falls through to the full cycle, which decides. This module and spawn.py import only `os`,
`select` and `time`.
"""

from __future__ import annotations

import os
import time

NAME = "quick"
DEFAULT_CONFIG = "/etc/config/ddns_agent"
DEFAULT_STATE_DIR = "/var/run/ddns_agent"
UBUS_TIMEOUT_S = 2


class Args:
    """The few arguments of `[--config F] [--state-dir D] update [--interface I]`."""

    __slots__ = ("config", "state_dir", "interface")

    def __init__(self) -> None:
        self.config = None
        self.state_dir = None
        self.interface = None


def parse(argv: list) -> Args | None:
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


def write(state_dir: str, config_path: str, next_check: float | None, interfaces: list,
          files: tuple = ()) -> None:
    """Leave the summary for the next run (the agent calls this after an all-right cycle)."""
    lines = ["quick 1", "config " + _config_id(os.path.abspath(config_path)),
             "next %d" % (next_check or 0)] + ["if " + i for i in sorted(interfaces)]
    lines += ["file " + _config_id(os.path.abspath(f)) for f in files]
    from ddns_agent.state import write_atomic  # the full cycle only: state is loaded already

    write_atomic(os.path.join(state_dir, NAME), "\n".join(lines) + "\n")


def clear(state_dir: str) -> None:
    """Remove the summary: the next run takes the full cycle."""
    try:
        os.unlink(os.path.join(state_dir, NAME))
    except OSError:
        pass


def _ubus_status(ubus: str, interface: str) -> bytes | None:
    """`ubus call network.interface.<i> status` as printed (tab-indented); None on any trouble."""
    from ddns_agent import spawn

    try:
        code, out, _ = spawn.run([ubus, "call", "network.interface." + interface, "status"],
                                 UBUS_TIMEOUT_S)
    except (OSError, spawn.Timeout, spawn.TooLarge):
        return None
    return out if code == 0 else None


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
    if args.interface is not None:
        # fp/<interface> exists only while every record served by it is right
        interfaces = [args.interface]
    if not interfaces:
        return False
    from ddns_agent.spawn import which

    ubus = which("ubus")
    if ubus is None:
        return False
    for iface in interfaces:
        try:
            with open(os.path.join(state_dir, "fp", iface)) as f:
                known = f.read()
        except OSError:
            return False
        text = _ubus_status(ubus, iface)
        if text is None:
            return False
        # not handed to the full cycle: it reads again under the lock (the last address wins)
        if fingerprint(text) != known:
            return False
    return True
