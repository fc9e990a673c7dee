"""ClouDNS HTTP API with an API user's auth-id and auth-password (docs/providers/cloudns.md).

Every call is a form POST to `<endpoint>/dns/<call>.json` carrying the credentials (POST keeps the
password out of URLs). `mod-record` requires the TTL: the call carries the one the agent cached
with the id (one `records` read first when unknown).
"""

from __future__ import annotations

from urllib.parse import urlencode

from ddns_agent.errors import AuthError, ConfigError, NotFoundError, RejectedError, UnconfirmedError
from ddns_agent.http import url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name, brief, first_of

DEFAULT_ENDPOINT = "https://api.cloudns.net"
#: the only TTLs ClouDNS accepts
TTLS = (60, 300, 900, 1800, 3600, 21600, 43200, 86400, 172800, 259200, 604800, 1209600, 2592000)
DEFAULT_TTL = 3600  # the control panel's default; `add-record` requires one
_TRUE = ("1", "true", "yes", "on")


class ClouDNS(Provider):
    """A, AAAA records of a ClouDNS master zone (API user from the control panel's API & Resellers page)."""

    type = "cloudns"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._password = self.secret("auth_password")
        sub = str(options.get("sub_auth") or "").strip().lower() in _TRUE
        self._auth = {"sub-auth-id" if sub else "auth-id": str(options.get("auth_id") or ""),
                      "auth-password": self._password}
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT

    def find(self, rec: RecordSpec) -> Remote | None:
        """The first record of rec.type at rec.name; the others of that name in `others`."""
        return first_of(self._matches(rec))

    def _matches(self, rec: RecordSpec) -> list:
        """Every record of rec.type whose host is rec.name ('' for the apex), matched here too."""
        answer = self._call("records", {"domain-name": ascii_name(rec.domain), "host": _host(rec),
                                        "type": rec.type})
        if isinstance(answer, list) and not answer:  # no records: []
            return []
        if not isinstance(answer, dict):
            raise self._malformed()
        found = []
        for item in answer.values():
            if isinstance(item, dict) and item.get("type") == rec.type \
                    and str(item.get("host", "")).lower() == _host(rec):
                record_id, value, ttl = str(item.get("id", "")), item.get("record"), str(item.get("ttl", ""))
                if not record_id.isdigit() or not isinstance(value, str):
                    raise self._malformed()
                found.append(Remote(record_id, value, int(ttl) if ttl.isdigit() else None))
        return found

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """add-record; TTL 3600 unless the record sets one (ClouDNS requires a TTL)."""
        ttl = _ttl(rec) or DEFAULT_TTL
        answer = self._call("add-record", {"domain-name": ascii_name(rec.domain), "record-type": rec.type,
                                           "host": _host(rec), "record": address, "ttl": ttl})
        data = answer.get("data") if isinstance(answer, dict) else None
        record_id = str(data.get("id", "")) if isinstance(data, dict) else ""
        if not record_id.isdigit():
            raise self._malformed()
        return Remote(record_id, address, ttl)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """mod-record with the address and the TTL the record had (or the configured one)."""
        record_id = str(remote.id or "")
        if not record_id.isdigit():
            raise NotFoundError("no current ClouDNS record id for %s" % rec, provider=self.type)
        ttl = _ttl(rec) or remote.ttl or self._ttl_of(rec, record_id)
        self._call("mod-record", {"domain-name": ascii_name(rec.domain), "record-id": record_id,
                                  "host": _host(rec), "record": address, "ttl": ttl}, modify=True)
        return Remote(record_id, address, ttl)

    def _ttl_of(self, rec: RecordSpec, record_id: str) -> int:
        """The TTL record `record_id` has now (one read); NotFoundError when it is not listed."""
        for match in self._matches(rec):
            if match.id == record_id:
                return match.ttl or DEFAULT_TTL
        raise NotFoundError("ClouDNS does not list record %s for %s" % (record_id, rec), provider=self.type)

    def check(self) -> str:
        """login.json: proves the API user; changes nothing."""
        self._call("login", {})
        return "API user accepted"

    def _call(self, call: str, params: dict, modify: bool = False):
        """One POST; the parsed answer unless it says `"status": "Failed"`."""
        form = dict(self._auth)
        form.update(params)
        resp, answer = self.exchange("POST", url_join(self.endpoint, "dns/%s.json" % call),
                                     {"Content-Type": "application/x-www-form-urlencoded",
                                      "Accept": "application/json"}, urlencode(form).encode("utf-8"))
        failed = isinstance(answer, dict) and answer.get("status") == "Failed"
        if not failed:
            if not 200 <= resp.status < 300:
                raise RejectedError("ClouDNS answered HTTP %d to %s" % (resp.status, call),
                                    status=resp.status, provider=self.type)
            if call == "records" and isinstance(answer, (dict, list)):
                return answer
            if not isinstance(answer, dict) or answer.get("status") != "Success":
                raise self._malformed(resp.status)
            return answer
        # {"status": "Failed", "statusDescription": "Invalid authentication, incorrect auth-id or ..."}
        what = brief(answer.get("statusDescription") or "Failed", "", (self._password,))
        lower = what.lower()
        if "auth" in lower and ("invalid" in lower or "incorrect" in lower):
            raise AuthError("ClouDNS refused auth_id/auth_password: %s" % what, provider=self.type)
        if modify and "record-id" in lower:
            raise NotFoundError("ClouDNS record is gone: %s" % what, provider=self.type)
        raise RejectedError("ClouDNS refused %s: %s" % (call, what), provider=self.type)

    def _malformed(self, status: int | None = None) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from ClouDNS", status=status, provider=self.type)


def _ttl(rec: RecordSpec) -> int | None:
    """The record's TTL, which must be one ClouDNS offers."""
    if rec.ttl and rec.ttl not in TTLS:
        raise ConfigError("ClouDNS accepts only the TTLs %s, got %d" % (", ".join(map(str, TTLS)), rec.ttl),
                          section=rec.key, option="ttl")
    return rec.ttl


def _host(rec: RecordSpec) -> str:
    """The host as ClouDNS wants it: relative to the zone, empty for the apex."""
    return "" if rec.name in ("@", "") else ascii_name(rec.name)
