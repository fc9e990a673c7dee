"""DuckDNS provider against the fake duckdns.org over real HTTPS, on both transports, and through the CLI."""

from __future__ import annotations

import json

import pytest
from agent_env import REAL, AgentEnv, status_with
from fakes import Fault
from fakes.duckdns import DuckDNSFake
from fakes.server import FakeHttp

from ddns_agent.errors import (
    AuthError,
    ConfigError,
    RateLimitedError,
    TransientError,
    UnconfirmedError,
)
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.duckdns import DuckDNS
from ddns_agent.secret import Secret

TOKEN = "a7c4d0ad-114e-40ef-ba1d-d217904a50f2"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, token: str = TOKEN) -> DuckDNS:
        return DuckDNS({"token": Secret(token), "endpoint": self.server.url}, self.http)


@pytest.fixture
def api(serve, client):
    fake = DuckDNSFake(TOKEN, subs=("myhome", "nas"))
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "myhome", type: str = "A", domain: str = "duckdns.org") -> RecordSpec:
    return RecordSpec("home", domain, name, type)


def test_update_of_an_a_record_is_one_get_with_ip(api):
    result = api.provider().update(rec(), Remote(None, None), "203.0.113.7")
    [sent] = api.server.requests
    assert (sent.method, sent.route) == ("GET", "/update")
    assert sent.query == {"domains": "myhome", "token": TOKEN, "ip": "203.0.113.7", "verbose": "true"}
    assert api.fake.records["myhome"] == {"A": "203.0.113.7", "AAAA": ""}
    assert (result.id, result.value) == (None, "203.0.113.7")


def test_update_of_an_aaaa_record_sends_ipv6_and_leaves_ipv4_alone(api):
    api.fake.records["myhome"]["A"] = "203.0.113.7"
    api.provider().update(rec(type="AAAA"), Remote(None, None), "2001:db8::7")
    assert "ip" not in api.server.requests[0].query
    assert api.server.requests[0].query["ipv6"] == "2001:db8::7"
    assert api.fake.records["myhome"] == {"A": "203.0.113.7", "AAAA": "2001:db8::7"}


def test_the_full_name_with_name_at_is_the_same_sub_domain(api):
    api.provider().update(rec("@", domain="nas.duckdns.org"), Remote(None, None), "203.0.113.9")
    assert api.fake.records["nas"]["A"] == "203.0.113.9"


@pytest.mark.parametrize("name,domain", [("home", "example.com"), ("a.b", "duckdns.org"),
                                         ("@", "duckdns.org")])
def test_a_name_outside_duckdns_org_is_a_config_error_before_any_request(api, name, domain):
    with pytest.raises(ConfigError, match="home.domain: DuckDNS publishes <sub>.duckdns.org"):
        api.provider().update(rec(name, domain=domain), Remote(None, None), "203.0.113.7")
    assert api.server.requests == []


def test_wrong_token_is_ko_an_auth_error_that_never_shows_the_token(api):
    wrong = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(AuthError, match="answered KO: the token is wrong or myhome.duckdns.org") as info:
        api.provider(wrong).update(rec(), Remote(None, None), "203.0.113.7")
    assert wrong not in str(info.value) and TOKEN not in str(info.value)
    assert len(api.server.requests) == 1 and api.fake.records["myhome"]["A"] == ""


def test_a_sub_domain_of_another_account_is_ko(api):
    with pytest.raises(AuthError, match="garage.duckdns.org is not in this account"):
        api.provider().update(rec("garage"), Remote(None, None), "203.0.113.7")


def test_ok_holding_another_address_is_unconfirmed(api):
    api.server.inject(body="OK\n198.51.100.1\n\nNOCHANGE", headers={"Content-Type": "text/plain"})
    with pytest.raises(UnconfirmedError, match="holds 198.51.100.1 for myhome.duckdns.org, not 203.0.113.7"):
        api.provider().update(rec(), Remote(None, None), "203.0.113.7")


@pytest.mark.parametrize("fault,error", [
    (Fault(status=503, body="<html>down</html>"), TransientError),
    (Fault(status=429, headers={"Retry-After": "60"}, body=""), RateLimitedError),
    (Fault(body="<html>captive portal</html>", headers={"Content-Type": "text/html"}), UnconfirmedError),
    (Fault(truncate=True), UnconfirmedError),
], ids=["5xx", "429", "garbage", "cut"])
def test_server_trouble_maps_to_retryable_errors(api, fault, error):
    api.server.inject(fault)
    with pytest.raises(error) as info:
        api.provider().update(rec(), Remote(None, None), "203.0.113.7")
    assert TOKEN not in str(info.value)


def test_find_and_check_send_nothing(api):
    provider = api.provider()
    assert provider.can_find is False and provider.find(rec()) is None
    assert provider.check() == ("no read-only call in this protocol; "
                                "credentials are tested on the first update")
    assert api.server.requests == []


def test_runs_in_process_through_fake_http():
    fake = DuckDNSFake(TOKEN)
    http = FakeHttp(fake)
    DuckDNS({"token": Secret(TOKEN), "endpoint": http.url}, http).update(rec(), Remote(None, None),
                                                                         "203.0.113.7")
    assert fake.records["myhome"]["A"] == "203.0.113.7" and len(http.requests) == 1


# -- the real command line --------------------------------------------------------------------------

CONFIG = """
config provider 'duck'
	option type 'duckdns'
	option token_file '{token}'
	option endpoint '{endpoint}'
	option cacert '{cacert}'

config record 'home4'
	option provider 'duck'
	option domain 'duckdns.org'
	option name 'myhome'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'duck'
	option domain 'myhome.duckdns.org'
	option type 'AAAA'
	option interface 'wan'
"""


def wan(env: AgentEnv, v4: str, v6: str) -> None:
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": v4, "mask": 24}],
                                        "ipv6-address": [{"address": v6, "mask": 64}]}))


def test_cli_publishes_both_families_then_sends_nothing_until_the_address_changes(tmp_path, serve, transport):
    fake = DuckDNSFake(TOKEN)
    server = serve(fake)
    env = AgentEnv(tmp_path)
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    env.config(CONFIG.format(token=token, endpoint=server.url, cacert=server.cafile))
    wan(env, "203.0.113.7", "2001:db8::7")

    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert fake.records["myhome"] == {"A": "203.0.113.7", "AAAA": "2001:db8::7"}
    assert len(server.requests) == 2

    again = env.run("update")
    assert again.returncode == 0, again.stderr
    assert len(server.requests) == 2  # unchanged: not a single request

    wan(env, "203.0.113.8", "2001:db8::7")
    moved = env.run("update")
    assert moved.returncode == 0, moved.stderr
    assert "myhome.duckdns.org A: published 203.0.113.8 (was 203.0.113.7)" in moved.stderr
    assert len(server.requests) == 3 and fake.records["myhome"]["A"] == "203.0.113.8"
    state = (env.state / "state.json").read_text()
    for text in (first.stderr, again.stderr, moved.stderr, moved.stdout, state):
        assert TOKEN not in text


def test_cli_wrong_token_stops_the_record_without_showing_the_token(tmp_path, serve, transport):
    fake = DuckDNSFake(TOKEN)
    server = serve(fake)
    env = AgentEnv(tmp_path)
    wrong = "11111111-2222-3333-4444-555555555555"
    token = tmp_path / "token"
    token.write_text(wrong)
    token.chmod(0o600)
    env.config(CONFIG.format(token=token, endpoint=server.url, cacert=server.cafile))
    wan(env, "203.0.113.7", "2001:db8::7")
    done = env.run("update")
    assert done.returncode == 1
    assert "DuckDNS answered KO" in done.stderr and "no more calls until the config changes" in done.stderr
    assert len(server.requests) == 2
    wan(env, "203.0.113.8", "2001:db8::8")
    again = env.run("update")
    assert len(server.requests) == 2 and "stopped after a fatal error" in again.stderr
    status = json.loads(env.run("status", "--json").stdout)
    state = (env.state / "state.json").read_text()
    assert {r["result"] for r in status["records"]} == {"failed"}
    for text in (done.stderr, again.stderr, state, json.dumps(status)):
        assert wrong not in text
