"""Source: ask the default gateway for its external IPv4 address with NAT-PMP (RFC 6886, opcode 0).

Only the WAN's default gateway is asked, on UDP 5351. The RFC's schedule (250 ms, doubling) is
followed but cut at the source's deadline instead of the RFC's 64 s. A PCP-only gateway answers a
NAT-PMP request with "unsupported version" (RFC 6887 §9); that is reported, PCP itself is not used.
"""

from __future__ import annotations

import ipaddress
import socket
import time

from ddns_agent.errors import SourceError
from ddns_agent.upstream import NO_PUBLIC

PORT = 5351
FIRST_WAIT = 0.25  # s; RFC 6886 §3.1
REQUEST = b"\x00\x00"  # version 0, opcode 0: external address
RESULTS = {
    1: "unsupported version (the gateway speaks only PCP, RFC 6887, which this agent does not use)",
    2: "not authorized (NAT-PMP is disabled on the gateway)",
    3: "network failure: " + NO_PUBLIC,
    4: "out of resources",
    5: "unsupported opcode",
}


def parse(data: bytes):
    """The external address in a NAT-PMP answer; SourceError for an error result, ValueError when the
    datagram is not an answer to our request (ignored: a late or foreign packet)."""
    if len(data) < 4:
        raise ValueError("truncated answer (%d bytes)" % len(data))
    if data[0] != 0 or data[1] != 128:
        raise ValueError("not an external-address answer (version %d, opcode %d)" % (data[0], data[1]))
    result = int.from_bytes(data[2:4], "big")
    if result:
        raise SourceError("NAT-PMP: the gateway answered %s" % RESULTS.get(result, "result code %d" % result))
    if len(data) < 12:
        raise ValueError("truncated answer (%d bytes)" % len(data))
    return ipaddress.IPv4Address(data[8:12])


def query(gateway: str, deadline: float, port: int = PORT, bind: str | None = None):
    """The external IPv4Address `gateway` reports; SourceError with the reason otherwise."""
    ignored = []
    wait = FIRST_WAIT
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            if bind:
                s.bind((bind, 0))
            # connect(): the kernel drops datagrams from anyone but gateway:port (RFC 6886 §3.1
            # requires that check) and reports an ICMP port unreachable as ECONNREFUSED.
            s.connect((gateway, port))
        except OSError as e:
            raise SourceError("NAT-PMP: cannot reach gateway %s: %s" % (gateway, e.strerror or e))
        resend = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline:
                detail = " (ignored: %s)" % "; ".join(ignored[:3]) if ignored else ""
                raise SourceError("NAT-PMP: gateway %s did not answer on UDP %d in time%s"
                                  % (gateway, port, detail))
            try:
                if now >= resend:
                    s.send(REQUEST)
                    resend = now + wait
                    wait *= 2
                s.settimeout(max(0.01, min(resend, deadline) - now))
                data = s.recv(64)
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                raise SourceError("NAT-PMP: gateway %s does not speak NAT-PMP (UDP %d is closed)"
                                  % (gateway, port))
            except OSError as e:
                raise SourceError("NAT-PMP: exchange with %s failed: %s" % (gateway, e.strerror or e))
            try:
                address = parse(data)
            except ValueError as e:
                ignored.append(str(e))
                continue
            if address.is_unspecified:
                raise SourceError("NAT-PMP: gateway %s reports 0.0.0.0: %s" % (gateway, NO_PUBLIC))
            return address


def read(record, family: int, log=None, timeout: float = 3.0, cache=None) -> list:
    """The default gateway's external IPv4 address as one Candidate ("natpmp <gateway>").

    Asks once per WAN device and update cycle; SourceError with a one-line reason otherwise.
    """
    from ddns_agent import upstream
    from ddns_agent.addresses import Candidate

    if family != 4:
        raise SourceError("NAT-PMP reports only an IPv4 address; use netifd or netlink for AAAA records")
    deadline = time.monotonic() + timeout
    link = upstream.wan_link(record, timeout, log, cache)
    if link.gateway is None:
        raise SourceError("NAT-PMP: %s has no default gateway to ask" % link.device)
    gateway = str(link.gateway)
    address = upstream.cached(("natpmp", link.device),
                              lambda: str(query(gateway, deadline, bind=str(link.address))), cache)
    if log is not None:
        log.debug("natpmp: %s says %s" % (gateway, address))
    return [Candidate(ipaddress.IPv4Address(address), "natpmp %s" % gateway)]
