"""Fake Alibaba Cloud DNS, RPC style, signature v1 (specs/providers.md §3): checks what the real one checks.

Errors are HTTP 4xx with `{"RequestId", "HostId", "Code", "Message", "Recommend"}`. Checks, in order:
- `/` only (404 InvalidAction.NotFound elsewhere); parameters from the query (GET) or a form body
  (POST, Content-Type application/x-www-form-urlencoded, else 400 InvalidParameter).
- Common parameters present (400 MissingParameter; a missing Signature is IncompleteSignature),
  SignatureMethod HMAC-SHA1 and SignatureVersion 1.0 (IncompleteSignature), Version 2015-01-09
  (InvalidVersion), Timestamp `YYYY-MM-DDThh:mm:ssZ` (InvalidTimeStamp.Format) within 15 minutes of
  the fake's clock (InvalidTimeStamp.Expired), AccessKeyId known (404 InvalidAccessKeyId.NotFound),
  the signature recomputed with the expected secret for the request's own method
  (SignatureDoesNotMatch, with the server's string to sign as the real one says), a nonce never seen
  (SignatureNonceUsed). Written independently of ddns_agent.providers.signing; tests/test_signing.py
  holds both to the V6 vector.
- Format JSON (else an XML body: the API default); action known (404 InvalidAction.NotFound);
  required parameters present (MissingParameter); numbers are numbers (InvalidParameter).
Behaviours kept from the real service: DescribeSubDomainRecords searches like a keyword (home
returns home2 and homelab too, listed before the exact name); UpdateDomainRecord with RR, Type,
Value and Line identical to a record's answers DomainRecordDuplicate (counted in
`duplicate_updates`); AddDomainRecord of an existing record answers DomainRecordDuplicate.
UpdateDomainRecord without TTL sets the default 600 whatever the record had, as the real one does.
One RR holds several records with different values, up to `max_round_robin` per RR, type and line
(the free edition's 10, help doc "Weight configuration"); one more answers QuotaExceeded.ARecord
(for AAAA the code is this fake's choice). DeleteDomainRecord of an unknown or deleted id answers
DomainRecordNotBelongToUser "The DNS record does not exist in your account." (as users report it),
a locked record DomainRecordLocked; success echoes the RecordId.
Codes the docs do not give (TTL out of range, bad value) are this fake's choice and marked so.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import ipaddress
import time
import uuid
from urllib.parse import quote

from fakes import FakeRequest, FakeResponse, json_response, register_secret

VERSION = "2015-01-09"
MAX_SKEW_S = 900
NO_API = "Specified api is not found, please check your url and method."
TIME_MESSAGES = {"InvalidTimeStamp.Format": "Specified time stamp or date value is not well formatted.",
                 "InvalidTimeStamp.Expired": "Specified time stamp or date value is expired."}
COMMON = ("Action", "Version", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce",
          "Timestamp")
#: action -> (required, numeric) parameters
ACTIONS = {
    "DescribeSubDomainRecords": (("SubDomain",), ("PageNumber", "PageSize")),
    "AddDomainRecord": (("DomainName", "RR", "Type", "Value"), ("TTL", "Priority")),
    "UpdateDomainRecord": (("RecordId", "RR", "Type", "Value"), ("TTL", "Priority")),
    "DescribeDomains": ((), ("PageNumber", "PageSize")),
    "DeleteDomainRecord": (("RecordId",), ()),
}


def error(code: str, message: str, status: int = 400) -> FakeResponse:
    """The documented error body."""
    return json_response({"RequestId": str(uuid.uuid4()).upper(), "HostId": "alidns.aliyuncs.com",
                          "Code": code, "Message": message,
                          "Recommend": "https://api.aliyun.com/troubleshoot?q=%s" % code}, status)


def _enc(text: str) -> str:
    return quote(text, safe="-_.~")


class AliDnsFake:
    """Domains and records in memory; counts requests, writes and duplicate updates."""

    def __init__(self, access_key_id: str, access_key_secret: str, domains: tuple = ("example.com",),
                 min_ttl: int = 600, clock=time.time) -> None:
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        register_secret(access_key_secret, "Alibaba Cloud access_key_secret")
        self.domains = list(domains)
        self.min_ttl = min_ttl  # free edition: 600 s
        self.default_ttl = 600  # what AddDomainRecord and UpdateDomainRecord without TTL give
        self.clock = clock
        self.records: dict = {}  # str id -> {domain, rr, type, value, ttl, line}
        self.locked: set = set()  # record ids locked in the console
        self.max_records = 100
        self.max_round_robin = 10  # free edition: records of one RR, type and line
        self.requests: list = []
        self.actions: list = []  # the action of every request that passed the signature check
        self.nonces: set = set()
        self.writes = 0
        self.duplicate_updates = 0
        self.errors: list = []
        self._next_id = 9999985

    def add(self, domain: str, rr: str, type: str, value: str, ttl: int = 600, line: str = "default") -> str:
        """Put a record in place, as if made in the console; returns its id (a string, as the API's)."""
        self._next_id += 1
        self.records[str(self._next_id)] = {"domain": domain, "rr": rr, "type": type, "value": value,
                                            "ttl": ttl, "line": line}
        return str(self._next_id)

    def value(self, record_id: str) -> str:
        """The value a record holds now."""
        return self.records[record_id]["value"]

    def named(self, rr: str, type: str = "A") -> list:
        """The records of one RR and type."""
        return [r for r in self.records.values() if r["rr"] == rr and r["type"] == type]

    def check_signature(self, method: str, params: dict) -> str | None:
        """None when a request's v1 signature and timestamp are good, else the error code."""
        try:
            then = calendar.timegm(time.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return "InvalidTimeStamp.Format"
        if abs(self.clock() - then) > MAX_SKEW_S:
            return "InvalidTimeStamp.Expired"
        if params["AccessKeyId"] != self.access_key_id:
            return "InvalidAccessKeyId.NotFound"
        if not hmac.compare_digest(self._signature(method, params), params["Signature"]):
            return "SignatureDoesNotMatch"
        return None

    def string_to_sign(self, method: str, params: dict) -> str:
        """What the server signs, as the real one shows it in SignatureDoesNotMatch."""
        query = "&".join("%s=%s" % (_enc(k), _enc(params[k])) for k in sorted(params) if k != "Signature")
        return "%s&%%2F&%s" % (method, _enc(query))

    def _signature(self, method: str, params: dict) -> str:
        key = (self.access_key_secret + "&").encode("utf-8")
        digest = hmac.new(key, self.string_to_sign(method, params).encode("utf-8"), hashlib.sha1).digest()
        return base64.b64encode(digest).decode("ascii")

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        if req.route != "/":
            return error("InvalidAction.NotFound", NO_API, 404)
        params = dict(req.query)
        if req.method == "POST":
            if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                return error("InvalidParameter", "a POST carries its parameters as a form body")
            params.update(req.form)
        elif req.method != "GET":
            return error("UnsupportedHTTPMethod", "This http method is not supported.")
        if "Signature" not in params:
            return error("IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        for name in COMMON:
            if not params.get(name):
                return error("MissingParameter", 'The input parameter "%s" that is mandatory for processing '
                             'this request is not supplied.' % name)
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            return error("IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        if params["Version"] != VERSION:
            return error("InvalidVersion", "Specified parameter Version is not valid.")
        code = self.check_signature(req.method, params)
        if code == "InvalidAccessKeyId.NotFound":
            return error(code, "Specified access key is not found.", 404)
        if code == "SignatureDoesNotMatch":
            return error(code, "Specified signature is not matched with our calculation. server string to "
                         "sign is:" + self.string_to_sign(req.method, params))
        if code:
            return error(code, TIME_MESSAGES[code])
        if params["SignatureNonce"] in self.nonces:
            return error("SignatureNonceUsed", "Specified signature nonce was used already.")
        self.nonces.add(params["SignatureNonce"])
        if params.get("Format", "XML").upper() != "JSON":
            return FakeResponse(200, {"Content-Type": "text/xml"}, b'<?xml version="1.0" encoding="UTF-8"?>'
                                b"<Response><RequestId>0</RequestId></Response>")
        action = params["Action"]
        if action not in ACTIONS:
            return error("InvalidAction.NotFound", NO_API, 404)
        required, numeric = ACTIONS[action]
        for name in required:
            if not params.get(name):
                return error("MissingParameter", 'The input parameter "%s" that is mandatory for processing '
                             'this request is not supplied.' % name)
        for name in numeric:
            if name in params and not params[name].isdigit():
                return error("InvalidParameter", "The specified parameter %s is not valid." % name)
        self.actions.append(action)
        return {"DescribeSubDomainRecords": self._sub_records, "AddDomainRecord": self._add,
                "UpdateDomainRecord": self._update, "DescribeDomains": self._domains,
                "DeleteDomainRecord": self._delete}[action](params)

    def _zone(self, params: dict) -> str | None:
        name = params.get("DomainName")
        if name:
            return name if name in self.domains else None
        sub = params["SubDomain"]
        return next((d for d in sorted(self.domains, key=len, reverse=True)
                     if sub == d or sub.endswith("." + d)), None)

    def _sub_records(self, params: dict) -> FakeResponse:
        zone = self._zone(params)
        if zone is None:
            return error("IncorrectDomainUser", "The domain name does not belong to you.")
        sub = params["SubDomain"]
        if sub != zone and not sub.endswith("." + zone):
            return error("InvalidParameter", "The specified parameter SubDomain is not valid.")
        rr = "@" if sub == zone else sub[:-len(zone) - 1]
        size, number = int(params.get("PageSize", "20")), int(params.get("PageNumber", "1"))
        if not 1 <= size <= 100 or number < 1:
            return error("InvalidParameter", "The specified parameter PageSize is not valid.")
        # The search is a keyword match: home also finds home2 and homelab (listed first here).
        found = sorted(((rid, r) for rid, r in self.records.items() if r["domain"] == zone
                        and (r["rr"] == rr if rr == "@" else rr.lower() in r["rr"].lower())
                        and params.get("Type", r["type"]) == r["type"]
                        and params.get("Line", r["line"]) == r["line"]),
                       key=lambda item: (item[1]["rr"].lower() == rr.lower(), int(item[0])))
        page = [{"DomainName": zone, "RecordId": rid, "RR": r["rr"], "Type": r["type"], "Value": r["value"],
                 "Line": r["line"], "TTL": r["ttl"], "Status": "ENABLE", "Locked": rid in self.locked,
                 "Weight": 1} for rid, r in found[(number - 1) * size:number * size]]
        return json_response({"TotalCount": len(found), "PageNumber": number, "PageSize": size,
                              "RequestId": str(uuid.uuid4()).upper(), "DomainRecords": {"Record": page}})

    def _validate(self, rec: dict) -> FakeResponse | None:
        if rec["domain"] not in self.domains:
            return error("IncorrectDomainUser", "The domain name does not belong to you.")
        if rec["type"] not in ("A", "AAAA"):
            return error("InvalidParameter", "The specified parameter Type is not valid.")  # fake's choice
        try:
            if ipaddress.ip_address(rec["value"]).version != (4 if rec["type"] == "A" else 6):
                raise ValueError(rec["value"])
        except ValueError:
            return error("InvalidParameter", "The specified parameter Value is not valid.")  # fake's choice
        if not self.min_ttl <= rec["ttl"] <= 86400:
            # the code is this fake's choice
            return error("InvalidTTL", "The specified TTL is out of the range of the edition.")
        return None

    def _duplicate(self, rec: dict, skip: str = "") -> bool:
        key = (rec["domain"], rec["rr"], rec["type"], rec["value"], rec["line"])
        return any(rid != skip and (r["domain"], r["rr"], r["type"], r["value"], r["line"]) == key
                   for rid, r in self.records.items())

    def _add(self, params: dict) -> FakeResponse:
        rec = {"domain": params["DomainName"], "rr": params["RR"], "type": params["Type"],
               "value": params["Value"], "ttl": int(params.get("TTL", self.default_ttl)),
               "line": params.get("Line", "default")}
        problem = self._validate(rec)
        if problem:
            return problem
        if self._duplicate(rec):
            return error("DomainRecordDuplicate", "The DNS record already exists.")
        if len(self.records) >= self.max_records:
            return error("QuotaExceeded.Record", "The number of records exceeds the quota of the edition.")
        key = ("domain", "rr", "type", "line")
        if sum(all(r[k] == rec[k] for k in key) for r in self.records.values()) >= self.max_round_robin:
            return error("QuotaExceeded.%sRecord" % rec["type"], "The number of %s records of this host "
                         "exceeds the quota of the edition." % rec["type"])
        self.writes += 1
        return json_response({"RequestId": str(uuid.uuid4()).upper(), "RecordId": self.add(**rec)})

    def _update(self, params: dict) -> FakeResponse:
        record_id = params["RecordId"]
        old = self.records.get(record_id)
        if old is None:
            return error("DomainRecordNotBelongToUser", "The DNS record does not belong to you.")
        if record_id in self.locked:
            return error("DomainRecordLocked", "The DNS record is locked.")
        rec = dict(old, rr=params["RR"], type=params["Type"], value=params["Value"],
                   ttl=int(params.get("TTL", self.default_ttl)), line=params.get("Line", old["line"]))
        problem = self._validate(rec)
        if problem:
            return problem
        if self._duplicate(rec) or (rec["rr"], rec["type"], rec["value"], rec["line"]) == (
                old["rr"], old["type"], old["value"], old["line"]):
            self.duplicate_updates += 1
            return error("DomainRecordDuplicate", "The DNS record already exists.")
        self.writes += 1
        self.records[record_id] = rec
        return json_response({"RequestId": str(uuid.uuid4()).upper(), "RecordId": record_id})

    def _delete(self, params: dict) -> FakeResponse:
        record_id = params["RecordId"]
        if record_id not in self.records:
            return error("DomainRecordNotBelongToUser", "The DNS record does not exist in your account.")
        if record_id in self.locked:
            return error("DomainRecordLocked", "The DNS record is locked.")
        self.writes += 1
        del self.records[record_id]
        return json_response({"RequestId": str(uuid.uuid4()).upper(), "RecordId": record_id})

    def _domains(self, params: dict) -> FakeResponse:
        size, number = int(params.get("PageSize", "20")), int(params.get("PageNumber", "1"))
        names = sorted(self.domains)[(number - 1) * size:number * size]
        page = [{"DomainId": "00000000-0000-4000-8000-%012d" % i, "DomainName": n, "PunyCode": n,
                 "AliDomain": True, "RecordCount": sum(1 for r in self.records.values() if r["domain"] == n),
                 "VersionCode": "mianfei", "VersionName": "Alibaba Cloud DNS Free Edition",
                 "CreateTime": "2024-01-01T00:00Z"} for i, n in enumerate(names)]
        return json_response({"TotalCount": len(self.domains), "PageNumber": number, "PageSize": size,
                              "RequestId": str(uuid.uuid4()).upper(), "Domains": {"Domain": page}})

