"""The package in a real OpenWrt 22.03 (tests/openwrt_lab.py), as a user runs it.

opkg installs what `make ipk` builds; the user configures with `uci batch` and
`service ddns_agent reload`; netifd, hotplug-call, procd and rpcd are the real ones; a Cloudflare
fake listens on the router's loopback. Every case runs with python3-ubus installed and removed.
The router boots once per parameter; the tests run in file order on its evolving state.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time

import pytest
from fakes.cloudflare import CloudflareFake
from openwrt_lab import LAN_IP, Lab, require_rootfs

TOKEN = "cf-lab-token-5v8QzR2mXk"  # registered with the secret guard by the fake
FQDN = "home.example.com"


def configure(lab: Lab, url: str, rtype: str = "A", token: str = TOKEN) -> None:
    """What the README tells a user to do: uci batch, commit, reload."""
    lab.sh("""uci -q batch <<'EOF'
set ddns_agent.cf=provider
set ddns_agent.cf.type=cloudflare
set ddns_agent.cf.api_token=%s
set ddns_agent.cf.endpoint=%s/client/v4
set ddns_agent.cf.cacert=%s
set ddns_agent.home=record
set ddns_agent.home.provider=cf
set ddns_agent.home.domain=example.com
set ddns_agent.home.name=home
set ddns_agent.home.type=%s
set ddns_agent.home.interface=wan
commit ddns_agent
EOF
service ddns_agent reload""" % (token, url, lab.CA_IN_ROUTER, rtype))


def other_range(lab: Lab) -> str:
    """A DHCP range the current lease is not from."""
    return "198.51.100." if lab.wan_ip().startswith("203.") else "203.0.113."


class Router:
    """One booted lab with the package installed and the fake serving."""

    def __init__(self, lab: Lab, fake: CloudflareFake, server, ipks: list) -> None:
        self.lab, self.fake, self.server, self.ipks = lab, fake, server, ipks

    def sent(self) -> int:
        """Requests the fake received so far (a number: a failure report shows no header)."""
        return len(self.fake.requests)

    def published(self) -> list:
        """Contents of the fake's A records for FQDN."""
        return [r["content"] for r in self.fake.find(FQDN, "A")]

    def wait_published(self, address: str, timeout: float = 20) -> None:
        """Wait until the fake holds `address`, then until the router is quiet."""
        deadline = time.monotonic() + timeout
        while self.published() != [address]:
            assert time.monotonic() < deadline, "never published %s; fake has %s; log:\n%s" % (
                address, self.published(), self.lab.logread("ddns"))
            time.sleep(0.05)
        self.lab.settle()


def test_without_a_rootfs_the_lab_skips_in_one_line_and_fails_in_ci(monkeypatch):
    """No OPENWRT_ROOTFS: a one-line skip reason naming the variable; with CI=true a failure."""
    monkeypatch.delenv("OPENWRT_ROOTFS", raising=False)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_rootfs()
    assert "OPENWRT_ROOTFS" in str(skipped.value) and "\n" not in str(skipped.value)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        require_rootfs()
    assert "OPENWRT_ROOTFS" in str(failed.value)


@pytest.fixture(scope="session")
def ipks(tmp_path_factory) -> list:
    """The packages `make ipk` builds."""
    require_rootfs()
    out = tmp_path_factory.mktemp("ipk")
    return Lab.build_ipks(out)


@pytest.fixture(scope="module", params=[True, False], ids=["python3-ubus", "no-python3-ubus"])
def router(request, tmp_path_factory, ipks, ca):
    """A booted router with the core package installed and configured for the fake."""
    require_rootfs()
    with Lab(tmp_path_factory.mktemp("openwrt"), python_ubus=request.param, luci=True) as lab:
        lab.install_ipks([p for p in ipks if p.name.startswith("ddns-agent_")])
        fake = CloudflareFake(TOKEN)
        server = lab.serve(fake, ca)
        yield Router(lab, fake, server, ipks)


def test_install_configure_reload(router):
    """opkg install + uci batch + service reload publishes the WAN lease once."""
    lab = router.lab
    configure(lab, router.server.url)
    wan = lab.wan_ip()
    router.wait_published(wan)
    assert router.fake.writes == 1
    status = lab.sh("ubus call ddns_agent status").stdout
    assert '"result": "published"' in status and wan in status
    assert "published %s" % wan in lab.logread("ddns")


def test_lan_client_reaches_luci(router):
    """The lab's LAN client reaches the router's uhttpd (what browser tests of LuCI need)."""
    code = ("import urllib.request; print(urllib.request.urlopen('http://%s/', "
            "timeout=10).read().decode())" % LAN_IP)
    done = subprocess.run(router.lab.lan_argv(sys.executable, "-c", code), capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "cgi-bin/luci/" in done.stdout  # the image's /www/index.html


def test_no_change_starts_no_python(router):
    """Renews and ifupdates that change no address start no Python and send nothing."""
    lab = router.lab
    lab.settle()
    wan = lab.wan_ip()
    starts, requests = len(lab.python_starts()), router.sent()
    events = len(lab.hotplug_stamps())
    gw = wan.rsplit(".", 1)[0] + ".1"
    for n in range(10):
        # same address, another netmask (every other time) and DNS server: an ifupdate with
        # IFUPDATE_ADDRESSES, the fingerprint (addresses only) unchanged; one event at a time,
        # since netifd coalesces events queued behind a running hotplug call
        lab.sh("/lib/netifd/dhcp.script renew", env={
            "INTERFACE": "wan", "interface": "eth1", "ip": wan, "router": gw, "serverid": gw,
            "subnet": "255.255.254.0" if n % 2 == 0 else "255.255.255.0",
            "dns": "192.0.2.%d" % (n + 1), "lease": "3600"})
        lab.settle()
        lab.sh("ubus call network.interface.wan set_data '{\"lab\": %d}'" % n)
        lab.settle()
    lab.sh("ubus call network.interface.wan renew")  # udhcpc renews the same lease
    lab.settle()
    lab.sh("ubus call network.interface.lan down && ubus call network.interface.lan up")  # no record
    lab.settle()
    # the same lease again after ifdown/ifup: an ifup whose addresses did not change
    lab.sh("ubus call network.interface.wan down")
    lab.wait_wan_down()
    lab.sh("ubus call network.interface.wan up")
    lab.wait_wan(wan)
    lab.settle()
    seen = [e[1:] for e in lab.hotplug_stamps()[events:]]
    # netifd reported them, and half carried IFUPDATE_ADDRESSES: the hotplug script's flag
    # filter did not stop those, its fingerprint check did
    assert seen.count(("ifupdate", "wan", "A")) >= 5, seen
    assert len([e for e in seen if e[:2] == ("ifupdate", "wan")]) >= 20, seen
    assert ("ifup", "wan", "") in seen and ("ifup", "lan", "") in seen, seen
    assert len(lab.python_starts()) == starts
    assert router.sent() == requests


def test_lease_change_published_once(router):
    """A new lease (ifdown/ifup onto another DHCP range) is published with one request."""
    lab = router.lab
    requests = router.sent()
    address = lab.lease("198.51.100.")
    router.wait_published(address)
    assert router.sent() - requests == 1
    assert "published %s" % address in lab.logread("ddns")


def test_in_place_change_published_once(router):
    """An address changed in place (dhcp.script renew, netifd's ifupdate) is published once."""
    lab = router.lab
    requests = router.sent()
    lab.renew("198.51.100.77")
    router.wait_published("198.51.100.77")
    assert router.sent() - requests == 1


def test_rpcd_status_and_update(router):
    """`ubus call ddns_agent status` / `update` through the real rpcd."""
    lab = router.lab
    status = lab.sh("ubus call ddns_agent status").stdout
    assert '"fqdn": "%s"' % FQDN in status and "198.51.100.77" in status
    requests = router.sent()
    done = lab.sh("ubus call ddns_agent update '{\"interface\": \"wan\"}'").stdout
    assert '"code": 0' in done
    assert router.sent() == requests  # nothing changed: nothing sent
    done = lab.sh("ubus call ddns_agent update '{\"force\": true}'").stdout
    assert '"code": 0' in done
    assert router.sent() > requests  # force re-reads the remote record


def test_wan_down_publishes_nothing(router):
    """WAN down keeps the published record: no request, no Python beyond the hotplug filter."""
    lab = router.lab
    lab.settle()
    requests = router.sent()
    lab.wan_down()
    lab.settle()
    time.sleep(1)
    lab.settle()
    assert router.sent() == requests
    assert router.published() == ["198.51.100.77"]
    lab.sh("ubus call network.interface.wan up")
    address = lab.wait_wan("198.51.100.")
    router.wait_published(address)


def test_hotplug_config_error_in_logread(router):
    """A config error in a run that hotplug started is in `logread -e ddns`, naming the option."""
    lab = router.lab
    lab.sh("uci set ddns_agent.home.ttl=soon && uci commit ddns_agent")  # no reload: hotplug runs it
    try:
        lab.lease("192.0.2.")
        lab.settle()
        log = lab.logread("ddns")
        assert "home.ttl" in log, log
        # and from a run that rpcd started
        lab.sh("logger -t lab mark")
        done = lab.sh("ubus call ddns_agent update").stdout
        assert '"code": 2' in done, done
        assert "home.ttl" in lab.logread().split("lab: mark", 1)[1]
    finally:
        lab.sh("uci delete ddns_agent.home.ttl && uci commit ddns_agent && service ddns_agent reload")
        router.wait_published(lab.wan_ip())


@pytest.mark.parametrize("off, on", [
    ("service ddns_agent stop", "service ddns_agent start"),
    ("uci set ddns_agent.main.enabled=0 && uci commit ddns_agent && service ddns_agent reload",
     "uci set ddns_agent.main.enabled=1 && uci commit ddns_agent && service ddns_agent reload"),
], ids=["stopped", "enabled-0"])
def test_switched_off_a_lease_change_starts_nothing(router, off, on):
    """Stopped, or `option enabled 0`: events start no Python and send nothing; on again, it publishes."""
    lab = router.lab
    lab.settle()
    lab.sh(off)
    lab.settle()
    starts, requests = len(lab.python_starts()), router.sent()
    address = lab.lease(other_range(lab))
    lab.settle()
    time.sleep(1)
    lab.settle()
    assert len(lab.python_starts()) == starts
    assert router.sent() == requests
    assert not any("ddns" in cmd for _, cmd in lab.processes())
    lab.sh(on)
    router.wait_published(address)


def test_remove_reinstall_keeps_config(router):
    """`opkg remove` then install again keeps the user's config, and the service publishes."""
    lab = router.lab
    lab.settle()
    lab.sh("opkg remove ddns-agent")
    assert lab.sh("uci -q get ddns_agent.home.domain").stdout.strip() == "example.com"
    assert not any("ddns" in cmd for _, cmd in lab.processes())
    lab.install_ipks([p for p in router.ipks if p.name.startswith("ddns-agent_")])
    assert lab.sh("uci -q get ddns_agent.cf.type").stdout.strip() == "cloudflare"
    requests = router.sent()
    address = lab.lease(other_range(lab))
    router.wait_published(address)
    assert router.sent() - requests == 1


def test_new_delegated_prefix_publishes_the_lan_hosts_aaaa(router):
    """A LAN host's AAAA (interface lan + ipv6_suffix) follows a new prefix announced on wan6."""
    lab = router.lab

    def lan_prefix() -> str:
        status = json.loads(lab.sh("ubus call network.interface.lan status").stdout)
        assigned = status.get("ipv6-prefix-assignment") or [{}]
        return assigned[0].get("address", "")

    def with_suffix(prefix: str) -> str:
        suffix = int(ipaddress.IPv6Address("::1234"))
        return str(ipaddress.IPv6Address(int(ipaddress.IPv6Address(prefix)) | suffix))

    def use_prefix(prefix: str) -> str:
        lab.sh("uci -q delete network.wan6.ip6prefix; uci add_list network.wan6.ip6prefix=%s && "
               "uci commit network && ubus call network reload" % prefix)
        deadline = time.monotonic() + 20
        while not lan_prefix().startswith(prefix.split("::")[0] + ":"):
            assert time.monotonic() < deadline, "lan never got a /60 of %s" % prefix
            time.sleep(0.1)
        lab.settle()
        return lan_prefix()

    lab.sh("""uci -q batch <<'EOF'
set network.wan6=interface
set network.wan6.device=eth1
set network.wan6.proto=static
set network.wan6.ip6addr=2001:db8:ffff::2/64
set network.lan.ip6assign=60
set ddns_agent.nas6=record
set ddns_agent.nas6.provider=cf
set ddns_agent.nas6.domain=example.com
set ddns_agent.nas6.name=nas
set ddns_agent.nas6.type=AAAA
set ddns_agent.nas6.interface=lan
set ddns_agent.nas6.ipv6_suffix=::1234
commit ddns_agent
EOF""")
    first = use_prefix("2001:db8:1::/48")
    lab.sh("service ddns_agent reload")
    expected = with_suffix(first)
    deadline = time.monotonic() + 20
    while [r["content"] for r in router.fake.find("nas.example.com", "AAAA")] != [expected]:
        assert time.monotonic() < deadline, (expected, router.fake.find("nas.example.com", "AAAA"),
                                             lab.logread("ddns"))
        time.sleep(0.1)
    lab.settle()
    requests = router.sent()

    second = use_prefix("2001:db8:2::/48")  # wan6 goes down and up: an ifup on wan6, none on lan
    expected = with_suffix(second)
    deadline = time.monotonic() + 20
    while [r["content"] for r in router.fake.find("nas.example.com", "AAAA")] != [expected]:
        assert time.monotonic() < deadline, (expected, lab.logread("ddns"))
        time.sleep(0.1)
    lab.settle()
    assert router.sent() - requests == 1
