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


def _changes(lab, agent, changes: int) -> tuple:
    published, logged = [], []
    for i in range(changes):
        address = ADDRESSES[i % 2]
        mark = len(agent.lines)
        t0 = lab.set_wan(address + "/24")
        published.append(_wait_answer(lab, address, t0, 10.0) * 1000.0)
        _, when = agent.wait_for("A: published %s" % address, 5, mark)
        logged.append((when - t0) * 1000.0)
        time.sleep(GAP_S)
    return published, logged


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
                published, logged = _changes(lab, agent, changes)
                single = lab.bind.updates() - first
                burst_last = _bursts(lab, agent, bursts)
            except AssertionError as e:  # from the lab's agent.wait_for
                raise BenchError(str(e).splitlines()[0])
            burst_updates = lab.bind.updates() - first - single
    finally:
        if state is not None:
            shutil.rmtree(state, ignore_errors=True)
    if single != changes:
        raise BenchError("BIND applied %d UPDATEs for %d changes (expected one each)" % (single, changes))
    return {"changes": changes, "ms": summary(published), "agent_logged_ms": summary(logged),
            "burst_last_ms": summary(burst_last), "bursts": bursts, "burst_updates": burst_updates,
            "poll_ms": POLL_S * 1000.0, "gap_s": GAP_S, "state_on_tmpfs": state is not None,
            "samples_ms": [round(x, 1) for x in published]}


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "tests")]
    with tempfile.TemporaryDirectory(prefix="ddns-latency-") as tmp:
        print(json.dumps(event_to_published(Path(tmp), int(sys.argv[1]) if len(sys.argv) > 1 else 20,
                                            print), indent=1))
