"""NameSilo API (version 1, JSON) with an API key (docs/providers/namesilo.md).

Every call is a GET whose query carries the key (NameSilo takes no other way; transport messages
never print a query). `dnsUpdateRecord` gives the record a new id and, without `rrttl`, NameSilo's
default TTL; so a Remote id is "<record id>/<ttl>" and each update returns the new id.
"""

from __future__ import annotations

from urllib.parse import urlencode

from ddns_agent.errors import AuthError, NotFoundError, RejectedError, TransientError, UnconfirmedError
from ddns_agent.http import raise_for_status, url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name

DEFAULT_ENDPOINT = "https://www.namesilo.com/api"
SUCCESS = 300
#: 110 invalid API key, 112 API not available to sub-accounts, 113 not allowed from this IP
AUTH_CODES = frozenset((110, 112, 113))
NOT_YOURS = 200   # domain not active or not in this account
INTERNAL = 201    # internal system error
DNS_ERROR = 280   # DNS modification error (an unknown rrid among them)


class NameSilo(Provider):
    """A, AAAA records of a domain on NameSilo's DNS (API key from the account's API Manager)."""

    type = "namesilo"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        key = options.get("api_key")
        self._key = key.reveal() if hasattr(key, "reveal") else str(key or "")
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT

    def find(self, rec: RecordSpec) -> Remote | None:
        """The record named rec.fqdn of rec.type from dnsListRecords."""
        reply = self._call("dnsListRecords", {"domain": ascii_name(rec.domain)})
        items = reply.get("resource_record", [])
        items = [items] if isinstance(items, dict) else items  # one record comes as an object
        if not isinstance(items, list):
            raise self._malformed()
        fqdn = ascii_name(rec.fqdn)
        for item in items:
            if isinstance(item, dict) and item.get("type") == rec.type \
                    and str(item.get("host", "")).lower() == fqdn:
                record_id, value = str(item.get("record_id") or ""), item.get("value")
                ttl = str(item.get("ttl"))
                if not record_id or not isinstance(value, str):
                    raise self._malformed()
                ttl_value = int(ttl) if ttl.isdigit() else None
                return Remote(_id(record_id, ttl_value), value, ttl_value)
        return None

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """dnsAddRecord; NameSilo's default TTL (7207) unless the record sets one."""
        params = {"domain": ascii_name(rec.domain), "rrtype": rec.type, "rrhost": _host(rec),
                  "rrvalue": address}
        if rec.ttl:
            params["rrttl"] = rec.ttl
        reply = self._call("dnsAddRecord", params)
        return Remote(_id(self._record_id(reply), rec.ttl or 7207), address, rec.ttl or 7207)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """dnsUpdateRecord with the TTL the record had (or the configured one); returns the new id."""
        record_id, _, ttl_text = (remote.id or "").partition("/")
        if not record_id.isalnum():
            raise NotFoundError("no current NameSilo record id for %s" % rec, provider=self.type)
        ttl = rec.ttl or (int(ttl_text) if ttl_text.isdigit() else remote.ttl)
        params = {"domain": ascii_name(rec.domain), "rrid": record_id, "rrhost": _host(rec),
                  "rrvalue": address}
        if ttl:
            params["rrttl"] = ttl
        reply = self._call("dnsUpdateRecord", params, update=True)
        return Remote(_id(self._record_id(reply), ttl), address, ttl)

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
        resp = self.http.request("GET", url_join(self.endpoint, operation) + "?" + urlencode(query),
                                 {"Accept": "application/json"}, None)
        raise_for_status(resp, self.type)
        try:
            answer = resp.json()
        except UnconfirmedError:
            answer = None
        reply = answer.get("reply") if isinstance(answer, dict) else None
        if not isinstance(reply, dict) or not str(reply.get("code", "")).isdigit():
            if 200 <= resp.status < 300:
                raise self._malformed(resp.status)
            raise RejectedError("NameSilo answered HTTP %d to %s" % (resp.status, operation),
                                status=resp.status, provider=self.type)
        code = int(reply["code"])
        if code == SUCCESS:
            return reply
        what = "%d %s" % (code, reply.get("detail") or "")
        what = what.replace(self._key, "***") if self._key else what
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


def _id(record_id: str, ttl: int | None) -> str:
    return "%s/%d" % (record_id, ttl) if ttl else record_id


def _host(rec: RecordSpec) -> str:
    """The host as NameSilo wants it: relative to the domain, empty for the apex."""
    return "" if rec.name in ("@", "") else ascii_name(rec.name)
