"""How answers are framed on the wire (RFC 9112): both transports over real TLS read them alike.

The default transport parses HTTP/1.1 itself (transports.py, no http.client), so these tests feed
it answers byte for byte from a scripted server: chunked bodies with extensions and trailers,
1xx interim answers, bodies without a length, HEAD and 204, HTTP/1.0 and `Connection: close`,
and answers that are not HTTP as RFC 9112 frames it, which the default transport refuses.
"""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from ddns_agent import http as seam
from ddns_agent.errors import ConfigError, UnconfirmedError
from ddns_agent.http import Timeouts, make_http

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Scripted:
    """A TLS server on 127.0.0.1 answering the n-th request with the n-th script entry, byte for byte.

    It records each request (head and body) and the number of connections it accepted; it stops
    at teardown and by itself after `lifetime_s`.
    """

    def __init__(self, ca, answers: list, lifetime_s: float = 30.0) -> None:
        self.answers = list(answers)
        self.requests: list = []
        self.connections = 0
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(self.context)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(lifetime_s)
        self.url = "https://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        threading.Timer(lifetime_s, self.close).start()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._connection, args=(raw,), daemon=True).start()

    def _connection(self, raw) -> None:
        raw.settimeout(10)
        try:
            with self.context.wrap_socket(raw, server_side=True) as conn:
                buf = b""
                while self.answers and not self.stop.is_set():
                    while b"\r\n\r\n" not in buf:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buf += data
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.lower() == b"content-length":
                            length = int(value)
                    while len(buf) < length:
                        buf += conn.recv(65536)
                    self.requests.append((head.decode("latin-1"), buf[:length]))
                    buf = buf[length:]
                    answer = self.answers.pop(0)
                    conn.sendall(answer if isinstance(answer, bytes) else answer[0])
                    if not isinstance(answer, bytes):  # (bytes, "close"): end the connection after it
                        return
        except (OSError, ValueError):
            return


@pytest.fixture
def scripted(ca):
    made = []

    def start(*answers) -> Scripted:
        server = Scripted(ca, answers)
        made.append(server)
        return server

    yield start
    for server in made:
        server.close()


def _http(server: Scripted, ca, tmp_path, transport: str = "stdlib"):
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    return make_http(Timeouts(2, 2), cacert=str(cafile), transport=transport)


@pytest.fixture(params=["stdlib", "urllib3"])
def both(request, ca, tmp_path):
    """make(server) -> an Http of each transport trusting the test CA; closed at teardown."""
    made = []

    def make(server: Scripted):
        made.append(_http(server, ca, tmp_path, request.param))
        return made[-1]

    yield make
    for http in made:
        http.close()


def test_a_chunked_body_with_extensions_and_trailers_is_read_and_the_connection_kept(scripted, both):
    server = scripted(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n", OK)
    http = both(server)
    first = http.request("GET", server.url + "/a")
    second = http.request("GET", server.url + "/b")
    assert (first.status, first.body, second.body) == (200, b"hello, world", b"ok")
    assert server.connections == 1


def test_100_continue_is_skipped(scripted, both):
    server = scripted(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    resp = both(server).request("POST", server.url + "/", body=b"x")
    assert (resp.status, resp.body) == (200, b"ok")


def test_every_interim_1xx_answer_is_skipped(scripted, ca, tmp_path):
    # http.client (under urllib3) skips only 100 and would return a 103 Early Hints as the answer
    server = scripted(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                      b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    resp = _http(server, ca, tmp_path).request("POST", server.url + "/", body=b"x")
    assert (resp.status, resp.body) == (200, b"ok")


def test_a_body_without_length_ends_with_the_connection_and_is_not_reused(scripted, both):
    server = scripted((b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\ngood 203.0.113.5", "close"), OK)
    http = both(server)
    assert http.request("GET", server.url + "/nic/update").body == b"good 203.0.113.5"
    assert http.request("GET", server.url + "/again").body == b"ok"
    assert server.connections == 2


def test_head_and_204_carry_no_body_and_keep_the_connection(scripted, both):
    server = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
                      b"HTTP/1.1 204 No Content\r\n\r\n", OK)
    http = both(server)
    head = http.request("HEAD", server.url + "/")
    empty = http.request("DELETE", server.url + "/r/1")
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "1234")
    assert (empty.status, empty.body) == (204, b"")
    assert http.request("GET", server.url + "/").body == b"ok"
    assert server.connections == 1


@pytest.mark.parametrize("answer", [
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"])
def test_http_1_0_and_connection_close_are_not_reused(scripted, both, answer):
    server = scripted((answer, "close"), OK)
    http = both(server)
    assert http.request("GET", server.url + "/").body == b"ok"
    assert http.request("GET", server.url + "/").body == b"ok"
    assert server.connections == 2


def test_http_1_0_keep_alive_is_reused(scripted, both):
    server = scripted(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", OK)
    http = both(server)
    http.request("GET", server.url + "/")
    http.request("GET", server.url + "/")
    assert server.connections == 1


def test_header_names_are_lower_case_and_folded_values_joined(scripted, both):
    server = scripted(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nX-Long: one\r\n two\r\n"
                      b"Content-Length: 0\r\n\r\n")
    resp = both(server).request("GET", server.url + "/")
    assert (resp.status, resp.headers["retry-after"], resp.headers["x-long"]) == (429, "7", "one two")


def test_the_request_is_one_write_with_host_length_and_user_agent(scripted, ca, tmp_path):
    server = scripted(OK)
    http = _http(server, ca, tmp_path)
    http.request("PATCH", server.url + "/zones/z/dns_records/r?x=1", headers={"Authorization": "Bearer t"},
                 body=b'{"content": "203.0.113.5"}')
    head, body = server.requests[0]
    lines = head.split("\r\n")
    assert lines[0] == "PATCH /zones/z/dns_records/r?x=1 HTTP/1.1"
    assert lines[1] == "Host: 127.0.0.1:%s" % server.url.rsplit(":", 1)[1]
    assert "Content-Length: 26" in lines and "Authorization: Bearer t" in lines
    assert any(line.startswith("User-Agent: ddns_agent/") for line in lines)
    assert body == b'{"content": "203.0.113.5"}'


@pytest.mark.parametrize("given", [{"user-agent": "Prog/1.0 (a@example.com)"},
                                   {"X-A": "1", "User-Agent": "Prog/1.0 (a@example.com)", "x-a": "2"}])
def test_a_header_given_again_in_any_case_replaces_the_earlier_one(scripted, ca, tmp_path, given):
    server = scripted(OK)
    _http(server, ca, tmp_path).request("GET", server.url + "/", headers=given)
    lines = server.requests[0][0].split("\r\n")
    agents = [line for line in lines if line.lower().startswith("user-agent:")]
    assert agents == ["%s: Prog/1.0 (a@example.com)" % next(k for k in given if k.lower() == "user-agent")]
    x_a = [line for line in lines if line.lower().startswith("x-a:")]
    assert x_a == (["x-a: 2"] if "x-a" in given else [])


@pytest.mark.parametrize("answer, words", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", "header fields"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000 + b"\r\n\r\n", "header line longer"),
    (b"HTTP/1.1 200 OK\r\n no name\r\n\r\n", "field name"),
    (b"ICY 200 OK\r\n\r\n", "status line"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "status line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokay\r\n0\r\n\r\n", "longer than its size"),
])
def test_answers_rfc_9112_does_not_frame_are_refused_naming_what(scripted, ca, tmp_path, answer, words):
    server = scripted((answer, "close"))
    with pytest.raises(UnconfirmedError, match=words):
        _http(server, ca, tmp_path).request("POST", server.url + "/", body=b"x")


def test_a_chunked_body_past_the_limit_is_refused(scripted, ca, tmp_path, monkeypatch):
    monkeypatch.setattr(seam, "MAX_BODY", 10)
    server = scripted((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", "close"))
    with pytest.raises(UnconfirmedError, match="larger than 10 bytes"):
        _http(server, ca, tmp_path).request("GET", server.url + "/")


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 20",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nshort",
    b"HTTP/1.1 200 OK\r\nContent-Len"])
def test_an_answer_cut_short_is_incomplete(scripted, ca, tmp_path, answer):
    server = scripted((answer, "close"))
    with pytest.raises(UnconfirmedError, match="incomplete answer"):
        _http(server, ca, tmp_path).request("POST", server.url + "/", body=b"x")


def test_chunked_beside_a_content_length_is_read_chunked_and_not_reused(scripted, ca, tmp_path):
    server = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"2\r\nok\r\n0\r\n\r\n", OK)
    http = _http(server, ca, tmp_path)
    assert http.request("GET", server.url + "/").body == b"ok"
    assert http.request("GET", server.url + "/").body == b"ok"
    assert server.connections == 2


def test_a_header_value_outside_latin_1_is_a_config_error_before_connecting(scripted, ca, tmp_path):
    server = scripted(OK)
    with pytest.raises(ConfigError, match="Latin-1"):
        _http(server, ca, tmp_path).request("GET", server.url + "/", headers={"X-Name": "家"})
    assert server.connections == 0


def test_bytes_after_the_answer_mean_the_connection_is_not_reused(scripted, ca, tmp_path):
    server = scripted(OK + b"HTTP/1.1 200 OK\r\n", OK)
    http = _http(server, ca, tmp_path)
    http.request("GET", server.url + "/")
    assert http.request("GET", server.url + "/").body == b"ok"
    assert server.connections == 2


@pytest.mark.parametrize("name, value", [("X-Token", "a\r\nInjected: 1"), ("X-Bad\nName", "v"),
                                         ("X-Bad: Name", "v")])
def test_a_header_with_a_line_break_is_refused_before_connecting(scripted, ca, tmp_path, name, value):
    server = scripted(OK)
    with pytest.raises(ConfigError, match="line break or colon"):
        _http(server, ca, tmp_path).request("GET", server.url + "/", headers={name: value})
    assert server.connections == 0


class _Trickle:
    """A socket giving `data` back `step` bytes per read: a head split anywhere, even inside CRLF CRLF."""

    def __init__(self, data: bytes, step: int, first: int | None = None) -> None:
        self.data, self.step, self.first = data, step, first

    def settimeout(self, seconds: float) -> None:
        pass

    def recv(self, n: int) -> bytes:
        size = min(n, self.step if self.first is None else self.first)
        self.first = None
        out, self.data = self.data[:size], self.data[size:]
        return out


HEADS = [
    b"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nX-Folded: one\r\n two\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\nContent-Type: a/b\nX-Folded: one\n\ttwo\nContent-Length: 2\n\nok",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: a/b\r\nX-Folded: one\r\n two\n"
    b"Content-Length: 2\n\r\nok",
]


@pytest.mark.parametrize("answer", HEADS)
@pytest.mark.parametrize("step, first", [(1, None), (2, None), (3, None), (7, None), (65536, None),
                                         (65536, 1), (65536, 2)])
def test_a_head_split_across_reads_anywhere_reads_the_same(answer, step, first):
    from ddns_agent import http1
    wire = http1.Wire(_Trickle(answer, step, first), seam._Deadline(5.0))
    wire.deadline.at = float("inf")
    status, headers, body, keep = http1.read_answer(wire, "GET")
    assert (status, body, keep) == (200, b"ok", True)
    assert headers == {"content-type": "a/b", "x-folded": "one two", "content-length": "2"}


def test_a_status_line_that_is_not_http_is_refused_before_the_head_ends():
    from ddns_agent import http1
    wire = http1.Wire(_Trickle(b"SSH-2.0-OpenSSH_9.2\r\n" + b"x" * 100, 1), seam._Deadline(5.0))
    wire.deadline.at = float("inf")
    with pytest.raises(http1.Malformed, match="status line"):
        http1.read_answer(wire, "GET")
    assert wire.sock.data  # it did not wait for the rest
