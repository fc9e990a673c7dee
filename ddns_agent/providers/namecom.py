"""name.com API v4 with the account's user name and an API token (docs/providers/namecom.md).

A record update is a PUT of the whole record, whose `ttl` would fall back to name.com's default;
so the PUT carries the TTL the agent cached with the id (one GetRecord first when unknown).
"""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

from ddns_agent.errors import AuthError, NotFoundError, RejectedError, UnconfirmedError
from ddns_agent.http import url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name, brief, first_of

DEFAULT_ENDPOINT = "https://api.name.com/v4"
PER_PAGE = 1000  # the documented maximum
MAX_PAGES = 10
DEFAULT_TTL = 300


class NameCom(Provider):
    """A, AAAA records of a domain whose DNS name.com hosts."""

    type = "namecom"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._token = self.secret("api_token")
        pair = "%s:%s" % (options.get("username") or "", self._token)
        self._auth = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT

    def find(self, rec: RecordSpec) -> Remote | None:
        """The first record of rec.type whose fqdn is rec.fqdn; the others of that name in `others`."""
        return first_of(self._matches(rec))

    def _matches(self, rec: RecordSpec) -> list:
        """Every record of rec.type whose fqdn is rec.fqdn (the list is read page by page)."""
        fqdn = ascii_name(rec.fqdn) + "."
        found = []
        for page in range(1, MAX_PAGES + 1):
            query = urlencode({"perPage": PER_PAGE, "page": page})
            body = self._call("GET", "domains/%s/records?%s" % (_q(ascii_name(rec.domain)), query),
                              zone=rec.domain)
            records = body.get("records", [])  # an empty zone answers {}
            if not isinstance(records, list):
                raise self._malformed()
            for item in records:
                if isinstance(item, dict) and item.get("type") == rec.type \
                        and str(item.get("fqdn", "")).lower() == fqdn:
                    found.append(self._remote(item))
            next_page = body.get("nextPage")
            if not isinstance(next_page, int) or next_page <= page:
                break
        return found

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """POST the record; name.com's default TTL (300) unless the record sets one."""
        body = {"host": _host(rec), "type": rec.type, "answer": address}
        if rec.ttl:
            body["ttl"] = rec.ttl
        return self._remote(self._call("POST", "domains/%s/records" % _q(ascii_name(rec.domain)), body,
                                       zone=rec.domain))

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """PUT the record with the address and the TTL it had (or the configured one)."""
        record_id = str(remote.id or "")
        if not record_id.isdigit():
            raise NotFoundError("no current name.com record id for %s" % rec, provider=self.type)
        path = "domains/%s/records/%s" % (_q(ascii_name(rec.domain)), record_id)
        ttl = rec.ttl or remote.ttl or self._remote(self._call("GET", path)).ttl or DEFAULT_TTL
        body = {"host": _host(rec), "type": rec.type, "answer": address, "ttl": ttl}
        return self._remote(self._call("PUT", path, body))

    def check(self) -> str:
        """List the account's domains; changes nothing."""
        domains = self._call("GET", "domains?perPage=50").get("domains", [])
        if not isinstance(domains, list):
            raise self._malformed()
        if not domains:
            raise RejectedError("the name.com account has no domain", provider=self.type)
        return "token accepted; domains " + ", ".join(
            str(d.get("domainName")) for d in domains if isinstance(d, dict))

    def _call(self, method: str, path: str, body: dict | None = None, zone: str = "") -> dict:
        """One API call; the parsed JSON object of a 2xx answer, else the matching error.

        `zone` set: a 404 means the domain is not in the account (a list or a create).
        """
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        url = url_join(self.endpoint, path)
        resp, answer = self.json_exchange(method, url, headers, body, self._malformed)
        if 200 <= resp.status < 300:
            return answer
        # {"message": "Unauthenticated"} or {"message": "Invalid Argument", "details": "..."}
        what = brief(answer.get("message") or "HTTP %d" % resp.status, answer.get("details"), (self._token,))
        if resp.status == 401:
            raise AuthError("name.com refused username/api_token: %s" % what, status=401, provider=self.type)
        if resp.status == 403:
            raise AuthError("name.com denied access (API access with 2-step verification must be switched on "
                            "in the account's security settings): %s" % what, status=403, provider=self.type)
        if resp.status == 404:
            if zone:
                raise RejectedError("domain %s not found in this name.com account: %s" % (zone, what),
                                    status=404, provider=self.type)
            raise NotFoundError("name.com record is gone: %s" % what, status=404, provider=self.type)
        last = path.split("?")[0].rsplit("/", 1)[-1]
        raise RejectedError("name.com refused %s %s: %s" % (method, last, what), status=resp.status,
                            provider=self.type)

    def _remote(self, item) -> Remote:
        if not isinstance(item, dict):
            raise self._malformed()
        record_id, answer, ttl = item.get("id"), item.get("answer"), item.get("ttl")
        if isinstance(record_id, bool) or not isinstance(record_id, int) or not isinstance(answer, str):
            raise self._malformed()
        ttl = ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None
        return Remote(str(record_id), answer, ttl)

    def _malformed(self, status: int | None = None) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from name.com", status=status, provider=self.type)


def _host(rec: RecordSpec) -> str:
    """The host as name.com wants it: relative to the domain, empty for the apex."""
    return "" if rec.name in ("@", "") else ascii_name(rec.name)


def _q(segment: str) -> str:
    """A path segment, escaped so a name can never change the path."""
    return quote(str(segment), safe="")
