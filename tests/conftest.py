"""Shared fixtures: the test CA, fake servers that always stop, and both HTTP transports."""

from __future__ import annotations

import pytest

pytest_plugins = ["secret_guard"]

TRANSPORTS = ("urllib3", "stdlib")


@pytest.fixture(scope="session")
def ca():
    """One throwaway trustme CA for the session's fake HTTPS servers."""
    import trustme
    return trustme.CA()


@pytest.fixture(params=TRANSPORTS)
def transport(request, monkeypatch) -> str:
    """Run the test once per transport; make_http() picks it up through DDNS_AGENT_HTTP."""
    from ddns_agent.http import ENV_TRANSPORT
    monkeypatch.setenv(ENV_TRANSPORT, request.param)
    return request.param


@pytest.fixture
def serve(ca):
    """Start a FakeServer for a handler: serve(handler, **FakeServer kwargs); stopped at teardown."""
    from fakes.server import FakeServer
    servers = []

    def start(handler, **kwargs):
        kwargs.setdefault("ca", ca)
        server = FakeServer(handler, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def client(transport):
    """Make an Http for the current transport: client(cafile, connect_s=2, read_s=5); closed at teardown."""
    from ddns_agent.http import Timeouts, make_http
    made = []

    def make(cafile=None, connect_s: float = 2.0, read_s: float = 5.0):
        http = make_http(Timeouts(connect_s, read_s), cacert=cafile)
        assert http.name == transport
        made.append(http)
        return http

    yield make
    for http in made:
        http.close()


def pytest_configure(config):
    """Test secret files live in tmp_path: allow them (tests/test_luci_agent.py tests the rule)."""
    import os
    os.environ.setdefault("DDNS_AGENT_SECRET_DIR", "/")
