"""Fake Porkbun API v3, DNS part (docs/providers/porkbun.md).

Every route is a POST under /api/json/v3 whose JSON body carries `apikey` and `secretapikey`:
/ping, /dns/retrieveByNameType/{domain}/{type}[/{sub}], /dns/create/{domain}, /dns/edit/{domain}/{id}.
Answers are {"status": "SUCCESS", ...} or HTTP 400 {"status": "ERROR", "message": ...}. A domain
must have API ACCESS on. Record names in answers are full names, TTLs strings; 600 is the minimum.
"""

from __future__ import annotations

import ipaddress

from fakes import FakeRequest, FakeResponse, json_response, register_secret

PREFIX = "/api/json/v3"
MIN_TTL = 600
TYPES = ("A", "AAAA", "MX", "CNAME", "ALIAS", "TXT", "NS", "SRV", "TLSA", "CAA", "HTTPS", "SVCB")


def failure(message: str, status: int = 400) -> FakeResponse:
    """The documented error shape."""
    return json_response({"status": "ERROR", "message": message}, status)


def success(**fields) -> FakeResponse:
    body = {"status": "SUCCESS"}
    body.update(fields)
    return json_response(body)


class PorkbunFake:
    """Domains and records in memory; counts requests and writes."""

    def __init__(self, api_key: str, secret_api_key: str, domains: tuple = ("example.com",),
                 api_access: bool = True) -> None:
        self.api_key = api_key
        self.secret_api_key = secret_api_key
        register_secret(api_key, "Porkbun api_key")
        register_secret(secret_api_key, "Porkbun secret_api_key")
        self.api_access = dict.fromkeys(domains, api_access)
        self.records: dict = {}  # id -> record dict (with "domain")
        self._next_id = 106926652
        self.requests: list = []
        self.writes = 0
        self.errors: list = []

    def add(self, domain: str, sub: str, type: str, content: str, ttl: int = 600, notes: str = "") -> dict:
        """Put a record in place, as if made in the web panel; returns it."""
        rec = {"id": str(self._next_id), "name": "%s.%s" % (sub, domain) if sub else domain, "type": type,
               "content": content, "ttl": str(ttl), "prio": "0", "notes": notes, "domain": domain}
        self._next_id += 1
        self.records[rec["id"]] = rec
        return rec

    def named(self, fqdn: str, type: str = "A") -> list:
        """Records with this full name and type."""
        return [r for r in self.records.values() if (r["name"], r["type"]) == (fqdn, type)]

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        if req.method != "POST":
            return failure("Invalid request method.", 405)
        try:
            body = req.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return failure("Invalid JSON.")
        if not body.get("apikey") or not body.get("secretapikey"):
            return failure("All API requests require an apikey and secretapikey.")
        if body["apikey"] != self.api_key or body["secretapikey"] != self.secret_api_key:
            return failure("Invalid API key. (002)", 403)
        if not req.route.startswith(PREFIX + "/"):
            return failure("Invalid endpoint.", 404)
        parts = req.route[len(PREFIX) + 1:].split("/")
        if parts == ["ping"]:
            return success(yourIp="198.51.100.4")
        if len(parts) < 3 or parts[0] != "dns":
            return failure("Invalid endpoint.", 404)
        domain = parts[2]
        if domain not in self.api_access:
            return failure("Invalid domain.")
        if not self.api_access[domain]:
            return failure("Domain is not opted in to API access.")
        if parts[1] == "retrieveByNameType" and len(parts) in (4, 5):
            fqdn = "%s.%s" % (parts[4], domain) if len(parts) == 5 and parts[4] else domain
            found = [_public(r) for r in self.records.values() if r["domain"] == domain
                     and r["name"] == fqdn and r["type"] == parts[3]]
            return success(records=found, cloudflare="enabled")
        if parts[1] == "create" and len(parts) == 3:
            return self._create(body, domain)
        if parts[1] == "edit" and len(parts) == 4:
            return self._edit(body, domain, parts[3])
        return failure("Invalid endpoint.", 404)

    def _check(self, body: dict, type_required: bool = True) -> tuple:
        """(ttl, None) when the record fields are valid, else (None, the error answer)."""
        type, content = body.get("type"), body.get("content")
        if type not in TYPES:
            return None, failure("Invalid type passed.")
        if type in ("A", "AAAA"):
            try:
                ip = ipaddress.ip_address(str(content))
                if ip.version != (4 if type == "A" else 6):
                    raise ValueError(content)
            except ValueError:
                return None, failure("Invalid %s record content." % type)
        ttl = body.get("ttl", MIN_TTL)
        if isinstance(ttl, bool) or not str(ttl).isdigit():
            return None, failure("Invalid TTL.")
        return max(int(ttl), MIN_TTL), None  # below the minimum is raised to it

    def _create(self, body: dict, domain: str) -> FakeResponse:
        ttl, err = self._check(body)
        if err:
            return err
        sub = body.get("name") or ""
        if not isinstance(sub, str) or sub != sub.lower() or sub.endswith("." + domain) or sub.endswith("."):
            return failure("Create error: Invalid name.")
        fqdn = "%s.%s" % (sub, domain) if sub else domain
        if any(r["name"] == fqdn and r["type"] == body["type"] and r["content"] == body["content"]
               for r in self.records.values()):
            return failure("Create error: We were unable to create the DNS record.")
        self.writes += 1
        rec = self.add(domain, sub, body["type"], body["content"], ttl, str(body.get("notes") or ""))
        return success(id=int(rec["id"]))

    def _edit(self, body: dict, domain: str, record_id: str) -> FakeResponse:
        old = self.records.get(record_id)
        if old is None or old["domain"] != domain:
            return failure("Edit error: We were unable to edit the DNS record.")
        ttl, err = self._check(body)
        if err:
            return err
        sub = body.get("name") or ""
        self.writes += 1
        old.update(name="%s.%s" % (sub, domain) if sub else domain, type=body["type"],
                   content=body["content"], ttl=str(ttl), prio=str(body.get("prio") or "0"))
        if body.get("notes") is not None:  # left out: kept
            old["notes"] = str(body["notes"])
        return success()


def _public(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "domain"}
