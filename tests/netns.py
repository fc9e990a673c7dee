"""Real Linux network namespaces for tests: create, run inside, always delete.

    from netns import Netns, require_netns

    def test_x():
        require_netns()
        with Netns() as ns:
            ns.ip("link", "set", "lo", "up")
            print(ns.python("from ddns_agent import netlink; print(netlink.is_up('lo'))").stdout)

Missing `ip` or missing privileges fail the test when CI=true and skip it otherwise (team rule).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_probe: list = []  # cached result of the first probe: [reason or None]


def _why_missing() -> str | None:
    if _probe:
        return _probe[0]
    reason = None
    if not sys.platform.startswith("linux"):
        reason = "network namespaces need Linux"
    elif shutil.which("ip") is None:
        reason = "the `ip` command (iproute2) is not installed"
    else:
        name = "ddnsprobe_%s" % uuid.uuid4().hex[:8]
        done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            reason = "cannot create a network namespace: %s" % (done.stderr.strip() or "not root?")
        else:
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=10)
    _probe.append(reason)
    return reason


def require_netns() -> None:
    """Fail (CI=true) or skip when this machine cannot create network namespaces."""
    reason = _why_missing()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("network namespace tests are required in CI: " + reason)
        pytest.skip(reason)


def _check(done: subprocess.CompletedProcess, argv: list) -> subprocess.CompletedProcess:
    if done.returncode != 0:
        raise AssertionError("%s failed (exit %d): %s" % (" ".join(argv), done.returncode,
                                                          (done.stderr or "").strip()))
    return done


class Netns:
    """One throwaway namespace with a unique name; a context manager that always deletes it."""

    def __init__(self, prefix: str = "ddnstest") -> None:
        self.name = "%s_%d_%s" % (prefix, os.getpid(), uuid.uuid4().hex[:6])
        self._procs: list = []
        argv = ["ip", "netns", "add", self.name]
        _check(subprocess.run(argv, capture_output=True, text=True, timeout=10), argv)

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, *exc) -> None:
        self.delete()

    def argv(self, *args: str) -> list:
        """`ip netns exec NAME args...` as an argv list."""
        return ["ip", "netns", "exec", self.name] + [str(a) for a in args]

    def run(self, *args: str, check: bool = True, timeout: float = 30,
            env: dict | None = None) -> subprocess.CompletedProcess:
        """Run a command inside the namespace; raise AssertionError on failure when `check`."""
        argv = self.argv(*args)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        return _check(done, argv) if check else done

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`ip ARGS` inside the namespace."""
        return self.run("ip", *args, check=check)

    def environ(self, env: dict | None = None) -> dict:
        """This process's environment plus `env`, with the repository on PYTHONPATH."""
        full = dict(os.environ)
        full["PYTHONPATH"] = str(REPO) + os.pathsep + full.get("PYTHONPATH", "")
        full.update(env or {})
        return full

    def python(self, code: str, *args: str, check: bool = True, timeout: float = 30,
               env: dict | None = None) -> subprocess.CompletedProcess:
        """Run Python `code` (sys.argv[1:] = `args`) inside the namespace, repository importable."""
        return self.run(sys.executable, "-c", code, *args, check=check, timeout=timeout,
                        env=self.environ(env))

    def popen(self, *args: str, env: dict | None = None, stdin: bool = False) -> subprocess.Popen:
        """Start a long-running command inside the namespace; killed at delete() if still running.

        stdout and stderr are pipes (text); `stdin=True` adds a pipe for input too.
        """
        proc = subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.PIPE if stdin else None, text=True,
                                env=self.environ(env))
        self._procs.append(proc)
        return proc

    def add_device(self, name: str, up: bool = True) -> str:
        """A dummy device, or on kernels without the dummy driver a veth pair (peer `<name>p`, up).

        Both have carrier when up, so DAD runs and addresses behave as on a real interface.
        """
        done = self.ip("link", "add", name, "type", "dummy", check=False)
        if done.returncode != 0:
            self.ip("link", "add", name, "type", "veth", "peer", "name", name + "p")
            self.ip("link", "set", name + "p", "up")
        if up:
            self.ip("link", "set", name, "up")
        return name

    def add_veth(self, name: str, peer: str, up: bool = True, peer_up: bool = False) -> str:
        """A veth pair inside the namespace; with the peer down the device has no carrier,
        so IPv6 addresses added without nodad stay tentative."""
        self.ip("link", "add", name, "type", "veth", "peer", "name", peer)
        if up:
            self.ip("link", "set", name, "up")
        if peer_up:
            self.ip("link", "set", peer, "up")
        return name

    def addresses_json(self, device: str) -> list:
        """`ip -j addr show dev DEVICE` inside the namespace: the kernel's own view, to compare with."""
        import json

        data = json.loads(self.ip("-j", "addr", "show", "dev", device).stdout or "[]")
        return data[0].get("addr_info", []) if data else []

    def delete(self) -> None:
        """Stop started processes and delete the namespace (idempotent)."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._procs = []
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=10)

