"""Fake Volcengine DNS (TrafficRoute 2018-08-01, docs/providers/volcengine.md), signature checked.

Checks, in order, answering {"ResponseMetadata": {..., "Error": {"Code", "Message"}}} with the HTTP
status the gateway uses:
- `Action` and `Version` in the query (400 MissingParameter; unknown 404 InvalidActionOrVersion);
- Authorization `HMAC-SHA256 Credential=<AK>/<YYYYMMDD>/cn-north-1/DNS/request, SignedHeaders=..,
  Signature=<hex>` with host and x-date signed (401 InvalidAuthorization), the AK known (401
  InvalidAccessKey), X-Date within 15 minutes of the fake's clock (401 InvalidTimestamp), the
  signature recomputed over what arrived, body included (401 SignatureDoesNotMatch);
- GET for List*, POST with a JSON body for Create/Update (400 InvalidParameter), required parameters
  (400 MissingParameter), types and values (400 InvalidParameter), TTL 1..86400 (400 InvalidParameter),
  zone and record ids (404 ZoneNotFound / RecordNotFound), one record per host, type, line and value
  (400 RecordDuplicate).
"""

from __future__ import annotations

import calendar
import hashlib
import ipaddress
import itertools
import json
import re
import time
from urllib.parse import parse_qsl, urlsplit

from ddns_agent.providers.signing import v4_query, v4_sign
from fakes import FakeRequest, FakeResponse, json_response, register_secret

MAX_SKEW_S = 900
AUTH = re.compile(r"^HMAC-SHA256 Credential=([^/\s]+)/(\d{8})/([^/]+)/([^/]+)/request, "
                  r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")
ACTIONS = {"ListZones": "GET", "ListRecords": "GET", "CreateRecord": "POST", "UpdateRecord": "POST"}


class VolcengineFake:
    """Zones and records in memory; `requests` every request, `actions` the accepted ones, `writes`."""

    def __init__(self, access_key: str, secret_key: str, zones: tuple = ("example.com",),
                 clock=time.time) -> None:
        self.access_key, self.secret_key = access_key, secret_key
        register_secret(secret_key, "Volcengine SecretAccessKey")
        self.clock = clock
        self._ids = itertools.count(1)
        self.zones = {4000 + next(self._ids): z for z in zones}  # ZID -> name
        self.records: dict = {}   # RecordID -> {"ZID", "Host", "Type", "Value", "TTL", "Line"}
        self.requests: list = []
        self.actions: list = []
        self.errors: list = []
        self.writes = 0

    def add(self, host: str, rtype: str, value: str, ttl: int = 600, line: str = "default",
            zone: str = "example.com") -> str:
        zid = next(k for k, v in self.zones.items() if v == zone)
        record_id = "70%010d" % next(self._ids)
        self.records[record_id] = {"ZID": zid, "Host": host, "Type": rtype, "Value": value, "TTL": ttl,
                                   "Line": line}
        return record_id

    def named(self, host: str, rtype: str) -> list:
        return [r for r in self.records.values() if r["Host"] == host and r["Type"] == rtype]

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        q = req.query
        action, version = q.get("Action"), q.get("Version")
        if not action or not version:
            return self._error(action, "MissingParameter", "Action and Version are required", 400)
        if action not in ACTIONS or version != "2018-08-01":
            return self._error(action, "InvalidActionOrVersion", "Could not find operation %s for version %s"
                               % (action, version), 404)
        refused = self._authenticate(req, action)
        if refused is not None:
            return refused
        if req.method != ACTIONS[action]:
            return self._error(action, "InvalidParameter", "%s takes %s" % (action, ACTIONS[action]), 400)
        if req.method == "POST":
            try:
                params = json.loads(req.body.decode("utf-8"))
                if not isinstance(params, dict):
                    raise ValueError
            except ValueError:
                return self._error(action, "InvalidParameter", "the body is not a JSON object", 400)
        else:
            params = {k: v for k, v in q.items() if k not in ("Action", "Version")}
        self.actions.append(action)
        return getattr(self, "_" + action)(action, params)

    def _authenticate(self, req: FakeRequest, action: str) -> FakeResponse | None:
        m = AUTH.match(req.headers.get("authorization", ""))
        if m is None:
            return self._error(action, "InvalidAuthorization", "the Authorization header is malformed", 401)
        access, day, region, service, signed_names, signature = m.groups()
        names = signed_names.split(";")
        if "host" not in names or "x-date" not in names or names != sorted(names) or \
                any(n not in req.headers for n in names):
            return self._error(action, "InvalidAuthorization", "host and x-date must be signed", 401)
        if access != self.access_key:
            return self._error(action, "InvalidAccessKey", "the AccessKeyId is not found", 401)
        date = req.headers["x-date"]
        try:
            stamp = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return self._error(action, "InvalidTimestamp", "X-Date is malformed", 401)
        if abs(stamp - self.clock()) > MAX_SKEW_S or day != date[:8]:
            return self._error(action, "InvalidTimestamp", "the request has expired", 401)
        parts = urlsplit(req.path)
        payload_hash = hashlib.sha256(req.body).hexdigest()
        if "x-content-sha256" in req.headers and req.headers["x-content-sha256"] != payload_hash:
            return self._error(action, "SignatureDoesNotMatch", "X-Content-Sha256 does not match the body",
                               401)
        expected = v4_sign("HMAC-SHA256", "", "request", access, self.secret_key, "cn-north-1", "DNS",
                           req.method, parts.path or "/", v4_query(dict(parse_qsl(parts.query))),
                           {n: req.headers[n] for n in names}, payload_hash).signature
        if (region, service) != ("cn-north-1", "DNS") or expected != signature:
            return self._error(action, "SignatureDoesNotMatch", "The request signature we calculated does "
                               "not match the signature you provided", 401)
        return None

    def _ok(self, action: str, result: dict) -> FakeResponse:
        return json_response({"ResponseMetadata": self._meta(action), "Result": result})

    def _meta(self, action) -> dict:
        return {"RequestId": "20261207160000%012d" % len(self.requests), "Action": action or "",
                "Version": "2018-08-01", "Service": "DNS", "Region": "cn-north-1"}

    def _error(self, action, code: str, message: str, status: int) -> FakeResponse:
        meta = self._meta(action)
        meta["Error"] = {"CodeN": 100000 + status, "Code": code, "Message": message}
        return json_response({"ResponseMetadata": meta}, status)

    def _ListZones(self, action: str, p: dict) -> FakeResponse:
        key = p.get("Key", "")
        zones = [{"ZID": z, "ZoneName": n, "RecordCount": sum(r["ZID"] == z for r in self.records.values())}
                 for z, n in self.zones.items()
                 if not key or (n == key if p.get("SearchMode") == "exact" else key in n)]
        return self._ok(action, {"Zones": zones, "Total": len(zones)})

    def _ListRecords(self, action: str, p: dict) -> FakeResponse:
        if "ZID" not in p:
            return self._error(action, "MissingParameter", "ZID is required", 400)
        if not p["ZID"].isdigit() or int(p["ZID"]) not in self.zones:
            return self._error(action, "ZoneNotFound", "the zone does not exist", 404)
        size, number = int(p.get("PageSize", "20")), int(p.get("PageNumber", "1"))
        if not 1 <= size <= 500:
            return self._error(action, "InvalidParameter", "PageSize must be 1-500", 400)
        found = [dict(r, RecordID=i) for i, r in sorted(self.records.items()) if r["ZID"] == int(p["ZID"])
                 and (not p.get("Type") or r["Type"] == p["Type"])
                 and (not p.get("Host") or (r["Host"] == p["Host"] if p.get("SearchMode") == "exact"
                                            else p["Host"] in r["Host"]))]
        page = found[(number - 1) * size:number * size]
        return self._ok(action, {"Records": page, "TotalCount": len(found), "PageNumber": number,
                                 "PageSize": size})

    def _check_record(self, action: str, p: dict, required: tuple) -> FakeResponse | None:
        missing = [k for k in required if k not in p]
        if missing:
            return self._error(action, "MissingParameter", "%s is required" % missing[0], 400)
        if p.get("Type", "A") not in ("A", "AAAA") or not isinstance(p.get("Host", ""), str):
            return self._error(action, "InvalidParameter", "Type or Host is invalid", 400)
        try:
            version = ipaddress.ip_address(p.get("Value", "")).version
        except ValueError:
            return self._error(action, "InvalidParameter", "Value is not an address", 400)
        if "Type" in p and version != (6 if p["Type"] == "AAAA" else 4):
            return self._error(action, "InvalidParameter", "Value does not fit the record type", 400)
        ttl = p.get("TTL")
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= 86400):
            return self._error(action, "InvalidParameter", "TTL must be 1-86400", 400)
        return None

    def _CreateRecord(self, action: str, p: dict) -> FakeResponse:
        bad = self._check_record(action, p, ("ZID", "Host", "Type", "Value"))
        if bad is not None:
            return bad
        if not isinstance(p["ZID"], int) or p["ZID"] not in self.zones:
            return self._error(action, "ZoneNotFound", "the zone does not exist", 404)
        line = p.get("Line", "default")
        same = (p["ZID"], p["Host"], p["Type"], line, p["Value"])
        held = [(r["ZID"], r["Host"], r["Type"], r["Line"], r["Value"]) for r in self.records.values()]
        if same in held:
            return self._error(action, "RecordDuplicate", "the record already exists", 400)
        record_id = "70%010d" % next(self._ids)
        self.records[record_id] = {"ZID": p["ZID"], "Host": p["Host"], "Type": p["Type"], "Value": p["Value"],
                                   "TTL": p.get("TTL", 600), "Line": line}
        self.writes += 1
        return self._ok(action, {"RecordID": record_id, "Status": True})

    def _UpdateRecord(self, action: str, p: dict) -> FakeResponse:
        bad = self._check_record(action, p, ("RecordID", "Host", "Value"))
        if bad is not None:
            return bad
        held = self.records.get(str(p["RecordID"]))
        if held is None:
            return self._error(action, "RecordNotFound", "the record does not exist", 404)
        if p.get("Type", held["Type"]) != held["Type"] or p["Host"] != held["Host"]:
            return self._error(action, "InvalidParameter", "Host and Type of a record cannot change here",
                               400)
        held["Value"] = p["Value"]
        if "TTL" in p:
            held["TTL"] = p["TTL"]
        if "Line" in p:
            held["Line"] = p["Line"]
        self.writes += 1
        return self._ok(action, dict(held, RecordID=str(p["RecordID"])))
