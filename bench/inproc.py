"""The agent's own CPU per extra record, in process: no server, no TLS, no interpreter start.

    python bench/inproc.py [--stub] [--records N] [--rounds R]    # CPU time per extra record
    python bench/inproc.py --callgrind [--stub]                   # instructions (needs valgrind)

Each `update` changes every record of a Cloudflare config (1 record, then N) on one connection whose
socket is an in-memory stand-in answering each PATCH at once, as the fake does. `--stub` also skips
the HTTP layer: `Http.request` returns the answer itself, leaving only the agent's own code (config,
sources, plan, provider, state, log). Figures: (N runs - 1-record runs) / (N - 1), min over rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import boxes  # noqa: E402

ANSWER = json.dumps({"success": True, "errors": [], "messages": [], "result": {
    "id": "RID", "zone_id": "z", "zone_name": "example.com", "name": "x.example.com", "type": "A",
    "content": "ADDR", "proxiable": True, "proxied": False, "ttl": 1, "locked": False,
    "meta": {"auto_added": False}, "comment": None, "tags": [],
    "created_on": "2026-01-01T00:00:00Z", "modified_on": "2026-01-01T00:00:00Z"}}).encode()
HEAD = (b"HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\nDate: Mon, 07 Dec 2026 23:00:00 GMT\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n")


def answer(record_id: bytes, content: bytes) -> bytes:
    """The fake's JSON answer to a PATCH of `record_id` to `content`."""
    return ANSWER.replace(b'"RID"', b'"%s"' % record_id).replace(b'"ADDR"', b'"%s"' % content)


class Sock:
    """A connected socket that answers each request at once."""

    def __init__(self) -> None:
        self.out = bytearray()

    def settimeout(self, t) -> None:
        pass

    def pending(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def sendall(self, data) -> None:
        head, _, body = bytes(data).partition(b"\r\n\r\n")
        target = re.match(rb"\w+ (\S+)", head).group(1)
        res = answer(target.rsplit(b"/", 1)[1], json.loads(body)["content"].encode())
        self.out += HEAD % len(res) + res

    def send(self, data) -> int:
        self.sendall(data)
        return len(data)

    def recv(self, n: int) -> bytes:
        data = bytes(self.out[:n])
        del self.out[:n]
        return data


def stand_in(stub: bool) -> None:
    """Every connection the agent opens is a Sock; with `stub`, no HTTP layer at all."""
    from ddns_agent import http, http1, transports

    transports.StdlibHttp._open = lambda self, dest: http1.Wire(Sock(), self._deadline)
    transports._is_idle_alive = lambda sock: True
    if stub:
        def request(self, method, url, headers=None, body=None):
            res = answer(url.rpartition("/")[2].encode(), json.loads(body)["content"].encode())
            return http.Response(200, {"content-type": "application/json"}, res, url)
        http.Http.request = request


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stub", action="store_true", help="skip the HTTP layer too")
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--callgrind", action="store_true", help="instructions, under valgrind")
    ap.add_argument("--only", type=int, help=argparse.SUPPRESS)  # a --callgrind child: this size only
    a = ap.parse_args()
    if a.callgrind:
        return callgrind(a)
    import trustme

    root = Path(tempfile.mkdtemp(prefix="ddns-inproc-"))
    served = boxes.cloudflare(trustme.CA())  # up to the end: its CA file is the config's cacert
    try:
        return measure(a, root, served)
    finally:
        served.stop()
        shutil.rmtree(root, ignore_errors=True)


def measure(a, root: Path, served) -> int:
    boxes.PY = boxes.clean_interpreter(root)
    sides = {}
    for n in (1, a.records):
        box = boxes.Box(root, "p%d" % n)
        box.config("cf", boxes.cloudflare_options(served),
                   [("h%03d" % i, "example.com", "h%03d" % i, "A") for i in range(n)])
        env = box.env_for("stdlib")
        box.wan(boxes.V4[1])  # the first update (ids into state) over TLS to the real fake
        subprocess.run(box.argv("update"), env=env, check=True, capture_output=True, timeout=120)
        sides[n] = (box, env)
    from ddns_agent import cli

    stand_in(a.stub)
    saved_env = dict(os.environ)

    def run(n: int, i: int) -> None:
        box, env = sides[n]
        box.wan(boxes.V4[i % 2])  # every record changes
        os.environ.clear()
        os.environ.update(env)
        try:
            assert cli.main(box.argv("update")[2:]) == 0
        finally:
            os.environ.clear()
            os.environ.update(saved_env)

    if a.only:
        for i in range(4):
            run(a.only, i)
        return 0
    best = None
    for _ in range(a.rounds):
        cpu = {}
        for n in (1, a.records):
            start = time.process_time()
            for i in range(10):
                run(n, i)
            cpu[n] = (time.process_time() - start) / 10
        per = (cpu[a.records] - cpu[1]) / (a.records - 1)
        best = per if best is None else min(best, per)
    print("%s: %.1f us CPU per extra record (min of %d rounds, %d records vs 1)"
          % ("agent without HTTP" if a.stub else "agent", best * 1e6, a.rounds, a.records))
    return 0


def callgrind(a) -> int:
    """Instructions per extra record: this script under callgrind for 1 and for 50 records."""
    if not shutil.which("valgrind"):
        print("valgrind not found")
        return 1
    n, total = 50, {}
    with tempfile.TemporaryDirectory(prefix="ddns-inproc-cg-") as tmp:
        for only in (1, n):
            out = Path(tmp) / ("cg.%d" % only)
            subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=%s" % out, sys.executable,
                            __file__, "--records", str(n), "--only", str(only)] + ["--stub"] * a.stub,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
            total[only] = int(re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M).group(1))
    print("%s: %.3f M instructions per extra record (in process, %d records vs 1)"
          % ("agent without HTTP" if a.stub else "agent", (total[n] - total[1]) / (4 * (n - 1)) / 1e6, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
