"""STUN source: a real coturn beyond the modem's NAT (and beyond a second NAT), fakes on loopback."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import threading
import time

import pytest
from nat_lab import Lab, build, require, start_stun

from ddns_agent import stun
from ddns_agent.errors import SourceError

TIMEOUT = 3.0
SLACK = 2.0
COOKIE = b"\x21\x12\xa4\x42"


@pytest.fixture(scope="module")
def lab():
    """router -> modem (NAT) -> isp (coturn) -> second NAT -> net (coturn)."""
    require("nft", "turnserver")
    lab = Lab()
    try:
        build(lab, beyond=True)
        start_stun(lab, "isp", "203.0.113.1", "coturn-isp")
        start_stun(lab, "net", "198.51.100.1", "coturn-net")
        yield lab
    finally:
        lab.close()


def test_router_learns_the_address_its_packets_leave_the_modem_with(lab):
    out = lab.read("router", "stun", {"options": {"stun_server": "203.0.113.1:3478"}})
    assert out.get("addresses") == ["203.0.113.7"], out
    assert out["origins"] == ["stun 203.0.113.1:3478"]


def test_a_server_beyond_a_second_nat_sees_that_nat(lab):
    out = lab.read("router", "stun", {"options": {"stun_server": "198.51.100.1"}})
    assert out.get("addresses") == ["198.51.100.2"], out


def test_stun_is_opt_in(lab):
    out = lab.read("router", "stun", {})
    assert out["error"] == "source stun needs option stun_server (host or host:port of a STUN server)"


def test_unreachable_server_fails_in_bounded_time(lab):
    out = lab.read("router", "stun", {"options": {"stun_server": "192.0.2.1:3478"}}, timeout=TIMEOUT)
    assert out["error"] == "STUN server 192.0.2.1:3478 gave no valid answer in time", out
    assert out["elapsed"] < TIMEOUT + SLACK


def encode_address(kind: int, address: str, port: int, transaction: bytes) -> bytes:
    """A (XOR-)MAPPED-ADDRESS attribute, written from RFC 8489 §14.1-14.2 independently of the module."""
    ip = ipaddress.ip_address(address)
    raw, family = ip.packed, (1 if ip.version == 4 else 2)
    if kind != 0x0001:
        port ^= 0x2112
        raw = bytes(a ^ b for a, b in zip(raw, COOKIE + transaction))
    value = struct.pack("!BBH", 0, family, port) + raw
    return struct.pack("!HH", kind, len(value)) + value


def message(kind: int, transaction: bytes, attributes: bytes = b"", cookie: bytes = COOKIE) -> bytes:
    return struct.pack("!HH", kind, len(attributes)) + cookie + transaction + attributes


class FakeServer:
    """A STUN server on loopback: `respond(request, transaction)` returns the datagrams to send."""

    def __init__(self, respond, host: str = "127.0.0.1") -> None:
        self.respond = respond
        self.requests: list = []
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(1500)
            except socket.timeout:
                continue
            self.requests.append(data)
            for packet in self.respond(data, data[8:20]) or ():
                self.sock.sendto(packet, peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture()
def server():
    made = []

    def make(respond, host: str = "127.0.0.1") -> FakeServer:
        fake = FakeServer(respond, host)
        made.append(fake)
        return fake

    try:
        yield make
    finally:
        for fake in made:
            fake.close()


def ask(fake: FakeServer, family: int = 4, host: str = "127.0.0.1", timeout: float = TIMEOUT) -> tuple:
    return stun.query(host, fake.port, family, time.monotonic() + timeout)


def test_request_is_a_plain_binding_request_with_cookie():
    fake_tid = os.urandom(12)
    assert stun.request(fake_tid) == b"\x00\x01\x00\x00" + COOKIE + fake_tid


def test_xor_mapped_address_is_preferred_over_mapped_address(server):
    fake = server(lambda req, tid: [message(0x0101, tid, encode_address(0x0001, "192.0.2.99", 1, tid) +
                                            encode_address(0x0020, "203.0.113.7", 40000, tid))])
    assert ask(fake) == (ipaddress.IPv4Address("203.0.113.7"), 40000)
    assert fake.requests[0][:2] == b"\x00\x01" and fake.requests[0][4:8] == COOKIE


def test_mapped_address_alone_is_used_by_old_servers(server):
    fake = server(lambda req, tid: [message(0x0101, tid, b"\x80\x22\x00\x04abcd" +  # SOFTWARE, skipped
                                            encode_address(0x0001, "198.51.100.4", 3478, tid))])
    assert ask(fake) == (ipaddress.IPv4Address("198.51.100.4"), 3478)


def test_ipv6_mapped_address_is_unmasked_with_the_transaction_id(server):
    try:
        fake = server(lambda req, tid: [message(0x0101, tid, encode_address(0x0020, "2001:db8::7", 5, tid))],
                      host="::1")
    except OSError as e:
        pytest.fail("no IPv6 on loopback: %s" % e)
    assert ask(fake, 6, "::1") == (ipaddress.IPv6Address("2001:db8::7"), 5)


def test_lost_request_is_resent_with_the_same_transaction_id(server):
    def respond(req, tid):
        if len(fake.requests) > 1:
            return [message(0x0101, tid, encode_address(0x0020, "203.0.113.7", 1, tid))]
    fake = server(respond)
    assert ask(fake)[0] == ipaddress.IPv4Address("203.0.113.7")
    assert len(fake.requests) == 2 and fake.requests[0] == fake.requests[1]


@pytest.mark.parametrize("forge, ignored", [
    (lambda tid: message(0x0101, tid, encode_address(0x0020, "198.51.100.66", 1, tid), cookie=b"XXXX"),
     "bad magic cookie"),
    (lambda tid: message(0x0101, os.urandom(12), encode_address(0x0020, "198.51.100.66", 1, tid)),
     "wrong transaction id"),
    (lambda tid: message(0x0101, tid)[:12], "truncated datagram"),
    (lambda tid: message(0x0001, tid), "not a Binding response"),
])
def test_forged_or_foreign_answers_are_ignored_and_named_at_the_deadline(server, forge, ignored):
    fake = server(lambda req, tid: [forge(tid)])
    start = time.monotonic()
    with pytest.raises(SourceError) as caught:
        ask(fake, timeout=1.0)
    assert "gave no valid answer in time (ignored: %s" % ignored in str(caught.value)
    assert time.monotonic() - start < 1.0 + SLACK


def test_forged_answer_does_not_hide_the_real_one(server):
    fake = server(lambda req, tid: [
        message(0x0101, os.urandom(12), encode_address(0x0020, "198.51.100.66", 1, tid)),
        message(0x0101, tid, encode_address(0x0020, "203.0.113.7", 1, tid))])
    assert ask(fake)[0] == ipaddress.IPv4Address("203.0.113.7")


@pytest.mark.parametrize("body, words", [
    (lambda tid: struct.pack("!HH", 0x0101, 12) + COOKIE + tid + b"\x00\x20\x00\x08",
     "length 12 does not match the 4 bytes received"),
    (lambda tid: message(0x0101, tid, b"\x00\x20\x00\x08\x00\x01\x00\x00"), "attribute 0x0020 is truncated"),
    (lambda tid: message(0x0101, tid, b"\x00\x20\x00\x04\x00\x07\x00\x00"),
     "truncated or unknown address family"),
    (lambda tid: message(0x0101, tid), "no XOR-MAPPED-ADDRESS or MAPPED-ADDRESS"),
])
def test_malformed_answer_to_our_request_is_an_error_at_once(server, body, words):
    fake = server(lambda req, tid: [body(tid)])
    start = time.monotonic()
    with pytest.raises(SourceError) as caught:
        ask(fake)
    assert str(caught.value).startswith("STUN server 127.0.0.1:%d: malformed answer" % fake.port)
    assert words in str(caught.value)
    assert time.monotonic() - start < 1.0


def test_error_answer_names_code_and_reason(server):
    error = struct.pack("!HHHBB", 0x0009, 4 + 18, 0, 4, 20) + b"Unknown attribute\x00"
    fake = server(lambda req, tid: [message(0x0111, tid, error + b"\x00" * 2)])
    with pytest.raises(SourceError, match=r"error 420 Unknown attribute"):
        ask(fake)


def test_nothing_listening_is_reported_without_waiting():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(SourceError, match="nothing listens on UDP %d" % port):
        stun.query("127.0.0.1", port, 4, time.monotonic() + TIMEOUT)


@pytest.mark.parametrize("text, parsed", [
    ("stun.example.net", ("stun.example.net", 3478)),
    ("203.0.113.1:3479", ("203.0.113.1", 3479)),
    ("[2001:db8::1]:5000", ("2001:db8::1", 5000)),
    ("[2001:db8::1]", ("2001:db8::1", 3478)),
    ("2001:db8::1", ("2001:db8::1", 3478)),
])
def test_server_option_forms(text, parsed):
    assert stun.parse_server(text) == parsed


@pytest.mark.parametrize("text", ["host:port", "host:0", "[2001:db8::1", "a b:1", ":3478"])
def test_bad_server_option_is_refused(text):
    with pytest.raises(ValueError):
        stun.parse_server(text)
