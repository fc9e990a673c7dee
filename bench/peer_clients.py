"""The clients of group `peers` (bench/peers.py), each configured as its documentation configures it.

Each builder returns (argv, env, set_address(ip), reset()[, set_mode(mode)]): argv runs one update,
set_address changes what the client's fixed address source prints, reset forgets its cache/state.
The peers live in build/bench-peers (tools/bench-peers.sh); their own address detection is
replaced by a small executable that prints the address, as the agent reads the `ubus` stand-in.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boxes

PREFIX = boxes.REPO / "build" / "bench-peers"
PEERS = ("ddclient", "inadyn", "ddns")
NOIP_USER, NOIP_PASS = "bench", "noip-bench-pass"
DNSPOD_ID, DNSPOD_KEY = boxes.DNSPOD_TOKEN.split(",")


def peer_status(prefix: Path = PREFIX) -> dict:
    """{peer: "ok <version>" | "skipped: <reason>"} from the install script's status files."""
    out = {}
    for peer in PEERS:
        f = prefix / "status" / peer
        out[peer] = f.read_text().strip() if f.exists() else "skipped: not installed (tools/bench-peers.sh)"
    return out


def agent_client(root: Path, provider: str, cafile: str, name: str = "agent", transport: str | None = None):
    """(argv, env, set_address(ip), reset()) of the agent at this tree, started as the OpenWrt launcher."""
    box = boxes.Box(root, "peers-%s-%s" % (name, provider))
    options = {"cloudflare": {"type": "cloudflare", "api_token": boxes.CF_TOKEN},
               "dyndns2": {"type": "dyndns2", "preset": "noip", "username": NOIP_USER, "password": NOIP_PASS},
               "dnspod": {"type": "dnspod", "login_token": boxes.DNSPOD_TOKEN}}[provider]
    options["cacert"] = cafile
    box.config("p", options, [(name, "example.com", name, "A")])
    return box.argv("update"), box.env_for(transport), box.wan, box.reset_state


def _address_file(root: Path, peer: str, provider: str) -> tuple:
    """The peer's directory and an executable printing the address (its fixed-source detection runs it)."""
    d = root / ("peers-%s-%s" % (peer, provider))
    d.mkdir()
    addr = d / "address"

    def set_address(ip: str) -> None:
        addr.write_text("#!/bin/sh\necho %s\n" % ip)
        addr.chmod(0o755)
    return d, addr, set_address


def ddclient_client(root: Path, provider: str, cafile: str):
    """ddclient 3.10, one-shot (daemon=0), default transport (IO::Socket::SSL), use=cmd."""
    d, addr, set_address = _address_file(root, "ddclient", provider)
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
    d, addr, set_address = _address_file(root, "inadyn", provider)
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
    d, addr, set_address = _address_file(root, "ddns", provider)
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


def urllib3_client(root: Path, provider: str, cafile: str):
    """The agent again with DDNS_AGENT_HTTP=urllib3 (the optional transport): informational."""
    return agent_client(root, provider, cafile, "urllib3", "urllib3")


CLIENTS = {"agent": agent_client, "urllib3": urllib3_client, "ddclient": ddclient_client,
           "inadyn": inadyn_client, "ddns": ddns_client}
AGENTS = ("agent", "urllib3")
