"""Instructions per extra record (valgrind --tool=callgrind): the agent and a bare http.client loop.

    python bench/callgrind.py [N]      # default 50; needs valgrind; about a minute

One `update` with 1 and with N changed Cloudflare records, over TLS to the suite's fake on loopback,
each run under callgrind; then the same PATCHes from a bare http.client loop on one connection
(`floor`), and written and read by hand on socket + ssl (`raw`, what no HTTP library can undercut).
Prints the totals and (instructions(N) - instructions(1)) / (N - 1) for each. Instruction counts
do not move with the machine's load, unlike the wall-clock figure of group `records`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import boxes

FLOOR = """import http.client, json, os, ssl
from urllib.parse import urlsplit
u = urlsplit(os.environ["FLOOR_URL"])
c = http.client.HTTPSConnection(u.hostname, u.port,
                                context=ssl.create_default_context(cafile=os.environ["FLOOR_CA"]))
for rid in os.environ["FLOOR_IDS"].split(","):
    zone, record = rid.split("/")
    c.request("PATCH", "%s/zones/%s/dns_records/%s" % (u.path, zone, record),
              body=json.dumps({"content": os.environ["FLOOR_ADDR"]}).encode(),
              headers={"Authorization": os.environ["FLOOR_AUTH"], "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
"""

#: the floor under a changed-record run, step by step
LADDER = [("python3 -c pass", "pass"),
          ("+ import socket, ssl", "import socket, ssl"),
          ("+ a verifying context with the CA file",
           "import socket, ssl, os; ssl.create_default_context(cafile=os.environ['X'])")]


def instructions(argv: list, env: dict, out: Path) -> int:
    """Total instructions of one run of `argv` under callgrind."""
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=%s" % out] + argv, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    m = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    return int(m.group(1))


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    if not shutil.which("valgrind"):
        print("valgrind not found")
        return 1
    import trustme
    root = Path(tempfile.mkdtemp(prefix="ddns-callgrind-"))
    boxes.PY = boxes.clean_interpreter(root)  # as run.py's children: no .pth code at start
    served = boxes.cloudflare(trustme.CA())
    counts = {}
    try:
        for name, code in LADDER:
            counts[name] = instructions([boxes.PY, "-c", code], {"X": served.server.cafile},
                                        root / "ladder.out")
        for count in (1, n):
            box = boxes.Box(root, "cg-%d" % count)
            box.config("cf", boxes.cloudflare_options(served),
                       [("h%02d" % i, "example.com", "h%02d" % i, "A") for i in range(count)])
            env = box.env_for(None)
            box.wan(boxes.V4[1])
            subprocess.run(box.argv("update"), env=env, check=True, capture_output=True, timeout=120)
            box.wan(boxes.V4[0])
            counts["agent", count] = instructions(box.argv("update"), env, root / ("agent-%d.out" % count))
            ids = [v["id"] for v in json.loads((box.state / "state.json").read_text())["records"].values()]
            fenv = dict(env, FLOOR_URL=boxes.cloudflare_options(served)["endpoint"],
                        FLOOR_CA=served.server.cafile, FLOOR_IDS=",".join(ids), FLOOR_ADDR=boxes.V4[1],
                        FLOOR_AUTH="Bearer " + boxes.CF_TOKEN)
            counts["floor", count] = instructions([boxes.PY, "-c", FLOOR], fenv,
                                                  root / ("floor-%d.out" % count))
            raw = boxes.raw_paths_env(env, boxes.cloudflare_options(served)["endpoint"], served.server.cafile,
                                      ids, boxes.V4[1])
            counts["raw", count] = instructions([boxes.PY, "-c", boxes.FLOOR_STDLIB], raw,
                                                root / ("raw-%d.out" % count))
    finally:
        served.stop()
        shutil.rmtree(root, ignore_errors=True)
    for side in ("agent", "floor", "raw"):
        per = (counts[side, n] - counts[side, 1]) / (n - 1)
        print("%-5s 1 record %.1f M, %d records %.1f M: %.3f M instructions per extra record"
              % (side, counts[side, 1] / 1e6, n, counts[side, n] / 1e6, per / 1e6))
    print("what one changed record costs, step by step (instructions):")
    steps = [(name, counts[name]) for name, _ in LADDER] + [
        ("+ connect, TLS handshake, one PATCH by hand (raw, 1 record)", counts["raw", 1]),
        ("the agent's whole `update` (1 record)", counts["agent", 1])]
    last = 0
    for name, total in steps:
        print("  %-62s %7.1f M  (+%.1f M)" % (name, total / 1e6, (total - last) / 1e6))
        last = total
    print("  agent / raw floor: %.2fx" % (counts["agent", 1] / counts["raw", 1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
