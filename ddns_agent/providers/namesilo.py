"""NameSilo API (version 1, JSON) with an API key (docs/providers/namesilo.md).

Every call is a GET whose query carries the key (NameSilo takes no other way; transport messages
never print a query). `dnsUpdateRecord` gives the record a new id, which each update returns, and
without `rrttl` NameSilo's default TTL: the call carries the TTL the agent cached with the id (one
list first when unknown).
"""

from __future__ import annotations

from urllib.parse import urlencode

from ddns_agent.errors import AuthError, NotFoundError, RejectedError, TransientError, UnconfirmedError
from ddns_agent.http import url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name, brief, first_of

DEFAULT_ENDPOINT = "https://www.namesilo.com/api"
SUCCESS = 300
#: 110 invalid API key, 112 API not available to sub-accounts, 113 not allowed from this IP
AUTH_CODES = frozenset((110, 112, 113))
NOT_YOURS = 200   # domain not active or not in this account
INTERNAL = 201    # internal system error
DNS_ERROR = 280   # DNS modification error (an unknown rrid among them)
DEFAULT_TTL = 7207  # what NameSilo sets when `rrttl` is left out


class NameSilo(Provider):
    """A, AAAA records of a domain on NameSilo's DNS (API key from the account's API Manager)."""

    type = "namesilo"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._key = self.secret("api_key")
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT

    def find(self, rec: RecordSpec) -> Remote | None:
        """The first record named rec.fqdn of rec.type; the others of that name in `others`."""
        return first_of(self._matches(rec))

    def _matches(self, rec: RecordSpec) -> list:
        """Every record named rec.fqdn of rec.type from dnsListRecords."""
        reply = self._call("dnsListRecords", {"domain": ascii_name(rec.domain)})
        items = reply.get("resource_record", [])
        items = [items] if isinstance(items, dict) else items  # one record comes as an object
        if not isinstance(items, list):
            raise self._malformed()
        fqdn = ascii_name(rec.fqdn)
        found = []
        for item in items:
            if isinstance(item, dict) and item.get("type") == rec.type \
                    and str(item.get("host", "")).lower() == fqdn:
                record_id, value = str(item.get("record_id") or ""), item.get("value")
                ttl = str(item.get("ttl"))
                if not record_id or not isinstance(value, str):
                    raise self._malformed()
                found.append(Remote(record_id, value, int(ttl) if ttl.isdigit() else None))
        return found

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """dnsAddRecord; NameSilo's default TTL (7207) unless the record sets one."""
        params = {"domain": ascii_name(rec.domain), "rrtype": rec.type, "rrhost": _host(rec),
                  "rrvalue": address}
        if rec.ttl:
            params["rrttl"] = rec.ttl
        reply = self._call("dnsAddRecord", params)
        return Remote(self._record_id(reply), address, rec.ttl or DEFAULT_TTL)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """dnsUpdateRecord with the TTL the record had (or the configured one); returns the new id."""
        record_id = str(remote.id or "")
        if not record_id.isalnum():
            raise NotFoundError("no current NameSilo record id for %s" % rec, provider=self.type)
        ttl = rec.ttl or remote.ttl or self._ttl_of(rec, record_id)
        params = {"domain": ascii_name(rec.domain), "rrid": record_id, "rrhost": _host(rec),
                  "rrvalue": address, "rrttl": ttl}
        reply = self._call("dnsUpdateRecord", params, update=True)
        return Remote(self._record_id(reply), address, ttl)

    def _ttl_of(self, rec: RecordSpec, record_id: str) -> int:
        """The TTL record `record_id` has now (one read); NotFoundError when it is not listed."""
        for match in self._matches(rec):
            if match.id == record_id:
                return match.ttl or DEFAULT_TTL
        raise NotFoundError("NameSilo does not list record %s for %s" % (record_id, rec), provider=self.type)

    def check(self) -> str:
        """listDomains; changes nothing."""
        domains = self._call("listDomains", {}).get("domains")
        names = domains.get("domain") if isinstance(domains, dict) else None
        names = [names] if isinstance(names, (str, dict)) else names
        if not isinstance(names, list) or not names:
            raise RejectedError("the NameSilo account has no domain", provider=self.type)
        return "API key accepted; domains " + ", ".join(
            str(n.get("domain") if isinstance(n, dict) else n) for n in names)

    def _call(self, operation: str, params: dict, update: bool = False) -> dict:
        """One GET; the `reply` object of a code-300 answer, else the matching error."""
        query = {"version": "1", "type": "json", "key": self._key}
        query.update(params)
        url = url_join(self.endpoint, operation) + "?" + urlencode(query)
        resp, answer = self.exchange("GET", url, {"Accept": "application/json"}, None)
        reply = answer.get("reply") if isinstance(answer, dict) else None
        if not isinstance(reply, dict) or not str(reply.get("code", "")).isdigit():
            if 200 <= resp.status < 300:
                raise self._malformed(resp.status)
            raise RejectedError("NameSilo answered HTTP %d to %s" % (resp.status, operation),
                                status=resp.status, provider=self.type)
        code = int(reply["code"])
        if code == SUCCESS:
            return reply
        what = brief(code, reply.get("detail"), (self._key,))
        if code in AUTH_CODES:
            raise AuthError("NameSilo refused the API key: %s" % what, status=code, provider=self.type)
        if code == NOT_YOURS:
            raise RejectedError("NameSilo: the domain is not active or not in this account: %s" % what,
                                status=code, provider=self.type)
        if code == INTERNAL:
            raise TransientError("NameSilo internal error: %s" % what, status=code, provider=self.type)
        if update and code == DNS_ERROR:  # most often: the rrid no longer exists
            raise NotFoundError("NameSilo could not update the record: %s" % what, status=code,
                                provider=self.type)
        raise RejectedError("NameSilo refused %s: %s" % (operation, what), status=code, provider=self.type)

    def _record_id(self, reply: dict) -> str:
        record_id = str(reply.get("record_id") or "")
        if not record_id.isalnum():
            raise self._malformed()
        return record_id

    def _malformed(self, status: int | None = None) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from NameSilo", status=status, provider=self.type)


def _host(rec: RecordSpec) -> str:
    """The host as NameSilo wants it: relative to the domain, empty for the apex."""
    return "" if rec.name in ("@", "") else ascii_name(rec.name)
