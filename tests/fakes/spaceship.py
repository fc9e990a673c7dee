"""Fake Spaceship API v1, DNS records part (docs/providers/spaceship.md).

Routes under /api/v1: GET /domains, GET /dns/records/{domain}?take=&skip= (both required),
PUT /dns/records/{domain} {"force", "items"} -> 204. Auth headers X-API-Key and X-API-Secret: none
or wrong -> 401; a key without the permission -> 403. Errors are {"detail"[, "data"]} with a
`spaceship-error-code` header. A saved A/AAAA record conflicts with the record of the same name and
type: `force: true` overwrites it, else 422. TTL 60 to 3600 (3600 when left out).
"""

from __future__ import annotations

import ipaddress

from fakes import FakeRequest, FakeResponse, json_response, register_secret

PREFIX = "/api/v1"


def error(status: int, detail: str, data: list | None = None, code: str = "") -> FakeResponse:
    """The documented error shape."""
    body = {"detail": detail}
    if data:
        body["data"] = data
    return json_response(body, status, {"spaceship-error-code": code} if code else None)


class SpaceshipFake:
    """Domains and records in memory; counts requests and writes."""

    def __init__(self, key: str, secret: str, domains: tuple = ("example.com",),
                 read_only_key: str = "") -> None:
        self.key, self.secret, self.read_only_key = key, secret, read_only_key
        register_secret(key, "Spaceship api_key")
        register_secret(secret, "Spaceship api_secret")
        self.domains = list(domains)
        self.records: list = []  # dicts with "domain"
        self.requests: list = []
        self.writes = 0
        self.errors: list = []

    def add(self, domain: str, name: str, type: str, address: str, ttl: int = 3600) -> dict:
        """Put a record in place, as if made in the web interface; returns it."""
        rec = {"type": type, "name": name, "address": address, "ttl": ttl, "group": {"type": "custom"},
               "domain": domain}
        self.records.append(rec)
        return rec

    def named(self, name: str, type: str = "A", domain: str = "example.com") -> list:
        """Records with this name and type."""
        return [r for r in self.records if (r["domain"], r["name"], r["type"]) == (domain, name, type)]

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        key, secret = req.headers.get("x-api-key"), req.headers.get("x-api-secret")
        if not key or not secret or key not in (self.key, self.read_only_key) or secret != self.secret:
            return error(401, "Unauthorized")
        if not req.route.startswith(PREFIX + "/"):
            return error(404, "Not Found")
        parts = req.route[len(PREFIX) + 1:].split("/")
        if key != self.key and (req.method != "GET" or parts == ["domains"]):
            return error(403, "Forbidden", code="0")
        for name in ("take", "skip"):
            if req.method == "GET" and not req.query.get(name, "").isdigit():
                return error(400, "Validation failed", [{"field": name, "details": "required"}])
        if parts == ["domains"] and req.method == "GET":
            items = [{"name": d, "unicodeName": d, "isPremium": False} for d in self.domains]
            return json_response({"items": items, "total": len(items)})
        if len(parts) != 3 or parts[:2] != ["dns", "records"]:
            return error(404, "Not Found")
        domain = parts[2]
        if domain not in self.domains:
            return error(404, "SOA record for domain %s not found." % domain)
        if req.method == "GET":
            take, skip = int(req.query["take"]), int(req.query["skip"])
            if not 1 <= take <= 500:
                return error(400, "Validation failed", [{"field": "take", "details": "between 1 and 500"}])
            found = [_public(r) for r in self.records if r["domain"] == domain]
            return json_response({"items": found[skip:skip + take], "total": len(found)})
        if req.method == "PUT":
            return self._save(req, domain)
        return error(405, "Method Not Allowed")

    def _save(self, req: FakeRequest, domain: str) -> FakeResponse:
        if not req.headers.get("content-type", "").startswith("application/json"):
            return error(415, "Unsupported Media Type")
        try:
            body = req.json()
        except ValueError:
            body = None
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return error(400, "Validation failed", [{"field": "items", "details": "required"}])
        for i, item in enumerate(items):
            where = "items[%d]." % i
            if not isinstance(item, dict) or item.get("type") not in ("A", "AAAA", "CNAME", "TXT", "MX"):
                return error(400, "Validation failed", [{"field": where + "type", "details": "invalid"}])
            name = item.get("name")
            if not isinstance(name, str) or not name or name != name.lower() or name.endswith("."):
                return error(400, "Validation failed", [{"field": where + "name", "details": "invalid"}])
            if item["type"] in ("A", "AAAA"):
                family = 4 if item["type"] == "A" else 6
                try:
                    if ipaddress.ip_address(str(item.get("address"))).version != family:
                        raise ValueError(item.get("address"))
                except ValueError:
                    return error(400, "Validation failed",
                                 [{"field": where + "address", "details": "invalid"}])
            ttl = item.get("ttl", 3600)
            if isinstance(ttl, bool) or not isinstance(ttl, int) or not 60 <= ttl <= 3600:
                return error(400, "Validation failed",
                             [{"field": where + "ttl", "details": "must be between 60 and 3600"}])
        force = body.get("force") is True
        for item in items:
            same = self.named(item["name"], item["type"], domain)
            if any(r["address"] != item["address"] for r in same) and not force:
                return error(422, "Conflicting records exist; send force to overwrite them", code="1013")
        self.writes += 1
        for item in items:
            for old in self.named(item["name"], item["type"], domain):
                self.records.remove(old)
            self.add(domain, item["name"], item["type"], item["address"], item.get("ttl", 3600))
        return FakeResponse(204, {}, b"")


def _public(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "domain"}
