"""Fake Cloudflare API v4 (specs/providers.md §4, §10): checks what the real one checks, same envelope.

Routes under /client/v4: GET /zones[?name=], GET /zones/{id}, GET/POST /zones/{id}/dns_records,
PATCH, PUT and DELETE /zones/{id}/dns_records/{rid} (DELETE answers {"id"}).
Auth: `Authorization: Bearer <token>`; none -> 400 code 9106, a wrong one -> 403 code 10000.
Unknown zone id -> 400 codes 7003 + 7000.
Records: type A/AAAA (else 1004), content an address of that family (9005), ttl 1 or 60-86400
(9021), proxied a boolean (9003), name inside the zone (1004), a JSON body (9207); an identical
record answers 81057 on create, 81058 on PATCH/PUT; an unknown record id 81044 (404). PATCH keeps
what the body leaves out; PUT ("Overwrite DNS Record", used by inadyn and ddns) replaces the record:
type, name and content are required as on create, ttl and proxied fall back to their defaults.
"""

from __future__ import annotations

import ipaddress
import uuid

from fakes import FakeRequest, FakeResponse, json_response, register_secret

PREFIX = "/client/v4"


def envelope(result=None, errors=(), status: int = 200, result_info: dict | None = None) -> FakeResponse:
    """The documented answer shape: success, errors [{code, message}], messages, result."""
    body = {"success": not errors, "errors": [{"code": c, "message": m} for c, m in errors],
            "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return json_response(body, status)


class CloudflareFake:
    """Zones and DNS records in memory; counts requests and writes.

    `max_per_page` caps per_page so paging can be tested; `ignore_name_filter` makes the list
    return every name, as a list without an exact filter may (specs §10).
    """

    def __init__(self, token: str, zones: dict | None = None) -> None:
        self.token = token
        register_secret(token, "Cloudflare api_token")
        self.zones = {}  # zone id -> name
        for name, zone_id in (zones or {"example.com": uuid.uuid4().hex}).items():
            self.zones[zone_id] = name
        self.records: dict = {}  # record id -> record dict
        self.requests: list = []
        self.writes = 0
        self.noop_writes = 0  # PATCHes that changed nothing
        self.max_per_page = 100
        self.ignore_name_filter = False
        self.errors: list = []

    def zone_id(self, name: str) -> str:
        """The id of the zone called `name`."""
        return next(zid for zid, zname in self.zones.items() if zname == name)

    def add(self, zone: str, name: str, type: str, content: str, ttl: int = 1, proxied: bool = False) -> dict:
        """Put a record in place, as if made elsewhere; returns it."""
        zone_id = self.zone_id(zone)
        rec = {"id": uuid.uuid4().hex, "zone_id": zone_id, "zone_name": zone, "name": name, "type": type,
               "content": content, "proxiable": True, "proxied": proxied, "ttl": ttl, "locked": False,
               "comment": None, "tags": [], "created_on": "2024-01-01T00:00:00Z",
               "modified_on": "2024-01-01T00:00:00Z", "meta": {}}
        self.records[rec["id"]] = rec
        return rec

    def find(self, name: str, type: str = "A") -> list:
        """Records with this name and type."""
        return [r for r in self.records.values() if r["name"] == name and r["type"] == type]

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        auth = req.headers.get("authorization")
        if not auth:
            return envelope(errors=[(9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")],
                            status=400)
        if auth != "Bearer " + self.token:
            return envelope(errors=[(10000, "Authentication error")], status=403)
        if not req.route.startswith(PREFIX + "/"):
            return _no_route()
        parts = req.route[len(PREFIX) + 1:].rstrip("/").split("/")
        if parts[0] != "zones":
            return _no_route()
        if len(parts) == 1:
            return self._zones(req) if req.method == "GET" else _no_route()
        if parts[1] not in self.zones:
            return envelope(errors=[(7003, "Could not route to %s, perhaps your object identifier is invalid?"
                                     % req.route), (7000, "No route for that URI")], status=400)
        zone_id = parts[1]
        if len(parts) == 2 and req.method == "GET":
            return envelope({"id": zone_id, "name": self.zones[zone_id], "status": "active"})
        if len(parts) == 3 and parts[2] == "dns_records":
            if req.method == "GET":
                return self._list(req, zone_id)
            if req.method == "POST":
                return self._create(req, zone_id)
        if len(parts) == 4 and parts[2] == "dns_records" and req.method in ("PATCH", "PUT"):
            return self._patch(req, zone_id, parts[3])
        if len(parts) == 4 and parts[2] == "dns_records" and req.method == "DELETE":
            old = self.records.get(parts[3])
            if old is None or old["zone_id"] != zone_id:
                return envelope(errors=[(81044, "Record does not exist.")], status=404)
            self.writes += 1
            del self.records[parts[3]]
            return envelope({"id": parts[3]})
        return _no_route()

    def _zones(self, req: FakeRequest) -> FakeResponse:
        name = req.query.get("name")
        zones = [{"id": zid, "name": zname, "status": "active"} for zid, zname in self.zones.items()
                 if name is None or zname == name]
        return envelope(zones, result_info={"page": 1, "per_page": 20, "count": len(zones),
                                            "total_count": len(zones), "total_pages": 1})

    def _list(self, req: FakeRequest, zone_id: str) -> FakeResponse:
        query = req.query
        name = query.get("name.exact", query.get("name"))
        found = [r for r in self.records.values() if r["zone_id"] == zone_id
                 and query.get("type", r["type"]) == r["type"]
                 and (self.ignore_name_filter or name is None or r["name"] == name)]
        try:
            page = int(query.get("page", 1))
            per_page = min(int(query.get("per_page", 100)), self.max_per_page)
        except ValueError:
            return envelope(errors=[(1004, "DNS Validation Error")], status=400)
        pages = max(1, -(-len(found) // per_page))
        chunk = found[(page - 1) * per_page:page * per_page]
        return envelope(chunk, result_info={"page": page, "per_page": per_page, "count": len(chunk),
                                            "total_count": len(found), "total_pages": pages})

    def _body(self, req: FakeRequest):
        if not req.headers.get("content-type", "").startswith("application/json"):
            return None, envelope(errors=[(9207, "Request body is invalid.")], status=400)
        try:
            body = req.json()
        except ValueError:
            return None, envelope(errors=[(9207, "Request body is invalid.")], status=400)
        if not isinstance(body, dict):
            return None, envelope(errors=[(9207, "Request body is invalid.")], status=400)
        return body, None

    def _check(self, rec: dict) -> FakeResponse | None:
        """Validate a full record as Cloudflare does; None when valid."""
        if rec.get("type") not in ("A", "AAAA"):
            return envelope(errors=[(1004, "DNS Validation Error")], status=400)
        content = rec.get("content")
        try:
            if not isinstance(content, str):
                raise ValueError(content)
            ip = ipaddress.ip_address(content)
            if ip.version != (4 if rec["type"] == "A" else 6):
                raise ValueError(content)
        except ValueError:
            family = "IPv4" if rec["type"] == "A" else "IPv6"
            return envelope(errors=[(9005, "Content for %s record is invalid. Must be a valid %s address"
                                     % (rec["type"], family))], status=400)
        ttl = rec.get("ttl")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not (ttl == 1 or 60 <= ttl <= 86400):
            return envelope(errors=[(9021, "Invalid TTL. Must be between 60 and 86400 seconds, "
                                     "or 1 for Automatic.")], status=400)
        if not isinstance(rec.get("proxied"), bool):
            return envelope(errors=[(9003, "Invalid 'proxied' value, must be a boolean")], status=400)
        if not isinstance(rec.get("name"), str) or not (
                rec["name"] == rec["zone_name"] or rec["name"].endswith("." + rec["zone_name"])):
            return envelope(errors=[(1004, "DNS Validation Error")], status=400)
        return None

    def _duplicate(self, rec: dict) -> bool:
        return any(r["id"] != rec.get("id") and r["zone_id"] == rec["zone_id"] and r["name"] == rec["name"]
                   and r["type"] == rec["type"] and r["content"] == rec["content"]
                   for r in self.records.values())

    def _create(self, req: FakeRequest, zone_id: str) -> FakeResponse:
        body, error = self._body(req)
        if error:
            return error
        rec = {"zone_id": zone_id, "zone_name": self.zones[zone_id], "ttl": 1, "proxied": False}
        rec.update(body)
        rec["name"] = str(rec.get("name", "")).lower()
        error = self._check(rec)
        if error:
            return error
        if self._duplicate(rec):
            return envelope(errors=[(81057, "Record already exists.")], status=400)
        self.writes += 1
        made = self.add(rec["zone_name"], rec["name"], rec["type"], rec["content"], rec["ttl"],
                        rec["proxied"])
        return envelope(made)

    def _patch(self, req: FakeRequest, zone_id: str, record_id: str) -> FakeResponse:
        old = self.records.get(record_id)
        if old is None or old["zone_id"] != zone_id:
            return envelope(errors=[(81044, "Record does not exist.")], status=404)
        body, error = self._body(req)
        if error:
            return error
        if req.method == "PUT":  # overwrite: what the body leaves out takes its default
            rec = {k: v for k, v in old.items() if k not in ("name", "type", "content")}
            rec.update(ttl=1, proxied=False, comment=None, tags=[])
            rec.update(body)
            rec["name"] = str(rec.get("name", "")).lower()
        else:
            rec = dict(old)
            rec.update(body)  # PATCH keeps what the body leaves out (specs §10)
        error = self._check(rec)
        if error:
            return error
        if self._duplicate(rec):
            return envelope(errors=[(81058, "An identical record already exists.")], status=400)
        self.writes += 1
        if all(old.get(k) == rec.get(k) for k in body):
            self.noop_writes += 1
        rec["modified_on"] = "2024-01-02T00:00:00Z"
        self.records[record_id] = rec
        return envelope(rec)


def _no_route() -> FakeResponse:
    return envelope(errors=[(7000, "No route for that URI")], status=400)
