"""Between events nothing of ours is resident; the real procd's respawn drives the re-check.

In the OpenWrt lab (tests/openwrt_lab.py) with the package installed, the re-check interval cut
from 60 s to 1 s (the init script's DDNS_AGENT_RECHECK_S) so that a test sees many passes. What
the re-check did as a resident loop must still happen: a due retry, force_interval, and an
address change whose hotplug event was missed (fingerprint sweep, every 5th pass).
"""

from __future__ import annotations

import time

import pytest
from fakes.cloudflare import CloudflareFake
from openwrt_lab import Lab, require_rootfs
from test_openwrt_e2e import FQDN, TOKEN, Router, configure, other_range

OURS = ("ddns", "/usr/lib/ddns_agent/")


def ours(lab: Lab) -> dict:
    """pid -> cmdline of every process of the package in the router."""
    return {pid: cmd for pid, cmd in lab.processes() if any(o in cmd for o in OURS)}


@pytest.fixture(scope="module", params=[True, False], ids=["python3-ubus", "no-python3-ubus"])
def router(request, tmp_path_factory, ca):
    """A router publishing to the fake, its re-check respawned every second."""
    require_rootfs()
    with Lab(tmp_path_factory.mktemp("openwrt"), python_ubus=request.param) as lab:
        ipks = Lab.build_ipks(tmp_path_factory.mktemp("ipk"))
        lab.install_ipks([p for p in ipks if p.name.startswith("ddns-agent_")])
        fake = CloudflareFake(TOKEN)
        server = lab.serve(fake, ca)
        lab.sh("sed -i 's/^DDNS_AGENT_RECHECK_S=60$/DDNS_AGENT_RECHECK_S=1/' /etc/init.d/ddns_agent")
        assert "DDNS_AGENT_RECHECK_S=1\n" in lab.sh("cat /etc/init.d/ddns_agent").stdout
        configure(lab, server.url)
        r = Router(lab, fake, server, ipks)
        r.wait_published(lab.wan_ip())
        yield r


def test_nothing_resident_between_events(router):
    """Over 6 s (about 6 re-check passes) no process of ours lives longer than a pass."""
    lab = router.lab
    lab.settle()
    memo = lab.root / "var/run/ddns_agent/recheck"
    seen: dict = {}  # pid -> (first seen, last seen)
    memos = set()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        now = time.monotonic()
        for pid in ours(lab):
            seen[pid] = (seen.get(pid, (now, now))[0], now)
        if memo.exists():
            memos.add(memo.read_text())
        time.sleep(0.05)
    assert len(memos) >= 3, "procd did not respawn the re-check pass: %s" % memos
    lived = {pid: round(last - first, 2) for pid, (first, last) in seen.items()}
    assert all(s < 1.0 for s in lived.values()), lived
    status = lab.sh("ubus call service list '{\"name\": \"ddns_agent\"}'").stdout
    assert '"respawn": true' in status or '"respawn"' in status


def test_a_due_retry_is_run_by_the_respawned_pass(router):
    """A publish that failed (HTTP 500) is retried at next_check without any event."""
    lab = router.lab
    lab.sh("uci set ddns_agent.main.retry_max=0 && uci commit ddns_agent && service ddns_agent reload")
    lab.settle()
    router.server.inject(status=500, times=1)
    address = lab.lease(other_range(lab))
    lab.settle()
    assert router.published() != [address]
    next_check = lab.root / "var/run/ddns_agent/next_check"
    due = float(next_check.read_text())
    assert due > time.time() + 30  # the agent's first retry: a minute after the failure
    next_check.write_text("%d\n" % (time.time() + 2))  # not to wait that minute here
    router.wait_published(address, timeout=30)
    assert '"address": "%s"' % address in lab.sh("ubus call ddns_agent status").stdout
    lab.sh("uci delete ddns_agent.main.retry_max && uci commit ddns_agent && service ddns_agent reload")


def test_force_interval_repairs_drift_through_the_respawned_pass(router):
    """force_interval re-reads the remote record and repairs a change made elsewhere."""
    lab = router.lab
    lab.sh("uci set ddns_agent.main.force_interval=3 && uci commit ddns_agent && "
           "service ddns_agent reload")
    lab.settle()
    address = lab.wan_ip()
    for rec in router.fake.find(FQDN, "A"):
        rec["content"] = "192.0.2.99"  # someone edited the record in the provider's web UI
    router.wait_published(address, timeout=30)
    lab.sh("uci set ddns_agent.main.force_interval=86400 && uci commit ddns_agent && "
           "service ddns_agent reload")


def test_a_missed_event_is_caught_by_the_fingerprint_sweep(router):
    """An address change whose hotplug event was lost is published by the sweep (5th pass)."""
    lab = router.lab
    lab.settle()
    hotplug = "/etc/hotplug.d/iface/95-ddns_agent"
    lab.sh("mv %s /tmp/95-ddns_agent" % hotplug)  # the event reaches no script of ours
    try:
        lab.renew("198.51.100.42")
        lab.settle()
    finally:
        lab.sh("mv /tmp/95-ddns_agent %s" % hotplug)
    router.wait_published("198.51.100.42", timeout=30)
