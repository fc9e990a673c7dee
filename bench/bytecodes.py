"""Python bytecodes per extra record, per module and function: where the agent's own share goes.

    python bench/bytecodes.py [N] [TOP]     # default 50 records, 25 functions; a few seconds

`ddns-agent update` with 1 and with N changed Cloudflare records runs in this process (as the
launcher runs it: `cli.main`), over TLS to the suite's fake on loopback, traced opcode by opcode
(`sys.settrace` with `f_trace_opcodes`; only this thread, so the fake's threads are not counted).
Prints (bytecodes(N) - bytecodes(1)) / (N - 1) per module and for the costliest functions: a count
that does not move with load, to read beside callgrind.py's instructions (which include C) and
group `records`' wall time (which includes the fake and TLS).
"""

from __future__ import annotations

import collections
import os
import shutil
import sys
import tempfile
from pathlib import Path

import boxes


def traced(call, *args) -> tuple:
    """(opcodes executed by `call(*args)` in this thread per code object, what it returned)."""
    counts: collections.Counter = collections.Counter()

    def local(frame, event, arg):
        if event == "opcode":
            counts[frame.f_code] += 1
        return local

    def on_call(frame, event, arg):
        frame.f_trace_opcodes = True
        return local

    sys.settrace(on_call)
    try:
        result = call(*args)
    finally:
        sys.settrace(None)
    return counts, result


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    import trustme
    sys.path.insert(0, str(boxes.REPO))
    from ddns_agent import cli

    root = Path(tempfile.mkdtemp(prefix="ddns-bytecodes-"))
    served = boxes.cloudflare(trustme.CA())
    saved_env = dict(os.environ)
    counts = {}
    sys.stderr.flush()
    stderr, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # the agent's log lines
    try:
        for count in (1, n):
            box = boxes.Box(root, "bc-%d" % count)
            box.config("cf", boxes.cloudflare_options(served),
                       [("h%02d" % i, "example.com", "h%02d" % i, "A") for i in range(count)])
            os.environ.clear()
            os.environ.update(box.env_for(None))
            for i in range(3):  # a first run makes the records; then two changed runs, the last traced
                box.wan(boxes.V4[i % 2])
                argv = box.argv("update")[2:]
                if i < 2:
                    rc = cli.main(argv)
                else:
                    counts[count], rc = traced(cli.main, argv)
                if rc != 0:
                    print("update with %d records exited %d" % (count, rc))
                    return 1
    finally:
        sys.stderr.flush()
        os.dup2(stderr, 2)
        os.close(stderr)
        os.close(devnull)
        os.environ.clear()
        os.environ.update(saved_env)
        served.stop()
        shutil.rmtree(root, ignore_errors=True)

    def name(code) -> str:
        return "%s:%d(%s)" % (Path(code.co_filename).name, code.co_firstlineno, code.co_name)

    per = collections.Counter()
    for code, k in counts[n].items():
        per[name(code)] += k
    for code, k in counts[1].items():
        per[name(code)] -= k
    per = collections.Counter({k: v / (n - 1) for k, v in per.items() if v})
    modules: collections.Counter = collections.Counter()
    for key, v in per.items():
        modules[key.split(":")[0]] += v
    print("bytecodes per extra record: %.0f (1 record %d, %d records %d)"
          % (sum(per.values()), sum(counts[1].values()), n, sum(counts[n].values())))
    print("by module:")
    for key, v in modules.most_common(15):
        print("  %7.0f  %s" % (v, key))
    print("by function:")
    for key, v in per.most_common(top):
        print("  %7.0f  %s" % (v, key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
