"""Gandi LiveDNS (API v5) with a personal access token (docs/providers/gandi.md).

A record is an RRSet addressed by domain, name and type (the Remote id is "<name>/<type>"); PUT
creates or replaces it, and a PUT without `rrset_ttl` would reset the TTL to Gandi's default, so
it carries the TTL the agent cached with the id (one GET first when unknown).
"""

from __future__ import annotations

from urllib.parse import quote

from ddns_agent.errors import AuthError, NotFoundError, RejectedError, UnconfirmedError
from ddns_agent.http import url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name, brief

DEFAULT_ENDPOINT = "https://api.gandi.net/v5/livedns"
DEFAULT_TTL = 10800  # what Gandi sets when a PUT leaves rrset_ttl out


class Gandi(Provider):
    """A, AAAA records of a domain on Gandi LiveDNS (token permission: manage technical configuration)."""

    type = "gandi"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._token = self.secret("api_token")
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT

    def find(self, rec: RecordSpec) -> Remote | None:
        """GET the RRSet; None when Gandi has none of that name and type."""
        try:
            rrset = self._call("GET", self._path(rec), rec)
        except NotFoundError:  # no such RRSet (or domain: the create's PUT then says which)
            return None
        values = rrset.get("rrset_values") if isinstance(rrset, dict) else None
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise self._malformed()
        ttl = rrset.get("rrset_ttl")
        ttl = ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None
        return Remote(_id(rec), values[0] if len(values) == 1 else ",".join(values), ttl)

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """PUT the RRSet; Gandi's default TTL (10800) unless the record sets one."""
        return self._put(rec, address, rec.ttl)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """PUT the one address with the TTL the record has (or the configured one)."""
        if remote.id != _id(rec):
            raise NotFoundError("no current Gandi RRSet id for %s" % rec, provider=self.type)
        ttl = rec.ttl or remote.ttl
        if not ttl:  # unknown: read it rather than let the PUT reset it
            now = self.find(rec)
            if now is None:
                raise NotFoundError("Gandi has no RRSet %s any more" % rec, provider=self.type)
            ttl = now.ttl
        return self._put(rec, address, ttl)

    def check(self) -> str:
        """List the domains the token reaches; changes nothing."""
        domains = self._call("GET", "domains")
        if not isinstance(domains, list):
            raise self._malformed()
        names = [str(d.get("fqdn")) for d in domains if isinstance(d, dict)]
        if not names:
            raise RejectedError("the Gandi token reaches no LiveDNS domain", provider=self.type)
        return "token accepted; domains " + ", ".join(names)

    def _put(self, rec: RecordSpec, address: str, ttl: int | None) -> Remote:
        body = {"rrset_values": [address]}
        if ttl:
            body["rrset_ttl"] = ttl
        try:
            self._call("PUT", self._path(rec), rec, body)
        except NotFoundError as exc:  # PUT creates the RRSet: only the domain can be missing
            raise RejectedError("domain %s not found on Gandi LiveDNS with this token: %s"
                                % (rec.domain, exc.message), status=404, provider=self.type)
        ttl = ttl or DEFAULT_TTL
        return Remote(_id(rec), address, ttl)

    def _path(self, rec: RecordSpec) -> str:
        return "domains/%s/records/%s/%s" % (_q(ascii_name(rec.domain)), _q(_label(rec)), rec.type)

    def _call(self, method: str, path: str, rec: RecordSpec | None = None, body: dict | None = None):
        """One API call; the parsed JSON of a 2xx answer, else the matching error."""
        headers = {"Authorization": "Bearer " + self._token, "Accept": "application/json"}
        # a 2xx may be any JSON: GET domains answers a list
        url = url_join(self.endpoint, path)
        resp, answer = self.json_exchange(method, url, headers, body, self._malformed, want=object)
        if 200 <= resp.status < 300:
            return answer
        # {"code": 401, "message": "...", "object": "HTTPUnauthorized", "cause": "Unauthorized"}
        message = str(answer.get("message") or "")
        errors = answer.get("errors")
        if isinstance(errors, list):
            message += " " + "; ".join("%s: %s" % (e.get("name"), e.get("description"))
                                       for e in errors[:3] if isinstance(e, dict))
        what = brief(answer.get("cause") or "HTTP %d" % resp.status, message.strip(), (self._token,))
        if resp.status == 401:
            raise AuthError("Gandi refused the token: %s" % what, status=401, provider=self.type)
        if resp.status == 403:
            raise AuthError("the Gandi token may not do this (permission to manage the domain's technical "
                            "configuration?): %s" % what, status=403, provider=self.type)
        if resp.status == 404:
            raise NotFoundError("Gandi: %s" % what, status=404, provider=self.type)
        raise RejectedError("Gandi refused %s %s: %s" % (method, rec or path, what), status=resp.status,
                            provider=self.type)

    def _malformed(self, status: int | None = None) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from Gandi", status=status, provider=self.type)


def _label(rec: RecordSpec) -> str:
    """The RRSet name as LiveDNS wants it: relative to the domain, '@' for the apex."""
    return "@" if rec.name in ("@", "") else ascii_name(rec.name)


def _id(rec: RecordSpec) -> str:
    return "%s/%s" % (_label(rec), rec.type)


def _q(segment: str) -> str:
    """A path segment, escaped so a name can never change the path."""
    return quote(str(segment), safe="@")
