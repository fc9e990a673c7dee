"""The agent runs with only the modules its declared OpenWrt packages provide.

A router has python3-light plus the split packages openwrt/Makefile lists in DEPENDS, and nothing
from PyPI. The subprocess below refuses every other import (specs/openwrt.md §7: python3-light is
the whole stdlib minus the split packages), then runs the real `ddns-agent update` against the
real netifd captures through the stand-in `ubus`. The last cases run the files of the core .ipk
alone (without ddns-agent-upstream and ddns-agent-rfc2136), as opkg installs them.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from standins.router import A_ON_WAN, REAL, REPO, STANDINS, pipeline_fingerprint

# openwrt/packages lang/python/python3 (specs/openwrt.md §7): split package -> top-level modules
SPLIT = {
    "python3-asyncio": ("asyncio",),
    "python3-codecs": ("_codecs_cn", "_codecs_hk", "_codecs_iso2022", "_codecs_jp", "_codecs_kr",
                       "_codecs_tw", "unicodedata"),
    "python3-ctypes": ("ctypes", "_ctypes"),
    "python3-dbm": ("dbm", "_dbm", "_gdbm"),
    "python3-decimal": ("decimal", "_decimal"),
    "python3-email": ("email",),
    "python3-logging": ("logging",),
    "python3-lzma": ("lzma", "_lzma"),
    "python3-multiprocessing": ("multiprocessing", "_multiprocessing", "_posixshmem"),
    "python3-ncurses": ("curses", "_curses", "_curses_panel"),
    "python3-openssl": ("_hashlib", "_ssl"),
    "python3-pydoc": ("doctest", "pydoc", "pydoc_data"),
    "python3-readline": ("readline",),
    "python3-sqlite3": ("sqlite3", "_sqlite3"),
    "python3-unittest": ("unittest",),
    "python3-urllib": ("urllib",),
    "python3-uuid": ("uuid", "_uuid"),
    "python3-xml": ("xml", "xmlrpc", "_elementtree", "pyexpat"),
    "python3-venv": ("ensurepip", "venv"),
    "python3-cgi": ("cgi", "cgitb"),
    "python3-distutils": ("distutils",),
    "python3-lib2to3": ("lib2to3",),
}
# removed from python3-light's filespec, or not built (--disable-test-modules)
NOT_SHIPPED = ("idlelib", "tkinter", "_tkinter", "turtledemo", "webbrowser", "_osx_support", "test")

RUNNER = r"""
import json, os, sys
allowed = frozenset(json.loads(os.environ["CLOSURE_ALLOWED"])) if "CLOSURE_ALLOWED" in os.environ else None
refused = []

class Closure:
    def find_spec(self, name, path=None, target=None):
        if allowed is None or name.partition(".")[0] in allowed:
            return None
        refused.append(name)
        raise ModuleNotFoundError("No module named %r (no declared OpenWrt package has it)" % name,
                                  name=name)

sys.meta_path.insert(0, Closure())
sys.path.insert(0, os.environ["CLOSURE_REPO"])
before = set(sys.modules)
rc = 70
try:
    if os.environ.get("CLOSURE_PROBE"):
        import importlib
        ok = []
        for name in sys.argv[1:]:
            try:
                importlib.import_module(name)
                ok.append(name)
            except ImportError:
                pass
        print(json.dumps(ok))
        rc = 0
    else:
        from ddns_agent.cli import main
        rc = main(sys.argv[1:])
finally:
    with open(os.environ["CLOSURE_REPORT"], "w") as f:
        json.dump({"imported": sorted(set(sys.modules) - before), "refused": refused,
                   "origin": getattr(sys.modules.get("ddns_agent"), "__file__", None)}, f)
sys.exit(rc)
"""

CONFIG = A_ON_WAN


def declared_packages() -> set:
    """The python3 packages openwrt/Makefile depends on."""
    text = (REPO / "openwrt" / "Makefile").read_text()
    depends = re.search(r"^define Package/ddns-agent\n.*?DEPENDS:=(.*?)\nendef", text, re.S | re.M)[1]
    return {p for p in re.findall(r"\+([\w.-]+)", depends) if p.startswith("python3")}


def allowed_modules(packages: set) -> list:
    """Top-level modules importable on a router with python3-light plus `packages`."""
    if not hasattr(sys, "stdlib_module_names"):
        pytest.skip("needs Python 3.10+ to list the standard library")
    assert "python3-light" in packages
    refused = set(NOT_SHIPPED)
    for package, modules in SPLIT.items():
        if package not in packages:
            refused.update(modules)
    names = {n for n in sys.stdlib_module_names if n not in refused and not n.startswith("_test")}
    return sorted(names | {"ddns_agent"})


class Run:
    """One `ddns-agent` run in a subprocess; `report` has what it imported and what was refused."""

    def __init__(self, result: subprocess.CompletedProcess, report: dict) -> None:
        self.returncode = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.imported = set(report["imported"])
        self.refused = report["refused"]
        self.origin = report["origin"]  # the ddns_agent/__init__.py that was run


def agent(tmp: Path, *args: str, packages: set | None = None, repo: Path = REPO, **env: str) -> Run:
    """`ddns-agent --config tmp/config ARGS` from `repo`, restricted to `packages` unless None.

    With env CLOSURE_PROBE=1 the ARGS are module names instead, and stdout lists those that import.
    """
    report = tmp / "imports.json"
    full_env = {"PATH": "%s:/usr/bin:/bin" % STANDINS, "UBUS_STANDIN_DIR": str(tmp / "ubus"),
                "CLOSURE_REPO": str(repo), "CLOSURE_REPORT": str(report), "DDNS_AGENT_LOG": "stderr",
                # secret files live in tmp dirs here (conftest.py allows any directory for tests)
                "DDNS_AGENT_SECRET_DIR": os.environ.get("DDNS_AGENT_SECRET_DIR", "/")}
    if packages is not None:
        full_env["CLOSURE_ALLOWED"] = json.dumps(allowed_modules(packages))
    full_env.update(env)
    if not env.get("CLOSURE_PROBE"):
        args = ("--config", str(tmp / "config")) + args
    # -S: no site-packages .pth files, whose finders (a `pip install -e` checkout) would serve
    # ddns_agent from the repository instead of the tree under test, as on a router with none
    argv = [sys.executable, "-I", "-S", "-c", RUNNER, *args]
    result = subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=120, cwd=str(tmp))
    return Run(result, json.loads(report.read_text()))


@pytest.fixture
def box(tmp_path):
    """A config and a WAN that is up with 203.0.113.54 (real capture)."""
    (tmp_path / "config").write_text(CONFIG.replace("{state}", str(tmp_path / "state")))
    (tmp_path / "ubus").mkdir()
    (tmp_path / "ubus" / "wan.json").write_text((REAL / "dhcp-public" / "status_wan_up.json").read_text())
    return tmp_path


def test_closure_refuses_what_the_router_lacks(box):
    run = agent(box, "json", "hashlib", "ssl", "logging", "asyncio", "urllib3", "unicodedata",
                "email.message", packages={"python3-light"}, CLOSURE_PROBE="1")

    # hashlib has built-in fallbacks; ssl needs _ssl from python3-openssl
    assert json.loads(run.stdout) == ["json", "hashlib"]
    assert {"_ssl", "logging", "asyncio", "urllib3", "unicodedata", "email"} <= set(run.refused)


def test_update_publishes_with_only_the_declared_packages(box):
    packages = declared_packages()
    assert packages == {"python3-light", "python3-codecs", "python3-urllib", "python3-openssl"}

    run = agent(box, "update", "--interface", "wan", packages=packages)

    assert run.returncode == 0, run.stderr
    assert "published 203.0.113.54" in run.stderr
    status = agent(box, "status", "--json", packages=packages)
    assert status.returncode == 0, status.stderr
    (row,) = json.loads(status.stdout)["records"]
    assert (row["result"], row["address"]) == ("published", "203.0.113.54")
    # the hotplug script will find the fingerprint it computes itself
    fp = (box / "state" / "fp" / "wan").read_text()
    assert fp == pipeline_fingerprint((box / "ubus" / "wan.json").read_text())


def test_no_change_update_imports_no_urllib3_ssl_or_http(box):
    # urllib3 is installed here and importable: only the agent's own restraint keeps it out
    first = agent(box, "update", "--interface", "wan")
    assert first.returncode == 0, first.stderr

    run = agent(box, "update", "--interface", "wan")

    assert run.returncode == 0, run.stderr
    heavy = {"urllib3", "ssl", "_ssl", "http.client", "email", "logging", "asyncio", "ddns_agent.http",
             "ddns_agent.publish"}
    assert not run.imported & heavy, sorted(run.imported & heavy)


HTTPS_CONFIG = """
config agent 'main'
	option state_dir '{state}'
	option retry_max '0'

config provider 'cf'
	option type 'cloudflare'
	option api_token_file '{token}'
	option endpoint '{endpoint}'
	option cacert '{cacert}'

config record 'home4'
	option provider 'cf'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'
"""


def _https_box(box: Path, serve) -> object:
    from fakes.cloudflare import PREFIX, CloudflareFake
    token = "cf-closure-token-8fJ2kQ"
    fake = CloudflareFake(token, {"example.com": "9" * 32})
    server = serve(fake)
    token_file = box / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    # a host name, not an address: resolved, and sent as SNI
    (box / "config").write_text(HTTPS_CONFIG.format(
        state=box / "state", token=token_file, cacert=server.cafile,
        endpoint="https://localhost:%d%s" % (server.port, PREFIX)))
    return fake


def test_https_provider_works_with_only_the_declared_packages(box, serve):
    fake = _https_box(box, serve)

    run = agent(box, "update", packages=declared_packages())

    assert run.returncode == 0, run.stderr
    assert [r["content"] for r in fake.find("home.example.com")] == ["203.0.113.54"]
    assert "ssl" in run.imported and "urllib3" not in run.imported  # stdlib transport, verified TLS


def test_https_update_does_not_import_urllib3_where_it_is_installed(box, serve):
    # a one-shot run makes its few requests on one connection: urllib3's import would cost more
    fake = _https_box(box, serve)

    run = agent(box, "update")

    assert run.returncode == 0, run.stderr
    assert [r["content"] for r in fake.find("home.example.com")] == ["203.0.113.54"]
    assert "ssl" in run.imported and "urllib3" not in run.imported


def test_an_https_update_imports_no_email_http_client_or_idna(box, serve):
    # the stdlib transport speaks HTTP/1.1 itself and gives the resolver and ssl an ASCII host
    # name as bytes: no python3-email, and no idna codec (python3-codecs) for it
    fake = _https_box(box, serve)

    run = agent(box, "update", packages=declared_packages() - {"python3-codecs"})

    assert run.returncode == 0, run.stderr
    assert [r["content"] for r in fake.find("home.example.com")] == ["203.0.113.54"]
    assert not run.imported & {"email", "http.client", "encodings.idna", "unicodedata"}


# -- the core package alone ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def core(tmp_path_factory) -> Path:
    """The payload of the core .ipk from `make ipk`, unpacked as opkg installs it; its code dir."""
    out = tmp_path_factory.mktemp("ipk")
    result = subprocess.run([sys.executable, str(REPO / "tools" / "build_ipk.py"), "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (ipk,) = out.glob("ddns-agent_*.ipk")
    root = tmp_path_factory.mktemp("root")
    with tarfile.open(ipk) as outer:
        data = gzip.decompress(outer.extractfile("./data.tar.gz").read())
    with tarfile.open(fileobj=io.BytesIO(data)) as payload:
        payload.extractall(root, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    lib = root / "usr" / "lib" / "ddns_agent"
    assert not (lib / "ddns_agent" / "upstream.py").exists()
    assert not (lib / "ddns_agent" / "providers" / "rfc2136.py").exists()
    return lib


def _from_core(run: Run, core: Path) -> Run:
    assert run.origin == str(core / "ddns_agent" / "__init__.py"), run.origin
    assert "Traceback" not in run.stderr, run.stderr
    return run


def test_core_package_alone_publishes_with_the_log_provider(box, core):
    run = _from_core(agent(box, "update", "-i", "wan", packages=declared_packages(), repo=core), core)

    assert run.returncode == 0, run.stderr
    assert "published 203.0.113.54" in run.stderr
    assert (box / "state" / "fp" / "wan").exists()


def test_core_package_alone_publishes_with_an_https_provider(box, serve, core):
    fake = _https_box(box, serve)

    run = _from_core(agent(box, "update", packages=declared_packages(), repo=core), core)

    assert run.returncode == 0, run.stderr
    assert [r["content"] for r in fake.find("home.example.com")] == ["203.0.113.54"]


UPSTREAM_CONFIG = CONFIG + """\toption source 'netifd upnp'
"""
NOT_INSTALLED_UPSTREAM = "source upnp is not installed: opkg install ddns-agent-upstream"


def test_core_package_alone_says_which_package_an_upstream_source_needs(box, core):
    # behind a modem: netifd has only a private address, upnp would ask the modem
    status = (box / "ubus" / "wan.json").read_text()
    (box / "ubus" / "wan.json").write_text(status.replace("203.0.113.", "192.168.1."))
    (box / "config").write_text(UPSTREAM_CONFIG.replace("{state}", str(box / "state")))

    run = _from_core(agent(box, "update", "-i", "wan", packages=declared_packages(), repo=core), core)
    plan = _from_core(agent(box, "plan", "--json", repo=core), core)

    assert "home.example.com A: not published: 192.168.1.54 is a private" in run.stderr  # netifd's words
    assert NOT_INSTALLED_UPSTREAM in run.stderr
    (row,) = json.loads(plan.stdout)["records"]
    assert row["address"] is None and NOT_INSTALLED_UPSTREAM in row["reason"]


RFC2136_CONFIG = CONFIG.replace("config record 'home4'", """config provider 'ns'
\toption type 'rfc2136'
\toption server '127.0.0.1'
\toption key_name 'home-key'
\toption key_secret 'c2VjcmV0LWtleS1ieXRlcw=='

config record 'ns4'
\toption provider 'ns'
\toption domain 'example.com'
\toption name 'ns'
\toption type 'A'
\toption interface 'wan'

config record 'home4'""")


def test_core_package_alone_check_names_the_provider_package_to_install(box, core):
    config = box / "config"
    config.write_text(RFC2136_CONFIG.replace("{state}", str(box / "state")))
    line = config.read_text().splitlines().index("config provider 'ns'") + 1

    check = _from_core(agent(box, "check", repo=core), core)
    update = _from_core(agent(box, "update", "-i", "wan", packages=declared_packages(), repo=core), core)

    assert check.returncode == 2
    assert ("%s:%d: ns.type: provider type rfc2136 is not installed: opkg install ddns-agent-rfc2136"
            % (config, line)) in check.stderr
    # the other records still publish; the rfc2136 one fails with the same words
    assert update.returncode == 1
    assert "published 203.0.113.54" in update.stderr
    assert "opkg install ddns-agent-rfc2136" in update.stderr
    # the same config is fine where the package is installed (the repository has every module)
    assert agent(box, "check").returncode == 0


def test_core_package_alone_check_names_the_upstream_package_to_install(box, core):
    (box / "config").write_text(UPSTREAM_CONFIG.replace("{state}", str(box / "state")))

    check = _from_core(agent(box, "check", repo=core), core)
    providers = _from_core(agent(box, "providers", repo=core), core)

    assert check.returncode == 2, check.stderr
    assert "home4.source: sources upnp, natpmp, stun and url are not installed: " \
           "opkg install ddns-agent-upstream" in check.stderr
    assert "Traceback" not in check.stderr
    assert "(not installed: opkg install ddns-agent-rfc2136)" in providers.stdout


DO_CONFIG = CONFIG.replace("config record 'home4'", """config provider 'do'
\toption type 'digitalocean'
\toption api_token 'dop_v1_closure_0123456789abcdef'

config record 'do4'
\toption provider 'do'
\toption domain 'example.com'
\toption name 'do'
\toption type 'A'
\toption interface 'wan'

config record 'home4'""")


def test_core_package_alone_names_ddns_agent_providers_for_the_further_apis(box, core):
    config = box / "config"
    config.write_text(DO_CONFIG.replace("{state}", str(box / "state")))
    line = config.read_text().splitlines().index("config provider 'do'") + 1

    check = _from_core(agent(box, "check", repo=core), core)
    update = _from_core(agent(box, "update", "-i", "wan", packages=declared_packages(), repo=core), core)
    providers = _from_core(agent(box, "providers", repo=core), core)

    assert not (core / "ddns_agent" / "providers" / "digitalocean.py").exists()
    assert check.returncode == 2
    assert ("%s:%d: do.type: provider type digitalocean is not installed: opkg install ddns-agent-providers"
            % (config, line)) in check.stderr
    assert update.returncode == 1 and "published 203.0.113.54" in update.stderr
    assert "opkg install ddns-agent-providers" in update.stderr
    assert "digitalocean: " in providers.stdout
    for module in ("huaweicloud", "volcengine", "route53"):  # the signed APIs ship there too
        assert not (core / "ddns_agent" / "providers" / (module + ".py")).exists()
        assert "%s: " % module in providers.stdout
    assert "(not installed: opkg install ddns-agent-providers)" in providers.stdout
