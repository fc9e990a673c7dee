"""A real BIND9 (`named -g`) for tests: one primary zone with a TSIG key and an update-policy.

    from bind import Bind, require_bind

    def test_x(tmp_path):
        require_bind()
        with Bind(tmp_path / "bind", records=("other A 192.0.2.99",)) as ns:
            ... point the agent at ns.address / ns.port with ns.key_name / ns.key_secret ...
            assert ns.dig("home.example.test", "A") == [(60, "203.0.113.7")]

Every instance stops at teardown and, failing that, by itself: named runs under `timeout`
(`lifetime_s`), so it ends even if the test process is killed. `wrap` runs named and dig through a
prefix such as `ip netns exec NS` for tests inside network namespaces; pass `port` there (the free-port
probe only sees this process's namespace).
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from fakes import register_secret

#: the key of specs/providers.md §8.3 (ASCII 0123456789abcdef0123456789abcdef)
SPEC_SECRET = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def _why_missing() -> str | None:
    for tool in ("named", "dig", "timeout"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            return "`%s` is not installed (Debian: apt-get install bind9 bind9-dnsutils)" % tool
    return None


def require_bind() -> None:
    """Fail (CI=true) or skip when BIND9 and dig are not installed."""
    reason = _why_missing()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("BIND9 tests are required in CI: " + reason)
        pytest.skip(reason)


def free_port(address: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `address` (BIND listens on both)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as t:
            t.bind((address, 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as u:
                    u.bind((address, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both UDP and TCP on %s" % address)


def new_secret() -> str:
    """A fresh random hmac-sha256 secret, base64 as `tsig-keygen` prints it."""
    return base64.b64encode(os.urandom(32)).decode()


def _named() -> str:
    return shutil.which("named") or "/usr/sbin/named"


class Bind:
    """named serving `zone` on address:port, accepting updates signed with one TSIG key.

    `records`: zone-file lines (relative names) added after SOA/NS. `grants`: update-policy
    lines; default lets the key change A and AAAA of `home.<zone>` only.
    """

    def __init__(self, workdir: Path, address: str = "127.0.0.1", port: int | None = None,
                 zone: str = "example.test", key_name: str = "ddns-key",
                 key_algorithm: str = "hmac-sha256", key_secret: str | None = None,
                 records: tuple = (), grants: tuple | None = None, wrap: tuple = (),
                 lifetime_s: int = 300) -> None:
        self.workdir = Path(workdir)
        self.address = address
        self.port = port or free_port(address)
        self.zone = zone.rstrip(".")
        self.key_name = key_name
        self.key_algorithm = key_algorithm
        self.key_secret = key_secret or new_secret()
        register_secret(self.key_secret, "TSIG key_secret of a test BIND")
        self.records = records
        self.grants = grants if grants is not None else (
            "grant %s name home.%s. A AAAA;" % (key_name, self.zone),)
        self.wrap = tuple(wrap)
        self.lifetime_s = lifetime_s
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "named.log"

    # -- files ------------------------------------------------------------------------------

    def _write(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        w = self.workdir
        v6 = ":" in self.address
        conf = w / "named.conf"
        conf.write_text("""\
options {
    directory "%(w)s";
    pid-file "%(w)s/named.pid";
    session-keyfile "%(w)s/session.key";
    managed-keys-directory "%(w)s";
    dump-file "%(w)s/named_dump.db";
    statistics-file "%(w)s/named.stats";
    listen-on port %(port)d { %(v4)s };
    listen-on-v6 port %(port)d { %(v6)s };
    recursion no;
    allow-query { any; };
    dnssec-validation no;
    notify no;
    querylog yes;
};
controls { };
key "%(key)s" {
    algorithm %(alg)s;
    secret "%(secret)s";
};
zone "%(zone)s" {
    type primary;
    file "%(w)s/%(zone)s.db";
    update-policy {
        %(grants)s
    };
};
""" % {"w": w, "port": self.port, "key": self.key_name, "alg": self.key_algorithm,
       "secret": self.key_secret, "zone": self.zone, "grants": "\n        ".join(self.grants),
       "v4": "none;" if v6 else "%s;" % self.address, "v6": "%s;" % self.address if v6 else "none;"})
        (w / ("%s.db" % self.zone)).write_text(
            "$TTL 300\n"
            "@ IN SOA ns1.%(z)s. hostmaster.%(z)s. (1 3600 600 86400 60)\n"
            "@ IN NS ns1\n"
            "ns1 IN A 127.0.0.1\n" % {"z": self.zone}
            + "".join(line + "\n" for line in self.records))
        return conf

    # -- life -------------------------------------------------------------------------------

    def start(self, wait_s: float = 20.0) -> Bind:
        """Start named and return once it answers an SOA query; raise with its log if it cannot."""
        conf = self._write()
        argv = list(self.wrap) + ["timeout", "-k", "5", str(self.lifetime_s), _named(), "-g",
                                  "-n", "1", "-c", str(conf), "-4" if ":" not in self.address else "-6"]
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        finally:
            log.close()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("named exited (%s):\n%s" % (self.proc.returncode, self.log()))
            if self.serial(tries=1) is not None:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("named did not answer within %.0f s:\n%s" % (wait_s, self.log()))

    def stop(self) -> None:
        """Terminate named (kill if it lingers); safe to call twice."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.terminate()  # `timeout` passes SIGTERM on to named
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)

    def __enter__(self) -> Bind:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self) -> str:
        """named's output so far (stderr with -g)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- looking at the zone, with the real dig -------------------------------------------------

    def dig(self, name: str, rtype: str = "A", tries: int = 3) -> list:
        """[(ttl, rdata), ...] sorted, that the server answers for `name rtype` ([] when none)."""
        argv = list(self.wrap) + ["dig", "+noall", "+answer", "+norecurse", "+time=2",
                                  "+tries=%d" % tries, "-p", str(self.port), "@" + self.address,
                                  name, rtype]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError("dig failed (%d): %s%s" % (done.returncode, done.stdout, done.stderr))
        rows = []
        for line in done.stdout.splitlines():
            parts = line.split(None, 4)
            if len(parts) == 5 and parts[3] == rtype.upper():
                rows.append((int(parts[1]), parts[4]))
        return sorted(rows)

    def serial(self, tries: int = 3) -> int | None:
        """The zone's SOA serial, or None when the server does not answer."""
        try:
            rows = self.dig(self.zone, "SOA", tries=tries)
        except (RuntimeError, subprocess.TimeoutExpired):
            return None
        return int(rows[0][1].split()[2]) if rows else None

    def signed_queries(self, name: str) -> int:
        """How many TSIG-signed queries for `name` named has logged (querylog; dig's are unsigned)."""
        needle = "query: %s IN " % name
        return sum(1 for line in self.log().splitlines() if needle in line and "/key " in line)

    def updates(self) -> int:
        """UPDATE messages named applied that replace an RRset: it logs 'deleting rrset' once for
        each, even when the RRset was empty (nsupdate's and the agent's delete-then-add pattern)."""
        return sum(1 for line in self.log().splitlines()
                   if "updating zone" in line and "deleting rrset" in line)
