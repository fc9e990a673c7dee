"""Fake Tencent Cloud DNSPod API 3.0 (specs/providers.md §2): checks what the real one checks.

Checks, in order, each failure answered in the documented envelope with HTTP 200
(`{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`):
- POST to `/` with a JSON object body (else InvalidParameter; another path is a plain 404).
- X-TC-Action, X-TC-Version, X-TC-Timestamp present (MissingParameter); version 2021-03-23 (NoSuchVersion).
- Authorization shaped `TC3-HMAC-SHA256 Credential=ID/DATE/dnspod/tc3_request, SignedHeaders=...,
  Signature=<hex>` (AuthFailure.InvalidAuthorization); timestamp within 5 minutes of the fake's clock
  (AuthFailure.SignatureExpire); SecretId known (AuthFailure.SecretIdNotFound); content-type and
  host signed, date and service right, and the signature recomputed from the headers and body
  bytes received with the expected SecretKey (AuthFailure.SignatureFailure).
- Action known (InvalidAction); parameters known (UnknownParameter), required ones present
  (MissingParameter), of the documented JSON type (InvalidParameter).
The signature check is written here independently of ddns_agent.providers.signing on purpose;
tests/test_signing.py holds both to the V4 vector.
Records live in memory; DescribeRecordList's Subdomain is an exact filter as documented, and
`subdomain_is_keyword = True` makes it a substring search to prove the client matches names itself.
ModifyDynamicDNS without `Ttl` resets the record's TTL to the domain default (`default_ttl`), as
the real one does; CreateRecord without `TTL` uses it too. CreateRecord or ModifyDynamicDNS
making a record identical to another one (name, type, line, value) answers
InvalidParameter.DomainRecordExist. One name holds several records with different values, up to
`max_round_robin` per name, type and line (free plan: two, as the legacy docs say for the same
backend); one more answers LimitExceeded.SubdomainRollLimit (A) or LimitExceeded.AAAACountLimit.
DescribeRecordList filters by RecordLineId when given (RecordLine is then ignored, as documented)
and pages with Offset/Limit (1-3000, else InvalidParameterValue.LimitInvalid). DeleteRecord of an
unknown or gone id answers InvalidParameter.RecordIdInvalid ("记录编号错误。").
Changing nothing with ModifyDynamicDNS is counted in `noop_modifications` (the legacy API locks a
record for those, same backend: tests assert 0).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import time
import uuid

from fakes import FakeRequest, FakeResponse, json_response, register_secret, text_response

VERSION = "2021-03-23"
MAX_SKEW_S = 300
LINES = {"默认": "0", "电信": "10=0", "联通": "10=1", "移动": "10=3", "境外": "3=0"}
AUTH = re.compile(r"^TC3-HMAC-SHA256 Credential=([^/\s]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, "
                  r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")
S, N = str, int
#: action -> {parameter: (JSON type, required)}
ACTIONS = {
    "DescribeRecordList": {"Domain": (S, True), "DomainId": (N, False), "Subdomain": (S, False),
                           "RecordType": (S, False), "RecordLine": (S, False), "RecordLineId": (S, False),
                           "GroupId": (N, False), "Keyword": (S, False), "SortField": (S, False),
                           "SortType": (S, False), "Offset": (N, False), "Limit": (N, False),
                           "ErrorOnEmpty": (S, False)},
    "CreateRecord": {"Domain": (S, True), "DomainId": (N, False), "SubDomain": (S, False),
                     "RecordType": (S, True), "RecordLine": (S, True), "RecordLineId": (S, False),
                     "Value": (S, True), "MX": (N, False), "TTL": (N, False), "Weight": (N, False),
                     "Status": (S, False), "Remark": (S, False)},
    "ModifyDynamicDNS": {"Domain": (S, True), "DomainId": (N, False), "SubDomain": (S, False),
                         "RecordId": (N, True), "RecordLine": (S, True), "RecordLineId": (S, False),
                         "Value": (S, True), "Ttl": (N, False)},
    "DeleteRecord": {"Domain": (S, True), "DomainId": (N, False), "RecordId": (N, True)},
    "DescribeDomainList": {"Type": (S, False), "Offset": (N, False), "Limit": (N, False),
                           "GroupId": (N, False), "Keyword": (S, False)},
}


def error(code: str, message: str) -> FakeResponse:
    """The documented error envelope, HTTP 200."""
    return json_response({"Response": {"Error": {"Code": code, "Message": message},
                                       "RequestId": str(uuid.uuid4())}})


def ok(**fields) -> FakeResponse:
    """A success envelope."""
    fields["RequestId"] = str(uuid.uuid4())
    return json_response({"Response": fields})


class TencentCloudFake:
    """Domains and records in memory; counts requests, writes and no-change modifications."""

    def __init__(self, secret_id: str, secret_key: str, domains: tuple = ("example.com",),
                 min_ttl: int = 600, clock=time.time, max_round_robin: int = 2) -> None:
        self.secret_id = secret_id
        self.secret_key = secret_key
        register_secret(secret_key, "Tencent Cloud secret_key")
        self.domains = {name: 80800000 + i for i, name in enumerate(domains)}
        self.min_ttl = min_ttl  # DNSPod free plan: 600 s
        self.max_round_robin = max_round_robin  # free plan: 2 records per name, type and line
        self.default_ttl = 600  # the domain's default: CreateRecord/ModifyDynamicDNS without a TTL give it
        self.clock = clock
        self.records: dict = {}  # int id -> {domain, name, type, line, value, ttl}
        self.locked: set = set()  # domains locked in the console
        self.subdomain_is_keyword = False
        self.requests: list = []
        self.actions: list = []  # the action of every request that passed the signature check
        self.writes = 0
        self.noop_modifications = 0
        self.errors: list = []
        self._next_id = 1340000000

    def add(self, domain: str, name: str, type: str, value: str, line: str = "默认", ttl: int = 600) -> str:
        """Put a record in place, as if made in the console; returns its id as a string."""
        self._next_id += 1
        self.records[self._next_id] = {"domain": domain, "name": name, "type": type, "line": line,
                                       "value": value, "ttl": ttl}
        return str(self._next_id)

    def value(self, record_id) -> str:
        """The value a record holds now."""
        return self.records[int(record_id)]["value"]

    def named(self, name: str, type: str = "A") -> list:
        """The records of one name and type."""
        return [r for r in self.records.values() if r["name"] == name and r["type"] == type]

    def check_signature(self, headers: dict, body: bytes) -> str | None:
        """None when the TC3 signature of a request (lower-case header names) is good, else the error code."""
        match = AUTH.match(headers.get("authorization", ""))
        if not match:
            return "AuthFailure.InvalidAuthorization"
        secret_id, date, service, signed, signature = match.groups()
        timestamp = int(headers["x-tc-timestamp"])
        if abs(self.clock() - timestamp) > MAX_SKEW_S:
            return "AuthFailure.SignatureExpire"
        if secret_id != self.secret_id:
            return "AuthFailure.SecretIdNotFound"
        names = signed.split(";")
        if (service != "dnspod" or date != time.strftime("%Y-%m-%d", time.gmtime(timestamp))
                or names != sorted(set(names)) or not {"content-type", "host"} <= set(names)
                or any(n not in headers for n in names)):
            return "AuthFailure.SignatureFailure"
        lines = "".join("%s:%s\n" % (n, headers[n].strip().lower()) for n in names)
        canonical = "POST\n/\n\n%s\n%s\n%s" % (lines, signed, hashlib.sha256(body).hexdigest())
        to_sign = "TC3-HMAC-SHA256\n%d\n%s/%s/tc3_request\n%s" % (
            timestamp, date, service, hashlib.sha256(canonical.encode("utf-8")).hexdigest())
        key = ("TC3" + self.secret_key).encode("utf-8")
        for part in (date, service, "tc3_request"):
            key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(expected, signature) else "AuthFailure.SignatureFailure"

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        if req.route != "/":
            return text_response("404 page not found", 404)
        if req.method != "POST":
            return error("InvalidParameter", "this fake speaks POST with a JSON body only")
        for header, name in (("x-tc-action", "Action"), ("x-tc-version", "Version"),
                             ("x-tc-timestamp", "Timestamp")):
            if not req.headers.get(header):
                return error("MissingParameter", "The request is missing a required parameter `%s`." % name)
        if req.headers["x-tc-version"] != VERSION:
            return error("NoSuchVersion", "The requested version `%s` does not exist."
                         % req.headers["x-tc-version"])
        if not req.headers["x-tc-timestamp"].isdigit():
            return error("InvalidParameter", "The value of parameter `Timestamp` is not valid.")
        code = self.check_signature(req.headers, req.body)
        if code:
            return error(code, {"AuthFailure.SignatureExpire": "Signature expired. Timestamp and server time "
                                "cannot differ by more than five minutes.",
                                "AuthFailure.SecretIdNotFound": "The SecretId is not found."}.get(
                code, "The provided credentials could not be validated. Please check your signature is "
                      "correct."))
        action = req.headers["x-tc-action"]
        spec = ACTIONS.get(action)
        if spec is None:
            return error("InvalidAction", "The requested action `%s` does not exist." % action)
        if not req.headers.get("content-type", "").startswith("application/json"):
            return error("InvalidParameter", "Content-Type must be application/json")
        try:
            params = json.loads(req.body.decode("utf-8"))
        except ValueError:
            params = None
        if not isinstance(params, dict):
            return error("InvalidParameter", "The request body is not a JSON object.")
        for name, value in params.items():
            if name not in spec:
                return error("UnknownParameter", "The parameter `%s` is not recognized." % name)
            kind = spec[name][0]
            if not isinstance(value, kind) or isinstance(value, bool):
                return error("InvalidParameter", "The value type of parameter `%s` is not valid." % name)
        for name, (_, required) in spec.items():
            if required and name not in params:
                return error("MissingParameter", "The request is missing a required parameter `%s`." % name)
        self.actions.append(action)
        if action == "DescribeDomainList":
            return self._domains(params)
        if params["Domain"] not in self.domains:
            return error("InvalidParameterValue.DomainNotExists", "当前域名有误，请返回重新操作。")
        return {"DescribeRecordList": self._list, "CreateRecord": self._create,
                "ModifyDynamicDNS": self._modify, "DeleteRecord": self._delete}[action](params)

    def _domains(self, params: dict) -> FakeResponse:
        names = sorted(self.domains)
        offset, limit = params.get("Offset", 0), params.get("Limit", 20)
        page = [{"DomainId": self.domains[n], "Name": n, "Punycode": n, "Status": "ENABLE", "TTL": 600,
                 "Grade": "DP_Free", "GradeTitle": "免费版", "RecordCount": sum(
                     1 for r in self.records.values() if r["domain"] == n), "DNSStatus": "",
                 "CreatedOn": "2024-01-01 00:00:00", "UpdatedOn": "2024-01-01 00:00:00"}
                for n in names[offset:offset + limit]]
        return ok(DomainCountInfo={"DomainTotal": len(names), "AllTotal": len(names), "MineTotal": len(names),
                                   "ShareTotal": 0}, DomainList=page)

    def _list(self, params: dict) -> FakeResponse:
        sub = params.get("Subdomain")
        limit = params.get("Limit", 100)
        if not 1 <= limit <= 3000:
            return error("InvalidParameterValue.LimitInvalid", "分页长度数量错误。")
        found = []
        for rid, r in sorted(self.records.items()):
            if r["domain"] != params["Domain"] or params.get("RecordType", r["type"]) != r["type"]:
                continue
            if sub is not None and not (sub.lower() in r["name"].lower() if self.subdomain_is_keyword
                                        else sub.lower() == r["name"].lower()):
                continue
            if "RecordLineId" in params:
                if params["RecordLineId"] != LINES.get(r["line"]):
                    continue
            elif params.get("RecordLine", r["line"]) != r["line"]:
                continue
            if params.get("Keyword", "") not in r["name"]:
                continue
            found.append((rid, r))
        if not found and params.get("ErrorOnEmpty", "yes") != "no":
            return error("ResourceNotFound.NoDataOfRecord", "记录列表为空。")
        offset = params.get("Offset", 0)
        page = [{"RecordId": rid, "Value": r["value"], "Status": "ENABLE", "UpdatedOn": "2024-01-01 00:00:00",
                 "Name": r["name"], "Line": r["line"], "LineId": LINES.get(r["line"], "0"), "Type": r["type"],
                 "Weight": None, "MonitorStatus": "", "Remark": "", "TTL": r["ttl"], "MX": 0,
                 "DefaultNS": False} for rid, r in found[offset:offset + limit]]
        return ok(RecordCountInfo={"SubdomainCount": len({r["name"] for _, r in found}),
                                   "ListCount": len(page), "TotalCount": len(found)}, RecordList=page)

    def _validate(self, rec: dict) -> FakeResponse | None:
        if not re.match(r"^(@|\*|[A-Za-z0-9_*]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*)$", rec["name"]):
            return error("InvalidParameter.SubdomainInvalid", "子域名不正确。")
        if rec["type"] not in ("A", "AAAA"):
            return error("InvalidParameter.RecordTypeInvalid", "记录类型不正确。")
        if rec["line"] not in LINES:
            return error("InvalidParameter.RecordLineInvalid", "记录线路不正确。")
        try:
            if ipaddress.ip_address(rec["value"]).version != (4 if rec["type"] == "A" else 6):
                raise ValueError(rec["value"])
        except ValueError:
            return error("InvalidParameter.RecordValueInvalid", "记录的值不正确。")
        if not self.min_ttl <= rec["ttl"] <= 604800:
            return error("LimitExceeded.RecordTtlLimit", "记录的TTL值超出了限制。")
        if rec["domain"] in self.locked:
            return error("FailedOperation.DomainIsLocked", "锁定域名不能进行此操作。")
        return None

    def _create(self, params: dict) -> FakeResponse:
        rec = {"domain": params["Domain"], "name": params.get("SubDomain") or "@",
               "type": params["RecordType"], "line": params["RecordLine"], "value": params["Value"],
               "ttl": params.get("TTL", self.default_ttl)}
        problem = self._validate(rec)
        if problem:
            return problem
        if any(r == rec or (r["name"], r["type"], r["line"], r["value"]) == (
                rec["name"], rec["type"], rec["line"], rec["value"]) for r in self.records.values()
               if r["domain"] == rec["domain"]):
            return error("InvalidParameter.DomainRecordExist", "记录已经存在，无需再次添加。")
        key = ("domain", "name", "type", "line")
        if sum(all(r[k] == rec[k] for k in key) for r in self.records.values()) >= self.max_round_robin:
            if rec["type"] == "A":
                return error("LimitExceeded.SubdomainRollLimit", "子域名负载均衡数量超出限制。")
            return error("LimitExceeded.AAAACountLimit", "AAAA记录数量超出限制。")
        self.writes += 1
        return ok(RecordId=int(self.add(**rec)))

    def _modify(self, params: dict) -> FakeResponse:
        old = self.records.get(params["RecordId"])
        if old is None or old["domain"] != params["Domain"]:
            return error("InvalidParameter.RecordIdInvalid", "记录编号错误。")
        # without Ttl the record takes the domain's default TTL, whatever it had (as the service does)
        rec = dict(old, name=params.get("SubDomain") or "@", line=params["RecordLine"], value=params["Value"],
                   ttl=params.get("Ttl", self.default_ttl))
        problem = self._validate(rec)
        if problem:
            return problem
        key = ("domain", "name", "type", "line", "value")
        if any(rid != params["RecordId"] and all(r[k] == rec[k] for k in key)
               for rid, r in self.records.items()):
            return error("InvalidParameter.DomainRecordExist", "记录已经存在，无需再次添加。")
        if rec == old:
            self.noop_modifications += 1
        self.writes += 1
        self.records[params["RecordId"]] = rec
        return ok(RecordId=params["RecordId"])


    def _delete(self, params: dict) -> FakeResponse:
        old = self.records.get(params["RecordId"])
        if old is None or old["domain"] != params["Domain"]:
            return error("InvalidParameter.RecordIdInvalid", "记录编号错误。")
        if old["domain"] in self.locked:
            return error("FailedOperation.DomainIsLocked", "锁定域名不能进行此操作。")
        self.writes += 1
        del self.records[params["RecordId"]]
        return ok()
