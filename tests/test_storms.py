"""Flapping and storms: many events, few provider writes, and the last event always wins.

1. `watch` in the lab's router namespace (tests/e2e_lab.py) while 100 real kernel events (address
   adds and deletes, link down and up on wan0) arrive within 10 s; BIND counts the UPDATEs, which
   must stay within the bound ddns_agent/watch.py states (watch_cycles_bound here).
   A new lease at the start of a 4.5 s burst is published while the burst still goes on.
2. 100 `ddns-agent update --interface wan` runs, as the hotplug script starts them, in overlapping
   bursts while netifd's answer changes under them; the HTTPS Cloudflare fake counts the writes.
"""

from __future__ import annotations

import math
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest
from e2e_lab import ISP_V4, RECORD_A, RECORD_AAAA, WAN, Lab, require_lab

STORM_EVENTS = 100
STORM_S = 10.0
HOME = "home.example.test"


class Storm:
    """Kernel events on the router's wan0, as `ip` lines; each line changes one address or link."""

    def __init__(self, v4: str, v6: str) -> None:
        self.v4, self.v6, self.up = v4, v6, True
        self.steps: list = []  # one list of `ip -batch` lines per scheduled moment
        self.events = 0
        self._n = 0

    def _step(self, events: int, lines: list) -> None:
        self.steps.append(lines)
        self.events += events

    def ifupdate4(self, new: str | None = None) -> None:
        """A new IPv4 lease: add the new address, drop the old one."""
        self._n += 1
        new = new or "198.51.100.%d" % (self._n % 250 + 1)
        self._step(2, ["addr add %s/24 dev %s" % (new, WAN), "addr del %s/24 dev %s" % (self.v4, WAN)])
        self.v4 = new

    def ifupdate6(self, new: str | None = None) -> None:
        """A renumbered IPv6 prefix: add the new address, drop the old one."""
        self._n += 1
        new = new or "2001:db8:5:%x::5" % self._n
        self._step(2, ["addr add %s/64 dev %s" % (new, WAN), "addr del %s/64 dev %s" % (self.v6, WAN)])
        self.v6 = new

    def ifdown(self) -> None:
        """The link goes down (the kernel drops wan0's IPv6 addresses and its routes)."""
        self._step(1, ["link set %s down" % WAN])
        self.up = False

    def ifup(self) -> None:
        """The link comes back; IPv6 is configured again, routes re-added."""
        self._step(2, ["link set %s up" % WAN, "addr add %s/64 dev %s" % (self.v6, WAN)]
                   + Lab.route_lines())
        self.up = True


def mix(storm: Storm, events: int, rng: random.Random, v6: bool = True) -> Storm:
    """Random lease changes and flaps until `storm` has `events` events; the link ends up."""
    while storm.events < events:
        pick = rng.random()
        if not storm.up:
            storm.ifup()
        elif pick < 0.35 or (pick < 0.7 and not v6):
            storm.ifupdate4()
        elif pick < 0.7:
            storm.ifupdate6()
        else:
            storm.ifdown()
    if not storm.up:
        storm.ifup()
    return storm


def flapping_storm(final4: str, final6: str, end_with_flap: bool) -> Storm:
    """At least 100 events: address changes mixed with down/up flaps, ending on the final addresses."""
    storm = mix(Storm("203.0.113.10", "2001:db8:1:1::5"), STORM_EVENTS - 7, random.Random(5))
    if end_with_flap:  # the link drops and comes back with the final addresses
        storm.ifupdate4(final4)
        storm.ifupdate6(final6)
        storm.ifdown()
        storm.ifup()
    else:  # the final addresses are the very last events
        storm.ifdown()
        storm.ifup()
        storm.ifupdate4(final4)
        storm.ifupdate6(final6)
    return storm


def play(lab: Lab, storm: Storm, seconds: float, ran: list | None = None) -> float:
    """Run each step at its moment, spread evenly over `seconds`; returns when the last one ran.

    `ran` gets (start, end) of each step's `ip -batch`: its kernel events happened in between.
    """
    gap = seconds / len(storm.steps)
    start = time.monotonic()
    last = start
    for i, lines in enumerate(storm.steps):
        delay = start + i * gap - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        last = lab.batch(lab.router, lines)
        if ran is not None:
            ran.append((last, time.monotonic()))
    return last


def watch_cycles_bound(ran: list) -> int:
    """The most cycles `watch` may run for steps that ran at these (start, end) times
    (ddns_agent/watch.py, docs/design/pipeline.md): steps that may be QUIET_S apart or more start
    a new burst; a burst spanning T seconds gets at most 1 + ceil(T / BURST_CAP_S) cycles."""
    from ddns_agent.watch import BURST_CAP_S, QUIET_S

    bursts = [[ran[0]]]
    for step in ran[1:]:
        if step[1] - bursts[-1][-1][0] >= QUIET_S:  # its events may come QUIET_S after the last
            bursts.append([])
        bursts[-1].append(step)
    return sum(1 + math.ceil((b[-1][1] - b[0][0]) / BURST_CAP_S) for b in bursts)


@pytest.fixture
def lab(tmp_path):
    require_lab()
    with Lab(tmp_path / "lab") as lab:
        lab.set_wan("203.0.113.10/24", "2001:db8:1:1::5/64")
        yield lab


def published(lab: Lab, agent, *records: tuple) -> None:
    """Wait until BIND answers each (rtype, value) for home."""
    for rtype, value in records:
        lab.wait_answer(HOME, rtype, value, 15, agent=agent)


def settled(lab: Lab, agent, final: dict) -> None:
    """The final values are answered, and still are after a quiet second (nothing stale lands late)."""
    published(lab, agent, *final.items())
    time.sleep(1.0)
    for rtype, value in final.items():
        assert lab.answer(HOME, rtype) == [value], agent.text()
        assert lab.bind.dig(HOME, rtype) == [(60, value)]
    assert agent.proc.poll() is None, agent.text()
    assert "Traceback" not in agent.text()


@pytest.mark.parametrize("end_with_flap", [False, True], ids=["ends-with-new-address", "ends-with-flap"])
def test_watch_storm_of_100_events_ends_with_the_final_address_within_the_stated_bound(
        lab, end_with_flap):
    final = {"A": "192.0.2.77", "AAAA": "2001:db8:77:1::77"}
    agent = lab.watch(lab.config(RECORD_A, RECORD_AAAA))
    published(lab, agent, ("A", "203.0.113.10"), ("AAAA", "2001:db8:1:1::5"))
    mark = max(agent.wait_for("%s %s: published" % (HOME, rtype), 5)[0] for rtype in ("A", "AAAA")) + 1
    before = lab.bind.updates()
    storm = flapping_storm(final["A"], final["AAAA"], end_with_flap)
    assert STORM_EVENTS <= storm.events <= STORM_EVENTS + 3

    ran: list = []
    t0 = time.monotonic()
    last = play(lab, storm, STORM_S - 0.5, ran)
    assert last - t0 <= STORM_S

    settled(lab, agent, final)
    writes = lab.bind.updates() - before
    # one UPDATE per record per cycle in which its address changed, and nothing else
    logged = sum(": published " in line for _, line in agent.lines[mark:])
    bound = 2 * watch_cycles_bound(ran)  # two records; 6 when the steps kept under QUIET_S apart
    assert 2 <= writes == logged <= bound, "BIND applied %d UPDATEs, %d logged, bound %d; log:\n%s" % (
        writes, logged, bound, agent.text())


def test_watch_publishes_the_first_change_of_a_burst_while_the_burst_goes_on(lab):
    # A new IPv4 lease, then 4.5 s of IPv6 renumbering on the same link (88 more kernel events, never
    # a quiet spell, under the 5 s cap). Waiting for the burst to settle would publish the lease
    # only after it; the leading edge publishes it while the events still come, and once.
    import threading

    agent = lab.watch(lab.config(RECORD_A))
    published(lab, agent, ("A", "203.0.113.10"))
    agent.wait_for("%s A: published" % HOME, 5)
    before = lab.bind.updates()
    storm = Storm("203.0.113.10", "2001:db8:1:1::5")
    storm.ifupdate4("198.51.100.31")
    for _ in range(44):
        storm.ifupdate6()  # no AAAA record here: these change nothing the agent publishes
    over = threading.Event()
    player = threading.Thread(target=lambda: (play(lab, storm, 4.5), over.set()), daemon=True)
    player.start()
    try:
        lab.wait_answer(HOME, "A", "198.51.100.31", 10, agent=agent)
        burst_still_going = not over.is_set()
    finally:
        player.join(30)
    assert burst_still_going, "the lease was published only after the burst; log:\n%s" % agent.text()
    settled(lab, agent, {"A": "198.51.100.31"})
    assert lab.bind.updates() - before == 1, agent.text()  # the trailing cycles found nothing new


class Paused:
    """named stopped (SIGSTOP) while the block runs: the agent's UPDATE waits in its socket, so the
    agent's cycle stays open; `arrived()` waits until the kernel has queued that datagram."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.pid = int((lab.bind.workdir / "named.pid").read_text().split()[0])

    def __enter__(self) -> Paused:
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *exc) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def queued(self) -> int:
        """Bytes waiting in named's UDP sockets on the isp address."""
        out = self.lab.isp.run("ss", "-H", "-u", "-l", "-n", "src", "%s:53" % ISP_V4).stdout
        return sum(int(line.split()[1]) for line in out.splitlines() if line.strip())

    def arrived(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while self.queued() == 0:
            assert time.monotonic() < end, "no UPDATE reached named within %g s" % timeout
            time.sleep(0.005)


def test_address_change_while_the_agent_publishes_is_not_lost(lab):
    # Two bursts, each published at once and ended by one trailing cycle. While the second burst's
    # trailing cycle waits for BIND's answer, the last event arrives: that cycle publishes what it
    # read, and the last event must still win. Each burst is under BURST_CAP_S: at most 2 cycles.
    agent = lab.watch(lab.config(RECORD_A))
    published(lab, agent, ("A", "203.0.113.10"))
    before = lab.bind.updates()
    rng = random.Random(3)
    first = mix(Storm("203.0.113.10", "2001:db8:1:1::5"), 48, rng, v6=False)
    first.ifupdate4("198.51.100.201")
    second = mix(Storm(first.v4, first.v6), 48, rng, v6=False)
    second.ifupdate4("198.51.100.202")

    t0 = time.monotonic()
    mark = len(agent.lines)
    play(lab, first, 4.0)
    agent.wait_for("home.example.test A: published 198.51.100.201", 5, mark)
    mark = len(agent.lines)
    play(lab, second, 4.0)
    with Paused(lab) as named:  # the burst's trailing cycle comes QUIET_S after its last event
        named.arrived(5)  # the cycle for 198.51.100.202 is under way
        last = lab.batch(lab.router, ["addr add 192.0.2.77/24 dev %s" % WAN,
                                      "addr del 198.51.100.202/24 dev %s" % WAN])
    assert first.events + second.events + 2 >= STORM_EVENTS and last - t0 <= STORM_S

    agent.wait_for("home.example.test A: published 198.51.100.202", 5, mark)
    settled(lab, agent, {"A": "192.0.2.77"})
    writes = lab.bind.updates() - before
    assert 3 <= writes <= 5, "BIND applied %d UPDATEs; agent log:\n%s" % (writes, agent.text())


# -- parallel hotplug runs against a counting HTTPS provider ---------------------------------------

TOKEN = "storm-token-5b1d"
CF_CONFIG = """
config agent 'main'
	option state_dir '{state}'

config provider 'cf'
	option type 'cloudflare'
	option api_token '{token}'
	option endpoint '{endpoint}'
	option cacert '{cacert}'

config record 'home4'
	option provider 'cf'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'
"""
SEEN = re.compile(r"home\.example\.com A: (?:published (\S+)|remote already holds (\S+)|(\S+) is unchanged)")


def serve_status(env, address: str | None) -> None:
    """netifd's answer for wan, replaced atomically (a run never reads half a file)."""
    from agent_env import REAL, status_with
    from standins.router import ubus_format

    path = REAL / "dhcp-public" / "status_wan_up.json"
    if address is None:  # ifdown: netifd lists no addresses while the interface is down
        status = status_with(path, up=False, pending=False)
        for key in ("ipv4-address", "ipv6-address", "route"):
            status.pop(key, None)
    else:
        status = status_with(path, **{"ipv4-address": [{"address": address, "mask": 24}]})
    tmp = env.ubus_dir / "wan.json.tmp"
    tmp.write_text(ubus_format(status))
    os.replace(tmp, env.ubus_dir / "wan.json")


def test_100_parallel_hotplug_updates_write_once_per_address_seen_and_the_last_wins(tmp_path, serve):
    from agent_env import AgentEnv
    from fakes.cloudflare import CloudflareFake
    from standins.router import STANDINS

    fake = CloudflareFake(TOKEN)
    server = serve(fake)
    env = AgentEnv(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ubus").symlink_to(STANDINS / "ubus")  # the shell stand-in: no Python per ubus call
    env.env["PATH"] = "%s:%s" % (bin_dir, os.environ.get("PATH", ""))
    env.config(CF_CONFIG.format(state=env.state, token=TOKEN, endpoint=server.url + "/client/v4",
                                cacert=server.cafile))
    # ten bursts of ten runs; between bursts netifd's answer changes (or the link drops), and the
    # bursts overlap: runs of one burst are still queued on the state lock when the next begins
    phases = ["198.51.100.10", "198.51.100.10", "198.51.100.11", None, "198.51.100.12",
              "198.51.100.13", None, "198.51.100.14", "198.51.100.15", "192.0.2.77"]
    rng = random.Random(100)
    argv = [sys.executable, "-m", "ddns_agent", "--config", str(env.conf), "--state-dir",
            str(env.state), "-v", "update", "--interface", "wan"]
    procs = []
    for address in phases:
        serve_status(env, address)
        for _ in range(10):
            procs.append(subprocess.Popen(argv, env=env.env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        time.sleep(rng.uniform(0.05, 0.3))
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]

    assert len(results) == 100
    seen: set = set()
    for _out, err, rc in results:
        assert rc == 0, err
        assert "Traceback" not in err and "internal error" not in err, err
        for match in SEEN.finditer(err):
            seen.add(next(g for g in match.groups() if g))
    served = {a for a in phases if a}
    assert seen <= served
    assert "192.0.2.77" in seen
    held = fake.find("home.example.com", "A")
    assert [r["content"] for r in held] == ["192.0.2.77"]  # the last event won
    assert fake.writes <= len(seen), "%d writes for %d addresses seen" % (fake.writes, len(seen))
    assert len(fake.requests) <= fake.writes + 2  # zone and record looked up once, then by id
    assert not fake.errors


def _lock_waiters(lock) -> set:
    """Pids blocked in flock() on `lock`, from /proc/locks ("N: -> FLOCK ... WRITE pid maj:min:inode ...")."""
    inode = os.stat(lock).st_ino
    pids = set()
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 6 and fields[1] == "->" and fields[2] == "FLOCK" \
                    and int(fields[6].rsplit(":", 1)[1]) == inode:
                pids.add(int(fields[5]))
    return pids


def _state(pid: int) -> str:
    """The process state letter from /proc/<pid>/stat (T: stopped)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_a_hotplug_run_that_waited_for_the_lock_publishes_the_address_of_now(tmp_path, serve):
    # The fast path reads netifd before taking the lock, and the full cycle reused that read: a
    # run that waited published what it saw when it started, after a newer run had published the
    # newer address. Deterministic: the waiting run is stopped while the newer one runs.
    import fcntl

    from agent_env import AgentEnv
    from fakes.cloudflare import CloudflareFake
    from standins.router import STANDINS

    fake = CloudflareFake(TOKEN)
    server = serve(fake)
    env = AgentEnv(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ubus").symlink_to(STANDINS / "ubus")
    env.env["PATH"] = "%s:%s" % (bin_dir, os.environ.get("PATH", ""))
    env.config(CF_CONFIG.format(state=env.state, token=TOKEN, endpoint=server.url + "/client/v4",
                                cacert=server.cafile))
    argv = [sys.executable, "-m", "ddns_agent", "--config", str(env.conf), "--state-dir",
            str(env.state), "update", "--interface", "wan"]

    serve_status(env, "198.51.100.10")
    first = subprocess.run(argv, env=env.env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr

    serve_status(env, "198.51.100.11")
    fd = os.open(env.state / "lock", os.O_RDWR)  # a run publishing holds the lock
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        waiting = subprocess.Popen(argv, env=env.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        end = time.monotonic() + 30
        while waiting.pid not in _lock_waiters(env.state / "lock"):
            assert waiting.poll() is None and time.monotonic() < end, waiting.stderr.read()
            time.sleep(0.01)
        os.kill(waiting.pid, signal.SIGSTOP)  # it read .11 and waits for the lock
        while _state(waiting.pid) != "T":  # stopped before the lock is free, or it would take it
            assert time.monotonic() < end
            time.sleep(0.01)
    finally:
        os.close(fd)
    try:
        serve_status(env, "192.0.2.77")  # the last event
        newer = subprocess.run(argv, env=env.env, capture_output=True, text=True, timeout=60)
        assert newer.returncode == 0, newer.stderr
    finally:
        os.kill(waiting.pid, signal.SIGCONT)
    _out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0 and "Traceback" not in err, err
    assert [r["content"] for r in fake.find("home.example.com", "A")] == ["192.0.2.77"]
    assert "198.51.100.11" not in [r.json().get("content") for r in fake.requests if r.body]
    assert not fake.errors
