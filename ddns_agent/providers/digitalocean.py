"""DigitalOcean API v2 domain records with a personal access token (docs/providers/digitalocean.md).

The record's domain is the DigitalOcean domain (zone); a Remote id is the record's numeric id, so
an update from a cached id is one PATCH. PATCH sends type and data only (plus ttl when the record
sets one): the record keeps the TTL and everything else it has.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from ddns_agent.errors import AuthError, NotFoundError, RejectedError, UnconfirmedError
from ddns_agent.http import url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name, brief, first_of

DEFAULT_ENDPOINT = "https://api.digitalocean.com/v2"
PER_PAGE = 200  # the documented maximum
MAX_PAGES = 25


class DigitalOcean(Provider):
    """A, AAAA records of a domain hosted on DigitalOcean DNS (token scopes domain:read, domain:update)."""

    type = "digitalocean"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._token = self.secret("api_token")
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT

    def find(self, rec: RecordSpec) -> Remote | None:
        """The first record of rec.type named rec.fqdn; the others of that name in `others`."""
        return first_of(self._matches(rec))

    def _matches(self, rec: RecordSpec) -> list:
        """Every record of rec.type named rec.fqdn (the list is filtered by the full name), in order."""
        domain = ascii_name(rec.domain)
        label = _label(rec)
        found = []
        for page in range(1, MAX_PAGES + 1):
            body = self._call("GET", "domains/%s/records" % _q(domain),
                              {"type": rec.type, "name": ascii_name(rec.fqdn), "per_page": PER_PAGE,
                               "page": page}, zone=domain)
            items = body.get("domain_records")
            if not isinstance(items, list):
                raise self._malformed()
            for item in items:
                if (isinstance(item, dict) and item.get("type") == rec.type
                        and str(item.get("name", "")).lower() == label):
                    found.append(self._remote(item))
            pages = body.get("links", {}).get("pages") if isinstance(body.get("links"), dict) else None
            if not isinstance(pages, dict) or not pages.get("next"):
                break
        return found

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """POST a new record; DigitalOcean's default TTL (1800) unless the record sets one."""
        body = {"type": rec.type, "name": _label(rec), "data": address}
        if rec.ttl:
            body["ttl"] = rec.ttl
        domain = ascii_name(rec.domain)
        answer = self._call("POST", "domains/%s/records" % _q(domain), body=body, zone=domain)
        return self._remote(answer.get("domain_record"))

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """PATCH type and data (and ttl when configured); NotFoundError if the id is gone."""
        if not (remote.id or "").isdigit():
            raise NotFoundError("no current DigitalOcean record id for %s" % rec, provider=self.type)
        body = {"type": rec.type, "data": address}
        if rec.ttl:
            body["ttl"] = rec.ttl
        answer = self._call("PATCH", "domains/%s/records/%s" % (_q(ascii_name(rec.domain)), remote.id),
                            body=body)
        return self._remote(answer.get("domain_record"))

    def check(self) -> str:
        """List the domains the token reaches; changes nothing."""
        body = self._call("GET", "domains", {"per_page": 50})
        domains = body.get("domains")
        if not isinstance(domains, list):
            raise self._malformed()
        if not domains:
            raise RejectedError("the DigitalOcean token reaches no domain (it needs domain:read)",
                                provider=self.type)
        return "token accepted; domains " + ", ".join(
            str(d.get("name")) for d in domains if isinstance(d, dict))

    def _call(self, method: str, path: str, query: dict | None = None, body: dict | None = None,
              zone: str = "") -> dict:
        """One API call; the parsed JSON object of a 2xx answer, else the matching error.

        `zone` set: a 404 means the domain itself is unknown (a list or a create), not a stale id.
        """
        url = url_join(self.endpoint, path) + ("?" + urlencode(query) if query else "")
        headers = {"Authorization": "Bearer " + self._token, "Accept": "application/json"}
        resp, answer = self.json_exchange(method, url, headers, body, self._malformed)
        if 200 <= resp.status < 300:
            return answer
        # error answers: {"id": "unauthorized", "message": "Unable to authenticate you"}
        what = brief(answer.get("id") or "HTTP %d" % resp.status, answer.get("message"), (self._token,))
        if resp.status == 401:
            raise AuthError("DigitalOcean refused the API token: %s" % what, status=401, provider=self.type)
        if resp.status == 403:
            raise AuthError("the DigitalOcean token may not do this (scopes domain:read and domain:update?): "
                            "%s" % what, status=403, provider=self.type)
        if resp.status == 404:
            if zone:
                raise RejectedError("domain %s not found with this DigitalOcean token: %s" % (zone, what),
                                    status=404, provider=self.type)
            raise NotFoundError("DigitalOcean record is gone: %s" % what, status=404, provider=self.type)
        raise RejectedError("DigitalOcean refused %s %s: %s" % (method, path.rsplit("/", 1)[-1], what),
                            status=resp.status, provider=self.type)

    def _remote(self, item) -> Remote:
        rid = item.get("id") if isinstance(item, dict) else None
        if isinstance(rid, bool) or not isinstance(rid, int) or not isinstance(item.get("data"), str):
            raise self._malformed()
        ttl = item.get("ttl")
        return Remote(str(item["id"]), item["data"], ttl if isinstance(ttl, int) else None)

    def _malformed(self, status: int | None = None) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from DigitalOcean", status=status, provider=self.type)


def _label(rec: RecordSpec) -> str:
    """The record name as DigitalOcean stores it: relative to the domain, '@' for the apex."""
    return "@" if rec.name in ("@", "") else ascii_name(rec.name)


def _q(segment: str) -> str:
    """A path segment, escaped so a name can never change the path."""
    return quote(str(segment), safe="")
