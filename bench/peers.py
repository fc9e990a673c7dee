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
import os
import shutil
import subprocess
import threading
from pathlib import Path

import boxes
from measure import BenchError, Variant, interleave, ratios, rss_mb, summary, walls
from peer_clients import AGENTS, CLIENTS, NOIP_PASS, NOIP_USER, PEERS, peer_status

PASSES = 3
RUNS = 20
OLD = "192.0.2.1"  # what every record holds before a client's first run
NS = "ddnsbench-peers-%d" % os.getpid()
CLONE_NEWNET = 0x40000000
#: provider -> (address in the namespace, host names a client may use for it)
HOSTS = {"cloudflare": ("127.0.1.1", ("api.cloudflare.com",)),
         "dyndns2": ("127.0.1.2", ("dynupdate.no-ip.com",)),
         "dnspod": ("127.0.1.3", ("dnsapi.cn",))}
LANGUAGE = {"ddclient": "Perl", "inadyn": "C", "ddns": "Python"}
#: provider -> peers without it, and why
UNSUPPORTED = {"dnspod": {"ddclient": "ddclient 3.10 has no DNSPod protocol"}}
#: (provider, peer) -> why the fake refuses the peer, as the real service documents it
REFUSED = {("dnspod", "inadyn"): "refused: DNSPod blocks inadyn 2.10's User-Agent (no contact e-mail; the "
                                 "API rules require 'Program/Version (e-mail)', HTTP 403)"}
#: (provider, peer) -> why it has no no-op figure
NO_NOOP = {("dyndns2", "inadyn"): "inadyn --once updates on every run (a no-op run sends nochg); the third "
                                  "nochg in a row gets a host blocked for abuse, as Dyn and No-IP do"}


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
            try:
                fd = os.open("/run/netns/" + self.name, os.O_RDONLY)
                try:
                    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns " + self.name)
                finally:
                    os.close(fd)
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


def _client(name: str, root: Path, provider: str, cafile: str, ns: Netns) -> dict:
    argv, env, set_address, reset, *mode = CLIENTS[name](root, provider, cafile)
    return {"argv": ns.argv(argv), "env": env, "set": set_address, "reset": reset, "ns": ns,
            "fqdn": "%s.example.com" % name, "mode": mode[0] if mode else lambda m: None}


def compare(root: Path, ca, provider: str, status: dict, runs: int, log) -> dict:
    """One provider: first run, PASSES x `runs` changed-record runs and no-op runs of every client."""
    out: dict = {"provider": provider, "clients": {}, "skipped": {}}
    clients = list(AGENTS)
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
                    if c in AGENTS:
                        raise
                    clients.remove(c)  # the peer's own request was refused: say so and go on
                    out["skipped"][c] = REFUSED.get((provider, c), "first run failed") + " [%s]" % e
            for mode in ("change", "noop"):
                which = [c for c in clients
                         if mode == "change" or (c != "urllib3" and (provider, c) not in NO_NOOP)]
                log("peers: %s, %s, %d x %d runs of %s" % (provider, mode, PASSES, runs, ", ".join(which)))
                _timed(mode, which, cs, served, published, runs, out)
        finally:
            served.stop()
    errors = getattr(fake, "errors", [])
    if errors:
        raise BenchError("the %s fake saw errors: %r" % (provider, errors[:3]))
    for peer in clients[len(AGENTS):]:
        a, p = out["clients"]["agent"], out["clients"][peer]
        p["ratio"] = {m: ratios(a["_" + m], p["_" + m]) for m in ("change", "noop") if "_" + m in p}
        p["ratio"]["urllib3_change"] = ratios(out["clients"]["urllib3"]["_change"], p["_change"])
        for m in p["ratio"]:  # each pass's median: does the figure hold from pass to pass?
            x, y = (out["clients"]["urllib3" if m.startswith("urllib3") else "agent"], p)
            k = "_change" if m != "noop" else "_noop"
            n = len(y[k]) // PASSES
            p["ratio"][m]["passes"] = [ratios(x[k][i * n:(i + 1) * n], y[k][i * n:(i + 1) * n])["median"]
                                       for i in range(PASSES)]
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
            if c in AGENTS and n != (1 if mode == "change" else 0):
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
TARGET = "time <= 0.7x; RSS, first-run requests <="


def figures(root: Path, ca, runs: int, log) -> list:
    """Rows (id, figure, measured, target, ok, value, detail) for every provider; installs nothing."""
    status = peer_status()
    if os.geteuid() != 0:
        return [("peers", "peers", "skipped: needs root (network namespaces)", TARGET, None, None, status)]
    rows = []
    for provider in ("cloudflare", "dyndns2", "dnspod"):
        try:
            r = compare(root, ca, provider, status, runs, log)
        except (BenchError, OSError, subprocess.CalledProcessError) as e:
            rows.append(("peers.%s" % provider, "peers %s" % TITLES[provider], "error: %s" % e, TARGET,
                         False, None, None))
            continue
        rows += provider_rows(r, status)
    return rows


def _side(d: dict, mode: str) -> str:
    return "%.0f ms, %.1f MB, %s req" % (d[mode + "_ms"]["median"], d[mode + "_rss_mb"]["median"],
                                        "/".join(map(str, d[mode + "_requests"])))


def provider_rows(r: dict, status: dict) -> list:
    """The table rows of one provider's comparison: changed record and no-op, agent then each peer."""
    p, title, cl = r["provider"], TITLES[r["provider"]], r["clients"]
    a = cl["agent"]
    rows = [("peers.%s.agent.change" % p, "peers %s, 1 changed record: agent" % title,
             "%s (first run %d req)" % (_side(a, "change"), a["first_run_requests"]), "-", None,
             a["change_ms"]["median"], a),
            ("peers.%s.agent.noop" % p, "peers %s, no-op: agent" % title, _side(a, "noop"), "-", None,
             a["noop_ms"]["median"], None)]
    for peer in PEERS:
        version = status[peer][3:] if status[peer].startswith("ok") else ""
        name = "%s %s (%s)" % (peer, version, LANGUAGE[peer])
        fid = "peers.%s.%s" % (p, peer)
        if peer in r["skipped"]:
            rows.append((fid, "peers %s: %s" % (title, name), r["skipped"][peer].split(" [")[0], "-",
                         None, None, r["skipped"][peer]))
            continue
        d = cl[peer]
        rows.append((fid + ".change", "peers %s, 1 changed record: agent / %s" % (title, name),
                     "%s (%s, first run %d req)" % (_ratio(d["ratio"]["change"]), _side(d, "change"),
                                                    d["first_run_requests"]),
                     "-", None, d["ratio"]["change"]["median"], d))
        noop = ("%s (%s)" % (_ratio(d["ratio"]["noop"]), _side(d, "noop")) if "noop" in d["ratio"]
                else "none: " + d.get("noop_none", ""))
        rows.append((fid + ".noop", "peers %s, no-op: agent / %s" % (title, name), noop, "-", None,
                     d["ratio"]["noop"]["median"] if "noop" in d["ratio"] else None, None))
    ref = [c for c in cl if c not in AGENTS and LANGUAGE[c] != "C"]
    if not ref:
        rows.append(("peers.%s.target" % p, "peers %s: target vs fastest Python/Perl peer" % title,
                     "no Python or Perl peer measured", TARGET, None, None, None))
        return rows
    fast = min(ref, key=lambda c: cl[c]["change_ms"]["median"])
    d = cl[fast]
    t_ok = d["ratio"]["change"]["median"] <= 0.7
    m_ok = a["change_rss_mb"]["median"] <= d["change_rss_mb"]["median"]
    q_ok = a["first_run_requests"] <= d["first_run_requests"]
    verdict = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
    rows.append(("peers.%s.target" % p, "peers %s: target vs fastest Python/Perl peer (%s)" % (title, fast),
                 "time %s %s; RSS %.1f vs %.1f MB %s; first-run requests %d vs %d %s"
                 % (_ratio(d["ratio"]["change"]), verdict(t_ok), a["change_rss_mb"]["median"],
                    d["change_rss_mb"]["median"], verdict(m_ok), a["first_run_requests"],
                    d["first_run_requests"], verdict(q_ok)),
                 TARGET, t_ok and m_ok and q_ok, d["ratio"]["change"]["median"], {"peer": fast}))
    if "urllib3_change" in d["ratio"]:  # the optional transport, for scale
        x = d["ratio"]["urllib3_change"]
        rows.append(("peers.%s.urllib3" % p, "peers %s, 1 changed record: agent (urllib3 transport) / %s"
                     % (title, fast), "%s (%s)" % (_ratio(x), _side(cl["urllib3"], "change")), "-", None,
                     x["median"], None))
    return rows


def _ratio(x: dict) -> str:
    passes = " (passes %s)" % "/".join("%.2f" % v for v in x["passes"]) if x.get("passes") else ""
    return "%.2fx [%.2f-%.2f]%s" % (x["median"], x["p25"], x["p75"], passes)
