"""Fake Hetzner Cloud API, DNS part: zones and RRSets (docs/providers/hetzner.md).

Routes under /v1: GET /zones, GET /zones/{id_or_name}/rrsets/{name}/{type}, POST /zones/{z}/rrsets,
POST .../rrsets/{name}/{type}/actions/set_records and .../actions/change_ttl. Auth
`Authorization: Bearer <token>`: none or wrong -> 401 unauthorized; a read-only token writing ->
403 token_readonly. Errors are {"error": {"code", "message", "details"}}. RRSet names are lower case,
relative, '@' for the apex; TTL 60 to 2147483647 or null (the zone's default).
"""

from __future__ import annotations

import ipaddress

from fakes import FakeRequest, FakeResponse, json_response, register_secret

PREFIX = "/v1"
MAX_TTL = 2147483647


def error(status: int, code: str, message: str, details: dict | None = None) -> FakeResponse:
    """The documented error shape."""
    return json_response({"error": {"code": code, "message": message, "details": details or {}}}, status)


class HetznerFake:
    """Zones and RRSets in memory; counts requests and writes."""

    def __init__(self, token: str, zones: tuple = ("example.com",), read_only_token: str = "") -> None:
        self.token = token
        self.read_only_token = read_only_token
        register_secret(token, "Hetzner api_token")
        register_secret(read_only_token, "Hetzner read-only api_token")
        self.zones = {name: 4711 + i for i, name in enumerate(zones)}  # name -> id
        self.rrsets: dict = {}  # (zone, name, type) -> rrset dict
        self.requests: list = []
        self.writes = 0
        self.errors: list = []
        self._action_id = 100

    def add(self, zone: str, name: str, type: str, *values: str, ttl: int | None = None,
            protected: bool = False, comment: str = "") -> dict:
        """Put an RRSet in place, as if made in Hetzner Console; returns it."""
        rrset = {"id": "%s/%s" % (name, type), "name": name, "type": type, "ttl": ttl,
                 "labels": {"owner": "console"}, "protection": {"change": protected},
                 "records": [{"value": v, "comment": comment} for v in values], "zone": self.zones[zone]}
        self.rrsets[(zone, name, type)] = rrset
        return rrset

    def values(self, name: str, type: str = "A", zone: str = "example.com") -> list | None:
        """The RRSet's values, None when there is no such RRSet."""
        rrset = self.rrsets.get((zone, name, type))
        return None if rrset is None else [r["value"] for r in rrset["records"]]

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in (self.token, self.read_only_token) \
                or not auth[7:]:
            return error(401, "unauthorized", "unable to authenticate")
        if req.method != "GET" and auth[7:] != self.token:
            return error(403, "token_readonly", "The token is only allowed to perform GET requests")
        if not req.route.startswith(PREFIX + "/"):
            return error(404, "not_found", "not found")
        parts = req.route[len(PREFIX) + 1:].split("/")
        if parts == ["zones"] and req.method == "GET":
            zones = [{"id": zid, "name": name, "mode": "primary", "ttl": 3600, "status": "ok"}
                     for name, zid in self.zones.items()]
            return json_response({"zones": zones, "meta": {"pagination": {
                "page": 1, "per_page": 50, "previous_page": None, "next_page": None, "last_page": 1,
                "total_entries": len(zones)}}})
        if len(parts) < 3 or parts[0] != "zones" or parts[2] != "rrsets":
            return error(404, "not_found", "not found")
        zone = self._zone(parts[1])
        if zone is None:
            return error(404, "not_found", "zone with ID or name '%s' not found" % parts[1])
        if len(parts) == 3 and req.method == "POST":
            return self._create(req, zone)
        if len(parts) >= 5:
            rrset = self.rrsets.get((zone, parts[3], parts[4]))
            if rrset is None:
                return error(404, "not_found", "rrset not found")
            if len(parts) == 5 and req.method == "GET":
                return json_response({"rrset": rrset})
            if len(parts) == 7 and parts[5] == "actions" and req.method == "POST":
                return self._act(req, rrset, parts[6])
        return error(404, "not_found", "not found")

    def _zone(self, id_or_name: str) -> str | None:
        if id_or_name in self.zones:
            return id_or_name
        return next((name for name, zid in self.zones.items() if str(zid) == id_or_name), None)

    def _body(self, req: FakeRequest):
        if not req.headers.get("content-type", "").startswith("application/json"):
            return None, error(400, "json_error", "Content-Type must be application/json")
        try:
            body = req.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return None, error(400, "json_error", "invalid JSON")
        return body, None

    def _records(self, type: str, records) -> FakeResponse | None:
        if not isinstance(records, list) or not records:
            return error(400, "invalid_input", "invalid input in field 'records'",
                         {"fields": [{"name": "records", "messages": ["Missing data for required field."]}]})
        for record in records:
            try:
                value = record.get("value") if isinstance(record, dict) else None
                ip = ipaddress.ip_address(str(value))
                if ip.version != (4 if type == "A" else 6) or str(ip) != value:
                    raise ValueError(value)
            except ValueError:
                return error(400, "invalid_input", "invalid input in field 'records'",
                             {"fields": [{"name": "records", "messages": ["invalid %s value" % type]}]})
        return None

    def _ttl(self, ttl) -> FakeResponse | None:
        if ttl is None or (not isinstance(ttl, bool) and isinstance(ttl, int) and 60 <= ttl <= MAX_TTL):
            return None
        return error(400, "invalid_input", "invalid input in field 'ttl'",
                     {"fields": [{"name": "ttl", "messages": ["Must be greater than or equal to 60."]}]})

    def _action(self, command: str, zone_id: int) -> dict:
        self._action_id += 1
        return {"id": self._action_id, "command": command, "status": "running", "progress": 0,
                "started": "2026-01-01T00:00:00+00:00", "finished": None,
                "resources": [{"id": zone_id, "type": "zone"}], "error": None}

    def _create(self, req: FakeRequest, zone: str) -> FakeResponse:
        body, err = self._body(req)
        if err:
            return err
        name, type = body.get("name"), body.get("type")
        if not isinstance(name, str) or not name or name != name.lower() or name.endswith(".") \
                or name == zone or name.endswith("." + zone):
            return error(400, "invalid_input", "invalid input in field 'name'",
                         {"fields": [{"name": "name", "messages": ["invalid name"]}]})
        if type not in ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "TXT", "SRV"):
            return error(400, "invalid_input", "invalid input in field 'type'")
        problem = self._ttl(body.get("ttl")) or (self._records(type, body.get("records"))
                                                 if type in ("A", "AAAA") else None)
        if problem:
            return problem
        if (zone, name, type) in self.rrsets:
            return error(409, "uniqueness_error", "rrset already exists")
        self.writes += 1
        rrset = self.add(zone, name, type, *[r["value"] for r in body["records"]], ttl=body.get("ttl"))
        rrset["labels"] = body.get("labels") or {}
        return json_response({"rrset": rrset, "action": self._action("create_rrset", self.zones[zone])}, 201)

    def _act(self, req: FakeRequest, rrset: dict, action: str) -> FakeResponse:
        body, err = self._body(req)
        if err:
            return err
        if action not in ("set_records", "change_ttl"):
            return error(404, "not_found", "not found")
        if rrset["protection"]["change"]:
            return error(403, "protected", "rrset is change protected")
        if action == "set_records":
            problem = self._records(rrset["type"], body.get("records"))
            if problem:
                return problem
            rrset["records"] = [{"value": r["value"], "comment": r.get("comment", "")}
                                for r in body["records"]]
        else:
            if "ttl" not in body:
                return error(400, "invalid_input", "invalid input in field 'ttl'")
            problem = self._ttl(body["ttl"])
            if problem:
                return problem
            rrset["ttl"] = body["ttl"]
        self.writes += 1
        command = "set_rrset_records" if action == "set_records" else "change_rrset_ttl"
        return json_response({"action": self._action(command, rrset["zone"])}, 201)
