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

    def is_stale(self):
        return False

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


# -- OpenWrt: `ubus subscribe network.interface` (the stand-in ubus) ------------------------------

A_ON_WAN = CONFIG.replace("option device 'wan0'", "option interface 'wan'")


def test_watch_subscribes_again_when_ubus_subscribe_ends_and_catches_up(tmp_path):
    from agent_env import REAL, AgentEnv, status_with

    env = AgentEnv(tmp_path)
    env.config(A_ON_WAN)
    up = REAL / "dhcp-public" / "status_wan_up.json"
    env.interface("wan", up)
    proc = env.start("watch")
    try:
        wait_for_line(proc, "published 203.0.113.54", 10)
        # ubusd restarts: the address changed while nobody was subscribed
        moved = status_with(up, **{"ipv4-address": [{"address": "198.51.100.20", "mask": 24}]})
        env.interface("wan", moved)
        (env.ubus_dir / "subscribe.1.end").touch()
        lines = wait_for_line(proc, "published 198.51.100.20 (was 203.0.113.54)", 10)
        assert any("ubus subscribe network.interface ended (exit status 0); subscribing again in 1 s"
                   in line for line in lines), lines
        assert proc.poll() is None  # still watching
        end = time.monotonic() + 10
        while not (env.ubus_dir / "subscribe.2.started").exists() and time.monotonic() < end:
            time.sleep(0.05)
        assert (env.ubus_dir / "subscribe.2.started").exists()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # returns only when its ubus subscribe child is gone too


class _EndingSource:
    """A source that has already ended, as `ubus subscribe` does while ubusd is down."""

    def __init__(self):
        import os

        self.r, w = os.pipe()
        os.close(w)

    def fileno(self):
        return self.r

    def read(self):
        raise EOFError("ubus subscribe network.interface ended (exit status 255)")

    def is_stale(self):
        return False

    def close(self):
        import os

        os.close(self.r)


class _Log:
    def __init__(self):
        self.lines = []

    def warning(self, message):
        self.lines.append(message)


def test_resubscribing_backs_off_to_a_minute_and_never_gives_up(tmp_path, monkeypatch):
    from ddns_agent import watch

    monkeypatch.setattr(watch, "_open_source", lambda agent: _EndingSource())
    agent = _CountingAgent(tmp_path)
    agent.log = _Log()
    waits = []
    agent.sleep = waits.append
    watch.run(agent, max_cycles=10)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert [c[1] for c in agent.calls] == [None] * 10  # each time every record is re-read
    assert agent.log.lines[-1] == ("ubus subscribe network.interface ended (exit status 255); "
                                   "subscribing again in 60 s")


def test_a_notification_line_over_a_mebibyte_is_dropped_and_every_record_re_read(tmp_path, monkeypatch):
    from agent_env import STANDIN

    from ddns_agent import watch

    monkeypatch.setenv("UBUS_STANDIN_DIR", str(tmp_path))
    line = b'{"interface.update":{"interface":"wan","up":true}}\n'
    (tmp_path / "subscribe.1.txt").write_bytes(b"x" * (watch.LINE_LIMIT + 4096) + b"\n" + line)
    src = watch._UbusSource(str(STANDIN / "ubus"))
    try:
        seen = set()
        while "wan" not in seen:
            select_ready = selectors.DefaultSelector()
            select_ready.register(src, selectors.EVENT_READ)
            assert select_ready.select(10), "no output from ubus subscribe"
            names = src.read()
            assert names <= {"*", "wan"}
            seen |= names
        assert "*" in seen
    finally:
        (tmp_path / "subscribe.1.end").touch()
        src.close()


def test_a_subscription_left_deaf_by_a_ubusd_restart_is_made_again(tmp_path, monkeypatch):
    import os
    import threading

    from agent_env import STANDIN

    from ddns_agent import netifd, watch

    sock = tmp_path / "ubus.sock"  # stands for /var/run/ubus/ubus.sock; only its inode matters
    sock.touch()
    monkeypatch.setattr(netifd, "SOCKETS", (str(sock),))
    monkeypatch.setattr(watch, "STALE_CHECK_S", 0.2)
    monkeypatch.setenv("UBUS_STANDIN_DIR", str(tmp_path))
    opened = []

    def subscribe(agent):
        opened.append(watch._UbusSource(str(STANDIN / "ubus")))
        return opened[-1]
    monkeypatch.setattr(watch, "_open_source", subscribe)
    agent = _CountingAgent(tmp_path)
    agent.log = _Log()
    agent.sleep = lambda s: None

    def restart_ubusd():  # 22.03: `ubus subscribe` stays alive, and hears nothing any more
        time.sleep(1.5)
        (tmp_path / "new.sock").touch()
        os.replace(tmp_path / "new.sock", sock)

    t = threading.Thread(target=restart_ubusd, daemon=True)
    t.start()
    watch.run(agent, max_cycles=2)
    t.join(10)
    assert [c[1] for c in agent.calls] == [None, None]  # the catch-up cycle re-reads every record
    assert agent.log.lines == ["ubusd was restarted; ubus subscribe hears nothing any more; "
                               "subscribing again in 1 s"]
    assert len(opened) == 2 and all(src.proc.poll() is not None for src in opened)  # none left behind
