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
