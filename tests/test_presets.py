"""URL presets (issue 12) against their fakes over real HTTPS, on both transports, and the CLI.

dynv6, Namecheap, FreeDNS and Njalla are webhook presets; deSEC and OVH are dyndns2 presets.
Each test sends the documented request and reads the documented answer, errors included.
"""

from __future__ import annotations

import base64

import pytest
from agent_env import REAL, AgentEnv, status_with
from fakes.presets import DesecFake, Dynv6Fake, FreeDnsFake, NamecheapFake, NjallaFake, OvhFake
from fakes.server import FakeHttp

from ddns_agent.errors import AuthError, ConfigError, RejectedError, TransientError, UnconfirmedError
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.dyndns2 import Dyndns2
from ddns_agent.providers.webhook import Webhook
from ddns_agent.secret import Secret

DYNV6_TOKEN = "dynv6-Tk_8sJq2LmNw5xYz"
DESEC_TOKEN = "desec-4kPq8Rw2Zx9Lm3Nb7Vc"
OVH_PASSWORD = "ovh-DynHost-Pa55w0rd"
NAMECHEAP_PASSWORD = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
FREEDNS_TOKEN4 = "aFrD4tokenV4xYzW8qL2mN"
FREEDNS_TOKEN6 = "aFrD6tokenV6pQrS3tU7vW"
NJALLA_KEY = "njKey48esqclnvqGiCZPbd"


def rec(domain: str = "example.com", name: str = "home", type: str = "A", ttl=None) -> RecordSpec:
    return RecordSpec("home", domain, name, type, ttl)


def publish(provider, address: str, spec: RecordSpec | None = None) -> Remote:
    spec = spec or rec(type="AAAA" if ":" in address else "A")
    return provider.update(spec, Remote(None, None), address)


def webhook(server, http, preset: str, **secrets) -> Webhook:
    options = {"preset": preset, "endpoint": server.url}
    options.update({k: Secret(v) for k, v in secrets.items()})
    return Webhook(options, http)


def shown(exc: BaseException) -> str:
    return str(exc) + repr(exc)


# -- dynv6 ------------------------------------------------------------------------------------------

@pytest.fixture
def dynv6(serve, client):
    fake = Dynv6Fake({"myhome.dynv6.net": DYNV6_TOKEN})
    server = serve(fake)
    yield fake, server, client(server.cafile)
    assert fake.errors == []


def test_dynv6_updates_the_zone_address_and_its_ipv6_prefix(dynv6):
    fake, server, http = dynv6
    provider = webhook(server, http, "dynv6", token=DYNV6_TOKEN)
    zone = rec("myhome.dynv6.net", "@")
    publish(provider, "203.0.113.7", zone)
    publish(provider, "2001:db8:1:2::7", RecordSpec("home", "myhome.dynv6.net", "@", "AAAA"))
    assert [r.query for r in server.requests] == [
        {"zone": "myhome.dynv6.net", "token": DYNV6_TOKEN, "ipv4": "203.0.113.7"},
        {"zone": "myhome.dynv6.net", "token": DYNV6_TOKEN, "ipv6": "2001:db8:1:2::7",
         "ipv6prefix": "2001:db8:1:2::/64"}]
    assert fake.records == {("myhome.dynv6.net", "A"): "203.0.113.7",
                            ("myhome.dynv6.net", "AAAA"): "2001:db8:1:2::7"}
    # the records inside the zone written relative to its prefix follow the new /64
    assert fake.prefixes == {"myhome.dynv6.net": "2001:db8:1:2::/64"}


def test_dynv6_wrong_token_is_an_auth_error_without_the_token(dynv6):
    fake, server, http = dynv6
    with pytest.raises(AuthError, match="refused the credentials .HTTP 401.") as info:
        publish(webhook(server, http, "dynv6", token="dynv6-wrong-token-123"), "203.0.113.7",
                rec("myhome.dynv6.net", "@"))
    assert "dynv6-wrong-token-123" not in shown(info.value) and fake.records == {}


def test_dynv6_fake_refuses_a_missing_token(dynv6):
    fake, server, http = dynv6
    resp = http.request("GET", server.url + "/api/update?zone=myhome.dynv6.net&ipv4=203.0.113.7", {})
    assert resp.status == 400 and fake.records == {}


# -- deSEC (dyndns2 preset) ---------------------------------------------------------------------------

@pytest.fixture
def desec(serve, client):
    fake = DesecFake({"home.dedyn.io": DESEC_TOKEN})
    server = serve(fake)
    yield fake, server, client(server.cafile)
    assert fake.errors == []


def desec_provider(server, http, token: str = DESEC_TOKEN) -> Dyndns2:
    return Dyndns2({"preset": "desec", "password": Secret(token), "endpoint": server.url + "/"}, http)


def test_desec_sends_one_family_and_preserves_the_other(desec):
    fake, server, http = desec
    fake.records[("home.dedyn.io", "AAAA")] = "2001:db8::5"
    publish(desec_provider(server, http), "203.0.113.7", rec("home.dedyn.io", "@"))
    [sent] = server.requests
    assert sent.query == {"hostname": "home.dedyn.io", "myipv4": "203.0.113.7", "myipv6": "preserve"}
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(
        ("home.dedyn.io:" + DESEC_TOKEN).encode()).decode()
    publish(desec_provider(server, http), "2001:db8::7", rec("home.dedyn.io", "@", "AAAA"))
    assert server.requests[1].query == {"hostname": "home.dedyn.io", "myipv4": "preserve",
                                        "myipv6": "2001:db8::7"}
    assert fake.records == {("home.dedyn.io", "A"): "203.0.113.7", ("home.dedyn.io", "AAAA"): "2001:db8::7"}


def test_desec_fake_removes_a_family_that_is_not_preserved(desec):
    # why the preset sends "preserve": without it deSEC drops the other family (its documented rule)
    fake, server, http = desec
    fake.records[("home.dedyn.io", "AAAA")] = "2001:db8::5"
    auth = "Basic " + base64.b64encode(("home.dedyn.io:" + DESEC_TOKEN).encode()).decode()
    http.request("GET", server.url + "/?hostname=home.dedyn.io&myipv4=203.0.113.7", {"Authorization": auth})
    assert ("home.dedyn.io", "AAAA") not in fake.records


def test_desec_wrong_token_is_an_auth_error(desec):
    fake, server, http = desec
    with pytest.raises(AuthError, match="deSEC refused the username or password .HTTP 401.") as info:
        publish(desec_provider(server, http, "desec-wrong-token-000"), "203.0.113.7",
                rec("home.dedyn.io", "@"))
    assert "desec-wrong-token-000" not in shown(info.value) and fake.records == {}


# -- OVH DynHost (dyndns2 preset) ---------------------------------------------------------------------

def test_ovh_sends_system_dyndns_with_basic_auth_and_reads_dyndns2_codes(serve, client):
    fake = OvhFake({"example.com-home": OVH_PASSWORD}, {"home.example.com": "example.com-home"})
    server = serve(fake)
    http = client(server.cafile)
    options = {"preset": "ovh", "username": "example.com-home", "password": Secret(OVH_PASSWORD),
               "endpoint": server.url + "/nic/update?system=dyndns"}
    publish(Dyndns2(options, http), "203.0.113.7")
    assert server.requests[0].path == "/nic/update?system=dyndns&hostname=home.example.com&myip=203.0.113.7"
    assert fake.records["home.example.com"]["A"] == "203.0.113.7"
    with pytest.raises(AuthError, match="OVH answered badauth"):
        publish(Dyndns2(dict(options, password=Secret("ovh-wrong-password")), http), "203.0.113.8")
    assert fake.errors == []


def test_the_dyndns2_presets_know_their_update_urls():
    http = FakeHttp(lambda req: (200, {"Content-Type": "text/plain"}, b"good"))
    Dyndns2({"preset": "ovh", "username": "u", "password": Secret("p")}, http).update(
        rec(), Remote(None, None), "203.0.113.7")
    Dyndns2({"preset": "desec", "password": Secret("p")}, http).update(
        rec("home.dedyn.io", "@"), Remote(None, None), "203.0.113.7")
    assert ["https://%s%s" % (r.headers["host"], r.path) for r in http.requests] == [
        "https://www.ovh.com/nic/update?system=dyndns&hostname=home.example.com&myip=203.0.113.7",
        "https://update.dedyn.io/?hostname=home.dedyn.io&myipv4=203.0.113.7&myipv6=preserve"]


# -- Namecheap --------------------------------------------------------------------------------------

@pytest.fixture
def namecheap(serve, client):
    fake = NamecheapFake({"example.com": NAMECHEAP_PASSWORD})
    server = serve(fake)
    yield fake, server, client(server.cafile)
    assert fake.errors == []


def test_namecheap_get_with_host_domain_password_ip_and_its_xml_answer(namecheap):
    fake, server, http = namecheap
    provider = webhook(server, http, "namecheap", password=NAMECHEAP_PASSWORD)
    publish(provider, "203.0.113.7")
    publish(provider, "203.0.113.8", rec(name="@"))
    assert [r.query for r in server.requests] == [
        {"host": "home", "domain": "example.com", "password": NAMECHEAP_PASSWORD, "ip": "203.0.113.7"},
        {"host": "@", "domain": "example.com", "password": NAMECHEAP_PASSWORD, "ip": "203.0.113.8"}]
    assert fake.records == {("home", "A"): "203.0.113.7", ("@", "A"): "203.0.113.8"}


def test_namecheap_errors_are_read_from_the_xml(namecheap):
    fake, server, http = namecheap
    with pytest.raises(AuthError, match="Namecheap refused the update: Passwords do not match") as info:
        publish(webhook(server, http, "namecheap", password="0000wrong0000"), "203.0.113.7")
    assert "0000wrong0000" not in shown(info.value)
    with pytest.raises(RejectedError, match="A record not Found"):
        publish(webhook(server, http, "namecheap", password=NAMECHEAP_PASSWORD), "203.0.113.7",
                rec(name="nas"))
    assert fake.records == {}


def test_namecheap_takes_no_ipv6_and_sends_nothing_for_it(namecheap):
    fake, server, http = namecheap
    with pytest.raises(RejectedError, match="Namecheap takes no IPv6 address"):
        publish(webhook(server, http, "namecheap", password=NAMECHEAP_PASSWORD), "2001:db8::7")
    assert server.requests == []


def test_namecheap_answer_without_errcount_is_unconfirmed(namecheap):
    fake, server, http = namecheap
    server.inject(status=200, body="<html>maintenance</html>")
    with pytest.raises(UnconfirmedError, match="no <ErrCount>"):
        publish(webhook(server, http, "namecheap", password=NAMECHEAP_PASSWORD), "203.0.113.7")
    server.inject(status=502, body="<html>bad gateway</html>")
    with pytest.raises(TransientError):
        publish(webhook(server, http, "namecheap", password=NAMECHEAP_PASSWORD), "203.0.113.7")


# -- FreeDNS ----------------------------------------------------------------------------------------

@pytest.fixture
def freedns(serve, client):
    fake = FreeDnsFake({FREEDNS_TOKEN4: ("home.example.com", "A"),
                        FREEDNS_TOKEN6: ("home.example.com", "AAAA")})
    server = serve(fake)
    yield fake, server, client(server.cafile)
    assert fake.errors == []


def test_freedns_v2_token_url_updates_and_reads_its_text(freedns):
    fake, server, http = freedns
    publish(webhook(server, http, "freedns", token=FREEDNS_TOKEN4), "203.0.113.7")
    publish(webhook(server, http, "freedns", token=FREEDNS_TOKEN6), "2001:db8::7")
    assert [r.path for r in server.requests] == ["/u/%s/?ip=203.0.113.7" % FREEDNS_TOKEN4,
                                                 "/u/%s/?ip=2001%%3Adb8%%3A%%3A7" % FREEDNS_TOKEN6]
    assert fake.records == {("home.example.com", "A"): "203.0.113.7",
                            ("home.example.com", "AAAA"): "2001:db8::7"}
    publish(webhook(server, http, "freedns", token=FREEDNS_TOKEN4), "203.0.113.7")  # "No IP change"


def test_freedns_unknown_token_is_an_auth_error(freedns):
    fake, server, http = freedns
    with pytest.raises(AuthError, match="FreeDNS does not know this update token") as info:
        publish(webhook(server, http, "freedns", token="aFrDwrongTokenZZZ"), "203.0.113.7")
    assert "aFrDwrongTokenZZZ" not in shown(info.value) and fake.records == {}


def test_freedns_ipv6_goes_to_the_ipv6_host():
    http = FakeHttp(lambda req: (200, {"Content-Type": "text/plain"}, b"Updated 1 host(s)"))
    for address in ("203.0.113.7", "2001:db8::7"):
        publish(Webhook({"preset": "freedns", "token": Secret("t0k3n-abcdef")}, http), address)
    assert [r.headers["host"] for r in http.requests] == ["sync.afraid.org", "v6.sync.afraid.org"]


# -- Njalla -----------------------------------------------------------------------------------------

@pytest.fixture
def njalla(serve, client):
    fake = NjallaFake({"home.example.com": NJALLA_KEY})
    server = serve(fake)
    yield fake, server, client(server.cafile)
    assert fake.errors == []


def test_njalla_sends_h_k_and_a_or_aaaa_and_checks_the_json_answer(njalla):
    fake, server, http = njalla
    provider = webhook(server, http, "njalla", token=NJALLA_KEY)
    publish(provider, "203.0.113.7")
    publish(provider, "2001:db8::7")
    assert [r.query for r in server.requests] == [
        {"h": "home.example.com", "k": NJALLA_KEY, "a": "203.0.113.7"},
        {"h": "home.example.com", "k": NJALLA_KEY, "aaaa": "2001:db8::7"}]
    assert fake.records == {("home.example.com", "A"): "203.0.113.7",
                            ("home.example.com", "AAAA"): "2001:db8::7"}


def test_njalla_wrong_key_and_bad_requests(njalla):
    fake, server, http = njalla
    with pytest.raises(AuthError, match="Njalla refused the key: invalid key") as info:
        publish(webhook(server, http, "njalla", token="njKeyWRONGwrong00"), "203.0.113.7")
    assert "njKeyWRONGwrong00" not in shown(info.value)
    # the fake refuses what Njalla refuses: a request without the key
    resp = http.request("GET", server.url + "/update/?h=home.example.com&a=203.0.113.7", {})
    assert (resp.status, resp.json()["message"]) == (500, "missing parameter h or k")
    server.inject(status=200,
                  body='{"status": 200, "message": "record updated", "value": {"A": "198.51.100.1"}}')
    with pytest.raises(UnconfirmedError, match="not 203.0.113.7"):
        publish(webhook(server, http, "njalla", token=NJALLA_KEY), "203.0.113.7")
    assert fake.records == {}


# -- configuration ----------------------------------------------------------------------------------

def test_a_preset_names_the_option_it_needs():
    with pytest.raises(ConfigError) as info:
        Webhook({"preset": "njalla"}, None)
    assert info.value.option == "token"
    with pytest.raises(ConfigError) as info:
        Webhook({"preset": "namecheap", "token": Secret("x" * 10)}, None)
    assert info.value.option == "password"
    with pytest.raises(ConfigError, match="expected one of dynv6, namecheap, freedns, njalla"):
        Webhook({"preset": "nosuch", "token": Secret("x" * 10)}, None)
    with pytest.raises(ConfigError) as info:
        Webhook({}, None)
    assert info.value.option == "url"


# -- the real command line -------------------------------------------------------------------------

CONFIG = """
config agent
	option retry_max '0'

config provider 'dv6'
	option type 'webhook'
	option preset 'dynv6'
	option token_file '%(token_file)s'
	option endpoint '%(endpoint)s'
	option cacert '%(cacert)s'

config record 'home'
	option provider 'dv6'
	option domain 'myhome.dynv6.net'
	option name '@'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'dv6'
	option domain 'myhome.dynv6.net'
	option name '@'
	option type 'AAAA'
	option interface 'wan'
"""


def wan(env: AgentEnv, v4: str, v6: str) -> None:
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": v4, "mask": 24}],
                                        "ipv6-address": [{"address": v6, "mask": 64}]}))


def test_cli_dynv6_preset_publishes_once_per_change_and_never_unchanged(tmp_path, serve, transport):
    fake = Dynv6Fake({"myhome.dynv6.net": DYNV6_TOKEN})
    server = serve(fake)
    env = AgentEnv(tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text(DYNV6_TOKEN + "\n")
    token_file.chmod(0o600)
    env.config(CONFIG % {"token_file": token_file, "endpoint": server.url, "cacert": server.cafile})
    wan(env, "203.0.113.7", "2001:db8:1:2::7")
    runs = [env.run("update")]
    assert runs[0].returncode == 0, runs[0].stderr
    assert len(fake.requests) == 2 and fake.prefixes == {"myhome.dynv6.net": "2001:db8:1:2::/64"}
    runs.append(env.run("update"))
    assert runs[1].returncode == 0 and len(fake.requests) == 2  # unchanged: nothing sent
    wan(env, "203.0.113.8", "2001:db8:1:2::7")
    runs.append(env.run("update"))
    assert runs[2].returncode == 0, runs[2].stderr
    assert len(fake.requests) == 3 and fake.records[("myhome.dynv6.net", "A")] == "203.0.113.8"
    token_file.write_text("dynv6-wrong-token-999\n")
    wan(env, "203.0.113.9", "2001:db8:1:2::7")
    runs.append(env.run("update"))
    assert runs[3].returncode == 1 and "myhome.dynv6.net A: failed" in runs[3].stderr
    assert "refused the credentials (HTTP 401)" in runs[3].stderr
    for run in runs:
        assert DYNV6_TOKEN not in run.stdout + run.stderr
        assert "dynv6-wrong-token-999" not in run.stdout + run.stderr
