"""Fake DuckDNS (specs/providers.md §5): checks what www.duckdns.org checks, answers OK or KO.

GET /update?domains=<sub[,sub...]>&token=<token>[&ip=][&ipv6=][&verbose=true][&clear=true], HTTP 200
either way, text/plain. KO when the token is not the account's or any sub-domain is not in it, and
when `ip`/`ipv6` is not an address (our choice: the spec does not say). `ip` may carry v4 or v6;
no `ip` and no `ipv6` takes the caller's IPv4 (header X-Client-Address here, else 127.0.0.1).
Verbose answers: OK, the IPv4, the IPv6 (blank when none), UPDATED or NOCHANGE.
"""

from __future__ import annotations

import ipaddress

from fakes import FakeRequest, FakeResponse, register_secret, text_response


class DuckDNSFake:
    """Sub-domains of one account in memory: {sub: {"A": ip or "", "AAAA": ip or ""}}."""

    def __init__(self, token: str, subs: tuple = ("myhome",)) -> None:
        self.token = token
        register_secret(token, "DuckDNS token")
        self.records = {sub: {"A": "", "AAAA": ""} for sub in subs}
        self.requests: list = []
        self.updates = 0     # OK answers that changed something
        self.nochange = 0    # OK answers that changed nothing
        self.errors: list = []

    def __call__(self, req: FakeRequest) -> FakeResponse:
        self.requests.append(req)
        if req.route.rstrip("/") != "/update":
            return text_response("<html>404 Not Found</html>", 404, "text/html")
        q = req.query
        subs = [s.strip().lower() for s in q.get("domains", "").split(",") if s.strip()]
        subs = [s[:-len(".duckdns.org")] if s.endswith(".duckdns.org") else s for s in subs]
        if q.get("token") != self.token or not subs or any(s not in self.records for s in subs):
            return text_response("KO")
        ip, ipv6 = q.get("ip", ""), q.get("ipv6", "")
        if q.get("clear") == "true":
            new = {"A": "", "AAAA": ""}
        else:
            new = {}
            for value in (ip, ipv6):
                if value:
                    try:
                        addr = ipaddress.ip_address(value)
                    except ValueError:
                        return text_response("KO")
                    new["AAAA" if addr.version == 6 else "A"] = str(addr)
            if not ip and not ipv6:
                new["A"] = req.headers.get("x-client-address", "127.0.0.1")
        changed = False
        for sub in subs:
            held = self.records[sub]
            changed |= any(held[k] != v for k, v in new.items())
            held.update(new)
        if changed:
            self.updates += 1
        else:
            self.nochange += 1
        if q.get("verbose") != "true":
            return text_response("OK")
        held = self.records[subs[-1]]
        outcome = "UPDATED" if changed else "NOCHANGE"
        return text_response("OK\n%s\n%s\n%s" % (held["A"], held["AAAA"], outcome))
