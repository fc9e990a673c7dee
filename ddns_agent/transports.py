"""The two transports behind the seam in http.py (HTTP/1.1 on socket + ssl, and urllib3 when asked
for) and the verifying TLS context they share.

Both bound every read by the request's deadline (`http1.Wire`, and `_BoundedIO` under urllib3's
http.client), so a request ends in time however slowly the server drips its status line, headers
or body.
"""

from __future__ import annotations

import io
import os

from ddns_agent import USER_AGENT, http1
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

#: CA bundles tried when the default paths hold none (OpenWrt's ca-bundle, Alpine, ...)
_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem")


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

    def _open(self, dest: _Dest) -> http1.Wire:
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
        return http1.Wire(sock, self._deadline)

    def _send(self, method: str, dest: _Dest, headers: dict, body: bytes | None) -> Response:
        data = http1.request_head(method, dest, headers, body) + (body or b"")  # refused before sending
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
                wire.send(data)
            except OSError as exc:
                if not reused or isinstance(exc, self._timeouts):
                    raise
                # The pooled socket died between the idle check and the write (broken pipe,
                # reset, TLS EOF): the server never got this whole request, so sending it on
                # a fresh connection is safe.
                wire.close()
                wire = self._open(dest)
                wire.send(data)
            status, headers_in, body_in, keep = http1.read_answer(wire, method)
        except (OSError, http1.Malformed, http1.Closed, http1.Short, http1.TooLarge) as exc:
            wire.close()
            if isinstance(exc, http1.Closed):
                raise _closed(dest)
            if isinstance(exc, self._timeouts):
                raise self._timeout_error(dest)
            if isinstance(exc, http1.Short):
                raise _incomplete(dest)
            if isinstance(exc, http1.TooLarge):
                raise UnconfirmedError("answer from %s is larger than %d bytes" % (dest.where, wire.limit))
            if isinstance(exc, http1.Malformed):
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


def _hashed_capath(ssl) -> str | None:
    """The system CA directory when it is hashed (c_rehash links, as Debian, Alpine and OpenWrt's
    ca-certificates leave it) and SSL_CERT_FILE names no bundle; else None."""
    paths = ssl.get_default_verify_paths()
    if os.environ.get(paths.openssl_cafile_env) or not paths.capath:
        return None
    try:
        names = os.listdir(paths.capath)
    except OSError:
        return None
    return paths.capath if any(len(n) == 10 and n.endswith(".0") for n in names) else None


def ssl_context(cacert: str | None = None):
    """A verifying TLS context: `cacert` only when given, else the system's CAs.

    OpenSSL reads a hashed CA directory lazily (only the issuer a server's chain names, at the
    handshake), where the system bundle file is parsed whole: 150 certificates, about 20 ms here
    and far more on a router, on every run. So the directory is preferred when there is one.
    """
    import ssl
    try:
        capath = None if cacert else _hashed_capath(ssl)
        context = ssl.create_default_context(cafile=cacert or None, capath=capath)
        if not cacert and not capath and not context.cert_store_stats().get("x509_ca"):
            for path in _CA_BUNDLES:
                if os.path.isfile(path):
                    context.load_verify_locations(cafile=path)
                    break
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigError("cannot load CA certificates from %s: %s" % (cacert, _reason(exc)),
                          option="cacert")
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
