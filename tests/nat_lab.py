"""Network-namespace lab for the upstream sources: a router behind a NATing modem, an ISP beyond.

    router  wan0 192.168.1.2/24 --- lan0 192.168.1.1/24  modem (NAT, miniupnpd)  wan0 203.0.113.7/24
        --- down0 203.0.113.1/24  isp (coturn STUN)   [beyond: up0 198.51.100.2 NAT --- net 198.51.100.1]

Everything a Lab creates carries a per-process prefix and is removed by `Lab.close()`, which the
fixtures call in `finally`. The agent runs in the router namespace as `ip netns exec ... python3
tests/nat_lab.py read SOURCE JSON`, the way the router would run it. `python3 tests/nat_lab.py bench`
builds the lab with the real daemons and times each source.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLONE_NEWNET = 0x40000000
STUN_PORT = 3478
TOOLS = {"ip": "iproute2", "nft": "nftables", "miniupnpd": "miniupnpd", "turnserver": "coturn"}


def missing(*tools: str) -> list:
    """What this host lacks to build the lab: root, network namespaces, or one of `tools`."""
    lacking = ["%s (apt package %s)" % (t, TOOLS.get(t, t))
               for t in ("ip",) + tools if shutil.which(t) is None]
    if os.geteuid() != 0:
        lacking.append("root (network namespaces)")
    return lacking


def require(*tools: str) -> None:
    """Skip the test when parts are missing, but fail under CI=true: CI must run the real parts."""
    import pytest

    lacking = missing(*tools)
    if lacking:
        message = "needs " + ", ".join(lacking)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


class Proc:
    """A daemon started in a namespace, with its output in a file."""

    def __init__(self, popen: subprocess.Popen, log: str) -> None:
        self.popen = popen
        self.log = log

    def output(self) -> str:
        """Everything the process wrote so far."""
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_for(self, text: str, timeout: float = 10.0) -> None:
        """Return once `text` is in the output; RuntimeError with the output when it never comes."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.output():
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("%r never appeared (exit %s):\n%s"
                           % (text, self.popen.poll(), self.output()[-3000:]))


class Lab:
    """Namespaces, veth links, daemons and threads inside namespaces; all removed by close()."""

    _count = 0

    def __init__(self) -> None:
        Lab._count += 1
        self.tag = "ddl%d-%d" % (os.getpid(), Lab._count)
        self.names: dict = {}
        self.procs: list = []
        self.dir = tempfile.mkdtemp(prefix="nat_lab.")

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, name: str) -> str:
        """Create namespace `name` (prefixed) with lo up; its full name."""
        full = "%s-%s" % (self.tag, name)
        subprocess.run(["ip", "netns", "del", full], stderr=subprocess.DEVNULL)  # a crashed earlier run
        self.sh(None, "ip", "netns", "add", full)
        self.names[name] = full
        self.sh(name, "ip", "link", "set", "lo", "up")
        return full

    def sh(self, ns, *argv: str, input: str | None = None) -> str:
        """Run `argv` in namespace `ns` (None: here); its stdout; RuntimeError with stderr on failure."""
        if ns is not None:
            argv = ("ip", "netns", "exec", self.names[ns]) + argv
        done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=30)
        if done.returncode:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), done.returncode, done.stderr.strip()))
        return done.stdout

    def veth(self, a: str, dev_a: str, addr_a: str, b: str, dev_b: str, addr_b: str) -> None:
        """A veth pair between namespaces a and b, addressed and up."""
        self.sh(None, "ip", "link", "add", dev_a, "netns", self.names[a], "type", "veth",
                "peer", "name", dev_b, "netns", self.names[b])
        for ns, dev, addr in ((a, dev_a, addr_a), (b, dev_b, addr_b)):
            self.sh(ns, "ip", "addr", "add", addr, "dev", dev)
            self.sh(ns, "ip", "link", "set", dev, "up")

    def masquerade(self, ns: str, out_dev: str) -> None:
        """Forward and NAT everything leaving `out_dev` in `ns` (nftables, like OpenWrt's fw4)."""
        self.sh(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.sh(ns, "nft", "-f", "-", input="table ip lab_nat {\n chain post {\n"
                "  type nat hook postrouting priority 100;\n  oifname \"%s\" masquerade\n }\n}\n" % out_dev)

    def spawn(self, ns: str, argv: list, name: str) -> Proc:
        """Start a daemon in `ns`; stopped by close()."""
        log = os.path.join(self.dir, name + ".log")
        with open(log, "wb") as out:
            popen = subprocess.Popen(["ip", "netns", "exec", self.names[ns]] + argv, stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir)
        proc = Proc(popen, log)
        self.procs.append(proc)
        return proc

    def inside(self, ns: str, target, *args) -> threading.Thread:
        """Run `target(*args)` in a daemon thread that lives in namespace `ns` (setns is per thread),
        so the sockets it opens belong there. Started; join it to wait."""
        path = "/run/netns/" + self.names[ns]
        failed = []

        def run() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(path, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    failed.append(OSError(ctypes.get_errno(), "setns " + path))
                    return
            finally:
                os.close(fd)
            target(*args)

        thread = threading.Thread(target=run, daemon=True)
        thread.failed = failed
        thread.start()
        return thread

    def read(self, ns: str, source: str, record: dict, family: int = 4, timeout: float = 3.0) -> dict:
        """Run `source`.read() for a record made of `record` in namespace `ns`, as the agent would.

        Returns {"addresses", "origins"} or {"error"}, plus "elapsed" in seconds.
        """
        spec = json.dumps({"record": record, "family": family, "timeout": timeout})
        argv = ["ip", "netns", "exec", self.names[ns], sys.executable, os.path.abspath(__file__)]
        done = subprocess.run(argv + ["read", source, spec], capture_output=True, text=True,
                              timeout=timeout + 30, env=dict(os.environ, PYTHONPATH=REPO), cwd=self.dir)
        if done.returncode:
            raise RuntimeError("agent in %s crashed (exit %d):\n%s" % (ns, done.returncode, done.stderr))
        return json.loads(done.stdout)

    def cli(self, ns: str, config: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run `python3 -m ddns_agent -c CONFIG --state-dir DIR ARGS...` in namespace `ns`."""
        path = os.path.join(self.dir, "ddns_agent.conf")
        with open(path, "w") as f:
            f.write(config)
        argv = ["ip", "netns", "exec", self.names[ns], sys.executable, "-m", "ddns_agent", "-c", path,
                "--state-dir", os.path.join(self.dir, "state")] + list(args)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, PYTHONPATH=REPO), cwd=self.dir)

    def close(self) -> None:
        """Stop every daemon (TERM, then KILL), delete every namespace and the work directory."""
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.terminate()
        for proc in self.procs:
            try:
                proc.popen.wait(3)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(3)
        for full in self.names.values():
            subprocess.run(["ip", "netns", "del", full], stderr=subprocess.DEVNULL)
        self.names.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


def build(lab: Lab, beyond: bool = False) -> None:
    """router -> modem (NAT) -> isp, and with `beyond` a second NAT in isp towards net."""
    for name in ("router", "modem", "isp") + (("net",) if beyond else ()):
        lab.add(name)
    lab.veth("router", "wan0", "192.168.1.2/24", "modem", "lan0", "192.168.1.1/24")
    lab.veth("modem", "wan0", "203.0.113.7/24", "isp", "down0", "203.0.113.1/24")
    lab.sh("router", "ip", "route", "add", "default", "via", "192.168.1.1")
    lab.sh("modem", "ip", "route", "add", "default", "via", "203.0.113.1")
    lab.masquerade("modem", "wan0")
    if beyond:
        lab.veth("isp", "up0", "198.51.100.2/24", "net", "down0", "198.51.100.1/24")
        lab.masquerade("isp", "up0")


def start_stun(lab: Lab, ns: str, address: str, name: str = "coturn") -> Proc:
    """coturn as a plain STUN server on address:3478 in `ns`, answering once this returns."""
    state = os.path.join(lab.dir, name)
    os.makedirs(state)
    proc = lab.spawn(ns, ["turnserver", "--stun-only", "-L", address, "-p", str(STUN_PORT), "--no-tls",
                          "--no-dtls", "--no-tcp", "--no-cli", "-n", "--log-file", "stdout",
                          "--simple-log", "--pidfile", os.path.join(state, "pid"),
                          "--userdb", os.path.join(state, "turndb")], name)
    from ddns_agent import stun
    from ddns_agent.errors import SourceError

    answers: list = []

    def probe() -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end and not answers and proc.popen.poll() is None:
            try:
                answers.append(stun.query(address, STUN_PORT, 4, time.monotonic() + 0.5))
            except SourceError:
                time.sleep(0.1)

    lab.inside(ns, probe).join(12)
    if not answers:
        raise RuntimeError("coturn never answered on %s:\n%s" % (address, proc.output()[-3000:]))
    return proc


def start_miniupnpd(lab: Lab, stun_host: str | None = "203.0.113.1", natpmp: bool = True) -> Proc:
    """Debian's miniupnpd on the modem (ext wan0, listening lan0), ready when this returns.

    miniupnpd refuses a documentation-range address (203.0.113.0/24) on its WAN and in ext_ip as
    "reserved"; with ext_perform_stun it learns its public address from the STUN server instead,
    as a modem behind another NAT would. Without `stun_host` it reports an empty address.
    """
    conf = os.path.join(lab.dir, "miniupnpd.conf")
    lines = ["ext_ifname=wan0", "listening_ip=lan0", "http_port=5000", "enable_upnp=yes",
             "enable_natpmp=%s" % ("yes" if natpmp else "no"), "secure_mode=yes", "system_uptime=no",
             "uuid=3705cca9-ab6e-44e3-9344-b4c38ac64f35", "allow 1024-65535 192.168.1.0/24 1024-65535",
             "deny 0-65535 0.0.0.0/0 0-65535"]
    if stun_host:
        lines[1:1] = ["ext_perform_stun=yes", "ext_stun_host=%s" % stun_host, "ext_stun_port=%d" % STUN_PORT]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = lab.spawn("modem", ["miniupnpd", "-d", "-f", conf, "-P", os.path.join(lab.dir, "miniupnpd.pid")],
                     "miniupnpd")
    proc.wait_for("Listening for NAT-PMP/PCP traffic" if natpmp else "HTTP listening on port", 15)
    return proc


def _read_main(source: str, spec: str) -> None:
    import importlib

    from ddns_agent.errors import SourceError

    args = json.loads(spec)

    class Record:
        def __init__(self, device=None, interface=None, options=None) -> None:
            self.device = device
            self.interface = interface
            self.options = options or {}

    module = importlib.import_module("ddns_agent." + {"url": "ipurl"}.get(source, source))
    start = time.monotonic()
    try:
        found = module.read(Record(**args["record"]), args["family"], timeout=args["timeout"])
        out = {"addresses": [str(c.address) for c in found], "origins": [c.origin for c in found]}
    except SourceError as e:
        out = {"error": str(e)}
    out["elapsed"] = round(time.monotonic() - start, 3)
    print(json.dumps(out))


def _bench() -> None:
    lacking = missing("nft", "miniupnpd", "turnserver")
    if lacking:
        sys.exit("nat_lab bench: needs " + ", ".join(lacking))
    with Lab() as lab:
        build(lab, beyond=True)
        start_stun(lab, "isp", "203.0.113.1", "coturn-isp")
        start_stun(lab, "net", "198.51.100.1", "coturn-net")
        start_miniupnpd(lab)
        for source, record in (("upnp", {"device": "wan0"}), ("natpmp", {"device": "wan0"}),
                               ("stun", {"options": {"stun_server": "203.0.113.1:3478"}}),
                               ("stun", {"options": {"stun_server": "198.51.100.1"}})):
            runs = [lab.read("router", source, record) for _ in range(3)]
            print("%-7s %-40s %s  elapsed %s s" % (source, json.dumps(record.get("options", record)),
                                                   runs[0].get("addresses") or runs[0].get("error"),
                                                   " ".join("%.3f" % r["elapsed"] for r in runs)))


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    if len(sys.argv) == 4 and sys.argv[1] == "read":
        _read_main(sys.argv[2], sys.argv[3])
    elif sys.argv[1:] == ["bench"]:
        _bench()
    else:
        sys.exit("usage: nat_lab.py read SOURCE JSON | nat_lab.py bench")
