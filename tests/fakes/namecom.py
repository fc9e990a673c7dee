"""Fake name.com API v4, DNS part (docs/providers/namecom.md).

Routes under /v4: GET /domains, GET/POST /domains/{domain}/records, GET/PUT /domains/{domain}/records/{id}.
Auth: HTTP Basic `username:api_token`; none or wrong -> 401 {"message": "Unauthenticated"}; an
account with 2-step verification and API access not switched on -> 403. PUT replaces the whole
record (a missing ttl becomes 300). TTL at least 300. Errors are {"message"[, "details"]}.
"""

from __future__ import annotations

import base64
import ipaddress

from fakes import FakeRequest, FakeResponse, json_response, register_secret

PREFIX = "/v4"
MIN_TTL = 300


def error(status: int, message: str, details: str = "") -> FakeResponse:
    """The documented error shape."""
    body = {"message": message}
    if details:
        body["details"] = details
    return json_response(body, status)


class NameComFake:
    """Domains and records in memory; counts requests and writes."""

    def __init__(self, username: str, token: str, domains: tuple = ("example.com",)) -> None:
        self.username = username
        self.token = token
        register_secret(token, "name.com api_token")
        self.domains = list(domains)
        self.two_step_blocked = False  # 2-step verification on, "Name.com API Access" off
        self.records: dict = {}  # id -> record dict
        self._next_id = 12345
        self.max_per_page = 1000
        self.requests: list = []
        self.writes = 0
        self.errors: list = []

    def add(self, domain: str, host: str, type: str, answer: str, ttl: int = 300) -> dict:
        """Put a record in place, as if made in the web interface; returns it."""
        rec = {"id": self._next_id, "domainName": domain, "host": host,
               "fqdn": "%s.%s." % (host, domain) if host else domain + ".", "type": type, "answer": answer,
               "ttl": ttl}
        if not host:
            del rec["host"]  # the apex has no host field
        self._next_id += 1
        self.records[rec["id"]] = rec
        return rec

    def named(self, fqdn: str, type: str = "A") -> list:
        """Records with this fqdn (trailing dot) and type."""
        return [r for r in self.records.values() if (r["fqdn"], r["type"]) == (fqdn, type)]

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        expected = "Basic " + base64.b64encode(("%s:%s" % (self.username, self.token)).encode()).decode()
        if req.headers.get("authorization") != expected:
            return error(401, "Unauthenticated")
        if self.two_step_blocked:
            return error(403, "Permission Denied", "Authentication Error - Account Has Two-Step Verification "
                                                   "Enabled")
        if not req.route.startswith(PREFIX + "/"):
            return error(404, "Not Found")
        parts = req.route[len(PREFIX) + 1:].split("/")
        if parts == ["domains"] and req.method == "GET":
            return json_response({"domains": [{"domainName": d, "locked": True, "autorenewEnabled": True}
                                              for d in self.domains]})
        if len(parts) < 3 or parts[0] != "domains" or parts[2] != "records":
            return error(404, "Not Found")
        domain = parts[1]
        if domain not in self.domains:
            return error(404, "Not Found", "Domain Not Found")
        if len(parts) == 3 and req.method == "GET":
            return self._list(req, domain)
        if len(parts) == 3 and req.method == "POST":
            return self._write(req, domain, None)
        if len(parts) == 4:
            rec = self.records.get(int(parts[3])) if parts[3].isdigit() else None
            if rec is None or rec["domainName"] != domain:
                return error(404, "Not Found")
            if req.method == "GET":
                return json_response(rec)
            if req.method == "PUT":
                return self._write(req, domain, rec)
        return error(405, "Method Not Allowed")

    def _list(self, req: FakeRequest, domain: str) -> FakeResponse:
        try:
            page = int(req.query.get("page", 1))
            per_page = min(int(req.query.get("perPage", 1000)), self.max_per_page)
        except ValueError:
            return error(400, "Invalid Argument", "Parameter Value Error - Invalid page")
        found = [r for r in self.records.values() if r["domainName"] == domain]
        if not found:
            return json_response({})
        last = max(1, -(-len(found) // per_page))
        body = {"records": found[(page - 1) * per_page:page * per_page], "lastPage": last}
        if page < last:
            body["nextPage"] = page + 1
        return json_response(body)

    def _write(self, req: FakeRequest, domain: str, old: dict | None) -> FakeResponse:
        if not req.headers.get("content-type", "").startswith("application/json"):
            return error(415, "Unsupported Media Type")
        try:
            body = req.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error(400, "Invalid Argument", "Invalid JSON")
        host, type, answer = body.get("host", ""), body.get("type"), body.get("answer")
        if not isinstance(host, str) or host.endswith(".") or host.endswith(domain):
            return error(400, "Invalid Argument", "Parameter Value Error - Invalid Host")
        if type not in ("A", "AAAA", "ANAME", "CNAME", "MX", "NS", "SRV", "TXT"):
            return error(400, "Invalid Argument", "Parameter Value Error - Invalid Type")
        if type in ("A", "AAAA"):
            try:
                if ipaddress.ip_address(str(answer)).version != (4 if type == "A" else 6):
                    raise ValueError(answer)
            except ValueError:
                return error(400, "Invalid Argument", "Parameter Value Error - Invalid Answer")
        ttl = body.get("ttl", MIN_TTL)  # left out: the default, also on a PUT (it replaces the record)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < MIN_TTL:
            return error(400, "Invalid Argument", "Parameter Value Error - TTL must be at least 300")
        fqdn = "%s.%s." % (host.lower(), domain) if host else domain + "."
        if any(r["fqdn"] == fqdn and r["type"] == type and r["answer"] == answer
               and (old is None or r["id"] != old["id"]) for r in self.records.values()):
            return error(400, "Invalid Argument", "Duplicate Record")
        self.writes += 1
        if old is None:
            return json_response(self.add(domain, host.lower(), type, answer, ttl))
        del self.records[old["id"]]
        self._next_id, saved = old["id"], self._next_id
        made = self.add(domain, host.lower(), type, answer, ttl)
        self._next_id = saved
        return json_response(made)
