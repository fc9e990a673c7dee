"""NAT-PMP source: Debian's miniupnpd as the modem in a namespace lab, fake gateways on loopback."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

import pytest
from nat_lab import Lab, build, require, start_miniupnpd, start_stun

from ddns_agent import natpmp
from ddns_agent.errors import SourceError

TIMEOUT = 3.0
SLACK = 2.0


@pytest.fixture(scope="module")
def lab():
    require("nft", "miniupnpd", "turnserver")
    lab = Lab()
    try:
        build(lab)
        start_stun(lab, "isp", "203.0.113.1")
        yield lab
    finally:
        lab.close()


@pytest.fixture()
def modem(lab):
    """Start miniupnpd on the lab's modem with `modem(**options)`; stopped after the test."""
    started = []

    def start(**options):
        proc = start_miniupnpd(lab, **options)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.popen.terminate()
            try:
                proc.popen.wait(5)
            except Exception:
                proc.popen.kill()
                proc.popen.wait(5)
        lab.procs = [p for p in lab.procs if p not in started]


def test_router_behind_modem_gets_the_public_address_by_natpmp(lab, modem):
    modem()
    out = lab.read("router", "natpmp", {"device": "wan0"})
    assert out.get("addresses") == ["203.0.113.7"], out
    assert out["origins"] == ["natpmp 192.168.1.1"]


def test_modem_without_public_address_answers_network_failure(lab, modem):
    modem(stun_host=None)
    out = lab.read("router", "natpmp", {"device": "wan0"})
    assert out["error"].startswith("NAT-PMP: the gateway answered network failure"), out


def test_modem_with_natpmp_disabled_is_told_at_once(lab, modem):
    modem(natpmp=False)
    out = lab.read("router", "natpmp", {"device": "wan0"})
    assert out["error"] == "NAT-PMP: gateway 192.168.1.1 does not speak NAT-PMP (UDP 5351 is closed)"


def test_aaaa_record_is_told_natpmp_is_ipv4_only(lab):
    out = lab.read("router", "natpmp", {"device": "wan0"}, family=6)
    assert "only an IPv4 address" in out["error"]


class FakeGateway:
    """A NAT-PMP server on 127.0.0.1 that answers each request with the next of `answers`
    (None = stay silent) and records when requests came."""

    def __init__(self, answers: list) -> None:
        self.answers = list(answers)
        self.requests: list = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(64)
            except socket.timeout:
                continue
            self.requests.append((time.monotonic(), data))
            answer = self.answers.pop(0) if self.answers else None
            for packet in answer if isinstance(answer, list) else [answer]:
                if isinstance(packet, tuple):   # (socket, bytes): sent from another port
                    packet[0].sendto(packet[1], peer)
                elif packet is not None:
                    self.sock.sendto(packet, peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture()
def gateway():
    made = []

    def make(*answers) -> FakeGateway:
        fake = FakeGateway(list(answers))
        made.append(fake)
        return fake

    try:
        yield make
    finally:
        for fake in made:
            fake.close()


def ok(address: str, epoch: int = 7) -> bytes:
    return bytes((0, 128, 0, 0)) + epoch.to_bytes(4, "big") + ipaddress.IPv4Address(address).packed


def test_silent_gateway_is_retried_on_the_rfc_schedule_and_given_up_in_bounded_time(gateway):
    fake = gateway()
    start = time.monotonic()
    with pytest.raises(SourceError, match="did not answer on UDP %d in time" % fake.port):
        natpmp.query("127.0.0.1", start + TIMEOUT, port=fake.port)
    assert time.monotonic() - start < TIMEOUT + SLACK
    # 250 ms, doubling: sent at 0, 0.25, 0.75 and 1.75 s within 3 s (RFC 6886 §3.1).
    assert 3 <= len(fake.requests) <= 5
    assert all(data == b"\x00\x00" for _, data in fake.requests)


def test_late_answer_after_a_lost_request_is_taken(gateway):
    fake = gateway(None, ok("203.0.113.7"))
    assert natpmp.query("127.0.0.1", time.monotonic() + TIMEOUT, port=fake.port) == \
        ipaddress.IPv4Address("203.0.113.7")
    assert len(fake.requests) == 2


def test_malformed_and_foreign_datagrams_are_ignored(gateway):
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        fake = gateway([(other, ok("198.51.100.66")),       # right content, wrong source port
                        b"\x00\x80\x00",                     # truncated
                        b"\x00\x81\x00\x00" + bytes(8),      # another opcode's answer
                        ok("203.0.113.7")[:10],              # truncated success
                        ok("203.0.113.7")])
        assert natpmp.query("127.0.0.1", time.monotonic() + TIMEOUT, port=fake.port) == \
            ipaddress.IPv4Address("203.0.113.7")
    finally:
        other.close()


@pytest.mark.parametrize("code, words", [
    (1, "unsupported version (the gateway speaks only PCP"),
    (2, "not authorized (NAT-PMP is disabled on the gateway)"),
    (3, "network failure: it has no public address of its own (its WAN is down, private or CGNAT)"),
    (99, "result code 99"),
])
def test_error_results_are_refused_with_the_reason(gateway, code, words):
    fake = gateway(bytes((0, 128)) + code.to_bytes(2, "big") + bytes(4))
    with pytest.raises(SourceError) as caught:
        natpmp.query("127.0.0.1", time.monotonic() + TIMEOUT, port=fake.port)
    assert words in str(caught.value)


def test_zero_address_is_no_address(gateway):
    fake = gateway(ok("0.0.0.0"))
    with pytest.raises(SourceError, match="reports 0.0.0.0"):
        natpmp.query("127.0.0.1", time.monotonic() + TIMEOUT, port=fake.port)


def test_closed_port_is_reported_without_waiting():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    start = time.monotonic()
    with pytest.raises(SourceError, match="does not speak NAT-PMP"):
        natpmp.query("127.0.0.1", start + TIMEOUT, port=port)
    assert time.monotonic() - start < TIMEOUT
