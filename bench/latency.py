"""Event to published: a kernel address change in the router namespace until BIND answers it.

Uses the end-to-end lab (tests/e2e_lab.py): `ddns-agent watch` with the rfc2136 provider in
"router", a real BIND9 in "isp". Each change is timed from just before `ip -batch` replaces wan0's
address to the first DNS answer (polled every POLL_S from inside isp) carrying the new address.
"""

from __future__ import annotations

import time

from measure import BenchError, summary

POLL_S = 0.01
ADDRESSES = ("198.51.100.20", "203.0.113.10")
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


def event_to_published(root, changes: int, log) -> dict:
    """Median and worst seconds over `changes` address changes, plus when the agent logged each."""
    try:
        import bind
        import e2e_lab
        import netns
    except ImportError as e:
        return {"skipped": "the end-to-end lab is not importable: %s" % e}
    missing = netns._why_missing() or bind._why_missing()
    if missing:
        return {"skipped": missing}
    published, logged = [], []
    with e2e_lab.Lab(root / "lab", lifetime_s=120 + 5 * changes) as lab:
        lab.set_wan(ADDRESSES[1] + "/24")
        agent = lab.watch(lab.config(e2e_lab.RECORD_A))
        try:
            _wait_answer(lab, ADDRESSES[1], time.monotonic(), 20.0)
            agent.wait_for("published %s" % ADDRESSES[1], 5)
            for i in range(changes):
                address = ADDRESSES[i % 2]
                mark = len(agent.lines)
                t0 = lab.set_wan(address + "/24")
                published.append(_wait_answer(lab, address, t0, 10.0) * 1000.0)
                _, when = agent.wait_for("A: published %s" % address, 5, mark)
                logged.append((when - t0) * 1000.0)
                time.sleep(0.1)  # let the cycle finish (state write) before the next event
        except AssertionError as e:  # from the lab's agent.wait_for
            raise BenchError(str(e).splitlines()[0])
        updates = lab.bind.updates()
    if updates != changes + 1:
        raise BenchError("BIND applied %d UPDATEs for %d changes (expected one each)"
                         % (updates - 1, changes))
    return {"changes": changes, "ms": summary(published), "agent_logged_ms": summary(logged),
            "poll_ms": POLL_S * 1000.0, "samples_ms": [round(x, 1) for x in published]}
