"""End to end with real parts only: kernel address changes in a router namespace, the real agent
(`watch`, or the OpenWrt hotplug script starting `update`), a real BIND9 across a veth link.

What is asserted is what a user sees: what BIND answers (queried from inside the isp namespace,
and with `dig`), the agent's log lines, exit codes, and how many UPDATEs BIND applied.
The only timing assertions are the issue's: a new address is answered within 2 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from e2e_lab import ISP_V4, RECORD_A, RECORD_AAAA, RECORD_SUFFIX, WAN, Lab, record, require_lab
from netns import REPO, Netns

BUDGET_S = 2.0  # issue 5: "the new record is answered by BIND within 2 s"
HOME = "home.example.test"
HOST = "host.example.test"
FIRST_V4, FIRST_V6 = "203.0.113.10/24", "2001:db8:1:1::5/64"
HOTPLUG = REPO / "openwrt" / "files" / "ddns_agent.hotplug"


@pytest.fixture
def lab(tmp_path):
    require_lab()
    with Lab(tmp_path / "lab") as lab:
        yield lab


@pytest.fixture
def watching(lab):
    """The agent in `watch` mode (debug log) after it published the first addresses."""
    lab.set_wan(FIRST_V4, FIRST_V6)
    agent = lab.watch(lab.config(RECORD_A, RECORD_AAAA, RECORD_SUFFIX, log_level="debug"))
    for name, rtype, value in ((HOME, "A", "203.0.113.10"), (HOME, "AAAA", "2001:db8:1:1::5"),
                               (HOST, "AAAA", "2001:db8:1:1::1234")):
        lab.wait_answer(name, rtype, value, 15, agent=agent)
    agent.wait_for("host.example.test AAAA: published 2001:db8:1:1::1234", 5)
    assert lab.bind.updates() == 3
    return agent


def unchanged_after(agent, start: int, *names: str) -> None:
    """Wait until the cycle that followed line `start` has said each record is unchanged."""
    for name in names:
        agent.wait_for(name, 5, start)


def test_new_ipv4_address_is_answered_by_bind_within_2_s(lab, watching):
    mark = len(watching.lines)
    t0 = lab.set_wan("198.51.100.20/24", FIRST_V6)

    lab.wait_answer(HOME, "A", "198.51.100.20", BUDGET_S, since=t0, agent=watching)

    watching.wait_for("home.example.test A: published 198.51.100.20 (was 203.0.113.10)", 5, mark)
    unchanged_after(watching, mark, "home.example.test AAAA: 2001:db8:1:1::5 is unchanged",
                    "host.example.test AAAA: 2001:db8:1:1::1234 is unchanged")
    assert lab.bind.updates() == 3 + 1  # one UPDATE for the one record that changed
    assert lab.bind.dig(HOME, "A") == [(60, "198.51.100.20")]


def test_new_ipv6_address_is_answered_by_bind_within_2_s(lab, watching):
    mark = len(watching.lines)
    t0 = lab.set_wan(FIRST_V4, "2001:db8:1:1::77/64")

    lab.wait_answer(HOME, "AAAA", "2001:db8:1:1::77", BUDGET_S, since=t0, agent=watching)

    watching.wait_for("home.example.test AAAA: published 2001:db8:1:1::77 (was 2001:db8:1:1::5)", 5,
                      mark)
    # same /64: the suffixed record keeps its address and costs no UPDATE
    unchanged_after(watching, mark, "host.example.test AAAA: 2001:db8:1:1::1234 is unchanged",
                    "home.example.test A: 203.0.113.10 is unchanged")
    assert lab.bind.updates() == 3 + 1
    assert lab.bind.dig(HOME, "AAAA") == [(60, "2001:db8:1:1::77")]
    assert lab.bind.dig(HOST, "AAAA") == [(60, "2001:db8:1:1::1234")]


def test_prefix_change_publishes_the_new_prefix_with_the_host_suffix_within_2_s(lab, watching):
    mark = len(watching.lines)
    t0 = lab.set_wan(FIRST_V4, "2001:db8:2:1::5/64")

    lab.wait_answer(HOST, "AAAA", "2001:db8:2:1::1234", BUDGET_S, since=t0, agent=watching)
    lab.wait_answer(HOME, "AAAA", "2001:db8:2:1::5", BUDGET_S, since=t0, agent=watching)

    watching.wait_for("host.example.test AAAA: published 2001:db8:2:1::1234 (was 2001:db8:1:1::1234)",
                      5, mark)
    unchanged_after(watching, mark, "home.example.test A: 203.0.113.10 is unchanged")
    assert lab.bind.updates() == 3 + 2
    assert lab.bind.dig(HOST, "AAAA") == [(60, "2001:db8:2:1::1234")]


def test_cgnat_only_wan_publishes_nothing_and_logs_the_reason(lab, watching):
    mark = len(watching.lines)
    lab.set_wan("100.64.3.2/10", FIRST_V6)

    i, _ = watching.wait_for("home.example.test A: not published: 100.64.3.2 is a carrier-grade NAT",
                             5, mark)
    unchanged_after(watching, mark, "host.example.test AAAA: 2001:db8:1:1::1234 is unchanged")
    assert "notice" in watching.lines[i][1]
    assert lab.answer(HOME, "A") == ["203.0.113.10"]  # the last public address stays published
    assert lab.bind.updates() == 3
    assert "published 100.64.3.2" not in watching.text()
    status = subprocess.run([sys.executable, "-m", "ddns_agent", "--config",
                             str(lab.workdir / "agent.conf"), "status", "--json"],
                            capture_output=True, text=True, timeout=30, env=lab.router.environ())
    assert status.returncode == 0, status.stderr
    rows = {r["record"]: r for r in json.loads(status.stdout)["records"]}
    assert rows["home4"]["result"] == "refused"
    assert rows["home4"]["address"] == "203.0.113.10"


def test_cgnat_from_the_start_publishes_nothing(lab):
    lab.set_wan("100.64.3.2/10")
    agent = lab.watch(lab.config(RECORD_A))

    agent.wait_for("home.example.test A: not published: 100.64.3.2 is a carrier-grade NAT", 10)
    assert lab.answer(HOME, "A") == []
    assert lab.bind.updates() == 0


# -- the OpenWrt path: netifd runs the hotplug script, which starts `ddns-agent update` ----------------

class Hotplug:
    """The stand-in OpenWrt root of tests/standins (functions.sh, rc.d link, started marker, ubus)
    with a `ddns-agent` that records each start and runs the real agent; all inside the lab's router.
    """

    def __init__(self, lab: Lab, config_text: str) -> None:
        from standins.router import Router

        self.lab = lab
        self.router = Router(lab.workdir / "openwrt")
        self.router.enable()
        self.router.start()
        self.router.config(config_text)
        self.starts = self.router.tmp / "agent_starts"
        self.agent_log = self.router.tmp / "agent.log"
        wrapper = self.router.bin / "ddns-agent"
        wrapper.unlink()
        # the package's launcher, minus the install paths; stderr kept since hotplug drops it
        wrapper.write_text("#!/bin/sh\necho \"$*\" >>'%s'\nDDNS_AGENT_LOG=stderr PYTHONPATH='%s' "
                           "exec '%s' -m ddns_agent --config '%s' \"$@\" 2>>'%s'\n"
                           % (self.starts, REPO, sys.executable, self.router.config_dir / "ddns_agent",
                              self.agent_log))
        wrapper.chmod(0o755)

    def serve_from_kernel(self, interface: str = "wan", device: str = WAN) -> dict:
        """Let `ubus call network.interface.<interface> status` report what the kernel has now."""
        from agent_env import REAL

        status = json.loads((REAL / "dhcp-public" / "status_wan_up.json").read_text())
        status.update({"device": device, "l3_device": device, "ipv4-address": [], "ipv6-address": []})
        for address, prefixlen, family in self.lab.wan_addresses():
            entry = {"address": address, "mask": prefixlen}
            if family == 6:
                entry.update(preferred=3600, valid=7200)
            status["ipv%d-address" % family].append(entry)
        status["route"] = [{"target": "0.0.0.0", "mask": 0, "nexthop": ISP_V4, "source": "0.0.0.0/0"}]
        self.router.serve(interface, status)
        return status

    def run(self, action: str, interface: str = "wan", device: str = WAN, **flags: str) -> HotplugRun:
        """Start the hotplug script in router as netifd would (`sh script`, netifd's variables)."""
        env = self.router.env(ACTION=action, INTERFACE=interface, DEVICE=device, DEVICENAME="",
                              HOTPLUG_TYPE="iface", **flags)
        return HotplugRun(self.lab.router, env)

    def start_count(self) -> int:
        """How many times the hotplug script started `ddns-agent`."""
        return len(self.starts.read_text().splitlines()) if self.starts.exists() else 0


class HotplugRun:
    """One hotplug call: `returned()` once the script exits, `finished()` once all it started did."""

    def __init__(self, ns: Netns, env: dict) -> None:
        # every process started from the script inherits `w`: EOF on `r` = all of them are gone
        self._r, w = os.pipe()
        try:
            self.t0 = time.monotonic()
            self.proc = subprocess.Popen(ns.argv("/bin/sh", str(HOTPLUG)), env=env, cwd="/",
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, pass_fds=(w,))
        finally:
            os.close(w)

    def returned(self, timeout: float = 30) -> tuple:
        """(exit status, stdout, stderr) of the script itself."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def finished(self, timeout: float = 30) -> None:
        """Wait until every process the script started has exited."""
        import select

        self.returned(timeout)
        if self._r < 0:
            return
        try:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                ready, _, _ = select.select([self._r], [], [], 0.5)
                if ready and not os.read(self._r, 4096):
                    return
            raise AssertionError("a process started by the hotplug script still runs after %g s" % timeout)
        finally:
            os.close(self._r)
            self._r = -1


WAN_A = record("home4", "home", "A", interface="wan")


def test_hotplug_ifupdate_publishes_the_new_address_within_2_s_and_a_repeat_starts_no_python(lab):
    lab.set_wan(FIRST_V4)
    hotplug = Hotplug(lab, lab.config(WAN_A))
    hotplug.serve_from_kernel()
    first = hotplug.run("ifup")
    first.finished()
    lab.wait_answer(HOME, "A", "203.0.113.10", 10)
    assert hotplug.start_count() == 1

    lab.set_wan("198.51.100.20/24")
    hotplug.serve_from_kernel()  # netifd has the new address before it calls hotplug
    run = hotplug.run("ifupdate", IFUPDATE_ADDRESSES="1")
    rc, out, err = run.returned()
    assert (rc, out, err) == (0, "", "")
    lab.wait_answer(HOME, "A", "198.51.100.20", BUDGET_S, since=run.t0)
    run.finished()
    assert hotplug.start_count() == 2
    assert "home.example.test A: published 198.51.100.20 (was 203.0.113.10)" in \
        hotplug.agent_log.read_text()
    assert (lab.state / "fp" / "wan").read_text().split() == ["198.51.100.20"]
    saved = (lab.state / "state.json").stat().st_mtime_ns
    updates = lab.bind.updates()

    again = hotplug.run("ifupdate", IFUPDATE_ADDRESSES="1")
    again.finished()

    assert again.returned()[0] == 0
    assert hotplug.start_count() == 2  # same fingerprint: the script did not start Python
    assert (lab.state / "state.json").stat().st_mtime_ns == saved
    assert lab.bind.updates() == updates
    assert lab.bind.dig(HOME, "A") == [(60, "198.51.100.20")]


def test_hotplug_with_a_cgnat_wan_publishes_nothing_and_logs_the_reason(lab):
    lab.set_wan(FIRST_V4)
    hotplug = Hotplug(lab, lab.config(WAN_A))
    hotplug.serve_from_kernel()
    hotplug.run("ifup").finished()
    lab.wait_answer(HOME, "A", "203.0.113.10", 10)

    lab.set_wan("100.64.3.2/10")
    hotplug.serve_from_kernel()
    hotplug.run("ifupdate", IFUPDATE_ADDRESSES="1").finished()

    assert hotplug.start_count() == 2
    log = hotplug.agent_log.read_text()
    assert "home.example.test A: not published: 100.64.3.2 is a carrier-grade NAT" in log
    assert lab.answer(HOME, "A") == ["203.0.113.10"]
    assert lab.bind.updates() == 1
