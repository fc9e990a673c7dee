"""The two transports behind the seam in http.py: HTTP/1.1 on socket + ssl, and urllib3 when asked for.

Both bound every read by the request's deadline (`_Wire`, and `_BoundedIO` under urllib3's
http.client), so a request ends in time however slowly the server drips its status line, headers
or body.
"""

from __future__ import annotations

import io

from ddns_agent import USER_AGENT
from ddns_agent.errors import ConfigError, UnconfirmedError
from ddns_agent.http import (
    MAX_BODY,
    Http,
    Response,
    Timeouts,
    _chain,
    _closed,
    _connect_error,
    _Deadline,
    _Dest,
    _incomplete,
    _is_cert_failure,
    _reason,
)


class _BoundedIO(io.RawIOBase):
    """Raw reads from a socket, each given only the time left before the deadline."""

    def __init__(self, sock, deadline: _Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline
        # as socket.makefile does: the fd stays open until this reader is closed too, because
        # http.client closes the connection's socket before an answer without length is read
        sock._io_refs += 1

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._sock._decref_socketios()
        super().close()

    def readinto(self, buffer) -> int:
        self._sock.settimeout(min(self._deadline.left(), self._deadline.read_s))
        return self._sock.recv_into(buffer)


class _BoundedSocket:
    """What http.client's HTTPResponse gets instead of the socket: only `makefile` is used."""

    __slots__ = ("_sock", "_deadline")

    def __init__(self, sock, deadline: _Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str = "rb", *args, **kwargs):
        return io.BufferedReader(_BoundedIO(self._sock, self._deadline))


def _response_class(deadline: _Deadline):
    """An http.client.HTTPResponse class that reads the status, headers and body under `deadline`."""
    import http.client

    class BoundedResponse(http.client.HTTPResponse):
        def __init__(self, sock, *args, **kwargs) -> None:
            super().__init__(_BoundedSocket(sock, deadline), *args, **kwargs)

    return BoundedResponse


#: limits on an answer's head, as http.client has them: a hostile server cannot grow it without end
MAX_LINE = 65536
MAX_HEADERS = 100
_NO_BODY = (204, 304)


class _Wire:
    """One HTTP/1.1 connection (plain or TLS) and what has been read from it but not yet used.

    Every read waits at most until the request's deadline (and at most `read_s`), so a server
    dripping its answer a byte at a time is cut off like a silent one.
    """

    __slots__ = ("sock", "buf", "deadline", "limit")

    def __init__(self, sock, deadline: _Deadline, limit: int | None = None) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.deadline = deadline
        self.limit = MAX_BODY if limit is None else limit  # the largest body accepted

    def _fill(self) -> bool:
        """Read what the server sent next into `buf`; False at end of stream."""
        self.sock.settimeout(min(self.deadline.left(), self.deadline.read_s))
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def line(self) -> bytes | None:
        """The next CRLF- (or LF-) terminated line without its ending; None when the stream ended first."""
        start = 0
        while True:
            end = self.buf.find(b"\n", start)
            if end > MAX_LINE or end < 0 and len(self.buf) > MAX_LINE:
                raise _Bad("a header line longer than %d bytes" % MAX_LINE)
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[:end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            start = len(self.buf)
            if not self._fill():
                return None

    def take(self, n: int) -> bytes | None:
        """Exactly `n` bytes; None when the stream ended first."""
        while len(self.buf) < n:
            if not self._fill():
                return None
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def rest(self) -> bytes:
        """Everything up to the end of the stream (an answer without length), refused past the limit."""
        while self._fill():
            if len(self.buf) > self.limit:
                raise _TooLarge()
        data, self.buf = bytes(self.buf), bytearray()
        return data

    def close(self) -> None:
        """Close the socket (a TLS one without waiting for the server's close_notify)."""
        try:
            self.sock.close()
        except OSError:
            pass


class _Bad(Exception):
    """The answer is not HTTP/1.x as RFC 9112 frames it."""


class _TooLarge(Exception):
    """The answer's body is over the wire's limit."""


def _request_head(method: str, dest: _Dest, headers: dict, body: bytes | None) -> bytes:
    """The request line and headers, as http.client would write them (Host first, Content-Length)."""
    lines = ["%s %s HTTP/1.1" % (method, dest.target), "Host: " + dest.host_header]
    for name, value in headers.items():
        value = str(value)
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ConfigError("header %s: a line break or colon cannot be sent in an HTTP header" % name)
        lines.append("%s: %s" % (name, value))
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: %d" % len(body or b""))
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise ConfigError("a header holds a character HTTP cannot carry (only Latin-1)")


def _read_answer(wire: _Wire, method: str) -> tuple:
    """(status, headers with lower-case names, body, keep_alive) of the next answer on `wire`.

    1xx interim answers are skipped; the body is framed by chunked coding, Content-Length, or the
    end of the stream, in that order (RFC 9112 section 6.3).
    """
    first = True
    while True:
        line = wire.line()
        if line is None:
            raise _Closed() if first and not wire.buf else _Short()
        first = False
        version, _, rest = line.partition(b" ")
        code = rest[:3]
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or not code.isdigit() or rest[3:4] not in (b"", b" "):
            raise _Bad("not an HTTP/1.x status line")
        status = int(code)
        headers = _read_headers(wire)
        if not 100 <= status < 200 or status == 101:
            break
    tokens = {t.strip() for t in headers.get("connection", "").lower().split(",")}
    keep = "close" not in tokens and (version == b"HTTP/1.1" or "keep-alive" in tokens) and status != 101
    if method == "HEAD" or status in _NO_BODY or 100 <= status < 200:
        return status, headers, b"", keep
    if "transfer-encoding" in headers:
        if headers["transfer-encoding"].lower().rpartition(",")[2].strip() != "chunked":
            return status, headers, wire.rest(), False
        # with a Content-Length beside it the answer may be a smuggling attempt: not reused
        return status, headers, _read_chunked(wire), keep and "content-length" not in headers
    length = headers.get("content-length")
    if length is None:
        return status, headers, wire.rest(), False
    values = {v.strip() for v in length.split(",")}  # "5, 5" is one length said twice (RFC 9110 8.6)
    if len(values) != 1 or not next(iter(values)).isdigit() or not next(iter(values)).isascii():
        raise _Bad("Content-Length %r" % length[:40])
    n = int(values.pop())
    if n > wire.limit:
        raise _TooLarge()
    body = wire.take(n)
    if body is None:
        raise _Short()
    return status, headers, body, keep


def _read_headers(wire: _Wire) -> dict:
    """Header fields up to the empty line; names lower-cased, a repeated name keeps its last value."""
    headers: dict = {}
    name = None
    for _ in range(MAX_HEADERS + 1):
        line = wire.line()
        if line is None:
            raise _Short()
        if not line:
            return headers
        text = line.decode("latin-1")
        if text[0] in " \t" and name is not None:  # obsolete line folding: part of the last value
            headers[name] += " " + text.strip()
            continue
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            raise _Bad("a header line without a field name")
        name = name.lower()
        headers[name] = value.strip()
    raise _Bad("more than %d header fields" % MAX_HEADERS)


def _read_chunked(wire: _Wire) -> bytes:
    """A chunked body (its trailer fields are read and dropped)."""
    chunks, size = [], 0
    while True:
        line = wire.line()
        if line is None:
            raise _Short()
        digits = line.split(b";", 1)[0].strip()
        if not digits or digits.strip(b"0123456789abcdefABCDEF") or len(digits) > 16:
            raise _Bad("a chunk size that is not hexadecimal")
        n = int(digits, 16)
        if n == 0:
            break
        size += n
        if size > wire.limit:
            raise _TooLarge()
        chunk = wire.take(n + 2)
        if chunk is None:
            raise _Short()
        if chunk[-2:] != b"\r\n":
            raise _Bad("a chunk longer than its size")
        chunks.append(chunk[:-2])
    while True:  # trailer fields, then the empty line
        line = wire.line()
        if line is None:
            raise _Short()
        if not line:
            return b"".join(chunks)


class _Closed(Exception):
    """The connection ended before any answer."""


class _Short(Exception):
    """The connection ended inside the answer."""


class StdlibHttp(Http):
    """HTTP/1.1 on the stdlib's socket and ssl, one kept-alive connection per (scheme, host, port).

    Not http.client: its import (with the email package it parses headers with) costs more than
    a changed record's whole request, and this transport is what every router runs
    (docs/design/http.md). Answers are framed as RFC 9112 says; anything else is refused.
    """

    name = "stdlib"

    def __init__(self, timeouts: Timeouts, ssl_context=None, user_agent: str = USER_AGENT) -> None:
        super().__init__(timeouts, ssl_context, user_agent)
        import socket
        self._socket = socket
        self._timeouts = (TimeoutError, socket.timeout)  # distinct classes before Python 3.10
        self._conns: dict = {}

    def _open(self, dest: _Dest) -> _Wire:
        try:
            timeout = min(self.timeouts.connect_s, self._deadline.left())
        except OSError:
            raise _connect_error(dest, TimeoutError("timed out"))
        # an ASCII name as bytes: the resolver and ssl need no idna codec for it
        host = dest.host.encode("ascii") if dest.host.isascii() else dest.host
        sock = None
        try:
            sock = self._socket.create_connection((host, dest.port), timeout)
            if dest.scheme == "https":
                sock = self.ssl_context.wrap_socket(sock, server_hostname=host)  # the handshake, verified
        except (OSError, ValueError) as exc:  # ssl errors are OSErrors; CertificateError is a ValueError
            if sock is not None:
                sock.close()
            raise _connect_error(dest, exc)
        return _Wire(sock, self._deadline)

    def _send(self, method: str, dest: _Dest, headers: dict, body: bytes | None) -> Response:
        data = _request_head(method, dest, headers, body) + (body or b"")  # refused before connecting
        key = (dest.scheme, dest.host, dest.port)
        wire = self._conns.pop(key, None)
        if wire is not None and (wire.buf or not _is_idle_alive(wire.sock)):
            wire.close()  # closed (or sent something unasked) while idle; nothing was sent on it
            wire = None
        reused = wire is not None
        if wire is None:
            wire = self._open(dest)
        try:
            try:
                wire.sock.settimeout(min(self.timeouts.read_s, self._deadline.left()))
                wire.sock.sendall(data)
            except OSError as exc:
                if not reused or isinstance(exc, self._timeouts):
                    raise
                # The pooled socket died between the idle check and the write (broken pipe,
                # reset, TLS EOF): the server never got this whole request, so sending it on
                # a fresh connection is safe.
                wire.close()
                wire = self._open(dest)
                wire.sock.settimeout(min(self.timeouts.read_s, self._deadline.left()))
                wire.sock.sendall(data)
            status, headers_in, body_in, keep = _read_answer(wire, method)
        except (OSError, _Bad, _Closed, _Short, _TooLarge) as exc:
            wire.close()
            if isinstance(exc, _Closed):
                raise _closed(dest)
            if isinstance(exc, self._timeouts):
                raise self._timeout_error(dest)
            if isinstance(exc, _Short):
                raise _incomplete(dest)
            if isinstance(exc, _TooLarge):
                raise UnconfirmedError("answer from %s is larger than %d bytes" % (dest.where, wire.limit))
            if isinstance(exc, _Bad):
                raise UnconfirmedError("no answer from %s: %s" % (dest.where, exc))
            raise UnconfirmedError("no answer from %s: %s" % (dest.where, _reason(exc)))
        if keep and not wire.buf:
            self._conns[key] = wire
        else:
            wire.close()
        return Response(status, headers_in, body_in, dest.safe)

    def close(self) -> None:
        """Close every kept-alive connection."""
        conns, self._conns = self._conns, {}
        for wire in conns.values():
            wire.close()


def _is_idle_alive(sock) -> bool:
    """True when an idle kept-alive socket has nothing to read (a closed one reads EOF)."""
    import select
    try:
        # bytes ssl already decrypted do not show in select: they are as unasked-for as the rest
        pending = getattr(sock, "pending", int)()
        return sock is not None and not pending and not select.select([sock], [], [], 0)[0]
    except (OSError, ValueError):  # ValueError: fd past FD_SETSIZE; a new connection is fine
        return False


def _read_all(read, dest: _Dest) -> bytes:
    """Read an answer body in chunks, refusing more than MAX_BODY bytes."""
    chunks, size = [], 0
    while True:
        chunk = read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            raise UnconfirmedError("answer from %s is larger than %d bytes" % (dest.where, MAX_BODY))
        chunks.append(chunk)


class Urllib3Http(Http):
    """urllib3.PoolManager with keep-alive; no retries and no redirects (publish.py decides)."""

    name = "urllib3"

    def __init__(self, timeouts: Timeouts, ssl_context=None, user_agent: str = USER_AGENT) -> None:
        super().__init__(timeouts, ssl_context, user_agent)
        import urllib3
        self._urllib3 = urllib3
        self._exc = urllib3.exceptions
        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=1, block=False, retries=False,
            timeout=urllib3.Timeout(connect=timeouts.connect_s, read=timeouts.read_s))
        # the pools' connections read answers through a response class bound to this request's deadline
        bounded = {"response_class": _response_class(self._deadline)}
        self._pool.pool_classes_by_scheme = {
            scheme: type(pool.__name__, (pool,), {"ConnectionCls": type(
                pool.ConnectionCls.__name__, (pool.ConnectionCls,), bounded)})
            for scheme, pool in self._pool.pool_classes_by_scheme.items()}

    def _send(self, method: str, dest: _Dest, headers: dict, body: bytes | None) -> Response:
        exc_mod = self._exc
        answer = None
        complete = False
        url = "%s://%s%s" % (dest.scheme, dest.where, dest.target)
        if dest.scheme == "https" and "ssl_context" not in self._pool.connection_pool_kw:
            self._pool.connection_pool_kw["ssl_context"] = self.ssl_context  # only https loads the CAs
        try:
            timeout = self._urllib3.Timeout(connect=min(self.timeouts.connect_s, self._deadline.left()),
                                            read=self.timeouts.read_s)
            answer = self._pool.urlopen(method, url, body=body, headers=headers, redirect=False,
                                        retries=False, preload_content=False, decode_content=False,
                                        timeout=timeout)
            data = _read_all(answer.read, dest)
            complete = True
        except exc_mod.ReadTimeoutError:
            raise self._timeout_error(dest)
        except exc_mod.ConnectTimeoutError as exc:  # includes NewConnectionError, NameResolutionError
            raise _connect_error(dest, exc)
        except exc_mod.SSLError as exc:
            if _is_cert_failure(exc):
                raise _connect_error(dest, exc)
            # urllib3 does not say whether this happened in the handshake or later
            raise UnconfirmedError("TLS error with %s: %s" % (dest.where, _reason(exc)))
        except exc_mod.ProtocolError as exc:
            chain = _chain(exc)
            if any(type(e).__name__ == "RemoteDisconnected" for e in chain):
                raise _closed(dest)
            if any(type(e).__name__ == "IncompleteRead" for e in chain):
                raise _incomplete(dest)
            raise UnconfirmedError("no answer from %s: %s" % (dest.where, _reason(exc)))
        except (exc_mod.HTTPError, OSError) as exc:
            raise UnconfirmedError("no answer from %s: %s" % (dest.where, _reason(exc)))
        finally:
            if answer is not None:
                if not complete:
                    answer.close()  # never pool a connection with unread bytes on it
                answer.release_conn()
        headers_in = {k.lower(): v for k, v in answer.headers.items()}
        return Response(answer.status, headers_in, data, dest.safe)

    def close(self) -> None:
        """Close every kept-alive connection."""
        self._pool.clear()
