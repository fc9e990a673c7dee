"""Serve a fake handler two ways: over real HTTPS on loopback (`FakeServer`), or in process (`FakeHttp`).

    with FakeServer(handler) as server:          # https://127.0.0.1:<port>, trustme CA in server.cafile
        server.inject(Fault(status=429, headers={"Retry-After": "7"}))
        http = make_http(Timeouts(2, 5), cacert=server.cafile)
        http.request("GET", server.url + "/zones")

Every server stops at teardown and, failing that, by itself after `lifetime_s`.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ddns_agent import USER_AGENT
from ddns_agent.http import Http, NoAnswer, Response, UnconfirmedError
from fakes import FakeRequest, FakeResponse, Fault, Faults, call_handler

_LEAVES: dict = {}  # (id(ca), hostnames) -> (ca, leaf cert); the ca is kept so its id stays unique


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1:0 or `address` (HTTPS with a trustme CA unless tls=False).

    `requests` lists every FakeRequest received, faulted or not; `connections` counts accepted
    TCP connections (keep-alive tests). Handler calls are serialised, so fakes need no locks.
    """

    def __init__(self, handler, ca=None, hostnames: tuple = ("127.0.0.1", "localhost"),
                 tls: bool = True, lifetime_s: float = 120.0, address: tuple = ("127.0.0.1", 0)) -> None:
        self.handler = handler
        self.faults = Faults()
        self.requests: list = []
        self.connections = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set = set()
        self._tls = None
        self.cafile = None
        if tls:
            if ca is None:
                import trustme
                ca = trustme.CA()
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            key = (id(ca), tuple(hostnames))
            if key not in _LEAVES:  # issuing costs a key pair; a session CA reissues nothing
                _LEAVES[key] = (ca, ca.issue_cert(*hostnames))
            _LEAVES[key][1].configure_cert(context)
            self._tls = context
            fd, self.cafile = tempfile.mkstemp(prefix="fake-ca-", suffix=".pem")
            os.close(fd)
            ca.cert_pem.write_to_path(self.cafile)
        self._server = _Server(self, address)
        self.port = self._server.server_address[1]
        self.url = "%s://%s:%d" % ("https" if tls else "http", address[0], self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name="fake-server-%d" % self.port, daemon=True)
        self._timer = threading.Timer(lifetime_s, self.stop)
        self._timer.daemon = True
        self._started = False

    def start(self) -> FakeServer:
        """Start serving in a daemon thread; returns self."""
        if not self._started:
            self._started = True
            self._thread.start()
            self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and remove the CA file; safe to call twice."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._timer.cancel()
        if self._started:
            self._server.shutdown()
        self._server.server_close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.cafile and os.path.exists(self.cafile):
            os.unlink(self.cafile)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def inject(self, fault: Fault | None = None, times: int = 1, **kwargs) -> Fault:
        """Queue a fault for the next `times` requests: inject(Fault(status=500)) or inject(status=500)."""
        return self.faults.add(fault or Fault(**kwargs), times)

    # -- called from server threads --

    def _answer(self, req: FakeRequest):
        self.requests.append(req)
        fault = self.faults.take(req)
        real = None
        if fault is None or fault.process:
            with self._lock:
                real = call_handler(self.handler, req)
        if fault is not None and fault.delay:
            self._stopping.wait(fault.delay)
        return fault, (fault.answer(real) if fault is not None else real)

    def _track(self, sock, add: bool) -> None:
        with self._lock:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakeServer, address: tuple) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def get_request(self):
        sock, addr = super().get_request()
        self.fake.connections += 1
        return sock, addr

    def finish_request(self, request, client_address) -> None:
        request.settimeout(30)  # an idle kept-alive connection ends by itself
        if self.fake._tls is not None:
            try:
                request = self.fake._tls.wrap_socket(request, server_side=True)
            except OSError:  # the client refused our certificate: that is the test
                request.close()
                return
        self.fake._track(request, True)
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            self.fake._track(request, False)
            request.close()

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):  # clients hanging up mid-answer are the faults' point
            traceback.print_exc()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        fault, resp = self.server.fake._answer(FakeRequest(self.command, self.path, headers, body))
        if fault is not None and fault.close:
            self.close_connection = True
            return
        if fault is not None and fault.raw is not None:
            self.wfile.write(fault.raw)
            self.close_connection = True
            return
        payload = resp.body
        self.send_response(resp.status)
        names = set()
        for name, value in resp.headers.items():
            names.add(name.lower())
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if fault is not None and fault.truncate:
            payload = payload[:len(payload) // 2]
            self.close_connection = True
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()
        if fault is not None and fault.close_after:
            self.close_connection = True


class FakeHttp(Http):
    """The Http seam answered in process by a fake handler; faults become the errors a transport raises.

    `url` is a base for endpoints ("https://fake.test"); nothing is resolved or contacted.
    """

    name = "fake"

    def __init__(self, handler, read_s: float = 10.0, user_agent: str = USER_AGENT,
                 url: str = "https://fake.test") -> None:
        from ddns_agent.http import Timeouts
        super().__init__(Timeouts(read_s, read_s), None, user_agent)
        self.handler = handler
        self.url = url
        self.faults = Faults()
        self.requests: list = []

    def inject(self, fault: Fault | None = None, times: int = 1, **kwargs) -> Fault:
        """Same as FakeServer.inject."""
        return self.faults.add(fault or Fault(**kwargs), times)

    def _send(self, method: str, dest, headers: dict, body: bytes | None) -> Response:
        headers = dict(headers)
        default_port = 443 if dest.scheme == "https" else 80
        headers.setdefault("Host", dest.where if dest.port != default_port else dest.where.rsplit(":", 1)[0])
        if body is not None or method in ("POST", "PUT", "PATCH"):
            headers.setdefault("Content-Length", str(len(body or b"")))
        req = FakeRequest(method, dest.target, {k.lower(): v for k, v in headers.items()}, body or b"")
        self.requests.append(req)
        fault = self.faults.take(req)
        real = call_handler(self.handler, req) if fault is None or fault.process else None
        if fault is None:
            return _response(real, dest)
        if fault.delay >= self.timeouts.read_s:
            raise self._timeout_error(dest)
        if fault.close:
            raise NoAnswer("no answer from %s: connection closed" % dest.where)
        if fault.raw is not None:
            return _parse_raw(fault.raw, dest)
        if fault.truncate:
            raise UnconfirmedError("incomplete answer from %s: connection closed" % dest.where)
        return _response(fault.answer(real), dest)


def _response(resp: FakeResponse, dest) -> Response:
    return Response(resp.status, {k.lower(): str(v) for k, v in resp.headers.items()}, resp.body, dest.safe)


def _parse_raw(raw: bytes, dest) -> Response:
    """Read raw bytes as http.client would: a status line, headers, then the body until close."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise UnconfirmedError("no answer from %s: BadStatusLine" % dest.where)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is not None and len(body) < int(length):
        raise UnconfirmedError("incomplete answer from %s: connection closed" % dest.where)
    return Response(int(parts[1]), headers, body[:int(length)] if length else body, dest.safe)
