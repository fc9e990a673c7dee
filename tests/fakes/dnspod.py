"""Fake DNSPod legacy API (dnsapi.cn, specs/providers.md §1): checks what the real one checks.

Checks, in order:
- User-Agent must be `ProgramName/Version (contact-email)` (docs.dnspod.cn API development rules:
  the contact is an e-mail address, e.g. `MJJ DDNS Client/1.0.0 (shallwedance@126.com)`) and not a
  browser's. Otherwise HTTP 403 with a text body, no JSON: an API ban blocks the client before the
  API answers (our choice; the docs only say "ban"). A URL in the parentheses is refused.
- POST only (code "2"), form-urlencoded body; `format=json` (else an XML answer, the API default).
- login_token equal to the expected `ID,Token` (code "-1"); after 30 failures every call gets "-8".
- domain or domain_id known (code "6"). Actions Domain.Info, Record.List/Create/Modify/Ddns/Remove;
  others HTTP 404. Domain.Info answers the domain with its id as a string (used by NewFuture ddns).
Record.List answers ids and ttl as strings, Modify/Ddns the id as an int (documented shapes); an
empty list is code "10" unless error_on_empty=no. Record.Ddns without sub_domain moves the record
to '@' and without value takes the caller's address, as documented.
Create, Modify and Ddns to a record identical to another one (name, type, line, value, TTL)
answer code "104" (Domain record already exists). One name holds several records with different
values (round robin), up to `max_round_robin` per name, type and line: records.rst says a free plan
holds two ("免费套餐域名只能存在两条轮循记录"); a third Create answers 500025 (A) or 33 (AAAA).
Record.List pages with `offset` (code "7" when not a number) and `length` (code "8" when not a
positive number); more than 3000 rows are cut to 3000 whatever the length (records.rst).
Record.Remove needs record_id ("6" when missing, "8" when unknown or gone) and answers the bare
status envelope.
Abuse rule: more than 5 no-change modifications of one record within an hour lock it for an hour
(code "21" here; the docs give no code). `noop_modifications` counts them for tests to assert 0.
"""

from __future__ import annotations

import ipaddress
import re
import time

from fakes import FakeRequest, FakeResponse, json_response, register_secret, text_response

UA_SHAPE = re.compile(r"^[^\s/()][^/()]*/[^\s/()]+ \([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\)$")
LINES = {"默认": "0", "电信": "10=0", "联通": "10=1", "移动": "10=3", "境外": "3=0"}
MAX_TTL = 604800
MAX_ROWS = 3000  # Record.List never answers more rows than this


def answer(code: str, message: str, **extra) -> FakeResponse:
    """A status envelope; HTTP 200 even for errors, as the real API does."""
    body = {"status": {"code": code, "message": message, "created_at": "2024-01-01 00:00:00"}}
    body.update(extra)
    return json_response(body)


class DNSPodFake:
    """Domains and records in memory; counts requests, writes and no-change modifications."""

    def __init__(self, login_token: str, domains: tuple = ("example.com",), min_ttl: int = 600,
                 clock=time.monotonic, max_round_robin: int = 2) -> None:
        self.login_token = login_token
        register_secret(login_token, "DNSPod login_token")
        register_secret(login_token.partition(",")[2], "DNSPod login_token (token part)")
        self.domains = {name: 9842292 + i for i, name in enumerate(domains)}
        self.min_ttl = min_ttl  # free plans: 600 s
        self.max_round_robin = max_round_robin  # free plans: 2 records per name, type and line
        self.clock = clock
        self.records: dict = {}  # int id -> {domain, name, type, line, value, ttl}
        self.requests: list = []
        self.writes = 0
        self.noop_modifications = 0
        self.failed_logins = 0
        self.banned_requests = 0
        self.errors: list = []
        self._next_id = 44146112
        self._noops: dict = {}  # record id -> times of no-change modifications
        self._locked_until: dict = {}

    def add(self, domain: str, name: str, type: str, value: str, line: str = "默认", ttl: int = 600) -> str:
        """Put a record in place, as if made in the web UI; returns its id as a string."""
        self._next_id += 1
        self.records[self._next_id] = {"domain": domain, "name": name, "type": type, "line": line,
                                       "value": value, "ttl": ttl}
        return str(self._next_id)

    def value(self, record_id) -> str:
        """The value a record holds now."""
        return self.records[int(record_id)]["value"]

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        agent = req.headers.get("user-agent", "")
        if not UA_SHAPE.match(agent) or agent.lower().startswith("mozilla"):
            self.banned_requests += 1
            return text_response("403 Forbidden: client blocked", 403)
        if req.method != "POST":
            return answer("2", "Only POST method is allowed")
        action = req.route.strip("/")
        handler = {"Domain.Info": self._domain, "Record.List": self._list, "Record.Create": self._create,
                   "Record.Modify": self._modify, "Record.Ddns": self._ddns,
                   "Record.Remove": self._remove}.get(action)
        if handler is None:
            return text_response("<html>404 Not Found</html>", 404, "text/html")
        if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return answer("6", "Parameter invalid")
        form = req.form
        if form.get("format") != "json":
            return FakeResponse(200, {"Content-Type": "text/xml"},
                                b'<?xml version="1.0" encoding="UTF-8"?><dnspod><status><code>1</code>'
                                b'</status></dnspod>')
        if self.failed_logins > 30:
            return answer("-8", "Login failed too many times, please try again later")
        if form.get("login_token") != self.login_token:
            self.failed_logins += 1
            return answer("-1", "Login failed")
        domain = form.get("domain") or next((d for d, i in self.domains.items()
                                             if str(i) == form.get("domain_id")), None)
        if domain not in self.domains:
            return answer("6", "Domain id invalid")
        return handler(form, domain, req)

    def _info(self, domain: str) -> dict:
        return {"id": self.domains[domain], "name": domain, "punycode": domain, "grade": "DP_Free",
                "owner": "user@example.com"}

    def _domain(self, form: dict, domain: str, req: FakeRequest) -> FakeResponse:
        info = dict(self._info(domain), id=str(self.domains[domain]), status="enable", ttl="600")
        return answer("1", "Action completed successful", domain=info)

    def _list(self, form: dict, domain: str, req: FakeRequest) -> FakeResponse:
        found = [(rid, r) for rid, r in sorted(self.records.items()) if r["domain"] == domain
                 and form.get("sub_domain", r["name"]) == r["name"]
                 and form.get("record_type", r["type"]) == r["type"]]
        if not found and form.get("error_on_empty", "yes") != "no":
            return answer("10", "No records")
        offset, length = form.get("offset", "0"), form.get("length", str(MAX_ROWS))
        if not offset.isdigit():
            return answer("7", "Offset invalid")
        if not length.isdigit() or int(length) < 1:
            return answer("8", "Length invalid")
        total = len(found)
        found = found[int(offset):int(offset) + min(int(length), MAX_ROWS)]
        records = [{"id": str(rid), "name": r["name"], "line": r["line"],
                    "line_id": LINES.get(r["line"], "0"), "type": r["type"], "ttl": str(r["ttl"]),
                    "value": r["value"], "weight": None, "mx": "0", "enabled": "1", "status": "enabled",
                    "monitor_status": "", "remark": "",
                    "updated_on": "2024-01-01 00:00:00", "use_aqb": "no"} for rid, r in found]
        return answer("1", "Action completed successful", domain=self._info(domain),
                      info={"sub_domains": str(len({r["name"] for _, r in found})),
                            "record_total": str(total), "records_num": str(len(found))},
                      records=records)

    def _validate(self, rec: dict) -> FakeResponse | None:
        if not re.match(r"^(@|\*|[A-Za-z0-9_*]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*)$", rec["name"]):
            return answer("22", "Subdomain invalid")
        if rec["type"] not in ("A", "AAAA"):
            return answer("27", "Record type invalid")
        if rec["line"] not in LINES and rec["line"] not in LINES.values():
            return answer("26", "Record line invalid")
        try:
            if ipaddress.ip_address(rec["value"]).version != (4 if rec["type"] == "A" else 6):
                raise ValueError(rec["value"])
        except ValueError:
            return answer("34", "Record value invalid")
        ttl = str(rec["ttl"])
        if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
            return answer("6", "TTL invalid")
        if int(ttl) < self.min_ttl:
            return answer("29", "TTL is too small for this domain grade")
        rec["ttl"] = int(ttl)
        rec["line"] = next((n for n, i in LINES.items() if i == rec["line"]), rec["line"])
        return None

    def _create(self, form: dict, domain: str, req: FakeRequest) -> FakeResponse:
        rec = {"domain": domain, "name": form.get("sub_domain") or "@", "type": form.get("record_type", ""),
               "line": form.get("record_line") or form.get("record_line_id", ""),
               "value": form.get("value", ""), "ttl": form.get("ttl", "600")}
        error = self._validate(rec)
        if error:
            return error
        if any(r == rec for r in self.records.values()):
            return answer("104", "Domain record already exists")
        key = ("domain", "name", "type", "line")
        if sum(all(r[k] == rec[k] for k in key) for r in self.records.values()) >= self.max_round_robin:
            if rec["type"] == "A":
                return answer("500025", "A record load balancing over the limit")
            return answer("33", "AAAA record count over the limit")
        self.writes += 1
        record_id = self.add(domain, rec["name"], rec["type"], rec["value"], rec["line"], rec["ttl"])
        return answer("1", "Action completed successful",
                      record={"id": record_id, "name": rec["name"], "status": "enable"})

    def _modify(self, form: dict, domain: str, req: FakeRequest) -> FakeResponse:
        for param in ("record_id", "sub_domain", "record_type", "value"):
            if not form.get(param):
                return answer("6", "Parameter %s missing" % param)
        return self._change(form, domain, form["sub_domain"], form["record_type"], form["value"],
                            form.get("ttl", "600"))

    def _ddns(self, form: dict, domain: str, req: FakeRequest) -> FakeResponse:
        if not form.get("record_id"):
            return answer("6", "Parameter record_id missing")
        old = self._record(form, domain)
        if old is None:
            return answer("8", "Record id invalid")
        value = form.get("value") or req.headers.get("x-client-address", "127.0.0.1")
        return self._change(form, domain, form.get("sub_domain") or "@", old["type"], value, old["ttl"])

    def _remove(self, form: dict, domain: str, req: FakeRequest) -> FakeResponse:
        if not form.get("record_id"):
            return answer("6", "Parameter record_id missing")
        if self._record(form, domain) is None:
            return answer("8", "Record id invalid")
        self.writes += 1
        del self.records[int(form["record_id"])]
        return answer("1", "Action completed successful")

    def _record(self, form: dict, domain: str) -> dict | None:
        record_id = form.get("record_id", "")
        rec = self.records.get(int(record_id)) if record_id.isdigit() else None
        return rec if rec is not None and rec["domain"] == domain else None

    def _change(self, form: dict, domain: str, name: str, type: str, value: str, ttl) -> FakeResponse:
        old = self._record(form, domain)
        if old is None:
            return answer("8", "Record id invalid")
        if not (form.get("record_line") or form.get("record_line_id")):
            return answer("6", "Parameter record_line missing")
        rec = {"domain": domain, "name": name, "type": type, "value": value, "ttl": ttl,
               "line": form.get("record_line") or form.get("record_line_id")}
        error = self._validate(rec)
        if error:
            return error
        record_id = int(form["record_id"])
        now = self.clock()
        if self._locked_until.get(record_id, 0) > now:
            return answer("21", "Record locked after repeated no-change modifications")
        if any(rid != record_id and r == rec for rid, r in self.records.items()):
            return answer("104", "Domain record already exists")  # another record holds this value
        if rec == old:
            self.noop_modifications += 1
            recent = [t for t in self._noops.get(record_id, []) if now - t < 3600] + [now]
            self._noops[record_id] = recent
            if len(recent) > 5:
                self._locked_until[record_id] = now + 3600
                return answer("21", "Record locked after repeated no-change modifications")
        self.writes += 1
        self.records[record_id] = rec
        return answer("1", "Action completed successful",
                      record={"id": record_id, "name": name, "value": value, "status": "enable"})
