"""netlink source against a real kernel: devices and addresses inside throwaway network namespaces."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
from netns import Netns, require_netns

from ddns_agent import netlink
from ddns_agent.errors import SourceError

# Runs inside the namespace: what the agent reads for one device, as JSON.
READ = """
import json, sys
from ddns_agent import netlink, sources
from ddns_agent.config import RecordConfig
from ddns_agent.errors import SourceError
device, suffix = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
try:
    out = {"up": netlink.is_up(device), "addresses": [c.to_json() for c in netlink.addresses(device)]}
except SourceError as e:
    out = {"error": str(e)}
records = [RecordConfig("a", "p", "example.com", type="A", device=device),
           RecordConfig("aaaa", "p", "example.com", type="AAAA", device=device, ipv6_suffix=suffix)]
out["selections"] = {k: s.to_json() for k, s in sources.observe_all(records).items()}
print(json.dumps(out))
"""


@pytest.fixture
def ns():
    """A fresh namespace, always deleted; fails under CI=true when namespaces are unavailable."""
    require_netns()
    with Netns() as created:
        yield created


def read(ns: Netns, device: str, suffix: str | None = None) -> dict:
    args = [device] + ([suffix] if suffix else [])
    return json.loads(ns.python(READ, *args).stdout)


def table(seen: dict) -> dict:
    """address -> (preferred, deprecated, temporary, tentative), link-local addresses left out."""
    return {a["address"]: (a["preferred"], a["deprecated"], a["temporary"], a["tentative"])
            for a in seen["addresses"] if not a["address"].startswith("fe80:")}


def kernel_view(ns: Netns, device: str) -> dict:
    """The same facts from `ip -j addr`, to check the agent reads what the kernel holds."""
    found = {}
    for a in ns.addresses_json(device):
        if a.get("scope") == "link" or a.get("dadfailed"):
            continue
        lft = a.get("preferred_life_time")
        found[a["local"]] = (lft == 0 or bool(a.get("deprecated")), bool(a.get("temporary")),
                             bool(a.get("tentative")))
    return found


def agrees_with_kernel(ns: Netns, device: str, seen: dict) -> None:
    mine = {k: (v[1], v[2], v[3]) for k, v in table(seen).items()}
    assert mine == kernel_view(ns, device)


def selected(seen: dict, key: str) -> tuple:
    s = seen["selections"][key]
    return s["status"], s["address"] or s["reason"]


def test_addresses_follow_each_change_on_a_real_device(ns):
    ns.add_device("d0")
    seen = read(ns, "d0")
    assert seen["up"] is True
    assert table(seen) == {}
    assert selected(seen, "a") == ("none", "d0 has no IPv4 address")

    ns.ip("addr", "add", "203.0.113.10/24", "dev", "d0")
    ns.ip("-6", "addr", "add", "2001:db8::10/64", "dev", "d0", "nodad")
    seen = read(ns, "d0")
    assert table(seen) == {"203.0.113.10": (None, False, False, False),
                           "2001:db8::10": (None, False, False, False)}
    agrees_with_kernel(ns, "d0", seen)
    assert selected(seen, "a") == ("ok", "203.0.113.10")
    assert selected(seen, "aaaa") == ("ok", "2001:db8::10")
    assert seen["selections"]["a"]["origin"] == "netlink d0"

    # the old address is deprecated, a new one with a lifetime arrives: the new one wins
    ns.ip("-6", "addr", "change", "2001:db8::10/64", "dev", "d0", "preferred_lft", "0", "valid_lft", "3600")
    ns.ip("-6", "addr", "add", "2001:db8::20/64", "dev", "d0", "nodad", "preferred_lft", "1800",
          "valid_lft", "3600")
    seen = read(ns, "d0")
    found = table(seen)
    assert found["2001:db8::10"] == (0, True, False, False)
    assert 1700 < found["2001:db8::20"][0] <= 1800 and found["2001:db8::20"][1:] == (False, False, False)
    agrees_with_kernel(ns, "d0", seen)
    assert selected(seen, "aaaa") == ("ok", "2001:db8::20")

    ns.ip("addr", "del", "203.0.113.10/24", "dev", "d0")
    ns.ip("addr", "add", "10.1.2.3/8", "dev", "d0")
    ns.ip("-6", "addr", "del", "2001:db8::20/64", "dev", "d0")
    seen = read(ns, "d0")
    assert set(table(seen)) == {"10.1.2.3", "2001:db8::10"}
    status, reason = selected(seen, "a")
    assert status == "refused" and reason.startswith("10.1.2.3 is a private (RFC 1918) address")
    assert selected(seen, "aaaa") == ("ok", "2001:db8::10")  # deprecated, but the only one left

    ns.ip("-6", "addr", "del", "2001:db8::10/64", "dev", "d0")
    assert "2001:db8::10" not in table(read(ns, "d0"))


def test_a_point_to_point_address_is_read_from_the_local_side(ns):
    ns.add_device("ppp0")
    ns.ip("addr", "add", "192.0.2.1", "peer", "192.0.2.2", "dev", "ppp0")
    seen = read(ns, "ppp0")
    assert set(table(seen)) == {"192.0.2.1"}
    assert selected(seen, "a") == ("ok", "192.0.2.1")


def test_an_address_still_in_duplicate_detection_is_tentative(ns):
    # Peer down: no carrier, so DAD cannot run and the address stays tentative.
    ns.add_veth("t0", "t0p")
    ns.ip("-6", "addr", "add", "2001:db8:1::5/64", "dev", "t0")
    seen = read(ns, "t0")
    assert table(seen) == {"2001:db8:1::5": (None, False, False, True)}
    agrees_with_kernel(ns, "t0", seen)
    assert seen["up"] is False
    assert selected(seen, "aaaa") == ("down", "t0 is down")

    ns.ip("link", "set", "t0p", "up")
    deadline = time.monotonic() + 15
    while table(seen)["2001:db8:1::5"][3] and time.monotonic() < deadline:
        time.sleep(0.3)
        seen = read(ns, "t0")
    assert table(seen)["2001:db8:1::5"] == (None, False, False, False)
    assert seen["up"] is True
    assert selected(seen, "aaaa") == ("ok", "2001:db8:1::5")


def test_an_address_that_failed_duplicate_detection_is_never_offered(ns):
    ns.add_veth("a0", "a0p", peer_up=True)
    ns.ip("-6", "addr", "add", "2001:db8:2::7/64", "dev", "a0p", "nodad")
    ns.ip("-6", "addr", "add", "2001:db8:2::7/64", "dev", "a0")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(a.get("dadfailed") for a in ns.addresses_json("a0")):
            break
        time.sleep(0.3)
    else:
        pytest.fail("the kernel never flagged the duplicate address")
    seen = read(ns, "a0")
    assert table(seen) == {}
    status, reason = selected(seen, "aaaa")  # only the link-local address is left
    assert status == "refused" and "link-local" in reason
    assert "2001:db8:2::7" not in json.dumps(seen)


def test_privacy_addresses_are_read_as_temporary_and_not_chosen(ns):
    ns.add_device("d0")
    ns.run("sysctl", "-q", "-w", "net.ipv6.conf.d0.use_tempaddr=2")
    ns.ip("-6", "addr", "add", "2001:db8:5::1/64", "dev", "d0", "mngtmpaddr", "nodad",
          "valid_lft", "7200", "preferred_lft", "3600")
    deadline = time.monotonic() + 10
    seen = read(ns, "d0")
    while not any(v[2] for v in table(seen).values()) and time.monotonic() < deadline:
        time.sleep(0.3)
        seen = read(ns, "d0")
    temporary = [k for k, v in table(seen).items() if v[2]]
    assert len(temporary) == 1 and temporary[0].startswith("2001:db8:5:0:")
    agrees_with_kernel(ns, "d0", seen)
    assert selected(seen, "aaaa") == ("ok", "2001:db8:5::1")


def test_ipv6_suffix_on_a_plain_linux_device_uses_its_global_prefix(ns):
    ns.add_device("d0")
    ns.ip("-6", "addr", "add", "2001:db8:7:8:aaaa::1/64", "dev", "d0", "nodad")
    ns.ip("-6", "addr", "add", "fd00:7::1/64", "dev", "d0", "nodad")
    seen = read(ns, "d0", "::1234")
    assert selected(seen, "aaaa") == ("ok", "2001:db8:7:8::1234")


def test_a_device_that_is_down_is_reported_down(ns):
    ns.add_device("d0", up=False)
    ns.ip("addr", "add", "203.0.113.10/24", "dev", "d0")
    seen = read(ns, "d0")
    assert seen["up"] is False
    assert selected(seen, "a") == ("down", "d0 is down")


def test_an_unknown_device_is_a_clear_error(ns):
    seen = read(ns, "eth9")
    assert seen["error"] == "device eth9 does not exist"
    assert selected(seen, "a") == ("error", "device eth9 does not exist")


def test_unknown_device_in_this_process():
    with pytest.raises(SourceError, match="^device nosuchdev9 does not exist$"):
        netlink.addresses("nosuchdev9")
    with pytest.raises(SourceError, match="^device nosuchdev9 does not exist$"):
        netlink.is_up("nosuchdev9")


def test_loopback_is_read_and_refused():
    from ddns_agent.addresses import select

    found = netlink.addresses("lo")
    assert "127.0.0.1" in {str(c.address) for c in found}
    assert netlink.is_up("lo")
    chosen = select(found, 4, name="lo")
    assert chosen.status == "refused" and chosen.reason.startswith("127.0.0.1 is a loopback address")


# -- Watcher --------------------------------------------------------------------------------------

WATCH = """
import json, sys, time
from ddns_agent.netlink import Watcher
w = Watcher(rcvbuf=int(sys.argv[1]))
print("ready", flush=True)
for line in sys.stdin:
    names = set()
    deadline = time.monotonic() + 2.0
    while not names and time.monotonic() < deadline:
        names = w.read(max(0.0, deadline - time.monotonic()))
    more = names
    while more:  # the rest of the burst, as the daemon drains it
        more = w.read(0.3)
        names |= more
    print(json.dumps(sorted(names)), flush=True)
w.close()
"""


class WatcherProcess:
    """A Watcher running inside the namespace: `step()` starts a 2 s window, `names()` ends it."""

    def __init__(self, ns: Netns, rcvbuf: int = 1 << 18) -> None:
        self.proc = ns.popen(sys.executable, "-c", WATCH, str(rcvbuf), stdin=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def step(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def names(self) -> set:
        return set(json.loads(self.proc.stdout.readline()))


def test_watcher_names_the_device_within_two_seconds(ns):
    # No duplicate detection: its late completion events would land in the windows below.
    ns.run("sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0")
    ns.add_device("d0")
    ns.add_device("e1")
    ns.ip("link", "add", "n1", "type", "veth", "peer", "name", "n1p")
    w = WatcherProcess(ns)
    w.step()
    assert w.names() == set()  # nothing happened: the window closes empty

    w.step()
    ns.ip("addr", "add", "203.0.113.10/24", "dev", "d0")
    assert "d0" in w.names()

    w.step()
    ns.ip("-6", "addr", "add", "2001:db8::7/64", "dev", "e1", "nodad")
    assert "e1" in w.names()

    w.step()
    ns.ip("addr", "del", "203.0.113.10/24", "dev", "d0")
    assert "d0" in w.names()

    w.step()
    ns.ip("link", "set", "e1", "down")
    assert "e1" in w.names()

    w.step()
    ns.ip("link", "del", "n1")  # a device that no longer exists is still named
    assert "n1" in w.names()


def test_a_watcher_that_lost_messages_asks_to_reread_everything(ns):
    ns.add_device("d0")
    w = WatcherProcess(ns, rcvbuf=1)  # the kernel raises this to its minimum: a few messages
    batch = "".join("addr add 198.51.100.%d/32 dev d0\n" % i for i in range(1, 200))
    subprocess.run(ns.argv("ip", "-batch", "-"), input=batch, text=True, check=True, timeout=30)
    w.step()
    assert "*" in w.names()


def test_watcher_fileno_is_a_pollable_netlink_socket():
    with netlink.Watcher() as w:
        sock = socket.socket(fileno=w.fileno())
        try:
            assert sock.family == socket.AF_NETLINK
        finally:
            sock.detach()
        assert isinstance(w.read(0), set)  # returns at once whether or not host events are pending
