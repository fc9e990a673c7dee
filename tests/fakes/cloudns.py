"""Fake ClouDNS HTTP API, DNS part (docs/providers/cloudns.md).

Calls /dns/{login,records,add-record,mod-record}.json by GET (query) or POST (form), each carrying
`auth-id` (or `sub-auth-id`) and `auth-password`. Answers are HTTP 200 JSON: {"status": "Success" |
"Failed", "statusDescription": ...}; records.json answers an object keyed by record id, or [] when
nothing matches. TTL must be one of the listed values; add-record and mod-record require it.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qs

from fakes import FakeRequest, FakeResponse, json_response, register_secret

TTLS = (60, 300, 900, 1800, 3600, 21600, 43200, 86400, 172800, 259200, 604800, 1209600, 2592000)
BAD_AUTH = "Invalid authentication, incorrect auth-id or auth-password."


def failed(text: str) -> FakeResponse:
    """The documented failure shape (HTTP 200)."""
    return json_response({"status": "Failed", "statusDescription": text})


def done(text: str, **extra) -> FakeResponse:
    body = {"status": "Success", "statusDescription": text}
    body.update(extra)
    return json_response(body)


class ClouDNSFake:
    """Zones and records in memory; counts requests and writes."""

    def __init__(self, auth_id: str, password: str, zones: tuple = ("example.com",),
                 sub_auth: bool = False) -> None:
        self.auth_id = auth_id
        self.password = password
        self.sub_auth = sub_auth  # the API user is a sub-user: sub-auth-id, not auth-id
        register_secret(password, "ClouDNS auth_password")
        self.zones = list(zones)
        self.records: dict = {}  # id -> record dict (with "zone")
        self._next_id = 305001
        self.requests: list = []
        self.writes = 0
        self.errors: list = []

    def add(self, zone: str, host: str, type: str, value: str, ttl: int = 3600) -> dict:
        """Put a record in place, as if made in the control panel; returns it."""
        rec = {"id": str(self._next_id), "type": type, "host": host, "record": value, "dynamicurl_status": 0,
               "failover": "0", "ttl": str(ttl), "status": 1, "zone": zone}
        self._next_id += 1
        self.records[rec["id"]] = rec
        return rec

    def named(self, host: str, type: str = "A", zone: str = "example.com") -> list:
        """Records with this host and type."""
        return [r for r in self.records.values() if (r["zone"], r["host"], r["type"]) == (zone, host, type)]

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        if req.method == "POST":
            if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                return failed("Missing auth-id or sub-auth-id.")
            params = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace"),
                                                   keep_blank_values=True).items()}
        elif req.method == "GET":
            params = req.query
        else:
            return json_response({"status": "Failed", "statusDescription": "Method not allowed."}, 405)
        id_field = "sub-auth-id" if self.sub_auth else "auth-id"
        if not params.get("auth-id") and not params.get("sub-auth-id"):
            return failed("Missing auth-id or sub-auth-id.")
        if params.get(id_field) != self.auth_id or params.get("auth-password") != self.password:
            return failed(BAD_AUTH)
        call = req.route.rsplit("/", 1)[-1]
        if not req.route.startswith("/dns/") or not call.endswith(".json"):
            return json_response({"status": "Failed", "statusDescription": "Invalid request."}, 404)
        call = call[:-5]
        if call == "login":
            return done("Success login.")
        zone = params.get("domain-name")
        if not zone:
            return failed("Missing domain-name.")
        if zone not in self.zones:
            return failed("Invalid domain-name.")
        if call == "records":
            found = {r["id"]: _public(r) for r in self.records.values() if r["zone"] == zone
                     and params.get("host", r["host"]) == r["host"]
                     and params.get("type", r["type"]) == r["type"]}
            return json_response(found or [])
        if call == "add-record":
            return self._write(params, zone, None)
        if call == "mod-record":
            old = self.records.get(params.get("record-id", ""))
            if old is None or old["zone"] != zone:
                return failed("Invalid record-id.")
            return self._write(params, zone, old)
        return json_response({"status": "Failed", "statusDescription": "Invalid request."}, 404)

    def _write(self, params: dict, zone: str, old: dict | None) -> FakeResponse:
        type = old["type"] if old else params.get("record-type")
        if type not in ("A", "AAAA", "MX", "CNAME", "TXT", "NS", "SRV", "CAA", "ALIAS"):
            return failed("Invalid record type.")
        host, value, ttl = params.get("host"), params.get("record"), params.get("ttl")
        if host is None:
            return failed("Missing host.")
        if host != host.lower() or host.endswith(".") or host.endswith(zone):
            return failed("Invalid host.")
        if type in ("A", "AAAA"):
            try:
                if ipaddress.ip_address(str(value)).version != (4 if type == "A" else 6):
                    raise ValueError(value)
            except ValueError:
                return failed("Invalid IP address.")
        if not ttl or not ttl.isdigit() or int(ttl) not in TTLS:
            return failed("Invalid TTL. Choose from the list of the values we support.")
        self.writes += 1
        if old is None:
            made = self.add(zone, host, type, value, int(ttl))
            return done("The record was added successfully.", data={"id": int(made["id"])})
        old.update(host=host, record=value, ttl=ttl)
        return done("The record was modified successfully.")


def _public(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "zone"}
