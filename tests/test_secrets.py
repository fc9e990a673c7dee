"""Secrets: tokens, keys and TSIG secrets never reach logs (any level), messages, status, plan or state.

The whole suite is also watched by tests/secret_guard.py; the last tests here prove that guard fails.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import uuid

import pytest
from agent_env import REAL, REPO, AgentEnv, status_with
from fakes import FakeRequest, json_response, register_secret, text_response
from fakes.cloudflare import PREFIX, CloudflareFake
from fakes.dnspod import DNSPodFake
from fakes.server import FakeHttp

from ddns_agent.errors import DdnsError
from ddns_agent.providers import REGISTRY, load
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.secret import Secret

CF_TOKEN = "cf-secret-token-Qw3rTy9uIoP4aSdF"
CF_WRONG_TOKEN = "cf-wrong-token-Zx7cVb2nMqLk5jHg"
DNSPOD_TOKEN = "27182,dp0secret8token1e2d3c4b5a69788"
DNSPOD_WRONG_TOKEN = "27182,dp0wrong1token9f8e7d6c5b4a3210"
#: (every command, with -v and log_level debug)
COMMANDS = (("-v", "update"), ("-v", "update", "--force"), ("-v", "plan"), ("-v", "plan", "--json"),
            ("-v", "status"), ("-v", "status", "--json"), ("-v", "check"), ("-v", "check", "--online"),
            ("update",), ("providers",))


def wan(env: AgentEnv, v4: str = "203.0.113.7", v6: str = "2001:db8::7") -> None:
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": v4, "mask": 24}],
                                        "ipv6-address": [{"address": v6, "mask": 64}]}))


def section(kind: str, key: str, **options) -> str:
    lines = ["", "config %s '%s'" % (kind, key)]
    lines += ["\toption %s '%s'" % (k, v) for k, v in options.items()]
    return "\n".join(lines) + "\n"


def record(name: str, provider: str, domain: str = "example.com", rtype: str = "A") -> str:
    key = "%s_%s%s" % (provider, name, "6" if rtype == "AAAA" else "")
    return section("record", key, provider=provider, domain=domain, name=name, type=rtype,
                   interface="wan")


AGENT = section("agent", "agent", log_level="debug", retry_max="1", retry_base="0.01", retry_cap="1",
                timeout="2")


def everything(env: AgentEnv) -> dict:
    """Every text the agent left: each command's stdout and stderr, and each state file."""
    seen = {}
    for args in COMMANDS:
        done = env.run(*args)
        assert "Traceback" not in done.stderr, done.stderr
        seen[" ".join(args) + " stdout"] = done.stdout
        seen[" ".join(args) + " stderr"] = done.stderr
    for path in sorted(env.state.rglob("*")):
        if path.is_file():
            seen["state " + str(path.relative_to(env.state))] = path.read_text(errors="replace")
    return seen


def assert_hidden(seen: dict, *secrets: str) -> None:
    """No secret in any text; a failure shows each offending line with the secrets masked."""
    leaks = ["secret #%d in %s: %s" % (i, where, _masked(line, list(secrets))[:300])
             for where, text in seen.items() for line in text.splitlines()
             for i, secret in enumerate(secrets) if secret in line]
    assert leaks == [], "\n".join(leaks)


def assert_private(state) -> None:
    """The state dir and every dir in it 0700, every file 0600."""
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    for path in state.rglob("*"):
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), "%s is %o" % (path, mode)


# -- the real fakes, right and wrong credentials ----------------------------------------------------

@pytest.fixture
def accounts(serve, tmp_path):
    """A Cloudflare and a DNSPod fake over HTTPS, and an agent with one record on each."""
    cf = CloudflareFake(CF_TOKEN, {"example.com": "c" * 32})
    dp = DNSPodFake(DNSPOD_TOKEN, ("example.net",))
    cf_server, dp_server = serve(cf), serve(dp)
    env = AgentEnv(tmp_path)
    wan(env)
    token_file = tmp_path / "dnspod.token"
    token_file.write_text(DNSPOD_TOKEN + "\n")
    token_file.chmod(0o600)

    def write(cf_token: str = CF_TOKEN, dp_token: str = DNSPOD_TOKEN) -> None:
        token_file.write_text(dp_token + "\n")
        env.config(AGENT
                   + section("provider", "cf", type="cloudflare", api_token=cf_token,
                             endpoint=cf_server.url + PREFIX, cacert=cf_server.cafile)
                   + section("provider", "dp", type="dnspod", login_token_file=token_file,
                             endpoint=dp_server.url, cacert=dp_server.cafile)
                   + record("home", "cf") + record("home", "cf", rtype="AAAA")
                   + record("nas", "dp", "example.net"))

    write()
    env.write = write
    env.cf, env.dp = cf, dp
    return env


def test_no_command_shows_a_provider_token_when_all_goes_well(accounts):
    seen = everything(accounts)
    assert "home.example.com A: published 203.0.113.7" in seen["-v update stderr"]
    assert "nas.example.net A: published 203.0.113.7" in seen["-v update stderr"]
    assert "provider cf (cloudflare): OK" in seen["-v check --online stdout"]
    assert_hidden(seen, CF_TOKEN, DNSPOD_TOKEN, DNSPOD_TOKEN.split(",")[1])
    assert_private(accounts.state)


def test_no_command_shows_a_refused_token(accounts):
    accounts.write(CF_WRONG_TOKEN, DNSPOD_WRONG_TOKEN)
    seen = everything(accounts)
    assert "home.example.com A: failed: Cloudflare refused the API token" in seen["-v update stderr"]
    assert "nas.example.net A: failed: DNSPod refused the login_token" in seen["-v update stderr"]
    assert "FAILED" in seen["-v check --online stdout"]
    assert json.loads(seen["-v status --json stdout"])["records"][0]["last_error"]
    assert_hidden(seen, CF_WRONG_TOKEN, DNSPOD_WRONG_TOKEN, DNSPOD_WRONG_TOKEN.split(",")[1],
                  CF_TOKEN, DNSPOD_TOKEN)


def test_a_tsig_secret_stays_hidden_with_a_real_bind_right_and_wrong(tmp_path):
    from bind import Bind, new_secret, require_bind

    require_bind()
    wrong = new_secret()
    register_secret(wrong, "a wrong TSIG secret")
    with Bind(tmp_path / "bind") as ns:
        env = AgentEnv(tmp_path)
        wan(env)
        secret_file = tmp_path / "tsig.key"
        for secret in (ns.key_secret, wrong):
            secret_file.write_text(secret)
            secret_file.chmod(0o600)
            env.config(AGENT + section("provider", "ns", type="rfc2136", server=ns.address,
                                       port=ns.port, key_name=ns.key_name, zone=ns.zone,
                                       key_secret_file=secret_file)
                       + record("home", "ns", ns.zone) + record("home", "ns", ns.zone, "AAAA"))
            seen = everything(env)
            assert "home.example.test A: " in seen["-v update stderr"]
            assert_hidden(seen, ns.key_secret, wrong)
        assert ns.dig("home.example.test") == [(300, "203.0.113.7")]
        assert_private(env.state)


# -- servers that echo the request back ------------------------------------------------------------

def echo(req: FakeRequest) -> str:
    return "you sent %s %s headers %r body %r" % (req.method, req.path, dict(req.headers),
                                                   req.body.decode("utf-8", "replace"))


def echo_answer(req: FakeRequest, status: int, kind: str):
    """An error in every provider's documented shape, each message repeating the whole request."""
    said = echo(req)
    if kind == "text":
        return text_response("badauth %s\nKO %s" % (said, said), status)
    return json_response({"success": False, "errors": [{"code": 1000, "message": said}],
                          "messages": [said], "result": None,
                          "status": {"code": "-1", "message": said},
                          "Response": {"Error": {"Code": "AuthFailure", "Message": said}, "RequestId": said},
                          "Code": "Forbidden", "Message": said, "message": said, "error": said}, status)


#: per provider type, the options that cannot be a generic secret (the rest are; see `secret_options`)
PLAIN_OPTIONS = {
    "cloudflare": lambda url: {"endpoint": url + PREFIX},
    "dnspod": lambda url: {"endpoint": url},
    "dyndns2": lambda url: {"endpoint": url + "/nic/update", "username": "router"},
    "duckdns": lambda url: {"endpoint": url},
    "webhook": lambda url: {"username": "router"},
    "tencentcloud": lambda url: {"endpoint": url, "secret_id": "AKIDtest0secret0id"},
    "alidns": lambda url: {"endpoint": url, "access_key_id": "LTAItest0key0id"},
    "namecom": lambda url: {"endpoint": url, "username": "router"},
    "cloudns": lambda url: {"endpoint": url, "auth_id": "31337"},
    "huaweicloud": lambda url: {"endpoint": url, "access_key_id": "HPUALTEST0KEY0ID"},
    "volcengine": lambda url: {"endpoint": url, "access_key_id": "AKLTtest0key0id"},
    "route53": lambda url: {"endpoint": url, "access_key_id": "AKIATEST0KEY0ID"},
}
#: options whose secret must fit a shape
SECRET_SHAPES = {
    ("dnspod", "login_token"): "31415,%s",
    ("webhook", "url"): "{url}/hook/%s?token={token}&ip={ip}",
}


def secret_options(ptype: str, url: str) -> tuple:
    """(options, [secret values]) for a provider of `ptype` pointed at `url`."""
    info = REGISTRY[ptype]
    options = PLAIN_OPTIONS.get(ptype, lambda u: {"endpoint": u})(url)
    secrets = []
    for name in info.required + info.secrets:
        if name in options:
            continue
        if name not in info.secrets:
            pytest.fail("add provider type %s to PLAIN_OPTIONS: option %s is no secret" % (ptype, name))
        # random head: the agent masks the head of every Secret it made anywhere in a message
        # (secret.scrub partial), so a value starting "spaceship-" would mask "Spaceship" in later tests
        value = "%s-%s-%s" % (uuid.uuid4().hex[:16], ptype, name)
        register_secret(value, "%s %s (test_secrets)" % (ptype, name))
        secrets.append(value)
        shape = SECRET_SHAPES.get((ptype, name), "%s")
        options[name] = shape.replace("{url}", url) % value
    return options, secrets


HTTP_TYPES = sorted(t for t, info in REGISTRY.items() if t not in ("log", "rfc2136"))


@pytest.mark.parametrize("status,kind", [(200, "json"), (400, "json"), (401, "json"), (403, "text"),
                                         (500, "text"), (200, "text")])
def test_a_server_echoing_the_request_cannot_get_a_secret_into_any_output(serve, tmp_path, status, kind):
    server = serve(lambda req: echo_answer(req, status, kind))
    env = AgentEnv(tmp_path)
    wan(env)
    text, secrets = AGENT, []
    for ptype in HTTP_TYPES:
        options, values = secret_options(ptype, server.url)
        secrets += values
        text += section("provider", ptype, type=ptype, cacert=server.cafile, **options)
        text += record(ptype, ptype, "duckdns.org" if ptype == "duckdns" else "example.com")
    env.config(text)
    seen = everything(env)
    for ptype in HTTP_TYPES:
        assert "%s.%s A: " % (ptype, "duckdns.org" if ptype == "duckdns" else "example.com") \
            in seen["-v update stderr"]
    assert len(server.requests) >= len(HTTP_TYPES)
    assert_hidden(seen, *secrets)


@pytest.mark.parametrize("ptype", HTTP_TYPES)
@pytest.mark.parametrize("kind", ["json", "text"])
@pytest.mark.parametrize("status", [200, 400, 401, 404, 429, 500])
def test_provider_errors_never_carry_a_secret(ptype, kind, status):
    http = FakeHttp(lambda req: echo_answer(req, status, kind))
    options, secrets = secret_options(ptype, http.url)
    options = {k: Secret(v) if k in REGISTRY[ptype].secrets else v for k, v in options.items()}
    provider = load(ptype)(options, http)
    spec = RecordSpec("rec", "duckdns.org" if ptype == "duckdns" else "example.com", "home", "A", 300)
    calls = {"find": (spec,), "create": (spec, "203.0.113.7"),
             "update": (spec, Remote("id1", "203.0.113.5"), "203.0.113.7"), "check": ()}
    for name, args in calls.items():
        try:
            said = repr(getattr(provider, name)(*args))
        except DdnsError as e:
            said = "%s %r %r" % (e, e, e.args)
        # the report names the call, never the secret itself
        leaked = [i for i, secret in enumerate(secrets) if secret in said]
        assert leaked == [], "%s said secret #%s: %s" % (name, leaked, _masked(said, secrets))


def _masked(text: str, secrets: list) -> str:
    for i, secret in enumerate(secrets):
        text = text.replace(secret, "<secret #%d>" % i)
    return text


# -- state files ------------------------------------------------------------------------------------

def test_state_dir_is_0700_and_its_files_0600_even_under_umask_0(tmp_path):
    env = AgentEnv(tmp_path)
    wan(env)
    env.config(AGENT + section("provider", "demo", type="log") + record("home", "demo"))
    old = os.umask(0)
    try:
        done = env.run("update", "--interface", "wan")
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    names = {str(p.relative_to(env.state)) for p in env.state.rglob("*")}
    assert {"state.json", "lock", "fp", "fp/wan"} <= names
    assert_private(env.state)


def test_an_existing_state_dir_of_ours_is_used_as_it_is_and_its_files_are_private(tmp_path):
    # never chmod a directory the agent did not create (a 1777 one became 0700); what it writes
    # there is 0600 (dirs 0700) whatever the directory's mode (tests/test_state.py: the rule)
    env = AgentEnv(tmp_path)
    wan(env)
    env.config(AGENT + section("provider", "demo", type="log") + record("home", "demo"))
    env.state.mkdir(mode=0o755)
    env.state.chmod(0o755)
    assert env.run("update").returncode == 0
    assert stat.S_IMODE(os.stat(env.state).st_mode) == 0o755
    for path in env.state.rglob("*"):
        assert stat.S_IMODE(os.lstat(path).st_mode) == (0o700 if path.is_dir() else 0o600), path


# -- the suite-wide guard itself ------------------------------------------------------------------

INNER = '''
import fakes
from agent_env import AgentEnv

SECRET = "%(leak)s"


def test_prints_a_secret():
    fakes.register_secret(SECRET, "the inner token")
    print("token is", SECRET)


def test_agent_says_a_secret(tmp_path):
    fakes.register_secret("%(agent)s", "the inner agent secret")
    env = AgentEnv(tmp_path)
    env.config("config provider 'p'\\n\\toption type 'log'\\n"
               "config record 'r'\\n\\toption provider 'p'\\n\\toption interface 'wan'\\n"
               "\\toption domain '%(agent)s..example'\\n")
    assert env.run("update").returncode == 2


def test_clean():
    fakes.register_secret("never-printed-%(clean)s", "a quiet secret")
'''


def inner_session(tmp_path, text: str):
    (tmp_path / "test_inner.py").write_text(text)
    env = dict(os.environ, PYTHONPATH="%s:%s" % (REPO / "tests", REPO))
    env.pop("PYTEST_CURRENT_TEST", None)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "secret_guard", "-p", "no:cacheprovider",
            str(tmp_path / "test_inner.py")]
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_guard_fails_the_session_naming_each_leak_but_not_its_value(tmp_path):
    leak, agent, clean = (uuid.uuid4().hex for _ in range(3))
    done = inner_session(tmp_path, INNER % {"leak": "tok-" + leak, "agent": "k" + agent, "clean": clean})
    out = done.stdout + done.stderr
    assert "3 passed" in out
    assert done.returncode == 1, out
    # a test module's own constant is registered by its name, before the test registers it again
    assert "test_inner.SECRET appeared in test_inner.py::test_prints_a_secret: Captured stdout call" in out
    assert "the inner agent secret appeared in test_inner.py::test_agent_says_a_secret (call): " \
           "ddns-agent update: stderr" in out
    assert "a quiet secret" not in out
    assert leak not in out and agent not in out


def test_guard_passes_a_clean_session(tmp_path):
    clean = textwrap.dedent('''
        import fakes

        def test_quiet():
            fakes.register_secret("quiet-%s", "a quiet secret")
            print("nothing to see")
    ''' % uuid.uuid4().hex)
    done = inner_session(tmp_path, clean)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "secret guard" not in done.stdout


# -- scrub: the forms a server may echo ------------------------------------------------------------

SCRUB_SECRET = "sc,rub/secret+value&x=\u00e9 9Tq"


def test_scrub_masks_each_common_encoding_of_a_secret_and_nothing_else():
    import base64
    from urllib.parse import quote, quote_plus

    from ddns_agent.errors import one_line
    from ddns_agent.secret import scrub

    Secret(SCRUB_SECRET)
    basic = base64.b64encode(("router:" + SCRUB_SECRET).encode()).decode()
    for form in (SCRUB_SECRET, quote(SCRUB_SECRET, safe=""), quote_plus(SCRUB_SECRET),
                 json.dumps(SCRUB_SECRET)[1:-1], json.dumps(SCRUB_SECRET, ensure_ascii=False)[1:-1],
                 basic, SCRUB_SECRET.upper(), SCRUB_SECRET.encode().hex()):
        assert scrub("said <%s> to home.example.com" % form) == "said <***> to home.example.com"
    cut = "error: you sent Basic %s" % basic[:24]  # an answer cut in the middle of the credential
    assert basic[:24] not in one_line(cut) and SCRUB_SECRET[:12] not in one_line("x " + SCRUB_SECRET[:12])
    assert scrub("home.example.com A: updated 203.0.113.7") == "home.example.com A: updated 203.0.113.7"


def test_a_webhook_url_secret_masks_its_key_but_not_its_host():
    from ddns_agent.errors import one_line

    Secret("https://hook.example.net/u/k3y0123456789abc?ip={ip}")
    said = one_line("webhook https://hook.example.net answered 404 for /u/k3y0123456789abc?ip=203.0.113.7")
    assert said == "webhook https://hook.example.net answered 404 for /u/***?ip=203.0.113.7"
