"""Run a short command and collect its output, with a deadline, without `subprocess`.

`subprocess` pulls in threading, selectors and signal (~3 ms per run, measured in bench/); the
agent only ever needs to run `ubus call` and read what it prints.
"""

from __future__ import annotations

import os
import select
import time


def which(name: str) -> str | None:
    """The first executable `name` on PATH (without shutil, which imports bz2 and lzma)."""
    for d in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(os.pathsep):
        path = os.path.join(d or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


LIMIT = 1 << 20  # bytes kept per stream unless the caller says otherwise


class Timeout(Exception):
    """The command did not finish in time (it has been killed)."""


class TooLarge(Exception):
    """The command printed more than the limit on one stream (it has been killed)."""


def _kill(pid: int) -> None:
    os.kill(pid, 9)
    os.waitpid(pid, 0)


def run(argv: list, timeout: float, limit: int = LIMIT) -> tuple:
    """(exit status, stdout bytes, stderr bytes) of `argv`; OSError if it cannot start; Timeout.

    TooLarge when stdout or stderr exceeds `limit` bytes: what a command prints is held in memory.
    """
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        with open(os.devnull, "rb") as null:
            pid = os.posix_spawn(argv[0], argv, os.environ,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, null.fileno(), 0),
                                               (os.POSIX_SPAWN_DUP2, out_w, 1),
                                               (os.POSIX_SPAWN_DUP2, err_w, 2)])
    except OSError:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        raise
    os.close(out_w)
    os.close(err_w)
    chunks = {out_r: [], err_r: []}
    sizes = {out_r: 0, err_r: 0}
    poll = select.poll()
    for fd in chunks:
        poll.register(fd, select.POLLIN)
    open_fds = set(chunks)
    deadline = time.monotonic() + timeout
    try:
        while open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(pid)
                raise Timeout()
            for fd, _ in poll.poll(left * 1000):
                data = os.read(fd, 65536)
                if data:
                    sizes[fd] += len(data)
                    if sizes[fd] > limit:
                        _kill(pid)
                        raise TooLarge()
                    chunks[fd].append(data)
                else:
                    poll.unregister(fd)
                    open_fds.discard(fd)
    finally:
        os.close(out_r)
        os.close(err_r)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code, b"".join(chunks[out_r]), b"".join(chunks[err_r])
