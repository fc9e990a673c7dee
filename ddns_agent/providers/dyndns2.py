"""The dyndns2 protocol family (specs/providers.md §6): No-IP, Oray 花生壳, Dynu, he.net, deSEC, OVH, any.

    GET <update URL>?hostname=<fqdn>&myip=<address>
    Authorization: Basic base64(username:password)
    User-Agent: ddns_agent/<version> (<url>)       # http.py; generic or browser agents get `badagent`

`endpoint` is the whole update URL (path included); a `preset` gives it. One hostname per request,
one text/plain answer line. Every answer is handled as the protocol requires (§6.2):

    good <ip>, nochg <ip>                    done (the agent only calls on change: a nochg after we
                                             wrote another address means another client set it)
    badauth, HTTP 401/403                    AuthError: stop until the config changes
    !donator notfqdn nohost numhost abuse    RejectedError: stop until the config changes
    badagent, good 127.0.0.1
    911, dnserr                              RateLimitedError(1800): wait at least 30 minutes
    anything else                            UnconfirmedError: sent, but not confirmed
    HTTP 429                                 RateLimitedError (Retry-After obeyed up to the cap)
    HTTP 5xx without a code                  TransientError: retry by policy

Dyn says "any failed update attempt is fatal" and No-IP "only schedule future updates after a
success code": stopping is the protocol's answer, not caution. Update-only, no read-only call.
"""

from __future__ import annotations

import ipaddress
from base64 import b64encode
from urllib.parse import urlencode, urlsplit

from ddns_agent.errors import AuthError, ConfigError, RateLimitedError, RejectedError, UnconfirmedError
from ddns_agent.http import raise_for_status, safe_url
from ddns_agent.providers.base import Provider, RecordSpec, Remote, ascii_name

NO_CHECK = "no read-only call in this protocol; credentials are tested on the first update"
#: No-IP and Dyn: retry no sooner than 30 minutes after 911 or dnserr
WAIT_S = 1800.0


class Preset:
    """A known dyndns2 service: update URLs per family, and how it wants each family's address."""

    __slots__ = ("title", "url4", "url6", "ipv4_param", "ipv6_param", "keep4", "keep6", "username_is_host",
                 "username_is_domain")

    def __init__(self, title: str, url4: str, url6: str = "", ipv6_param: str = "myip",
                 username_is_host: bool = False, ipv4_param: str = "myip", keep4: str = "", keep6: str = "",
                 username_is_domain: bool = False) -> None:
        self.title = title
        self.url4 = url4
        self.url6 = url6 or url4
        self.ipv4_param = ipv4_param
        self.ipv6_param = ipv6_param          # Dynu: myipv6 (with myip=no); deSEC myipv6; others: myip
        # sent for the other family when the two have their own parameters: Dynu "no", deSEC
        # "preserve" (deSEC removes a family that is neither given nor "preserve")
        self.keep4 = keep4
        self.keep6 = keep6
        self.username_is_host = username_is_host  # he.net: user = the host name, password = its key
        self.username_is_domain = username_is_domain  # deSEC: user = the domain (zone) name


PRESETS = {
    # IPv6 through the IPv6-only host, as OpenWrt's update_no-ip_com.sh does (specs §6.3)
    "noip": Preset("No-IP", "https://dynupdate.no-ip.com/nic/update",
                   "https://dynupdate6.no-ip.com/nic/update"),
    "oray": Preset("Oray", "https://ddns.oray.com/ph/update"),
    "dynu": Preset("Dynu", "https://api.dynu.com/nic/update", ipv6_param="myipv6", keep4="no"),
    "he": Preset("Hurricane Electric", "https://dyn.dns.he.net/nic/update", username_is_host=True),
    # docs/providers/desec.md: user = the domain, password = a token; records get TTL 60
    "desec": Preset("deSEC", "https://update.dedyn.io/", ipv4_param="myipv4", ipv6_param="myipv6",
                    keep4="preserve", keep6="preserve", username_is_domain=True),
    # docs/providers/ovh.md: a DynHost login (zone-suffixed user) per host
    "ovh": Preset("OVH", "https://www.ovh.com/nic/update?system=dyndns"),
    "custom": Preset("", ""),
}

#: fatal answers: (plain words, error class); the agent adds "no more calls until the config changes"
FATAL = {
    "badauth": ("the provider refused the username or password", AuthError),
    "!donator": ("the update asked for a feature this account does not have (paid option)",
                 RejectedError),
    "notfqdn": ("%(host)s is not a full host name the provider accepts", RejectedError),
    "nohost": ("the host name %(host)s is not in this account", RejectedError),
    "numhost": ("too many host names in one update, or %(host)s is a round-robin host",
                RejectedError),
    "abuse": ("the provider blocked this host for abuse", RejectedError),
    "badagent": ("the provider blocked this client (User-Agent) or the request method",
                 RejectedError),
}
WAIT = {
    "911": "the provider reports an outage or maintenance",
    "dnserr": "the provider's DNS servers failed",
}


class Dyndns2(Provider):
    """A and AAAA through a dyndns2 /nic/update URL with Basic auth."""

    type = "dyndns2"
    can_find = False

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        name = str(options.get("preset") or "custom").lower()
        preset = PRESETS.get(name)
        if preset is None:
            raise ConfigError("expected one of %s, got %r" % (", ".join(PRESETS), name), option="preset")
        self.preset = preset
        endpoint = options.get("endpoint")
        if not (endpoint or preset.url4):
            raise ConfigError("preset custom needs option endpoint: the whole update URL, "
                              "like https://dyndns.example.net/nic/update", option="endpoint")
        self._url4 = endpoint or preset.url4
        self._url6 = endpoint or preset.url6
        password = options.get("password")
        self._password = password.reveal() if hasattr(password, "reveal") else str(password or "")
        self._username = str(options.get("username") or "")
        if not self._password:
            raise ConfigError("missing required option", option="password")
        if not self._username and not (preset.username_is_host or preset.username_is_domain):
            raise ConfigError("missing required option (the account or DDNS key user name)",
                              option="username")
        self.title = preset.title or urlsplit(self._url4).hostname or "the dyndns2 server"

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """One GET for `rec`; returns the record on good/nochg, raises per the protocol otherwise."""
        host = ascii_name(rec.fqdn)
        query = {"hostname": host}
        p4, p6 = self.preset.ipv4_param, self.preset.ipv6_param
        if rec.type == "AAAA":
            if p6 != p4:  # leave the IPv4 address alone (Dynu "no", deSEC "preserve")
                query[p4] = self.preset.keep4
            query[p6] = address
        else:
            query[p4] = address
            if p6 != p4 and self.preset.keep6:
                query[p6] = self.preset.keep6
        user = self._username or (ascii_name(rec.domain) if self.preset.username_is_domain else host)
        auth = b64encode(("%s:%s" % (user, self._password)).encode("utf-8")).decode("ascii")
        url = self._url6 if rec.type == "AAAA" else self._url4
        sep = "&" if urlsplit(url).query else "?"
        resp = self.http.request("GET", url + sep + urlencode(query),
                                 {"Authorization": "Basic " + auth, "Accept": "text/plain"})
        if resp.status == 429:
            raise_for_status(resp, self.type)
        return self._answer(resp, rec, host, address)

    def _answer(self, resp, rec: RecordSpec, host: str, address: str) -> Remote:
        lines = [line.strip() for line in resp.text.splitlines() if line.strip()]
        words = lines[0].split() if lines else []
        code = words[0] if words else ""
        if code in ("good", "nochg"):
            ips = [ip.strip() for ip in (words[1] if len(words) > 1 else "").split(",") if ip.strip()]
            if code == "good" and "127.0.0.1" in ips and address != "127.0.0.1":
                raise RejectedError("%s answered 'good 127.0.0.1': it ignored the update because it does "
                                    "not accept this client (treated as badagent)" % self.title,
                                    status="badagent", provider=self.type)
            if ips and not any(_same(ip, address) for ip in ips):
                raise UnconfirmedError("%s answered '%s %s' for %s, not %s"
                                       % (self.title, code, ",".join(ips)[:90], host, address),
                                       status=code, provider=self.type)
            if 200 <= resp.status < 300:
                remote = Remote(None, address, None)
                if code == "nochg":  # it already held this address: evidence for conflict.py
                    remote.prior = address
                return remote
        fatal = FATAL.get(code)
        if fatal is not None:
            meaning, cls = fatal
            raise cls("%s answered %s: %s" % (self.title, code, meaning % {"host": host}),
                      status=code, provider=self.type)
        if code in WAIT:
            raise RateLimitedError("%s answered %s: %s; waiting at least 30 minutes before trying again"
                                   % (self.title, code, WAIT[code]), retry_after=WAIT_S, status=code,
                                   provider=self.type)
        if resp.status in (401, 403):
            raise AuthError("%s refused the username or password (HTTP %d)" % (self.title, resp.status),
                            status=resp.status, provider=self.type)
        raise_for_status(resp, self.type)  # 5xx without a code: transient
        if not 200 <= resp.status < 300:
            raise RejectedError("%s answered HTTP %d at %s (endpoint?)"
                                % (self.title, resp.status, safe_url(resp.url)),
                                status=resp.status, provider=self.type)
        shown = "".join(c if c.isprintable() else "?" for c in (lines[0] if lines else ""))
        if len(self._password) >= 4:  # a server echoing it would be odd; still never show it
            shown = shown.replace(self._password, "***")
        shown = shown[:40]
        raise UnconfirmedError("%s gave an answer dyndns2 does not define: %r" % (self.title, shown),
                               status=code or None, provider=self.type)

    def check(self) -> str:
        """Nothing to call: every dyndns2 request is an update."""
        return "updates go to %s; %s" % (safe_url(self._url4), NO_CHECK)


def _same(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


