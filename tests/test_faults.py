"""Faults, through the real CLI against the HTTPS fakes (both transports) and a real BIND9.

Every case: a clear log line naming the record and the cause while it fails (exit 1, no traceback),
no more writes than retry_max allows, and the right record published once the fault clears.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from agent_env import REAL, AgentEnv, status_with
from fakes import Faults, json_response
from fakes.cloudflare import PREFIX, CloudflareFake

TOKEN = "cf-fault-token-Lr8sT2vWx5yZa1bC"
ZONE = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OLD, NEW = "203.0.113.7", "203.0.113.8"


def agent(retry_max: int = 2, retry_cap: float = 2, timeout: int = 5) -> str:
    return """
config agent
	option log_level 'debug'
	option retry_max '%d'
	option retry_base '0.01'
	option retry_cap '%g'
	option timeout '%d'
""" % (retry_max, retry_cap, timeout)


def cloudflare(name: str, endpoint: str, cacert: str) -> str:
    return """
config provider '%s'
	option type 'cloudflare'
	option api_token '%s'
	option endpoint '%s'
	option cacert '%s'
""" % (name, TOKEN, endpoint, cacert)


def record(key: str, provider: str, name: str = "home", domain: str = "example.com") -> str:
    return """
config record '%s'
	option provider '%s'
	option domain '%s'
	option name '%s'
	option type 'A'
	option interface 'wan'
""" % (key, provider, domain, name)


def wan(env: AgentEnv, address: str) -> None:
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": address, "mask": 24}]}))


def run(env: AgentEnv, *args: str, code: int | None = None):
    """`ddns-agent -v update` (or `args`); never a traceback; exit `code` when given."""
    done = env.run("-v", *(args or ("update",)))
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    if code is not None:
        assert done.returncode == code, done.stderr
    return done


def lines(done, needle: str) -> list:
    return [line for line in done.stderr.splitlines() if needle in line]


class Lab:
    """A Cloudflare fake over HTTPS and an agent with one A record on it, already published once."""

    def __init__(self, serve, tmp_path, retry_max: int = 2, retry_cap: float = 2, timeout: int = 5,
                 **server) -> None:
        self.fake = CloudflareFake(TOKEN, {"example.com": ZONE})
        self.server = serve(self.fake, **server)
        self.env = AgentEnv(tmp_path)
        self.settings = agent(retry_max, retry_cap, timeout)
        self.configure(self.server.url, self.server.cafile)
        wan(self.env, OLD)

    def configure(self, url: str, cacert: str) -> None:
        self.env.config(self.settings + cloudflare("cf", url + PREFIX, cacert) + record("home", "cf"))

    def publish_first(self) -> None:
        """Publish OLD, then move the WAN to NEW: the next update sends one PATCH by cached id."""
        run(self.env, code=0)
        [rec] = self.fake.find("home.example.com")
        self.record_id = rec["id"]
        self.patch_path = "%s/zones/%s/dns_records/%s" % (PREFIX, ZONE, rec["id"])
        wan(self.env, NEW)

    def content(self) -> list:
        return [r["content"] for r in self.fake.find("home.example.com")]

    def writes(self) -> int:
        """PATCH and POST requests that reached the server, answered or not."""
        return sum(1 for r in self.server.requests if r.method in ("PATCH", "POST"))

    def clear(self) -> None:
        self.server.faults = Faults()


@pytest.fixture
def lab(serve, transport, tmp_path):
    return Lab(serve, tmp_path)


def test_server_errors_are_retried_retry_max_times_then_the_next_run_publishes(lab):
    lab.publish_first()
    writes = lab.writes()
    lab.server.inject(status=503, body="<html>busy</html>", path=lab.patch_path, times=10)
    done = run(lab.env, code=1)
    assert lab.writes() - writes == 3  # retry_max 2: the first try and two retries
    [line] = lines(done, "home.example.com A: failed:")
    assert "server error HTTP 503 from 127.0.0.1:%d (will retry)" % lab.server.port in line
    assert lab.content() == [OLD]
    assert json.loads(lab.env.run("status", "--json").stdout)["records"][0]["result"] == "failed"

    lab.clear()
    writes = lab.writes()
    done = run(lab.env, code=0)
    assert lines(done, "home.example.com A: published %s (was %s)" % (NEW, OLD))
    assert lab.content() == [NEW] and lab.writes() - writes == 1
    assert run(lab.env, code=0) and lab.writes() - writes == 1  # and then nothing more


def test_one_server_error_is_retried_within_the_same_run(lab):
    lab.publish_first()
    writes = lab.writes()
    lab.server.inject(status=502, path=lab.patch_path)
    done = run(lab.env, code=0)
    assert lines(done, "home.example.com A: published %s" % NEW)
    assert lab.content() == [NEW] and lab.writes() - writes == 2


def test_timeouts_fail_the_run_and_a_write_that_landed_is_read_back_not_resent(serve, transport, tmp_path):
    lab = Lab(serve, tmp_path, retry_max=1, timeout=1)
    lab.publish_first()
    writes = lab.writes()
    # the server takes every request and answers none in time
    lab.server.inject(delay=3.0, path=PREFIX, times=100)
    done = run(lab.env, code=1)
    [line] = lines(done, "home.example.com A: failed:")
    assert "no answer from 127.0.0.1:%d within 1s (will retry)" % lab.server.port in line
    assert lab.writes() - writes == 1  # a write that may have landed is never blindly resent
    assert lab.content() == [NEW]     # ... and here it did land

    lab.clear()
    writes = lab.writes()
    done = run(lab.env, code=0)
    assert lines(done, "home.example.com A: remote already holds %s" % NEW)
    assert lab.writes() == writes and lab.content() == [NEW]


def test_connection_refused_fails_cleanly_and_the_fixed_endpoint_publishes(lab):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    lab.configure("https://127.0.0.1:%d" % closed, lab.server.cafile)
    done = run(lab.env, code=1)
    [line] = lines(done, "home.example.com A: failed:")
    assert "cannot connect to 127.0.0.1:%d: Connection refused (will retry)" % closed in line

    lab.configure(lab.server.url, lab.server.cafile)
    done = run(lab.env, code=0)
    assert lines(done, "home.example.com A: published %s" % OLD) and lab.content() == [OLD]


def test_retry_after_within_retry_cap_is_waited_out_in_the_same_run(lab):
    lab.publish_first()
    writes = lab.writes()
    lab.server.inject(status=429, headers={"Retry-After": "1"}, path=lab.patch_path,
                      body=json_response({"success": False, "result": None, "messages": [], "errors": [
                          {"code": 971, "message": "Please wait and consider throttling"}]}).body)
    started = time.monotonic()
    done = run(lab.env, code=0)
    assert time.monotonic() - started >= 1.0  # the hint was obeyed, not shortened
    assert lines(done, "home.example.com A: published %s" % NEW)
    assert lab.writes() - writes == 2 and lab.content() == [NEW]


def test_retry_after_beyond_retry_cap_holds_the_record_until_it_passes(serve, transport, tmp_path):
    lab = Lab(serve, tmp_path, retry_cap=1)
    lab.publish_first()
    writes = lab.writes()
    lab.server.inject(status=429, headers={"Retry-After": "3"}, path=lab.patch_path)
    done = run(lab.env, code=1)
    failed_at = time.time()
    [line] = lines(done, "home.example.com A: failed:")
    assert "too many requests (HTTP 429 from 127.0.0.1:%d)" % lab.server.port in line
    assert lab.writes() - writes == 1  # 3 s is more than retry_cap: no waiting inside the run
    [row] = json.loads(lab.env.run("status", "--json").stdout)["records"]
    assert row["result"] == "failed" and failed_at + 1 <= row["next_check"] <= failed_at + 4

    requests = len(lab.server.requests)
    done = run(lab.env, code=1)  # the record is still not right
    assert lines(done, "home.example.com A: not calling the provider: provider asked to wait")
    assert len(lab.server.requests) == requests  # nothing at all while the hold stands

    time.sleep(max(0.0, row["next_check"] + 0.2 - time.time()))
    done = run(lab.env, code=0)
    assert lines(done, "home.example.com A: published %s" % NEW) and lab.content() == [NEW]


@pytest.mark.parametrize("body", [b'{"success": true, "result": {"id"', b"<html>Bad gateway</html>",
                                  b'{"success": true, "result": 5}', b"\xff\xfe\x00garbage"],
                         ids=["truncated JSON", "HTML", "wrong shape", "not UTF-8"])
def test_malformed_answers_fail_the_run_then_publish(lab, body):
    lab.publish_first()
    writes = lab.writes()
    lab.server.inject(body=body, path=lab.patch_path, times=10)  # the change does not land
    done = run(lab.env, code=1)
    [line] = lines(done, "home.example.com A: failed:")
    assert "malformed answer from Cloudflare (will retry)" in line
    assert lab.writes() - writes == 3 and lab.content() == [OLD]

    lab.clear()
    done = run(lab.env, code=0)
    assert lines(done, "home.example.com A: published %s" % NEW) and lab.content() == [NEW]


def test_an_answer_cut_off_after_the_change_landed_is_read_back_not_resent(lab):
    lab.publish_first()
    writes = lab.writes()
    lab.server.inject(truncate=True, path=lab.patch_path)
    done = run(lab.env, code=0)
    assert lines(done, "home.example.com A: remote already holds %s" % NEW)
    assert lab.writes() - writes == 1 and lab.content() == [NEW]


def test_certificate_for_another_name_is_refused_before_anything_is_sent(serve, transport, tmp_path):
    lab = Lab(serve, tmp_path, hostnames=("localhost",))
    done = run(lab.env, code=1)
    [line] = lines(done, "home.example.com A: failed:")
    assert "TLS certificate of 127.0.0.1:%d could not be verified" % lab.server.port in line
    assert "127.0.0.1" in line.split("could not be verified:")[1]  # the name it was not valid for
    assert lab.server.requests == []

    lab.configure("https://localhost:%d" % lab.server.port, lab.server.cafile)  # the name it has
    done = run(lab.env, code=0)
    assert lines(done, "home.example.com A: published %s" % OLD) and lab.content() == [OLD]


def test_certificate_from_an_unknown_ca_is_refused_until_the_right_ca_is_installed(serve, transport,
                                                                                     tmp_path):
    import trustme

    lab = Lab(serve, tmp_path, ca=trustme.CA())  # not the CA the agent trusts below
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    lab.configure(lab.server.url, str(bundle))
    done = run(lab.env, code=1)
    [line] = lines(done, "home.example.com A: failed:")
    assert "TLS certificate of 127.0.0.1:%d could not be verified" % lab.server.port in line
    assert "issuer" in line  # unable to get local issuer certificate
    assert lab.server.requests == []

    bundle.write_bytes(open(lab.server.cafile, "rb").read())  # same config, the right CA file
    done = run(lab.env, code=0)
    assert lines(done, "home.example.com A: published %s" % OLD) and lab.content() == [OLD]


def test_a_broken_provider_never_stops_the_other_records(serve, transport, tmp_path):
    good = Lab(serve, tmp_path)
    bad_fake = CloudflareFake(TOKEN, {"example.net": "e" * 32})
    bad = serve(bad_fake)
    bad.inject(status=500, times=100)
    good.env.config(good.settings + cloudflare("cf", good.server.url + PREFIX, good.server.cafile)
                    + cloudflare("down", bad.url + PREFIX, bad.cafile)
                    + record("home", "down", domain="example.net") + record("nas", "cf", name="nas"))
    done = run(good.env, code=1)
    assert lines(done, "home.example.net A: failed: server error HTTP 500")
    assert lines(done, "nas.example.com A: published %s" % OLD)
    assert [r["content"] for r in good.fake.find("nas.example.com")] == [OLD]
    assert bad_fake.find("home.example.net") == []

    bad.faults = Faults()
    requests = len(good.server.requests)
    done = run(good.env, code=0)
    assert lines(done, "home.example.net A: published %s" % OLD)
    assert [r["content"] for r in bad_fake.find("home.example.net")] == [OLD]
    assert len(good.server.requests) == requests  # the healthy record sends nothing again


def test_server_error_text_that_is_not_valid_unicode_is_reported_not_a_crash(lab):
    lab.publish_first()
    lab.server.inject(status=400, path=lab.patch_path, times=10,
                      body=b'{"success": false, "result": null, "messages": [], "errors": '
                           b'[{"code": 1004, "message": "DNS Validation Error \\ud800"}]}')
    done = run(lab.env, code=1)
    assert lines(done, "home.example.com A: failed:")
    for args in (("status",), ("status", "--json"), ("plan",), ("plan", "--json")):
        shown = lab.env.run(*args)
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr


# -- a real BIND9 --------------------------------------------------------------------------------------

def test_bind_down_then_up(tmp_path):
    from bind import Bind, require_bind

    require_bind()
    ns = Bind(tmp_path / "bind").start()
    try:
        env = AgentEnv(tmp_path)
        env.config(agent(retry_max=1, timeout=1) + """
config provider 'ns'
	option type 'rfc2136'
	option server '%s'
	option port '%d'
	option key_name '%s'
	option key_secret '%s'
""" % (ns.address, ns.port, ns.key_name, ns.key_secret) + record("home", "ns", domain=ns.zone))
        wan(env, OLD)
        run(env, code=0)
        assert ns.dig("home.example.test") == [(300, OLD)]

        ns.stop()
        wan(env, NEW)
        done = run(env, code=1)
        [line] = lines(done, "home.example.test A: failed:")
        assert "cannot reach 127.0.0.1#%d" % ns.port in line and "(will retry)" in line
        assert run(env, "status").stdout.count("failed") == 1

        ns.start()
        done = run(env, code=0)
        assert lines(done, "home.example.test A: published %s (was %s)" % (NEW, OLD))
        assert ns.dig("home.example.test") == [(300, NEW)]
        assert ns.updates() == 1  # one UPDATE once the server is back
    finally:
        ns.stop()


# -- every provider over HTTPS: the same guarantees ------------------------------------------------------

def _providers() -> dict:
    """ptype -> (make the fake, provider options for its URL, record domain and name, value it holds)."""
    from fakes.alidns import AliDnsFake
    from fakes.dnspod import DNSPodFake
    from fakes.duckdns import DuckDNSFake
    from fakes.dyndns2 import Dyndns2Fake
    from fakes.tencentcloud import TencentCloudFake

    dnspod = "31415,f4a9c0e8b7d6a5f4e3d2c1b0a9f8e7d6"
    duck = "a7c4b1e8-3f2d-4c5b-9a8e-7d6c5b4a3f21"
    password = "dyn-fault-password-7Hq2"
    tc_id, tc_key = "AKIDfaultTEST0secretid0000", "tc-fault-secret-key-9Xk3Lm"
    ali_id, ali_key = "LTAIfaultTESTkeyid", "ali-fault-secret-4Wn8Pq"
    def held(f, host: str) -> list:
        return [f.records[host]["A"]] if f.records[host]["A"] else []

    return {
        "cloudflare": (lambda: CloudflareFake(TOKEN, {"example.com": ZONE}),
                       lambda url: {"api_token": TOKEN, "endpoint": url + PREFIX}, ("example.com", "home"),
                       lambda f: [r["content"] for r in f.find("home.example.com")]),
        "dnspod": (lambda: DNSPodFake(dnspod, ("example.com",)),
                   lambda url: {"login_token": dnspod, "endpoint": url}, ("example.com", "home"),
                   lambda f: [r["value"] for r in f.records.values() if r["name"] == "home"]),
        "duckdns": (lambda: DuckDNSFake(duck, ("myhome",)),
                    lambda url: {"token": duck, "endpoint": url}, ("duckdns.org", "myhome"),
                    lambda f: held(f, "myhome")),
        "dyndns2": (lambda: Dyndns2Fake({"router": password}, {"home.example.com": "router"}),
                    lambda url: {"username": "router", "password": password, "endpoint": url + "/nic/update"},
                    ("example.com", "home"),
                    lambda f: held(f, "home.example.com")),
        "tencentcloud": (lambda: TencentCloudFake(tc_id, tc_key, ("example.com",)),
                         lambda url: {"secret_id": tc_id, "secret_key": tc_key, "endpoint": url},
                         ("example.com", "home"), lambda f: [r["value"] for r in f.named("home")]),
        "alidns": (lambda: AliDnsFake(ali_id, ali_key, ("example.com",)),
                   lambda url: {"access_key_id": ali_id, "access_key_secret": ali_key, "endpoint": url},
                   ("example.com", "home"), lambda f: [r["value"] for r in f.named("home")]),
    }


@pytest.mark.parametrize("ptype", sorted(_providers()))
def test_every_provider_retries_a_failing_server_retry_max_times_then_publishes(serve, transport, tmp_path,
                                                                                 ptype):
    make, options, (domain, name), holds = _providers()[ptype]
    fake = make()
    server = serve(fake)
    env = AgentEnv(tmp_path)
    settings = "".join("\toption %s '%s'\n" % kv for kv in options(server.url).items())
    env.config(agent(retry_max=2) + "\nconfig provider 'p'\n\toption type '%s'\n\toption cacert '%s'\n%s"
               % (ptype, server.cafile, settings) + record("r", "p", name=name, domain=domain))
    wan(env, OLD)
    server.inject(status=503, body="<html>Service Unavailable</html>", times=100)
    done = run(env, code=1)
    [line] = lines(done, "%s.%s A: failed:" % (name, domain))
    assert "server error HTTP 503 from 127.0.0.1:%d (will retry)" % server.port in line
    assert len(server.requests) == 3  # every attempt stopped at its first request: 1 + retry_max
    assert holds(fake) == []

    server.faults = Faults()
    done = run(env, code=0)
    assert lines(done, "%s.%s A: published %s" % (name, domain, OLD))
    assert holds(fake) == [OLD]
    requests = len(server.requests)
    run(env, code=0)
    assert len(server.requests) == requests  # and nothing more once it is right


# -- every request and every run ends ------------------------------------------------------------

def wait_for(condition, seconds: float) -> None:
    """Poll `condition` until it holds; fail after `seconds`."""
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "condition not met within %g s" % seconds
        time.sleep(0.02)


class Stall:
    """An HTTPS server that reads each request, then drips its answer a byte at a time, or says nothing.

    mode "body": headers at once, then the body one byte per 0.2 s; "headers": the status line, then
    a header one byte per 0.2 s; "silent": nothing at all. Stops at teardown, else by itself.
    """

    def __init__(self, ca, tmp_path, mode: str, lifetime_s: float = 90.0) -> None:
        import ssl
        import threading

        self.mode = mode
        self.requests: list = []
        self.stopped = threading.Event()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(self.context)
        self.cafile = str(tmp_path / "stall-ca.pem")
        ca.cert_pem.write_to_path(self.cafile)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.url = "https://127.0.0.1:%d" % self.port
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Timer(lifetime_s, self.stop).start()

    def _accept(self) -> None:
        import threading

        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()
        self.listener.close()

    def _serve(self, conn) -> None:
        try:
            conn.settimeout(5)
            tls = self.context.wrap_socket(conn, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.requests.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
            if self.mode == "body":
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            b"Content-Length: 100000\r\n\r\n")
            elif self.mode == "headers":
                tls.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not self.stopped.wait(0.2):
                if self.mode != "silent":
                    tls.sendall(b"a")
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()


@pytest.fixture
def stall(ca, tmp_path):
    made = []

    def start(mode: str) -> Stall:
        made.append(Stall(ca, tmp_path, mode))
        return made[-1]

    yield start
    for server in made:
        server.stop()


@pytest.mark.parametrize("mode", ["body", "headers"])
def test_a_server_dripping_its_answer_is_cut_at_the_timeout_and_the_run_ends(stall, transport, tmp_path,
                                                                              mode):
    # `timeout` used to bound each read only: one byte a second kept `update` (and the lock) for ever
    server = stall(mode)
    env = AgentEnv(tmp_path)
    env.config(agent(retry_max=1, timeout=1) + cloudflare("cf", server.url + PREFIX, server.cafile)
               + record("home", "cf"))
    wan(env, OLD)
    done = env.run("-v", "update", timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    [line] = lines(done, "home.example.com A: failed:")
    assert "no answer from 127.0.0.1:%d within 1s (will retry)" % server.port in line
    assert len(server.requests) == 2  # the first try and one retry, each cut after 1 s


def test_a_run_against_a_silent_server_ends_at_the_run_deadline_and_the_rest_wait_their_turn(
        stall, serve, tmp_path, monkeypatch):
    # A server that never answers cost every record (1 + retry_max) timeouts, one record after
    # another, while the lock kept every other run waiting. A run now lasts at most 6 timeouts.
    monkeypatch.setenv("DDNS_AGENT_HTTP", "stdlib")
    server = stall("silent")
    names = ("home", "nas", "cam", "pc")
    env = AgentEnv(tmp_path)
    records = "".join(record(n, "cf", name=n) for n in names)
    env.config(agent(retry_max=2, timeout=1) + cloudflare("cf", server.url + PREFIX, server.cafile) + records)
    wan(env, OLD)
    done = env.run("-v", "update", timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    failed = lines(done, "A: failed:")
    assert len(failed) == 4, done.stderr
    late = [line for line in failed if "not reached: the run's time was up (will retry)" in line]
    assert 1 <= len(late) <= 3, done.stderr
    assert len(server.requests) <= 7  # 6 timeouts of 1 s, and no request started after them
    rows = json.loads(env.run("status", "--json").stdout)["records"]
    assert [r["result"] for r in rows] == ["failed"] * 4

    fake = CloudflareFake(TOKEN, {"example.com": ZONE})
    good = serve(fake)
    env.config(agent(retry_max=2, timeout=1) + cloudflare("cf", good.url + PREFIX, good.cafile) + records)
    done = run(env, code=0)
    for n in names:
        assert lines(done, "%s.example.com A: published %s" % (n, OLD))


# -- a write whose outcome was never saved ---------------------------------------------------------

@pytest.mark.parametrize("ptype", ["dyndns2", "duckdns", "cloudflare"])
def test_a_write_that_landed_before_a_kill_is_not_taken_for_unchanged_later(serve, tmp_path, ptype):
    # kill -9 (or a power cut) after the provider took the write, before state was saved: when the
    # address went back to the old value, both the fast path and the full cycle said "unchanged"
    make, options, (domain, name), holds = _providers()[ptype]
    fake = make()
    server = serve(fake)
    env = AgentEnv(tmp_path)
    settings = "".join("\toption %s '%s'\n" % kv for kv in options(server.url).items())
    env.config(agent() + "\nconfig provider 'p'\n\toption type '%s'\n\toption cacert '%s'\n%s"
               % (ptype, server.cafile, settings) + record("r", "p", name=name, domain=domain))
    wan(env, OLD)
    run(env, "update", code=0)
    assert holds(fake) == [OLD]
    assert run(env, "update", code=0).stderr.count("is unchanged") == 1

    wan(env, NEW)
    server.inject(delay=60)  # the write is processed, the answer never comes back in time
    proc = env.start("update")
    wait_for(lambda: holds(fake) == [NEW], 30)
    proc.kill()
    proc.communicate(timeout=30)

    server.faults = Faults()
    wan(env, OLD)
    done = run(env, "update", "--interface", "wan", code=0)  # as hotplug starts it
    assert lines(done, "%s.%s A: published %s" % (name, domain, OLD)), done.stderr
    assert holds(fake) == [OLD]


def test_sigint_during_a_publish_saves_what_was_done_and_exits_130(lab):
    import signal

    # records go in config order: `home` first, then `nas`, whose answer is held back
    lab.env.config(lab.settings + cloudflare("cf", lab.server.url + PREFIX, lab.server.cafile)
                   + record("home", "cf") + record("nas", "cf", name="nas"))
    run(lab.env, code=0)
    [nas] = lab.fake.find("nas.example.com")
    nas_path = "%s/zones/%s/dns_records/%s" % (PREFIX, ZONE, nas["id"])
    wan(lab.env, NEW)
    lab.server.inject(delay=60, path=nas_path)
    proc = lab.env.start("update")
    wait_for(lambda: any(r.path == nas_path and r.method == "PATCH" for r in lab.server.requests), 30)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert "nas.example.com A: interrupted while publishing %s" % NEW in err
    rows = {r["record"]: r for r in json.loads(lab.env.run("status", "--json").stdout)["records"]}
    assert (rows["home"]["result"], rows["home"]["address"]) == ("published", NEW)  # saved
    assert rows["nas"]["result"] == "failed"

    lab.clear()
    writes = lab.writes()
    done = run(lab.env, code=0)
    assert lines(done, "nas.example.com A: remote already holds %s" % NEW)  # read back, not resent
    assert lab.writes() == writes and lab.content() == [NEW]


# -- hotplug runs after a failure --------------------------------------------------------------------

def test_hotplug_runs_after_a_failure_wait_for_the_backoff_unless_the_address_changes(lab):
    # Each run sends up to 1 + retry_max requests; every hotplug event used to send as many again.
    lab.publish_first()
    lab.server.inject(status=503, path=lab.patch_path, times=100)
    writes = lab.writes()
    done = run(lab.env, "update", "--interface", "wan", code=1)
    assert lab.writes() - writes == 3 and lines(done, "home.example.com A: failed:")

    for _ in range(3):  # DHCP renewals, ifupdate: same address, nothing sent
        requests = len(lab.server.requests)
        done = run(lab.env, "update", "--interface", "wan", code=1)
        [line] = lines(done, "home.example.com A: not calling the provider: backing off after 1 failure")
        assert "next try in" in line and "or at once on an address change" in line
        assert len(lab.server.requests) == requests

    wan(lab.env, "203.0.113.9")  # a new address goes at once
    requests = len(lab.server.requests)
    run(lab.env, "update", "--interface", "wan", code=1)
    assert len(lab.server.requests) > requests

    lab.clear()
    done = run(lab.env, "update", code=0)  # the user's own `update` never waits
    assert lines(done, "home.example.com A: published 203.0.113.9")
