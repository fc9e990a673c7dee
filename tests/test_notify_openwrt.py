"""ddns-agent-notify in a real OpenWrt 22.03 (tests/openwrt_lab.py): opkg installs it next to the core,
a publish started by netifd's hotplug is told to an ntfy fake on the router's loopback by the detached
sender, and a refused notification lands in logread while the publishing goes on."""

from __future__ import annotations

import json
import time

import pytest
from fakes.cloudflare import CloudflareFake
from fakes.notify import NtfyFake
from openwrt_lab import CA_IN_ROUTER, Lab, require_rootfs
from test_openwrt_e2e import TOKEN, configure, other_range

NTFY_TOKEN = "tk_OpenWrtLabNtfy7Qx2Vb9Lm"
NOTIFY = """uci -q batch <<'EOF'
set ddns_agent.phone=notify
set ddns_agent.phone.preset=ntfy
set ddns_agent.phone.url=https://ntfy.sh/home-router-4f9a
set ddns_agent.phone.token=%s
set ddns_agent.phone.endpoint=%s
set ddns_agent.phone.cacert=%s
set ddns_agent.phone.min_interval=0
commit ddns_agent
EOF"""


def wait_for(check, what: str, within: float = 60.0):
    end = time.monotonic() + within
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("gave up waiting for " + what)


@pytest.fixture(scope="module")
def router(tmp_path_factory, ca):
    """A booted router with the core and ddns-agent-notify installed, Cloudflare and ntfy fakes inside."""
    require_rootfs()
    ipks = Lab.build_ipks(tmp_path_factory.mktemp("ipk"))
    with Lab(tmp_path_factory.mktemp("openwrt"), python_ubus=False) as lab:
        done = lab.install_ipks([p for p in ipks if p.name.startswith(("ddns-agent_", "ddns-agent-notify_"))])
        assert "ddns-agent-notify" in done.stdout
        cf = CloudflareFake(TOKEN)
        cf_server = lab.serve(cf, ca)
        ntfy = NtfyFake(NTFY_TOKEN)
        ntfy_server = lab.serve(ntfy, ca)
        yield lab, cf, cf_server, ntfy, ntfy_server


def test_a_hotplug_publish_is_told_through_ntfy(router):
    lab, cf, cf_server, ntfy, ntfy_server = router
    lab.sh(NOTIFY % (NTFY_TOKEN, ntfy_server.url, CA_IN_ROUTER))
    configure(lab, cf_server.url)
    wan = lab.wan_ip()
    wait_for(lambda: [m for m in ntfy.messages if wan in m[1]], "the ntfy message")
    assert ntfy.messages[-1] == ("ddns-agent change: home.example.com A",
                                 "home.example.com A is now %s" % wan)
    saved = wait_for(lambda: json.loads(lab.sh("cat /var/run/ddns_agent/notify.json").stdout)["records"]
                     ["home"].get("ok") is not None and lab.sh("cat /var/run/ddns_agent/notify.json").stdout,
                     "the outcome")
    assert json.loads(saved)["records"]["home"]["ok"] is True
    assert NTFY_TOKEN not in saved and TOKEN not in lab.logread()


def test_a_refused_notification_is_logged_and_the_new_lease_published(router):
    lab, cf, cf_server, ntfy, ntfy_server = router
    lab.sh("uci set ddns_agent.phone.token=tk_wrongwrongwrong0000 && uci commit ddns_agent")
    address = lab.lease(other_range(lab))
    wait_for(lambda: [r for r in cf.find("home.example.com", "A") if r["content"] == address], "the publish")
    line = wait_for(lambda: lab.logread("notify phone"), "the log line")
    assert "notify phone: change notification failed: ntfy refused the notification (HTTP 401): " \
        "unauthorized" in line
    assert "tk_wrong" not in lab.logread()
