"""The end-to-end lab: namespaces "isp" and "router" joined by a veth pair, a real BIND9 in isp,
the real agent in router. Shared by tests/test_e2e.py, tests/test_storms.py and the benchmark;
`python3 tests/e2e_lab.py [N]` (root) prints event-to-published times over N address changes.

    with Lab(tmp_path) as lab:                            # require_lab() first in a test
        lab.set_wan("203.0.113.10/24")
        agent = lab.watch(lab.config(RECORD_A))           # `ddns-agent watch` inside router
        lab.wait_answer("home.example.test", "A", "203.0.113.10", timeout=10)
        t0 = lab.set_wan("198.51.100.20/24")              # monotonic time just before the change
        seconds = lab.wait_answer("home.example.test", "A", "198.51.100.20", 2.0, since=t0)

The isp end holds 203.0.113.1/24 and 2001:db8:ffff::1/64; BIND listens on 203.0.113.1:53.
The router's WAN end (`wan0`) gets whatever addresses a test sets, and both ends route everything
through the link (`default dev`), so any documentation address reaches BIND. DAD is off on wan0:
the 2 s budget is the agent's, not the kernel's 1-2 s duplicate address detection.

Everything ends by itself: named and the agent run under `timeout`, and a detached watchdog
deletes both namespaces after `lifetime_s` if the test process dies before its teardown.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bind import Bind, require_bind
from netns import Netns, require_netns

ISP_V4 = "203.0.113.1"
ISP_V6 = "2001:db8:ffff::1"
ZONE = "example.test"
WAN = "wan0"
ISP_DEV = "isp0"
CLONE_NEWNET = 0x40000000

AGENT = """
config agent 'main'
	option log_level '{log_level}'
	option state_dir '{state}'

config provider 'isp'
	option type 'rfc2136'
	option server '{server}'
	option port '53'
	option zone '{zone}'
	option key_name '{key_name}'
	option key_secret '{key_secret}'
"""


def record(section: str, name: str, rtype: str, device: str = WAN, interface: str = "",
           **options: str) -> str:
    """One `config record` section for the lab's provider, on `device` (netlink) or `interface`."""
    lines = ["", "config record '%s'" % section, "\toption provider 'isp'",
             "\toption domain '%s'" % ZONE, "\toption name '%s'" % name, "\toption type '%s'" % rtype,
             "\toption ttl '60'"]
    lines.append("\toption interface '%s'" % interface if interface else "\toption device '%s'" % device)
    lines += ["\toption %s '%s'" % (k, v) for k, v in options.items()]
    return "\n".join(lines) + "\n"


RECORD_A = record("home4", "home", "A")
RECORD_AAAA = record("home6", "home", "AAAA")
RECORD_SUFFIX = record("host6", "host", "AAAA", ipv6_suffix="::1234")
GRANTS = ("grant ddns-key name home.%s. A AAAA;" % ZONE, "grant ddns-key name host.%s. AAAA;" % ZONE)


def require_lab() -> None:
    """Fail (CI=true) or skip without network namespaces or BIND9 (team rule)."""
    require_netns()
    require_bind()


def socket_in(netns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_DGRAM) -> socket.socket:
    """A socket that lives in network namespace `netns` (made by a short thread that enters it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    box: list = []

    def enter_and_open() -> None:
        try:
            fd = os.open("/run/netns/" + netns, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns into %s failed" % netns)
            finally:
                os.close(fd)
            box.append(socket.socket(family, kind))
        except BaseException as e:  # handed to the caller's thread
            box.append(e)

    worker = threading.Thread(target=enter_and_open, name="setns-" + netns)
    worker.start()
    worker.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


class AgentProcess:
    """A long-running agent; its stderr lines are collected by a thread with their arrival times."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list = []  # [(monotonic time, line)]
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True, name="agent-stderr")
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def text(self) -> str:
        """Everything logged so far."""
        with self._cond:
            return "\n".join(line for _, line in self.lines)

    def wait_for(self, needle: str, timeout: float, start: int = 0) -> tuple:
        """(index, time) of the first line from `start` containing `needle`; AssertionError if none."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self.lines)):
                    if needle in self.lines[i][1]:
                        return i, self.lines[i][0]
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError("agent logged no %r within %g s (exit %s); log:\n%s" % (
                        needle, timeout, self.proc.poll(), "\n".join(t for _, t in self.lines)))
                self._cond.wait(min(left, 0.2))

    def stop(self) -> int | None:
        """SIGTERM (`timeout` passes it on), SIGKILL if it lingers; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        return self.proc.returncode


class Lab:
    """Two namespaces, a veth pair, BIND9 in isp; see the module docstring."""

    def __init__(self, workdir: Path, lifetime_s: int = 180, records: tuple = ()) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.lifetime_s = lifetime_s
        self.seed = records
        self.state = self.workdir / "state"
        self.isp: Netns | None = None
        self.router: Netns | None = None
        self.bind: Bind | None = None
        self._watchdog: subprocess.Popen | None = None
        self._agents: list = []
        self._dns: dict = {}

    # -- life -------------------------------------------------------------------------------

    def start(self) -> Lab:
        """Build the namespaces and the link, start BIND; tear down everything if a step fails."""
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        self.isp = Netns("isp")
        self.router = Netns("router")
        self._watchdog = subprocess.Popen(
            ["sh", "-c", 'sleep "$1"; ip netns delete "$2"; ip netns delete "$3"', "lab-watchdog",
             str(self.lifetime_s + 10), self.isp.name, self.router.name],
            start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.isp.ip("link", "add", ISP_DEV, "type", "veth", "peer", "name", WAN, "netns",
                    self.router.name)
        for ns, dev in ((self.isp, ISP_DEV), (self.router, WAN)):
            # promote_secondaries as systemd sets it: deleting the old lease in the same /24 must
            # not take the new one with it
            ns.run("sysctl", "-q", "-w", "net.ipv6.conf.%s.accept_dad=0" % dev,
                   "net.ipv4.conf.%s.promote_secondaries=1" % dev)
            ns.ip("link", "set", "lo", "up")
            ns.ip("link", "set", dev, "up")
        self.batch(self.isp, ["addr add %s/24 dev %s" % (ISP_V4, ISP_DEV),
                              "addr add %s/64 dev %s" % (ISP_V6, ISP_DEV),
                              "route replace default dev %s" % ISP_DEV,
                              "route replace ::/0 dev %s" % ISP_DEV])
        self.batch(self.router, self.route_lines())
        self.bind = Bind(self.workdir / "bind", address=ISP_V4, port=53, zone=ZONE,
                         records=self.seed, grants=GRANTS, wrap=tuple(self.isp.argv()),
                         lifetime_s=self.lifetime_s).start()

    def close(self) -> None:
        """Stop agents and BIND, delete both namespaces, end the watchdog (safe to call twice)."""
        for agent in self._agents:
            agent.stop()
        self._agents = []
        for sock in self._dns.values():
            sock.close()
        self._dns = {}
        if self.bind is not None:
            self.bind.stop()
        for ns in (self.router, self.isp):
            if ns is not None:
                ns.delete()
        if self._watchdog is not None and self._watchdog.poll() is None:
            self._watchdog.kill()
            self._watchdog.wait(5)

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the router's WAN -----------------------------------------------------------------------

    @staticmethod
    def batch(ns: Netns, lines: list) -> float:
        """Run `ip -batch` lines in `ns` as one process; returns the monotonic time just before."""
        t0 = time.monotonic()
        done = subprocess.run(["ip", "-n", ns.name, "-batch", "-"], input="\n".join(lines) + "\n",
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise AssertionError("ip -batch in %s failed: %s\n%s" % (ns.name, done.stderr.strip(),
                                                                      "\n".join(lines)))
        return t0

    @staticmethod
    def route_lines() -> list:
        """Routes that send everything out of wan0 (a link down deletes them; re-add after up)."""
        return ["route replace default dev %s" % WAN, "route replace ::/0 dev %s" % WAN]

    def set_wan(self, *cidrs: str) -> float:
        """Replace wan0's global addresses by `cidrs` in one step; returns the time just before."""
        lines = ["addr flush dev %s scope global" % WAN]
        lines += ["addr add %s dev %s" % (c, WAN) for c in cidrs]
        return self.batch(self.router, lines + self.route_lines())

    def wan_addresses(self) -> list:
        """The kernel's global addresses on wan0 as (address, prefix length, family 4/6)."""
        return [(a["local"], a["prefixlen"], 6 if a["family"] == "inet6" else 4)
                for a in self.router.addresses_json(WAN) if a.get("scope") == "global"]

    # -- the agent ------------------------------------------------------------------------------

    def config(self, *records: str, log_level: str = "info") -> str:
        """The agent's UCI config: the lab's rfc2136 provider plus these record sections."""
        b = self.bind
        return AGENT.format(log_level=log_level, state=self.state, server=ISP_V4, zone=ZONE,
                            key_name=b.key_name, key_secret=b.key_secret) + "".join(records)

    def write_config(self, text: str, name: str = "agent.conf") -> Path:
        """Write a config file in the lab's directory."""
        path = self.workdir / name
        path.write_text(text)
        return path

    def watch(self, config_text: str, env: dict | None = None) -> AgentProcess:
        """`ddns-agent watch` in router with DDNS_AGENT_LOG=stderr, under a lifetime `timeout`."""
        conf = self.write_config(config_text)
        full = {"DDNS_AGENT_LOG": "stderr"}
        full.update(env or {})
        proc = self.router.popen("timeout", "-k", "5", str(self.lifetime_s), sys.executable, "-m",
                                 "ddns_agent", "--config", str(conf), "watch", env=full)
        agent = AgentProcess(proc)
        self._agents.append(agent)
        return agent

    # -- what BIND answers --------------------------------------------------------------------

    def answer(self, name: str, rtype: str = "A") -> list:
        """Sorted rdata that BIND answers for `name rtype`, by a query from inside isp ([] if none)."""
        import dns.flags
        import dns.message
        import dns.query
        import dns.rdatatype

        sock = self._dns.get("udp4")
        if sock is None:
            sock = self._dns["udp4"] = socket_in(self.isp.name)
        query = dns.message.make_query(name, rtype)
        query.flags &= ~dns.flags.RD
        reply = dns.query.udp(query, ISP_V4, timeout=1.0, port=53, sock=sock)
        want = dns.rdatatype.from_text(rtype)
        return sorted(rd.to_text() for rrset in reply.answer if rrset.rdtype == want for rd in rrset)

    def wait_answer(self, name: str, rtype: str, expected: str, timeout: float,
                    since: float | None = None, agent: AgentProcess | None = None) -> float:
        """Poll BIND until it answers exactly [expected]; seconds since `since` (or since the call).

        AssertionError after `timeout` s past `since`, with BIND's last answer and the agent's log.
        """
        since = time.monotonic() if since is None else since
        last: list = []
        while True:
            try:
                last = self.answer(name, rtype)
            except Exception as e:  # a lost datagram or a timeout: ask again
                last = ["(no answer: %s)" % e]
            now = time.monotonic()
            if last == [expected]:
                return now - since
            if now - since > timeout:
                raise AssertionError("BIND answers %s for %s %s after %.2f s, expected %s%s" % (
                    last, name, rtype, now - since, expected,
                    "\nagent log:\n" + agent.text() if agent else ""))
            time.sleep(0.005)

    def event_to_published(self, cidrs: tuple, name: str, rtype: str, expected: str,
                           timeout: float = 10.0, agent: AgentProcess | None = None) -> float:
        """Set wan0 to `cidrs` and return the seconds until BIND answers `expected` (bench figure)."""
        return self.wait_answer(name, rtype, expected, timeout, since=self.set_wan(*cidrs), agent=agent)


def measure(workdir: Path, changes: int = 20) -> dict:
    """Seconds from a wan0 address change to BIND answering it, with `watch` running: IPv4 (A) and
    a prefix change seen through ipv6_suffix (AAAA), `changes` of each, one change at a time."""
    with Lab(workdir) as lab:
        lab.set_wan("203.0.113.10/24", "2001:db8:1:1::5/64")
        agent = lab.watch(lab.config(RECORD_A, RECORD_SUFFIX))
        lab.wait_answer("host.%s" % ZONE, "AAAA", "2001:db8:1:1::1234", 15, agent=agent)
        times: dict = {"A": [], "AAAA": []}
        for i in range(changes):
            v4, prefix = "198.51.100.%d" % (i + 1), "2001:db8:2:%x" % (i + 1)
            times["A"].append(lab.event_to_published(("%s/24" % v4, "2001:db8:1:1::5/64"),
                                                     "home.%s" % ZONE, "A", v4, agent=agent))
            times["AAAA"].append(lab.event_to_published(("%s/24" % v4, prefix + "::5/64"),
                                                        "host.%s" % ZONE, "AAAA", prefix + "::1234",
                                                        agent=agent))
        return times


if __name__ == "__main__":  # pragma: no cover
    import statistics
    import tempfile

    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory(prefix="e2e-lab-") as tmp:
        for rtype, seconds in measure(Path(tmp), runs).items():
            print("event to published, %-4s over %d changes: median %.3f s, worst %.3f s"
                  % (rtype, len(seconds), statistics.median(seconds), max(seconds)))
