"""Webhook provider against fake simple-URL services over real HTTPS, on both transports, and the CLI."""

from __future__ import annotations

import base64
import json

import pytest
from agent_env import REAL, AgentEnv, status_with
from fakes import Fault
from fakes.server import FakeHttp
from fakes.webhook import WebhookFake

from ddns_agent.errors import (
    AuthError,
    ConfigError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.webhook import Webhook
from ddns_agent.secret import Secret

TOKEN = "k3y-Qw9+/zX=7"  # characters that URL and form encoding must escape
QUERY_URL = "https://dyn.example.net/update?hostname={fqdn}&myip={ip}&key={token}"
PATH_URL = "https://dyn.example.net/u/{token}/{fqdn}/{ip}"


class Api:
    """The fake, its server and an Http for the current transport."""

    def __init__(self, fake, server, http) -> None:
        self.fake, self.server, self.http = fake, server, http

    def provider(self, url: str = QUERY_URL, token: str = TOKEN, **options) -> Webhook:
        opts = {"url": Secret(url), "token": Secret(token), "endpoint": self.server.url}
        opts.update(options)
        return Webhook(opts, self.http)


@pytest.fixture
def api(serve, client):
    fake = WebhookFake(TOKEN)
    server = serve(fake)
    yield Api(fake, server, client(server.cafile))
    assert fake.errors == []


def rec(name: str = "home", type: str = "A", ttl: int | None = None) -> RecordSpec:
    return RecordSpec("home", "example.com", name, type, ttl)


def publish(provider: Webhook, address: str = "203.0.113.7", spec: RecordSpec | None = None) -> Remote:
    return provider.update(spec or rec(type="AAAA" if ":" in address else "A"), Remote(None, None), address)


def test_get_renders_the_url_with_encoded_values_and_succeeds_by_text(api):
    result = publish(api.provider(success_text="OK"), "2001:db8::7")
    [sent] = api.server.requests
    assert sent.method == "GET" and sent.body == b""
    assert sent.path == "/update?hostname=home.example.com&myip=2001%3Adb8%3A%3A7&key=k3y-Qw9%2B%2FzX%3D7"
    assert api.fake.records == {("home.example.com", "AAAA"): "2001:db8::7"}
    assert (result.id, result.value) == (None, "2001:db8::7")


def test_a_unicode_name_is_sent_as_utf8_percent_escapes(api):
    publish(api.provider(), spec=rec("bücher"))
    assert "hostname=b%C3%BCcher.example.com&" in api.server.requests[0].path
    assert ("bücher.example.com", "A") in api.fake.records


def test_a_key_in_the_path_is_escaped_and_errors_name_only_the_host(api):
    publish(api.provider(PATH_URL))
    assert api.server.requests[0].path == "/u/k3y-Qw9%2B%2FzX%3D7/home.example.com/203.0.113.7"
    with pytest.raises(AuthError) as info:
        publish(api.provider(PATH_URL, token="wrong-key-123"))
    assert str(info.value) == "webhook %s refused the credentials (HTTP 401)" % api.server.url


def test_an_answer_echoing_the_request_is_quoted_with_every_key_masked(serve, client):
    pasted = "f00dfeedc0ffee1234"  # a key pasted into the url instead of {token}

    def echo(req):
        said = "bad request %s (key %s)" % (req.path, pasted)
        return (400, {"Content-Type": "text/plain"}, said.encode())

    server = serve(echo)
    api = Api(None, server, client(server.cafile))
    url = "https://dyn.example.net/nic/%s/update?host={fqdn}&ip={ip}&t={token}" % pasted
    with pytest.raises(RejectedError) as info:
        publish(api.provider(url))
    assert str(info.value) == "webhook %s answered HTTP 400: 'bad request *** (key ***)'" % server.url


def test_text_without_the_success_text_is_a_refusal_that_never_shows_the_key(api):
    with pytest.raises(RejectedError, match=r"answered HTTP 200 without 'OK': 'KO bad key'") as info:
        publish(api.provider(token="wrong-key-456", success_text="OK"))
    assert "wrong-key-456" not in str(info.value) and "key=" not in str(info.value)
    assert api.fake.records == {}


def test_post_json_escapes_values_and_succeeds_by_status(api):
    token = 'we"ird\\tok'
    api.fake.key = token
    body = '{"name": "{fqdn}", "type": "{type}", "content": "{ip}", "ttl": "{ttl}"}'
    publish(api.provider("https://dyn.example.net/api/records", token=token, method="POST", body=body,
                         headers=["X-Api-Key: {token}", "X-Client: ddns_agent"]),
            spec=rec("bücher", "AAAA", ttl=300), address="2001:db8::7")
    sent = api.server.requests[0]
    assert sent.headers["content-type"] == "application/json"  # the default for a body starting with {
    assert json.loads(sent.body) == {"name": "bücher.example.com", "type": "AAAA", "content": "2001:db8::7",
                                     "ttl": "300"}
    assert sent.headers["x-client"] == "ddns_agent"
    assert api.fake.records == {("bücher.example.com", "AAAA"): "2001:db8::7"}


def test_post_form_encodes_values_and_sends_basic_auth(api):
    publish(api.provider("https://dyn.example.net/form", method="POST", body="host={fqdn}&ip={ip}",
                         username="user", password=Secret(TOKEN)), "2001:db8::7")
    sent = api.server.requests[0]
    assert sent.body == b"host=home.example.com&ip=2001%3Adb8%3A%3A7"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert api.fake.records == {("home.example.com", "AAAA"): "2001:db8::7"}


def test_credentials_in_the_url_become_basic_auth_and_leave_the_url(api):
    url = "https://user:{token}@dyn.example.net/form"
    publish(api.provider(url, method="POST", body="host={fqdn}&ip={ip}"))
    sent = api.server.requests[0]
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(("user:" + TOKEN).encode()).decode()
    assert sent.path == "/form"


def test_success_status_can_be_narrowed(api):
    provider = api.provider("https://dyn.example.net/api/records", method="PUT", success_status="200",
                            body='{"name": "{fqdn}", "content": "{ip}"}', headers="X-Api-Key: {token}")
    with pytest.raises(RejectedError, match="answered HTTP 204"):
        publish(provider)
    assert api.fake.records  # it landed, but the user said only 200 counts


@pytest.mark.parametrize("fault,error", [
    (Fault(status=500, body="oops"), TransientError),
    (Fault(status=429, headers={"Retry-After": "90"}, body="slow"), RateLimitedError),
    (Fault(status=403, body="no"), AuthError),
    (Fault(status=404, body="no such page"), RejectedError),
], ids=["5xx", "429", "403", "404"])
def test_failures_map_to_the_project_errors(api, fault, error):
    api.server.inject(fault)
    with pytest.raises(error) as info:
        publish(api.provider())
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("options,option,words", [
    ({"url": "https://h.example/u?x={nope}"}, "url", "unknown placeholder {nope}"),
    ({"url": "https://h.example/u?x={token}", "token": None}, "url",
     "placeholder {token} needs option token"),
    ({"body": "ip={ipv4}", "method": "POST"}, "body", "unknown placeholder {ipv4}"),
    ({"headers": ["X-Key {token}"]}, "headers", "expected 'Name: value'"),
    ({"headers": ["X-Key: {secret}"]}, "headers", "unknown placeholder {secret}"),
    ({"body": "ip={ip}"}, "body", "a body needs method POST, PUT or PATCH"),
    ({"method": "DELETE"}, "method", "expected one of GET, POST, PUT, PATCH"),
    ({"success_status": "ok"}, "success_status", "expected HTTP statuses like 2xx"),
    ({"url": "ftp://h.example/{token}"}, "url", "expected an http:// or https:// URL"),
    ({"url": "https://{token}.example/"}, "url", "with a fixed host name"),
])
def test_bad_templates_and_options_are_config_errors_naming_the_option(options, option, words):
    opts = {"url": Secret("https://h.example/u?key={token}&ip={ip}"), "token": Secret(TOKEN)}
    opts.update({k: Secret(v) if k in ("url", "token") and v else v for k, v in options.items()})
    with pytest.raises(ConfigError) as info:
        Webhook(opts, None)
    assert info.value.option == option and words in info.value.message
    assert TOKEN not in str(info.value) and "h.example/u" not in str(info.value)


def test_json_braces_are_text_and_ip4_ip6_follow_the_family():
    http = FakeHttp(lambda req: (200, {}, b"ok"))
    provider = Webhook({"url": Secret("https://h.example/x"), "method": "POST",
                        "body": '{"a": {}, "v4": "{ip4}", "v6": "{ip6}", "n": "{name}"}'}, http)
    provider.update(rec("@", "AAAA"), Remote(None, None), "2001:db8::7")
    assert json.loads(http.requests[0].body) == {"a": {}, "v4": "", "v6": "2001:db8::7", "n": "@"}


def test_check_sends_nothing_and_names_only_the_host(api):
    message = api.provider(PATH_URL).check()
    assert message.startswith("updates go to https://127.0.0.1:%d; no read-only call" % api.server.port)
    assert TOKEN not in message and api.server.requests == []


# -- the real command line --------------------------------------------------------------------------

CONFIG = """
config provider 'hook'
	option type 'webhook'
	option url 'https://dyn.example.net/update?hostname={{fqdn}}&myip={{ip}}&key={{token}}'
	option token_file '{token}'
	option success_text 'OK'
	option endpoint '{endpoint}'
	option cacert '{cacert}'

config record 'home'
	option provider 'hook'
	option domain 'example.com'
	option name 'home'
	option interface 'wan'
"""


def test_cli_publishes_once_sends_nothing_when_unchanged_and_stops_on_refusal(tmp_path, serve, transport):
    fake = WebhookFake(TOKEN)
    server = serve(fake)
    env = AgentEnv(tmp_path)
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    env.config(CONFIG.format(token=token, endpoint=server.url, cacert=server.cafile))
    env.interface("wan", REAL / "dhcp-public" / "status_wan_up.json")
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert fake.records == {("home.example.com", "A"): "203.0.113.54"}
    again = env.run("update")
    assert again.returncode == 0 and len(server.requests) == 1

    fake.key = "rotated-at-the-service"
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": "198.51.100.9", "mask": 24}]}))
    refused = env.run("update")
    assert refused.returncode == 1
    assert "home.example.com A: failed: webhook https://127.0.0.1:%d answered HTTP 200 without 'OK': " \
        "'KO bad key'; no more calls until the config changes" % server.port in refused.stderr
    assert env.saved()["home"]["stopped"] is True
    state = (env.state / "state.json").read_text()
    for text in (first.stderr, refused.stderr, refused.stdout, state):
        assert TOKEN not in text and "k3y" not in text


def test_credentials_in_the_url_survive_endpoint_for_both_families():
    # the endpoint replaces only scheme://host[:port]; user:password@ stays, for A and AAAA alike
    http = FakeHttp(lambda req: (200, {"Content-Type": "text/plain"}, b"good"))
    hook = Webhook({"url": Secret("https://bob:hunter2-pass@dyn.example.net/u?ip={ip}"),
                    "endpoint": "https://127.0.0.1:8443"}, http)
    publish(hook, "203.0.113.7")
    publish(hook, "2001:db8::7")
    assert [r.headers["authorization"] for r in http.requests] == \
        ["Basic " + base64.b64encode(b"bob:hunter2-pass").decode()] * 2
    assert [r.headers["host"] for r in http.requests] == ["127.0.0.1:8443"] * 2
