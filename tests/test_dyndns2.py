"""dyndns2 provider against a fake /nic/update server over real HTTPS, on both transports, and the CLI.

Every return code is driven through the real command line too: fatal codes stop the record until its
config changes, 911/dnserr hold it at least 30 minutes, anything unknown is retried later.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from agent_env import REAL, AgentEnv, status_with
from fakes import Fault
from fakes.dyndns2 import Dyndns2Fake
from fakes.server import FakeHttp

from ddns_agent import USER_AGENT
from ddns_agent.errors import (
    STOP,
    WAIT,
    AuthError,
    ConfigError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnconfirmedError,
)
from ddns_agent.http import Timeouts, make_http
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.dyndns2 import Dyndns2
from ddns_agent.secret import Secret

USER = "alice@example.com"
PASSWORD = "s3cret-Pa55word"
HE_PASSWORD = "heKey-9f8e7d6c"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, preset: str = "custom", path: str = "/nic/update", **options) -> Dyndns2:
        opts = {"preset": preset, "username": USER, "password": Secret(PASSWORD),
                "endpoint": self.server.url + path}
        opts.update(options)
        return Dyndns2(opts, self.http)


@pytest.fixture
def fake() -> Dyndns2Fake:
    return Dyndns2Fake({USER: PASSWORD}, {"home.example.com": USER, "nas.example.com": USER})


@pytest.fixture
def api(fake, serve, client):
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A") -> RecordSpec:
    return RecordSpec("home", "example.com", name, type)


def publish(provider: Dyndns2, address: str = "203.0.113.7", name: str = "home") -> Remote:
    return provider.update(rec(name, "AAAA" if ":" in address else "A"), Remote(None, None), address)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def test_update_is_one_get_with_hostname_myip_basic_auth_and_our_user_agent(api):
    result = publish(api.provider())
    [sent] = api.server.requests
    assert (sent.method, sent.path) == ("GET", "/nic/update?hostname=home.example.com&myip=203.0.113.7")
    assert sent.headers["authorization"] == basic(USER, PASSWORD)
    assert sent.headers["user-agent"] == USER_AGENT
    assert api.fake.answers == ["good 203.0.113.7"]
    assert api.fake.records["home.example.com"]["A"] == "203.0.113.7"
    assert (result.id, result.value) == (None, "203.0.113.7")


def test_aaaa_goes_in_myip_for_dyn_style_servers(api):
    publish(api.provider(), "2001:db8::7")
    assert api.server.requests[0].query == {"hostname": "home.example.com", "myip": "2001:db8::7"}
    assert api.fake.records["home.example.com"] == {"A": "", "AAAA": "2001:db8::7"}


def test_dynu_aaaa_uses_myipv6_and_leaves_ipv4_alone(serve, client):
    fake = Dyndns2Fake({USER: PASSWORD}, {"home.example.com": USER}, mode="dynu")
    server = serve(fake)
    api = Api(fake, server, client(server.cafile))
    publish(api.provider("dynu"), "203.0.113.7")
    publish(api.provider("dynu"), "2001:db8::7")
    assert server.requests[1].query == {"hostname": "home.example.com", "myip": "no", "myipv6": "2001:db8::7"}
    assert fake.records["home.example.com"] == {"A": "203.0.113.7", "AAAA": "2001:db8::7"}
    assert fake.errors == []


def test_he_net_authenticates_each_host_with_its_own_key(serve, client):
    fake = Dyndns2Fake(mode="he", keys={"home.example.com": HE_PASSWORD, "nas.example.com": "other-key-1"})
    server = serve(fake)
    api = Api(fake, server, client(server.cafile))
    publish(api.provider("he", username=None, password=Secret(HE_PASSWORD)), "2001:db8::7")
    assert server.requests[0].headers["authorization"] == basic("home.example.com", HE_PASSWORD)
    assert fake.records["home.example.com"]["AAAA"] == "2001:db8::7"
    with pytest.raises(AuthError, match="Hurricane Electric answered badauth") as info:
        publish(api.provider("he", username=None, password=Secret(HE_PASSWORD)), "2001:db8::7", name="nas")
    assert HE_PASSWORD not in str(info.value)
    assert fake.records["nas.example.com"]["AAAA"] == ""


@pytest.mark.parametrize("preset,type,url", [
    ("noip", "A", "https://dynupdate.no-ip.com/nic/update"),
    ("noip", "AAAA", "https://dynupdate6.no-ip.com/nic/update"),
    ("oray", "A", "https://ddns.oray.com/ph/update"),
    ("dynu", "AAAA", "https://api.dynu.com/nic/update"),
    ("he", "AAAA", "https://dyn.dns.he.net/nic/update"),
])
def test_presets_send_to_their_documented_update_urls(preset, type, url):
    # in process: nothing is resolved or contacted
    http = FakeHttp(lambda req: (200, {"Content-Type": "text/plain"},
                                 b"good " + (b"2001:db8::7" if type == "AAAA" else b"203.0.113.7")))
    provider = Dyndns2({"preset": preset, "username": USER, "password": Secret(PASSWORD)}, http)
    provider.update(rec(type=type), Remote(None, None), "2001:db8::7" if type == "AAAA" else "203.0.113.7")
    [sent] = http.requests
    assert "https://%s%s" % (sent.headers["host"], sent.route) == url
    assert provider.check() == "updates go to %s; no read-only call in this protocol; " \
        "credentials are tested on the first update" % url.replace("dynupdate6", "dynupdate")


# Every code of specs/providers.md §6.2: (answer, error class, retry kind, words in the message)
CODES = [
    ("badauth", AuthError, STOP, "No-IP answered badauth: the provider refused the username or password"),
    ("!donator", RejectedError, STOP, "a feature this account does not have"),
    ("notfqdn", RejectedError, STOP, "home.example.com is not a full host name"),
    ("nohost", RejectedError, STOP, "the host name home.example.com is not in this account"),
    ("numhost", RejectedError, STOP, "too many host names in one update"),
    ("abuse", RejectedError, STOP, "No-IP answered abuse: the provider blocked this host for abuse"),
    ("badagent", RejectedError, STOP, "the provider blocked this client"),
    ("good 127.0.0.1", RejectedError, STOP, "(treated as badagent)"),
    ("911", RateLimitedError, WAIT, "No-IP answered 911: the provider reports an outage or maintenance; "
                                    "waiting at least 30 minutes"),
    ("dnserr", RateLimitedError, WAIT, "the provider's DNS servers failed; waiting at least 30 minutes"),
]


@pytest.mark.parametrize("answer,error,retry,words", CODES, ids=[c[0] for c in CODES])
def test_every_return_code_maps_to_the_documented_decision(api, answer, error, retry, words):
    api.fake.force.append(answer)
    with pytest.raises(error) as info:
        publish(api.provider("noip"))
    assert info.value.retry == retry and words in str(info.value)
    if retry == WAIT:
        assert info.value.retry_after >= 1800
    assert PASSWORD not in str(info.value)


def test_real_refusals_from_the_fake(api):
    with pytest.raises(AuthError, match="badauth"):
        publish(api.provider(password=Secret("wrong-password")))
    with pytest.raises(RejectedError, match="nohost"):
        publish(api.provider(), name="garage")
    assert all(not r["A"] for r in api.fake.records.values())


def test_nochg_is_accepted_once_and_repeats_would_be_abuse(api):
    provider = api.provider()
    publish(provider)
    assert publish(provider).value == "203.0.113.7"  # nochg: fine at start-up
    publish(provider)
    with pytest.raises(RejectedError, match="abuse"):
        publish(provider)  # the fake blocks, as real services do: the agent must only call on change
    assert api.fake.answers[1:] == ["nochg 203.0.113.7", "nochg 203.0.113.7", "abuse"]


def test_a_browser_user_agent_gets_badagent(api):
    http = make_http(Timeouts(2, 5), cacert=api.server.cafile, user_agent="Mozilla/5.0 (X11; Linux x86_64)")
    with http:
        provider = Dyndns2({"username": USER, "password": Secret(PASSWORD),
                            "endpoint": api.server.url + "/nic/update"}, http)
        with pytest.raises(RejectedError, match="badagent"):
            publish(provider)


@pytest.mark.parametrize("fault,error,words", [
    (Fault(status=401, body=""), AuthError, "refused the username or password (HTTP 401)"),
    (Fault(status=503, body="<html>maintenance</html>"), TransientError, "HTTP 503"),
    (Fault(status=503, body="911", headers={"Content-Type": "text/plain"}), RateLimitedError, "911"),
    (Fault(status=429, body="", headers={"Retry-After": "120"}), RateLimitedError, "HTTP 429"),
    (Fault(status=404, body="not here"), RejectedError, "HTTP 404"),
    (Fault(body="<html>please log in</html>", headers={"Content-Type": "text/html"}), UnconfirmedError,
     "an answer dyndns2 does not define: '<html>please log in</html>'"),
    (Fault(body="good 198.51.100.1", headers={"Content-Type": "text/plain"}), UnconfirmedError,
     "answered 'good 198.51.100.1' for home.example.com, not 203.0.113.7"),
    (Fault(truncate=True), UnconfirmedError, "incomplete answer"),
], ids=["401", "503", "911 in 503", "429", "404", "html", "other ip", "cut"])
def test_http_level_answers(api, fault, error, words):
    api.server.inject(fault)
    with pytest.raises(error) as info:
        publish(api.provider())
    assert words in str(info.value)


def test_missing_credentials_get_401_badauth_from_the_fake(api):
    resp = api.http.request("GET", api.server.url + "/nic/update?hostname=home.example.com&myip=203.0.113.7")
    assert (resp.status, resp.text) == (401, "badauth")
    assert resp.headers["www-authenticate"] == 'Basic realm="DDNS"'


@pytest.mark.parametrize("options,option", [
    ({"preset": "custom", "endpoint": None}, "endpoint"),
    ({"preset": "dyndns"}, "preset"),
    ({"preset": "noip", "username": None}, "username"),
])
def test_config_errors_name_the_option(options, option):
    opts = {"username": USER, "password": Secret(PASSWORD), "endpoint": "https://h.example/nic/update"}
    opts.update(options)
    with pytest.raises(ConfigError) as info:
        Dyndns2(opts, None)
    assert info.value.option == option


def test_find_and_check_send_nothing(api):
    provider = api.provider()
    assert provider.can_find is False and provider.find(rec()) is None
    assert "no read-only call in this protocol" in provider.check()
    assert api.server.requests == []


# -- the real command line: every code leads to the documented behaviour --------------------------------

CONFIG = """
config agent
	option retry_max '{retry_max}'

config provider 'noip'
	option type 'dyndns2'
	option preset 'noip'
	option username '{user}'
	option password_file '{password}'
	option endpoint '{endpoint}/nic/update'
	option cacert '{cacert}'

config record 'home'
	option provider 'noip'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'
"""


class Cli:
    """AgentEnv with the fake and the No-IP preset pointed at it."""

    def __init__(self, tmp_path, server) -> None:
        self.env = AgentEnv(tmp_path)
        self.server = server
        self.password_file = tmp_path / "password"
        self.texts: list = []
        self.configure(PASSWORD)
        self.wan("203.0.113.7")

    def configure(self, password: str, retry_max: int = 3) -> None:
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        self.env.config(CONFIG.format(retry_max=retry_max, user=USER, password=self.password_file,
                                      endpoint=self.server.url, cacert=self.server.cafile))

    def wan(self, address: str) -> None:
        self.env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                              **{"ipv4-address": [{"address": address, "mask": 24}]}))

    def run(self, *args: str):
        done = self.env.run(*args)
        self.texts += [done.stdout, done.stderr]
        return done

    def status(self) -> dict:
        return json.loads(self.run("status", "--json").stdout)["records"][0]

    def assert_no_secret(self) -> None:
        self.texts.append((self.env.state / "state.json").read_text())
        for text in self.texts:
            assert PASSWORD not in text and basic(USER, PASSWORD)[6:] not in text


@pytest.fixture
def cli(tmp_path, fake, serve, transport):
    c = Cli(tmp_path, serve(fake))
    yield c
    c.assert_no_secret()
    assert fake.errors == []


def test_cli_publishes_then_sends_nothing_until_the_address_changes(cli, fake):
    first = cli.run("update")
    assert first.returncode == 0, first.stderr
    assert "home.example.com A: published 203.0.113.7" in first.stderr
    again = cli.run("update")
    assert again.returncode == 0 and len(cli.server.requests) == 1
    cli.wan("203.0.113.8")
    moved = cli.run("update")
    assert moved.returncode == 0, moved.stderr
    assert len(cli.server.requests) == 2 and fake.answers == ["good 203.0.113.7", "good 203.0.113.8"]
    assert fake.nochg == 0


def test_cli_accepts_nochg_at_start_up(cli, fake):
    fake.records["home.example.com"]["A"] = "203.0.113.7"  # the agent's state was lost (reboot)
    done = cli.run("update")
    assert done.returncode == 0, done.stderr
    assert fake.answers == ["nochg 203.0.113.7"] and cli.status()["result"] == "published"


FATAL = [c for c in CODES if c[2] == STOP]


@pytest.mark.parametrize("answer,error,retry,words", FATAL, ids=[c[0] for c in FATAL])
def test_cli_fatal_code_stops_the_record_until_the_config_changes(cli, fake, answer, error, retry, words):
    if answer == "badauth":
        cli.configure("wrong-password")  # the real thing, not a forced answer
    else:
        fake.force.append(answer)
    done = cli.run("update")
    assert done.returncode == 1
    [line] = [x for x in done.stderr.splitlines() if "home.example.com A: failed" in x]
    assert words in line and line.endswith("no more calls until the config changes")
    assert len(cli.server.requests) == 1  # no retry of a fatal answer
    assert cli.env.saved()["home"]["stopped"] is True
    assert cli.status()["result"] == "failed" and cli.status()["next_check"] is None

    cli.wan("203.0.113.8")
    held = cli.run("update")
    assert len(cli.server.requests) == 1  # a new address, and still not a single request
    assert "stopped after a fatal error" in held.stderr

    fake.blocked.clear()  # the user sorted it out with the provider, then edited the config
    cli.configure(PASSWORD + "-new" if answer != "badauth" else PASSWORD)
    fake.accounts[USER] = PASSWORD + "-new" if answer != "badauth" else PASSWORD
    fixed = cli.run("update")
    assert fixed.returncode == 0, fixed.stderr
    assert len(cli.server.requests) == 2 and fake.records["home.example.com"]["A"] == "203.0.113.8"


@pytest.mark.parametrize("answer", ["911", "dnserr"])
def test_cli_911_and_dnserr_hold_the_record_for_30_minutes(cli, fake, answer):
    fake.force.append(answer)
    before = time.time()
    done = cli.run("update")
    assert done.returncode == 1
    assert "waiting at least 30 minutes" in done.stderr
    assert len(cli.server.requests) == 1  # 1800 s is beyond the retry cap: no retry in this run
    status = cli.status()
    assert status["next_check"] >= before + 1800
    assert cli.env.saved()["home"]["stopped"] is False

    cli.wan("203.0.113.8")
    held = cli.run("update")
    assert len(cli.server.requests) == 1 and "provider asked to wait" in held.stderr


def test_cli_unknown_answer_is_retried_later_not_stopped(cli, fake):
    cli.configure(PASSWORD, retry_max=0)  # no in-run retries: this test must not sleep
    fake.force.append("maybe")
    before = time.time()
    done = cli.run("update")
    assert done.returncode == 1
    assert "an answer dyndns2 does not define: 'maybe' (will retry)" in done.stderr
    status = cli.status()
    assert cli.env.saved()["home"]["stopped"] is False
    assert before < status["next_check"] <= time.time() + 3600
