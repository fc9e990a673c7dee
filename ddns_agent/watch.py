"""`ddns-agent watch`: stay resident and run an update cycle on every address event.

On OpenWrt it reads `ubus subscribe network.interface` (interface.update / interface.down carry
every address and prefix change, ifupdate included); on plain Linux, rtnetlink address events.
Events are only hints: each cycle re-reads the addresses (netifd merges events).
"""

from __future__ import annotations

import os
import select
import shutil

from ddns_agent import jsonlib, state

DEBOUNCE_S = 0.3        # let a burst of events settle into one cycle
BURST_CAP_S = 5.0       # but a link that never stops flapping still gets a cycle this often
IDLE_S = 3600.0         # wake at least this often to honour force_interval


def _ubus_events(line: bytes) -> str | None:
    """The interface named by one `ubus subscribe` line, or None."""
    try:
        msg = jsonlib.loads(line)
    except ValueError:
        return None
    if not isinstance(msg, dict):
        return None
    for body in msg.values():
        if isinstance(body, dict) and isinstance(body.get("interface"), str):
            return body["interface"]
    return None


class _UbusSource:
    """A `ubus subscribe network.interface` child process; its stdout lines are events."""

    def __init__(self, ubus: str) -> None:
        import subprocess

        self.proc = subprocess.Popen([ubus, "subscribe", "network.interface"],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self._buf = b""

    def fileno(self) -> int:
        return self.proc.stdout.fileno()

    def read(self) -> set:
        chunk = os.read(self.fileno(), 65536)
        if not chunk:
            raise EOFError("ubus subscribe ended")
        self._buf += chunk
        *lines, self._buf = self._buf.split(b"\n")
        names = {_ubus_events(line) for line in lines if line.strip()}
        names.discard(None)
        return names

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


class _NetlinkSource:
    """rtnetlink address and link events for plain Linux."""

    def __init__(self) -> None:
        from ddns_agent.netlink import Watcher

        self.w = Watcher()

    def fileno(self) -> int:
        return self.w.fileno()

    def read(self) -> set:
        return {"*"} if self.w.read(0) else set()

    def close(self) -> None:
        self.w.close()


def _open_source(agent):
    ubus = shutil.which("ubus")
    if ubus and any(r.interface for r in agent.cfg.records):
        agent.log.info("watching netifd (ubus subscribe network.interface)")
        return _UbusSource(ubus)
    agent.log.info("watching kernel address events (rtnetlink)")
    return _NetlinkSource()


def _next_deadline(agent, now: float) -> float:
    try:
        with open(os.path.join(agent.state_dir, state.NEXT_CHECK_FILE)) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return now + IDLE_S


def run(agent, max_cycles: int | None = None) -> int:
    """Loop until killed (or `max_cycles` cycles, for tests); returns the last cycle's exit code."""
    src = _open_source(agent)
    rc = agent.update(None)
    cycles = 1
    try:
        while max_cycles is None or cycles < max_cycles:
            now = agent.clock()
            # at least a second: a due time in the past must not spin the loop
            wait = max(1.0, min(_next_deadline(agent, now), now + IDLE_S) - now)
            ready, _, _ = select.select([src], [], [], wait)
            changed: set = set()
            burst_end = agent.clock() + BURST_CAP_S
            while ready:  # drain the burst, then run one cycle for it
                changed |= src.read()
                left = burst_end - agent.clock()
                if left <= 0:
                    break
                ready, _, _ = select.select([src], [], [], min(DEBOUNCE_S, left))
            if len(changed) == 1 and "*" not in changed:
                rc = agent.update(changed.pop())
            else:  # a timer, several interfaces or a netlink event: every record
                rc = agent.update(None)
            cycles += 1
    finally:
        src.close()
    return rc
