"""Fake Amazon Route 53 (REST/XML 2013-04-01, docs/providers/route53.md) with SigV4 checked.

Checks, in order, answering <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>
</ErrorResponse>:
- Authorization `AWS4-HMAC-SHA256 Credential=<AK>/<YYYYMMDD>/us-east-1/route53/aws4_request,
  SignedHeaders=..., Signature=<hex>` (403 MissingAuthenticationToken / IncompleteSignature), host and
  x-amz-date signed; the AK known (403 InvalidClientTokenId); X-Amz-Date within 5 minutes
  (403 SignatureDoesNotMatch "Signature expired"); the signature over what arrived (403
  SignatureDoesNotMatch);
- routes: ListHostedZones, ListHostedZonesByName, GetHostedZone, ListResourceRecordSets (listing
  starts at name/type, in DNS order, so other names follow), ChangeResourceRecordSets (404
  NoSuchHostedZone; 400 InvalidInput for XML it cannot read; 400 InvalidChangeBatch for a missing or
  out-of-range TTL, values that do not fit the type, names outside the zone, CREATE of an existing set
  or DELETE of a missing one).
"""

from __future__ import annotations

import calendar
import hashlib
import ipaddress
import itertools
import re
import time
from urllib.parse import parse_qsl, urlsplit

from ddns_agent.providers.signing import v4_query, v4_sign
from fakes import FakeRequest, FakeResponse, register_secret

MAX_SKEW_S = 300
NS = "https://route53.amazonaws.com/doc/2013-04-01/"
AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                  r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")
MAX_TTL = 2147483647


def xml(body: str, status: int = 200) -> FakeResponse:
    return FakeResponse(status, {"Content-Type": "text/xml"},
                        ('<?xml version="1.0"?>\n' + body).encode("utf-8"))


def error(code: str, message: str, status: int, kind: str = "Sender") -> FakeResponse:
    return xml('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>'
               "<RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>"
               % (NS, kind, code, message), status)


def change_batch_error(messages: list) -> FakeResponse:
    return xml('<InvalidChangeBatch xmlns="%s"><Messages>%s</Messages>'
               "<RequestId>b25f48e8-84fd-11e6-80d9-574e0c4664cb</RequestId></InvalidChangeBatch>"
               % (NS, "".join("<Message>%s</Message>" % m for m in messages)), 400)


def _tag(doc: str, name: str) -> list:
    return re.findall(r"<%s(?:\s[^>]*)?>(.*?)</%s>" % (name, name), doc, re.S)


class Route53Fake:
    """Hosted zones and record sets in memory: sets[(zone id, name, type)] = {"ttl", "values"}."""

    def __init__(self, access_key: str, secret_key: str, zones: tuple = ("example.com",),
                 clock=time.time) -> None:
        self.access_key, self.secret_key = access_key, secret_key
        register_secret(secret_key, "AWS secret access key")
        self.clock = clock
        ids = itertools.count(1)
        self.zones = {"Z%013dEXAMPLE" % next(ids): z + "." for z in zones}
        self.sets: dict = {}
        self.requests: list = []
        self.changes: list = []   # (action, name, type, ttl, values) applied
        self.errors: list = []

    def add(self, name: str, rtype: str, value: str, ttl: int = 300, zone: str = "example.com") -> None:
        zid = next(k for k, v in self.zones.items() if v == zone + ".")
        self.sets[(zid, name + ".", rtype)] = {"ttl": ttl, "values": [value]}

    def held(self, name: str, rtype: str) -> dict | None:
        return next((s for (z, n, t), s in self.sets.items() if n == name + "." and t == rtype), None)

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        refused = self._authenticate(req)
        if refused is not None:
            return refused
        route, q = req.route, req.query
        if route == "/2013-04-01/hostedzone" and req.method == "GET":
            return self._zones(list(self.zones.items()), "ListHostedZonesResponse")
        if route == "/2013-04-01/hostedzonesbyname" and req.method == "GET":
            name = q.get("dnsname", "").lower()
            name = name if not name or name.endswith(".") else name + "."
            found = sorted((i, n) for i, n in self.zones.items() if not name or n >= name)
            return self._zones(found[:int(q.get("maxitems", "100"))], "ListHostedZonesByNameResponse")
        m = re.match(r"^/2013-04-01/hostedzone/([^/]+)(/rrset/?)?$", route)
        if m is None:
            return error("InvalidInput", "Unknown resource %s" % route, 404)
        zid = m.group(1)
        if zid not in self.zones:
            return error("NoSuchHostedZone", "No hosted zone found with ID: %s" % zid, 404)
        if m.group(2) is None and req.method == "GET":
            return xml('<GetHostedZoneResponse xmlns="%s"><HostedZone><Id>/hostedzone/%s</Id><Name>%s</Name>'
                       "<Config><PrivateZone>false</PrivateZone></Config></HostedZone></GetHostedZoneResponse>"
                       % (NS, zid, self.zones[zid]))
        if m.group(2) and req.method == "GET":
            return self._list(zid, q)
        if m.group(2) and req.method == "POST":
            return self._change(zid, req.body.decode("utf-8", "replace"))
        return error("InvalidInput", "Unsupported method", 405)

    def _authenticate(self, req: FakeRequest) -> FakeResponse | None:
        auth = req.headers.get("authorization")
        if not auth:
            return error("MissingAuthenticationToken", "Missing Authentication Token", 403)
        m = AUTH.match(auth)
        if m is None:
            return error("IncompleteSignature", "Authorization header requires Credential, SignedHeaders "
                         "and Signature", 403)
        access, day, region, service, signed_names, signature = m.groups()
        names = signed_names.split(";")
        if "host" not in names or "x-amz-date" not in names or any(n not in req.headers for n in names):
            return error("IncompleteSignature", "host and x-amz-date must be signed", 403)
        if access != self.access_key:
            return error("InvalidClientTokenId", "The security token included in the request is invalid.",
                         403)
        date = req.headers["x-amz-date"]
        try:
            stamp = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return error("IncompleteSignature", "X-Amz-Date is malformed", 403)
        if abs(stamp - self.clock()) > MAX_SKEW_S:
            return error("SignatureDoesNotMatch", "Signature expired: %s is now earlier than %s (%s - 5 min.)"
                         % (date, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock() - MAX_SKEW_S)),
                            time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))), 403)
        parts = urlsplit(req.path)
        expected = v4_sign("AWS4-HMAC-SHA256", "AWS4", "aws4_request", access, self.secret_key, "us-east-1",
                           "route53", req.method, parts.path, v4_query(dict(parse_qsl(parts.query))),
                           {n: req.headers[n] for n in names}, hashlib.sha256(req.body).hexdigest()).signature
        if (day, region, service) != (date[:8], "us-east-1", "route53") or expected != signature:
            return error("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                         "signature you provided. Check your AWS Secret Access Key and signing method.", 403)
        return None

    def _zones(self, zones: list, root: str) -> FakeResponse:
        items = "".join("<HostedZone><Id>/hostedzone/%s</Id><Name>%s</Name><CallerReference>ref-%s"
                        "</CallerReference><Config><PrivateZone>false</PrivateZone></Config>"
                        "<ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>" % (i, n, i)
                        for i, n in zones)
        return xml('<%s xmlns="%s"><HostedZones>%s</HostedZones><IsTruncated>false</IsTruncated>'
                   "<MaxItems>100</MaxItems></%s>" % (root, NS, items, root))

    def _list(self, zid: str, q: dict) -> FakeResponse:
        if "type" in q and "name" not in q:
            return error("InvalidInput", "The type parameter needs the name parameter", 400)
        start = (_order(q.get("name", "")), q.get("type", ""))
        found = sorted(((_order(n), t), n, t) for (z, n, t) in self.sets if z == zid)
        found = [(n, t) for key, n, t in found if key >= start]
        limit = int(q.get("maxitems", "300"))
        items = "".join("<ResourceRecordSet><Name>%s</Name><Type>%s</Type><TTL>%d</TTL><ResourceRecords>%s"
                        "</ResourceRecords></ResourceRecordSet>"
                        % (n, t, self.sets[(zid, n, t)]["ttl"], "".join(
                            "<ResourceRecord><Value>%s</Value></ResourceRecord>" % v
                            for v in self.sets[(zid, n, t)]["values"])) for n, t in found[:limit])
        return xml('<ListResourceRecordSetsResponse xmlns="%s"><ResourceRecordSets>%s</ResourceRecordSets>'
                   "<IsTruncated>%s</IsTruncated><MaxItems>%d</MaxItems></ListResourceRecordSetsResponse>"
                   % (NS, items, "true" if len(found) > limit else "false", limit))

    def _change(self, zid: str, body: str) -> FakeResponse:
        if "<ChangeResourceRecordSetsRequest" not in body or not _tag(body, "Change"):
            return error("InvalidInput", "Invalid XML ; cvc-elt.1: Cannot find the declaration of element",
                         400)
        problems, planned = [], []
        for change in _tag(body, "Change"):
            action = (_tag(change, "Action") or [""])[0]
            name = (_tag(change, "Name") or [""])[0].lower()
            name = name if name.endswith(".") else name + "."
            rtype = (_tag(change, "Type") or [""])[0]
            ttl = (_tag(change, "TTL") or [None])[0]
            values = [v.strip() for v in _tag(change, "Value")]
            zone = self.zones[zid]
            if action not in ("CREATE", "DELETE", "UPSERT") or rtype not in ("A", "AAAA"):
                return error("InvalidInput", "Invalid request: Action or Type", 400)
            if not (name == zone or name.endswith("." + zone)):
                problems.append("RRSet with DNS name %s is not permitted in zone %s" % (name, zone))
            if ttl is None or not ttl.isdigit() or int(ttl) > MAX_TTL:
                problems.append("Invalid Resource Record: FATAL problem: TTL missing or out of range")
            for v in values:
                try:
                    ok = ipaddress.ip_address(v).version == (6 if rtype == "AAAA" else 4)
                except ValueError:
                    ok = False
                if not ok:
                    problems.append("Invalid Resource Record: FATAL problem: ARRDATAIllegalIPv%s (Value is "
                                    "not a valid IPv%s address) encountered with '%s'"
                                    % ("6" if rtype == "AAAA" else "4", "6" if rtype == "AAAA" else "4", v))
            if not values:
                problems.append("Invalid Resource Record: FATAL problem: no ResourceRecords")
            exists = (zid, name, rtype) in self.sets
            if action == "CREATE" and exists:
                problems.append("Tried to create resource record set [name='%s', type='%s'] but it already "
                                "exists" % (name, rtype))
            if action == "DELETE" and not exists:
                problems.append("Tried to delete resource record set [name='%s', type='%s'] but it was not "
                                "found" % (name, rtype))
            planned.append((action, name, rtype, int(ttl) if ttl and ttl.isdigit() else 0, values))
        if problems:
            return change_batch_error(problems)
        for action, name, rtype, ttl, values in planned:  # all or nothing, as Route 53 does
            if action == "DELETE":
                del self.sets[(zid, name, rtype)]
            else:
                self.sets[(zid, name, rtype)] = {"ttl": ttl, "values": values}
            self.changes.append((action, name, rtype, ttl, values))
        return xml('<ChangeResourceRecordSetsResponse xmlns="%s"><ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id>'
                   "<Status>PENDING</Status><SubmittedAt>2026-12-07T16:00:00.000Z</SubmittedAt>"
                   "<Comment>ddns_agent</Comment></ChangeInfo></ChangeResourceRecordSetsResponse>" % NS)


def _order(name: str) -> tuple:
    """DNS order as Route 53 lists: labels compared right to left."""
    return tuple(reversed(name.lower().rstrip(".").split("."))) if name else ()
