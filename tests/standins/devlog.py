"""A /dev/log of the test's own: `ddns-agent` logs to syslog where the test can read it.

The real agent runs in a private mount namespace (util-linux `unshare`, root) whose /dev holds
null, zero, random, urandom and a `log` link to a datagram socket the test binds, as logd's is.
The test reads what arrived with `lines()`; nothing outside the namespace sees the fake /dev.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# mount --rbind of a directory of bind-mounted device nodes (plus the log link) over /dev
_SETUP = r"""
dev=$1; sock=$2; shift 2
mkdir -p "$dev"
for n in null zero random urandom; do
	: >"$dev/$n" && mount --bind "/dev/$n" "$dev/$n" || exit 125
done
ln -sf "$sock" "$dev/log"
mount --rbind "$dev" /dev || exit 125
exec "$@"
"""


def require_unshare() -> None:
    """Fail (CI) or skip: mount namespaces need root and util-linux unshare."""
    import pytest

    why = None
    if os.geteuid() != 0:
        why = "needs root for a mount namespace"
    elif shutil.which("unshare") is None:
        why = "needs util-linux unshare"
    if why:
        pytest.fail(why) if os.environ.get("CI") == "true" else pytest.skip(why)


class DevLog:
    """A bound datagram socket standing for logd's /dev/log, and a real `ddns-agent` that logs to it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.path = tmp / "devlog.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)

    def argv(self, *args: str) -> list:
        """`ddns-agent ARGS` (this repository's) in a mount namespace where /dev/log is ours."""
        return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", _SETUP, "devlog",
                str(self.tmp / "dev"), str(self.path), sys.executable, "-m", "ddns_agent", *args]

    def wrapper(self, path: Path, *first: str) -> Path:
        """A `ddns-agent` script at `path` running argv(*first, "$@"), for scripts that call it by name."""
        quoted = " ".join("'%s'" % a.replace("'", "'\\''") for a in self.argv(*first))
        path.write_text("#!/bin/sh\nPYTHONPATH='%s' exec %s \"$@\"\n" % (REPO, quoted))
        path.chmod(0o755)
        return path

    def lines(self) -> list:
        """The messages received so far, as syslog() sent them (`<pri>date tag[pid]: text`)."""
        from fakes import record_output

        out = []
        while True:
            try:
                out.append(self.sock.recv(65536).decode("utf-8", "replace"))
            except BlockingIOError:
                record_output("syslog", "\n".join(out))  # the secret guard reads logs too
                return out

    def close(self) -> None:
        self.sock.close()
