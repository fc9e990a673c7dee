"""A stand-in router for the OpenWrt scripts' tests: a filesystem root, stand-in commands, real captures.

The scripts find the stand-ins through DDNS_AGENT_ROOT (lib/functions.sh, etc/rc.d, var/run),
UCI_CONFIG_DIR (the config, as `uci -c` reads it) and PATH (`ubus`, `ddns-agent`).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

STANDINS = Path(__file__).resolve().parent
REPO = STANDINS.parents[1]
REAL = REPO / "tests" / "fixtures" / "netifd" / "openwrt-22.03-real"
HOTPLUG = REPO / "openwrt" / "files" / "ddns_agent.hotplug"
INIT = REPO / "init.d" / "ddns_agent"
RECHECK = REPO / "openwrt" / "files" / "ddns_agent.recheck"
RPCD = REPO / "openwrt" / "files" / "ddns_agent.rpcd"

# the fingerprint contract (cli.md): what the shell side computes from `ubus call ... status`
SED = r's/^[[:space:]]*"address": "\([^"]*\)",\{0,1\}$/\1/p'
# netifd's variables in hotplug_env.txt; the others there come from the capture shell (README)
#: the smallest router config: the `log` provider and one A record on wan; {state} is the state dir
A_ON_WAN = """
config agent 'main'
	option state_dir '{state}'

config provider 'dry'
	option type 'log'

config record 'home4'
	option provider 'dry'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'
"""
NETIFD_VARS = re.compile(r"^(ACTION|INTERFACE|DEVICE|DEVICENAME|HOTPLUG_TYPE|IFUPDATE_[A-Z]+)$")


def shellcheck(path: Path) -> subprocess.CompletedProcess:
    """`shellcheck -s sh` on one script; the caller decides how a missing shellcheck fails."""
    return subprocess.run(["shellcheck", "-s", "sh", str(path)], capture_output=True, text=True,
                          timeout=60)


def hotplug_events(scenario: str) -> list:
    """The real hotplug environments of a capture, in call order: [{ACTION: ..., INTERFACE: ...}]."""
    events: list = []
    for line in (REAL / scenario / "hotplug_env.txt").read_text().splitlines():
        if line.startswith("========"):
            events.append({})
        elif "=" in line and events:
            key, value = line.split("=", 1)
            if NETIFD_VARS.match(key):
                events[-1][key] = value
    return events


def subscribe_updates(scenario: str) -> list:
    """The `interface.update` notifications of `ubus subscribe network.interface`, as status dicts."""
    out = []
    for line in (REAL / scenario / "ubus_subscribe.txt").read_text().splitlines():
        if line.startswith("{"):
            (kind, body), = json.loads(line).items()
            if kind == "interface.update":
                out.append(body)
    return out


def ubus_format(status: dict) -> str:
    """A status dict printed the way `ubus call` prints it: tab indent, `"key": value`."""
    body = {k: v for k, v in status.items() if k != "interface"}
    return json.dumps(body, indent="\t") + "\n"


def pipeline_fingerprint(text: str) -> str:
    """The hotplug script's fingerprint of `ubus call` output, by running the same sed | sort."""
    sed = subprocess.run(["sed", "-n", SED], input=text, capture_output=True, text=True, check=True)
    out = subprocess.run(["sort", "-u"], input=sed.stdout, capture_output=True, text=True, check=True,
                         env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    return out.stdout


def agent_fingerprint(text: str) -> str:
    """The agent's fingerprint of the same status (what it leaves in state_dir/fp/<iface>)."""
    from ddns_agent.netifd import fingerprint
    return fingerprint(json.loads(text))


class Router:
    """One router's worth of stand-in files under `tmp`; `env()` points the scripts at them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "root"
        self.bin = tmp / "bin"
        self.config_dir = tmp / "config"
        self.state = tmp / "state"
        self.ubus_dir = tmp / "ubus"
        self.calls_file = tmp / "agent_calls"
        self.ubus_log = tmp / "ubus_calls"
        for d in (self.root / "lib", self.root / "etc" / "init.d", self.root / "etc" / "rc.d",
                  self.root / "var" / "run", self.bin, self.config_dir, self.ubus_dir):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copy(STANDINS / "functions.sh", self.root / "lib" / "functions.sh")
        init = self.root / "etc" / "init.d" / "ddns_agent"
        shutil.copy(INIT, init)
        init.chmod(0o755)
        for name in ("ubus", "ddns-agent"):
            (self.bin / name).symlink_to(STANDINS / name)

    def enable(self, on: bool = True) -> None:
        """`service ddns_agent enable` (or disable): the S95 link the hotplug script looks for."""
        link = self.root / "etc" / "rc.d" / "S95ddns_agent"
        if on and not link.is_symlink():
            link.symlink_to("../init.d/ddns_agent")
        elif not on and link.is_symlink():
            link.unlink()

    def start(self, on: bool = True) -> None:
        """The marker the init script leaves while the service runs."""
        marker = self.root / "var" / "run" / "ddns_agent.started"
        if on:
            marker.touch()
        elif marker.exists():
            marker.unlink()

    def config(self, text: str) -> None:
        """Write /etc/config/ddns_agent; `{state}` is replaced by the state directory."""
        (self.config_dir / "ddns_agent").write_text(text.replace("{state}", str(self.state)))

    def serve(self, interface: str, status) -> str:
        """`ubus call network.interface.<interface> status` prints `status` (capture path or dict)."""
        text = Path(status).read_text() if isinstance(status, (str, Path)) else ubus_format(status)
        (self.ubus_dir / (interface + ".json")).write_text(text)
        return text

    def fingerprint(self, interface: str, status) -> None:
        """Leave the agent's fingerprint of `status` as if it had just acted on `interface`."""
        text = Path(status).read_text() if isinstance(status, (str, Path)) else ubus_format(status)
        fp = self.state / "fp" / interface
        fp.parent.mkdir(parents=True, exist_ok=True)
        fp.write_text(agent_fingerprint(text))

    def env(self, **extra: str) -> dict:
        """A hotplug-call-like environment pointing at the stand-ins."""
        env = {"PATH": "%s:/usr/sbin:/usr/bin:/sbin:/bin" % self.bin,
               "DDNS_AGENT_ROOT": str(self.root), "UCI_CONFIG_DIR": str(self.config_dir),
               "UBUS_STANDIN_DIR": str(self.ubus_dir), "UBUS_STANDIN_LOG": str(self.ubus_log),
               "DDNS_AGENT_STANDIN_CALLS": str(self.calls_file)}
        env.update(extra)
        return env

    def agent_calls(self) -> list:
        """Arguments of every `ddns-agent` run so far, one string per run."""
        return self.calls_file.read_text().splitlines() if self.calls_file.exists() else []

    def ubus_calls(self) -> list:
        """Arguments of every `ubus` run so far."""
        return self.ubus_log.read_text().splitlines() if self.ubus_log.exists() else []


class HotplugRun:
    """How one hotplug call went: its exit code and output."""

    __slots__ = ("returncode", "stdout", "stderr")

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def run_hotplug(router: Router, event: dict, direct: bool = False, hold: bool = False,
                **extra: str) -> HotplugRun:
    """Run the hotplug script for one event as /sbin/hotplug-call does (`( . script )` with
    /lib/functions.sh loaded), or with `direct` as `sh script`; then wait until every process it
    started has exited, so the caller can read what they recorded.

    `hold`: every `ddns-agent` it starts blocks until the script has returned, so a script that
    waits for the agent (and so holds netifd's event queue) fails here instead of passing slowly.
    """
    release = router.root / "release-agent"
    if release.exists():
        release.unlink()
    if hold:
        extra = dict(extra, DDNS_AGENT_STANDIN_HOLD=str(release))
    env = router.env(**extra)
    env.update(event)
    if direct:
        argv = ["/bin/sh", str(HOTPLUG)]
    else:
        argv = ["/bin/sh", "-c", '. "$1"; ( . "$2" )', "hotplug-call",
                str(router.root / "lib" / "functions.sh"), str(HOTPLUG)]
    # every process started from the script inherits `w`: EOF on `r` = all of them are gone
    r, w = os.pipe()
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, pass_fds=(w,), cwd="/")
        os.close(w)
        w = -1
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            release.touch()
            proc.kill()
            raise AssertionError("the hotplug script did not return while ddns-agent was running: "
                                 "it holds netifd's event queue") from None
        release.touch()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([r], [], [], 0.5)
            if ready and not os.read(r, 4096):
                break
        else:
            raise AssertionError("a process started by the hotplug script is still running after 30 s")
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    return HotplugRun(proc.returncode, out, err)
