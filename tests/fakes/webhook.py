"""Fake "simple URL" services for the webhook provider: three shapes the long tail of DDNS services use.

    GET  /update?hostname=<fqdn>&myip=<ip>&key=<key>   key in the query; 200 "OK updated" or
                                                       200 "KO bad key" (a refusal in the text only)
    GET  /u/<key>/<fqdn>/<ip>                          key in the path; 200 "good", 401 "bad key"
    POST /api/records  JSON {"name", "type", "content"}, header X-Api-Key: <key>;
                       204 on success, 403 bad key, 400 not JSON or missing fields, 415 not JSON type
    POST /form         form-urlencoded host=&ip=, Basic auth user:<key>; 200 "success", 401 otherwise

Values arrive decoded the way a real server decodes them (parse_qs, unquote, json.loads), so a test
can compare what was published with what the record holds. Addresses must parse, else 400.
"""

from __future__ import annotations

import base64
import ipaddress
from urllib.parse import unquote

from fakes import FakeRequest, FakeResponse, register_secret, text_response


class WebhookFake:
    """Published addresses in `records` {(name, family): ip}; every request in `requests`."""

    def __init__(self, key: str, user: str = "user") -> None:
        self.key = key
        register_secret(key, "webhook service key")
        self.user = user
        self.records: dict = {}
        self.requests: list = []
        self.errors: list = []

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        route = req.route
        if route == "/update" and req.method == "GET":
            q = req.query
            if q.get("key") != self.key:
                return text_response("KO bad key")
            return self._store(q.get("hostname", ""), q.get("myip", ""), "OK updated")
        if route.startswith("/u/") and req.method == "GET":
            parts = [unquote(p) for p in route[3:].split("/")]
            if len(parts) != 3 or parts[0] != self.key:
                return text_response("bad key", 401)
            return self._store(parts[1], parts[2], "good")
        if route == "/api/records" and req.method in ("POST", "PUT", "PATCH"):
            if req.headers.get("x-api-key") != self.key:
                return text_response('{"error": "forbidden"}', 403, "application/json")
            if req.headers.get("content-type", "").split(";")[0] != "application/json":
                return text_response('{"error": "expected JSON"}', 415, "application/json")
            try:
                body = req.json()
                name, content = body["name"], body["content"]
            except (ValueError, KeyError, TypeError):
                return text_response('{"error": "bad body"}', 400, "application/json")
            resp = self._store(name, content, "")
            return FakeResponse(204, {}, b"") if resp.status == 200 else resp
        if route == "/form" and req.method == "POST":
            auth = req.headers.get("authorization", "")
            expected = "Basic " + base64.b64encode(("%s:%s" % (self.user, self.key)).encode()).decode()
            if auth != expected:
                return FakeResponse(401, {"WWW-Authenticate": 'Basic realm="ddns"',
                                          "Content-Type": "text/plain"}, b"unauthorized")
            if req.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
                return text_response("expected a form", 415)
            form = req.form
            return self._store(form.get("host", ""), form.get("ip", ""), "success")
        return text_response("not found", 404)

    def _store(self, name: str, value: str, ok: str) -> FakeResponse:
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            return text_response("bad address %r" % value, 400)
        if not name:
            return text_response("no host", 400)
        self.records[(name, "AAAA" if addr.version == 6 else "A")] = str(addr)
        return text_response(ok)
