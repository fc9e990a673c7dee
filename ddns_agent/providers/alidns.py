"""Alibaba Cloud DNS (alidns.aliyuncs.com, version 2015-01-09), RPC signature v1 (specs/providers.md §3).

Requests are POSTs with every parameter, signature included, in a form body. GET with a query
string is the other documented form; POST keeps the signed parameters out of URLs, and the HTTP
seam never resends a POST on its own: a resent request would carry a used SignatureNonce.
Errors come back as HTTP 4xx with a JSON Code. The AccessKey secret keys the HMAC and is never sent.
One RR holds several A/AAAA records per line (record sets): listed, added and deleted by id.
"""

from __future__ import annotations

import os
import time

from ddns_agent.errors import (
    AuthError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnconfirmedError,
)
from ddns_agent.http import raise_for_status, url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, brief, first_of, holding, ours_holding
from ddns_agent.providers.signing import rpc_query, rpc_signature, rpc_string_to_sign

DEFAULT_ENDPOINT = "https://alidns.aliyuncs.com"
VERSION = "2015-01-09"
DEFAULT_LINE = "default"
DEFAULT_TTL = 600  # AddDomainRecord and UpdateDomainRecord without TTL (documented default)
#: Alibaba appends its whole string to sign to SignatureDoesNotMatch; the message before it is enough
STRING_TO_SIGN = "server string to sign is"
#: the AccessKey or the signature is refused: stop until the config changes
AUTH_CODES = frozenset(("SignatureDoesNotMatch", "IncompleteSignature", "InvalidTimeStamp.Expired",
                        "SignatureNonceUsed"))
CLOCK_SKEW = "InvalidTimeStamp.Expired"
DUPLICATE = "DomainRecordDuplicate"  # the same RR, type, value and line exist already
#: AddDomainRecord: the records of one RR, type and line are used up (the AAAA name is unverified)
FULL_CODES = ("QuotaExceeded.ARecord", "QuotaExceeded.AAAARecord")
NOT_YOURS = "DomainRecordNotBelongToUser"  # what a stale, deleted or foreign record id gets
PAGE = 100
MAX_PAGES = 30
CHECK_PAGE = 20


class AliDns(Provider):
    """A, AAAA records through Alibaba Cloud DNS with a RAM AccessKey (AliyunDNSFullAccess)."""

    type = "alidns"
    multi = True

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._key_id, self._secret = self.key_pair("access_key_id", "access_key_secret")
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT
        #: seconds since the epoch for Timestamp; tests move it to show clock skew
        self.clock = time.time
        #: a fresh SignatureNonce per request; the service refuses one it has seen
        self.nonce = lambda: os.urandom(16).hex()

    def find(self, rec: RecordSpec) -> Remote | None:
        """The record whose RR is exactly rec.name: the API's search also returns near misses (home2).

        Every other such record comes back in `others`: the agent manages the first only.
        """
        return first_of(self._matches(rec))

    def find_all(self, rec: RecordSpec) -> list:
        """Every record of exactly rec.name and rec.type on the default line (a record set), all pages."""
        return self._matches(rec)

    def _matches(self, rec: RecordSpec) -> list:
        """Every record of exactly rec.name and rec.type on the default line, in listed order."""
        rr = _rr(rec)
        page = 1
        found = []
        while page <= MAX_PAGES:
            data = self._call("DescribeSubDomainRecords", {"SubDomain": rec.fqdn, "DomainName": rec.domain,
                                                           "Type": rec.type, "PageNumber": page,
                                                           "PageSize": PAGE})
            listing = data.get("DomainRecords")
            records = listing.get("Record", []) if isinstance(listing, dict) else None
            if not isinstance(records, list):
                raise self._malformed("DescribeSubDomainRecords")
            for item in records:
                if (isinstance(item, dict) and str(item.get("RR", "")).lower() == rr.lower()
                        and item.get("Type") == rec.type and item.get("Line", DEFAULT_LINE) == DEFAULT_LINE):
                    found.append(self._remote(item))
            total = data.get("TotalCount")
            if not records or not isinstance(total, int) or page * PAGE >= total:
                return found
            page += 1
        return found

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """AddDomainRecord on the default line (TTL only when set), also beside other values of the RR.

        An identical record (DomainRecordDuplicate) is adopted: the one holding `address`; for a set
        member it is not ours (Remote without id).
        """
        params = {"DomainName": rec.domain, "RR": _rr(rec), "Type": rec.type, "Value": address}
        if rec.ttl:
            params["TTL"] = rec.ttl
        try:
            data = self._call("AddDomainRecord", params, accept=(DUPLICATE,))
        except RejectedError as e:
            if e.status not in FULL_CODES:
                raise
            raise RejectedError("%s: the edition allows no more records of %s on this line (free: 10, "
                                "paid: 90)" % (e, rec), status=e.status, provider=self.type)
        if data.get("Code") == DUPLICATE:
            if rec.in_set:  # a record we did not create holds it: never adopted into a set
                return Remote(None, address)
            found = holding(self._matches(rec), address)
            if found is None:
                raise UnconfirmedError("Alibaba Cloud DNS says %s %s exists but does not list it"
                                       % (rec, address), provider=self.type)
            return found
        return Remote(self._record_id(data, "AddDomainRecord"), address, rec.ttl or DEFAULT_TTL)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """UpdateDomainRecord by id, always with a TTL (without one the record falls back to 600).

        DomainRecordDuplicate is success only when our record holds `address` (and the TTL asked
        for); when another record holds it, ours is stale and this raises ProviderError naming both.
        """
        if not remote.id:
            raise NotFoundError("no Alibaba Cloud DNS record id for %s" % rec, provider=self.type)
        ttl = rec.ttl or remote.ttl or self._ours(rec, remote.id).ttl or DEFAULT_TTL
        params = {"RecordId": remote.id, "RR": _rr(rec), "Type": rec.type, "Value": address, "TTL": ttl}
        data = self._call("UpdateDomainRecord", params, accept=(DUPLICATE,), known_id=True)
        if data.get("Code") != DUPLICATE:
            self._record_id(data, "UpdateDomainRecord")
            return Remote(remote.id, address, ttl)
        ours = ours_holding(self._matches(rec), remote.id, address, "Alibaba Cloud DNS", "UpdateDomainRecord",
                            DUPLICATE, self.type)
        if rec.ttl and ours.ttl not in (None, rec.ttl):  # never report a TTL that was not set
            raise RejectedError("Alibaba Cloud DNS refused to change only the TTL of record %s to %d (%s): "
                                "it keeps %d" % (ours.id, rec.ttl, DUPLICATE, ours.ttl), status=DUPLICATE,
                                provider=self.type)
        return ours

    def delete(self, rec: RecordSpec, remote: Remote) -> None:
        """DeleteDomainRecord by id; NotFoundError when it is gone already (NotBelongToUser): done."""
        if not remote.id:
            raise NotFoundError("no Alibaba Cloud DNS record id for %s" % rec, provider=self.type)
        self._record_id(self._call("DeleteDomainRecord", {"RecordId": remote.id}, known_id=True),
                        "DeleteDomainRecord")

    def _ours(self, rec: RecordSpec, record_id: str) -> Remote:
        """Record `record_id` as listed now (one read); NotFoundError if absent."""
        for match in self._matches(rec):
            if match.id == str(record_id):
                return match
        raise NotFoundError("Alibaba Cloud DNS does not list record %s for %s" % (record_id, rec),
                            provider=self.type)

    def check(self) -> str:
        """DescribeDomains: proves the AccessKey works and names the domains it reaches; changes nothing."""
        data = self._call("DescribeDomains", {"PageNumber": 1, "PageSize": CHECK_PAGE})
        listing = data.get("Domains")
        domains = listing.get("Domain") if isinstance(listing, dict) else None
        if not isinstance(domains, list):
            raise self._malformed("DescribeDomains")
        names = [str(d["DomainName"]) for d in domains if isinstance(d, dict) and d.get("DomainName")]
        if not names:
            raise RejectedError("this Alibaba Cloud AccessKey reaches no DNS domain", provider=self.type)
        total = data.get("TotalCount")
        more = total - len(names) if isinstance(total, int) and total > len(names) else 0
        return "AccessKey accepted; domains %s%s" % (", ".join(names), " and %d more" % more if more else "")

    def _call(self, action: str, params: dict, accept: tuple = (), known_id: bool = False) -> dict:
        """POST one signed action; returns the answer (an error body only for a code in `accept`)."""
        form = {"Action": action, "Format": "JSON", "Version": VERSION, "AccessKeyId": self._key_id,
                "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": self.nonce(),
                "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))}
        form.update((k, str(v)) for k, v in params.items())
        form["Signature"] = rpc_signature(self._secret, rpc_string_to_sign("POST", form))
        resp = self.http.request("POST", url_join(self.endpoint, ""),
                                 {"Content-Type": "application/x-www-form-urlencoded",
                                  "Accept": "application/json"}, rpc_query(form).encode("ascii"))
        try:
            data = resp.json()
        except UnconfirmedError:
            data = None
        code = data.get("Code") if isinstance(data, dict) else None
        code = code if isinstance(code, str) and code else None
        if code and code.startswith("Throttling"):  # sometimes with a 5xx status
            raise RateLimitedError("Alibaba Cloud DNS asks to slow down: %s" % self._what(data),
                                   status=code, provider=self.type)
        raise_for_status(resp, self.type)
        if resp.status == 200 and code is None:
            if not isinstance(data, dict):
                raise self._malformed(action)
            return data
        if code is None:
            raise RejectedError("Alibaba Cloud DNS answered HTTP %d to %s (endpoint?)"
                                % (resp.status, action), status=resp.status, provider=self.type)
        if code in accept:
            return data
        raise self._error(action, code, self._what(data), known_id)

    def _error(self, action: str, code: str, what: str, known_id: bool):
        kw = {"status": code, "provider": self.type}
        if code == CLOCK_SKEW:
            return AuthError("Alibaba Cloud DNS refused the request time (clock skew over 15 minutes: "
                             "check the router's clock): %s" % what, **kw)
        if code in AUTH_CODES or code.startswith("InvalidAccessKeyId"):
            return AuthError("Alibaba Cloud DNS refused access_key_id/access_key_secret: %s" % what, **kw)
        if code == "Forbidden" or code.startswith("Forbidden."):
            return AuthError("this Alibaba Cloud AccessKey may not call %s (RAM policy?): %s"
                             % (action, what), **kw)
        if code.startswith(("InternalError", "ServiceUnavailable")):
            return TransientError("Alibaba Cloud DNS failed %s: %s" % (action, what), **kw)
        if known_id and code == NOT_YOURS:
            return NotFoundError("Alibaba Cloud DNS record is gone: %s" % what, **kw)
        return RejectedError("Alibaba Cloud DNS refused %s: %s" % (action, what), **kw)

    def _what(self, data: dict) -> str:
        message = str(data.get("Message") or "").split(STRING_TO_SIGN)[0].rstrip(" :")
        return brief(data.get("Code"), message, (self._secret,))

    def _record_id(self, data: dict, action: str) -> str:
        record_id = data.get("RecordId")
        if not isinstance(record_id, (str, int)) or isinstance(record_id, bool) or record_id == "":
            raise self._malformed(action)
        return str(record_id)

    def _remote(self, item: dict) -> Remote:
        if not isinstance(item.get("Value"), str):
            raise self._malformed("DescribeSubDomainRecords")
        ttl = item.get("TTL")
        return Remote(self._record_id(item, "DescribeSubDomainRecords"), item["Value"],
                      ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None)

    def _malformed(self, action: str) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from Alibaba Cloud DNS to %s" % action, provider=self.type)


def _rr(rec: RecordSpec) -> str:
    """The RR Alibaba wants: the label(s) below the zone, '@' for the apex (never empty)."""
    return rec.name or "@"
