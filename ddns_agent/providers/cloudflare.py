"""Cloudflare API v4 with an API token (specs/providers.md §4 and §10).

Zone id from `option zone_id`, else looked up by the record's domain once per instance.
A Remote id is "<zone id>/<record id>", so an update from a cached id is one request even in a
fresh process without `zone_id`.
Updates use PATCH with the content only (plus ttl / proxied when configured): PUT would reset
what the user set in the dashboard.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from ddns_agent.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    RejectedError,
    UnconfirmedError,
)
from ddns_agent.http import url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name, brief, first_of, ours_holding

DEFAULT_ENDPOINT = "https://api.cloudflare.com/client/v4"
#: token refused or missing: 10000 Authentication error, 9109 invalid token, 9106 missing headers,
#: 6003/6111 malformed Authorization header
AUTH_CODES = frozenset((10000, 9109, 9106, 6003, 6111))
#: wrong zone id: 7003 could not route, 7000 no route for that URI
ZONE_CODES = frozenset((7003, 7000))
#: 81057 record already exists, 81058 an identical record already exists
DUPLICATE_CODES = frozenset((81057, 81058))
RECORD_GONE = 81044
BAD_TTL = 9021
PER_PAGE = 100
MAX_PAGES = 50  # 5000 records of one name and type is already absurd
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class Cloudflare(Provider):
    """A, AAAA records through api.cloudflare.com (token scopes Zone:Read + DNS:Edit)."""

    type = "cloudflare"
    multi = True

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        token = self.secret("api_token")
        self._headers = {"Authorization": "Bearer " + token, "Accept": "application/json"}
        self._token = token
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT
        self._base = url_join(self.endpoint, "")  # `endpoint/`: _call appends each path to it
        zone_id = options.get("zone_id")
        self._fixed_zone = str(zone_id) if zone_id else None
        self._zone_ids: dict = {}  # domain -> zone id, looked up once

    def find(self, rec: RecordSpec) -> Remote | None:
        """The record named rec.fqdn of rec.type, matched by name here too (specs §10).

        Every other such record comes back in `others`: the agent manages the first only.
        """
        return first_of(self._matches(rec))

    def find_all(self, rec: RecordSpec) -> list:
        """Every record named rec.fqdn of rec.type (a record set's members and any others)."""
        return self._matches(rec)

    def delete(self, rec: RecordSpec, remote: Remote) -> None:
        """DELETE one record by id; NotFoundError when it is already gone."""
        zone, _, record_id = (remote.id or "").rpartition("/")
        if not record_id:
            raise NotFoundError("no Cloudflare record id for %s" % rec, provider=self.type)
        self._call("DELETE", "zones/%s/dns_records/%s" % (_q(zone or self._zone(rec.domain)), _q(record_id)))

    def _matches(self, rec: RecordSpec) -> list:
        """Every record named rec.fqdn of rec.type, in listed order."""
        zone = self._zone(rec.domain)
        name = ascii_name(rec.fqdn)
        found = []
        for page in range(1, MAX_PAGES + 1):
            env = self._call("GET", "zones/%s/dns_records" % _q(zone),
                             {"type": rec.type, "name.exact": name, "per_page": PER_PAGE, "page": page})
            result = env.get("result")
            if not isinstance(result, list):
                raise self._malformed()
            for item in result:
                if (isinstance(item, dict) and str(item.get("name", "")).lower() == name
                        and item.get("type") == rec.type):
                    found.append(self._remote(item, zone))
            info = env.get("result_info")
            total = info.get("total_pages") if isinstance(info, dict) else None
            if not isinstance(total, int) or page >= total:
                break
        return found

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """POST a new record; TTL 1 (automatic) unless set, proxied off unless set."""
        zone = self._zone(rec.domain)
        proxied = _proxied(rec)
        body = {"type": rec.type, "name": ascii_name(rec.fqdn), "content": address,
                "ttl": rec.ttl or 1, "proxied": bool(proxied)}
        env = self._call("POST", "zones/%s/dns_records" % _q(zone), body=body, accept=DUPLICATE_CODES)
        if env.get("success") is not True:
            if rec.in_set:  # a record we did not create holds it: never adopted into a set
                return Remote(None, address)
            found = self.find(rec)  # it already exists: that one is ours now
            if found is None:
                raise UnconfirmedError("Cloudflare says %s exists but does not list it" % rec)
            return found
        return self._remote(env.get("result"), zone)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """PATCH the content (and ttl / proxied only when configured); NotFoundError if the id is gone."""
        zone, _, record_id = (remote.id or "").rpartition("/")
        if not record_id or (zone and self._fixed_zone and zone != self._fixed_zone):
            raise NotFoundError("no current Cloudflare record id for %s" % rec, provider=self.type)
        zone = zone or self._zone(rec.domain)
        body = {"content": address}
        if rec.ttl:
            body["ttl"] = rec.ttl
        proxied = _proxied(rec)
        if proxied is not None:
            body["proxied"] = proxied
        try:
            env = self._call("PATCH", "zones/%s/dns_records/%s" % (_q(zone), _q(record_id)), body=body,
                             accept=DUPLICATE_CODES)
        except RejectedError as exc:
            if exc.status in ZONE_CODES:  # the zone in a cached id is gone: look the record up again
                raise NotFoundError(exc.message, status=exc.status, provider=self.type)
            raise
        if env.get("success") is not True:
            return self._duplicate(rec, "%s/%s" % (zone, record_id), address)
        return self._remote(env.get("result"), zone)

    def _duplicate(self, rec: RecordSpec, remote_id: str, address: str) -> Remote:
        """After 81057/81058: success only when our record holds `address`, not merely another one."""
        return ours_holding(self._matches(rec), remote_id, address, "Cloudflare", "the update", 81058,
                            self.type)

    def check(self) -> str:
        """Read the configured zone (or list the zones the token reaches); changes nothing."""
        if self._fixed_zone:
            zone = self._call("GET", "zones/" + _q(self._fixed_zone)).get("result")
            if not isinstance(zone, dict):
                raise self._malformed()
            return "zone %s reachable (id %s)" % (zone.get("name"), zone.get("id"))
        zones = self._call("GET", "zones", {"per_page": 50}).get("result")
        if not isinstance(zones, list):
            raise self._malformed()
        if not zones:
            raise RejectedError("the Cloudflare API token reaches no zone (it needs Zone:Read)",
                                provider=self.type)
        return ", ".join("zone %s reachable (id %s)" % (z.get("name"), z.get("id"))
                         for z in zones if isinstance(z, dict))

    def _zone(self, domain: str) -> str:
        if self._fixed_zone:
            return self._fixed_zone
        zone_id = self._zone_ids.get(domain)
        if zone_id:
            return zone_id
        name = ascii_name(domain)
        zones = self._call("GET", "zones", {"name": name}).get("result")
        if not isinstance(zones, list):
            raise self._malformed()
        for zone in zones:
            if isinstance(zone, dict) and str(zone.get("name", "")).lower() == name and zone.get("id"):
                self._zone_ids[domain] = str(zone["id"])
                return self._zone_ids[domain]
        raise RejectedError("zone %s not found with this Cloudflare API token (Zone:Read on it?)" % domain,
                            provider=self.type)

    def _call(self, method: str, path: str, query: dict | None = None, body: dict | None = None,
              accept: frozenset = frozenset()) -> dict:
        """One API call; returns the envelope of a success (or of an error whose code is in `accept`)."""
        url = self._base + path.lstrip("/") + ("?" + urlencode(query) if query else "")
        resp, env = self.exchange(method, url, self._headers, body)  # exchange and Http copy, never change it
        if not isinstance(env, dict) or not isinstance(env.get("success"), bool):
            if resp.status in (401, 403):
                raise AuthError("Cloudflare refused the API token (HTTP %d)" % resp.status,
                                status=resp.status, provider=self.type)
            if 200 <= resp.status < 300:
                raise self._malformed(resp.status)
            raise RejectedError("Cloudflare answered HTTP %d to %s %s" % (resp.status, method, path),
                                status=resp.status, provider=self.type)
        if env["success"] and 200 <= resp.status < 300:
            return env
        errors = env.get("errors")
        errors = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
        codes = {e.get("code") for e in errors if isinstance(e.get("code"), (int, str))}
        # The messages come from the server; keep the token out even if one were echoed.
        what = "; ".join(brief(e.get("code"), e.get("message"), (self._token,)) for e in errors[:3])
        what = brief(what or "HTTP %d" % resp.status, "")
        if codes & accept:
            return env
        status = next((e["code"] for e in errors if isinstance(e.get("code"), int)), resp.status)
        if codes & AUTH_CODES or resp.status in (401, 403):
            raise AuthError("Cloudflare refused the API token: %s" % what, status=status, provider=self.type)
        if codes & ZONE_CODES:
            raise RejectedError("Cloudflare has no such zone (zone_id?): %s" % what, status=status,
                                provider=self.type)
        if RECORD_GONE in codes or resp.status == 404:
            raise NotFoundError("Cloudflare record is gone: %s" % what, status=status, provider=self.type)
        if BAD_TTL in codes:
            raise RejectedError("Cloudflare refused the TTL: %s" % what, status=status, provider=self.type)
        raise RejectedError("Cloudflare refused %s %s: %s" % (method, path.split("/")[-1], what),
                            status=status, provider=self.type)

    def _remote(self, item, zone: str) -> Remote:
        if not isinstance(item, dict) or not item.get("id") or not isinstance(item.get("content"), str):
            raise self._malformed()
        ttl = item.get("ttl")
        return Remote("%s/%s" % (zone, item["id"]), item["content"], ttl if isinstance(ttl, int) else None)

    def _malformed(self, status: int | None = None) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from Cloudflare", status=status, provider=self.type)


def _proxied(rec: RecordSpec) -> bool | None:
    """The record's `proxied` option: True, False, or None when not set."""
    value = rec.options.get("proxied")
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError("expected 0 or 1, got %r" % value, section=rec.key, option="proxied")


def _q(segment: str) -> str:
    """A path segment, escaped so an id can never change the path."""
    segment = str(segment)
    # Cloudflare's ids are hex: nothing to escape, and quote() is a dozen lines of Python per call
    return segment if segment.isalnum() and segment.isascii() else quote(segment, safe="")
