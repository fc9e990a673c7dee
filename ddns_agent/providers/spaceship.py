"""Spaceship API v1 DNS records with an API key and secret (docs/providers/spaceship.md).

Spaceship records have no ids: a record is its (type, name, address), and the Remote id is
"<name>/<type>". An update saves the record with `force: true`, which overwrites the record of that
name and type, so it is one request; it carries the TTL the agent cached with the id (one list
first when unknown), since a save without one would set the default.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from ddns_agent.errors import AuthError, NotFoundError, RejectedError, UnconfirmedError
from ddns_agent.http import url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name, brief

DEFAULT_ENDPOINT = "https://spaceship.dev/api/v1"
PAGE = 500  # `take` at most 500
MAX_PAGES = 10


class Spaceship(Provider):
    """A, AAAA records of a domain on Spaceship DNS (key permissions dnsRecords:read and :write)."""

    type = "spaceship"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._secrets = []
        self._headers = {"Accept": "application/json"}
        for option, header in (("api_key", "X-API-Key"), ("api_secret", "X-API-Secret")):
            value = self.secret(option)
            self._headers[header] = value
            self._secrets.append(value)
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT

    def find(self, rec: RecordSpec) -> Remote | None:
        """The record of rec.type named rec.name ('@' for the apex), read page by page.

        Several records of that name and type come back as one Remote whose value lists them all,
        so it never equals one address and the next save (force) leaves only the address.
        """
        found: list = []
        for page in range(MAX_PAGES):
            body = self._call("GET", "dns/records/%s?%s" % (_q(ascii_name(rec.domain)),
                                                           urlencode({"take": PAGE, "skip": page * PAGE})),
                              rec)
            items, total = body.get("items"), body.get("total")
            if not isinstance(items, list):
                raise self._malformed()
            for item in items:
                if isinstance(item, dict) and item.get("type") == rec.type \
                        and str(item.get("name", "")).lower() == _label(rec):
                    if not isinstance(item.get("address"), str):
                        raise self._malformed()
                    found.append(item)
            if not isinstance(total, int) or (page + 1) * PAGE >= total:
                break
        if not found:
            return None
        ttl = found[0].get("ttl")
        ttl = ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None
        return Remote(_id(rec), ",".join(item["address"] for item in found), ttl)

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """Save the record; Spaceship's default TTL (3600) unless the record sets one."""
        return self._save(rec, address, rec.ttl)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """Save the record over the old one (force), with the TTL it had or the configured one."""
        if remote.id != _id(rec):
            raise NotFoundError("no current Spaceship record id for %s" % rec, provider=self.type)
        ttl = rec.ttl or remote.ttl
        if not ttl:  # unknown: read it rather than let the save set the default
            now = self.find(rec)
            if now is None:
                raise NotFoundError("Spaceship has no record %s any more" % rec, provider=self.type)
            ttl = now.ttl
        return self._save(rec, address, ttl)

    def check(self) -> str:
        """List the account's domains; changes nothing (needs the key's domains:read permission)."""
        items = self._call("GET", "domains?take=20&skip=0").get("items")
        if not isinstance(items, list):
            raise self._malformed()
        if not items:
            raise RejectedError("the Spaceship account has no domain", provider=self.type)
        names = [str(d.get("name")) for d in items if isinstance(d, dict)]
        return "API key accepted; domains " + ", ".join(names)

    def _save(self, rec: RecordSpec, address: str, ttl: int | None) -> Remote:
        item = {"type": rec.type, "name": _label(rec), "address": address}
        if ttl:
            item["ttl"] = ttl
        self._call("PUT", "dns/records/" + _q(ascii_name(rec.domain)), rec, {"force": True, "items": [item]})
        ttl = ttl or 3600
        return Remote(_id(rec), address, ttl)

    def _call(self, method: str, path: str, rec: RecordSpec | None = None, body: dict | None = None) -> dict:
        """One API call; the parsed JSON object of a 2xx answer ({} for 204), else the matching error."""
        url = url_join(self.endpoint, path)
        resp, answer = self.json_exchange(method, url, dict(self._headers), body, self._malformed, empty=True)
        if 200 <= resp.status < 300:
            return answer
        # {"detail": "...", "data": [{"field": "items[0].ttl", "details": "..."}]}
        message = ""
        data_items = answer.get("data")
        if isinstance(data_items, list):
            message = "; ".join("%s: %s" % (d.get("field"), d.get("details"))
                                for d in data_items[:3] if isinstance(d, dict))
        code = resp.headers.get("spaceship-error-code")
        message += " (code %s)" % code if code else ""
        what = brief(answer.get("detail") or "HTTP %d" % resp.status, message.strip(), tuple(self._secrets))
        if resp.status == 401:
            raise AuthError("Spaceship refused api_key/api_secret: %s" % what, status=401, provider=self.type)
        if resp.status == 403:
            raise AuthError("the Spaceship API key lacks a permission (dnsRecords:read, dnsRecords:write): %s"
                            % what, status=403, provider=self.type)
        if resp.status == 404 and rec is not None:
            raise RejectedError("domain %s is not on Spaceship DNS for this key: %s" % (rec.domain, what),
                                status=404, provider=self.type)
        raise RejectedError("Spaceship refused %s %s: %s" % (method, rec or path, what), status=resp.status,
                            provider=self.type)

    def _malformed(self, status: int | None = None) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from Spaceship", status=status, provider=self.type)


def _label(rec: RecordSpec) -> str:
    """The record name as Spaceship stores it: relative to the domain, '@' for the apex."""
    return "@" if rec.name in ("@", "") else ascii_name(rec.name)


def _id(rec: RecordSpec) -> str:
    return "%s/%s" % (_label(rec), rec.type)


def _q(segment: str) -> str:
    """A path segment, escaped so a name can never change the path."""
    return quote(str(segment), safe="")
