"""Huawei Cloud DNS (public zones), AK/SK-signed with SDK-HMAC-SHA256 (docs/providers/huaweicloud.md).

REST over https://dns.myhuaweicloud.com: zones by name (/v2/zones), record sets of one zone
(/v2.1/zones/{zone}/recordsets), created with POST and updated with PUT by id. A Remote id is
"<zone id>/<record set id>", so an update from a cached id is one request. Names are absolute
(trailing dot). Only the SK is secret; it keys the HMAC and is never sent.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlsplit

from ddns_agent import jsonlib
from ddns_agent.errors import AuthError, NotFoundError, RejectedError, UnconfirmedError
from ddns_agent.http import url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name

DEFAULT_ENDPOINT = "https://dns.myhuaweicloud.com"
ALGORITHM = "SDK-HMAC-SHA256"
DEFAULT_LINE = "default_view"
PAGE = 100
MAX_PAGES = 30
#: "This record set already exists." (huaweicloudDocs/dns error codes)
CONFLICT = "DNS.0312"


class HuaweiSignature:
    """Every step of one SDK-HMAC-SHA256 signature (the intermediates the official example publishes)."""

    __slots__ = ("canonical_request", "hashed_canonical_request", "string_to_sign", "signature",
                 "signed_headers", "authorization")


def sdk_encode(text: str) -> str:
    """Percent-encoding as the Huawei SDK signer does: RFC 3986 unreserved characters kept."""
    return quote(text, safe="-_.~")


def sdk_query(params: dict) -> str:
    """The canonical query string: names sorted, names and values encoded."""
    return "&".join("%s=%s" % (sdk_encode(k), sdk_encode(str(params[k]))) for k in sorted(params))


def sdk_sign(access_key: str, secret_key: str, method: str, path: str, query: str, headers: dict,
             payload: bytes) -> HuaweiSignature:
    """Sign a request; `headers` (with X-Sdk-Date) are the ones to sign, `path` as sent, unencoded."""
    sig = HuaweiSignature()
    canonical = sorted((k.strip().lower(), str(v).strip()) for k, v in headers.items())
    sig.signed_headers = ";".join(k for k, _ in canonical)
    uri = "/".join(sdk_encode(part) for part in path.split("/"))
    if not uri.endswith("/"):
        uri += "/"  # the canonical URI always ends with a slash, the sent one need not
    sig.canonical_request = "\n".join((
        method, uri, query, "".join("%s:%s\n" % kv for kv in canonical), sig.signed_headers,
        hashlib.sha256(payload).hexdigest()))
    sig.hashed_canonical_request = hashlib.sha256(sig.canonical_request.encode("utf-8")).hexdigest()
    date = dict(canonical)["x-sdk-date"]
    sig.string_to_sign = "%s\n%s\n%s" % (ALGORITHM, date, sig.hashed_canonical_request)
    sig.signature = hmac.new(secret_key.encode("utf-8"), sig.string_to_sign.encode("utf-8"),
                             hashlib.sha256).hexdigest()
    sig.authorization = "%s Access=%s, SignedHeaders=%s, Signature=%s" % (
        ALGORITHM, access_key, sig.signed_headers, sig.signature)
    return sig


class HuaweiCloud(Provider):
    """A, AAAA record sets of a public zone through Huawei Cloud DNS with an AK/SK pair."""

    type = "huaweicloud"

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._ak, self._sk = self.key_pair("access_key_id", "secret_access_key")
        self.endpoint = (options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/")
        self._host = self.signed_host(self.endpoint)
        self._base = urlsplit(self.endpoint).path.rstrip("/")
        self._zone_ids: dict = {}
        #: seconds since the epoch for X-Sdk-Date; tests move it to show clock skew
        self.clock = time.time

    def find(self, rec: RecordSpec) -> Remote | None:
        """The record set named exactly rec.fqdn, of rec.type, on the default line."""
        zone = self._zone(rec.domain)
        name = ascii_name(rec.fqdn) + "."
        offset = 0
        for _ in range(MAX_PAGES):
            body = self._call("GET", "/v2.1/zones/%s/recordsets" % _q(zone),
                              {"name": name, "type": rec.type, "search_mode": "equal", "limit": PAGE,
                               "offset": offset})
            sets = body.get("recordsets")
            if not isinstance(sets, list):
                raise self._malformed("the record set list")
            for item in sets:
                if (isinstance(item, dict) and str(item.get("name", "")).lower() == name
                        and item.get("type") == rec.type and item.get("line", DEFAULT_LINE) == DEFAULT_LINE):
                    return self._remote(item, zone)
            meta = body.get("metadata")
            total = meta.get("total_count") if isinstance(meta, dict) else None
            offset += len(sets)
            if not sets or not isinstance(total, int) or offset >= total:
                return None
        return None

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """POST a record set holding `address` (TTL only when set: the service's default is 300)."""
        zone = self._zone(rec.domain)
        body = {"name": ascii_name(rec.fqdn) + ".", "type": rec.type, "records": [address]}
        if rec.ttl:
            body["ttl"] = rec.ttl
        try:
            made = self._call("POST", "/v2.1/zones/%s/recordsets" % _q(zone), body=body)
        except RejectedError as exc:
            if exc.status != CONFLICT:
                raise
            found = self.find(rec)  # it exists already: that one is ours now
            if found is None:
                raise
            return found
        return self._remote(made, zone)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """PUT the record set by id with the one address; an absent ttl keeps the set's own."""
        zone, _, set_id = (remote.id or "").rpartition("/")
        if not zone or not set_id:
            raise NotFoundError("no Huawei Cloud record set id for %s" % rec, provider=self.type)
        body = {"records": [address]}
        if rec.ttl:
            body["ttl"] = rec.ttl
        made = self._call("PUT", "/v2.1/zones/%s/recordsets/%s" % (_q(zone), _q(set_id)), body=body,
                          known_id=True)
        return self._remote(made, zone)

    def check(self) -> str:
        """List the public zones the key reaches; changes nothing."""
        body = self._call("GET", "/v2/zones", {"type": "public", "limit": 20})
        zones = body.get("zones")
        if not isinstance(zones, list):
            raise self._malformed("the zone list")
        names = [str(z.get("name", "")).rstrip(".") for z in zones if isinstance(z, dict) and z.get("name")]
        if not names:
            raise RejectedError("this Huawei Cloud key reaches no public zone", provider=self.type)
        return "key accepted; zones %s" % ", ".join(names)

    def _zone(self, domain: str) -> str:
        zone_id = self._zone_ids.get(domain)
        if zone_id:
            return zone_id
        name = ascii_name(domain) + "."
        body = self._call("GET", "/v2/zones", {"type": "public", "name": name, "search_mode": "equal"})
        zones = body.get("zones")
        if not isinstance(zones, list):
            raise self._malformed("the zone list")
        for zone in zones:
            if isinstance(zone, dict) and str(zone.get("name", "")).lower() == name and zone.get("id"):
                self._zone_ids[domain] = str(zone["id"])
                return self._zone_ids[domain]
        raise RejectedError("public zone %s not found with this Huawei Cloud key" % domain,
                            provider=self.type)

    def _call(self, method: str, path: str, query: dict | None = None, body: dict | None = None,
              known_id: bool = False) -> dict:
        """One signed call; returns the JSON object of a 2xx answer, else raises."""
        path = self._base + path
        qs = sdk_query(query or {})
        payload = jsonlib.dumps(body).encode("utf-8") if body is not None else b""
        signed = {"Content-Type": "application/json", "Host": self._host,
                  "X-Sdk-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))}
        sig = sdk_sign(self._ak, self._sk, method, path, qs, signed, payload)
        headers = dict(signed, Authorization=sig.authorization, Accept="application/json")
        url = url_join(self.endpoint, path[len(self._base):].lstrip("/")) + ("?" + qs if qs else "")
        # the signed bytes go as they are
        resp, data = self.json_exchange(method, url, headers, payload if body is not None else None,
                                        lambda status: self._malformed(path))
        if 200 <= resp.status < 300:
            return data
        code = str(data.get("code") or data.get("error_code") or "HTTP %d" % resp.status)
        words = str(data.get("message") or data.get("error_msg") or "")
        if self._sk:
            words = words.replace(self._sk, "***")
        what = ("%s %s" % (code, words)).strip()
        kw = {"status": code, "provider": self.type}
        if resp.status in (401, 403) or code.startswith("APIGW.03"):
            if "expire" in words.lower() or "time" in words.lower():
                raise AuthError("Huawei Cloud refused the request time (check the router's clock): %s"
                                % what, **kw)
            raise AuthError("Huawei Cloud refused access_key_id/secret_access_key: %s" % what, **kw)
        if known_id and resp.status == 404:
            raise NotFoundError("Huawei Cloud record set is gone: %s" % what, **kw)
        raise RejectedError("Huawei Cloud refused %s %s: %s" % (method, path.rsplit("/", 1)[-1], what), **kw)

    def _remote(self, item, zone: str) -> Remote:
        if not isinstance(item, dict) or not item.get("id") or not isinstance(item.get("records"), list):
            raise self._malformed("the record set")
        ttl = item.get("ttl")
        value = item["records"][0] if len(item["records"]) == 1 else ",".join(map(str, item["records"]))
        return Remote("%s/%s" % (zone, item["id"]), value,
                      ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None)

    def _malformed(self, what: str) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from Huawei Cloud (%s)" % what, provider=self.type)


def _q(segment: str) -> str:
    """A path segment, escaped so an id can never change the path."""
    return quote(str(segment), safe="")
