"""The two transports behind the seam in http.py: http.client, and urllib3 when it imports.

Both read every answer through `_BoundedIO`, so a request ends at its deadline however slowly the
server drips its status line, headers or body.
"""

from __future__ import annotations

import io

from ddns_agent import USER_AGENT
from ddns_agent.errors import UnconfirmedError
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

    def readable(self) -> bool:
        return True

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


def _joined(base):
    """`base` (HTTP[S]Connection) that can hold what `request` sends and write it as one segment.

    http.client writes the head and the body separately: two TLS records, two syscalls and two
    wake-ups of the server per request. Held, they go out in one write.
    """

    class Joined(base):
        held = None

        def send(self, data) -> None:
            if self.held is not None and isinstance(data, (bytes, bytearray)):
                self.held.append(bytes(data))
            else:
                super().send(data)

        def request_joined(self, method: str, target: str, body, headers: dict) -> None:
            self.held = []
            try:
                self.request(method, target, body=body, headers=headers)
                data = b"".join(self.held)
            finally:
                self.held = None
            self.send(data)

    return Joined


class StdlibHttp(Http):
    """http.client, one kept-alive connection per (scheme, host, port)."""

    name = "stdlib"

    def __init__(self, timeouts: Timeouts, ssl_context=None, user_agent: str = USER_AGENT) -> None:
        super().__init__(timeouts, ssl_context, user_agent)
        import http.client
        import socket
        self._client = http.client
        self._timeouts = (TimeoutError, socket.timeout)  # distinct classes before Python 3.10
        self._conns: dict = {}
        self._response_class = _response_class(self._deadline)
        self._classes = {"http": _joined(http.client.HTTPConnection),
                         "https": _joined(http.client.HTTPSConnection)}

    def _open(self, dest: _Dest):
        try:
            timeout = min(self.timeouts.connect_s, self._deadline.left())
        except OSError:
            raise _connect_error(dest, TimeoutError("timed out"))
        if dest.scheme == "https":
            conn = self._classes["https"](dest.host, dest.port, timeout=timeout, context=self.ssl_context)
        else:
            conn = self._classes["http"](dest.host, dest.port, timeout=timeout)
        conn.response_class = self._response_class
        try:
            conn.connect()  # TCP and TLS handshake, under the connect timeout
        except (OSError, ValueError) as exc:  # ssl errors are OSErrors; CertificateError is a ValueError
            conn.close()
            raise _connect_error(dest, exc)
        conn.sock.settimeout(self.timeouts.read_s)
        return conn

    def _send(self, method: str, dest: _Dest, headers: dict, body: bytes | None) -> Response:
        key = (dest.scheme, dest.host, dest.port)
        conn = self._conns.pop(key, None)
        if conn is not None and not _is_idle_alive(conn.sock):
            conn.close()  # the server closed it while idle; nothing was sent on it
            conn = None
        reused = conn is not None
        if conn is None:
            conn = self._open(dest)
        client = self._client
        try:
            try:
                conn.sock.settimeout(min(self.timeouts.read_s, self._deadline.left()))
                conn.request_joined(method, dest.target, body, headers)
            except OSError as exc:
                if not reused or isinstance(exc, self._timeouts):
                    raise
                # The pooled socket died between the idle check and the write (broken pipe,
                # reset, TLS EOF): the server never got this whole request, so sending it on
                # a fresh connection is safe.
                conn.close()
                conn = self._open(dest)
                conn.request_joined(method, dest.target, body, headers)
            answer = conn.getresponse()
            status = answer.status
            headers_in = {k.lower(): v for k, v in answer.getheaders()}
            data = _read_all(answer.read, dest)
            if answer.length:  # http.client's read(n) returns short instead of raising
                raise client.IncompleteRead(data, answer.length)
        except (client.HTTPException, OSError, UnconfirmedError) as exc:
            conn.close()
            if isinstance(exc, client.RemoteDisconnected):
                raise _closed(dest)
            if isinstance(exc, self._timeouts):
                raise self._timeout_error(dest)
            if isinstance(exc, client.IncompleteRead):
                raise _incomplete(dest)
            if isinstance(exc, UnconfirmedError):
                raise
            raise UnconfirmedError("no answer from %s: %s" % (dest.where, _reason(exc)))
        if answer.will_close:
            conn.close()
        else:
            self._conns[key] = conn
        return Response(status, headers_in, data, dest.safe)

    def close(self) -> None:
        """Close every kept-alive connection."""
        conns, self._conns = self._conns, {}
        for conn in conns.values():
            conn.close()


def _is_idle_alive(sock) -> bool:
    """True when an idle kept-alive socket has nothing to read (a closed one reads EOF)."""
    import select
    try:
        return sock is not None and not select.select([sock], [], [], 0)[0]
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
