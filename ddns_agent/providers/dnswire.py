"""DNS wire format for rfc2136.py: names, UPDATE and QUERY messages, TSIG signing and verifying.

Stdlib only (docs/design/rfc2136.md says why not dnspython); ships with ddns-agent-rfc2136.
"""

from __future__ import annotations

import hmac
import socket
import struct

ALGORITHMS = {"hmac-sha1": "sha1", "hmac-sha224": "sha224", "hmac-sha256": "sha256",
              "hmac-sha384": "sha384", "hmac-sha512": "sha512"}
TYPES = {"A": 1, "AAAA": 28}
SOA, TSIG, IN, NONE, ANY = 6, 250, 1, 254, 255
QUERY, UPDATE = 0, 5
FUDGE = 300
DEFAULT_TTL = 300
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
          6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE"}
BADSIG, BADKEY, BADTIME, BADTRUNC = 16, 17, 18, 22
TSIG_ERRORS = {BADSIG: "BADSIG", BADKEY: "BADKEY", BADTIME: "BADTIME", BADTRUNC: "BADTRUNC"}


class BadAnswer(Exception):
    """An answer that cannot be parsed or trusted (internal to this module)."""


def labels(name: str) -> tuple:
    """Lower-case labels of `name` (trailing dot optional); raises ValueError when not a DNS name."""
    name = name.rstrip(".")
    parts = tuple(p.lower() for p in name.split(".")) if name else ()
    if any(not p or len(p.encode()) > 63 for p in parts) or len(name) > 253:
        raise ValueError("not a DNS name: %r" % name)
    return parts


def name_wire(parts: tuple) -> bytes:
    """Uncompressed wire form, as TSIG names and MAC inputs need."""
    return b"".join(bytes((len(p),)) + p.encode() for p in parts) + b"\0"


def put_name(buf: bytearray, seen: dict, parts: tuple) -> None:
    """Append a name, compressed against the names already in `buf` (RFC 1035 §4.1.4)."""
    for i in range(len(parts)):
        pointer = seen.get(parts[i:])
        if pointer is not None:
            buf += struct.pack("!H", 0xC000 | pointer)
            return
        if len(buf) < 0x4000:
            seen[parts[i:]] = len(buf)
        buf += bytes((len(parts[i]),)) + parts[i].encode()
    buf += b"\0"


def update_message(msg_id: int, zone: str, fqdn: str, rtype: str, ttl: int, address: str | None,
                   old: str | None = None) -> bytes:
    """An unsigned UPDATE replacing the `fqdn rtype` RRset by one RR (specs/providers.md §8.1).

    With `old` (a record set's member) only the RR `old` is deleted, not the RRset; with
    `address` None nothing is added; `old` "" adds `address` to the RRset.
    """
    family = socket.AF_INET6 if rtype == "AAAA" else socket.AF_INET
    changes = [(ANY, 0, b"")] if old is None else [(NONE, 0, socket.inet_pton(family, old))] if old else []
    if address is not None:
        changes.append((IN, ttl, socket.inet_pton(family, address)))
    buf, seen, owner = bytearray(struct.pack("!6H", msg_id, UPDATE << 11, 1, 0, len(changes), 0)), {}, \
        labels(fqdn)
    put_name(buf, seen, labels(zone))  # the zone section: ZNAME ZTYPE=SOA ZCLASS=IN
    buf += struct.pack("!HH", SOA, IN)
    # delete the RRset (CLASS ANY, TTL 0, no RDATA) or one RR (CLASS NONE), then add the one RR
    for rclass, rr_ttl, rdata in changes:
        put_name(buf, seen, owner)
        buf += struct.pack("!HHIH", TYPES[rtype], rclass, rr_ttl, len(rdata)) + rdata
    return bytes(buf)


def query_message(msg_id: int, qname: str, qtype: int) -> bytes:
    """An unsigned, non-recursive QUERY for `qname qtype IN`."""
    return struct.pack("!6H", msg_id, 0, 1, 0, 0, 0) + name_wire(labels(qname)) + struct.pack(
        "!HH", qtype, IN)


class Key:
    """A TSIG key: name, algorithm and secret; signs requests and verifies answers."""

    __slots__ = ("name", "algorithm", "_digest", "_secret")

    def __init__(self, name: str, algorithm: str, secret: bytes) -> None:
        self.name = labels(name)
        self.algorithm = labels(algorithm)
        self._digest = ALGORITHMS[algorithm.rstrip(".").lower()]
        self._secret = secret

    def _variables(self, time_signed: int, fudge: int, error: int, other: bytes) -> bytes:
        return (name_wire(self.name) + struct.pack("!HI", ANY, 0) + name_wire(self.algorithm)
                + struct.pack("!HIHHH", time_signed >> 32, time_signed & 0xFFFFFFFF, fudge, error,
                              len(other)) + other)

    def mac(self, data: bytes) -> bytes:
        return hmac.new(self._secret, data, self._digest).digest()

    def sign(self, message: bytes, time_signed: int, fudge: int = FUDGE) -> tuple:
        """(message with a TSIG RR appended, its MAC) for a request (RFC 8945 §4.3)."""
        mac = self.mac(message + self._variables(time_signed, fudge, 0, b""))
        rdata = (name_wire(self.algorithm)
                 + struct.pack("!HIHH", time_signed >> 32, time_signed & 0xFFFFFFFF, fudge, len(mac))
                 + mac + struct.pack("!HHH", struct.unpack("!H", message[:2])[0], 0, 0))
        signed = (message[:10] + struct.pack("!H", struct.unpack("!H", message[10:12])[0] + 1)
                  + message[12:] + name_wire(self.name) + struct.pack("!HHIH", TSIG, ANY, 0, len(rdata))
                  + rdata)
        return signed, mac

    def verify(self, answer: Answer, request_mac: bytes, now: float) -> None:
        """Check the answer's TSIG against the request's MAC (RFC 8945 §5.3); BadAnswer if not."""
        t = answer.tsig
        if t is None:
            raise BadAnswer("the answer is not signed")
        if t.key != self.name or t.algorithm != self.algorithm:
            raise BadAnswer("the answer is signed with another key")
        wire = answer.wire
        unsigned = (struct.pack("!H", t.original_id) + wire[2:10]
                    + struct.pack("!H", answer.counts[3] - 1) + wire[12:t.start])
        data = (struct.pack("!H", len(request_mac)) + request_mac + unsigned
                + self._variables(t.time_signed, t.fudge, t.error, t.other))
        expected = self.mac(data)
        if len(t.mac) < max(10, len(expected) // 2) or not hmac.compare_digest(
                t.mac, expected[:len(t.mac)]):
            raise BadAnswer("the answer's MAC is wrong")
        if t.error != BADTIME and abs(now - t.time_signed) > t.fudge:
            raise BadAnswer("the answer was signed %d s away from this clock" % (t.time_signed - now))


class Tsig:
    """The TSIG RR of an answer."""

    __slots__ = ("start", "key", "algorithm", "time_signed", "fudge", "mac", "original_id",
                 "error", "other")


class Answer:
    """A parsed DNS answer: header fields, answer-section RRs and the TSIG RR."""

    __slots__ = ("wire", "flags", "opcode", "rcode", "counts", "records", "tsig")

    def __init__(self, wire: bytes) -> None:
        if len(wire) < 12:
            raise BadAnswer("a %d-byte answer" % len(wire))
        self.wire = wire
        self.flags = struct.unpack("!H", wire[2:4])[0]
        self.opcode, self.rcode = (self.flags >> 11) & 15, self.flags & 15
        self.counts = struct.unpack("!4H", wire[4:12])
        self.records: list = []  # (labels, type, ttl, rdata offset) of the answer section
        self.tsig: Tsig | None = None
        try:
            self._parse()
        except (IndexError, struct.error, UnicodeDecodeError) as e:
            raise BadAnswer("malformed answer (%s)" % e)

    def name(self, pos: int) -> tuple:
        """(labels, offset just past it) of the possibly compressed name at `pos`."""
        parts, end, hops = [], None, 0
        while True:
            n = self.wire[pos]
            if n >= 0xC0:
                if end is None:
                    end = pos + 2
                hops += 1
                if hops > 64:
                    raise BadAnswer("compression loop")
                pos = struct.unpack("!H", self.wire[pos:pos + 2])[0] & 0x3FFF
            elif n == 0:
                return tuple(parts), end if end is not None else pos + 1
            elif n > 63:
                raise BadAnswer("unknown label type")
            else:
                parts.append(self.wire[pos + 1:pos + 1 + n].decode("ascii").lower())
                pos += 1 + n

    def _parse(self) -> None:
        pos = 12
        for _ in range(self.counts[0]):
            pos = self.name(pos)[1] + 4
        total = sum(self.counts[1:])
        for i in range(total):
            start = pos
            owner, pos = self.name(pos)
            rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", self.wire[pos:pos + 10])
            pos += 10
            rdata = self.wire[pos:pos + rdlen]
            if len(rdata) != rdlen:
                raise BadAnswer("truncated record")
            if i < self.counts[1]:
                self.records.append((owner, rtype, ttl, pos))
            elif rtype == TSIG:
                if i != total - 1 or not self.counts[3] or rclass != ANY or ttl:
                    raise BadAnswer("TSIG not last, or not CLASS ANY TTL 0")
                self._tsig(start, owner, pos, pos + rdlen)
            pos += rdlen

    def _tsig(self, start: int, owner: tuple, pos: int, end: int) -> None:
        t = Tsig()
        t.start, t.key = start, owner
        t.algorithm, pos = self.name(pos)
        hi, lo, t.fudge, size = struct.unpack("!HIHH", self.wire[pos:pos + 10])
        t.time_signed = (hi << 32) | lo
        t.mac = self.wire[pos + 10:pos + 10 + size]
        pos += 10 + size
        t.original_id, t.error, other = struct.unpack("!HHH", self.wire[pos:pos + 6])
        t.other = self.wire[pos + 6:pos + 6 + other]
        if pos + 6 + other != end:
            raise BadAnswer("TSIG fields do not fill its RDATA")
        self.tsig = t

    def rdata(self, pos: int) -> bytes:
        return self.wire[pos:pos + struct.unpack("!H", self.wire[pos - 2:pos])[0]]
