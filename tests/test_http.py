"""The transport seam: both transports over real TLS on loopback, and FakeHttp behind the same seam."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from fakes import Fault, json_response
from fakes.server import FakeHttp

from ddns_agent import USER_AGENT
from ddns_agent.errors import ConfigError, RateLimitedError, TransientError, UnconfirmedError
from ddns_agent.http import (
    Response,
    StdlibHttp,
    Timeouts,
    Urllib3Http,
    http_date,
    make_http,
    parse_retry_after,
    raise_for_status,
    safe_url,
    url_join,
)

SECRET = "s3cr3t-token-value"


class Echo:
    """Answers every request with what it received, as JSON."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, req):
        self.calls += 1
        return json_response({"method": req.method, "path": req.path, "body": req.body.decode(),
                              "user_agent": req.headers.get("user-agent"), "host": req.headers.get("host")})


@pytest.fixture
def echo_server(serve):
    return serve(Echo())


@pytest.fixture(params=["urllib3", "stdlib", "fake"])
def seam(request, serve, monkeypatch):
    """(inject, http, base_url, handler) for each real transport and for FakeHttp."""
    handler = Echo()
    if request.param == "fake":
        http = FakeHttp(handler, read_s=0.5)
        yield http.inject, http, http.url, handler
        return
    monkeypatch.setenv("DDNS_AGENT_HTTP", request.param)
    server = serve(handler)
    http = make_http(Timeouts(2, 0.5), cacert=server.cafile)
    yield server.inject, http, server.url, handler
    http.close()


def test_get_returns_status_lower_case_headers_and_body(echo_server, client):
    resp = client(echo_server.cafile).request("GET", echo_server.url + "/a/b?x=1")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["path"] == "/a/b?x=1"
    assert resp.url == echo_server.url + "/a/b"


def test_user_agent_and_host_with_port_are_sent(echo_server, client):
    answer = client(echo_server.cafile).request("GET", echo_server.url + "/").json()
    assert answer["user_agent"] == USER_AGENT
    assert answer["host"] == "127.0.0.1:%d" % echo_server.port


def test_post_body_arrives_intact(echo_server, client):
    body = "login_token=1,abc&value=203.0.113.7&line=默认".encode()
    answer = client(echo_server.cafile).request("POST", echo_server.url + "/Record.Ddns", body=body).json()
    assert (answer["method"], answer["body"]) == ("POST", body.decode())


def test_three_requests_share_one_connection(echo_server, client):
    http = client(echo_server.cafile)
    for _ in range(3):
        assert http.request("GET", echo_server.url + "/").status == 200
    assert echo_server.connections == 1


def test_idle_connection_closed_by_server_is_replaced_without_resending(echo_server, client):
    http = client(echo_server.cafile)
    echo_server.inject(close_after=True)
    http.request("POST", echo_server.url + "/one", body=b"x")
    time.sleep(0.2)  # the server closes the idle connection while it is idle, not mid-request
    assert http.request("POST", echo_server.url + "/two", body=b"y").status == 200
    assert [r.path for r in echo_server.requests] == ["/one", "/two"]
    assert echo_server.connections == 2


def test_plain_http_endpoint_works(serve, client):
    server = serve(Echo(), tls=False)
    assert client().request("GET", server.url + "/").status == 200


def _hashed_dir(tmp_path, name: str, cafile: str) -> str:
    """A CA directory as c_rehash leaves it: the CA under <subject hash>.0."""
    import shutil

    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to name a hashed CA directory")
    digest = subprocess.run(["openssl", "x509", "-subject_hash", "-noout", "-in", cafile],
                            capture_output=True, text=True, check=True).stdout.strip()
    folder = tmp_path / name
    folder.mkdir()
    (folder / (digest + ".0")).write_bytes(open(cafile, "rb").read())
    return str(folder)


def test_system_cas_come_from_a_hashed_directory_read_lazily(serve, client, monkeypatch, tmp_path):
    import trustme

    secure = serve(Echo())
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", _hashed_dir(tmp_path, "certs", secure.cafile))
    http = client()
    assert http.ssl_context.cert_store_stats()["x509_ca"] == 0  # nothing parsed up front
    assert http.request("POST", secure.url + "/", body=b"x").status == 200
    # a server whose CA is not in the directory is refused
    other = trustme.CA()
    stranger = serve(Echo(), ca=other)
    with pytest.raises(TransientError, match="could not be verified"):
        client().request("GET", stranger.url + "/")


def test_ssl_cert_file_still_names_the_bundle(serve, client, monkeypatch, tmp_path):
    import trustme

    other = serve(Echo(), ca=trustme.CA())
    monkeypatch.setenv("SSL_CERT_DIR", _hashed_dir(tmp_path, "certs", other.cafile))
    secure = serve(Echo())
    monkeypatch.setenv("SSL_CERT_FILE", secure.cafile)
    assert client().request("GET", secure.url + "/").status == 200


def test_plain_http_never_loads_the_ca_store_and_https_loads_it_once(serve, client, monkeypatch):
    import ssl

    loads = []
    real = ssl.create_default_context

    def counted(*args, **kwargs):
        loads.append(kwargs.get("cafile"))
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    plain = serve(Echo(), tls=False)
    secure = serve(Echo())
    # the system store would not trust the test CA: point it at the fake's CA, as a distro bundle would
    monkeypatch.setenv("SSL_CERT_FILE", secure.cafile)
    http = client()
    for _ in range(2):
        assert http.request("POST", plain.url + "/", body=b"x").status == 200
    assert loads == []
    for _ in range(2):
        assert http.request("POST", secure.url + "/", body=b"x").status == 200
    assert loads == [None]


def test_get_dropped_without_answer_is_sent_once_more(seam):
    inject, http, url, handler = seam
    inject(close=True)
    assert http.request("GET", url + "/read").status == 200
    assert handler.calls == 2


def test_post_dropped_without_answer_is_unconfirmed_and_not_resent(seam):
    inject, http, url, handler = seam
    inject(close=True)
    with pytest.raises(UnconfirmedError, match="no answer from"):
        http.request("POST", url + "/write", body=b"x")
    assert handler.calls == 1


def test_read_timeout_is_unconfirmed_and_names_the_wait(seam):
    inject, http, url, handler = seam
    inject(delay=1.5)
    with pytest.raises(UnconfirmedError, match=r"no answer from .* within 0.5s"):
        http.request("POST", url + "/write", body=b"x")
    assert handler.calls == 1  # the change landed: only a read-back can tell


def test_truncated_body_is_unconfirmed(seam):
    inject, http, url, _ = seam
    inject(truncate=True)
    with pytest.raises(UnconfirmedError, match="incomplete answer"):
        http.request("POST", url + "/write", body=b"x")


def test_malformed_json_is_unconfirmed(seam):
    inject, http, url, _ = seam
    inject(body=b'{"success": tr')
    resp = http.request("GET", url + "/")
    with pytest.raises(UnconfirmedError, match="malformed JSON from"):
        resp.json()


def test_garbage_instead_of_http_is_unconfirmed(seam):
    inject, http, url, _ = seam
    inject(raw=b"SSH-2.0-OpenSSH_9.2\r\n\r\n", times=2)
    with pytest.raises(UnconfirmedError):
        http.request("POST", url + "/", body=b"x")


def test_raw_answer_is_read_as_http(seam):
    inject, http, url, _ = seam
    inject(raw=b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nRetry-After: 9\r\n\r\nbusy")
    resp = http.request("GET", url + "/")
    assert (resp.status, resp.headers["retry-after"], resp.body) == (503, "9", b"busy")


def test_429_with_retry_after_raises_rate_limited(seam):
    inject, http, url, _ = seam
    inject(status=429, headers={"Retry-After": "42"})
    with pytest.raises(RateLimitedError) as info:
        raise_for_status(http.request("GET", url + "/"), "cloudflare")
    assert info.value.retry_after == 42.0
    assert info.value.provider == "cloudflare"


def test_server_error_raises_transient(seam):
    inject, http, url, _ = seam
    inject(status=502, body=b"<html>bad gateway</html>")
    with pytest.raises(TransientError, match="HTTP 502"):
        raise_for_status(http.request("GET", url + "/"), "dnspod")


def test_connection_refused_is_transient_and_names_host_and_port(client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    expected = r"cannot connect to 127.0.0.1:%d: Connection refused" % port
    with pytest.raises(TransientError, match=expected) as info:
        client().request("GET", "https://127.0.0.1:%d/x?login_token=%s" % (port, SECRET))
    assert not isinstance(info.value, UnconfirmedError)
    assert SECRET not in str(info.value)


def test_name_resolution_failure_is_transient(client, monkeypatch):
    def no_dns(*args, **kwargs):  # the resolver's answer, without asking a real resolver
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(TransientError, match="cannot connect to api.example.com:443: Name or service"):
        client().request("GET", "https://api.example.com/client/v4")


def test_connect_timeout_is_transient(client):
    # A listener whose backlog is full drops new SYNs, so connect() waits (Linux).
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        extra = []
        try:
            for _ in range(2):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(listener.getsockname())
                extra.append(s)
            url = "https://127.0.0.1:%d/" % listener.getsockname()[1]
            with pytest.raises(TransientError, match="cannot connect to .*timed out") as info:
                client(connect_s=0.3).request("GET", url)
            assert not isinstance(info.value, UnconfirmedError)
        finally:
            for s in extra:
                s.close()


def test_certificate_from_unknown_ca_is_transient_and_says_certificate(serve, client, tmp_path):
    import trustme
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    server = serve(Echo())
    with pytest.raises(TransientError, match="TLS certificate of 127.0.0.1:%d could not be verified"
                       % server.port) as info:
        client(str(other)).request("GET", server.url + "/")
    assert not isinstance(info.value, UnconfirmedError)
    assert server.requests == []


def test_certificate_for_another_hostname_is_refused(serve, client):
    server = serve(Echo(), hostnames=("wrong.example",))
    with pytest.raises(TransientError, match="TLS certificate .* could not be verified: .*(?i:mismatch)"):
        client(server.cafile).request("GET", server.url + "/")
    assert server.requests == []


def test_system_bundle_does_not_trust_the_test_ca(echo_server, client):
    with pytest.raises(TransientError, match="TLS certificate"):
        client(None).request("GET", echo_server.url + "/")


def test_missing_cacert_file_is_a_config_error_naming_the_option(tmp_path):
    with pytest.raises(ConfigError, match="cacert"):
        make_http(Timeouts(), cacert=str(tmp_path / "missing.pem"))


def test_messages_never_carry_tokens_from_queries_or_headers(seam):
    inject, http, url, _ = seam
    for fault in (Fault(close=True), Fault(truncate=True), Fault(delay=1.5), Fault(status=429),
                  Fault(status=500), Fault(body=b"<")):
        inject(fault, times=2)
        with pytest.raises(TransientError) as info:
            resp = http.request("POST", url + "/Record.List?login_token=" + SECRET,
                                headers={"Authorization": "Bearer " + SECRET}, body=SECRET.encode())
            raise_for_status(resp, "x")
            resp.json()
        assert SECRET not in str(info.value)
        assert "login_token" not in str(info.value)


def test_env_var_picks_the_transport(monkeypatch):
    monkeypatch.setenv("DDNS_AGENT_HTTP", "stdlib")
    assert isinstance(make_http(Timeouts()), StdlibHttp)
    monkeypatch.setenv("DDNS_AGENT_HTTP", "urllib3")
    assert isinstance(make_http(Timeouts()), Urllib3Http)
    monkeypatch.delenv("DDNS_AGENT_HTTP")
    assert isinstance(make_http(Timeouts()), StdlibHttp)  # auto is http.client though urllib3 is installed
    assert isinstance(make_http(Timeouts(), transport="urllib3"), Urllib3Http)
    assert isinstance(make_http(Timeouts(), transport="stdlib"), StdlibHttp)
    monkeypatch.setenv("DDNS_AGENT_HTTP", "curl")
    with pytest.raises(ConfigError, match="DDNS_AGENT_HTTP: expected urllib3 or stdlib, got 'curl'"):
        make_http(Timeouts())


def test_bad_urls_and_timeouts_are_config_errors():
    with pytest.raises(ConfigError, match="endpoint: expected an http"):
        make_http(Timeouts(), transport="stdlib").request("GET", "ftp://example.com/?login_token=x")
    with pytest.raises(ConfigError, match="timeout: expected seconds"):
        Timeouts(0, 5)


def test_importing_the_seam_loads_no_network_modules():
    code = ("import sys, ddns_agent.http; "
            "print(sorted(m for m in ('ssl', 'urllib3', 'http.client') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", date="Wed, 21 Oct 2015 07:28:00 GMT") == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412600.0) == 0.0
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize("text", ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                                  "Sun Nov  6 08:49:37 1994"])
def test_http_dates_are_read_in_all_three_formats_rfc_9110_names(text):
    assert http_date(text) == 784111777.0  # what email.utils makes of each


@pytest.mark.parametrize("text", ["", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                                  "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49 GMT", "tomorrow"])
def test_what_is_no_http_date_gives_no_hint(text):
    assert http_date(text) is None and parse_retry_after(text) is None


def test_429_without_retry_after_has_no_hint_and_4xx_is_left_to_the_provider():
    with pytest.raises(RateLimitedError) as info:
        raise_for_status(Response(429, {}, b"", "https://h/x"))
    assert info.value.retry_after is None
    raise_for_status(Response(404, {}, b"", "https://h/x"))
    raise_for_status(Response(403, {}, b"", "https://h/x"))


def test_url_helpers():
    assert url_join("https://api.cloudflare.com/client/v4/", "/zones") == "https://api.cloudflare.com/client/v4/zones"
    assert url_join("https://dnsapi.cn", "Record.List") == "https://dnsapi.cn/Record.List"
    assert safe_url("https://u:pw@h:8443/p/a?token=x#f") == "https://h:8443/p/a"


def test_fake_server_stops_by_itself_when_teardown_never_comes(ca):
    import time

    from fakes.server import FakeServer
    server = FakeServer(Echo(), ca=ca, lifetime_s=0.2).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the fake server was still accepting connections after 10 s")
    assert not os.path.exists(server.cafile)


@pytest.mark.parametrize("mode", ["body", "headers"])
def test_an_answer_dripped_a_byte_at_a_time_is_cut_at_the_total_deadline(ca, tmp_path, client, mode):
    # each read gets a byte within read_s, so only a deadline for the whole request ends it
    from test_faults import Stall

    server = Stall(ca, tmp_path, mode)
    try:
        http = client(server.cafile, connect_s=2, read_s=2)
        http.timeouts.total_s = 1.0  # "within 2s" would be a read timeout; no read waits that long
        with pytest.raises(UnconfirmedError, match=r"no answer from 127.0.0.1:%d within 1s" % server.port):
            http.request("GET", server.url + "/zones")
    finally:
        server.stop()


def test_a_request_after_the_run_deadline_is_not_sent(serve, client):
    server = serve(Echo())
    http = client(server.cafile)
    http.run_deadline = time.monotonic() - 1
    message = "not sent to 127.0.0.1:%d: the run's time is up" % server.port
    with pytest.raises(TransientError, match=message) as info:
        http.request("POST", server.url + "/zones", body=b"{}")
    assert not isinstance(info.value, UnconfirmedError) and server.requests == []
