"""Agent state in tmpfs: one JSON file written atomically under a lock, plus hotplug fingerprints.

Nothing here is ever written to flash on a router: `state_dir` defaults to /var/run/ddns_agent.
"""

from __future__ import annotations

import fcntl
import os

from ddns_agent import jsonlib
from ddns_agent.errors import ConfigError

STATE_FILE = "state.json"
LOCK_FILE = "lock"
NEXT_CHECK_FILE = "next_check"
FP_DIR = "fp"


def ensure_dir(state_dir: str) -> None:
    """Create `state_dir` (0700) and its fingerprint folder if missing."""
    try:
        os.makedirs(os.path.join(state_dir, FP_DIR), mode=0o700, exist_ok=True)
        os.chmod(state_dir, 0o700)
    except OSError as e:
        raise ConfigError("cannot create state directory %s: %s" % (state_dir, e.strerror),
                          section="agent", option="state_dir")


class Lock:
    """An exclusive flock on `state_dir/lock`, so parallel runs never push twice."""

    __slots__ = ("path", "fd")

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, LOCK_FILE)
        self.fd = -1

    def __enter__(self) -> Lock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)  # closing releases the lock
        self.fd = -1


def read(state_dir: str) -> dict:
    """The saved state, `{"records": {key: {...}}}`; empty when missing or unreadable."""
    try:
        with open(os.path.join(state_dir, STATE_FILE), "rb") as f:
            data = jsonlib.loads(f.read())
    except (OSError, ValueError):
        return {"records": {}}
    if not isinstance(data, dict) or not isinstance(data.get("records"), dict):
        return {"records": {}}
    return data


def _write_atomic(path: str, text: str) -> None:
    tmp = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write(state_dir: str, data: dict) -> None:
    """Replace the state file atomically (write a temp file, then rename)."""
    _write_atomic(os.path.join(state_dir, STATE_FILE), jsonlib.dumps(data, indent=1))


def write_fingerprint(state_dir: str, interface: str, fingerprint: str) -> None:
    """Remember that every record served by `interface` is right for these addresses."""
    _write_atomic(os.path.join(state_dir, FP_DIR, interface), fingerprint)


def clear_fingerprint(state_dir: str, interface: str) -> None:
    """Forget the fingerprint so the next hotplug event starts the agent again."""
    try:
        os.unlink(os.path.join(state_dir, FP_DIR, interface))
    except OSError:
        pass


def write_next_check(state_dir: str, when: float | None) -> None:
    """Record when the agent wants to run again (procd's periodic check reads it); None clears it."""
    path = os.path.join(state_dir, NEXT_CHECK_FILE)
    if when is None:
        try:
            os.unlink(path)
        except OSError:
            pass
    else:
        _write_atomic(path, "%d\n" % int(when))
