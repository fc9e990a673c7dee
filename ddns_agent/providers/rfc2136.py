"""RFC 2136 dynamic update signed with TSIG (RFC 8945), on the stdlib alone.

Why no dnspython, the retransmission bounds and how answers are trusted: docs/design/rfc2136.md.
One UPDATE per change replaces the RRset (delete RRset, add RR), or for a record set's member only
its own RR (docs/record-sets.md); the wire format is in dnswire.py. Every answer's TSIG is verified
before its RCODE is believed, except the unsigned BADSIG/BADKEY answers RFC 8945 §5.3.2 requires.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import time

from ddns_agent.errors import AuthError, ConfigError, RejectedError, TransientError, UnconfirmedError
from ddns_agent.providers.base import Provider, RecordSpec, Remote
from ddns_agent.providers.dnswire import (  # noqa: F401 (the wire format's names, as tests use them)
    ALGORITHMS,
    BADKEY,
    BADSIG,
    BADTIME,
    BADTRUNC,
    DEFAULT_TTL,
    QUERY,
    RCODES,
    SOA,
    TSIG_ERRORS,
    TYPES,
    UPDATE,
    Answer,
    BadAnswer,
    Key,
    labels,
    query_message,
    update_message,
)

# UDP waits per send, as fractions of the provider timeout; what is left goes to TCP
UDP_TRIES = (0.1, 0.2, 0.4)


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
