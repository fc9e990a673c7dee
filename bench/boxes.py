"""What the figures run against: an agent box (config, state, stand-in ubus, launcher), fakes, floors.

The agent is started the way the OpenWrt launcher starts it (openwrt/files/ddns-agent: put the code
on sys.path, import ddns_agent.cli, call main), by this bench's own interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
for _p in (str(REPO), str(TESTS)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from standins.router import REAL, STANDINS  # noqa: E402

#: the interpreter every measured child runs; run.py points it at clean_interpreter()
PY = sys.executable
WAN_UP = REAL / "dhcp-public" / "status_wan_up.json"
# documentation addresses (RFC 5737, RFC 3849); a changed record alternates between the two
V4 = ("203.0.113.54", "198.51.100.54")
V6 = ("2001:db8::54", "2001:db8:1::54")
CF_TOKEN = "cf-bench-token-Q7dLk2"
DNSPOD_TOKEN = "13490,6b5976c68aba5b14a0558b77c17c3932"

LAUNCHER = """import sys
sys.path[0] = %r
from ddns_agent.cli import main
sys.exit(main())
"""

AGENT_SECTION = """
config agent 'main'
	option state_dir '{state}'
	option retry_max '0'
"""

RECORD = """
config record '{key}'
	option provider '{provider}'
	option domain '{domain}'
	option name '{name}'
	option type '{type}'
	option interface 'wan'
"""


def uci_section(kind: str, name: str, options: dict) -> str:
    """A UCI section with one `option` line per item."""
    lines = ["", "config %s '%s'" % (kind, name)]
    lines += ["\toption %s '%s'" % (k, v) for k, v in options.items()]
    return "\n".join(lines) + "\n"


class Box:
    """One agent installation: config, state dir, stand-in `ubus` serving a WAN status, launcher."""

    def __init__(self, root: Path, name: str) -> None:
        self.dir = root / name
        self.ubus = self.dir / "netifd-status"  # not "ubus": that name would import as a module
        self.state = self.dir / "state"
        self.conf = self.dir / "ddns_agent.conf"
        self.ubus.mkdir(parents=True)
        (self.dir / "bin").mkdir()
        self.launcher = self.dir / "bin" / "ddns-agent"
        self.launcher.write_text(LAUNCHER % str(REPO))
        # the shell stand-in: a Python one would bill the agent for a second interpreter start
        self.env = {"PATH": "%s:/usr/sbin:/usr/bin:/sbin:/bin" % STANDINS,
                    "UBUS_STANDIN_DIR": str(self.ubus), "DDNS_AGENT_LOG": "stderr",
                    "LC_ALL": "C.UTF-8"}

    def config(self, provider: str, options: dict, records: list) -> None:
        """Write the config: one provider section and `records` [(key, domain, name, type)]."""
        text = AGENT_SECTION.format(state=self.state) + uci_section("provider", provider, options)
        for key, domain, name, rtype in records:
            text += RECORD.format(key=key, provider=provider, domain=domain, name=name, type=rtype)
        self.conf.write_text(text)
        # mode 0600, as opkg installs /etc/config/ddns_agent (INSTALL_CONF): an inline secret in a
        # file others can read gets a warning on every run, which no installed agent pays
        self.conf.chmod(0o600)

    def wan(self, v4: str, v6: str | None = None) -> None:
        """Serve a real WAN capture with these addresses (as `ubus call` prints it)."""
        data = json.loads(WAN_UP.read_text())
        data["ipv4-address"] = [{"address": v4, "mask": 24}]
        if v6:
            data["ipv6-address"] = [{"address": v6, "mask": 64}]
        (self.ubus / "wan.json").write_text(json.dumps(data, indent="\t") + "\n")

    def argv(self, *args: str) -> list:
        """`ddns-agent --config C --state-dir S ARGS`."""
        return [PY, str(self.launcher), "--config", str(self.conf), "--state-dir", str(self.state), *args]

    def env_for(self, transport: str | None) -> dict:
        """The environment, with DDNS_AGENT_HTTP set when `transport` is given."""
        env = dict(self.env)
        if transport:
            env["DDNS_AGENT_HTTP"] = transport
        return env

    def reset_state(self) -> None:
        """Forget everything the agent saved."""
        shutil.rmtree(self.state, ignore_errors=True)


class Served:
    """A fake provider over real HTTPS: handler, server, and request/connection counters."""

    def __init__(self, handler, ca, tls: bool = True) -> None:
        from fakes.server import FakeServer
        self.handler = handler
        # the bench outlives the default 120 s self-stop; it stops the server itself in any case
        self.server = FakeServer(handler, ca=ca, tls=tls, lifetime_s=900).start()

    def mark(self) -> tuple:
        """Counters now: (requests, connections)."""
        return len(self.server.requests), self.server.connections

    def since(self, mark: tuple) -> tuple:
        """(requests made, connections opened, [methods]) since `mark`."""
        reqs = self.server.requests[mark[0]:]
        return len(reqs), self.server.connections - mark[1], [r.method for r in reqs]

    def stop(self) -> None:
        """Stop the server."""
        self.server.stop()


def cloudflare(ca, tls: bool = True) -> Served:
    """The Cloudflare fake (one zone, example.com) served over HTTPS (or plain HTTP)."""
    from fakes.cloudflare import CloudflareFake
    return Served(CloudflareFake(CF_TOKEN, {"example.com": "9" * 32}), ca, tls)


def cloudflare_options(served: Served) -> dict:
    """Provider options pointing at the fake, trusting only its CA (none over plain HTTP)."""
    from fakes.cloudflare import PREFIX
    options = {"type": "cloudflare", "api_token": CF_TOKEN, "endpoint": served.server.url + PREFIX}
    if served.server.cafile:
        options["cacert"] = served.server.cafile
    else:
        options["allow_insecure_http"] = "1"
    return options


def dnspod(ca) -> Served:
    """The DNSPod fake (example.com) served over HTTPS."""
    from fakes.dnspod import DNSPodFake
    return Served(DNSPodFake(DNSPOD_TOKEN), ca)


def dnspod_options(served: Served) -> dict:
    """Provider options pointing at the fake."""
    return {"type": "dnspod", "login_token": DNSPOD_TOKEN, "endpoint": served.server.url,
            "cacert": served.server.cafile}


# -- floors: a bare interpreter making the same single HTTPS request --------------------------

FLOOR_URLLIB3 = """import os, urllib3
pool = urllib3.PoolManager(ca_certs=os.environ["FLOOR_CA"], retries=False)
r = pool.request(os.environ["FLOOR_METHOD"], os.environ["FLOOR_URL"], body=os.environ["FLOOR_BODY"].encode(),
                 headers={"Authorization": os.environ["FLOOR_AUTH"], "Content-Type": "application/json"})
assert r.status == 200, r.status
"""

# The least a Python PATCH can cost: socket (+ ssl), the request written by hand, the answer read to
# its Content-Length. No http.client, no urllib.parse: the agent's own transport does the same work.
# FLOOR_URL's path, or each of FLOOR_PATHS (comma-separated, one kept-alive connection), gets the body.
FLOOR_RAW = """import os, socket%s
rest = os.environ["FLOOR_URL"].split("://", 1)[1]
hostport, _, path = rest.partition("/")
host, _, port = hostport.partition(":")
s = socket.create_connection((host.encode(), int(port)), 10)
%s
body = os.environ["FLOOR_BODY"].encode()
buf = b""
for path in os.environ.get("FLOOR_PATHS", path).split(","):
    head = ("%%s /%%s HTTP/1.1\\r\\nHost: %%s\\r\\nAuthorization: %%s\\r\\n"
            "Content-Type: application/json\\r\\nContent-Length: %%d\\r\\n\\r\\n"
            %% (os.environ["FLOOR_METHOD"], path, hostport, os.environ["FLOOR_AUTH"], len(body)))
    s.sendall(head.encode() + body)
    while b"\\r\\n\\r\\n" not in buf:
        buf += s.recv(65536)
    head, _, buf = buf.partition(b"\\r\\n\\r\\n")
    n = int([h.split(b":", 1)[1] for h in head.split(b"\\r\\n")
             if h.lower().startswith(b"content-length:")][0])
    while len(buf) < n:
        buf += s.recv(65536)
    buf = buf[n:]
    assert head.startswith(b"HTTP/1.1 200 "), head[:20]
"""
FLOOR_STDLIB = FLOOR_RAW % (", ssl", "s = ssl.create_default_context(cafile=os.environ[\"FLOOR_CA\"])"
                                    ".wrap_socket(s, server_hostname=host.encode())")
FLOOR_PLAIN = FLOOR_RAW % ("", "")


def raw_paths_env(base: dict, endpoint: str, cafile: str, ids: list, address: str) -> dict:
    """floor_env for FLOOR_STDLIB PATCHing each Cloudflare record id ("zone/record") on one connection."""
    prefix = endpoint.split("://", 1)[1].partition("/")[2]
    env = floor_env(base, endpoint, cafile, json.dumps({"content": address}))
    env["FLOOR_PATHS"] = ",".join("%s/zones/%s/dns_records/%s" % ((prefix,) + tuple(i.split("/")))
                                  for i in ids)
    return env


def floor_argv(transport: str) -> list:
    """The floor for a transport: urllib3; for stdlib and plain, socket (+ ssl) and the bytes by hand."""
    return [PY, "-c", {"urllib3": FLOOR_URLLIB3, "plain": FLOOR_PLAIN}.get(transport, FLOOR_STDLIB)]


def pip_installed(root: Path) -> str:
    """`ddns-agent` as `pip install .` puts it in a fresh venv (from a copy: pip builds in the tree)."""
    import subprocess

    src = root / "pip-src"
    for name in ("ddns_agent", "scripts"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    venv = root / "pip-venv"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True,
                   timeout=120)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                    "-q", "--no-deps", str(src)], check=True, capture_output=True, text=True,
                   timeout=600)
    return str(venv / "bin" / "ddns-agent")


def floor_env(base: dict, url: str, cafile: str, body: str, method: str = "PATCH") -> dict:
    """The floor's environment: the agent's plus the request to make."""
    env = dict(base)
    env.update(FLOOR_URL=url, FLOOR_CA=cafile, FLOOR_BODY=body, FLOOR_METHOD=method,
               FLOOR_AUTH="Bearer " + CF_TOKEN)
    return env


def clean_interpreter(root: Path) -> str:
    """This interpreter in a fresh venv whose site runs no .pth code; urllib3 and ujson stay importable.

    A router's python3 starts with a site-packages that imports nothing. An editable install
    (`pip install -e`, the Makefile's venv) or a machine-wide .pth can import a dozen modules at
    every start, inflating `python3 -c pass` and every other child alike, so ratios would flatter
    the agent. A plain path line in a .pth adds a directory without running that directory's .pth.
    """
    import importlib.util
    import subprocess

    venv = root / "python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True, timeout=120)
    dirs = []
    for name in ("urllib3", "ujson"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            top = Path(spec.origin).parent
            where = str(top.parent if top.name == name else top)
            if where not in dirs:
                dirs.append(where)
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "bench-deps.pth").write_text("".join(d + "\n" for d in dirs))
    return str(venv / "bin" / "python")


def site_code() -> list:
    """.pth files of this interpreter's site directories that run code at every start."""
    import site
    found = []
    for d in site.getsitepackages() + [site.getusersitepackages()]:
        for pth in sorted(Path(d).glob("*.pth")) if os.path.isdir(d) else ():
            if any(line.startswith(("import ", "import\t")) for line in pth.read_text().splitlines()):
                found.append(pth.name)
    return found


def python_version() -> str:
    """`3.11.7 (/path/to/python)`: the interpreter running the bench (the children's is a venv of it)."""
    return "%d.%d.%d (%s)" % (sys.version_info[:3] + (sys.executable,))


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1
