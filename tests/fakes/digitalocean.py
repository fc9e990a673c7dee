"""Fake DigitalOcean API v2 domains and domain records (docs/providers/digitalocean.md).

Routes under /v2: GET /domains, GET/POST /domains/{d}/records, GET/PATCH/PUT /domains/{d}/records/{id}.
Auth `Authorization: Bearer <token>`: none or a wrong one -> 401 unauthorized; a read-only token
writing -> 403 forbidden. Errors are {"id": ..., "message": ...}. The list's `name` filter takes
the full name (home.example.com) while records hold the relative one (home, @). TTL at least 30.
"""

from __future__ import annotations

import ipaddress

from fakes import FakeRequest, FakeResponse, json_response, register_secret

PREFIX = "/v2"


def error(status: int, id: str, message: str) -> FakeResponse:
    """The documented error shape."""
    return json_response({"id": id, "message": message}, status,
                         {"ratelimit-limit": "5000", "ratelimit-remaining": "4999"})


def ok(body: dict, status: int = 200) -> FakeResponse:
    return json_response(body, status, {"ratelimit-limit": "5000", "ratelimit-remaining": "4999"})


UNAUTHORIZED = (401, "unauthorized", "Unable to authenticate you")
NOT_FOUND = (404, "not_found", "The resource you were accessing could not be found.")


class DigitalOceanFake:
    """Domains and records in memory; counts requests and writes."""

    def __init__(self, token: str, domains: tuple = ("example.com",), read_only_token: str = "") -> None:
        self.token = token
        self.read_only_token = read_only_token
        register_secret(token, "DigitalOcean api_token")
        register_secret(read_only_token, "DigitalOcean read-only api_token")
        self.domains = list(domains)
        self.records: dict = {}  # id -> record dict (with "domain")
        self._next_id = 28448429
        self.requests: list = []
        self.writes = 0
        self.errors: list = []
        self.max_per_page = 200
        self.ignore_name_filter = False  # as if the API skipped the filter: the client must match names

    def add(self, domain: str, name: str, type: str, data: str, ttl: int = 1800) -> dict:
        """Put a record in place, as if made in the control panel; returns it."""
        rec = {"id": self._next_id, "type": type, "name": name, "data": data, "priority": None,
               "port": None, "ttl": ttl, "weight": None, "flags": None, "tag": None, "domain": domain}
        self._next_id += 1
        self.records[rec["id"]] = rec
        return rec

    def named(self, name: str, type: str = "A", domain: str = "example.com") -> list:
        """Records of this relative name and type."""
        return [r for r in self.records.values()
                if (r["domain"], r["name"], r["type"]) == (domain, name, type)]

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        auth = req.headers.get("authorization", "")
        if auth not in ("Bearer " + self.token, "Bearer " + self.read_only_token) or auth == "Bearer ":
            return error(*UNAUTHORIZED)
        if req.method not in ("GET", "HEAD") and auth != "Bearer " + self.token:
            return error(403, "forbidden", "You are not authorized to perform this operation")
        if not req.route.startswith(PREFIX + "/"):
            return error(*NOT_FOUND)
        parts = req.route[len(PREFIX) + 1:].rstrip("/").split("/")
        if parts == ["domains"] and req.method == "GET":
            return ok({"domains": [{"name": d, "ttl": 1800, "zone_file": ""} for d in self.domains],
                       "links": {}, "meta": {"total": len(self.domains)}})
        if len(parts) < 3 or parts[0] != "domains" or parts[2] != "records" or parts[1] not in self.domains:
            return error(*NOT_FOUND)
        domain = parts[1]
        if len(parts) == 3 and req.method == "GET":
            return self._list(req, domain)
        if len(parts) == 3 and req.method == "POST":
            return self._create(req, domain)
        if len(parts) == 4:
            rec = self.records.get(int(parts[3])) if parts[3].isdigit() else None
            if rec is None or rec["domain"] != domain:
                return error(*NOT_FOUND)
            if req.method == "GET":
                return ok({"domain_record": _public(rec)})
            if req.method in ("PATCH", "PUT"):
                return self._update(req, rec)
        return error(405, "method_not_allowed", "Method Not Allowed")

    def _list(self, req: FakeRequest, domain: str) -> FakeResponse:
        query = req.query
        try:
            page = int(query.get("page", 1))
            per_page = min(int(query.get("per_page", 20)), self.max_per_page)
        except ValueError:
            return error(400, "bad_request", "invalid pagination parameters")
        name = query.get("name")
        found = [r for r in self.records.values() if r["domain"] == domain
                 and query.get("type", r["type"]) == r["type"]
                 and (self.ignore_name_filter or name is None or _fqdn(r["name"], domain) == name)]
        chunk = found[(page - 1) * per_page:page * per_page]
        pages = {}
        if page * per_page < len(found):
            pages["next"] = "https://api.digitalocean.com/v2/domains/%s/records?page=%d&per_page=%d" % (
                domain, page + 1, per_page)
        return ok({"domain_records": [_public(r) for r in chunk], "links": {"pages": pages},
                   "meta": {"total": len(found)}})

    def _body(self, req: FakeRequest):
        if not req.headers.get("content-type", "").startswith("application/json"):
            return None, error(415, "unsupported_media_type", "Content-Type must be application/json")
        try:
            body = req.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return None, error(400, "bad_request", "unable to parse the request body")
        return body, None

    def _check(self, rec: dict) -> FakeResponse | None:
        if rec.get("type") not in ("A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "CAA"):
            return error(422, "unprocessable_entity", "Type is not a valid record type")
        if rec["type"] in ("A", "AAAA"):
            try:
                ip = ipaddress.ip_address(str(rec.get("data")))
                if ip.version != (4 if rec["type"] == "A" else 6):
                    raise ValueError(rec.get("data"))
            except ValueError:
                return error(422, "unprocessable_entity", "Data needs to be a valid IP address")
            name = rec.get("name")
            if not isinstance(name, str) or not name:
                return error(422, "unprocessable_entity", "Name is required")
        ttl = rec.get("ttl")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 30:
            return error(422, "unprocessable_entity", "Ttl must be at least 30")
        return None

    def _create(self, req: FakeRequest, domain: str) -> FakeResponse:
        body, err = self._body(req)
        if err:
            return err
        rec = {"ttl": 1800}
        rec.update(body)
        problem = self._check(rec)
        if problem:
            return problem
        self.writes += 1
        made = self.add(domain, rec["name"], rec["type"], rec["data"], rec["ttl"])
        return ok({"domain_record": _public(made)}, 201)

    def _update(self, req: FakeRequest, rec: dict) -> FakeResponse:
        body, err = self._body(req)
        if err:
            return err
        if "type" not in body:  # required by PATCH and PUT alike
            return error(422, "unprocessable_entity", "Type is required")
        if body["type"] != rec["type"]:
            return error(422, "unprocessable_entity", "Type cannot be changed")
        new = dict(rec)
        new.update({k: v for k, v in body.items() if k != "id"})
        problem = self._check(new)
        if problem:
            return problem
        self.writes += 1
        self.records[rec["id"]] = new
        return ok({"domain_record": _public(new)})


def _fqdn(name: str, domain: str) -> str:
    return domain if name == "@" else "%s.%s" % (name, domain)


def _public(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "domain"}
