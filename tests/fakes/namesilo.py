"""Fake NameSilo API version 1, JSON replies (docs/providers/namesilo.md).

GET /api/{dnsListRecords,dnsAddRecord,dnsUpdateRecord,listDomains}?version=1&type=json&key=...
Every answer is HTTP 200 {"request": {"operation", "ip"}, "reply": {"code", "detail", ...}};
code 300 is success. dnsUpdateRecord gives the record a new id, and without `rrttl` the default
7207; TTL 3600 to 2592001. A list with one record carries it as an object, not a list.
"""

from __future__ import annotations

import ipaddress
import uuid

from fakes import FakeRequest, FakeResponse, json_response, register_secret

PREFIX = "/api"
DEFAULT_TTL = 7207
DETAILS = {300: "success", 101: "HTTPS not used", 102: "No version specified", 105: "Invalid API type",
           107: "Invalid API operation", 108: "Missing parameters for the specified operation",
           110: "Invalid API Key", 113: "This API account cannot be accessed from your IP",
           200: "Domain is not active, or does not belong to this user",
           280: "DNS modification error"}


class NameSiloFake:
    """Domains and records in memory; counts requests and writes."""

    def __init__(self, key: str, domains: tuple = ("example.com",)) -> None:
        self.key = key
        register_secret(key, "NameSilo api_key")
        self.domains = list(domains)
        self.records: dict = {}  # id -> record dict (with "domain")
        self.requests: list = []
        self.writes = 0
        self.errors: list = []

    def add(self, domain: str, host: str, type: str, value: str, ttl: int = DEFAULT_TTL) -> dict:
        """Put a record in place, as if made in the DNS manager; returns it."""
        rec = {"record_id": uuid.uuid4().hex, "type": type, "value": value, "ttl": ttl, "distance": 0,
               "host": "%s.%s" % (host, domain) if host else domain, "domain": domain}
        self.records[rec["record_id"]] = rec
        return rec

    def named(self, fqdn: str, type: str = "A") -> list:
        """Records with this full host name and type."""
        return [r for r in self.records.values() if (r["host"], r["type"]) == (fqdn, type)]

    def _reply(self, operation: str, code: int, **fields) -> FakeResponse:
        reply = {"code": code, "detail": DETAILS.get(code, "General error")}
        reply.update(fields)
        return json_response({"request": {"operation": operation, "ip": "198.51.100.4"}, "reply": reply})

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        operation = req.route.rsplit("/", 1)[-1]
        q = req.query
        if req.method != "GET" or not req.route.startswith(PREFIX + "/"):
            return self._reply(operation, 107)
        if not q.get("version"):
            return self._reply(operation, 102)
        if q.get("type") != "json":
            return self._reply(operation, 105)
        if q.get("key") != self.key:
            return self._reply(operation, 110)
        if operation == "listDomains":
            domains = self.domains[0] if len(self.domains) == 1 else list(self.domains)
            return self._reply(operation, 300, domains={"domain": domains})
        if operation not in ("dnsListRecords", "dnsAddRecord", "dnsUpdateRecord"):
            return self._reply(operation, 107)
        domain = q.get("domain")
        if not domain:
            return self._reply(operation, 108)
        if domain not in self.domains:
            return self._reply(operation, 200)
        if operation == "dnsListRecords":
            found = [_public(r) for r in self.records.values() if r["domain"] == domain]
            return self._reply(operation, 300, resource_record=found[0] if len(found) == 1 else found)
        old = None
        if operation == "dnsUpdateRecord":
            old = self.records.get(q.get("rrid", ""))
            if not q.get("rrid"):
                return self._reply(operation, 108)
            if old is None or old["domain"] != domain:
                return self._reply(operation, 280)
        type = old["type"] if old else q.get("rrtype")
        host, value = q.get("rrhost"), q.get("rrvalue")
        if type is None or host is None or value is None:
            return self._reply(operation, 108)
        if type not in ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA") or host.endswith(domain) \
                or host != host.lower():
            return self._reply(operation, 280)
        if type in ("A", "AAAA"):
            try:
                if ipaddress.ip_address(value).version != (4 if type == "A" else 6):
                    raise ValueError(value)
            except ValueError:
                return self._reply(operation, 280)
        ttl = q.get("rrttl", str(DEFAULT_TTL))  # left out: the default, on an update too
        if not ttl.isdigit() or not 3600 <= int(ttl) <= 2592001:
            return self._reply(operation, 280)
        self.writes += 1
        if old is not None:
            del self.records[old["record_id"]]  # an update gives the record a new id
        made = self.add(domain, host, type, value, int(ttl))
        return self._reply(operation, 300, record_id=made["record_id"])


def _public(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "domain"}
