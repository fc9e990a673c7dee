"""Source: ask a STUN server the user named which address our packets come from (RFC 8489 Binding).

Opt-in (`source stun` plus `option stun_server host[:port]`): it is the only gateway-independent way
to see past a modem or a CGNAT without a web site. Datagrams from anyone but the server, with the
wrong magic cookie or transaction id are ignored; a broken answer to our own request is an error.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time

from ddns_agent.errors import SourceError

PORT = 3478
COOKIE = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111
MAPPED_ADDRESS = 0x0001
XOR_MAPPED_ADDRESS = 0x0020
XOR_MAPPED_ADDRESS_OLD = 0x8020  # pre-RFC 5389 servers (draft numbering), still seen in the wild
ERROR_CODE = 0x0009
RTO = 0.5  # s; RFC 8489 §6.2.1 initial retransmission timeout, doubled each time
_COOKIE_BYTES = struct.pack("!I", COOKIE)


def parse_server(text: str) -> tuple:
    """(host, port) from "host", "host:port", "[v6]:port" or a bare IPv6 address; ValueError if bad."""
    text = text.strip()
    host, port = text, PORT
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError("expected [IPv6]:port, got %r" % text)
        if rest:
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        port = int(port)
    except ValueError:
        raise ValueError("port %r is not a number" % port)
    if not host or not 0 < port < 65536 or any(c.isspace() for c in host):
        raise ValueError("expected host or host:port, got %r" % text)
    return host, port


def request(transaction: bytes) -> bytes:
    """A Binding request with no attributes."""
    return struct.pack("!HHI", BINDING_REQUEST, 0, COOKIE) + transaction


def _address(kind: int, value: bytes, transaction: bytes) -> tuple:
    if len(value) < 4 or value[1] not in (1, 2) or len(value) < (8 if value[1] == 1 else 20):
        raise SourceError("truncated or unknown address family in attribute 0x%04x" % kind)
    port = struct.unpack("!H", value[2:4])[0]
    raw = value[4:8] if value[1] == 1 else value[4:20]
    if kind != MAPPED_ADDRESS:
        port ^= COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, _COOKIE_BYTES + transaction))
    return ipaddress.ip_address(raw), port


def parse(data: bytes, transaction: bytes) -> tuple:
    """(address, port) from a Binding answer to `transaction`.

    ValueError: not an answer to our request (ignored). SourceError: our server answered with an
    error or a malformed message.
    """
    if len(data) < 20:
        raise ValueError("truncated datagram (%d bytes)" % len(data))
    kind, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != COOKIE:
        raise ValueError("bad magic cookie 0x%08x" % cookie)
    if data[8:20] != transaction:
        raise ValueError("wrong transaction id")
    if kind & 0xC000 or kind not in (BINDING_SUCCESS, BINDING_ERROR):
        raise ValueError("not a Binding response (type 0x%04x)" % kind)
    if length % 4 or 20 + length > len(data):
        raise SourceError("malformed answer: length %d does not match the %d bytes received"
                          % (length, len(data) - 20))
    body = data[20:20 + length]
    found = {}
    while body:
        if len(body) < 4:
            raise SourceError("malformed answer: truncated attribute header")
        attr, size = struct.unpack("!HH", body[:4])
        if 4 + size > len(body):
            raise SourceError("malformed answer: attribute 0x%04x is truncated" % attr)
        found.setdefault(attr, body[4:4 + size])
        body = body[4 + (size + 3) // 4 * 4:]
    if kind == BINDING_ERROR:
        value = found.get(ERROR_CODE, b"")
        if len(value) < 4:
            raise SourceError("error answer without a valid ERROR-CODE")
        reason = value[4:].decode("utf-8", "replace").strip()[:80]
        raise SourceError("error %d%s" % ((value[2] & 7) * 100 + value[3] % 100,
                                          (" " + reason) if reason else ""))
    for attr in (XOR_MAPPED_ADDRESS, XOR_MAPPED_ADDRESS_OLD, MAPPED_ADDRESS):
        if attr in found:
            try:
                return _address(attr, found[attr], transaction)
            except SourceError as e:
                raise SourceError("malformed answer: %s" % e)
    raise SourceError("malformed answer: no XOR-MAPPED-ADDRESS or MAPPED-ADDRESS")


def query(host: str, port: int, family: int, deadline: float) -> tuple:
    """(address, port) the server at host:port sees for us over IPv`family`; SourceError otherwise."""
    where = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET if family == 4 else socket.AF_INET6,
                                   socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as e:
        raise SourceError("STUN server %s has no IPv%d address: %s"
                          % (where, family, getattr(e, "strerror", None) or e))
    af, _, _, _, sockaddr = infos[0]
    transaction = os.urandom(12)
    ignored = []
    wait = RTO
    with socket.socket(af, socket.SOCK_DGRAM) as s:
        try:
            s.connect(sockaddr)  # the kernel drops datagrams from anyone but the server
        except OSError as e:
            raise SourceError("STUN server %s is unreachable: %s" % (where, e.strerror or e))
        resend = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline:
                detail = " (ignored: %s)" % "; ".join(ignored[:3]) if ignored else ""
                raise SourceError("STUN server %s gave no valid answer in time%s" % (where, detail))
            try:
                if now >= resend:
                    s.send(request(transaction))  # retransmissions keep the transaction id
                    resend = now + wait
                    wait *= 2
                s.settimeout(max(0.01, min(resend, deadline) - now))
                data = s.recv(1500)
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                raise SourceError("STUN server %s: nothing listens on UDP %d" % (where, port))
            except OSError as e:
                raise SourceError("STUN server %s: %s" % (where, e.strerror or e))
            try:
                return parse(data, transaction)
            except ValueError as e:
                ignored.append(str(e))
            except SourceError as e:
                raise SourceError("STUN server %s: %s" % (where, e))


def read(record, family: int, log=None, timeout: float = 3.0, cache=None) -> list:
    """The address the user's STUN server sees for this host, as one Candidate ("stun <server>").

    Needs `option stun_server`; asks once per server, family and update cycle.
    """
    from ddns_agent import upstream
    from ddns_agent.addresses import Candidate

    text = (getattr(record, "options", None) or {}).get("stun_server")
    if not text:
        raise SourceError("source stun needs option stun_server (host or host:port of a STUN server)")
    try:
        host, port = parse_server(str(text))
    except ValueError as e:
        raise SourceError("option stun_server: %s" % e)
    deadline = time.monotonic() + timeout
    address, mapped_port = upstream.cached(("stun", host, port, family),
                                           lambda: query(host, port, family, deadline), cache)
    if address.version != family:
        raise SourceError("STUN server %s answered an IPv%d address for an IPv%d query"
                          % (text, address.version, family))
    if log is not None:
        log.debug("stun: %s sees %s port %d" % (text, address, mapped_port))
    return [Candidate(address, "stun %s" % text)]
