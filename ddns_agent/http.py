"""Transport seam: one `request` call, over the agent's own HTTP/1.1 (default) or urllib3 (when asked for).

This module and its transports (transports.py: HTTP/1.1 on socket + ssl through http1.py, urllib3)
are the only ones that catch socket, ssl, http.client and urllib3 errors. They leave as:

    cannot connect, TLS not verified          TransientError    nothing was sent
    timeout or connection lost after sending  UnconfirmedError  may have been processed

Every request ends within `Timeouts.total_s` (and never after `Http.run_deadline`), however slowly
the server drips its answer: each socket read gets only the time left (see `_BoundedIO`).

TLS is always verified, with no option to turn that off. Messages name `host:port`, never header
values, bodies or query strings (tokens live there). Importing this module loads no network module.
"""

from __future__ import annotations

import os
import time

from ddns_agent import USER_AGENT, jsonlib
from ddns_agent.errors import ConfigError, RateLimitedError, TransientError, UnconfirmedError

#: read-only methods; only these are resent after a connection closed without any answer
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
#: answers larger than this are refused (a router has little memory)
MAX_BODY = 4 << 20
TRANSPORTS = ("auto", "urllib3", "stdlib")
ENV_TRANSPORT = "DDNS_AGENT_HTTP"


class Response:
    """A complete HTTP answer: `status`, `headers` (lower-case names) and `body` bytes."""

    __slots__ = ("status", "headers", "body", "url")

    def __init__(self, status: int, headers: dict, body: bytes, url: str = "") -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url  # as safe_url() gives it: no query, no credentials

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (bad bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body parsed as JSON; garbage raises UnconfirmedError (sent, but no readable answer)."""
        try:
            return jsonlib.loads(self.body.decode("utf-8"))
        except (ValueError, OverflowError, RecursionError):
            raise UnconfirmedError("malformed JSON from %s" % _where(self.url), status=self.status)

    def __repr__(self) -> str:
        return "Response(%d, %s, %d bytes)" % (self.status, self.url, len(self.body))


class Timeouts:
    """Seconds to wait for a connection (TCP + TLS), for each read, and for the whole request.

    `total_s` defaults to connect_s + read_s: what the two bounds would allow one prompt answer.
    """

    __slots__ = ("connect_s", "read_s", "total_s")

    def __init__(self, connect_s: float = 5.0, read_s: float = 10.0, total_s: float | None = None) -> None:
        if total_s is None and not isinstance(connect_s, bool) and not isinstance(read_s, bool) \
                and isinstance(connect_s, (int, float)) and isinstance(read_s, (int, float)):
            total_s = connect_s + read_s
        for value, most in ((connect_s, 600), (read_s, 600), (total_s, 1200)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= most:
                raise ConfigError("expected seconds between 0 and %d, got %r" % (most, value),
                                  option="timeout")
        self.connect_s = float(connect_s)
        self.read_s = float(read_s)
        self.total_s = float(total_s)

    def __repr__(self) -> str:
        return "Timeouts(connect_s=%g, read_s=%g, total_s=%g)" % (self.connect_s, self.read_s, self.total_s)


def safe_url(url: str) -> str:
    """`url` without query, fragment or user:password, fit for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    for mark in "?#":
        rest = rest.split(mark, 1)[0]
    host, slash, path = rest.partition("/")
    host = host.rpartition("@")[2]
    return "%s%s%s%s%s" % (scheme, sep, host, slash, path)


def url_join(endpoint: str, path: str) -> str:
    """`endpoint` + '/' + `path`, with exactly one slash between them."""
    return endpoint.rstrip("/") + "/" + path.lstrip("/")


def _where(url: str) -> str:
    """host:port (or just host) of a URL, for messages."""
    return safe_url(url).rpartition("://")[2].split("/", 1)[0]


def parse_retry_after(value: str, date: str | None = None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After value (delta-seconds or HTTP-date); None when unreadable.

    An HTTP-date is measured from the answer's own Date header when given, so clock skew
    between router and server does not matter; else from `now` (default: the system clock).
    """
    value = (value or "").strip()
    if value.isdigit():
        # str.isdigit() also accepts "²" and "١"; and 400 digits do not fit a float
        return float(value) if value.isascii() and len(value) <= 12 else None
    when, base = http_date(value), http_date(date or "")
    if when is None:
        return None
    if base is None:
        base = time.time() if now is None else now
    return max(0.0, when - base)


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def http_date(text: str) -> float | None:
    """Unix time of an HTTP-date in any of RFC 9110's three formats (section 5.6.7); None otherwise.

    IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and
    asctime "Sun Nov  6 08:49:37 1994". Not email.utils: the email package is its own package on
    OpenWrt, and this is all the agent needed it for.
    """
    words = text.replace(",", " ").replace("-", " ").split()
    if len(words) == 6 and words[5] == "GMT":  # IMF-fixdate, RFC 850
        day, month, year, clock = words[1], words[2], words[3], words[4]
    elif len(words) == 5:  # asctime
        month, day, clock, year = words[1], words[2], words[3], words[4]
    else:
        return None
    hms = clock.split(":")
    numbers = [day, year] + hms
    if month.lower() not in _MONTHS or len(hms) != 3 or not all(n.isdigit() and n.isascii() for n in numbers):
        return None
    y, d, (hh, mm, ss) = int(year), int(day), map(int, hms)
    if not (1 <= d <= 31 and hh < 24 and mm < 60 and ss <= 60):
        return None
    if len(year) == 2:  # RFC 850: a year more than 50 years ahead is in the past century
        y += 2000 if y + 2000 <= time.gmtime().tm_year + 50 else 1900
    import calendar
    try:
        return float(calendar.timegm((y, _MONTHS.index(month.lower()) + 1, d, hh, mm, ss)))
    except (ValueError, OverflowError):
        return None


def raise_for_status(resp: Response, provider: str = "") -> None:
    """Raise RateLimitedError for 429 and TransientError for 5xx; other statuses are the provider's."""
    if resp.status == 429:
        hint = resp.headers.get("retry-after")
        retry_after = parse_retry_after(hint, resp.headers.get("date")) if hint else None
        raise RateLimitedError("too many requests (HTTP 429 from %s)" % _where(resp.url),
                               retry_after=retry_after, status=429, provider=provider)
    if 500 <= resp.status <= 599:
        raise TransientError("server error HTTP %d from %s" % (resp.status, _where(resp.url)),
                             status=resp.status, provider=provider)


class _Dest:
    """A parsed request URL (scheme, host, port, target), without urllib.parse: one per request."""

    __slots__ = ("scheme", "host", "port", "target", "where", "safe", "host_header")

    def __init__(self, url: str) -> None:
        scheme, sep, rest = url.partition("://")
        cut = len(rest)
        for mark in "/?#":
            at = rest.find(mark, 0, cut)
            cut = at if at >= 0 else cut
        target = rest[cut:].partition("#")[0]
        key = url[:len(url) - len(rest) + cut]
        origin = _ORIGINS.get(key) if sep else None
        if origin is None:
            origin = _ORIGINS[key] = _origin(scheme.lower(), rest[:cut].rpartition("@")[2], key, url)
        if not (sep and _printable(target) and target.isascii()):
            raise ConfigError("expected an http(s) URL, got %r" % safe_url(url), option="endpoint")
        self.scheme, self.host, self.port, self.where, self.host_header, safe = origin
        self.target = target if target.startswith("/") else "/" + target
        self.safe = safe + target.partition("?")[0]


#: "scheme://authority" -> what _Dest takes from it: each endpoint is parsed once per run
_ORIGINS: dict = {}


def _origin(scheme: str, authority: str, key: str, url: str) -> tuple:
    """(scheme, host, port, host:port, Host header, safe URL up to the path) of an http(s) URL."""
    host, port = authority, ""
    if authority.startswith("["):
        host, bracket, port = authority[1:].partition("]")
        if not bracket or port[:1] not in ("", ":"):
            host = ""
        port = port[1:]
    elif ":" in authority:
        host, _, port = authority.partition(":")
    default = 443 if scheme == "https" else 80
    port_ok = not port or port.isdigit() and port.isascii() and 0 < int(port) < 65536
    if not (scheme in ("http", "https") and host and port_ok and _printable(host)):
        raise ConfigError("expected an http(s) URL, got %r" % safe_url(url), option="endpoint")
    host = host.lower()
    port_n = int(port or default)
    bracketed = "[%s]" % host if ":" in host else host
    where = "%s:%d" % (bracketed, port_n)
    return scheme, host, port_n, where, bracketed if port_n == default else where, safe_url(key)


def _printable(text: str) -> bool:
    """No space or control character: they cannot go into a request line unquoted."""
    return text.isprintable() and " " not in text


class NoAnswer(UnconfirmedError):
    """From a transport's `_send`: closed before any answer; `request` resends safe methods once."""


def _chain(exc: BaseException) -> list:
    """`exc` and what it wraps (cause, context, wrapped args), outermost first."""
    out, todo = [], [exc]
    while todo:
        e = todo.pop(0)
        if e is None or any(e is seen for seen in out):
            continue
        out.append(e)
        todo.extend((e.__cause__, e.__context__))
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
    return out


def _reason(exc: BaseException) -> str:
    """A short cause for messages, from the innermost OS or TLS error; never a URL or header."""
    for e in reversed(_chain(exc)):
        text = getattr(e, "verify_message", None) or (isinstance(e, OSError) and e.strerror)
        if text:
            return str(text)
        if isinstance(e, TimeoutError) or type(e).__name__ in ("timeout", "ReadTimeoutError"):
            return "timed out"
        if type(e).__name__ == "SSLError" and getattr(e, "reason", None):
            return str(e.reason)
    return type(exc).__name__


def _closed(dest: _Dest) -> NoAnswer:
    return NoAnswer("no answer from %s: connection closed" % dest.where)


def _incomplete(dest: _Dest) -> UnconfirmedError:
    return UnconfirmedError("incomplete answer from %s: connection closed" % dest.where)


def _is_cert_failure(exc: BaseException) -> bool:
    return any(type(e).__name__ == "SSLCertVerificationError"
               or "CERTIFICATE_VERIFY_FAILED" in str(getattr(e, "reason", "")) for e in _chain(exc))


def _connect_error(dest: _Dest, exc: BaseException) -> TransientError:
    if _is_cert_failure(exc):
        return TransientError("TLS certificate of %s could not be verified: %s" % (dest.where, _reason(exc)))
    return TransientError("cannot connect to %s: %s" % (dest.where, _reason(exc)))


class _Deadline:
    """When the request under way must be complete (monotonic seconds), and the longest single read."""

    __slots__ = ("start", "at", "read_s")

    def __init__(self, read_s: float) -> None:
        self.start = 0.0
        self.at = float("inf")
        self.read_s = read_s

    def left(self) -> float:
        """Seconds left; a timeout error when none are."""
        left = self.at - time.monotonic()
        if left <= 0:
            import socket
            raise socket.timeout("timed out")
        return left


class Http:
    """The seam: `request(method, url, headers, body) -> Response`, errors already translated.

    `run_deadline` (monotonic seconds, set by the caller) ends every request by then too.
    """

    name = ""

    def __init__(self, timeouts: Timeouts, ssl_context=None, user_agent: str = USER_AGENT) -> None:
        self.timeouts = timeouts
        self._ssl_context = ssl_context
        self.user_agent = user_agent
        self.run_deadline = float("inf")
        self._deadline = _Deadline(timeouts.read_s)

    def request(self, method: str, url: str, headers: dict | None = None,
                body: bytes | None = None) -> Response:
        """Send one request and read the whole answer; any HTTP status is returned, not raised."""
        method = method.upper()
        dest = _Dest(url)
        merged = {"User-Agent": self.user_agent, "Accept-Encoding": "identity"}
        given = {k.lower() for k in headers} if headers else ()
        if len(given) == len(headers or ()) and "user-agent" not in given and "accept-encoding" not in given:
            merged.update(headers or ())
        else:
            names = {"user-agent": "User-Agent", "accept-encoding": "Accept-Encoding"}
            for key, value in headers.items():  # a name given again, in any case, replaces it
                merged.pop(names.get(key.lower()), None)
                names[key.lower()] = key
                merged[key] = value
        start = time.monotonic()
        if start >= self.run_deadline:
            raise TransientError("not sent to %s: the run's time is up" % dest.where)
        self._deadline.start = start
        self._deadline.at = min(start + self.timeouts.total_s, self.run_deadline)
        # Closed without any answer, often an idle keep-alive connection the server had just
        # timed out: a read-only request may go once more; a write may have landed.
        for _ in range(2 if method in SAFE_METHODS else 1):
            try:
                return self._send(method, dest, merged, body)
            except NoAnswer as exc:
                closed = exc
        raise UnconfirmedError(str(closed))

    @property
    def ssl_context(self):
        """The TLS context, made at the first https request: plain HTTP never loads the CA store."""
        if self._ssl_context is None:
            from ddns_agent.transports import ssl_context
            self._ssl_context = ssl_context()
        return self._ssl_context

    def _send(self, method: str, dest: _Dest, headers: dict, body: bytes | None) -> Response:
        raise NotImplementedError

    def _timeout_error(self, dest: _Dest) -> UnconfirmedError:
        waited = self.timeouts.read_s
        if time.monotonic() >= self._deadline.at - 0.01:  # the whole request's time ran out
            waited = self._deadline.at - self._deadline.start
        return UnconfirmedError("no answer from %s within %gs" % (dest.where, round(waited, 1)))

    def close(self) -> None:
        """Close kept-alive connections."""

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def __getattr__(name: str):
    """StdlibHttp, Urllib3Http and ssl_context live in transports.py, loaded only when needed."""
    if name in ("StdlibHttp", "Urllib3Http", "ssl_context"):
        from ddns_agent import transports
        return getattr(transports, name)
    raise AttributeError(name)


def make_http(timeouts: Timeouts, cacert: str | None = None, user_agent: str = USER_AGENT,
              transport: str = "auto") -> Http:
    """An Http over the agent's own HTTP/1.1, or urllib3 when asked for (`transport`, env DDNS_AGENT_HTTP).

    auto is the stdlib transport (socket + ssl, no http.client): a run's requests to a provider
    share one kept-alive connection either way, and importing urllib3 costs more than the whole
    rest of a run (docs/design/http.md).
    The system CA store is loaded only at the first https request; a `cacert` is loaded here, so
    a bad one is a config error before anything is sent.
    """
    choice = (os.environ.get(ENV_TRANSPORT, "").strip() or "auto") if transport == "auto" else transport
    if choice not in TRANSPORTS:
        where = ENV_TRANSPORT if transport == "auto" else "transport"
        raise ConfigError("%s: expected urllib3 or stdlib, got %r" % (where, choice))
    from ddns_agent.transports import ssl_context
    context = ssl_context(cacert) if cacert else None
    if choice == "urllib3":
        try:
            import urllib3  # noqa: F401
        except ImportError:
            raise ConfigError("transport urllib3 requested but urllib3 is not installed")
        from ddns_agent.transports import Urllib3Http
        return Urllib3Http(timeouts, context, user_agent)
    from ddns_agent.transports import StdlibHttp
    return StdlibHttp(timeouts, context, user_agent)
