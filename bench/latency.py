"""Event to published: a kernel address change in the router namespace until BIND answers it.

Uses the end-to-end lab (tests/e2e_lab.py): `ddns-agent watch` with the rfc2136 provider in
"router", a real BIND9 in "isp". Each change is timed from just before `ip -batch` replaces wan0's
address to the first DNS answer (polled every POLL_S from inside isp) carrying the new address.

Changes are GAP_S apart, more than the watch loop's quiet time (watch.QUIET_S) after the
previous cycle, so each is the first event of its burst: published at once, no settling wait.
The last change of a burst (BURST_GAP_S after the first) is timed too: it waits for quiet.
The state directory is on tmpfs, as on a router (/var/run) or under systemd (/run).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from measure import BenchError, summary

POLL_S = 0.002
GAP_S = 1.0          # after a change is published: its trailing cycle and the quiet time pass
BURST_GAP_S = 0.05   # second change of a two-change burst
ADDRESSES = ("198.51.100.20", "203.0.113.10")
BURST_LAST = "192.0.2.33"
HOME = "home.example.test"


def _wait_answer(lab, expected: str, since: float, timeout: float) -> float:
    """Seconds from `since` until BIND answers exactly [expected] for HOME A."""
    while True:
        try:
            got = lab.answer(HOME, "A")
        except Exception:  # a lost datagram: ask again at the next poll
            got = []
        now = time.monotonic()
        if got == [expected]:
            return now - since
        if now - since > timeout:
            raise BenchError("BIND still answers %s for %s A after %.1f s (expected %s)"
                             % (got, HOME, now - since, expected))
        time.sleep(POLL_S)


def _tmpfs_dir() -> Path | None:
    """A fresh directory on tmpfs (/dev/shm), or None where there is none."""
    try:
        with open("/proc/mounts") as f:
            if not any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in f):
                return None
    except OSError:
        return None
    return Path(tempfile.mkdtemp(prefix="ddns-bench-state-", dir="/dev/shm"))


class _KernelEvents:
    """The router's IPv4 address notifications, stamped as they arrive (a netlink socket in router):
    splits each figure into `ip` starting plus the kernel, and what follows the kernel's event."""

    def __init__(self, lab) -> None:
        import socket
        import threading

        from e2e_lab import socket_in

        self.sock = socket_in(lab.router.name, socket.AF_NETLINK, socket.SOCK_RAW)
        self.sock.bind((0, 0x10))  # RTMGRP_IPV4_IFADDR
        self.sock.settimeout(0.2)
        self.times: list = []
        self._done = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-netlink")
        self._thread.start()

    def _run(self) -> None:
        import socket

        while not self._done:
            try:
                self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.times.append(time.monotonic())

    def first_after(self, t0: float, timeout: float = 5.0) -> float:
        """Seconds from `t0` to the first notification after it."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            later = [t for t in list(self.times) if t >= t0]
            if later:
                return min(later) - t0
            time.sleep(0.001)
        raise BenchError("no kernel address notification within %g s of the change" % timeout)

    def close(self) -> None:
        self._done = True
        self._thread.join(1)
        self.sock.close()


class _UpdateWire:
    """When each DNS UPDATE and its answer crossed isp0 (an AF_PACKET socket in isp): splits what
    follows the kernel event into the agent (until its UPDATE is on the wire), BIND (until the
    answer is), and the rest (the answer's way back, our poll's interval and query)."""

    def __init__(self, lab) -> None:
        import socket
        import threading

        from e2e_lab import ISP_DEV, socket_in

        self.sock = socket_in(lab.isp.name, socket.AF_PACKET, socket.SOCK_RAW)
        self.sock.bind((ISP_DEV, 0x0003))  # ETH_P_ALL
        self.sock.settimeout(0.2)
        self.seen: list = []  # (monotonic time, "update" | "answer")
        self._done = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-wire")
        self._thread.start()

    @staticmethod
    def _kind(frame: bytes) -> str | None:
        if len(frame) < 14 + 20 + 8 + 4 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
            return None  # not IPv4 UDP
        udp = 14 + (frame[14] & 0x0F) * 4
        import struct

        sport, dport, _, _, _, flags = struct.unpack_from("!HHHHHH", frame, udp)
        if (flags >> 11) & 0x0F != 5:  # opcode UPDATE
            return None
        if dport == 53 and not flags >> 15:
            return "update"
        return "answer" if sport == 53 and flags >> 15 else None

    def _run(self) -> None:
        import socket

        while not self._done:
            try:
                frame = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            kind = self._kind(frame)
            if kind:
                self.seen.append((time.monotonic(), kind))

    def first_after(self, kind: str, t0: float, timeout: float = 2.0) -> float | None:
        """Seconds from `t0` to the first `kind` packet after it, None if none."""
        end = time.monotonic() + timeout
        while True:
            later = [t for t, k in list(self.seen) if k == kind and t >= t0]
            if later or time.monotonic() > end:
                return min(later) - t0 if later else None
            time.sleep(0.001)

    def close(self) -> None:
        self._done = True
        self._thread.join(1)
        self.sock.close()


def _changes(lab, agent, changes: int) -> tuple:
    published, logged, kernel, sent, answered = [], [], [], [], []
    events, wire = _KernelEvents(lab), _UpdateWire(lab)
    try:
        for i in range(changes):
            address = ADDRESSES[i % 2]
            mark = len(agent.lines)
            t0 = lab.set_wan(address + "/24")
            published.append(_wait_answer(lab, address, t0, 10.0) * 1000.0)
            _, when = agent.wait_for("A: published %s" % address, 5, mark)
            logged.append((when - t0) * 1000.0)
            kernel.append(events.first_after(t0) * 1000.0)
            update, answer = wire.first_after("update", t0), wire.first_after("answer", t0)
            if update is None or answer is None:
                raise BenchError("the UPDATE or its answer was not seen on isp0")
            sent.append(update * 1000.0)
            answered.append(answer * 1000.0)
            time.sleep(GAP_S)
    finally:
        events.close()
        wire.close()
    return published, logged, kernel, sent, answered


def _bursts(lab, agent, bursts: int) -> list:
    """Milliseconds from the second change of a two-change burst until BIND answers it."""
    last = []
    for i in range(bursts):
        first = ADDRESSES[i % 2]
        lab.set_wan(first + "/24")
        time.sleep(BURST_GAP_S)
        mark = len(agent.lines)
        t1 = lab.set_wan(BURST_LAST + "/24")
        last.append(_wait_answer(lab, BURST_LAST, t1, 10.0) * 1000.0)
        agent.wait_for("A: published %s" % BURST_LAST, 5, mark)
        time.sleep(GAP_S)
    return last


def event_to_published(root, changes: int, log) -> dict:
    """Median and worst ms over `changes` address changes, when the agent logged each, and the
    last change of a few two-change bursts; the UPDATEs BIND applied are checked."""
    try:
        import bind
        import e2e_lab
        import netns
    except ImportError as e:
        return {"skipped": "the end-to-end lab is not importable: %s" % e}
    missing = netns._why_missing() or bind._why_missing()
    if missing:
        return {"skipped": missing}
    bursts = max(3, changes // 4)
    state = _tmpfs_dir()
    try:
        with e2e_lab.Lab(root / "lab", lifetime_s=120 + 5 * (changes + bursts)) as lab:
            if state is not None:
                lab.state = state
            lab.set_wan(ADDRESSES[1] + "/24")
            agent = lab.watch(lab.config(e2e_lab.RECORD_A))
            try:
                _wait_answer(lab, ADDRESSES[1], time.monotonic(), 20.0)
                agent.wait_for("published %s" % ADDRESSES[1], 5)
                time.sleep(GAP_S)
                first = lab.bind.updates()
                published, logged, kernel, sent, answered = _changes(lab, agent, changes)
                single = lab.bind.updates() - first
                burst_last = _bursts(lab, agent, bursts)
            except AssertionError as e:  # from the lab's agent.wait_for
                raise BenchError(str(e).splitlines()[0])
            burst_updates = lab.bind.updates() - first - single
    finally:
        if state is not None:
            shutil.rmtree(state, ignore_errors=True)
    from ddns_agent import watch

    if single != changes:
        raise BenchError("BIND applied %d UPDATEs for %d changes (expected one each)" % (single, changes))
    return {"changes": changes, "ms": summary(published), "agent_logged_ms": summary(logged),
            "kernel_event_ms": summary(kernel),
            "after_kernel_event_ms": summary([p - k for p, k in zip(published, kernel)]),
            "parts_ms": {"ip_and_kernel": summary(kernel),
                         "agent_to_update_sent": summary([s - k for s, k in zip(sent, kernel)]),
                         "bind_update_to_answer": summary([a - s for a, s in zip(answered, sent)]),
                         "answer_to_poll_seen": summary([p - a for p, a in zip(published, answered)])},
            "burst_last_ms": summary(burst_last), "bursts": bursts, "burst_updates": burst_updates,
            "settle_ms": watch.SETTLE_S * 1000.0, "quiet_ms": watch.QUIET_S * 1000.0,
            "poll_ms": POLL_S * 1000.0, "gap_s": GAP_S, "state_on_tmpfs": state is not None,
            "samples_ms": [round(x, 1) for x in published]}


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here.parent / "tests"), str(here.parent)]
    with tempfile.TemporaryDirectory(prefix="ddns-latency-") as tmp:
        print(json.dumps(event_to_published(Path(tmp), int(sys.argv[1]) if len(sys.argv) > 1 else 20,
                                            print), indent=1))
