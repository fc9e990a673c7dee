"""Fake Gandi LiveDNS API v5 (docs/providers/gandi.md).

Routes under /v5/livedns: GET /domains, GET/PUT /domains/{fqdn}/records/{name}/{type}.
Auth `Authorization: Bearer <personal access token>`: none or wrong -> 401; a token without the
domain's technical-configuration permission -> 403. PUT creates or replaces the RRSet (201); a PUT
without `rrset_ttl` sets the default 10800; TTL 300 to 2592000. Errors are
{"code", "message", "object", "cause"[, "errors"]}.
"""

from __future__ import annotations

import ipaddress

from fakes import FakeRequest, FakeResponse, json_response, register_secret

PREFIX = "/v5/livedns"
DEFAULT_TTL = 10800


def error(code: int, cause: str, message: str, object: str = "", errors: list | None = None) -> FakeResponse:
    """The documented error shape."""
    body = {"code": code, "message": message, "object": object or "HTTP" + cause.replace(" ", ""),
            "cause": cause}
    if errors:
        body["errors"] = errors
    return json_response(body, code)


def invalid(name: str, description: str) -> FakeResponse:
    return error(400, "Bad Request", "Validation error", "HTTPBadRequest",
                 [{"location": "body", "name": name, "description": description}])


class GandiFake:
    """Domains and RRSets in memory; counts requests and writes."""

    def __init__(self, token: str, domains: tuple = ("example.com",), other_token: str = "") -> None:
        self.token = token
        self.other_token = other_token  # valid, but without permission on these domains
        register_secret(token, "Gandi api_token")
        register_secret(other_token, "Gandi api_token of another organisation")
        self.domains = list(domains)
        self.rrsets: dict = {}  # (domain, name, type) -> {"rrset_ttl", "rrset_values"}
        self.requests: list = []
        self.writes = 0
        self.errors: list = []

    def add(self, domain: str, name: str, type: str, *values: str, ttl: int = DEFAULT_TTL) -> None:
        """Put an RRSet in place, as if made in the web interface."""
        self.rrsets[(domain, name, type)] = {"rrset_ttl": ttl, "rrset_values": list(values)}

    def get(self, name: str, type: str = "A", domain: str = "example.com") -> dict | None:
        """The RRSet, None when there is none."""
        return self.rrsets.get((domain, name, type))

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        auth = req.headers.get("authorization", "")
        if auth not in ("Bearer " + self.token, "Bearer " + self.other_token) or auth == "Bearer ":
            return error(401, "Unauthorized", "The server could not verify that you authenticated, "
                                              "please check your credentials.")
        if not req.route.startswith(PREFIX + "/"):
            return error(404, "Not Found", "The resource could not be found.")
        parts = req.route[len(PREFIX) + 1:].split("/")
        if auth != "Bearer " + self.token:
            if parts == ["domains"] and req.method == "GET":
                return json_response([])
            return error(403, "Forbidden", "Access was denied to this resource.")
        if parts == ["domains"] and req.method == "GET":
            return json_response([{"fqdn": d, "domain_href": "https://api.gandi.net/v5/livedns/domains/" + d,
                                   "automatic_snapshots": True} for d in self.domains])
        if len(parts) != 5 or parts[0] != "domains" or parts[2] != "records":
            return error(404, "Not Found", "The resource could not be found.")
        domain, name, type = parts[1], parts[3], parts[4]
        if domain not in self.domains:
            return error(404, "Not Found", "The resource could not be found.")
        if req.method == "GET":
            rrset = self.rrsets.get((domain, name, type))
            if rrset is None:
                return error(404, "Not Found", "Can't find the DNS record %s in the zone" % name,
                             "dns-record")
            return json_response(dict(rrset, rrset_name=name, rrset_type=type, rrset_href=req.path))
        if req.method == "PUT":
            return self._put(req, domain, name, type)
        return error(405, "Method Not Allowed", "The method is not allowed for the requested URL.")

    def _put(self, req: FakeRequest, domain: str, name: str, type: str) -> FakeResponse:
        if not req.headers.get("content-type", "").startswith("application/json"):
            return error(415, "Unsupported Media Type", "Content-Type must be application/json")
        try:
            body = req.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error(400, "Bad Request", "Invalid JSON")
        if name != name.lower() or name.endswith(".") or name.endswith(domain):
            return invalid("rrset_name", "invalid name")
        values = body.get("rrset_values")
        if not isinstance(values, list) or not values:
            return invalid("rrset_values", "Missing data for required field.")
        if type in ("A", "AAAA"):
            for value in values:
                try:
                    if ipaddress.ip_address(str(value)).version != (4 if type == "A" else 6):
                        raise ValueError(value)
                except ValueError:
                    return invalid("rrset_values", "%s is not a valid %s value" % (value, type))
        ttl = body.get("rrset_ttl", DEFAULT_TTL)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 300 <= ttl <= 2592000:
            return invalid("rrset_ttl", "Must be between 300 and 2592000.")
        self.writes += 1
        self.rrsets[(domain, name, type)] = {"rrset_ttl": ttl, "rrset_values": list(values)}
        return json_response({"message": "DNS Record Created"}, 201)
