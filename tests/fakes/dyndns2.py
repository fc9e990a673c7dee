"""Fake dyndns2 server (specs/providers.md §6): Dyn's rules, plus the he.net and Dynu variants.

Checks, in order, answering text/plain return codes as the real services do:
- the update path (404 otherwise);
- User-Agent present and identifying a client: empty, browser (`Mozilla/...`) or bare library
  agents (curl, Wget, python-requests, Python-urllib) get `badagent`, and so does a method other
  than GET (POST is tolerated, as Dyn says);
- credentials: Basic auth, or `username=`/`password=` query parameters for Dynu and he.net.
  None at all: HTTP 401 with WWW-Authenticate and `badauth`; wrong ones: `badauth`.
  mode "he": the user is the host name and the password that host's own key;
- `hostname`: missing or not a full name `notfqdn`, more than 20 `numhost`, not in the account `nohost`;
  a host blocked for abuse answers `abuse`;
- `myip` (and for Dynu `myipv6`, where `no` skips a family): an address, or the caller's address when
  absent (X-Client-Address here, else 127.0.0.1). Bad syntax is used like Dyn does (the caller's
  address) and recorded in `errors`, so a test fails: our client must never send it.
Then per host `good <ip>` or `nochg <ip>`; the third `nochg` in a row blocks the host for abuse
(3322 documents blocking after 3 rapid repeats; Dyn "repeated nochg").
`force` is a list of raw answers given to the next requests instead (after the UA check), for
codes a fake cannot provoke (911, dnserr, !donator, good 127.0.0.1...); a forced `abuse` blocks too.
"""

from __future__ import annotations

import base64
import ipaddress

from fakes import FakeRequest, FakeResponse, register_secret, text_response

LIBRARY_AGENTS = ("mozilla/", "curl/", "wget/", "python-requests/", "python-urllib/", "go-http-client/")
MAX_HOSTS = 20
ABUSE_AFTER = 3


class Dyndns2Fake:
    """Accounts, hosts and their addresses in memory: records = {host: {"A": ip, "AAAA": ip}}."""

    def __init__(self, accounts: dict | None = None, hosts: dict | None = None, mode: str = "dyn",
                 path: str = "/nic/update", keys: dict | None = None) -> None:
        self.accounts = dict(accounts or {})   # username -> password
        self.hosts = dict(hosts or {})         # host -> owning username
        self.keys = dict(keys or {})           # mode "he": host -> its DDNS key
        for user, secret in list(self.accounts.items()) + list(self.keys.items()):
            register_secret(secret, "dyndns2 password of %s" % user)
        self.mode = mode                       # "dyn" | "he" | "dynu"
        self.path = path
        self.records = {h: {"A": "", "AAAA": ""} for h in list(self.hosts) + list(self.keys)}
        self.blocked: set = set()
        self.force: list = []
        self.requests: list = []
        self.answers: list = []   # every answer body sent, in order
        self.nochg = 0
        self.errors: list = []
        self._nochg_run: dict = {}

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        resp = self._answer(req)
        self.answers.append(resp.body.decode("utf-8"))
        return resp

    def _answer(self, req: FakeRequest) -> FakeResponse:
        if req.route != self.path:
            return text_response("<html>404 Not Found</html>", 404, "text/html")
        agent = req.headers.get("user-agent", "").strip().lower()
        if not agent or agent.startswith(LIBRARY_AGENTS) or req.method not in ("GET", "POST"):
            return text_response("badagent")
        q = req.query
        names = [h.strip().lower() for h in q.get("hostname", "").split(",") if h.strip()]
        if self.force:
            code = self.force.pop(0)
            if code == "abuse":
                self.blocked.update(names)
            return text_response(code)
        user, password = self._credentials(req)
        if user is None:
            return FakeResponse(401, {"Content-Type": "text/plain; charset=utf-8",
                                      "WWW-Authenticate": 'Basic realm="DDNS"'}, b"badauth")
        if self.mode == "he":
            if not names or self.keys.get(user.lower()) != password or names != [user.lower()]:
                return text_response("badauth")
        elif self.accounts.get(user) != password:
            return text_response("badauth")
        if not names:
            return text_response("notfqdn")
        if len(names) > MAX_HOSTS:
            return text_response("numhost")
        addresses = self._addresses(req)
        lines = []
        for host in names:
            lines.append(self._host(host, user, addresses))
        return text_response("\n".join(lines))

    def _credentials(self, req: FakeRequest) -> tuple:
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
            except ValueError:
                return "", ""
            return user, password
        q = req.query
        if self.mode == "dynu" and "username" in q:
            return q["username"], q.get("password", "")
        if self.mode == "he" and "password" in q:
            return q.get("hostname", ""), q["password"]
        return None, None

    def _addresses(self, req: FakeRequest) -> dict:
        """{"A": ip, "AAAA": ip} asked for, or {} families skipped ('no')."""
        q = req.query
        out = {}
        params = ("myip", "myipv6") if self.mode == "dynu" else ("myip",)
        for param in [p for p in q if p.startswith("myip")]:
            if param not in params:
                self.errors.append("unknown parameter %s sent to a %s server" % (param, self.mode))
        for param in params:
            value = q.get(param)
            if value is None or (value == "no" and self.mode == "dynu"):
                continue
            try:
                addr = ipaddress.ip_address(value)
                if param == "myipv6" and addr.version != 6:
                    raise ValueError(value)
            except ValueError:
                self.errors.append("bad %s syntax: %r" % (param, value))
                value = req.headers.get("x-client-address", "127.0.0.1")
                addr = ipaddress.ip_address(value)
            out["AAAA" if addr.version == 6 else "A"] = str(addr)
        if "myip" not in q:
            value = req.headers.get("x-client-address", "127.0.0.1")
            out.setdefault("AAAA" if ":" in value else "A", value)
        return out

    def _host(self, host: str, user: str, addresses: dict) -> str:
        if "." not in host:
            return "notfqdn"
        if self.mode != "he" and self.hosts.get(host) != user:
            return "nohost"
        if host in self.blocked:
            return "abuse"
        held = self.records.setdefault(host, {"A": "", "AAAA": ""})
        shown = ",".join(addresses[k] for k in ("A", "AAAA") if k in addresses)
        if all(held[k] == v for k, v in addresses.items()):
            self.nochg += 1
            self._nochg_run[host] = self._nochg_run.get(host, 0) + 1
            if self._nochg_run[host] >= ABUSE_AFTER:
                self.blocked.add(host)
                return "abuse"
            return "nochg " + shown
        self._nochg_run[host] = 0
        held.update(addresses)
        return "good " + shown
