"""Fake Huawei Cloud DNS (docs/providers/huaweicloud.md): SDK-HMAC-SHA256 checked like the API gateway.

Checks, in order:
- Authorization `SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<a;b>, Signature=<hex>` present and
  well-formed, signed headers including host and x-sdk-date (401 APIGW.0301 otherwise);
- the AK known (401 APIGW.0301), X-Sdk-Date `YYYYMMDDTHHMMSSZ` within 15 minutes of the fake's clock
  (401 APIGW.0303), the signature recomputed over the received method, path, query, signed headers
  and body (401 APIGW.0301);
- the route and its parameters, with the codes of the official error list (huaweicloudDocs/dns):
  zone and record set ids (404 DNS.0302 "This zone does not exist." / DNS.0313 "This record set does
  not exist."), a JSON body; on POST an absolute `name` inside the zone (400 DNS.0304), type A or
  AAAA (400 DNS.0307), on POST and PUT `records` of addresses of that type (400 DNS.0308), `ttl`
  1..2147483647 (400 DNS.0319), no second set of one name, type and line (400 DNS.0312 "This record
  set already exists."). PUT takes records, ttl (absent: kept), description, weight.
Answers: 200 lists, 202 with the record set for POST and PUT, errors {"code", "message"} from DNS
and {"error_code", "error_msg", "request_id"} from the gateway.
"""

from __future__ import annotations

import calendar
import ipaddress
import itertools
import json
import re
import time
from urllib.parse import parse_qsl, unquote, urlsplit

from ddns_agent.providers.huaweicloud import sdk_query, sdk_sign
from fakes import FakeRequest, FakeResponse, json_response, register_secret

MAX_SKEW_S = 900
AUTH = re.compile(r"^SDK-HMAC-SHA256 Access=([^,\s]+), SignedHeaders=([a-z0-9;-]+), "
                  r"Signature=([0-9a-f]{64})$")
MAX_TTL = 2147483647


def gateway(code: str, message: str, status: int = 401) -> FakeResponse:
    return json_response({"error_code": code, "error_msg": message,
                          "request_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}, status)


def dns_error(code: str, message: str, status: int = 400) -> FakeResponse:
    return json_response({"code": code, "message": message}, status)


class HuaweiCloudFake:
    """Zones and record sets in memory; `requests` every request, `writes` POST/PUT that landed."""

    def __init__(self, access_key: str, secret_key: str, zones: tuple = ("example.com",),
                 clock=time.time) -> None:
        self.access_key, self.secret_key = access_key, secret_key
        register_secret(secret_key, "Huawei Cloud SK")
        self.clock = clock
        self._ids = itertools.count(1)
        self.zones = {"ff8080825b8fc86c%016x" % next(self._ids): z + "." for z in zones}  # id -> name
        self.sets: dict = {}     # id -> {"zone_id", "name", "type", "ttl", "records", "line"}
        self.requests: list = []
        self.errors: list = []
        self.writes = 0

    def add(self, name: str, rtype: str, value: str, ttl: int = 300, line: str = "default_view",
            zone: str = "example.com") -> str:
        """Put a record set in place; returns its id."""
        zone_id = next(k for k, v in self.zones.items() if v == zone + ".")
        set_id = "2c9eb155587228570158%012x" % next(self._ids)
        self.sets[set_id] = {"zone_id": zone_id, "name": name + ".", "type": rtype, "ttl": ttl,
                             "records": [value], "line": line}
        return set_id

    def named(self, name: str, rtype: str) -> list:
        return [s for s in self.sets.values() if s["name"] == name + "." and s["type"] == rtype]

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        refused = self._authenticate(req)
        if refused is not None:
            return refused
        return self._route(req)

    def _authenticate(self, req: FakeRequest) -> FakeResponse | None:
        m = AUTH.match(req.headers.get("authorization", ""))
        if m is None:
            return gateway("APIGW.0301", "Incorrect IAM authentication information: "
                           "Authorization format error")
        access, signed_names, signature = m.groups()
        names = signed_names.split(";")
        if "host" not in names or "x-sdk-date" not in names or names != sorted(names):
            return gateway("APIGW.0301", "Incorrect IAM authentication information: SignedHeaders error")
        if access != self.access_key:
            return gateway("APIGW.0301", "Incorrect IAM authentication information: AK not found")
        date = req.headers.get("x-sdk-date", "")
        try:
            stamp = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return gateway("APIGW.0301", "Incorrect IAM authentication information: x-sdk-date format error")
        if abs(stamp - self.clock()) > MAX_SKEW_S:
            return gateway("APIGW.0303", "Incorrect IAM authentication information: request expired, "
                           "the signing time is out of the valid range")
        if any(n not in req.headers for n in names):
            return gateway("APIGW.0301", "Incorrect IAM authentication information: signed header missing")
        parts = urlsplit(req.path)
        query = sdk_query(dict(parse_qsl(parts.query, keep_blank_values=True)))
        expected = sdk_sign(access, self.secret_key, req.method, unquote(parts.path), query,
                            {n: req.headers[n] for n in names}, req.body).signature
        if expected != signature:
            return gateway("APIGW.0301", "Incorrect IAM authentication information: "
                           "verify aksk signature fail")
        return None

    def _route(self, req: FakeRequest) -> FakeResponse:
        route = req.route.rstrip("/")
        q = req.query
        if route == "/v2/zones" and req.method == "GET":
            zones = [{"id": i, "name": n, "zone_type": "public", "status": "ACTIVE", "ttl": 300}
                     for i, n in self.zones.items()
                     if not q.get("name") or (n == q["name"] if q.get("search_mode") == "equal"
                                              else q["name"].rstrip(".") in n)]
            return json_response({"zones": zones, "metadata": {"total_count": len(zones)},
                                  "links": {"self": "https://dns.myhuaweicloud.com/v2/zones"}})
        m = re.match(r"^/v2\.1/zones/([^/]+)/recordsets(?:/([^/]+))?$", route)
        if m is None:
            return dns_error("APIGW.0101", "The API does not exist or has not been published", 404)
        zone_id, set_id = m.group(1), m.group(2)
        if zone_id not in self.zones:
            return dns_error("DNS.0302", "This zone does not exist.", 404)
        if set_id is None and req.method == "GET":
            return self._list(zone_id, q)
        if set_id is None and req.method == "POST":
            return self._write(req, zone_id, None)
        if set_id is not None and req.method == "PUT":
            if set_id not in self.sets or self.sets[set_id]["zone_id"] != zone_id:
                return dns_error("DNS.0313", "This record set does not exist.", 404)
            return self._write(req, zone_id, set_id)
        return dns_error("DNS.0002", "Invalid request.", 400)

    def _list(self, zone_id: str, q: dict) -> FakeResponse:
        try:
            limit, offset = int(q.get("limit", "500")), int(q.get("offset", "0"))
        except ValueError:
            return dns_error("DNS.0006", "The limit parameter is invalid.")
        if not 0 <= limit <= 500:
            return dns_error("DNS.0006", "The limit parameter is invalid.")
        found = []
        for i, s in sorted(self.sets.items()):
            if s["zone_id"] != zone_id or (q.get("type") and s["type"] != q["type"]):
                continue
            if q.get("name") and not (s["name"] == q["name"] if q.get("search_mode") == "equal"
                                      else q["name"].rstrip(".") in s["name"]):  # default: fuzzy
                continue
            found.append(self._shape(i))
        return json_response({"recordsets": found[offset:offset + limit],
                              "metadata": {"total_count": len(found)}, "links": {"self": "…"}})

    def _write(self, req: FakeRequest, zone_id: str, set_id: str | None) -> FakeResponse:
        try:
            body = json.loads(req.body.decode("utf-8"))
        except ValueError:
            return dns_error("DNS.0002", "Invalid request.")
        if not isinstance(body, dict):
            return dns_error("DNS.0002", "Invalid request.")
        held = self.sets.get(set_id) if set_id else None
        name = body.get("name", held["name"] if held else None)
        rtype = body.get("type", held["type"] if held else None)
        if rtype not in ("A", "AAAA"):
            return dns_error("DNS.0307", "Invalid record set type.")
        zone = self.zones[zone_id]
        if not isinstance(name, str) or not name.lower().endswith(".") or \
                not (name.lower() == zone or name.lower().endswith("." + zone)):
            return dns_error("DNS.0304", "Invalid record set name.")
        name = name.lower()
        if not isinstance(body.get("records"), list):
            return dns_error("DNS.0308", "Invalid record set value.")
        version = 6 if rtype == "AAAA" else 4
        try:
            versions = {ipaddress.ip_address(v).version for v in body["records"]}
            if versions != {version}:
                raise ValueError
        except (ValueError, TypeError):
            return dns_error("DNS.0308", "Invalid record set value.")
        ttl = body.get("ttl")
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= MAX_TTL):
            return dns_error("DNS.0319", "The TTL parameter has been out of range. The value ranges from 1 "
                             "to %d." % MAX_TTL)
        if set_id is None:
            if any(s["zone_id"] == zone_id and s["name"] == name and s["type"] == rtype
                   and s["line"] == "default_view" for s in self.sets.values()):
                return dns_error("DNS.0312", "This record set already exists.")
            set_id = "2c9eb155587228570158%012x" % next(self._ids)
            self.sets[set_id] = {"zone_id": zone_id, "name": name, "type": rtype, "ttl": ttl or 300,
                                 "records": list(body["records"]), "line": "default_view"}
        else:
            if (name, rtype) != (held["name"], held["type"]):
                return dns_error("DNS.0304", "Invalid record set name.")
            held["records"] = list(body["records"])
            if ttl is not None:
                held["ttl"] = ttl
        self.writes += 1
        out = self._shape(set_id)
        out["status"] = "PENDING_UPDATE" if req.method == "PUT" else "PENDING_CREATE"
        return json_response(out, 202)

    def _shape(self, set_id: str) -> dict:
        s = self.sets[set_id]
        return {"id": set_id, "name": s["name"], "type": s["type"], "ttl": s["ttl"], "records": s["records"],
                "zone_id": s["zone_id"], "zone_name": self.zones[s["zone_id"]], "line": s["line"],
                "status": "ACTIVE", "default": False}
