"""Volcengine (火山引擎) DNS, TrafficRoute API 2018-08-01, HMAC-SHA256 signed (docs/providers/volcengine.md).

Actions on https://open.volcengineapi.com/?Action=...&Version=2018-08-01 (service DNS, region
cn-north-1): ListZones and ListRecords are GETs with query parameters, CreateRecord and UpdateRecord
JSON POSTs. Errors come as ResponseMetadata.Error {Code, Message}. A Remote id is the RecordID, so an
update from a cached id is one request. Only the SecretAccessKey is secret; it keys the HMAC.
"""

from __future__ import annotations

import hashlib
import time

from ddns_agent import jsonlib
from ddns_agent.errors import (
    AuthError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnconfirmedError,
)
from ddns_agent.http import raise_for_status
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name
from ddns_agent.providers.signing import v4_query, v4_sign

DEFAULT_ENDPOINT = "https://open.volcengineapi.com"
SERVICE = "DNS"
REGION = "cn-north-1"
VERSION = "2018-08-01"
DEFAULT_LINE = "default"
PAGE = 500
MAX_PAGES = 20
AUTH_CODES = ("InvalidAccessKey", "SignatureDoesNotMatch", "InvalidAuthorization", "InvalidCredential",
              "MissingAuthenticationToken", "InvalidSecretToken")
CLOCK_CODES = ("InvalidTimestamp", "RequestExpired")
GONE_WORDS = ("RecordNotFound", "NotFound.Record", "InvalidRecordID")
DUPLICATE_WORDS = ("RecordDuplicate", "RecordAlreadyExists", "Duplicate")
TRANSIENT_CODES = ("InternalError", "ServiceUnavailable", "InternalServiceError", "ServiceUnavailableTemp")


class Volcengine(Provider):
    """A, AAAA records through Volcengine DNS with an AccessKey (AccessKeyId/SecretAccessKey)."""

    type = "volcengine"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._ak, self._sk = self.key_pair("access_key_id", "secret_access_key")
        self.endpoint = (options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/")
        self._host = self.signed_host(self.endpoint)
        self._zone_ids: dict = {}
        #: seconds since the epoch for X-Date; tests move it to show clock skew
        self.clock = time.time

    def find(self, rec: RecordSpec) -> Remote | None:
        """The record whose Host is exactly rec.name, of rec.type, on the default line."""
        zid = self._zone(rec.domain)
        host = _host(rec)
        for page in range(1, MAX_PAGES + 1):
            result = self._call("GET", "ListRecords", {"ZID": zid, "Host": host, "Type": rec.type,
                                                       "SearchMode": "exact", "PageNumber": page,
                                                       "PageSize": PAGE})
            records = result.get("Records")
            if not isinstance(records, list):
                raise self._malformed("ListRecords")
            for item in records:
                if (isinstance(item, dict) and str(item.get("Host", "")).lower() == host
                        and item.get("Type") == rec.type and item.get("Line", DEFAULT_LINE) == DEFAULT_LINE):
                    return self._remote(item, "ListRecords")
            total = result.get("TotalCount")
            if not records or not isinstance(total, int) or page * PAGE >= total:
                return None
        return None

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """CreateRecord on the default line (TTL only when set: the zone's default otherwise)."""
        body = {"ZID": int(self._zone(rec.domain)), "Host": _host(rec), "Type": rec.type, "Value": address,
                "Line": DEFAULT_LINE}
        if rec.ttl:
            body["TTL"] = rec.ttl
        try:
            result = self._call("POST", "CreateRecord", body=body)
        except RejectedError as exc:
            if not any(w.lower() in str(exc.status).lower() for w in DUPLICATE_WORDS):
                raise
            found = self.find(rec)  # an identical record exists: that one is ours now
            if found is None:
                raise
            return found
        record_id = result.get("RecordID")
        if not isinstance(record_id, str) or not record_id:
            raise self._malformed("CreateRecord")
        return Remote(record_id, address, rec.ttl)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """UpdateRecord by RecordID (TTL only when configured); NotFoundError when the id is stale."""
        if not remote.id:
            raise NotFoundError("no Volcengine record id for %s" % rec, provider=self.type)
        body = {"RecordID": str(remote.id), "Host": _host(rec), "Type": rec.type, "Value": address,
                "Line": DEFAULT_LINE}
        if rec.ttl:
            body["TTL"] = rec.ttl
        result = self._call("POST", "UpdateRecord", body=body, known_id=True)
        ttl = result.get("TTL")
        return Remote(remote.id, address, ttl if isinstance(ttl, int) and not isinstance(ttl, bool)
                      else rec.ttl or remote.ttl)

    def check(self) -> str:
        """ListZones: proves the key works and names the zones it reaches; changes nothing."""
        result = self._call("GET", "ListZones", {"PageNumber": 1, "PageSize": 20})
        zones = result.get("Zones")
        if not isinstance(zones, list):
            raise self._malformed("ListZones")
        names = [str(z.get("ZoneName")) for z in zones if isinstance(z, dict) and z.get("ZoneName")]
        if not names:
            raise RejectedError("this Volcengine key reaches no DNS zone", provider=self.type)
        return "key accepted; zones %s" % ", ".join(names)

    def _zone(self, domain: str) -> str:
        zid = self._zone_ids.get(domain)
        if zid:
            return zid
        name = ascii_name(domain)
        result = self._call("GET", "ListZones", {"Key": name, "SearchMode": "exact"})
        zones = result.get("Zones")
        if not isinstance(zones, list):
            raise self._malformed("ListZones")
        for zone in zones:
            if isinstance(zone, dict) and str(zone.get("ZoneName", "")).lower() == name and \
                    isinstance(zone.get("ZID"), int) and not isinstance(zone.get("ZID"), bool):
                self._zone_ids[domain] = str(zone["ZID"])
                return self._zone_ids[domain]
        raise RejectedError("zone %s not found with this Volcengine key" % domain, provider=self.type)

    def _call(self, method: str, action: str, query: dict | None = None, body: dict | None = None,
              known_id: bool = False) -> dict:
        """One signed action; returns Result of a success, else raises."""
        params = {"Action": action, "Version": VERSION}
        params.update(query or {})
        qs = v4_query(params)
        payload = jsonlib.dumps(body).encode("utf-8") if body is not None else b""
        digest = hashlib.sha256(payload).hexdigest()
        signed = {"Host": self._host, "X-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))}
        if body is not None:
            signed.update({"Content-Type": "application/json", "X-Content-Sha256": digest})
        sig = v4_sign("HMAC-SHA256", "", "request", self._ak, self._sk, REGION, SERVICE, method, "/", qs,
                      signed, digest)
        headers = dict(signed, Authorization=sig.authorization, Accept="application/json")
        resp, data = self.exchange(method, self.endpoint + "/?" + qs, headers,
                                   payload if body is not None else None)
        meta = data.get("ResponseMetadata") if isinstance(data, dict) else None
        error = meta.get("Error") if isinstance(meta, dict) else None
        if error is None:
            if 200 <= resp.status < 300 and isinstance(data, dict) and isinstance(data.get("Result"), dict):
                return data["Result"]
            if 200 <= resp.status < 300:
                raise self._malformed(action)
            raise_for_status(resp, self.type)
            raise RejectedError("Volcengine answered HTTP %d to %s (endpoint?)" % (resp.status, action),
                                status=resp.status, provider=self.type)
        code = str(error.get("Code") or "HTTP %d" % resp.status) if isinstance(error, dict) else "?"
        words = str(error.get("Message") or "") if isinstance(error, dict) else ""
        if self._sk:
            words = words.replace(self._sk, "***")
        raise self._error(action, code, ("%s %s" % (code, words)).strip(), known_id)

    def _error(self, action: str, code: str, what: str, known_id: bool):
        kw = {"status": code, "provider": self.type}
        if code in CLOCK_CODES:
            return AuthError("Volcengine refused the request time (check the router's clock): %s" % what,
                             **kw)
        if code in AUTH_CODES:
            return AuthError("Volcengine refused access_key_id/secret_access_key: %s" % what, **kw)
        if code.startswith(("AccessDenied", "Forbidden")):
            return AuthError("this Volcengine key may not call %s (IAM policy?): %s" % (action, what), **kw)
        if code.startswith(("FlowLimitExceeded", "Throttling", "RequestLimitExceeded")):
            return RateLimitedError("Volcengine asks to slow down: %s" % what, **kw)
        if code in TRANSIENT_CODES:
            return TransientError("Volcengine failed %s: %s" % (action, what), **kw)
        if known_id and any(w.lower() in code.lower() for w in GONE_WORDS):
            return NotFoundError("Volcengine record is gone: %s" % what, **kw)
        return RejectedError("Volcengine refused %s: %s" % (action, what), **kw)

    def _remote(self, item: dict, action: str) -> Remote:
        if not isinstance(item.get("Value"), str) or not isinstance(item.get("RecordID"), str):
            raise self._malformed(action)
        ttl = item.get("TTL")
        ttl = ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None
        return Remote(item["RecordID"], item["Value"], ttl)

    def _malformed(self, action: str) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from Volcengine to %s" % action, provider=self.type)


def _host(rec: RecordSpec) -> str:
    """The Host Volcengine wants: the label(s) below the zone, '@' for the apex."""
    return ascii_name(rec.name) if rec.name not in ("", "@") else "@"
