"""`pip install .` gives a working `ddns-agent` command whose no-change run stays cheap."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from agent_env import REAL, REPO, AgentEnv
from test_cli import LOG_CONFIG


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> str:
    """`ddns-agent` from `pip install .` (a copy of the repo: pip builds in the tree) into a fresh venv."""
    tmp = tmp_path_factory.mktemp("pip")
    src = tmp / "src"
    src.mkdir()
    for name in ("ddns_agent", "scripts"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                           "install", "-q", "--no-deps", str(src)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return str(venv / "bin" / "ddns-agent")


def _env(tmp_path) -> AgentEnv:
    env = AgentEnv(tmp_path)
    env.env.pop("PYTHONPATH")  # the installed copy, not the repo
    env.config(LOG_CONFIG)
    env.interface("wan", REAL / "dhcp-public" / "status_wan_up.json")
    env.interface("lan", REAL / "dhcpv6-pd" / "status_lan_up.json")
    return env


def _run(command: str, env: AgentEnv, *args: str, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([command, "--config", str(env.conf), "--state-dir", str(env.state), *args],
                          env=dict(env.env, **extra), capture_output=True, text=True, timeout=60)


def test_the_installed_command_publishes_and_reports(installed, tmp_path):
    env = _env(tmp_path)
    first = _run(installed, env, "update")
    assert first.returncode == 0, first.stderr
    assert "published 203.0.113.54" in first.stderr
    status = _run(installed, env, "status")
    assert status.returncode == 0 and "203.0.113.54" in status.stdout
    bad = _run(installed, env, "update", "--interface", "../x")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_the_installed_no_change_run_imports_neither_re_nor_the_config(installed, tmp_path):
    env = _env(tmp_path)
    assert _run(installed, env, "update").returncode == 0
    again = _run(installed, env, "update", PYTHONPROFILEIMPORTTIME="1")
    assert again.returncode == 0, again.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in again.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "ddns_agent.cli" in imported  # the installed package ran, not a copy on the path
    assert not imported & {"re", "ddns_agent.config", "json", "argparse"}, sorted(imported)
