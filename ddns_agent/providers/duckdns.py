"""DuckDNS, duckdns.org (specs/providers.md §5): one GET per change, answered OK or KO.

    GET <endpoint>/update?domains=<sub>&token=<token>&ip=<v4>&verbose=true     (A)
    GET <endpoint>/update?domains=<sub>&token=<token>&ipv6=<v6>&verbose=true   (AAAA)

A record is `domain duckdns.org` + `name <sub>` (or `domain <sub>.duckdns.org` + `name @`); either
way the sub-name is the single label before `.duckdns.org`. `ipv6` alone leaves the IPv4 record
alone (giving it disables the server's own detection of `ip`). `KO` means a wrong token or a
sub-domain that is not in this account: the record stops until the config changes.
Update-only: there is no read-only call, and nothing but the agent's own state says the record is
unchanged. The token travels in the query string: it never reaches a message.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlencode

from ddns_agent.errors import AuthError, ConfigError, RejectedError, UnconfirmedError
from ddns_agent.http import raise_for_status, url_join
from ddns_agent.providers.base import Provider, RecordSpec, Remote

DEFAULT_ENDPOINT = "https://www.duckdns.org"
ZONE = "duckdns.org"
NO_CHECK = "no read-only call in this protocol; credentials are tested on the first update"


class DuckDNS(Provider):
    """A and AAAA of one <sub>.duckdns.org name per record, with the account token."""

    type = "duckdns"
    can_find = False

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        token = options.get("token")
        self._token = token.reveal() if hasattr(token, "reveal") else str(token or "")
        if not self._token:
            raise ConfigError("missing required option", option="token")
        self.endpoint = options.get("endpoint") or DEFAULT_ENDPOINT

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """Send the address of `rec`'s family; OK confirms it, KO stops the record."""
        sub = sub_name(rec)
        query = {"domains": sub, "token": self._token, "verbose": "true"}
        query["ipv6" if rec.type == "AAAA" else "ip"] = address
        resp = self.http.request("GET", url_join(self.endpoint, "update") + "?" + urlencode(query),
                                 {"Accept": "text/plain"})
        raise_for_status(resp, self.type)
        if resp.status != 200:
            raise RejectedError("DuckDNS answered HTTP %d (endpoint?)" % resp.status,
                                status=resp.status, provider=self.type)
        lines = [line.strip() for line in resp.text.replace(self._token, "***").splitlines()]
        answer = lines[0] if lines else ""
        if answer == "KO":
            raise AuthError("DuckDNS answered KO: the token is wrong or %s.%s is not in this account"
                            % (sub, ZONE), status="KO", provider=self.type)
        if answer != "OK":
            raise UnconfirmedError("DuckDNS gave no OK or KO (answer %r)" % answer[:40],
                                   provider=self.type)
        # verbose: OK, the IPv4 now held, the IPv6 now held, UPDATED or NOCHANGE
        held = lines[2 if rec.type == "AAAA" else 1] if len(lines) >= 3 else ""
        if held and not _same(held, address):
            raise UnconfirmedError("DuckDNS answered OK but holds %s for %s.%s, not %s"
                                   % (held[:45], sub, ZONE, address), provider=self.type)
        remote = Remote(None, address, None)
        if len(lines) >= 4 and lines[3] == "NOCHANGE":  # it already held this address (conflict.py)
            remote.prior = address
        return remote

    def check(self) -> str:
        """Nothing to call: every DuckDNS request is an update."""
        return NO_CHECK


def sub_name(rec: RecordSpec) -> str:
    """The DuckDNS sub-domain of `rec`: the one label before .duckdns.org."""
    fqdn = rec.fqdn.rstrip(".").lower()
    sub = fqdn[:-len(ZONE) - 1] if fqdn.endswith("." + ZONE) else ""
    if not sub or "." in sub:
        raise ConfigError("DuckDNS publishes <sub>.duckdns.org: expected domain 'duckdns.org' and "
                          "name '<sub>', got %s" % fqdn, section=rec.key, option="domain")
    return sub


def _same(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False
