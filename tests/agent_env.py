"""Helpers to run the real `ddns-agent` command in a subprocess against stand-in netifd data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from fakes import record_output

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "tests" / "fixtures" / "netifd" / "openwrt-22.03-real"
STANDIN = REPO / "tests" / "ubus_standin"


class AgentEnv:
    """A config file, a state dir and a stand-in `ubus` serving chosen netifd status files."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.conf = tmp / "ddns_agent.conf"
        self.state = tmp / "state"
        self.ubus_dir = tmp / "ubus"
        self.ubus_dir.mkdir()
        self.env = dict(os.environ)
        self.env["PATH"] = "%s:%s" % (STANDIN, self.env.get("PATH", ""))
        self.env["UBUS_STANDIN_DIR"] = str(self.ubus_dir)
        self.env["PYTHONPATH"] = str(REPO)
        self.env["DDNS_AGENT_LOG"] = "stderr"

    def config(self, text: str) -> None:
        """Write the UCI config."""
        self.conf.write_text(text)

    def interface(self, name: str, status) -> None:
        """Serve `status` (a dict, or a fixture path) for network.interface.<name>."""
        target = self.ubus_dir / (name + ".json")
        if isinstance(status, (str, Path)):
            shutil.copy(status, target)
        else:
            target.write_text(json.dumps(status, indent="\t"))

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """`ddns-agent --config C --state-dir S ARGS...` with the stand-in environment."""
        argv = [sys.executable, "-m", "ddns_agent", "--config", str(self.conf),
                "--state-dir", str(self.state), *args]
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)
        what = "ddns-agent " + " ".join(args)
        record_output(what + ": stdout", done.stdout)
        record_output(what + ": stderr", done.stderr)
        self.record_state()
        return done

    def start(self, *args: str) -> subprocess.Popen:
        """The same, started without waiting."""
        argv = [sys.executable, "-m", "ddns_agent", "--config", str(self.conf),
                "--state-dir", str(self.state), *args]
        proc = _Recorded(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        proc.watch("ddns-agent " + " ".join(args), self)
        return proc

    def record_state(self) -> None:
        """Hand every file in the state dir to the secret guard (tests/secret_guard.py)."""
        for path in sorted(self.state.rglob("*")) if self.state.is_dir() else ():
            if path.is_file():
                record_output("state file %s" % path.relative_to(self.state), path.read_bytes())

    def saved(self) -> dict:
        """The state file's records."""
        return json.loads((self.state / "state.json").read_text())["records"]


class _Tee:
    """A process's output pipe that also hands what a test reads from it to the secret guard."""

    def __init__(self, stream, where: str) -> None:
        self._stream = stream
        self._where = where

    def _seen(self, text):
        record_output(self._where, text)
        return text

    def read(self, *args):
        return self._seen(self._stream.read(*args))

    def readline(self, *args):
        return self._seen(self._stream.readline(*args))

    def readlines(self, *args):
        return [self._seen(line) for line in self._stream.readlines(*args)]

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class _Recorded(subprocess.Popen):
    """Popen whose output (read through the pipes or by communicate) and state dir reach the guard."""

    def watch(self, what: str, env: AgentEnv) -> None:
        self._what, self._env, self._state_seen = what, env, False
        self.stdout = _Tee(self.stdout, what + ": stdout")
        self.stderr = _Tee(self.stderr, what + ": stderr")

    def communicate(self, input=None, timeout=None):
        out, err = super().communicate(input, timeout)
        record_output(self._what + ": stdout", out)
        record_output(self._what + ": stderr", err)
        return out, err

    def wait(self, timeout=None):
        code = super().wait(timeout)
        if not getattr(self, "_state_seen", True):
            self._state_seen = True
            self._env.record_state()
        return code


def status_with(path: Path, **changes) -> dict:
    """A real status file with top-level keys replaced (e.g. another ipv4-address)."""
    data = json.loads(Path(path).read_text())
    data.update(changes)
    return data


def set_wan(env: AgentEnv, v4: str, v6: str) -> None:
    """netifd's real `wan` status (dhcp-public) carrying these two addresses."""
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": v4, "mask": 24}],
                                        "ipv6-address": [{"address": v6, "mask": 64}]}))


def assert_no_secret(env: AgentEnv, runs: tuple, *secrets: str) -> None:
    """None of `secrets` in the state file or in any of the runs' output."""
    state = (env.state / "state.json").read_text() if (env.state / "state.json").exists() else ""
    for text in [state] + [r.stdout + r.stderr for r in runs]:
        for secret in secrets:
            assert secret not in text
