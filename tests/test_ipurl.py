"""External-URL source: real HTTPS fakes on loopback with a test CA; opt-in, family-pinned, rate-limited."""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fakes import Fault, json_response, text_response

from ddns_agent import ipurl, upstream
from ddns_agent.errors import SourceError

TIMEOUT = 3.0
SLACK = 2.0


class Record:
    def __init__(self, **options) -> None:
        self.device = None
        self.interface = None
        self.allow_private = False
        self.options = options


@pytest.fixture(autouse=True)
def fresh(monkeypatch, ca, tmp_path):
    """Each test is a new process run that trusts the test CA (as the system store would)."""
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    upstream.forget()
    yield
    upstream.forget()


def read(url: str, tmp_path, family: int = 4, now: float = 1000.0, timeout: float = TIMEOUT):
    upstream.forget()  # every call is its own run: only the state file remembers
    return ipurl.read(Record(ip_url=url), family, timeout=timeout, state_dir=str(tmp_path), now=now)


@pytest.mark.parametrize("answer", [
    text_response("203.0.113.7\n"),
    json_response({"ip": "203.0.113.7"}),
    json_response({"country": "ZZ", "ip_addr": "203.0.113.7", "ip_decimal": 3405803783}),
    text_response("<html><body>Current IP Address: 203.0.113.7</body></html>", content_type="text/html"),
])
def test_address_is_read_from_plain_json_or_html_answers(serve, tmp_path, answer):
    server = serve(lambda req: answer)
    found = read(server.url + "/ip", tmp_path)
    assert [(str(c.address), c.origin) for c in found] == [("203.0.113.7", "url 127.0.0.1")]
    assert server.requests[0].method == "GET" and server.requests[0].path == "/ip"


def test_token_in_the_url_stays_out_of_state_and_origin(serve, tmp_path):
    server = serve(lambda req: text_response("203.0.113.7"))
    found = read(server.url + "/ip?key=SECRET-TOKEN", tmp_path)
    assert server.requests[0].query == {"key": "SECRET-TOKEN"}
    assert "SECRET" not in found[0].origin
    assert "SECRET" not in (tmp_path / "ipurl.json").read_text()


def test_asked_at_most_once_per_five_minutes_across_runs(serve, tmp_path):
    server = serve(lambda req: text_response("203.0.113.7"))
    url = server.url + "/ip"
    assert str(read(url, tmp_path, now=1000)[0].address) == "203.0.113.7"
    assert str(read(url, tmp_path, now=1000 + 299)[0].address) == "203.0.113.7"
    assert len(server.requests) == 1
    read(url, tmp_path, now=1000 + 301)
    assert len(server.requests) == 2


def test_failure_is_remembered_and_not_retried_within_the_interval(serve, tmp_path):
    server = serve(lambda req: text_response("oops", status=500))
    url = server.url + "/ip"
    with pytest.raises(SourceError, match="answered HTTP 500"):
        read(url, tmp_path, now=1000)
    with pytest.raises(SourceError) as caught:
        read(url, tmp_path, now=1010)
    assert "answered HTTP 500 (asked 10 s ago; ip_url is asked at most every 300 s" in str(caught.value)
    assert len(server.requests) == 1


def test_answer_without_an_address_is_refused(serve, tmp_path):
    server = serve(lambda req: json_response({"ip": "unknown"}))
    with pytest.raises(SourceError, match="no IPv4 address in the answer"):
        read(server.url + "/", tmp_path)


def test_slow_answer_fails_in_bounded_time(serve, tmp_path):
    server = serve(lambda req: text_response("203.0.113.7"))
    server.inject(Fault(delay=10))
    start = time.monotonic()
    with pytest.raises(SourceError, match="no answer in time"):
        read(server.url + "/", tmp_path)
    assert time.monotonic() - start < TIMEOUT + SLACK


def test_certificate_from_another_ca_is_refused(serve, tmp_path):
    import trustme

    server = serve(lambda req: text_response("203.0.113.7"), ca=trustme.CA())
    with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
        read(server.url + "/", tmp_path)
    assert server.requests == []


@pytest.mark.parametrize("url", ["ftp://ip.example.net/", "https://user:pw@ip.example.net/",
                                 "https://ip.example.net/ip?q=a b", "https://ip.example.net/адрес",
                                 "https://ip.example.net:99999/"])
def test_an_ip_url_that_is_no_plain_http_url_is_refused_naming_the_option(tmp_path, url):
    with pytest.raises(SourceError, match="option ip_url: expected http"):
        ipurl.read(Record(ip_url=url), 4, state_dir=str(tmp_path))


def test_url_source_is_opt_in(tmp_path):
    with pytest.raises(SourceError, match="source url needs option ip_url"):
        ipurl.read(Record(), 4, state_dir=str(tmp_path))


class _V6Server(ThreadingHTTPServer):
    address_family = __import__("socket").AF_INET6
    daemon_threads = True


@pytest.fixture()
def v6_server(ca):
    """An HTTPS server on [::1] answering 2001:db8::7, with requests counted."""
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b"2001:db8::7\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    try:
        server = _V6Server(("::1", 0), Handler)
    except OSError as e:
        pytest.fail("no IPv6 on loopback: %s" % e)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("::1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield "https://[::1]:%d" % server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_aaaa_record_asks_over_ipv6(v6_server, tmp_path):
    url, hits = v6_server
    found = read(url + "/ip", tmp_path, family=6)
    assert found[0].address == ipaddress.IPv6Address("2001:db8::7")
    assert found[0].origin == "url ::1" and hits == ["/ip"]


def test_the_connection_is_pinned_to_the_records_family(v6_server, tmp_path):
    url, hits = v6_server
    with pytest.raises(SourceError, match="has no IPv4 address"):
        read(url + "/ip", tmp_path, family=4)
    assert hits == []


def test_state_file_is_json_keyed_by_hash_and_family(serve, tmp_path):
    server = serve(lambda req: text_response("203.0.113.7"))
    read(server.url + "/ip", tmp_path, now=5000)
    saved = json.loads((tmp_path / "ipurl.json").read_text())
    [(key, entry)] = saved.items()
    assert key.endswith("/4") and entry == {"at": 5000, "address": "203.0.113.7", "error": None}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # written atomically
