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

    def wait(self, timeout):
        import select

        return bool(select.select([self], [], [], timeout)[0])

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

    def update(self, interface, event=False):
        self.calls.append((time.monotonic(), interface))
        return 0


# -- the loop on a fake clock: which cycles a stream of events starts -----------------------------


class _Done(Exception):
    """The timeline has no event left: the loop would idle for ever."""


class Timeline:
    """A fake clock and a scripted event source: (time, interface, address) events.

    `wait` advances the clock to the next event (or by the timeout); `read` takes every event
    due by now, as a socket read drains what the kernel queued. `address` is what a cycle that
    re-reads the interface sees now, whether or not the loop has read the event yet.
    """

    def __init__(self, events: list, address: str = "192.0.2.1", idle_s: float = 120.0) -> None:
        self.now = 1000.0
        self.events = sorted((self.now + t, name, addr) for t, name, addr in events)
        self.reads = 0  # events the loop has read
        self._address = address
        self.until = (self.events[-1][0] if self.events else self.now) + idle_s

    def clock(self) -> float:
        return self.now

    @property
    def address(self) -> str:
        for t, _, addr in self.events:
            if t <= self.now:
                self._address = addr
        return self._address

    def _due(self) -> float | None:
        return self.events[self.reads][0] if self.reads < len(self.events) else None

    def wait(self, timeout: float) -> bool:
        due = self._due()
        if due is None and self.now >= self.until:
            raise _Done()  # the loop is idle and nothing will ever come
        if due is not None and due <= self.now + timeout:
            self.now = max(self.now, due)
            return True
        self.now += timeout
        return False

    def read(self) -> set:
        names = set()
        while self._due() is not None and self._due() <= self.now:
            names.add(self.events[self.reads][1])
            self.reads += 1
        return names

    def is_stale(self) -> bool:
        return False

    def close(self) -> None:
        pass


class Cycle:
    __slots__ = ("at", "reads", "interface", "event", "address", "request")

    def __init__(self, **kw) -> None:
        for k, v in kw.items():
            setattr(self, k, v)


class ModelAgent:
    """Runs "cycles" on the timeline: each re-reads the address and costs one request if it differs
    from the one published last (the agent's rule: one request per changed record)."""

    def __init__(self, state_dir, timeline: Timeline, cycle_s: float = 0.02) -> None:
        self.state_dir = str(state_dir)
        self.t = timeline
        self.clock = timeline.clock
        self.cycle_s = cycle_s
        self.cycles: list = []
        self.published = None
        self.rechecks: list = []  # next_check times the plain runs leave, in turn

    def update(self, interface, event=False):
        import os

        from ddns_agent import state

        path = os.path.join(self.state_dir, state.NEXT_CHECK_FILE)
        if not event and self.rechecks:  # a plain run schedules the next re-check, as the agent does
            with open(path, "w") as f:
                f.write("%d\n" % self.rechecks.pop(0))
        elif not event and os.path.exists(path):
            os.unlink(path)
        address = self.t.address  # None: the interface has none (keep what is published)
        request = address is not None and address != self.published
        if request:
            self.published = address
        self.cycles.append(Cycle(at=round(self.t.now - 1000.0, 6), reads=self.t.reads, interface=interface,
                                 event=event, address=address, request=request))
        self.t.now += self.cycle_s  # events due meanwhile stay queued until the loop reads
        return 0

    def requests(self) -> int:
        return sum(c.request for c in self.cycles)


def run_timeline(tmp_path, monkeypatch, events: list, cycle_s: float = 0.02,
                 idle_s: float = 120.0, rechecks: tuple = ()) -> ModelAgent:
    import pytest

    from ddns_agent import watch

    timeline = Timeline(events, idle_s=idle_s)
    monkeypatch.setattr(watch, "_open_source", lambda agent: timeline)
    agent = ModelAgent(tmp_path, timeline, cycle_s)
    agent.rechecks = list(rechecks)
    with pytest.raises(_Done):
        watch.run(agent)
    assert agent.cycles[0].event is False  # the start-up cycle
    return agent


def test_the_first_event_is_published_at_once_before_any_later_event_is_read(tmp_path, monkeypatch):
    events = [(10.0, "wan", "198.51.100.1"), (10.05, "wan", "198.51.100.2"), (10.1, "wan", "198.51.100.3")]
    agent = run_timeline(tmp_path, monkeypatch, events)
    first = agent.cycles[1]
    assert (first.at, first.reads, first.address, first.request) == (settled(10.0), 1, "198.51.100.1", True)
    assert (first.interface, first.event) == ("wan", True)  # event cycles respect the back-off
    # the two that followed it are coalesced into one trailing cycle, which sees the last address
    assert len(agent.cycles) == 3
    trailing = agent.cycles[2]
    assert (trailing.reads, trailing.address, trailing.event) == (3, "198.51.100.3", True)
    assert agent.requests() == 3  # start-up, first, last: .2 was never published


def test_event_cycles_respect_the_back_off_and_a_due_re_check_does_not(tmp_path, monkeypatch):
    # a failed record's back-off applies to event runs only (plan.plan_record); the re-check the
    # agent scheduled in next_check is the run that retries it
    agent = run_timeline(tmp_path, monkeypatch, [(10.0, "*", "192.0.2.1"), (300.0, "wan", "192.0.2.1")],
                         idle_s=30.0, rechecks=(1000 + 200,))
    assert [(c.interface, c.event) for c in agent.cycles] == [
        (None, False), (None, True), (None, False), ("wan", True)]
    assert 200.0 <= agent.cycles[2].at < 300.0  # the re-check, when next_check was due


def test_the_messages_of_one_change_are_one_event_and_cost_one_request(tmp_path, monkeypatch):
    # `ip` replacing the address: RTM_DELADDR then RTM_NEWADDR (and link messages) within a
    # millisecond. A cycle right after DELADDR would find no address and wait for quiet; the
    # loop reads up to the first SETTLE_S gap, so the first cycle already publishes the new one.
    gone, new = (5.0, "*", None), (5.0002, "*", "198.51.100.7")
    events = [gone, new] + [(5.0004 + i * 0.0002, "*", "198.51.100.7") for i in range(4)]
    agent = run_timeline(tmp_path, monkeypatch, events)
    assert [(c.at, c.reads, c.address, c.request) for c in agent.cycles[1:]] == [
        (settled(5.001), 6, "198.51.100.7", True)]
    assert [c.interface for c in agent.cycles] == [None, None]  # netlink: every record


def watch_quiet() -> float:
    from ddns_agent import watch

    return watch.QUIET_S


def settled(t: float) -> float:
    """When the first cycle starts for an event whose last message came at `t`: SETTLE_S later."""
    from ddns_agent import watch

    return round(t + watch.SETTLE_S, 6)


def test_the_first_event_after_a_quiet_spell_leads_even_right_after_a_trailing_cycle(tmp_path, monkeypatch):
    # a burst (10.0, 10.05) ends with its trailing cycle at 10.35; 10.6 is QUIET_S after the
    # burst's last event, so it starts a new burst and is published at once, not coalesced
    events = [(10.0, "wan", "198.51.100.1"), (10.05, "wan", "198.51.100.2"), (10.6, "wan", "198.51.100.3")]
    agent = run_timeline(tmp_path, monkeypatch, events)
    assert [(c.at, c.address) for c in agent.cycles[1:]] == [
        (settled(10.0), "198.51.100.1"), (round(10.05 + watch_quiet(), 6), "198.51.100.2"),
        (settled(10.6), "198.51.100.3")]


def test_events_apart_by_more_than_the_quiet_time_are_each_published_at_once(tmp_path, monkeypatch):
    events = [(10.0 + i, "wan", "198.51.100.%d" % (i + 1)) for i in range(5)]
    agent = run_timeline(tmp_path, monkeypatch, events)
    led = [c for c in agent.cycles if c.request][1:]
    assert [(c.at, c.address) for c in led] == [(settled(10.0 + i), "198.51.100.%d" % (i + 1))
                                               for i in range(5)]
    assert agent.requests() == 6


def test_a_link_that_never_stops_flapping_still_gets_a_cycle_every_burst_cap(tmp_path, monkeypatch):
    from ddns_agent import watch

    # an event every 0.1 s for 20 s: never a quiet spell, a new address every second
    events = [(1.0 + i * 0.1, "wan", "198.51.100.%d" % (i // 10 + 1)) for i in range(200)]
    agent = run_timeline(tmp_path, monkeypatch, events)
    during = [c for c in agent.cycles[1:] if c.at <= events[-1][0]]
    assert during[0].at == settled(1.0)
    gaps = [b.at - a.at for a, b in zip(during, during[1:])]
    assert len(during) == 4 and all(g >= watch.BURST_CAP_S for g in gaps)
    assert agent.cycles[-1].address == "198.51.100.20"


def storm(seconds: float, count: int, seed: int, addresses: int) -> list:
    """`count` events within `seconds`, each a random one of `addresses` values; the gaps vary
    (some a tenth of a millisecond, some near QUIET_S) but stay under it: one burst."""
    import random

    from ddns_agent import watch

    rng = random.Random(seed)
    gaps = [0.0001 if rng.random() < 0.2 else rng.uniform(0.05, watch.QUIET_S * 0.95)
            for _ in range(count - 1)]
    scale = seconds / sum(gaps)
    assert max(gaps) * scale < watch.QUIET_S
    times = [0.0]
    for g in gaps:
        times.append(times[-1] + g * scale)
    return [(2.0 + t, "*", "198.51.100.%d" % rng.randint(1, addresses)) for t in times]


def test_a_storm_of_100_events_in_10_s_costs_at_most_the_stated_bound(tmp_path, monkeypatch):
    import math

    from ddns_agent import watch

    for seed in range(20):
        events = storm(10.0, 100, seed, 30)
        span = round(events[-1][0] - events[0][0], 6)
        agent = run_timeline(tmp_path, monkeypatch, events)
        bound = 1 + math.ceil(span / watch.BURST_CAP_S)  # docs/design/pipeline.md, "watch"
        storm_cycles = agent.cycles[1:]
        assert len(storm_cycles) <= bound == 3, (seed, [c.at for c in storm_cycles])
        assert agent.requests() - 1 <= bound
        assert storm_cycles[0].at - events[0][0] <= watch.SETTLE_CAP_S  # the first event at once
        assert agent.published == events[-1][2]  # the last address wins


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

    def wait(self, timeout):
        return True

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
