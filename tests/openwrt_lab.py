"""A real OpenWrt 22.03 userland booted in namespaces: the package as users run it.

The rootfs tarball named by the environment variable OPENWRT_ROOTFS is unpacked into a test
directory and booted in new pid, mount, net, uts and ipc namespaces: the real ubusd, procd,
netifd, hotplug-call, rpcd, logd, opkg and python3 3.10 (README, "Reliability").

    from openwrt_lab import Lab, require_rootfs

    with Lab(tmp_path, python_ubus=False, luci=False) as lab:   # booted, WAN up by DHCP
        lab.install_ipks(lab.build_ipks(tmp_path / "dist"))      # opkg install, as a user does
        server = lab.serve(CloudflareFake(token), ca)            # a FakeServer on the router's lo
        lab.sh("uci batch <<'EOF'\\n...\\nEOF\\nservice ddns_agent reload")
        lab.sh("ubus call ddns_agent status").stdout
        lab.logread("ddns")                                      # `logread -e ddns`
        lab.lease("198.51.100.")                                 # new DHCP range, ifdown + ifup wan
        lab.renew("198.51.100.77")                               # dhcp.script renew: an ifupdate
        lab.python_starts()                                      # Python starts seen so far

Stable API (other branches build on it; extend, do not change):
- `Lab(workdir, python_ubus=True, luci=False, lifetime_s=900)`: a context manager; `start()`
  boots, `close()` stops it. `python_ubus=False` runs `opkg remove python3-ubus` at boot (a stock
  image has none). `luci=True` also boots uhttpd (LuCI at http://LAN_IP/ from the LAN client).
- `lab.sh(script, check=True, timeout=60, env=None)`: `/bin/sh -c script` inside the router (all
  its namespaces, chrooted, clean environment) via nsenter; returns CompletedProcess (text).
- `lab.rootfs`: the unpacked tree (files outside /tmp and /var are the router's own);
  `lab.root`: the router's whole root as the host sees it (/proc/<pid>/root, includes its tmpfs).
- `lab.install_ipks(paths)`, `lab.build_ipks(outdir)` (what `make ipk` builds), `lab.logread(match)`.
- `lab.serve(handler, ca)`: a tests/fakes FakeServer listening on the router's 127.0.0.1, its CA
  copied to `lab.CA_IN_ROUTER` (a path inside the router) for the provider's `cacert`.
- `lab.lan_argv(*argv)`: argv to run a host program in the LAN client namespace, whose `lan0`
  (LAN_CLIENT_IP) is cabled to the router's `eth0` (LAN_IP); `lab.lan_netns`: its /proc ns path.
- WAN: `eth1` cabled to an ISP namespace running the image's dnsmasq (chrooted); `lab.lease(prefix)`
  moves the DHCP server to `<prefix>.0/24` and takes wan down and up; `lab.renew(ip)` runs
  `/lib/netifd/dhcp.script renew` with udhcpc's environment and a new address; `lab.wan_down()`.
- `lab.python_starts()`: every Python start in the router, `(unix time, argv)`, from a
  sitecustomize the lab installs (it only appends one line to /tmp/lab/python-starts).
- `lab.processes()`: (pid, cmdline) of each process in the router; `lab.settle()` waits until
  no hotplug-call and no ddns-agent run is left.
- `lab.hotplug_stamps()`: `(unix time, ACTION, INTERFACE, IFUPDATE flags)` from
  /etc/hotplug.d/iface/00-lab-stamp, the first iface hotplug script, i.e. when netifd's event
  reached hotplug-call; `lab.add_stamp("94-x", "name")` adds one at another place in the order.

Everything stops by itself: pid 1 of the router is `unshare --kill-child`'s child under
`timeout lifetime_s`, so the whole pid namespace dies with it even if pytest is killed; the ISP and
LAN namespaces are held by `sleep` processes under the same timeout; veths die with their
namespaces; `close()` kills all three and deletes the unpacked tree.

Missing rootfs, unshare or root: the test skips with one line, and fails when CI=true.

Stand-ins (tests/standins/, tests/ubus_standin/) stay for unit tests that need speed or a case
the lab cannot make; the lab test that covers the same OpenWrt behaviour for real:
- standins/ubus, ubus_standin/ubus, standins/pyubus (netifd status through the ubus CLI and the
  python3-ubus binding) -> test_openwrt_e2e.py::test_lease_change_published_once and
  ::test_in_place_change_published_once, each with python3-ubus installed and removed;
- standins/rc.common + functions.sh (procd instances, start/reload/stop, enabled 0) ->
  test_openwrt_e2e.py::test_install_configure_reload, ::test_switched_off_a_lease_change_starts_nothing,
  ::test_remove_reinstall_keeps_config; test_openwrt_idle.py (respawned re-check pass: nothing
  resident, due retry, force_interval, fingerprint sweep);
- the hotplug script under the stand-in hotplug environment (flag filter, fingerprint, an interface
  no record uses, switched off) -> test_openwrt_e2e.py::test_no_change_starts_no_python,
  ::test_wan_down_publishes_nothing, ::test_switched_off_a_lease_change_starts_nothing;
- standins/router.py + devlog.py (rpcd plugin, syslog) -> test_openwrt_e2e.py::test_rpcd_status_and_update,
  ::test_hotplug_config_error_in_logread (hotplug- and rpcd-started runs).
Not in the lab yet, stand-ins and real captures only: IPv6 (wan6 prefix delegation, lan's
ipv6_suffix records, lifetime-only DHCPv6 renewals: the lab's WAN is IPv4 DHCP), PPPoE (no PPP in
this kernel), and the rpcd ACL as a logged-in LuCI session sees it (the luci branch's browser tests).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from openwrt_boot import (  # noqa: F401  (re-exported: the lab's API)
    CA_IN_ROUTER,
    CLONE_NEWNET,
    ENV_ROOTFS,
    FIRST_RANGE,
    INIT,
    ISP_IP,
    LAN_CLIENT_IP,
    LAN_IP,
    NETWORK,
    PATH,
    REPO,
    SETUP,
    SITECUSTOMIZE,
    STAMP,
    UDHCPC_ENV,
    _children,
    _Holder,
    _wait,
    _why_missing,
    require_rootfs,
)


class Lab:
    """One booted OpenWrt router with a DHCP WAN and a LAN client; see the module docstring."""

    def __init__(self, workdir: Path, python_ubus: bool = True, luci: bool = False,
                 lifetime_s: int = 900) -> None:
        self.workdir = Path(workdir)
        self.rootfs = self.workdir / "openwrt"
        self.python_ubus = python_ubus
        self.luci = luci
        self.lifetime_s = lifetime_s
        self.pid = 0
        self._boot = None
        self._isp = None
        self._lan = None
        self._dhcp = None
        self._servers: list = []
        self.CA_IN_ROUTER = CA_IN_ROUTER

    # -- boot and teardown --

    def __enter__(self) -> Lab:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> Lab:
        """Unpack, boot, cable WAN and LAN, wait for a DHCP lease on wan."""
        require_rootfs()
        self._unpack()
        self._isp = _Holder(["--net"], self.lifetime_s)
        self._lan = _Holder(["--net"], self.lifetime_s)
        self._boot = subprocess.Popen(
            ["timeout", "-s", "KILL", str(self.lifetime_s),
             "unshare", "--fork", "--pid", "--mount", "--net", "--uts", "--ipc", "--kill-child",
             "setpriv", "--bounding-set", "-sys_module,-sys_time,-sys_boot,-sys_rawio",
             "/bin/sh", "-c", SETUP, "setup", str(self.rootfs)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        self.pid = _wait(self._pid1, 10, "the router's pid 1")
        self.lan_netns = "/proc/%d/ns/net" % self._lan.pid
        self._cable()
        # dnsmasq needs the router's /dev; started early, udhcpc's first discover gets an offer
        _wait(lambda: self._chrooted() or self._boot.poll() is not None, 20, "the router's chroot")
        self._start_dhcp(FIRST_RANGE)
        _wait(lambda: (self.root / "tmp/lab/booted").exists() or self._boot.poll() is not None,
              60, "boot")
        if self._boot.poll() is not None:
            raise AssertionError("lab: boot failed: %s" % self._boot.stderr.read().decode()[-2000:])
        self.wait_wan()
        if not self.python_ubus:
            self.sh("opkg remove python3-ubus")
        return self

    @property
    def root(self) -> Path:
        """The router's root as the host sees it, its tmpfs included."""
        return Path("/proc/%d/root" % self.pid)

    def _chrooted(self) -> bool:
        try:
            return os.readlink(str(self.root)) == str(self.rootfs.resolve())
        except OSError:
            return False

    def _pid1(self) -> int | None:
        kids = _children(self._boot.pid)  # timeout -> unshare -> pid 1
        if not kids:
            return None
        inner = _children(kids[0])
        return inner[0] if inner else None

    def _unpack(self) -> None:
        if self.rootfs.exists():
            shutil.rmtree(self.rootfs)
        self.rootfs.mkdir(parents=True)
        subprocess.run(["tar", "-xJf", os.environ[ENV_ROOTFS], "-C", str(self.rootfs)], check=True,
                       timeout=120)
        r = self.rootfs
        for d in ("proc", "sys", "dev", "tmp", "root", "overlay", "lab", "mnt"):
            (r / d).mkdir(exist_ok=True)
        if not (r / "var").exists() and not (r / "var").is_symlink():
            (r / "var").symlink_to("tmp")
        (r / "etc/config/network").write_text(NETWORK)
        (r / "etc/config/wireless").write_text("")  # none: boot would sleep 1 s for it
        (r / "lab/init").write_text(INIT)
        services = ["boot", "system", "log", "rpcd", "network", "ucitrack"]
        services += ["uhttpd"] if self.luci else []
        (r / "lab/services").write_text(" ".join(services + ["done"]) + "\n")
        (r / "etc/hotplug.d/iface/00-lab-stamp").write_text(STAMP)
        site = next((r / "usr/lib").glob("python3.*/site-packages"))
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)

    def _cable(self) -> None:
        def ip(*args: str) -> None:
            subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)
        ip("link", "add", "eth1", "netns", str(self.pid), "type", "veth",
           "peer", "name", "isp0", "netns", str(self._isp.pid))
        ip("link", "add", "eth0", "netns", str(self.pid), "type", "veth",
           "peer", "name", "lan0", "netns", str(self._lan.pid))
        for holder, dev, addr in ((self._isp, "isp0", ISP_IP + "/24"),
                                  (self._lan, "lan0", LAN_CLIENT_IP + "/24")):
            for args in (("link", "set", "lo", "up"), ("addr", "add", addr, "dev", dev),
                         ("link", "set", dev, "up")):
                subprocess.run(holder.argv("ip", *args), check=True, capture_output=True, timeout=10)
        subprocess.run(self._lan.argv("ip", "route", "add", "default", "via", LAN_IP),
                       check=True, capture_output=True, timeout=10)

    def _start_dhcp(self, prefix: str) -> None:
        """The image's dnsmasq (the router's files, the ISP's network), leasing `<prefix>100-199`."""
        if self._dhcp is not None and self._dhcp.poll() is None:
            os.killpg(self._dhcp.pid, 9)
            self._dhcp.wait(timeout=10)
        gw = prefix + "1"
        argv = ["ip", "addr", "flush", "dev", "isp0"]
        subprocess.run(self._isp.argv(*argv), check=True, capture_output=True, timeout=10)
        argv = ["ip", "addr", "add", gw + "/24", "dev", "isp0"]
        subprocess.run(self._isp.argv(*argv), check=True, capture_output=True, timeout=10)
        (self.rootfs / "lab/isp").mkdir(exist_ok=True)
        leases = self.rootfs / "lab/isp/leases"
        leases.write_text("")
        # the router's files and /dev (dnsmasq seeds from /dev/urandom), the ISP's network
        log = (self.workdir / "dnsmasq.log").open("ab")
        self._dhcp = subprocess.Popen([
            "timeout", "-s", "KILL", str(self.lifetime_s), "nsenter",
            "--mount=/proc/%d/ns/mnt" % self.pid, "--root=/proc/%d/root" % self.pid,
            "--net=/proc/%d/ns/net" % self._isp.pid, "--wd=/",
            "/usr/sbin/dnsmasq", "-k", "-C", "/dev/null", "--no-resolv",
            "--port=0", "--interface=isp0", "--bind-interfaces", "--dhcp-authoritative",
            "--dhcp-range=%s100,%s199,255.255.255.0,1h" % (prefix, prefix),
            "--dhcp-leasefile=/lab/isp/leases", "--pid-file=", "--user=root", "--group=root"],
            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        log.close()

    def close(self) -> None:
        """Stop everything the lab started and delete the unpacked tree (idempotent)."""
        for server in self._servers:
            server.stop()
        self._servers = []
        if self._dhcp is not None and self._dhcp.poll() is None:
            os.killpg(self._dhcp.pid, 9)
            self._dhcp.wait(timeout=10)
        if self._boot is not None:
            if self._boot.poll() is None:
                os.killpg(self._boot.pid, 9)  # unshare --kill-child takes the pid namespace down
            self._boot.wait(timeout=10)
            if self._boot.stderr:
                self._boot.stderr.close()
        for holder in (self._isp, self._lan):
            if holder is not None:
                holder.kill()
        if self.pid:
            _wait(lambda: not Path("/proc/%d" % self.pid).exists(), 20, "the router to stop")
        self._boot = self._isp = self._lan = self._dhcp = None
        if self.rootfs.exists():
            shutil.rmtree(self.rootfs, ignore_errors=True)

    # -- running things inside --

    def argv(self, *args: str) -> list:
        """argv running `args` inside the router: all its namespaces, its root, a clean env."""
        return ["nsenter", "-t", str(self.pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w",
                "env", "-i", "PATH=" + PATH, "HOME=/root", *[str(a) for a in args]]

    def sh(self, script: str, check: bool = True, timeout: float = 60,
           env: dict | None = None) -> subprocess.CompletedProcess:
        """`/bin/sh -c script` inside the router; AssertionError on failure when `check`."""
        extra = ["%s=%s" % kv for kv in (env or {}).items()]  # env's own NAME=value arguments
        argv = self.argv(*extra, "/bin/sh", "-c", script)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise AssertionError("lab: `%s` exited %d: %s%s" % (script, done.returncode,
                                                               done.stdout, done.stderr))
        return done

    def lan_argv(self, *args: str) -> list:
        """argv running a host program in the LAN client namespace (reaches LAN_IP)."""
        return self._lan.argv(*args)

    def logread(self, match: str = "") -> str:
        """`logread [-e match]`: the router's syslog (logd)."""
        return self.sh("logread" + (" -e '%s'" % match if match else ""), check=False).stdout

    @staticmethod
    def build_ipks(outdir: Path) -> list:
        """What `make ipk` builds (tools/build_ipk.py), into `outdir`: the .ipk paths."""
        subprocess.run([sys.executable, str(REPO / "tools/build_ipk.py"), "--out", str(outdir)],
                       check=True, capture_output=True, timeout=120, cwd=str(REPO))
        return sorted(Path(outdir).glob("*.ipk"))

    def install_ipks(self, paths: list) -> subprocess.CompletedProcess:
        """Copy the packages into the router's /tmp and `opkg install` them."""
        dest = self.root / "tmp/ipk"
        dest.mkdir(exist_ok=True)
        names = []
        for path in paths:
            shutil.copy(str(path), str(dest / Path(path).name))
            names.append("/tmp/ipk/" + Path(path).name)
        return self.sh("opkg install " + " ".join(names), timeout=120)

    def serve(self, handler, ca, **kwargs):
        """A tests/fakes FakeServer on the router's 127.0.0.1 (stopped at close()); CA in CA_IN_ROUTER."""
        from fakes.server import FakeServer
        made: list = []
        kwargs.setdefault("lifetime_s", self.lifetime_s)  # lives as long as the lab, not 120 s

        def in_router() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open("/proc/%d/ns/net" % self.pid, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns into the router failed")
                made.append(FakeServer(handler, ca=ca, **kwargs))
            except BaseException as exc:  # re-raised in the caller's thread
                made.append(exc)
            finally:
                os.close(fd)

        # setns changes only this throwaway thread; the listening socket stays in the router
        worker = threading.Thread(target=in_router, name="fake-in-router")
        worker.start()
        worker.join()
        if isinstance(made[0], BaseException):
            raise made[0]
        server = made[0].start()
        self._servers.append(server)
        dest = self.rootfs / CA_IN_ROUTER.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        ca.cert_pem.write_to_path(str(dest))
        return server

    # -- the WAN --

    def wan_ip(self) -> str:
        """wan's current IPv4 address per netifd ('' when down)."""
        done = self.sh("ubus call network.interface.wan status", check=False)
        import json
        try:
            addrs = json.loads(done.stdout).get("ipv4-address", [])
        except ValueError:
            return ""
        return addrs[0]["address"] if addrs else ""

    def wait_wan(self, prefix: str = FIRST_RANGE, timeout: float = 30) -> str:
        """Wait until wan holds a lease from `prefix`; returns the address."""
        return _wait(lambda: (lambda ip: ip if ip.startswith(prefix) else None)(self.wan_ip()),
                     timeout, "a wan lease from %s0/24" % prefix, step=0.1)

    def lease(self, prefix: str) -> str:
        """A lease change: the ISP's DHCP moves to `<prefix>0/24`, wan goes down and up."""
        self._start_dhcp(prefix)
        self.sh("ubus call network.interface.wan down")
        self.wait_wan_down()
        self.sh("ubus call network.interface.wan up")
        return self.wait_wan(prefix)

    def renew(self, ip: str) -> None:
        """An in-place change: dhcp.script renew with udhcpc's environment and address `ip`."""
        gw = ip.rsplit(".", 1)[0] + ".1"
        env = dict(kv.split("=", 1) for kv in UDHCPC_ENV.format(gw=gw, ip=ip).split())
        env["INTERFACE"] = "wan"
        self.sh("/lib/netifd/dhcp.script renew", env=env)

    def wan_down(self) -> None:
        """Take wan down (`ubus call network.interface.wan down`) and wait until netifd says so."""
        self.sh("ubus call network.interface.wan down")
        self.wait_wan_down()

    def wait_wan_down(self, timeout: float = 10) -> None:
        """Wait until netifd reports wan without an address."""
        _wait(lambda: not self.wan_ip(), timeout, "wan down", step=0.1)

    # -- observations --

    def python_starts(self) -> list:
        """Every Python start in the router so far: (unix time, argv string)."""
        path = self.root / "tmp/lab/python-starts"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            stamp, _, argv = line.partition(" ")
            out.append((float(stamp), argv))
        return out

    def hotplug_stamps(self, name: str = "hotplug") -> list:
        """(unix time, ACTION, INTERFACE, flags) of each iface hotplug call so far (10 ms resolution).

        flags: A, P, R, D for the IFUPDATE_ADDRESSES/PREFIXES/ROUTES/DATA netifd set, then "-".
        busybox date has no %N: the script logs /proc/uptime (CLOCK_BOOTTIME, one kernel for
        host and router), converted here with the host's offset between the two clocks.
        `name`: another stamp file, see add_stamp().
        """
        path = self.root / "tmp/lab" / name
        if not path.exists():
            return []
        offset = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
        out = []
        for line in path.read_text().splitlines():
            parts = line.split()
            out.append((float(parts[1]) + offset, parts[2], parts[3], parts[4].rstrip("-")))
        return out

    def add_stamp(self, script: str, name: str) -> None:
        """Another iface hotplug stamp, /etc/hotplug.d/iface/<script>, logging to `name`."""
        path = self.rootfs / "etc/hotplug.d/iface" / script
        path.write_text("LAB_STAMP=%s\n%s" % (name, STAMP))

    def settle(self, timeout: float = 30) -> None:
        """Wait until no hotplug-call and no ddns-agent run is left in the router."""
        def quiet() -> bool:
            return not any("hotplug-call" in cmd or "/usr/bin/ddns-agent" in cmd
                           for _, cmd in self.processes())
        _wait(quiet, timeout, "hotplug and agent runs to finish", step=0.05)

    def processes(self) -> list:
        """(pid, argv string) of every process in the router."""
        out = []
        for proc in (self.root / "proc").iterdir():
            if proc.name.isdigit():
                try:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                except OSError:
                    continue
                out.append((int(proc.name), cmd))
        return out
