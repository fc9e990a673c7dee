"""Amazon Route 53, REST/XML API 2013-04-01 with SigV4 (docs/providers/route53.md).

A change is one ChangeResourceRecordSets UPSERT. UPSERT replaces the whole set, TTL included, so
the TTL the set has travels in the Remote id ("<hosted zone id>/<ttl>"): an update from a cached id
is one request that keeps the record's own TTL when the user sets none. XML is read with regular
expressions (no xml.* on a router). Only the secret access key is secret; it keys the HMAC.
"""

from __future__ import annotations

import hashlib
import re
import time
from urllib.parse import quote

from ddns_agent.errors import (
    AuthError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnconfirmedError,
)
from ddns_agent.http import raise_for_status
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name
from ddns_agent.providers.signing import v4_query, v4_sign

DEFAULT_ENDPOINT = "https://route53.amazonaws.com"
API = "/2013-04-01"
XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/"
REGION = "us-east-1"   # Route 53 is global; SigV4 scope is us-east-1
SERVICE = "route53"
#: the TTL of a set the agent creates without `option ttl` (Route 53 has no default of its own)
DEFAULT_TTL = 300
AUTH_CODES = ("InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature",
              "MissingAuthenticationToken", "UnrecognizedClientException", "InvalidSignatureException")
RATE_CODES = ("Throttling", "ThrottlingException", "PriorRequestNotComplete")


class Route53(Provider):
    """A, AAAA record sets through Route 53 with an IAM access key."""

    type = "route53"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._ak, self._sk = self.key_pair("access_key_id", "secret_access_key")
        self.endpoint = (options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/")
        self._host = self.signed_host(self.endpoint)
        zone = str(options.get("hosted_zone_id") or "")
        self._fixed_zone = zone.rpartition("/")[2] or None
        self._zone_ids: dict = {}
        #: seconds since the epoch for X-Amz-Date; tests move it to show clock skew
        self.clock = time.time

    def find(self, rec: RecordSpec) -> Remote | None:
        """The set named exactly rec.fqdn of rec.type (a simple-routing set: no SetIdentifier)."""
        zone = self._zone(rec.domain)
        name = ascii_name(rec.fqdn) + "."
        doc = self._call("GET", "/hostedzone/%s/rrset" % _q(zone), {"name": name, "type": rec.type,
                                                                      "maxitems": 1})
        for item in _elements(doc, "ResourceRecordSet"):
            if (_unescape_name(_first(item, "Name") or "") == name and _first(item, "Type") == rec.type
                    and _first(item, "SetIdentifier") is None):
                values = [v.strip() for v in _elements(item, "Value")]
                ttl = _first(item, "TTL")
                if not values or ttl is None or not ttl.isdigit():  # an alias set is not ours to change
                    raise RejectedError("%s is an alias or empty record set in Route 53; not changed" % rec,
                                        provider=self.type)
                return Remote("%s/%s" % (zone, ttl), ",".join(values), int(ttl))
        return None

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """UPSERT the set (TTL as configured, else 300)."""
        zone = self._zone(rec.domain)
        return self._upsert(rec, zone, rec.ttl or DEFAULT_TTL, address)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """UPSERT with the one address and the set's own TTL unless one is configured."""
        zone, _, ttl = (remote.id or "").rpartition("/")
        if not zone or not ttl.isdigit():
            raise NotFoundError("no Route 53 hosted zone id for %s" % rec, provider=self.type)
        if self._fixed_zone and zone != self._fixed_zone:
            raise NotFoundError("the cached hosted zone of %s is not hosted_zone_id" % rec,
                                provider=self.type)
        return self._upsert(rec, zone, rec.ttl or int(ttl), address, known_zone=True)

    def check(self) -> str:
        """List the hosted zones the key reaches (or read the configured one); changes nothing."""
        if self._fixed_zone:
            doc = self._call("GET", "/hostedzone/%s" % _q(self._fixed_zone))
            name = _unescape_name(_first(doc, "Name") or "?").rstrip(".")
            return "hosted zone %s reachable (id %s)" % (name, self._fixed_zone)
        doc = self._call("GET", "/hostedzone", {"maxitems": 20})
        names = [_unescape_name(_first(z, "Name") or "").rstrip(".") for z in _elements(doc, "HostedZone")]
        if not names:
            raise RejectedError("this AWS key reaches no Route 53 hosted zone", provider=self.type)
        return "key accepted; hosted zones %s" % ", ".join(names)

    def _upsert(self, rec: RecordSpec, zone: str, ttl: int, address: str, known_zone: bool = False) -> Remote:
        name = ascii_name(rec.fqdn) + "."
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<ChangeResourceRecordSetsRequest xmlns="%s">'
                "<ChangeBatch><Comment>ddns_agent</Comment><Changes><Change><Action>UPSERT</Action>"
                "<ResourceRecordSet><Name>%s</Name><Type>%s</Type><TTL>%d</TTL><ResourceRecords>"
                "<ResourceRecord><Value>%s</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"
                "</Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
                % (XMLNS, _escape(name), rec.type, ttl, _escape(address)))
        doc = self._call("POST", "/hostedzone/%s/rrset/" % _q(zone), body=body.encode("utf-8"),
                         known_zone=known_zone)
        if _first(doc, "ChangeInfo") is None or _first(doc, "Status") not in ("PENDING", "INSYNC"):
            raise UnconfirmedError("malformed answer from Route 53 to ChangeResourceRecordSets",
                                   provider=self.type)
        return Remote("%s/%d" % (zone, ttl), address, ttl)

    def _zone(self, domain: str) -> str:
        if self._fixed_zone:
            return self._fixed_zone
        zone = self._zone_ids.get(domain)
        if zone:
            return zone
        name = ascii_name(domain) + "."
        doc = self._call("GET", "/hostedzonesbyname", {"dnsname": name, "maxitems": 10})
        for item in _elements(doc, "HostedZone"):
            private = (_first(item, "PrivateZone") or "false").strip() == "true"
            if _unescape_name(_first(item, "Name") or "") == name and not private and _first(item, "Id"):
                self._zone_ids[domain] = _first(item, "Id").strip().rpartition("/")[2]
                return self._zone_ids[domain]
        raise RejectedError("public hosted zone %s not found with this AWS key" % domain, provider=self.type)

    def _call(self, method: str, path: str, query: dict | None = None, body: bytes | None = None,
              known_zone: bool = False) -> str:
        """One signed call; returns the XML text of a 2xx answer, else raises."""
        path = API + path
        qs = v4_query(query or {})
        payload = body or b""
        digest = hashlib.sha256(payload).hexdigest()
        signed = {"Host": self._host,
                  "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))}
        if body is not None:
            signed["Content-Type"] = "text/xml"
        sig = v4_sign("AWS4-HMAC-SHA256", "AWS4", "aws4_request", self._ak, self._sk, REGION, SERVICE, method,
                      path, qs, signed, digest)
        headers = dict(signed, Authorization=sig.authorization)
        resp = self.http.request(method, self.endpoint + path + ("?" + qs if qs else ""), headers, body)
        if 200 <= resp.status < 300:
            return resp.text
        code = (_first(resp.text, "Code") or "").strip()
        if not code and "<InvalidChangeBatch" in resp.text:  # its own root element, no <Code>
            code = "InvalidChangeBatch"
        if resp.status == 429 or resp.status >= 500 and not code:
            raise_for_status(resp, self.type)
        words = (_first(resp.text, "Message") or "").strip()
        for message in _elements(resp.text, "Messages"):  # InvalidChangeBatch lists its reasons
            words = "; ".join(m.strip() for m in _elements(message, "Message")) or words
        if self._sk:
            words = words.replace(self._sk, "***")
        what = ("%s %s" % (code or "HTTP %d" % resp.status, words[:300])).strip()
        kw = {"status": code or resp.status, "provider": self.type}
        if "expired" in words.lower() and code in AUTH_CODES + ("RequestExpired",):
            raise AuthError("Route 53 refused the request time (check the router's clock): %s" % what, **kw)
        if code in AUTH_CODES:
            raise AuthError("Route 53 refused access_key_id/secret_access_key: %s" % what, **kw)
        if code == "AccessDenied" or resp.status in (401, 403):
            raise AuthError("this AWS key may not do this (IAM policy?): %s" % what, **kw)
        if code in RATE_CODES:
            raise RateLimitedError("Route 53 asks to slow down: %s" % what, **kw)
        if code in ("InternalFailure", "ServiceUnavailable") or resp.status >= 500:
            raise TransientError("Route 53 failed: %s" % what, **kw)
        if known_zone and code == "NoSuchHostedZone":
            raise NotFoundError("Route 53 hosted zone is gone: %s" % what, **kw)
        raise RejectedError("Route 53 refused %s %s: %s" % (method, path.rsplit("/", 2)[-2], what), **kw)


def _elements(doc: str, name: str) -> list:
    """The inner text of every <name>...</name> in `doc` (not nested in itself)."""
    return re.findall(r"<%s(?:\s[^>]*)?>(.*?)</%s>" % (name, name), doc or "", re.S)


def _first(doc: str, name: str) -> str | None:
    found = _elements(doc, name)
    return found[0] if found else None


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _unescape_name(text: str) -> str:
    """A name as Route 53 lists it (lower case, octal escapes like \\052 for '*'), compared as we send it."""
    text = text.strip().replace("&amp;", "&").lower()
    return re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), text)


def _q(segment: str) -> str:
    """A path segment, escaped so an id can never change the path."""
    return quote(str(segment), safe="")
