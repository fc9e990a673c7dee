"""`ddns-agent watch` on plain Linux: real kernel address events in a real network namespace."""

from __future__ import annotations

import selectors
import sys
import time

from netns import Netns, require_netns

CONFIG = """
config agent
	option log_level 'info'

config provider 'demo'
	option type 'log'

config record 'home'
	option provider 'demo'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option device 'wan0'
"""


def wait_for_line(proc, needle: str, timeout: float) -> list:
    """Lines of proc.stderr until one contains `needle` (or the timeout)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    seen = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not sel.select(timeout=max(0.0, end - time.monotonic())):
            break
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line.rstrip("\n"))
        if needle in line:
            return seen
    raise AssertionError("no %r within %g s; saw: %s" % (needle, timeout, seen))


def test_watch_publishes_each_new_address_within_seconds(tmp_path):
    require_netns()
    conf = tmp_path / "c.conf"
    conf.write_text(CONFIG)
    with Netns() as ns:
        ns.add_device("wan0")
        ns.ip("addr", "add", "203.0.113.10/24", "dev", "wan0")
        proc = ns.popen(sys.executable, "-m", "ddns_agent", "--config", str(conf), "--state-dir",
                        str(tmp_path / "state"), "watch", env={"DDNS_AGENT_LOG": "stderr"})
        wait_for_line(proc, "published 203.0.113.10", 10)
        ns.ip("addr", "del", "203.0.113.10/24", "dev", "wan0")
        ns.ip("addr", "add", "198.51.100.20/24", "dev", "wan0")
        t0 = time.monotonic()
        wait_for_line(proc, "published 198.51.100.20 (was 203.0.113.10)", 5)
        assert time.monotonic() - t0 < 5
        ns.ip("addr", "add", "10.1.2.3/8", "dev", "wan0")
        ns.ip("addr", "del", "198.51.100.20/24", "dev", "wan0")
        lines = wait_for_line(proc, "not published: 10.1.2.3 is a private", 5)
        assert not any("published 10.1.2.3" in line for line in lines)
        proc.terminate()
        proc.wait(5)


class _PipeSource:
    """Events as lines on a pipe, so the loop can be driven without a kernel."""

    def __init__(self):
        import os

        self.r, self.w = os.pipe()

    def fileno(self):
        return self.r

    def read(self):
        import os

        os.read(self.r, 4096)
        return {"wan"}

    def close(self):
        import os

        os.close(self.r)


class _CountingAgent:
    def __init__(self, state_dir):
        self.state_dir = str(state_dir)
        self.clock = time.time
        self.calls = []

    def update(self, interface):
        self.calls.append((time.monotonic(), interface))
        return 0


def test_a_link_that_never_stops_flapping_still_gets_a_cycle(tmp_path, monkeypatch):
    import os
    import threading

    from ddns_agent import watch

    src = _PipeSource()
    monkeypatch.setattr(watch, "_open_source", lambda agent: src)
    agent = _CountingAgent(tmp_path)
    stop = time.monotonic() + 8

    def flap():  # an event every 0.1 s for 8 s: never a 0.3 s quiet spell
        try:
            while time.monotonic() < stop:
                os.write(src.w, b"x")
                time.sleep(0.1)
        except OSError:  # the loop closed its end after its last cycle
            pass
        os.close(src.w)

    t = threading.Thread(target=flap, daemon=True)
    started = time.monotonic()
    t.start()
    watch.run(agent, max_cycles=2)
    # the start-up cycle, then one forced by the burst cap while events still pour in
    assert len(agent.calls) == 2 and agent.calls[1][1] == "wan"
    assert agent.calls[1][0] < stop
    assert agent.calls[1][0] - started >= watch.BURST_CAP_S - 0.5
    t.join(10)
