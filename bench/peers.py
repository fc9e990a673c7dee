"""Group `peers`: the agent side by side with ddclient, inadyn and NewFuture `ddns` on the same fakes.

tools/bench-peers.sh installs the peers into build/bench-peers (PREFIX/status/<peer> says ok or why
skipped). Every client, the agent included, runs in one network namespace that has only loopback,
through `ip netns exec`, which also bind-mounts /etc/netns/<ns>/hosts over /etc/hosts for that
process alone: the providers' real host names resolve to the fakes, listening on port 443 inside
the namespace over real TLS with the bench's CA. So each client keeps its default server, and
nothing can reach the internet. Each client updates its own record (<client>.example.com).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import boxes
from measure import BenchError, Variant, interleave, ratios, rss_mb, summary, walls

PREFIX = boxes.REPO / "build" / "bench-peers"
PASSES = 3
RUNS = 20
OLD = "192.0.2.1"  # what every record holds before a client's first run
NS = "ddnsbench-peers-%d" % os.getpid()
CLONE_NEWNET = 0x40000000
#: provider -> (address in the namespace, host names a client may use for it)
HOSTS = {"cloudflare": ("127.0.1.1", ("api.cloudflare.com",)),
         "dyndns2": ("127.0.1.2", ("dynupdate.no-ip.com",)),
         "dnspod": ("127.0.1.3", ("dnsapi.cn",))}
NOIP_USER, NOIP_PASS = "bench", "noip-bench-pass"
DNSPOD_ID, DNSPOD_KEY = boxes.DNSPOD_TOKEN.split(",")
PEERS = ("ddclient", "inadyn", "ddns")
LANGUAGE = {"ddclient": "Perl", "inadyn": "C", "ddns": "Python"}
#: provider -> peers without it, and why
UNSUPPORTED = {"dnspod": {"ddclient": "ddclient 3.10 has no DNSPod protocol"}}
#: (provider, peer) -> why the fake refuses the peer, as the real service documents it
REFUSED = {("dnspod", "inadyn"): "refused: DNSPod blocks inadyn 2.10's User-Agent (no contact e-mail; the "
                                 "API rules require 'Program/Version (e-mail)', HTTP 403)"}
#: (provider, peer) -> why it has no no-op figure
NO_NOOP = {("dyndns2", "inadyn"): "inadyn --once updates on every run (a no-op run sends nochg); the third "
                                  "nochg in a row gets a host blocked for abuse, as Dyn and No-IP do"}


def peer_status(prefix: Path = PREFIX) -> dict:
    """{peer: "ok <version>" | "skipped: <reason>"} from the install script's status files."""
    out = {}
    for peer in PEERS:
        f = prefix / "status" / peer
        out[peer] = f.read_text().strip() if f.exists() else "skipped: not installed (tools/bench-peers.sh)"
    return out


class Netns:
    """A network namespace with loopback only, and the hosts file `ip netns exec` gives its processes."""

    def __init__(self, name: str = NS) -> None:
        self.name = name
        self.etc = Path("/etc/netns") / name
        self.ip = shutil.which("ip") or "/usr/sbin/ip"

    def __enter__(self) -> Netns:
        subprocess.run([self.ip, "netns", "add", self.name], check=True, capture_output=True)
        subprocess.run([self.ip, "-n", self.name, "link", "set", "lo", "up"], check=True, capture_output=True)
        self.etc.mkdir(parents=True, exist_ok=True)
        self.names: dict = {}
        self.hosts()
        return self

    def hosts(self, name: str = "", address: str = "") -> None:
        """(Re)write the hosts file: the fakes' names, plus `name` resolving to `address` (what DNS says)."""
        if name:
            self.names[name] = address
        lines = ["127.0.0.1 localhost"] + ["%s %s" % (a, " ".join(n)) for a, n in HOSTS.values()]
        lines += ["%s %s" % (a, n) for n, a in self.names.items()]
        (self.etc / "hosts").write_text("\n".join(lines) + "\n")

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.etc, ignore_errors=True)
        subprocess.run([self.ip, "netns", "delete", self.name], capture_output=True)

    def argv(self, argv: list) -> list:
        """`argv` run inside the namespace, with its hosts file."""
        return [self.ip, "netns", "exec", self.name] + argv

    def call(self, fn):
        """fn() in a thread switched into the namespace: sockets it makes live there."""
        out: dict = {}

        def run() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open("/run/netns/" + self.name, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    out["error"] = OSError(ctypes.get_errno(), "setns " + self.name)
                    return
            finally:
                os.close(fd)
            try:
                out["value"] = fn()
            except BaseException as e:  # handed to the caller
                out["error"] = e

        t = threading.Thread(target=run)
        t.start()
        t.join()
        if "error" in out:
            raise out["error"]
        return out["value"]


class NsServed(boxes.Served):
    """A fake on <address>:443 inside the namespace, its certificate naming the real host."""

    def __init__(self, handler, ca, ns: Netns, provider: str) -> None:
        from fakes.server import FakeServer
        address, names = HOSTS[provider]
        self.handler = handler
        self.server = ns.call(lambda: FakeServer(handler, ca=ca, hostnames=names, lifetime_s=900,
                                                 address=(address, 443))).start()


def make_fake(provider: str, clients: list):
    """The provider's fake with one record per client holding OLD; (handler, published(client) -> ip)."""
    fqdn = {c: "%s.example.com" % c for c in clients}
    if provider == "cloudflare":
        from fakes.cloudflare import CloudflareFake
        fake = CloudflareFake(boxes.CF_TOKEN, {"example.com": "9" * 32})
        ids = {c: fake.add("example.com", fqdn[c], "A", OLD)["id"] for c in clients}
        return fake, lambda c: fake.records[ids[c]]["content"]
    if provider == "dyndns2":
        from fakes.dyndns2 import Dyndns2Fake
        fake = Dyndns2Fake({NOIP_USER: NOIP_PASS}, {fqdn[c]: NOIP_USER for c in clients})
        for c in clients:
            fake.records[fqdn[c]]["A"] = OLD
        return fake, lambda c: fake.records[fqdn[c]]["A"]
    from fakes.dnspod import DNSPodFake
    fake = DNSPodFake(boxes.DNSPOD_TOKEN)
    ids = {c: fake.add("example.com", c, "A", OLD) for c in clients}
    return fake, lambda c: fake.value(ids[c])


# -- the clients, each configured as its docs configure it, its address from a fixed source --------

def agent_client(root: Path, provider: str, cafile: str):
    """(argv, env, set_address(ip), reset()) of the agent at this tree, started as the OpenWrt launcher."""
    box = boxes.Box(root, "peers-agent-" + provider)
    options = {"cloudflare": {"type": "cloudflare", "api_token": boxes.CF_TOKEN},
               "dyndns2": {"type": "dyndns2", "preset": "noip", "username": NOIP_USER, "password": NOIP_PASS},
               "dnspod": {"type": "dnspod", "login_token": boxes.DNSPOD_TOKEN}}[provider]
    options["cacert"] = cafile
    box.config("p", options, [("agent", "example.com", "agent", "A")])
    return box.argv("update"), dict(box.env), box.wan, box.reset_state


def _address_file(d: Path) -> tuple:
    """An executable that prints the address: each peer's fixed-source detection runs it."""
    addr = d / "address"

    def set_address(ip: str) -> None:
        addr.write_text("#!/bin/sh\necho %s\n" % ip)
        addr.chmod(0o755)
    return addr, set_address


def ddclient_client(root: Path, provider: str, cafile: str):
    """ddclient 3.10, one-shot (daemon=0), default transport (IO::Socket::SSL), use=cmd."""
    d = root / ("peers-ddclient-" + provider)
    d.mkdir()
    addr, set_address = _address_file(d)
    conf, cache = d / "ddclient.conf", d / "ddclient.cache"
    proto = {"cloudflare": "protocol=cloudflare, zone=example.com, login=token, password=%s" % boxes.CF_TOKEN,
             "dyndns2": "protocol=dyndns2, server=dynupdate.no-ip.com, login=%s, password=%s"
                        % (NOIP_USER, NOIP_PASS)}[provider]
    # the bench changes the address every run: min-interval=0 (a host updated less than 30 s ago is
    # skipped), min-error-interval=0 (3.10 records its Cloudflare successes as failed attempts, ddclient#514,
    # and then waits 5 minutes)

    def write(mode: str) -> None:  # no-op runs keep the default min-error-interval, as a user's would
        conf.write_text("daemon=0\nsyslog=no\nssl=yes\nssl_ca_file=%s\nuse=cmd, cmd=%s\nmin-interval=0\n%s"
                        "%s\nddclient.example.com\n" % (cafile, addr, "" if mode == "noop" else
                                                         "min-error-interval=0\n", proto))
        conf.chmod(0o600)
    write("change")
    lib = PREFIX / "root" / "usr"
    perl5 = [str(lib / "share" / "perl5")] + sorted(str(p) for p in lib.glob("lib/x86_64-linux-gnu/perl5/*"))
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "PERL5LIB": ":".join(perl5)}
    argv = [shutil.which("perl") or "/usr/bin/perl", str(lib / "bin" / "ddclient"), "-file", str(conf),
            "-cache", str(cache), "-daemon=0", "-foreground"]
    return argv, env, set_address, lambda: cache.unlink(missing_ok=True), write


def inadyn_client(root: Path, provider: str, cafile: str):
    """inadyn 2.10 --once, its built-in provider plugin, checkip-command."""
    d = root / ("peers-inadyn-" + provider)
    d.mkdir()
    addr, set_address = _address_file(d)
    conf, cache = d / "inadyn.conf", d / "cache"
    plugin, user, password = {"cloudflare": ("default@cloudflare.com", "example.com", boxes.CF_TOKEN),
                              "dyndns2": ("default@no-ip.com", NOIP_USER, NOIP_PASS),
                              "dnspod": ("default@dnspod.cn", DNSPOD_ID, DNSPOD_KEY)}[provider]
    # ttl = 1 as inadyn's README Cloudflare example has it: unset, inadyn sends "ttl": 0, which
    # Cloudflare documents as invalid (1 or 60-86400) and the fake refuses
    extra = "  ttl = 1\n  proxied = false\n" if provider == "cloudflare" else ""
    conf.write_text('ca-trust-file = %s\nprovider %s {\n  username = %s\n  password = %s\n'
                    '  hostname = %s\n  checkip-command = "%s"\n%s}\n'
                    % (cafile, plugin, user, password, "inadyn.example.com", addr, extra))
    conf.chmod(0o600)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
           "LD_LIBRARY_PATH": str(PREFIX / "root" / "usr" / "lib" / "x86_64-linux-gnu")}
    argv = [str(PREFIX / "root" / "usr" / "sbin" / "inadyn"), "--once", "--foreground", "--no-pidfile",
            "-f", str(conf), "--cache-dir", str(cache), "-l", "notice"]
    return argv, env, set_address, lambda: shutil.rmtree(cache, ignore_errors=True)


def ddns_client(root: Path, provider: str, cafile: str):
    """NewFuture ddns 4.2.0 through its `ddns` command, default transport (urllib), index4 cmd:."""
    d = root / ("peers-ddns-" + provider)
    d.mkdir()
    addr, set_address = _address_file(d)
    conf, cache = d / "config.json", d / "ddns.cache"
    creds = {"cloudflare": ("cloudflare", "", boxes.CF_TOKEN), "dyndns2": ("noip", NOIP_USER, NOIP_PASS),
             "dnspod": ("dnspod", DNSPOD_ID, DNSPOD_KEY)}[provider]
    conf.write_text(json.dumps({"dns": creds[0], "id": creds[1], "token": creds[2],
                                "ipv4": ["ddns.example.com"], "index4": ["cmd:%s" % addr],
                                "ipv6": [], "index6": False, "ssl": cafile, "cache": str(cache),
                                "log": {"level": "WARNING"}}, indent=1))
    conf.chmod(0o600)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}
    argv = [str(PREFIX / "ddns-venv" / "bin" / "ddns"), "-c", str(conf)]
    return argv, env, set_address, lambda: cache.unlink(missing_ok=True)


CLIENTS = {"agent": agent_client, "ddclient": ddclient_client, "inadyn": inadyn_client, "ddns": ddns_client}


def _client(name: str, root: Path, provider: str, cafile: str, ns: Netns) -> dict:
    argv, env, set_address, reset, *mode = CLIENTS[name](root, provider, cafile)
    return {"argv": ns.argv(argv), "env": env, "set": set_address, "reset": reset, "ns": ns,
            "fqdn": "%s.example.com" % name, "mode": mode[0] if mode else lambda m: None}


def compare(root: Path, ca, provider: str, status: dict, runs: int, log) -> dict:
    """One provider: first run, PASSES x `runs` changed-record runs and no-op runs of every client."""
    out: dict = {"provider": provider, "clients": {}, "skipped": {}}
    clients = ["agent"]
    for peer in PEERS:
        if peer in UNSUPPORTED.get(provider, {}):
            out["skipped"][peer] = "not supported by %s (%s)" % (peer, UNSUPPORTED[provider][peer])
        elif not status[peer].startswith("ok"):
            out["skipped"][peer] = status[peer]
        else:
            clients.append(peer)
    fake, published = make_fake(provider, clients)
    with Netns() as ns:
        served = NsServed(fake, ca, ns, provider)
        try:
            cs = {c: _client(c, root, provider, served.server.cafile, ns) for c in clients}
            for c in list(clients):
                try:
                    out["clients"][c] = _first_run(c, cs[c], served, published)
                except BenchError as e:
                    if c == "agent":
                        raise
                    clients.remove(c)  # the peer's own request was refused: say so and go on
                    out["skipped"][c] = REFUSED.get((provider, c), "first run failed") + " [%s]" % e
            for mode in ("change", "noop"):
                which = [c for c in clients if mode == "change" or (provider, c) not in NO_NOOP]
                log("peers: %s, %s, %d x %d runs of %s" % (provider, mode, PASSES, runs, ", ".join(which)))
                _timed(mode, which, cs, served, published, runs, out)
        finally:
            served.stop()
    errors = getattr(fake, "errors", [])
    if errors:
        raise BenchError("the %s fake saw errors: %r" % (provider, errors[:3]))
    for peer in clients[1:]:
        a, p = out["clients"]["agent"], out["clients"][peer]
        out["clients"][peer]["ratio"] = {m: ratios(a["_" + m], p["_" + m]) for m in ("change", "noop")
                                         if "_" + m in p}
        if (provider, peer) in NO_NOOP:
            p["noop_none"] = NO_NOOP[provider, peer]
    for c in clients:
        for m in ("change", "noop"):
            out["clients"][c].pop("_" + m, None)
    return out


def _first_run(name: str, c: dict, served, published) -> dict:
    from measure import spawn
    c["reset"]()
    c["set"](boxes.V4[0])
    c["ns"].hosts(c["fqdn"], published(name))
    mark = served.mark()
    s = spawn(c["argv"], c["env"])
    n, conns, methods = served.since(mark)
    if s.rc != 0 or published(name) != boxes.V4[0]:
        raise BenchError("%s's first run did not publish %s (exit %d, requests %s): %s"
                         % (name, boxes.V4[0], s.rc, methods, s.stderr.strip()[-600:]))
    return {"first_run_requests": n, "first_run_methods": methods}


def _timed(mode: str, clients: list, cs: dict, served, published, runs: int, out: dict) -> None:
    counts = {c: [] for c in clients}
    current = {c: published(c) for c in clients}
    marks: dict = {}

    def prepare_for(c: str):
        def prepare(i: int) -> None:
            if mode == "change":
                current[c] = boxes.V4[1] if current[c] == boxes.V4[0] else boxes.V4[0]
            cs[c]["set"](current[c])
            # inadyn asks DNS what the name holds: answer what the fake publishes, as DNS would
            cs[c]["ns"].hosts(cs[c]["fqdn"], published(c))
            marks[c] = served.mark()
        return prepare

    def check_for(c: str):
        def check(i: int, sample) -> None:
            n, conns, methods = served.since(marks[c])
            counts[c].append(n)
            if published(c) != current[c]:
                raise BenchError("%s (%s) did not publish %s: %s"
                                 % (c, mode, current[c], sample.stderr[-600:]))
            if c == "agent" and n != (1 if mode == "change" else 0):
                raise BenchError("the agent sent %s on a %s run" % (methods, mode))
        return check

    for c in clients:
        cs[c]["mode"](mode)
    variants = [Variant(c, cs[c]["argv"], cs[c]["env"], prepare_for(c), check_for(c)) for c in clients]
    samples = {c: [] for c in clients}
    for p in range(PASSES):
        got = interleave(variants, runs, warmup=2 if p == 0 else 0)
        for c in clients:
            samples[c] += got[c]
    for c in clients:
        d = out["clients"][c]
        d["_" + mode] = walls(samples[c])
        d[mode + "_ms"] = summary(walls(samples[c]))
        d[mode + "_rss_mb"] = summary(rss_mb(samples[c]))
        d[mode + "_requests"] = sorted(set(counts[c]))
        d[mode + "_requests_per_run"] = counts[c]


TITLES = {"cloudflare": "Cloudflare HTTPS", "dyndns2": "dyndns2 (No-IP) HTTPS", "dnspod": "DNSPod HTTPS"}
TARGET = "<= 0.7x fastest Python/Perl peer; RSS, first-run requests <= its"


def figures(root: Path, ca, runs: int, log) -> list:
    """Rows (id, figure, measured, target, ok, value, detail) for every provider; installs nothing."""
    status = peer_status()
    rows = []
    for provider in ("cloudflare", "dyndns2", "dnspod"):
        try:
            r = compare(root, ca, provider, status, runs, log)
        except (BenchError, OSError, subprocess.CalledProcessError) as e:
            rows.append(("peers.%s" % provider, "peers, %s" % TITLES[provider], "error: %s" % e, TARGET,
                         False, None, None))
            continue
        rows += provider_rows(r, status)
    return rows


def _side(d: dict, mode: str) -> str:
    return "%.0f ms, %.1f MB, %s req" % (d[mode + "_ms"]["median"], d[mode + "_rss_mb"]["median"],
                                        "/".join(map(str, d[mode + "_requests"])))


def provider_rows(r: dict, status: dict) -> list:
    """The table rows of one provider's comparison."""
    p, title, cl = r["provider"], TITLES[r["provider"]], r["clients"]
    a = cl["agent"]
    rows = [("peers.%s.agent" % p, "peers, %s: agent (1 changed record | no-op)" % title,
             "%s (first run %d req) | %s" % (_side(a, "change"), a["first_run_requests"], _side(a, "noop")),
             "-", None, a["change_ms"]["median"], a)]
    for peer in PEERS:
        version = status[peer][3:] if status[peer].startswith("ok") else ""
        name = "%s %s (%s)" % (peer, version, LANGUAGE[peer])
        fid = "peers.%s.%s" % (p, peer)
        if peer in r["skipped"]:
            rows.append((fid, "peers, %s: vs %s" % (title, name), r["skipped"][peer].split(" [")[0], "-",
                         None, None, r["skipped"][peer]))
            continue
        d = cl[peer]
        noop = ("%s (agent %s of it)" % (_side(d, "noop"), _ratio(d["ratio"]["noop"])) if "noop" in d["ratio"]
                else "none: " + d.get("noop_none", ""))
        rows.append((fid, "peers, %s: vs %s" % (title, name),
                     "change %s of it (%s, first run %d req) | no-op %s"
                     % (_ratio(d["ratio"]["change"]), _side(d, "change"), d["first_run_requests"], noop),
                     "-", None, d["ratio"]["change"]["median"], d))
    ref = [c for c in cl if c != "agent" and LANGUAGE[c] != "C"]
    if not ref:
        rows.append(("peers.%s.target" % p, "peers, %s: vs fastest Python/Perl peer" % title,
                     "no Python or Perl peer measured", TARGET, None, None, None))
        return rows
    fast = min(ref, key=lambda c: cl[c]["change_ms"]["median"])
    d = cl[fast]
    t_ok = d["ratio"]["change"]["median"] <= 0.7
    m_ok = a["change_rss_mb"]["median"] <= d["change_rss_mb"]["median"]
    q_ok = a["first_run_requests"] <= d["first_run_requests"]
    verdict = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
    rows.append(("peers.%s.target" % p, "peers, %s: vs fastest Python/Perl peer (%s)" % (title, fast),
                 "time %s %s; RSS %.1f vs %.1f MB %s; first-run requests %d vs %d %s"
                 % (_ratio(d["ratio"]["change"]), verdict(t_ok), a["change_rss_mb"]["median"],
                    d["change_rss_mb"]["median"], verdict(m_ok), a["first_run_requests"],
                    d["first_run_requests"], verdict(q_ok)),
                 TARGET, t_ok and m_ok and q_ok, d["ratio"]["change"]["median"], {"peer": fast}))
    return rows


def _ratio(x: dict) -> str:
    return "%.2fx [%.2f-%.2f]" % (x["median"], x["p25"], x["p75"])
