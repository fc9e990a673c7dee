"""Helpers to run the real `ddns-agent` command in a subprocess against stand-in netifd data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL = SHARED / "fixtures" / "netifd" / "openwrt-22.03-real"
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
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen:
        """The same, started without waiting."""
        argv = [sys.executable, "-m", "ddns_agent", "--config", str(self.conf),
                "--state-dir", str(self.state), *args]
        return subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def saved(self) -> dict:
        """The state file's records."""
        return json.loads((self.state / "state.json").read_text())["records"]


def status_with(path: Path, **changes) -> dict:
    """A real status file with top-level keys replaced (e.g. another ipv4-address)."""
    data = json.loads(Path(path).read_text())
    data.update(changes)
    return data
