"""Run child processes and measure each: wall time, peak RSS (os.wait4), exit status; plus statistics.

Variants of one figure are run interleaved (A B, B A, A B, ...), so drift of the machine's load
lands on both sides; a figure's ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import os
import tempfile


class Sample:
    """One child process: seconds from spawn to reaped, peak RSS in KiB, exit code, stderr text."""

    __slots__ = ("wall_s", "rss_kb", "rc", "stderr")

    def __init__(self, wall_s: float, rss_kb: int, rc: int, stderr: str) -> None:
        self.wall_s = wall_s
        self.rss_kb = rss_kb
        self.rc = rc
        self.stderr = stderr


class BenchError(Exception):
    """A run did not do what the figure assumes (wrong exit code, wrong request count...)."""


_SPAWNER = None


def start_spawner() -> None:
    """Start the small helper that forks the measured children (see spawner.py); call it first."""
    global _SPAWNER
    from spawner import Spawner
    if _SPAWNER is None:
        _SPAWNER = Spawner()


def stop_spawner() -> None:
    """Stop the helper."""
    global _SPAWNER
    if _SPAWNER is not None:
        _SPAWNER.close()
        _SPAWNER = None


def spawn(argv: list, env: dict, cwd: str = "/", timeout_s: float = 60.0, spawner=None) -> Sample:
    """Run `argv` to completion in the helper (or `spawner`); a hung child is killed after `timeout_s`."""
    if spawner is None and _SPAWNER is None:
        start_spawner()
    fd, path = tempfile.mkstemp(prefix="bench-stderr-")
    os.close(fd)
    try:
        wall, rss_kb, rc = (spawner or _SPAWNER).run(argv, env, cwd, path, timeout_s)
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    finally:
        os.unlink(path)
    return Sample(wall, rss_kb, rc, text)


class Variant:
    """One side of a comparison: `prepare(i)` before run i (untimed), the command, `check(i, sample)`."""

    def __init__(self, name: str, argv: list, env: dict, prepare=None, check=None,
                 expect_rc: int = 0, spawner=None) -> None:
        self.name = name
        self.spawner = spawner  # None: the bench's helper; else one started elsewhere (a namespace)
        self.argv = argv
        self.env = env
        self.prepare = prepare
        self.check = check
        self.expect_rc = expect_rc
        self.runs = 0

    def run(self) -> Sample:
        """Prepare, run, and check one repetition."""
        i = self.runs
        self.runs += 1
        if self.prepare is not None:
            self.prepare(i)
        s = spawn(self.argv, self.env, spawner=self.spawner)
        if s.rc != self.expect_rc:
            raise BenchError("%s: exit %d (expected %d): %s" % (self.name, s.rc, self.expect_rc,
                                                               s.stderr.strip()[-800:]))
        if self.check is not None:
            self.check(i, s)
        return s


def interleave(variants: list, reps: int, warmup: int = 2) -> dict:
    """Run every variant `warmup` times (discarded), then `reps` rounds, order flipped each round.

    Returns {name: [Sample, ...]} with index k of each list from the same round.
    """
    for _ in range(warmup):
        for v in variants:
            v.run()
    out = {v.name: [] for v in variants}
    for r in range(reps):
        order = variants if r % 2 == 0 else variants[::-1]
        for v in order:
            out[v.name].append(v.run())
    return out


def quantile(values: list, q: float) -> float:
    """Linear-interpolated quantile of `values` (0 <= q <= 1)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values: list) -> dict:
    """median, p25, p75, min, max and n of `values`."""
    return {"median": quantile(values, 0.5), "p25": quantile(values, 0.25),
            "p75": quantile(values, 0.75), "min": min(values), "max": max(values), "n": len(values)}


def ratios(a: list, b: list) -> dict:
    """Summary of the per-round ratios a[k] / b[k]."""
    return summary([x / y for x, y in zip(a, b)])


def walls(samples: list) -> list:
    """Wall times in milliseconds."""
    return [s.wall_s * 1000.0 for s in samples]


def rss_mb(samples: list) -> list:
    """Peak RSS in MiB."""
    return [s.rss_kb / 1024.0 for s in samples]
