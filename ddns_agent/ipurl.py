"""Source, last resort: ask a web address the user named (`option ip_url`) which address we come from.

Opt-in and rate-limited: at most one request per URL and family every MIN_INTERVAL seconds, across
runs (remembered in the state directory); in between, the remembered answer is used. The answer may
be plain text, HTML with an address in it, or JSON (keys ip, address, ...). TLS is always verified.
The connection is forced to the record's family, so an A record never learns an IPv6 address.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time

from ddns_agent.errors import SourceError

MIN_INTERVAL = 300   # s
ANSWER_LIMIT = 16 * 1024
STATE_FILE = "ipurl.json"
JSON_KEYS = ("ip", "address", "ip_addr", "ipAddress", "ipaddress", "query", "origin")
_TOKEN = re.compile(r"[0-9A-Fa-f:.]{2,45}")


def parse_answer(body: str, family: int):
    """The first IPv`family` address in a plain-text, HTML or JSON answer; ValueError when none."""
    text = body.strip()
    if text.startswith("{"):
        from ddns_agent.jsonlib import loads

        try:
            data = loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in JSON_KEYS:
                value = data.get(key)
                if isinstance(value, str):
                    for token in _TOKEN.findall(value):
                        address = _as_address(token, family)
                        if address is not None:
                            return address
    for token in _TOKEN.findall(text):
        address = _as_address(token.strip(".:"), family)
        if address is not None:
            return address
    raise ValueError("no IPv%d address in the answer (%r)" % (family, text[:60]))


def _as_address(token: str, family: int):
    try:
        address = ipaddress.ip_address(token)
    except ValueError:
        return None
    return address if address.version == family else None


def _host(url: str):
    """The parsed `ip_url` (http._Dest); SourceError naming the option when it is no plain http(s) URL."""
    from ddns_agent.errors import ConfigError
    from ddns_agent.http import _Dest

    m = re.match(r"(https?)://(\[[0-9A-Fa-f:.]+\]|[^/:?#@\s]+)(?::([0-9]{1,5}))?([/?][^\s]*)?$", url)
    try:
        if m is not None:
            return _Dest(url)
    except ConfigError:
        pass
    raise SourceError("option ip_url: expected http(s)://host[:port]/path, got a different form")


def fetch(url: str, family: int, deadline: float, context=None) -> str:
    """GET `url` over IPv`family` and return the body text; SourceError on any failure.

    Not through ddns_agent.http's Http on purpose: its transports cannot pin the address family,
    and an A record must not learn the IPv6 address of a dual-stack URL. The request and answer go
    through the stdlib transport's HTTP/1.1 reader. `context` is the ssl.SSLContext for https
    (default: ddns_agent.http's verified one).
    """
    from ddns_agent.http import _Deadline
    from ddns_agent.http1 import Closed, Malformed, Short, TooLarge, Wire, read_answer, request_head

    dest = _host(url)
    scheme, host, port = dest.scheme, dest.host, dest.port
    if scheme == "https" and context is None:
        from ddns_agent.transports import ssl_context
        context = ssl_context()  # verified; falls back to OpenWrt's ca-bundle
    where = "%s://%s" % (scheme, host)
    clock = _Deadline(max(0.01, deadline - time.monotonic()))  # every read ends by `deadline`
    clock.at = deadline
    name = host.encode("ascii") if host.isascii() else host  # no idna codec for an ASCII name
    sock = None
    try:
        infos = socket.getaddrinfo(name, port, socket.AF_INET if family == 4 else socket.AF_INET6,
                                   socket.SOCK_STREAM)
        sock = socket.socket(infos[0][0], socket.SOCK_STREAM)
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        sock.connect(infos[0][4])
        if scheme == "https":
            sock = context.wrap_socket(sock, server_hostname=name)
        wire = Wire(sock, clock, ANSWER_LIMIT)
        sock.sendall(request_head("GET", dest, {
            "Accept": "text/plain, application/json;q=0.9, */*;q=0.1", "User-Agent": _agent(),
            "Accept-Encoding": "identity", "Connection": "close"}, None))
        status, _, body, _ = read_answer(wire, "GET")
    except socket.gaierror as e:
        raise SourceError("ip_url %s has no IPv%d address: %s" % (where, family, e.strerror or e))
    except socket.timeout:
        raise SourceError("ip_url %s: no answer in time" % where)
    except OSError as e:
        # ssl.SSLError carries the verification failure in `reason` (e.g. CERTIFICATE_VERIFY_FAILED).
        raise SourceError("ip_url %s: %s" % (where, getattr(e, "reason", None) or e.strerror or e))
    except TooLarge:
        raise SourceError("ip_url %s: answer larger than %d KiB" % (where, ANSWER_LIMIT // 1024))
    except (Malformed, Closed, Short) as e:
        raise SourceError("ip_url %s: malformed HTTP answer (%s)" % (where, str(e) or "connection closed"))
    finally:
        if sock is not None:
            sock.close()
    if status != 200:
        raise SourceError("ip_url %s answered HTTP %d" % (where, status))
    return body.decode("utf-8", "replace")


def _agent() -> str:
    from ddns_agent import USER_AGENT

    return USER_AGENT


def _key(url: str, family: int) -> str:
    import hashlib

    # The URL may carry a token; only its hash goes to the state file.
    return "%s/%d" % (hashlib.sha256(url.encode()).hexdigest()[:16], family)


def _load(path: str) -> dict:
    from ddns_agent.jsonlib import loads

    try:
        with open(path) as f:
            data = loads(f.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: str, data: dict) -> None:
    import os

    from ddns_agent.jsonlib import dumps

    try:
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(tmp, "w") as f:
            f.write(dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass  # the limit then holds for this run only (cached); never fail the record for it


def lookup(url: str, family: int, timeout: float, path: str, now: float, context=None) -> tuple:
    """(address text, age in s) from the remembered answer when younger than MIN_INTERVAL, else
    from a new request (age 0). A failure is remembered too and raised as SourceError."""
    state = _load(path)
    key = _key(url, family)
    entry = state.get(key)
    if isinstance(entry, dict) and isinstance(entry.get("at"), (int, float)):
        age = now - entry["at"]
        if 0 <= age < MIN_INTERVAL:
            if isinstance(entry.get("address"), str):
                return entry["address"], age
            raise SourceError("%s (asked %d s ago; ip_url is asked at most every %d s, next in %d s)"
                              % (entry.get("error") or "no answer", age, MIN_INTERVAL, MIN_INTERVAL - age))
    try:
        address = str(parse_answer(fetch(url, family, time.monotonic() + timeout, context), family))
        error = None
    except ValueError as e:
        address, error = None, "ip_url: %s" % e
    except SourceError as e:
        address, error = None, str(e)
    state[key] = {"at": now, "address": address, "error": error}
    for other in [k for k, v in state.items() if not isinstance(v, dict) or
                  not isinstance(v.get("at"), (int, float)) or now - v["at"] > 2 * MIN_INTERVAL]:
        state.pop(other, None)
    _save(path, state)
    if error is not None:
        raise SourceError(error)
    return address, 0.0


def read(record, family: int, log=None, timeout: float = 3.0, cache=None, state_dir: str | None = None,
         now: float | None = None) -> list:
    """The address `option ip_url` answers, as one Candidate ("url <host>"); rate-limited.

    `state_dir` holds the memory of the last request (default: the agent's state directory).
    """
    import os

    from ddns_agent import upstream
    from ddns_agent.addresses import Candidate

    url = (getattr(record, "options", None) or {}).get("ip_url")
    if not url:
        raise SourceError("source url needs option ip_url (an http(s) address answering with our IP)")
    url = str(url)
    host = _host(url).host
    if state_dir is None:
        state_dir = getattr(cache, "state_dir", None)
    if state_dir is None:
        from ddns_agent.config import DEFAULT_STATE_DIR as state_dir
    path = os.path.join(state_dir, STATE_FILE)
    when = time.time() if now is None else now
    address, age = upstream.cached(("url", url, family),
                                   lambda: lookup(url, family, timeout, path, when), cache)
    if log is not None:
        log.debug("url: %s says %s%s" % (host, address, " (remembered, %d s old)" % age if age else ""))
    return [Candidate(ipaddress.ip_address(address), "url %s" % host)]
