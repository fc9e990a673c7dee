"""`ddns-agent watch`: stay resident and run an update cycle on every address event.

On OpenWrt it reads `ubus subscribe network.interface` (interface.update / interface.down carry
every address and prefix change, ifupdate included); on plain Linux, rtnetlink address events.
Events are only hints: each cycle re-reads the addresses (netifd merges events).

Leading-edge debounce: the first event of a burst starts a cycle at once. Only the messages of
that one change are read with it (the kernel sends DELADDR, NEWADDR and link messages within a
millisecond; we stop at the first SETTLE_S gap). Whatever arrives during that cycle, or within
QUIET_S of the last event, is coalesced into one trailing cycle that re-reads every address, so
the last address always wins; a cycle that finds nothing changed sends nothing. The next event
QUIET_S or more after the last leads again. A burst that never goes quiet still gets a cycle every
BURST_CAP_S. Bound: a burst whose events are less than
QUIET_S apart, spanning T seconds, runs at most 1 + ceil(T / BURST_CAP_S) cycles, and each cycle
costs a record one request only if its address differs from the one it last published.
"""

from __future__ import annotations

import os
import select
import shutil
import signal

from ddns_agent import jsonlib, sources, state

SETTLE_S = 0.005        # one change is several messages (DELADDR, NEWADDR, link) within ~1 ms:
SETTLE_CAP_S = 0.02     # read them as one event, for at most this long, before the first cycle
QUIET_S = 0.3           # an event this close after the last one (or a cycle) joins its burst
BURST_CAP_S = 5.0       # but a link that never stops flapping still gets a cycle this often
IDLE_S = 3600.0         # wake at least this often to honour force_interval
RESUBSCRIBE_FIRST_S = 1.0   # after `ubus subscribe` ends (ubusd restarted): wait, doubled per
RESUBSCRIBE_CAP_S = 60.0    # quick failure up to this; a subscription that lasted resets it
LINE_LIMIT = 1 << 20    # bytes; ubusd's own message limit (UBUS_MAX_MSGLEN) is 1 MiB
STALE_CHECK_S = 60.0    # how often to look (one stat) whether ubusd was restarted under us


def _ready(src, timeout: float) -> bool:
    """True when `src` has something to read within `timeout` s."""
    return bool(select.select([src], [], [], max(0.0, timeout))[0])


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


def _socket_id() -> tuple | None:
    """Which ubusd socket exists now, and its inode: a restarted ubusd makes a new one."""
    from ddns_agent.netifd import SOCKETS

    for path in SOCKETS:
        try:
            st = os.stat(path)
        except OSError:
            continue
        return path, st.st_dev, st.st_ino
    return None


class _UbusSource:
    """A `ubus subscribe network.interface` child process; its stdout lines are events."""

    def __init__(self, ubus: str) -> None:
        import subprocess

        self.socket = _socket_id()
        self.proc = subprocess.Popen([ubus, "subscribe", "network.interface"],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self._buf = b""

    def fileno(self) -> int:
        return self.proc.stdout.fileno()

    def wait(self, timeout: float) -> bool:
        """True when a line (or the end) is there to read within `timeout` s."""
        return _ready(self, timeout)

    def read(self) -> set:
        chunk = os.read(self.fileno(), 65536)
        if not chunk:
            raise EOFError("ubus subscribe network.interface ended (exit status %s)" % self.close())
        self._buf += chunk
        *lines, self._buf = self._buf.split(b"\n")
        names = {_ubus_events(line) if len(line) <= LINE_LIMIT else "*"
                 for line in lines if line.strip()}
        names.discard(None)
        if len(self._buf) > LINE_LIMIT:  # no notification is that long: drop it, re-read every record
            self._buf = b""
            names.add("*")
        return names

    def is_stale(self) -> bool:
        """True when ubusd was restarted since: 22.03's `ubus subscribe` then lives on, deaf."""
        return _socket_id() != self.socket

    def close(self):
        """Stop the child; its exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(5)
        self.proc.stdout.close()
        return code


class _NetlinkSource:
    """rtnetlink address and link events for plain Linux."""

    def __init__(self) -> None:
        from ddns_agent.netlink import Watcher

        self.w = Watcher()

    def fileno(self) -> int:
        return self.w.fileno()

    def wait(self, timeout: float) -> bool:
        """True when a notification is there to read within `timeout` s."""
        return _ready(self, timeout)

    def read(self) -> set:
        return {"*"} if self.w.read(0) else set()

    def is_stale(self) -> bool:
        """Never: the kernel does not restart."""
        return False

    def close(self) -> None:
        self.w.close()


def _open_source(agent):
    ubus = shutil.which("ubus")
    if ubus and any(sources.interfaces_of(r) for r in agent.cfg.records):
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


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt()  # unwinds through run()'s finally, as Ctrl-C does


class _Resubscriber:
    """Opens the event source again after it ended, waiting longer after each quick failure."""

    def __init__(self, agent) -> None:
        self.agent = agent
        self.delay = RESUBSCRIBE_FIRST_S
        self.opened = agent.clock()

    def reopen(self, why: str):
        """A new source, after a back-off; logs why and when."""
        if self.agent.clock() - self.opened >= RESUBSCRIBE_CAP_S:
            self.delay = RESUBSCRIBE_FIRST_S  # it lasted: this is not a failure loop
        while True:
            self.agent.log.warning("%s; subscribing again in %g s" % (why, self.delay))
            self.agent.sleep(self.delay)
            self.delay = min(RESUBSCRIBE_CAP_S, self.delay * 2)
            self.opened = self.agent.clock()
            try:
                return _open_source(self.agent)
            except OSError as e:
                why = "cannot start ubus subscribe: %s" % (e.strerror or e)


class _Loop:
    """The event source, the cycles it starts, and the bursts they coalesce."""

    def __init__(self, agent) -> None:
        self.agent = agent
        self.src = _open_source(agent)
        self.again = _Resubscriber(agent)

    def _read(self) -> set:
        """Everything queued now; {"*"} after the source ended and was opened again."""
        try:
            return self.src.read()
        except EOFError as e:
            self.src = None  # killed while waiting to subscribe again: nothing to close
            self.src = self.again.reopen(str(e))
            return {"*"}

    def _gather(self, changed: set, gap: float, cap: float) -> bool:
        """Add to `changed` what arrives until a `gap` without events (False) or `cap` s in all
        (True); stops at once after the source was opened again (catch up now)."""
        src = self.src
        end = self.agent.clock() + cap
        while src is self.src:
            left = end - self.agent.clock()
            if left <= 0:
                return True
            if not src.wait(min(gap, left)):
                return self.agent.clock() >= end
            changed |= self._read()
        return False

    def first(self) -> tuple:
        """Wait for the first event of a burst or a due re-check: (names, event?).

        The event is what is queued and the rest of its change (up to a SETTLE_S gap), no more.
        Empty names: only the ubusd stale check woke us, no cycle.
        """
        agent = self.agent
        now = agent.clock()
        due = min(_next_deadline(agent, now), now + IDLE_S)
        # at least a second: a due time in the past must not spin the loop
        if self.src.wait(max(1.0, min(due - now, STALE_CHECK_S))):
            src = self.src
            changed = self._read()
            if src is self.src:  # not opened again meanwhile: read the rest of this change
                self._gather(changed, SETTLE_S, SETTLE_CAP_S)
            return changed, True
        if self.src.is_stale():
            self.src.close()
            self.src = None
            self.src = self.again.reopen("ubusd was restarted; ubus subscribe hears nothing any more")
            return {"*"}, True
        return ({"*"}, False) if agent.clock() >= due else (set(), False)

    def rest(self) -> tuple:
        """What arrived during the last cycle or follows less than QUIET_S after it or after each
        other: (names, True when BURST_CAP_S ended it while events still came)."""
        changed: set = set()
        capped = self._gather(changed, QUIET_S, BURST_CAP_S)
        return changed, capped

    def cycle(self, changed: set, event: bool) -> int:
        """One update for the interface named, or every record (a timer, several, netlink)."""
        name = next(iter(changed)) if len(changed) == 1 and "*" not in changed else None
        return self.agent.update(name, event=event)

    def close(self) -> None:
        """End the source (the `ubus subscribe` child)."""
        if self.src is not None:  # None: killed while waiting to subscribe again
            self.src.close()


def run(agent, max_cycles: int | None = None) -> int:
    """Loop until killed (or `max_cycles` cycles, for tests); returns the last cycle's exit code.

    When the event source ends (`ubus subscribe` exits as ubusd restarts), it is opened again
    with a bounded back-off, and every record is re-read: events may have been missed meanwhile.
    Cycles started by events respect a failing record's back-off; a due re-check does not.
    """
    signal.signal(signal.SIGTERM, _stop)  # procd's stop: end the `ubus subscribe` child too
    loop = _Loop(agent)
    try:
        rc = agent.update(None)
        cycles = 1
        burst = False  # True after an event's cycle: what follows within QUIET_S is coalesced
        while max_cycles is None or cycles < max_cycles:
            if burst:  # after quiet, the trailing cycle ends the burst: the next event leads
                (changed, burst), event = loop.rest(), True
            else:
                changed, event = loop.first()
                burst = event
            if changed:
                rc = loop.cycle(changed, event)
                cycles += 1
    finally:
        loop.close()
    return rc
