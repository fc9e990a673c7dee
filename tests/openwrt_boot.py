"""How the OpenWrt lab (tests/openwrt_lab.py) boots: its scripts, addresses and namespace holders.

Facts from the rootfs's own README (pid 1 before chroot mounts proc, a read-only sysfs and
/proc/sys except net and the host name, a small /dev and a tmpfs /tmp; after chroot it starts
ubusd, procd as service manager, then the boot scripts). The constants here are the lab's API too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV_ROOTFS = "OPENWRT_ROOTFS"
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
LAN_IP = "192.168.1.1"
LAN_CLIENT_IP = "192.168.1.10"
ISP_IP = "203.0.113.1"
FIRST_RANGE = "203.0.113."
CA_IN_ROUTER = "/etc/ddns_agent/lab-ca.pem"
CLONE_NEWNET = 0x40000000

NETWORK = """
config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config globals 'globals'
	option ula_prefix 'fd12:3456:789a::/48'

config interface 'lan'
	option device 'eth0'
	option proto 'static'
	option ipaddr '%s'
	option netmask '255.255.255.0'

config interface 'wan'
	option device 'eth1'
	option proto 'dhcp'
""" % LAN_IP

# pid 1 of the router's pid namespace, before chroot: the mounts of README "Facts for booting"
SETUP = r"""
set -e
R="$1"
mount --make-rprivate /
mount -t proc proc "$R/proc"
for p in net kernel/hostname kernel/domainname; do mount --bind "$R/proc/sys/$p" "$R/proc/sys/$p"; done
mount --rbind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t tmpfs -o mode=0755,size=1m tmpfs "$R/dev"
for n in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
	set -- $n; mknod -m 666 "$R/dev/$1" c "$2" "$3"
done
ln -s /proc/self/fd "$R/dev/fd"
ln -s fd/0 "$R/dev/stdin"; ln -s fd/1 "$R/dev/stdout"; ln -s fd/2 "$R/dev/stderr"
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,size=64m tmpfs "$R/tmp"
mkdir -p "$R/tmp/run/ubus" "$R/tmp/lock" "$R/tmp/log" "$R/tmp/state" "$R/tmp/shm" "$R/tmp/lab"
ip link set lo up
# the host cables eth0 (LAN) and eth1 (WAN) into this namespace; netifd must find them
i=0; until ip link show eth1 >/dev/null 2>&1 && ip link show eth0 >/dev/null 2>&1; do
	i=$((i + 1)); [ "$i" -lt 500 ] || exit 1; sleep 0.02
done
exec chroot "$R" /bin/sh /lab/init
"""

# the router's pid 1 after chroot: ubusd, procd as service manager, then the boot scripts
INIT = r"""
export PATH=%s
/sbin/ubusd &
until [ -S /var/run/ubus/ubus.sock ]; do sleep 0.02; done
/sbin/procd &
until ubus list service >/dev/null 2>&1; do sleep 0.02; done
for s in $(cat /lab/services); do /etc/init.d/$s boot >/tmp/lab/boot-$s.log 2>&1; done
: >/tmp/lab/booted
# reap orphans (the agent's background runs) so no zombie counts as resident
while :; do wait; sleep 1; done
""" % PATH

STAMP = """# lab: when netifd's event reached hotplug-call (first iface script)
read -r _lab_up _ </proc/uptime
_lab_flags="${IFUPDATE_ADDRESSES:+A}${IFUPDATE_PREFIXES:+P}${IFUPDATE_ROUTES:+R}${IFUPDATE_DATA:+D}"
echo "- $_lab_up $ACTION $INTERFACE $_lab_flags-" >>"/tmp/lab/${LAB_STAMP:-hotplug}"
"""

SITECUSTOMIZE = """import sys, time
try:
    with open("/tmp/lab/python-starts", "a") as f:
        f.write("%r %s\\n" % (time.time(), " ".join(sys.argv)))
except OSError:
    pass
"""

UDHCPC_ENV = "interface=eth1 subnet=255.255.255.0 router={gw} dns={gw} lease=3600 serverid={gw} ip={ip}"


def _why_missing() -> str | None:
    path = os.environ.get(ENV_ROOTFS, "")
    if not path:
        return "%s is not set: point it at an OpenWrt 22.03 x86_64 rootfs tarball (README)" % ENV_ROOTFS
    if not Path(path).is_file():
        return "%s=%s: no such file" % (ENV_ROOTFS, path)
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "the OpenWrt lab needs root on Linux (namespaces, mounts)"
    for tool in ("unshare", "nsenter", "setpriv", "ip", "timeout"):
        if shutil.which(tool) is None:
            return "the OpenWrt lab needs `%s` (util-linux, iproute2, coreutils)" % tool
    return None


def require_rootfs() -> None:
    """Skip with one line, or fail when CI=true, if the lab cannot boot here."""
    reason = _why_missing()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("the OpenWrt lab is required in CI: " + reason)
        pytest.skip(reason)


def _children(pid: int) -> list:
    try:
        return [int(p) for p in Path("/proc/%d/task/%d/children" % (pid, pid)).read_text().split()]
    except OSError:
        return []


def _wait(predicate, timeout: float, what: str, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("lab: timed out waiting for " + what)
        time.sleep(step)


class _Holder:
    """A namespace held by one `sleep` process (under timeout), so it dies with it."""

    def __init__(self, flags: list, lifetime_s: int) -> None:
        self.proc = subprocess.Popen(["timeout", "-s", "KILL", str(lifetime_s), "unshare", *flags,
                                      "sleep", str(lifetime_s)], start_new_session=True)
        self.pid = _wait(lambda: self._leaf(), 10, "a namespace holder")

    def _leaf(self) -> int | None:
        kids = _children(self.proc.pid)  # timeout -> unshare, which execs sleep
        if kids and Path("/proc/%d/comm" % kids[0]).read_text().strip() == "sleep":
            return kids[0]
        return None

    def argv(self, *args: str) -> list:
        """argv running `args` in this holder's network namespace (host filesystem)."""
        return ["nsenter", "-t", str(self.pid), "-n", *[str(a) for a in args]]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
        self.proc.wait(timeout=10)
