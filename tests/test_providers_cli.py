"""`ddns-agent providers` and `check --online` across providers; the registry agrees with the directory."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from agent_env import AgentEnv
from fakes.cloudflare import PREFIX, CloudflareFake
from fakes.dnspod import UA_SHAPE, DNSPodFake, answer
from fakes.duckdns import DuckDNSFake
from fakes.dyndns2 import Dyndns2Fake
from fakes.webhook import WebhookFake

import ddns_agent.providers as providers_pkg
from ddns_agent.providers import COMMON_OPTIONS, REGISTRY
from ddns_agent.providers.base import Provider

CF_TOKEN = "cf-check-token-Qa71Lm02"
CF_ZONE = "5" * 32
DNSPOD_TOKEN = "13490,0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
DUCK_TOKEN = "5e1d1c3e-8b7a-4f55-9a0e-6f1f1e2d3c4b"
DYN_PASSWORD = "dyn-check-Pw-4412"
HOOK_TOKEN = "hook-check-Tk-9931"
NO_CALL = "no read-only call in this protocol; credentials are tested on the first update"


def test_providers_lists_every_type_with_its_summary_and_options(tmp_path):
    done = AgentEnv(tmp_path).run("providers")
    assert done.returncode == 0, done.stderr
    blocks = {}
    for block in done.stdout.split("\n"):
        if block and not block.startswith(" "):
            name, _, summary = block.partition(": ")
            blocks[name] = [summary]
        elif block:
            blocks[name].append(block.strip())
    assert sorted(blocks) == sorted(REGISTRY)
    for name, info in REGISTRY.items():
        lines = blocks[name]
        assert lines[0] == info.summary
        text = "\n".join(lines[1:])
        for option in info.required + info.optional:
            shown = "%s (or %s_file)" % (option, option) if option in info.secrets else option
            assert shown in text, (name, shown)
        for option in COMMON_OPTIONS[1:]:
            assert option in text
        for option in info.record_options:
            assert "record options: " in text and option in text


def test_the_new_types_say_what_they_need(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    assert "duckdns: DuckDNS with the account token; records: domain duckdns.org, name <sub>\n" \
           "  required: token (or token_file)\n" in out
    assert "  required: password (or password_file)\n  optional: username, preset, endpoint" in out
    assert "preset noip, oray, dynu, he" in out
    assert "  optional: url (or url_file), preset, method, body, content_type, headers, " \
           "success_status, success_text, username, password (or password_file), token (or token_file)" in out
    assert "preset dynv6, freedns, njalla (option token) or namecheap (option password)" in out
    assert "desec (username = the domain, password = a token), ovh" in out


def _provider_modules() -> dict:
    """{module name: [Provider subclasses defined in it]} for every module in ddns_agent/providers/."""
    found = {}
    for mod in pkgutil.iter_modules(providers_pkg.__path__):
        if mod.name == "base":
            continue
        module = importlib.import_module("ddns_agent.providers." + mod.name)
        found[mod.name] = [c for _, c in inspect.getmembers(module, inspect.isclass)
                           if issubclass(c, Provider) and c is not Provider
                           and c.__module__ == module.__name__]
    return found


def test_registry_and_providers_directory_agree():
    modules = _provider_modules()
    provider_modules = {name for name, classes in modules.items() if classes}
    registered = {info.module for info in REGISTRY.values()}
    assert provider_modules - registered == set(), "provider modules missing from REGISTRY"
    assert registered - set(modules) == set(), "REGISTRY names modules that do not exist"
    for type_name, info in REGISTRY.items():
        cls = providers_pkg.load(type_name)
        assert issubclass(cls, Provider) and cls in modules[info.module]
        assert cls.type == type_name
        assert info.summary and set(info.secrets) <= set(info.required + info.optional)
        assert not set(info.required) & set(info.optional)
        assert not set(info.required + info.optional) & set(COMMON_OPTIONS)
        assert cls.can_find or "find" not in vars(cls), "an update-only provider must not find"


class DNSPodDomainsFake(DNSPodFake):
    """DNSPodFake plus the read-only Domain.List action (DNSPod/dnspod-api-doc source/domains.rst)."""

    def __call__(self, req):
        if req.route.strip("/") != "Domain.List":
            return super().__call__(req)
        self.requests.append(req)
        agent = req.headers.get("user-agent", "")
        if not UA_SHAPE.match(agent) or agent.lower().startswith("mozilla"):
            return (403, {"Content-Type": "text/plain"}, b"403 Forbidden: client blocked")
        form = req.form
        if req.method != "POST":
            return answer("2", "Only POST method is allowed")
        if form.get("login_token") != self.login_token:
            self.failed_logins += 1
            return answer("-1", "Login failed")
        domains = [{"id": i, "name": n, "punycode": n, "grade": "DP_Free", "status": "enable", "ttl": "600",
                    "ext_status": "", "records": "2", "owner": "user@example.com"}
                   for n, i in self.domains.items()]
        if not domains:
            return answer("9", "No domains")
        return answer("1", "Action completed successful",
                      info={"domain_total": len(domains), "all_total": len(domains)}, domains=domains)


CONFIG = """
config provider 'demo'
	option type 'log'

config provider 'cf'
	option type 'cloudflare'
	option api_token '{cf_token}'
	option endpoint '{cf}{prefix}'
	option cacert '{cf_ca}'

config provider 'dp'
	option type 'dnspod'
	option login_token '{dp_token}'
	option endpoint '{dp}'
	option cacert '{dp_ca}'

config provider 'duck'
	option type 'duckdns'
	option token '{duck_token}'
	option endpoint '{duck}'
	option cacert '{duck_ca}'

config provider 'noip'
	option type 'dyndns2'
	option preset 'noip'
	option username 'alice'
	option password '{dyn_password}'
	option endpoint '{dyn}/nic/update'
	option cacert '{dyn_ca}'

config provider 'hook'
	option type 'webhook'
	option url 'https://hook.example.net/update?hostname={{fqdn}}&myip={{ip}}&key={{token}}'
	option token '{hook_token}'
	option endpoint '{hook}'
	option cacert '{hook_ca}'
"""


@pytest.fixture
def online(tmp_path, serve, transport):
    fakes = {"cf": CloudflareFake(CF_TOKEN, {"example.com": CF_ZONE}),
             "dp": DNSPodDomainsFake(DNSPOD_TOKEN, domains=("example.com", "example.net")),
             "duck": DuckDNSFake(DUCK_TOKEN), "dyn": Dyndns2Fake({"alice": DYN_PASSWORD}),
             "hook": WebhookFake(HOOK_TOKEN)}
    servers = {k: serve(f) for k, f in fakes.items()}
    env = AgentEnv(tmp_path)

    def configure(**changes) -> None:
        values = {"cf_token": CF_TOKEN, "dp_token": DNSPOD_TOKEN, "duck_token": DUCK_TOKEN,
                  "dyn_password": DYN_PASSWORD, "hook_token": HOOK_TOKEN, "prefix": PREFIX}
        for k, s in servers.items():
            values[k], values[k + "_ca"] = s.url, s.cafile
        values.update(changes)
        env.config(CONFIG.format(**values))

    configure()
    env.configure, env.fakes, env.servers = configure, fakes, servers
    return env


def test_check_online_reports_each_provider_and_writes_nothing(online):
    done = online.run("check", "--online")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split(":")[0]: line for line in done.stdout.splitlines() if line.startswith("provider ")}
    assert lines["provider demo (log)"] == "provider demo (log): not checked: log provider: nothing to reach"
    assert lines["provider cf (cloudflare)"].endswith("OK: zone example.com reachable (id %s)" % CF_ZONE)
    assert lines["provider dp (dnspod)"].endswith("OK: zones example.com, example.net reachable")
    assert lines["provider duck (duckdns)"].endswith("not checked: " + NO_CALL)
    assert lines["provider noip (dyndns2)"].endswith(
        "not checked: updates go to %s/nic/update; %s" % (online.servers["dyn"].url, NO_CALL))
    assert lines["provider hook (webhook)"].endswith(
        "not checked: updates go to %s; %s" % (online.servers["hook"].url, NO_CALL))
    # one read each for the APIs that have one; nothing at all to the update-only protocols
    assert [r.route for r in online.servers["dp"].requests] == ["/Domain.List"]
    assert [r.method for r in online.servers["cf"].requests] == ["GET"]
    for name in ("duck", "dyn", "hook"):
        assert online.servers[name].requests == [], name
    assert online.fakes["cf"].writes == 0 and online.fakes["dp"].writes == 0


def test_check_online_reports_a_refused_token_per_provider_without_showing_it(online):
    wrong = "13490,ffffffffffffffffffffffffffffffff"
    online.configure(dp_token=wrong, cf_token="cf-wrong-token-000111")
    done = online.run("check", "--online")
    assert done.returncode == 1
    assert "provider dp (dnspod): FAILED: DNSPod refused the login_token: -1 Login failed" in done.stdout
    assert "provider cf (cloudflare): FAILED: Cloudflare refused the API token" in done.stdout
    assert "provider duck (duckdns): not checked" in done.stdout  # the others are still reported
    for text in (done.stdout, done.stderr):
        assert wrong not in text and "cf-wrong-token-000111" not in text


def test_check_online_reports_a_token_that_reaches_no_zone(online):
    online.fakes["dp"].domains.clear()
    done = online.run("check", "--online")
    assert done.returncode == 1
    assert "provider dp (dnspod): FAILED: the DNSPod login_token reaches no domain" in done.stdout


def test_check_reports_option_values_only_these_providers_can_judge(online):
    conf = online.conf.read_text().replace("key={token}", "key={tokn}").replace(
        "option preset 'noip'", "option preset 'custom'").replace("\toption endpoint '%s/nic/update'\n"
                                                                  % online.servers["dyn"].url, "")
    online.conf.write_text(conf)
    done = online.run("check")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line.split(": ", 2)[2] for line in done.stderr.splitlines() if line.count(":") >= 3]
    assert "hook.url: unknown placeholder {tokn}; known: {ip} {ip4} {ip6} {ip6prefix} {domain} {name} " \
           "{fqdn} {type} {ttl} {token} {password} {username}" in lines
    assert "noip.endpoint: preset custom needs option endpoint: the whole update URL, " \
           "like https://dyndns.example.net/nic/update" in lines
    assert HOOK_TOKEN not in done.stderr + done.stdout
