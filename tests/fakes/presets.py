"""Fakes of the URL-preset services (issue 12): dynv6, deSEC, OVH DynHost, Namecheap, FreeDNS, Njalla.

Each checks what docs/providers/<name>.md says the service checks and answers in its shapes, errors
included; every one keeps the published addresses in `records` and the requests in `requests`, and
appends to `errors` anything our client must never send (a test fails on it).
"""

from __future__ import annotations

import base64
import ipaddress
from urllib.parse import unquote

from fakes import FakeRequest, FakeResponse, json_response, register_secret, text_response
from fakes.dyndns2 import Dyndns2Fake


def _family(value: str) -> str | None:
    try:
        return "AAAA" if ipaddress.ip_address(value).version == 6 else "A"
    except ValueError:
        return None


class _Fake:
    def __init__(self) -> None:
        self.records: dict = {}   # (name, type) -> address
        self.requests: list = []
        self.errors: list = []

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        return self.answer(req)


class Dynv6Fake(_Fake):
    """GET /api/update?zone=&token=[&ipv4=][&ipv6=[/len]][&ipv6prefix=cidr] (dynv6.com/docs/apis)."""

    def __init__(self, zones: dict) -> None:
        super().__init__()
        self.tokens = dict(zones)  # zone -> its HTTP token
        for zone, token in zones.items():
            register_secret(token, "dynv6 token of %s" % zone)
        self.prefixes: dict = {}   # zone -> the IPv6 prefix its prefix-relative records follow

    def answer(self, req: FakeRequest) -> FakeResponse:
        if req.route != "/api/update" or req.method != "GET":
            return text_response("not found", 404)
        q = req.query
        zone = q.get("zone") or q.get("hostname") or q.get("Hostname")
        if not zone or "token" not in q:
            return text_response("zone and token are mandatory", 400)
        if self.tokens.get(zone) != q["token"]:
            return text_response("invalid authentication token", 401)
        before = (dict(self.records), dict(self.prefixes))
        if q.get("ipv4"):
            if _family(q["ipv4"]) != "A":
                return text_response("invalid IPv4 address", 400)
            self.records[(zone, "A")] = q["ipv4"]
        if q.get("ipv6"):
            address, _, length = q["ipv6"].partition("/")
            if _family(address) != "AAAA":
                return text_response("invalid IPv6 address", 400)
            self.records[(zone, "AAAA")] = address
            if length and "ipv6prefix" not in q:
                self.prefixes[zone] = str(ipaddress.IPv6Network(q["ipv6"], strict=False))
        if q.get("ipv6prefix"):
            try:
                self.prefixes[zone] = str(ipaddress.IPv6Network(q["ipv6prefix"]))
            except ValueError:
                return text_response("invalid IPv6 prefix", 400)
        changed = (self.records, self.prefixes) != before
        return text_response("addresses updated" if changed else "addresses unchanged")


class DesecFake(_Fake):
    """GET update.dedyn.io/?hostname=&myipv4=&myipv6= with Basic user=domain, password=token (deSEC docs)."""

    def __init__(self, domains: dict) -> None:
        super().__init__()
        self.tokens = dict(domains)  # domain -> token
        for domain, token in domains.items():
            register_secret(token, "deSEC token of %s" % domain)

    def answer(self, req: FakeRequest) -> FakeResponse:
        if req.method != "GET" or req.route.endswith((".ico", ".png")):
            return text_response("not found", 404)
        auth = req.headers.get("authorization", "")
        user = token = None
        if auth.lower().startswith("basic "):
            user, _, token = base64.b64decode(auth[6:]).decode("utf-8", "replace").partition(":")
        elif auth.lower().startswith("token "):
            token = auth[6:].strip()
            user = next((d for d, t in self.tokens.items() if t == token), None)
        if user is None or self.tokens.get(user) != token:
            return json_response({"detail": "Invalid username/password."}, 401)
        q = req.query
        host = q.get("hostname", user).lower()
        if host != user and not host.endswith("." + user):
            return json_response({"detail": "Domain not found."}, 404)
        for param, rtype, client in (("myipv4", "A", "127.0.0.1"), ("myipv6", "AAAA", None)):
            value = q.get(param, q.get("myip") if rtype == "A" else None)
            if value == "preserve":
                continue
            if value is None:  # neither given nor preserved: the connection's address, else removed
                value = client
            if value is None:
                self.records.pop((host, rtype), None)
            elif _family(value) != rtype:
                return json_response({"detail": "malformed %s" % param}, 400)
            else:
                self.records[(host, rtype)] = value
        return text_response("good")


class OvhFake(Dyndns2Fake):
    """OVH DynHost: dyndns2 on /nic/update, plus the `system=dyndns` parameter its docs require."""

    def _answer(self, req: FakeRequest) -> FakeResponse:
        if req.query.get("system") != "dyndns":
            self.errors.append("no system=dyndns in %s" % req.path)
        return super()._answer(req)


NAMECHEAP_OK = """<?xml version="1.0" encoding="utf-16"?>
<interface-response>
  <Command>SETDNSHOST</Command>
  <Language>eng</Language>
  <IP>%s</IP>
  <ErrCount>0</ErrCount>
  <errors />
  <ResponseCount>0</ResponseCount>
  <responses />
  <Done>true</Done>
  <debug><![CDATA[]]></debug>
</interface-response>"""
NAMECHEAP_ERROR = """<?xml version="1.0" encoding="utf-16"?>
<interface-response>
  <Command>SETDNSHOST</Command>
  <Language>eng</Language>
  <ErrCount>1</ErrCount>
  <errors>
    <Err1>%s</Err1>
  </errors>
  <ResponseCount>1</ResponseCount>
  <responses>
    <response>
      <Description>%s</Description>
      <ResponseNumber>%s</ResponseNumber>
      <ResponseString>Validation error; %s</ResponseString>
    </response>
  </responses>
  <Done>true</Done>
  <debug><![CDATA[]]></debug>
</interface-response>"""


class NamecheapFake(_Fake):
    """GET /update?host=&domain=&password=&ip= ; always HTTP 200 with XML (ErrCount, Err1)."""

    def __init__(self, domains: dict, hosts: tuple = ("@", "home")) -> None:
        super().__init__()
        self.passwords = dict(domains)  # domain -> its Dynamic DNS password
        for domain, password in domains.items():
            register_secret(password, "Namecheap Dynamic DNS password of %s" % domain)
        self.hosts = set(hosts)

    def answer(self, req: FakeRequest) -> FakeResponse:
        if req.route != "/update":
            return text_response("<html>404</html>", 404, "text/html")
        q = req.query

        def error(words: str, number: str) -> FakeResponse:
            return text_response(NAMECHEAP_ERROR % (words, words, number, words), 200, "text/xml")

        if not q.get("domain") or "password" not in q:
            return error("Domain name not found", "316153")
        if self.passwords.get(q["domain"].lower()) != q["password"]:
            return error("Passwords do not match", "304156")
        host = q.get("host", "@")
        if host not in self.hosts:
            return error("No Records updated. A record not Found;", "380091")
        ip = q.get("ip", "127.0.0.1")
        if _family(ip) != "A":  # A + Dynamic DNS records hold IPv4 only
            return error("Invalid IP", "304154")
        self.records[(host, "A")] = ip
        return text_response(NAMECHEAP_OK % ip, 200, "text/xml")


class FreeDnsFake(_Fake):
    """GET /u/<token>/?ip= (sync.afraid.org, v6.sync.afraid.org): one text line."""

    MISSING = ("ERROR: Unable to locate this record (changed password recently? deleted and re-created "
               "this dns entry?) (double check username/password are correct)")

    def __init__(self, tokens: dict) -> None:
        super().__init__()
        self.hosts = dict(tokens)  # token -> (host, type)
        for token, where in tokens.items():
            register_secret(token, "FreeDNS token of %s" % (where,))

    def answer(self, req: FakeRequest) -> FakeResponse:
        parts = req.route.split("/")
        if len(parts) < 3 or parts[1] != "u":
            return text_response("not found", 404)
        where = self.hosts.get(unquote(parts[2]))
        if where is None:
            return text_response(self.MISSING)
        host, rtype = where
        ip = req.query.get("ip", "127.0.0.1")
        if _family(ip) != rtype:
            return text_response("ERROR: Address %s is not valid for this %s record" % (ip, rtype))
        if self.records.get(where) == ip:
            return text_response("No IP change detected for %s with IP %s, skipping update" % (host, ip))
        self.records[where] = ip
        return text_response("Updated 1 host(s) %s to %s in 0.171 seconds" % (host, ip))


class NjallaFake(_Fake):
    """GET /update/?h=<fqdn>&k=<key>&a=|aaaa=|auto (njal.la/docs/ddns): JSON {status, message, value}."""

    def __init__(self, keys: dict) -> None:
        super().__init__()
        self.keys = dict(keys)  # fqdn -> the key of its dynamic record
        for host, key in keys.items():
            register_secret(key, "Njalla key of %s" % host)

    def answer(self, req: FakeRequest) -> FakeResponse:
        if req.route not in ("/update", "/update/"):
            return text_response("not found", 404)
        q = req.query
        if not q.get("h") or not q.get("k"):
            return json_response({"status": 500, "message": "missing parameter h or k"}, 500)
        if self.keys.get(q["h"].lower()) != q["k"]:
            return json_response({"status": 401, "message": "invalid key"}, 401)
        value = {}
        for param, rtype in (("a", "A"), ("aaaa", "AAAA")):
            if param in q:
                if _family(q[param]) != rtype:
                    return json_response({"status": 500, "message": "invalid %s address" % rtype}, 500)
                self.records[(q["h"].lower(), rtype)] = value[rtype] = q[param]
        if not value:
            return json_response({"status": 500, "message": "no address given"}, 500)
        return json_response({"status": 200, "message": "record updated", "value": value})
