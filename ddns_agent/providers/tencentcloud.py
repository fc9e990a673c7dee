"""Tencent Cloud DNSPod API 3.0 (dnspod.tencentcloudapi.com), TC3-HMAC-SHA256 signed (specs/providers.md §2).

JSON POSTs to the endpoint's root; the action travels in X-TC-Action, which is signed with
content-type and host. Errors come back as HTTP 200 with Response.Error.Code. Updates use
ModifyDynamicDNS (one request, A or AAAA); it always carries the TTL: configured, or the one
the record has (without it the action resets the TTL to the domain default).
Only the SecretKey is secret; it never leaves this process (it keys the HMAC and is not sent).
One name holds several A/AAAA records per line (record sets): listed, created and deleted by id.
"""

from __future__ import annotations

import re
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
from ddns_agent.http import raise_for_status, url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote, brief, first_of, holding, ours_holding
from ddns_agent.providers.signing import tc3_sign

DEFAULT_ENDPOINT = "https://dnspod.tencentcloudapi.com"
SERVICE = "dnspod"
VERSION = "2021-03-23"
CONTENT_TYPE = "application/json; charset=utf-8"
DEFAULT_LINE = "默认"
DEFAULT_TTL = 600  # CreateRecord without TTL (documented default)
NO_RECORDS = "ResourceNotFound.NoDataOfRecord"
ALREADY_EXISTS = "InvalidParameter.DomainRecordExist"
#: CreateRecord: the plan's records per name and line are used up (A round robin; AAAA count)
FULL_CODES = ("LimitExceeded.SubdomainRollLimit", "LimitExceeded.AAAACountLimit")
CLOCK_SKEW = "AuthFailure.SignatureExpire"
#: codes meaning "this record id is not (or no longer) there", for a call made with a known id
GONE_PREFIXES = ("InvalidParameter.RecordIdInvalid", "ResourceNotFound")
#: "try again later" answers; FailedOperation.UnknowError reads "no response, retry later"
TRANSIENT_PREFIXES = ("InternalError", "ServiceUnavailable", "FailedOperation.UnknowError")
PAGE = 100
MAX_PAGES = 30
CHECK_LIMIT = 20
LINE_ID = re.compile(r"^\d+(=\d+)?$")  # "0", "10=1": a line given by id rather than name


class TencentCloud(Provider):
    """A, AAAA records through DNSPod API 3.0 with a CAM key (SecretId/SecretKey)."""

    type = "tencentcloud"
    multi = True

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._secret_id, self._secret_key = self.key_pair("secret_id", "secret_key")
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT
        self._host = self.signed_host(self.endpoint)
        self._line = options.get("record_line") or DEFAULT_LINE
        #: seconds since the epoch for X-TC-Timestamp; tests move it to show clock skew
        self.clock = time.time

    def find(self, rec: RecordSpec) -> Remote | None:
        """The record named exactly rec.name (not a keyword match) of rec.type on the configured line.

        Every other such record comes back in `others`: the agent manages the first only.
        """
        return first_of(self._matches(rec))

    def find_all(self, rec: RecordSpec) -> list:
        """Every record named rec.name of rec.type on the configured line (a record set), every page read."""
        return self._matches(rec)

    def _matches(self, rec: RecordSpec) -> list:
        """Every record named exactly rec.name of rec.type on the configured line, in listed order."""
        sub = _sub(rec)
        line = self._line_of(rec)
        offset = 0
        found: list = []
        query = {"Domain": rec.domain, "Subdomain": sub, "RecordType": rec.type,
                 "RecordLineId" if LINE_ID.match(line) else "RecordLine": line}
        for _ in range(MAX_PAGES):
            body = self._call("DescribeRecordList", dict(query, Offset=offset, Limit=PAGE),
                              accept=(NO_RECORDS,))
            if "Error" in body:
                return found
            records = body.get("RecordList")
            if not isinstance(records, list):
                raise self._malformed("DescribeRecordList")
            for item in records:
                if (isinstance(item, dict) and str(item.get("Name", "")).lower() == sub.lower()
                        and item.get("Type") == rec.type and line in (item.get("Line"), item.get("LineId"))):
                    found.append(self._remote(item))
            info = body.get("RecordCountInfo")
            total = info.get("TotalCount") if isinstance(info, dict) else None
            offset += len(records)
            if not records or not isinstance(total, int) or offset >= total:
                return found
        return found

    def create(self, rec: RecordSpec, address: str) -> Remote:
        """CreateRecord on the configured line (TTL only when set), also beside other values of the name.

        An identical record (DomainRecordExist) is adopted: the one holding `address`; for a set
        member it is not ours (Remote without id).
        """
        params = {"Domain": rec.domain, "SubDomain": _sub(rec), "RecordType": rec.type,
                  "RecordLine": self._line_of(rec), "Value": address}
        if rec.ttl:
            params["TTL"] = rec.ttl
        try:
            body = self._call("CreateRecord", params, accept=(ALREADY_EXISTS,))
        except RejectedError as e:
            if e.status not in FULL_CODES:
                raise
            raise RejectedError("%s: the plan allows no more records of %s on this line" % (e, rec),
                                status=e.status, provider=self.type)
        if "Error" in body:
            if rec.in_set:  # a record we did not create holds it: never adopted into a set
                return Remote(None, address)
            found = holding(self._matches(rec), address)
            if found is None:
                raise UnconfirmedError("Tencent Cloud says %s %s exists but does not list it"
                                       % (rec, address), provider=self.type)
            return found
        return Remote(self._record_id(body, "CreateRecord"), address, rec.ttl or DEFAULT_TTL)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """ModifyDynamicDNS by id (A and AAAA alike); NotFoundError when the id is stale."""
        if not remote.id or not str(remote.id).isdigit():
            raise NotFoundError("no Tencent Cloud record id for %s" % rec, provider=self.type)
        ttl = rec.ttl or remote.ttl or self._ttl_of(rec, remote.id)
        # Without Ttl this action resets the record to the domain's default TTL: send the one it has.
        params = {"Domain": rec.domain, "SubDomain": _sub(rec), "RecordId": int(remote.id),
                  "RecordLine": self._line_of(rec), "Value": address, "Ttl": ttl}  # sic: Ttl
        body = self._call("ModifyDynamicDNS", params, accept=(ALREADY_EXISTS,), known_id=True)
        if "Error" in body:  # success only if it is our record that holds the address
            return ours_holding(self._matches(rec), remote.id, address, "Tencent Cloud", "ModifyDynamicDNS",
                                ALREADY_EXISTS, self.type)
        self._record_id(body, "ModifyDynamicDNS")
        return Remote(remote.id, address, ttl)

    def delete(self, rec: RecordSpec, remote: Remote) -> None:
        """DeleteRecord by id; NotFoundError when it is gone already (RecordIdInvalid): counts as done."""
        if not remote.id or not str(remote.id).isdigit():
            raise NotFoundError("no Tencent Cloud record id for %s" % rec, provider=self.type)
        self._call("DeleteRecord", {"Domain": rec.domain, "RecordId": int(remote.id)}, known_id=True)

    def _ttl_of(self, rec: RecordSpec, record_id: str) -> int:
        """The TTL record `record_id` has now (one read); NotFoundError when it is not listed."""
        for match in self._matches(rec):
            if match.id == str(record_id):
                if not match.ttl:
                    raise self._malformed("DescribeRecordList")
                return match.ttl
        raise NotFoundError("Tencent Cloud does not list record %s for %s" % (record_id, rec),
                            provider=self.type)

    def check(self) -> str:
        """DescribeDomainList: proves the key works and names the domains it reaches; changes nothing."""
        body = self._call("DescribeDomainList", {"Offset": 0, "Limit": CHECK_LIMIT})
        domains = body.get("DomainList")
        if not isinstance(domains, list):
            raise self._malformed("DescribeDomainList")
        names = [str(d.get("Name")) for d in domains if isinstance(d, dict) and d.get("Name")]
        if not names:
            raise RejectedError("this Tencent Cloud key reaches no DNSPod domain", provider=self.type)
        info = body.get("DomainCountInfo")
        total = info.get("DomainTotal") if isinstance(info, dict) else None
        more = total - len(names) if isinstance(total, int) and total > len(names) else 0
        return "key accepted; domains %s%s" % (", ".join(names), " and %d more" % more if more else "")

    def _line_of(self, rec: RecordSpec) -> str:
        return rec.options.get("record_line") or self._line

    def _call(self, action: str, params: dict, accept: tuple = (), known_id: bool = False) -> dict:
        """POST one signed action; returns Response (holding Error only for a code in `accept`)."""
        payload = jsonlib.dumps(params).encode("utf-8")
        timestamp = int(self.clock())
        signed = {"Content-Type": CONTENT_TYPE, "Host": self._host, "X-TC-Action": action}
        sig = tc3_sign(self._secret_id, self._secret_key, SERVICE, timestamp, signed, payload)
        headers = dict(signed)
        headers.update({"X-TC-Version": VERSION, "X-TC-Timestamp": str(timestamp), "X-TC-Language": "en-US",
                        "Authorization": sig.authorization, "Accept": "application/json"})
        resp = self.http.request("POST", url_join(self.endpoint, ""), headers, payload)
        raise_for_status(resp, self.type)
        if resp.status != 200:
            raise RejectedError("Tencent Cloud answered HTTP %d to %s (endpoint?)" % (resp.status, action),
                                status=resp.status, provider=self.type)
        data = resp.json()
        body = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(body, dict):
            raise self._malformed(action)
        error = body.get("Error")
        if error is None:
            return body
        if not isinstance(error, dict) or not isinstance(error.get("Code"), str):
            raise self._malformed(action)
        code = error["Code"]
        if code in accept:
            return body
        raise self._error(action, code, brief(code, error.get("Message"), (self._secret_key,)), known_id)

    def _error(self, action: str, code: str, what: str, known_id: bool):
        kw = {"status": code, "provider": self.type}
        if code == CLOCK_SKEW:
            return AuthError("Tencent Cloud refused the request time (clock skew over 5 minutes: "
                             "check the router's clock): %s" % what, **kw)
        if code.startswith("AuthFailure"):
            return AuthError("Tencent Cloud refused secret_id/secret_key: %s" % what, **kw)
        if code.startswith("UnauthorizedOperation"):
            return AuthError("this Tencent Cloud key may not call %s (CAM policy?): %s" % (action, what),
                             **kw)
        if code.startswith("RequestLimitExceeded"):
            return RateLimitedError("Tencent Cloud asks to slow down: %s" % what, **kw)
        if code.startswith(TRANSIENT_PREFIXES):
            return TransientError("Tencent Cloud failed %s: %s" % (action, what), **kw)
        if known_id and code.startswith(GONE_PREFIXES):
            return NotFoundError("Tencent Cloud record is gone: %s" % what, **kw)
        return RejectedError("Tencent Cloud refused %s: %s" % (action, what), **kw)

    def _record_id(self, body: dict, action: str) -> str:
        record_id = body.get("RecordId")
        if isinstance(record_id, bool) or not isinstance(record_id, int):
            raise self._malformed(action)
        return str(record_id)

    def _remote(self, item: dict) -> Remote:
        if not isinstance(item.get("Value"), str):
            raise self._malformed("DescribeRecordList")
        ttl = item.get("TTL")
        return Remote(self._record_id(item, "DescribeRecordList"), item["Value"],
                      ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None)

    def _malformed(self, action: str) -> UnconfirmedError:
        return UnconfirmedError("malformed answer from Tencent Cloud to %s" % action, provider=self.type)


def _sub(rec: RecordSpec) -> str:
    """The SubDomain DNSPod wants: the label(s) below the zone, '@' for the apex."""
    return rec.name or "@"
