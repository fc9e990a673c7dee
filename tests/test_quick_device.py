"""The no-change fast path for netlink `device` records, against real devices in a network namespace."""

from __future__ import annotations

import sys
import time

import pytest
from netns import Netns, require_netns
from test_quick import PROBE

DEVICE_CONFIG = """
config agent
	option state_dir '{state}'

config provider 'demo'
	option type 'log'

config record 'home'
	option provider 'demo'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option device 'd0'

config record 'home6'
	option provider 'demo'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option device 'd0'
"""

# Runs inside the namespace: the fast path's own read against the full cycle's, for one device.
BOTH = """
import sys
from ddns_agent import quick
from ddns_agent.sources import Observer
print(quick._read_device(sys.argv[1]))
print(Observer().device_fingerprint(sys.argv[1]))
"""


class Box:
    """A config with A and AAAA records on device d0 (log provider) inside a fresh namespace."""

    def __init__(self, ns: Netns, tmp) -> None:
        self.ns = ns
        self.conf = tmp / "ddns_agent.conf"
        self.state = tmp / "state"
        self.conf.write_text(DEVICE_CONFIG.format(state=self.state))
        self.env = {"DDNS_AGENT_LOG": "stderr"}
        ns.add_device("d0")
        ns.ip("addr", "add", "203.0.113.54/24", "dev", "d0")
        ns.ip("-6", "addr", "add", "2001:db8::54/64", "dev", "d0", "nodad")
        # duplicate detection of the link-local address ends ~1 s after the link comes up, and
        # rightly sends the next run through the full cycle (a tentative address became usable)
        for _ in range(100):
            if not ns.ip("-6", "addr", "show", "dev", "d0", "tentative").stdout.strip():
                break
            time.sleep(0.05)

    def update(self, *args: str):
        return self.ns.run(sys.executable, "-m", "ddns_agent", "--config", str(self.conf), "--state-dir",
                           str(self.state), "update", *args, check=False, env=self.ns.environ(self.env))

    def probe(self, *args: str) -> list:
        """[exit code, config loaded, json loaded] of an in-process `update`."""
        return self.ns.python(PROBE, "--config", str(self.conf), "--state-dir", str(self.state), "update",
                              *args, env=self.env).stdout.split()


@pytest.fixture
def box(tmp_path):
    require_netns()
    with Netns() as ns:
        yield Box(ns, tmp_path)


def published(run) -> list:
    return [line.split(": published ")[1] for line in run.stderr.splitlines() if ": published " in line]


def test_unchanged_device_answers_before_loading_config(box):
    first = box.update()
    assert first.returncode == 0, first.stderr
    assert published(first) == ["203.0.113.54", "2001:db8::54"]
    assert [ln.split()[:2] for ln in (box.state / "quick").read_text().splitlines()
            if ln.startswith("dev ")] == [["dev", "d0"]]
    assert box.probe() == ["0", "False", "False"]
    assert box.probe("--interface", "d0") == ["0", "False", "False"]
    # what the fast path itself loads (the test venv's site has imported some already)
    heavy = box.ns.python("import sys; before = set(sys.modules); from ddns_agent.cli import main; "
                          "rc = main(sys.argv[1:]); print(rc, sorted({'socket', 'struct', 'ipaddress', "
                          "'enum', 'ddns_agent.netlink'} & (set(sys.modules) - before)))", "--config",
                          str(box.conf), "--state-dir", str(box.state), "update", env=box.env).stdout.strip()
    assert heavy == "0 []"


def test_a_new_address_on_the_device_takes_the_full_cycle_and_publishes(box):
    box.update()
    box.ns.ip("addr", "del", "203.0.113.54/24", "dev", "d0")
    box.ns.ip("addr", "add", "198.51.100.54/24", "dev", "d0")
    assert box.probe()[1] == "True"
    again = box.update()
    assert published(again) == []  # the probe above was the full cycle: it published already
    assert box.probe() == ["0", "False", "False"]


def test_the_device_going_down_takes_the_full_cycle(box):
    box.update()
    box.ns.ip("link", "set", "d0", "down")
    assert box.probe()[1] == "True"


def test_lifetimes_that_reorder_the_addresses_take_the_full_cycle(box):
    # two leased prefixes: the one with the longer preferred lifetime is published (addresses.select)
    box.ns.ip("-6", "addr", "add", "2001:db8:1::54/64", "dev", "d0", "nodad", "preferred_lft", "3000",
              "valid_lft", "4000")
    box.ns.ip("-6", "addr", "add", "2001:db8:2::54/64", "dev", "d0", "nodad", "preferred_lft", "2000",
              "valid_lft", "4000")
    box.ns.ip("-6", "addr", "del", "2001:db8::54/64", "dev", "d0")
    assert published(box.update())[1:] == ["2001:db8:1::54"]
    assert box.probe() == ["0", "False", "False"]  # lifetimes count down, their order stays
    # a router advertisement renews the second prefix past the first
    box.ns.ip("-6", "addr", "change", "2001:db8:2::54/64", "dev", "d0", "preferred_lft", "3500",
              "valid_lft", "4000")
    run = box.update()
    assert published(run) == ["2001:db8:2::54 (was 2001:db8:1::54)"]


def test_an_interface_run_never_vouches_for_devices(box):
    box.update("--interface", "d0")
    assert not (box.state / "quick").exists()
    box.update()
    assert (box.state / "quick").exists()


def test_the_fast_read_equals_the_full_cycles_on_every_kind_of_address(box):
    ns = box.ns
    ns.ip("addr", "add", "198.51.100.7/24", "dev", "d0")  # a second IPv4 (secondary)
    ns.ip("-6", "addr", "add", "2001:db8:5::9/64", "dev", "d0", "nodad", "preferred_lft", "0",
          "valid_lft", "600")  # deprecated
    ns.ip("-6", "addr", "add", "2001:db8:6::9/64", "dev", "d0", "nodad", "preferred_lft", "300",
          "valid_lft", "600")
    ns.add_veth("v0", "v0p")  # no carrier: an address added with DAD stays tentative
    ns.ip("-6", "addr", "add", "2001:db8:7::9/64", "dev", "v0")
    ns.ip("addr", "add", "192.0.2.1", "peer", "192.0.2.2", "dev", "v0")  # point-to-point
    ns.ip("link", "set", "lo", "up")
    seen = {}
    for device in ("d0", "v0", "lo"):
        fast, full = ns.python(BOTH, device).stdout.split()
        assert fast == full
        seen[device] = fast
    assert seen["d0"].startswith("up,") and seen["d0"].count(",") == 6  # 2 IPv4, 3 IPv6 + link-local
    assert seen["v0"].startswith("down,")  # no carrier
    assert ns.python(BOTH, "nosuch0").stdout.split() == ["None", "None"]
