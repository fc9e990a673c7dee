"""A small process that starts the measured children, so their peak RSS is theirs alone.

Linux keeps a process's RSS high-water mark across exec, and a forked child starts with a copy of
its parent's page tables: a child forked by the bench (tens of MB of Python, trustme, threads)
reports at least the bench's size as ru_maxrss. This helper is started first, with `-S`, and stays
a few MB; it forks, execs, reaps with os.wait4, and answers wall time, ru_maxrss and exit code.
Protocol: one JSON line in ({argv, env, cwd, stderr, timeout_s}), one JSON line out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def _serve() -> None:
    child = {"pid": 0}

    def on_alarm(signum, frame) -> None:
        if child["pid"]:
            os.kill(child["pid"], signal.SIGKILL)

    signal.signal(signal.SIGALRM, on_alarm)
    null = os.open(os.devnull, os.O_RDWR)
    for line in sys.stdin:
        job = json.loads(line)
        err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # child: only async-safe work until exec
            try:
                os.chdir(job["cwd"])
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.dup2(err, 2)
                os.execve(job["argv"][0], job["argv"], job["env"])
            finally:
                os._exit(127)
        child["pid"] = pid
        signal.setitimer(signal.ITIMER_REAL, job["timeout_s"])
        _, status, usage = os.wait4(pid, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        child["pid"] = 0
        wall = time.perf_counter() - t0
        os.close(err)
        sys.stdout.write(json.dumps({"wall_s": wall, "rss_kb": usage.ru_maxrss,
                                     "rc": os.waitstatus_to_exitcode(status)}) + "\n")
        sys.stdout.flush()


class Spawner:
    """Client side: `run(argv, env, cwd, stderr_path, timeout_s) -> (wall_s, rss_kb, rc)`."""

    def __init__(self, prefix: tuple = ()) -> None:
        # `prefix`: e.g. `ip netns exec NAME`, so the helper and its children live in that namespace
        self.proc = subprocess.Popen([*prefix, sys.executable, "-S", "-I", os.path.abspath(__file__)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     bufsize=1)

    def run(self, argv: list, env: dict, cwd: str, stderr_path: str, timeout_s: float) -> tuple:
        """Run one child to completion in the helper."""
        if not os.path.isabs(argv[0]):
            raise ValueError("the spawner needs an absolute program path, got %r" % argv[0])
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "cwd": cwd, "stderr": stderr_path,
                                          "timeout_s": timeout_s}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the spawner helper died")
        answer = json.loads(line)
        return answer["wall_s"], answer["rss_kb"], answer["rc"]

    def close(self) -> None:
        """Let the helper finish (it exits on EOF)."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


if __name__ == "__main__":
    _serve()
