"""DNSPod legacy API, dnsapi.cn (specs/providers.md §1).

Form POSTs to <endpoint>/<Action> with login_token "ID,Token"; the answer's status.code (a string)
says what happened, HTTP 200 or not. Auth failures stop at once: more than 30 failed logins in
5 minutes ban the account for an hour. Never log the login_token. One name holds several A/AAAA
records per line (record sets).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from ddns_agent import __version__
from ddns_agent.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    UnconfirmedError,
)
from ddns_agent.http import raise_for_status, url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, brief, first_of, holding, ours_holding

DEFAULT_ENDPOINT = "https://dnsapi.cn"
DEFAULT_LINE = "默认"
DEFAULT_TTL = 600  # Record.Create without ttl (the free plan's minimum and the API's default)
INTL_LINE = "default"  # api.dnspod.com names the default line in English
#: -1 login failed, -7 no permission, -8 banned after failed logins, 83 account locked,
#: 85 login from a disallowed place, 50-54 D-token (2FA) problems
AUTH_CODES = frozenset(("-1", "-7", "-8", "83", "85", "50", "51", "52", "53", "54"))
#: -2 API use over limit, -99 feature suspended: wait (their bans last about an hour)
LIMIT_CODES = frozenset(("-2", "-99"))
LIMIT_WAIT_S = 600.0
BAN_WAIT_S = 3600.0
BAD_RECORD_ID = "8"  # for actions taking a record_id; Record.List uses 8 for a bad `length`
NO_RECORDS = "10"
ALREADY_EXISTS = "104"
#: Record.Create: the plan's records per name and line are used up (round robin; AAAA count)
FULL_CODES = frozenset(("25", "33", "500025"))
#: Record.List rows per request; over 3000 the service cuts the answer to 3000 (records.rst)
PAGE = 3000
MAX_PAGES = 10
#: DNSPod wants `ProgramName/Version (contact-email)` and bans other User-Agents (specs §1); this
#: default is well formed but reaches no one: `option contact_email` should name the user
DEFAULT_CONTACT = "ddns-agent@users.noreply.github.com"
EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class DNSPod(Provider):
    """A, AAAA records through the legacy DNSPod API (DNSPod Token of the main account)."""

    type = "dnspod"
    multi = True

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._token = self.secret("login_token")
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT
        host = urlsplit(self.endpoint).hostname or ""
        default_line = INTL_LINE if host.endswith("dnspod.com") else DEFAULT_LINE
        self._line = options.get("record_line") or default_line
        contact = str(options.get("contact_email") or DEFAULT_CONTACT).strip()
        if not EMAIL.match(contact):
            raise ConfigError("expected an e-mail address DNSPod can reach you at (it goes in the "
                              "User-Agent), got %r" % contact, option="contact_email")
        self.user_agent = "ddns_agent/%s (%s)" % (__version__, contact)

    def find(self, rec: RecordSpec) -> Remote | None:
        """The record of rec.name and rec.type on the configured line; other lines are not ours.

        Every other such record comes back in `others`: the agent manages the first only.
        """
        return first_of(self._matches(rec))

    def find_all(self, rec: RecordSpec) -> list:
        """Every record of rec.name and rec.type on the configured line (a record set), every page read."""
        return self._matches(rec)

    def _matches(self, rec: RecordSpec) -> list:
        """Every record of rec.name and rec.type on the configured line, in listed order."""
        sub = _sub(rec)
        line = self._line_of(rec)
        found: list = []
        for page in range(MAX_PAGES):
            code, data = self._call("Record.List", {"domain": rec.domain, "sub_domain": sub,
                                                    "record_type": rec.type, "offset": str(page * PAGE),
                                                    "length": str(PAGE)}, accept=(NO_RECORDS,))
            records = data.get("records") if code == "1" else []
            if not isinstance(records or [], list):
                raise self._malformed("Record.List")
            self._pick(records or [], sub, rec.type, line, found)
            if len(records or []) < PAGE:
                break
        return found

    def _pick(self, records: list, sub: str, type: str, line: str, found: list) -> None:
        """Append the listed records of exactly `sub`, `type` and `line` to `found`."""
        for item in records:
            if (isinstance(item, dict) and str(item.get("name", "")).lower() == sub.lower()
                    and item.get("type") == type and line in (item.get("line"), item.get("line_id"))):
                if item.get("id") in (None, "") or not isinstance(item.get("value"), str):
                    raise self._malformed("Record.List")
                ttl = str(item.get("ttl", ""))
                ttl = int(ttl) if ttl.isascii() and ttl.isdigit() else None  # "²".isdigit() is True
                found.append(Remote(str(item["id"]), item["value"], ttl))

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """Record.Create on the configured line, also beside other values of the name (a record set).

        An identical existing record (code 104) is adopted: the one holding `address`; for a set
        member it is not ours (Remote without id).
        """
        params = {"domain": rec.domain, "sub_domain": _sub(rec), "record_type": rec.type,
                  "record_line": self._line_of(rec), "value": address}
        if rec.ttl:
            params["ttl"] = str(rec.ttl)
        try:
            code, data = self._call("Record.Create", params, accept=(ALREADY_EXISTS,))
        except RejectedError as e:
            if e.status not in FULL_CODES:
                raise
            raise RejectedError("%s: the plan allows no more records of %s on this line (a free plan "
                                "holds 2)" % (e, rec), status=e.status, provider=self.type)
        if code == ALREADY_EXISTS:
            if rec.in_set:  # a record we did not create holds it: never adopted into a set
                return Remote(None, address)
            found = holding(self._matches(rec), address)
            if found is None:
                raise UnconfirmedError("DNSPod says %s %s exists but does not list it" % (rec, address),
                                       provider=self.type)
            return found
        record = data.get("record")
        if not isinstance(record, dict) or record.get("id") in (None, ""):
            raise self._malformed("Record.Create")
        return Remote(str(record["id"]), address, rec.ttl or DEFAULT_TTL)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """Record.Ddns for A, Record.Modify for AAAA or a TTL change; NotFoundError if the id is gone."""
        if not remote.id:
            raise NotFoundError("no DNSPod record id for %s" % rec, provider=self.type)
        params = {"domain": rec.domain, "record_id": remote.id, "sub_domain": _sub(rec),
                  "record_line": self._line_of(rec), "value": address}
        ttl = rec.ttl or remote.ttl
        if rec.type == "A" and (not rec.ttl or rec.ttl == remote.ttl):
            action = "Record.Ddns"  # changes the value only, keeps the TTL
        else:
            action = "Record.Modify"
            params["record_type"] = rec.type
            if not ttl:  # Modify without ttl resets it to the default: send the one it has
                ttl = self._ttl_of(rec, remote.id)
            params["ttl"] = str(ttl)
        code, _ = self._call(action, params, accept=(ALREADY_EXISTS,))
        if code == ALREADY_EXISTS:  # success only if it is our record that holds the address
            return ours_holding(self._matches(rec), remote.id, address, "DNSPod", action, "104", self.type)
        return Remote(remote.id, address, ttl)

    def delete(self, rec: RecordSpec, remote: Remote) -> None:
        """Record.Remove by id; NotFoundError (code 8) when it is gone already, which counts as done."""
        if not remote.id:
            raise NotFoundError("no DNSPod record id for %s" % rec, provider=self.type)
        self._call("Record.Remove", {"domain": rec.domain, "record_id": remote.id})

    def _ttl_of(self, rec: RecordSpec, record_id: str) -> int:
        """The TTL record `record_id` has now (one read); NotFoundError when it is not listed."""
        for match in self._matches(rec):
            if match.id == str(record_id):
                if not match.ttl:
                    raise self._malformed("Record.List")
                return match.ttl
        raise NotFoundError("DNSPod does not list record %s for %s" % (record_id, rec), provider=self.type)

    def check(self) -> str:
        """Domain.List, read-only (dnspod-api-doc domains.rst): the token works and reaches these zones."""
        no_domains = "9"  # documented: the account has no domain
        code, data = self._call("Domain.List", {}, accept=(no_domains,))
        domains = data.get("domains") if code == "1" else []
        if not isinstance(domains or [], list):
            raise self._malformed("Domain.List")
        names = [str(d["name"]) for d in domains or [] if isinstance(d, dict) and d.get("name")]
        if not names:
            raise RejectedError("the DNSPod login_token reaches no domain", status=code, provider=self.type)
        info = data.get("info") if isinstance(data.get("info"), dict) else {}
        total = info.get("domain_total")
        total = str(total) if str(total).isascii() and str(total).isdigit() else "0"
        more = " (%s in total)" % total if int(total) > len(names[:10]) else ""
        return "zones %s reachable%s" % (", ".join(names[:10]), more)

    def _line_of(self, rec: RecordSpec) -> str:
        return rec.options.get("record_line") or self._line

    def _call(self, action: str, params: dict, accept: tuple = ()) -> tuple:
        """POST one action; returns (code, answer) for code 1 or a code in `accept`, raises otherwise."""
        form = {"login_token": self._token, "format": "json", "lang": "en", "error_on_empty": "no"}
        form.update(params)
        resp = self.http.request("POST", url_join(self.endpoint, action),
                                 {"Content-Type": "application/x-www-form-urlencoded",
                                  "Accept": "application/json", "User-Agent": self.user_agent},
                                 urlencode(form).encode("utf-8"))
        raise_for_status(resp, self.type)
        if resp.status == 403:
            raise RateLimitedError("DNSPod blocked this client (HTTP 403: an API ban for abuse or for the "
                                   "User-Agent %r; it lasts about an hour)" % self.user_agent,
                                   retry_after=BAN_WAIT_S, status=403, provider=self.type)
        if resp.status != 200:
            raise RejectedError("DNSPod answered HTTP %d to %s (endpoint?)" % (resp.status, action),
                                status=resp.status, provider=self.type)
        data = resp.json()
        status = data.get("status") if isinstance(data, dict) else None
        if not isinstance(status, dict) or status.get("code") in (None, ""):
            raise self._malformed(action)
        code = str(status["code"])
        if code == "1" or code in accept:
            return code, data
        # The message comes from the server; keep the token out even if it were echoed (the
        # secret part after "ID," is enough to hide it in the form-encoded echo too).
        what = brief(code, status.get("message"), (self._token, self._token.partition(",")[2]))
        if code in AUTH_CODES:
            raise AuthError("DNSPod refused the login_token: %s" % what, status=code, provider=self.type)
        if code in LIMIT_CODES:
            raise RateLimitedError("DNSPod asks to slow down: %s" % what, retry_after=LIMIT_WAIT_S,
                                   status=code, provider=self.type)
        if code == BAD_RECORD_ID and "record_id" in params:
            raise NotFoundError("DNSPod record is gone: %s" % what, status=code, provider=self.type)
        raise RejectedError("DNSPod refused %s: %s" % (action, what), status=code, provider=self.type)

    def _malformed(self, action: str) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from DNSPod to %s" % action, provider=self.type)


def _sub(rec: RecordSpec) -> str:
    """The sub_domain DNSPod wants: the label(s) below the zone, '@' for the apex."""
    return rec.name or "@"
