"""The `webhook` provider: one HTTP request built from templates, for the long tail of simple services.

Templates (`url`, `body`, each of `headers`) hold placeholders written `{word}`:

    {ip} {ip4} {ip6}      the address; {ip4} is empty for an AAAA record, {ip6} for an A record
    {ip6prefix}           the /64 holding an IPv6 address, as 2001:db8:1:2::/64 (empty for A)
    {domain} {name} {fqdn} {type} {ttl}       the record ({name} is '@' for the apex, {ttl} may be empty)
    {token} {password} {username}             the provider options of those names

Values are percent-encoded in the URL, form-encoded in a form body, JSON-escaped in a JSON body
(write the quotes yourself: `{"ip": "{ip}"}`) and inserted as they are elsewhere. Braces that do
not enclose a word (JSON's own) are text. An unknown placeholder, or one whose option is not set,
is a ConfigError naming the option when the provider is built, before any request.

Credentials: `username` + `password` are sent as Basic auth, and so is a user:password@ in `url`.
Success: a status in `success_status` (default 2xx) and, when set, `success_text` in the answer.
Any other answer stops the record until the config changes (HTTP 401/403 as AuthError, the rest as
RejectedError), except 429 (wait) and 5xx (retry). `url` is a secret (it often holds a key): messages
name only scheme://host[:port], and answer text quoted in them has the token, the password, the
request target and long literals of `url` masked. `endpoint`, when set, replaces
the scheme://host[:port] of `url` (a test server, a proxy).

`preset` (dynv6, namecheap, freedns, njalla: providers/urlpresets.py) gives the URL per family and
how to read the service's answer; the user gives only `token` (Namecheap: `password`).
"""

from __future__ import annotations

import re
from base64 import b64encode
from urllib.parse import quote, quote_plus, unquote

from ddns_agent.errors import AuthError, ConfigError, RejectedError, UnconfirmedError
from ddns_agent.http import raise_for_status, safe_url
from ddns_agent.providers.base import Provider, RecordSpec, Remote

NO_CHECK = "no read-only call in this protocol; credentials are tested on the first update"
PLACEHOLDERS = ("ip", "ip4", "ip6", "ip6prefix", "domain", "name", "fqdn", "type", "ttl", "token", "password",
                "username")
METHODS = ("GET", "POST", "PUT", "PATCH")
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
_WORD = re.compile(r"\{([A-Za-z0-9_]+)\}")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _reveal(value) -> str:
    return value.reveal() if hasattr(value, "reveal") else str(value or "")


class Webhook(Provider):
    """A, AAAA through any URL: GET, or POST/PUT/PATCH with a body."""

    type = "webhook"
    can_find = False

    def __init__(self, options: dict, http) -> None:
        super().__init__(options, http)
        self._secrets = {k: _reveal(options.get(k)) for k in ("token", "password")}
        self._username = str(options.get("username") or "")
        self._url = _reveal(options.get("url"))
        self.preset = None
        if options.get("preset"):
            from ddns_agent.providers.urlpresets import PRESETS

            self.preset = PRESETS.get(str(options["preset"]).lower())
            if self.preset is None:
                raise ConfigError("expected one of %s, got %r" % (", ".join(PRESETS), options["preset"]),
                                  option="preset")
            if self._url:
                raise ConfigError("preset %s gives the URL; drop option url" % options["preset"],
                                  option="url")
            if not self._secrets.get(self.preset.secret):
                raise ConfigError("missing required option (preset %s needs it)" % options["preset"],
                                  option=self.preset.secret)
            self._url = self.preset.url4
        elif not self._url:
            raise ConfigError("missing required option (or preset)", option="url")
        self._url6 = self.preset.url6 if self.preset else ""  # "": the family has no URL
        origin = _split_origin(self._url)[0]
        host = origin.partition("://")[2].rpartition("@")[2]
        if not re.match(r"https?://", origin, re.I) or not host or "{" in host or " " in host:
            raise ConfigError("expected an http:// or https:// URL with a fixed host name", option="url")
        self._check(self._url, "url")
        endpoint = options.get("endpoint")
        if endpoint:  # replaces scheme://host[:port] of url (a test server, a proxy)
            userinfo, at, _ = origin.partition("://")[2].rpartition("@")
            scheme, _, where = str(endpoint).rstrip("/").partition("://")
            self._url = "%s://%s%s%s%s" % (scheme, userinfo, at, where, _split_origin(self._url)[1])
            if self._url6:  # a preset's IPv6 URL (presets carry no user:password@)
                self._url6 = "%s://%s%s" % (scheme, where, _split_origin(self._url6)[1])
        if not self.preset:
            self._url6 = self._url
        self.method = str(options.get("method") or "GET").upper()
        if self.method not in METHODS:
            raise ConfigError("expected one of %s, got %r" % (", ".join(METHODS), options.get("method")),
                              option="method")
        self._body = options.get("body")
        if self._body is not None and self.method == "GET":
            raise ConfigError("a body needs method POST, PUT or PATCH", option="body")
        if self._body is not None:
            self._check(self._body, "body")
        default_type = JSON if str(self._body or "").lstrip()[:1] in ("{", "[") else FORM
        self.content_type = str(options.get("content_type") or default_type)
        self._headers = []
        raw = options.get("headers") or []
        for line in [raw] if isinstance(raw, str) else list(raw):
            name, colon, value = str(line).partition(":")
            if not colon or not _HEADER_NAME.match(name.strip()):
                raise ConfigError("expected 'Name: value', got %r" % name.strip()[:40], option="headers")
            self._check(value, "headers")
            self._headers.append((name.strip(), value.strip()))
        self.success_status = _statuses(str(options.get("success_status") or "2xx"))
        self.success_text = options.get("success_text")

    def _check(self, template: str, option: str) -> None:
        """Refuse unknown placeholders and those whose option is not set."""
        for word in _WORD.findall(template):
            if word not in PLACEHOLDERS:
                raise ConfigError("unknown placeholder {%s}; known: %s"
                                  % (word, " ".join("{%s}" % p for p in PLACEHOLDERS)), option=option)
            unset = not self._username if word == "username" else not self._secrets.get(word, "x")
            if unset:
                raise ConfigError("placeholder {%s} needs option %s" % (word, word), option=option)

    def update(self, rec: RecordSpec, remote: Remote, address: str) -> Remote:
        """Send the rendered request; success by status (and text), else raise."""
        values = self._values(rec, address)
        template = self._url6 if rec.type == "AAAA" else self._url
        if not template:
            raise RejectedError("%s takes no IPv6 address: remove this AAAA record or use another provider"
                                % self.preset.title, provider=self.type)
        url = render(template, values, _url_value)
        headers = {}
        data = None
        if self._body is not None:
            media = self.content_type.split(";")[0].strip().lower()
            encode = _form_value if media == FORM else _json_value if _is_json(media) else str
            data = render(self._body, values, encode).encode("utf-8")
            headers["Content-Type"] = self.content_type
        origin, rest = _split_origin(url)
        scheme, _, host = origin.partition("://")
        userinfo, at, host = host.rpartition("@")
        pair = None
        if self._username:
            pair = "%s:%s" % (self._username, self._secrets["password"])
        elif at:  # https://user:pass@host/...: sent as Basic auth, as browsers and curl do
            pair = unquote(userinfo)
        url = "%s://%s%s" % (scheme, host, rest)
        if pair is not None:
            headers["Authorization"] = "Basic " + b64encode(pair.encode("utf-8")).decode("ascii")
        for name, template in self._headers:
            value = render(template, values, str)
            if "\r" in value or "\n" in value:
                raise ConfigError("header %s would hold a line break" % name, option="headers")
            headers[name] = value
        resp = self.http.request(self.method, url, headers, data)
        where = "%s://%s" % (scheme, host)  # the path and query may hold a key
        verdict = self.preset.answer(resp.status, resp.text, address) if self.preset and \
            self.preset.answer and resp.status != 429 else ("", "")
        if verdict is None:
            return Remote(None, address, rec.ttl)
        kind, words = verdict
        if kind and not (kind == "unconfirmed" and resp.status >= 500):  # a proxy's 502 page: retry
            cls = {"auth": AuthError, "unconfirmed": UnconfirmedError}.get(kind, RejectedError)
            raise cls(self._mask(words, _split_origin(url)[1])[:200], status=resp.status, provider=self.type)
        if resp.status in self.success_status:
            if self.success_text and self.success_text not in resp.text:
                raise RejectedError("webhook %s answered HTTP %d without %r: %r"
                                    % (where, resp.status, self.success_text, self._snippet(resp.text, url)),
                                    status=resp.status, provider=self.type)
            return Remote(None, address, rec.ttl)
        raise_for_status(resp, self.type)
        if resp.status in (401, 403):
            raise AuthError("webhook %s refused the credentials (HTTP %d)" % (where, resp.status),
                            status=resp.status, provider=self.type)
        raise RejectedError("webhook %s answered HTTP %d: %r" % (where, resp.status,
                                                                  self._snippet(resp.text, url)),
                            status=resp.status, provider=self.type)

    def check(self) -> str:
        """Nothing to call: the only request a webhook knows is the update."""
        origin = safe_url(_split_origin(self._url)[0])  # the path and query may hold a key
        return "updates go to %s; %s" % (origin, NO_CHECK)

    def _values(self, rec: RecordSpec, address: str) -> dict:
        v6 = ":" in address
        prefix = ""
        if v6:
            import ipaddress

            prefix = str(ipaddress.IPv6Network(address + "/64", strict=False))
        return {"ip": address, "ip4": "" if v6 else address, "ip6": address if v6 else "",
                "ip6prefix": prefix,
                "domain": rec.domain, "name": rec.name or "@", "fqdn": rec.fqdn, "type": rec.type,
                "ttl": str(rec.ttl) if rec.ttl else "", "token": self._secrets["token"],
                "password": self._secrets["password"], "username": self._username}

    def _mask(self, text: str, target: str) -> str:
        """`text` without the token, the password, the request target or long literals of `url`."""
        hidden = [target, unquote(target)] + [v for v in self._secrets.values() if len(v) >= 4]
        # a key pasted into the url itself: any long literal between separators and placeholders
        origin, rest = _split_origin(self._url)
        literals = origin.partition("://")[2].rpartition("@")[0] + "/" + rest  # not the host name
        hidden += [w for w in re.split(r"[/?&=#:]|\{[A-Za-z0-9_]+\}", literals) if len(w) >= 10]
        for secret in sorted(hidden, key=len, reverse=True):
            for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")} if secret else ():
                text = text.replace(form, "***")
        return text

    def _snippet(self, text: str, url: str) -> str:
        """The start of an answer, fit for a message."""
        shown = "".join(c if c.isprintable() else " " for c in text.strip())
        return self._mask(shown, _split_origin(url)[1])[:80]


def _split_origin(url: str) -> tuple:
    """(scheme://host[:port], the rest starting at its path, query or end)."""
    scheme, _, rest = url.partition("://")
    cut = min([i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0] or [len(rest)])
    return scheme + "://" + rest[:cut], rest[cut:]


def render(template: str, values: dict, encode) -> str:
    """`template` with each {word} replaced by encode(value)."""
    return _WORD.sub(lambda m: encode(values[m.group(1)]), template)


def _url_value(value: str) -> str:
    return quote(value, safe="")


def _form_value(value: str) -> str:
    return quote_plus(value, safe="")


def _json_value(value: str) -> str:
    from ddns_agent import jsonlib

    return jsonlib.dumps(value)[1:-1]


def _is_json(media: str) -> bool:
    return media == JSON or media.endswith("+json")


def _statuses(text: str) -> frozenset:
    """`2xx`, `200`, `200,204 3xx` -> the set of HTTP statuses counted as success."""
    out = set()
    for part in text.replace(",", " ").split():
        part = part.lower()
        if len(part) == 3 and part[0] in "12345" and part[1:] == "xx":
            out.update(range(int(part[0]) * 100, int(part[0]) * 100 + 100))
        elif part.isdigit() and 100 <= int(part) <= 599:
            out.add(int(part))
        else:
            out = set()
            break
    if not out:
        raise ConfigError("expected HTTP statuses like 2xx or 200,204, got %r" % text,
                          option="success_status")
    return frozenset(out)
