"""RFC 2136 dynamic update signed with TSIG (RFC 8945), on the stdlib alone.

Why no dnspython, the retransmission bounds and how answers are trusted: docs/design/rfc2136.md.
One UPDATE per change replaces the RRset (delete RRset, add RR); every answer's TSIG is verified
before its RCODE is believed, except the unsigned BADSIG/BADKEY answers RFC 8945 §5.3.2 requires.
"""

from __future__ import annotations

import base64
import hmac
import os
import socket
import struct
import time

from ddns_agent.errors import AuthError, ConfigError, RejectedError, TransientError, UnconfirmedError
from ddns_agent.providers.base import Provider, RecordSpec, Remote

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
# UDP waits per send, as fractions of the provider timeout; what is left goes to TCP
UDP_TRIES = (0.1, 0.2, 0.4)


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


class Rfc2136(Provider):
    """Updates a zone on an authoritative server (BIND, Knot, PowerDNS...) with a TSIG key."""

    type = "rfc2136"
    multi = True  # a set's member is one RR, its id the address: only that RR is ever deleted
    can_find = True  # a signed query reads the RRset: skip no-op updates, read back after doubt
    uses_http = False

    def __init__(self, options: dict, http=None) -> None:
        super().__init__(options, http)
        self.server = options["server"]
        port = str(options.get("port") or 53)
        if not (port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError("expected a port 1-65535, got %r" % port, option="port")
        self.port = int(port)
        self.timeout = float(options.get("timeout") or 10)
        self.zone = options.get("zone") or None
        for option in ("key_name", "zone"):
            try:
                labels(options.get(option) or "x")
            except ValueError:
                raise ConfigError("expected a DNS name, got %r" % options[option], option=option)
        algorithm = (options.get("key_algorithm") or "hmac-sha256").lower()
        if algorithm not in ALGORITHMS:
            raise ConfigError("expected one of %s, got %r" % (" ".join(ALGORITHMS), algorithm),
                              option="key_algorithm")
        try:
            secret = base64.b64decode("".join(options["key_secret"].reveal().split()), validate=True)
        except ValueError:  # binascii.Error; never echo the secret
            raise ConfigError("not valid base64 (paste what tsig-keygen prints)", option="key_secret")
        if not secret:
            raise ConfigError("is empty", option="key_secret")
        self.key = Key(options["key_name"], algorithm, secret)
        self.where = "%s#%d" % (self.server, self.port)  # as dig and BIND write it
        self.key_text = "%s (%s)" % (".".join(self.key.name), algorithm)  # never the secret
        self.clock = time.time  # TSIG time; tests set a fixed one
        self.new_id = lambda: struct.unpack("!H", os.urandom(2))[0]

    # -- the three calls ----------------------------------------------------------------------

    def find(self, rec: RecordSpec) -> Remote | None:
        """The RRset the server holds for `rec`, by a signed query; None when empty or unreadable."""
        found = self._rrs(rec)
        if not found:
            return None
        # several RRs never equal one address, so publish replaces the whole RRset
        return Remote(rec.fqdn, ",".join(a for a, _ in found), min(t for _, t in found))

    def find_all(self, rec: RecordSpec) -> list:
        """Each RR of the RRset as a Remote whose id is its address."""
        return [Remote(a, a, t) for a, t in self._rrs(rec)]

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """A plain record replaces the RRset; a set's member is added to it."""
        return self.update(rec, Remote(None, None) if rec.in_set else None, address)

    def delete(self, rec: RecordSpec, remote: Remote) -> None:
        """Delete the one RR `remote` (its id is its address); an RR already gone is no error."""
        self._change(rec, None, remote.id)

    def _rrs(self, rec: RecordSpec) -> list:
        """[(address, ttl)] of the RRset, sorted; [] when empty or unreadable."""
        rtype = TYPES[rec.type]
        ans = self._ask(query_message(self.new_id(), rec.fqdn, rtype), QUERY)
        if ans.rcode in (3, 5, 9):  # NXDOMAIN; REFUSED/NOTAUTH: queries not allowed, UPDATE decides
            return None
        if ans.rcode != 0:
            raise self._rcode_error(ans.rcode, "query for %s" % rec)
        owner = labels(rec.fqdn)
        family, size = (socket.AF_INET6, 16) if rec.type == "AAAA" else (socket.AF_INET, 4)
        return sorted((socket.inet_ntop(family, ans.rdata(pos)), ttl) for o, t, ttl, pos in ans.records
                      if o == owner and t == rtype and len(ans.rdata(pos)) == size)

    def update(self, rec: RecordSpec, remote: Remote | None, address: str) -> Remote:
        """Replace the RRset of `rec` by `address` in one signed UPDATE (delete RRset, add RR).

        A set's member replaces only its own RR (`remote.id`, its old address).
        """
        ttl = self._change(rec, address, (remote.id or "") if rec.in_set and remote else None)
        return Remote(address if rec.in_set else rec.fqdn, address, ttl)

    def _change(self, rec: RecordSpec, address: str | None, old: str | None) -> int:
        """Send one UPDATE (see update_message); the TTL written."""
        zone = self.zone or rec.domain
        name, zparts = labels(rec.fqdn), labels(zone)
        if name[len(name) - len(zparts):] != zparts:
            raise RejectedError("%s is not inside zone %s (option zone)" % (rec.fqdn, zone))
        ttl = DEFAULT_TTL if rec.ttl is None else rec.ttl
        ans = self._ask(update_message(self.new_id(), zone, rec.fqdn, rec.type, ttl, address, old), UPDATE)
        if ans.rcode == 5:
            raise RejectedError("refused by the server's update policy (REFUSED): key %s may not "
                                "change %s in zone %s on %s" % (self.key_text, rec, zone, self.where),
                                status="REFUSED")
        if ans.rcode != 0:
            raise self._rcode_error(ans.rcode, "update of %s in zone %s" % (rec, zone))
        return ttl

    def check(self) -> str:
        """A signed SOA query proving the key (and the zone, when option zone is set)."""
        ans = self._ask(query_message(self.new_id(), self.zone or ".", SOA), QUERY)
        if not self.zone:
            return "key %s accepted by %s (set option zone to check the zone too)" % (
                self.key_text, self.where)
        soa = [pos for o, t, _, pos in ans.records if o == labels(self.zone) and t == SOA]
        if ans.rcode != 0 or not soa or not ans.flags & 0x0400:  # AA: the zone is served there
            raise RejectedError("%s does not serve zone %s (%s)" % (
                self.where, self.zone, RCODES.get(ans.rcode, ans.rcode)), status=ans.rcode)
        try:  # the TSIG proves who sent it, not that its RDATA is well formed
            pos = ans.name(ans.name(soa[0])[1])[1]  # MNAME, RNAME, then the serial
            serial = struct.unpack("!I", ans.wire[pos:pos + 4])[0]
        except (BadAnswer, IndexError, struct.error, UnicodeDecodeError):
            raise TransientError("bad answer from %s: malformed SOA of zone %s" % (self.where, self.zone))
        return "zone %s serial %d on %s, key %s accepted" % (self.zone, serial, self.where, self.key_text)

    # -- one exchange -----------------------------------------------------------------------------

    def _ask(self, message: bytes, opcode: int) -> Answer:
        """Sign, send, and return the answer once its TSIG verifies; raise the project's errors."""
        signed, mac = self.key.sign(message, int(self.clock()))
        data = self._send(signed, opcode == UPDATE)
        try:
            ans = Answer(data)
            if not ans.flags & 0x8000 or ans.opcode != opcode:
                raise BadAnswer("not an answer to this request")
        except BadAnswer as e:
            raise self._doubt(opcode == UPDATE, "bad answer from %s: %s" % (self.where, e))
        t = ans.tsig
        if t is not None and ans.rcode == 9 and t.error in (BADSIG, BADKEY, BADTRUNC) and not t.mac:
            # RFC 8945 §5.3.2: the server cannot sign these, so they come unsigned
            what = {BADKEY: "the server has no key of this name and algorithm",
                    BADSIG: "key_secret differs from the server's"}.get(t.error, "MAC too short")
            raise AuthError("TSIG key %s rejected by %s (%s): %s" % (
                self.key_text, self.where, TSIG_ERRORS[t.error], what), status=TSIG_ERRORS[t.error])
        try:
            self.key.verify(ans, mac, self.clock())
        except BadAnswer as e:
            raise UnconfirmedError("could not confirm: the answer's TSIG did not verify (%s; %s)"
                                   % (e, RCODES.get(ans.rcode, ans.rcode)), status=ans.rcode)
        if t.error == BADTIME:
            skew = ""
            if len(t.other) == 6:  # the server's own time (RFC 8945 §5.2.3)
                hi, lo = struct.unpack("!HI", t.other)
                skew = " by %+d s" % (((hi << 32) | lo) - int(self.clock()))
            raise AuthError("TSIG time rejected by %s (BADTIME): the server's clock differs from this "
                            "one%s; set the time (NTP)" % (self.where, skew), status="BADTIME")
        if t.error:
            raise AuthError("TSIG error %s from %s" % (TSIG_ERRORS.get(t.error, t.error), self.where),
                            status=t.error)
        return ans

    def _rcode_error(self, rcode: int, what: str):
        name = RCODES.get(rcode, str(rcode))
        if rcode == 2:
            return TransientError("%s failed on %s (SERVFAIL)" % (what, self.where), status=name)
        why = {3: "the name does not exist", 4: "the server does not support this",
               9: "the server is not authoritative for the zone (set option zone?)",
               10: "the name is not inside the zone (set option zone?)"}.get(rcode, "refused")
        return RejectedError("%s rejected by %s (%s): %s" % (what, self.where, name, why), status=name)

    def _doubt(self, update: bool, message: str) -> TransientError:
        # an UPDATE may have landed unseen (read back before resending); a query changed nothing
        return UnconfirmedError("could not confirm the update: " + message) if update else \
            TransientError(message)

    def _send(self, wire: bytes, update: bool) -> bytes:
        """The answer to `wire`: over UDP, resent with growing waits, then TCP if truncated or silent."""
        deadline = time.monotonic() + self.timeout
        try:
            family, _, _, _, addr = socket.getaddrinfo(self.server, self.port, 0, socket.SOCK_DGRAM)[0]
        except (OSError, UnicodeError) as e:  # only at run time; an IP literal needs no lookup
            raise TransientError("cannot resolve server %s: %s" % (self.server, e))
        data, reached, why = self._udp(family, addr, wire, deadline)
        if data is not None:
            return data
        try:
            c = socket.socket(family, socket.SOCK_STREAM)
        except OSError as e:
            raise TransientError("cannot reach %s: %s" % (self.where, e))
        with c:
            try:
                c.settimeout(max(deadline - time.monotonic(), UDP_TRIES[0] * self.timeout))
                c.connect(addr)
                reached = True
                c.sendall(struct.pack("!H", len(wire)) + wire)
                stream = c.makefile("rb")
                while True:  # skip stray answers (another ID) on the stream
                    size = stream.read(2)
                    data = stream.read(struct.unpack("!H", size)[0]) if len(size) == 2 else b""
                    if len(data) < 12:
                        raise ConnectionResetError(0, "closed by the server")
                    if data[:2] == wire[:2]:
                        return data
            except OSError as e:
                message = "no answer from %s (UDP: %s; TCP: %s)" % (self.where, why, e.strerror or e)
                raise self._doubt(update, message) if reached else TransientError(
                    "cannot reach %s (UDP: %s; TCP: %s)" % (self.where, why, e.strerror or e))

    def _udp(self, family: int, addr: tuple, wire: bytes, deadline: float) -> tuple:
        """(complete answer or None, whether the server may have got it, why not)."""
        reached = False
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.connect(addr)
                for share in UDP_TRIES:
                    s.send(wire)
                    reached = True
                    until = min(deadline, time.monotonic() + share * self.timeout)
                    while time.monotonic() < until:
                        s.settimeout(until - time.monotonic())
                        try:
                            data = s.recv(65535)
                        except socket.timeout:
                            break
                        if data[:2] == wire[:2] and len(data) >= 12:  # else a stray: keep waiting
                            if data[2] & 0x02:  # TC: the whole answer needs TCP
                                return None, True, "truncated"
                            return data, True, ""
            except ConnectionRefusedError:  # ICMP port unreachable: nobody listens
                return None, False, "port closed"
            except OSError as e:
                return None, reached, e.strerror or str(e)
        return None, reached, "no answer"
