"""Hostile input (issue 10): what a careless or malicious config, file, address or server can do.

Each test goes through the `ddns-agent` command as a user meets it: secrets with control characters,
servers echoing credentials in other encodings, plain http, path-like --interface values,
unpublishable addresses, files others can read, IDNA 2003 folding, a garbage CA, unbounded errors.
"""

from __future__ import annotations

import base64
import json
import os
from urllib.parse import quote, quote_plus

import pytest
from agent_env import REAL, AgentEnv, status_with
from fakes import FakeRequest, Fault, register_secret, text_response
from fakes.cloudflare import PREFIX, CloudflareFake
from fakes.duckdns import DuckDNSFake

CF_TOKEN = "cf-hostile-token-Lm4nB7vC2xZ9"
#: a token file whose value holds a line break: the two halves must never show
SPLIT_TOKEN_HEAD = "cf-split-head-Qa8sWd3e"
SPLIT_TOKEN_TAIL = "cf-split-tail-Rf5tGy6h"
#: a password with characters every encoding changes (percent, plus, JSON, base64)
ECHO_PASSWORD = "p@ss/w\u00f6rd+x&y=z \"q\" 9Kq2Lw8"
DUCK_TOKEN = "duck-hostile-token-0a1b2c3d4e5f"
USER = "router"


def wan(env: AgentEnv, v4=("203.0.113.7",), v6=("2001:db8::7",)) -> None:
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": a, "mask": 24} for a in v4],
                                        "ipv6-address": [{"address": a, "mask": 64} for a in v6]}))


def section(kind: str, key: str, **options) -> str:
    lines = ["", "config %s '%s'" % (kind, key)]
    lines += ["\toption %s '%s'" % (k, v) for k, v in options.items()]
    return "\n".join(lines) + "\n"


def record(key: str, provider: str, domain: str = "example.com", name: str = "home", rtype: str = "A",
           **options) -> str:
    return section("record", key, provider=provider, domain=domain, name=name, type=rtype,
                   interface="wan", **options)


AGENT = section("agent", "agent", retry_max="0", timeout="3")


def line_of(env: AgentEnv, option: str, after: str = "") -> int:
    """The line of the first `option <option>` (after the line holding `after`) in the config."""
    lines = env.conf.read_text().split("\n")
    start = next(i for i, ln in enumerate(lines) if after in ln)
    return next(i for i, ln in enumerate(lines) if i >= start and ln.strip().startswith(
        "option %s " % option)) + 1


def outputs(done) -> str:
    return done.stdout + done.stderr


def state_text(env: AgentEnv) -> str:
    return "".join(p.read_text(errors="replace") for p in env.state.rglob("*") if p.is_file()) \
        if env.state.is_dir() else ""


# -- secrets holding control characters ------------------------------------------------------------

@pytest.fixture
def cloudflare(serve, tmp_path):
    fake = CloudflareFake(CF_TOKEN, {"example.com": "c" * 32})
    server = serve(fake)
    env = AgentEnv(tmp_path)
    wan(env)
    env.server, env.fake = server, fake
    env.provider = lambda **o: section("provider", "cf", type="cloudflare", endpoint=server.url + PREFIX,
                                       cacert=server.cafile, **o)
    return env


@pytest.mark.parametrize("args", [("update",), ("-v", "update"), ("check",), ("check", "--online"),
                                  ("plan",), ("status",), ("status", "--json")])
def test_a_token_file_with_a_line_break_is_refused_naming_the_file_never_the_value(cloudflare, args):
    env = cloudflare
    token = env.tmp / "cf.token"
    token.write_text(SPLIT_TOKEN_HEAD + "\n" + SPLIT_TOKEN_TAIL + "\n")
    token.chmod(0o600)
    env.config(AGENT + env.provider(api_token_file=token) + record("home", "cf"))
    done = env.run(*args)
    assert done.returncode == 2, outputs(done)
    assert done.stderr.splitlines()[0] == (
        "ddns-agent: %s:%d: cf.api_token_file: '%s' holds a line break; a secret must be one line of "
        "printable text" % (env.conf, line_of(env, "api_token_file"), token))
    assert "Traceback" not in done.stderr
    for half in (SPLIT_TOKEN_HEAD, SPLIT_TOKEN_TAIL):
        assert half not in outputs(done) + state_text(env)
    assert env.server.requests == []


@pytest.mark.parametrize("value,what", [(SPLIT_TOKEN_HEAD + "\n" + SPLIT_TOKEN_TAIL, "a line break"),
                                        (SPLIT_TOKEN_HEAD + "\x1b[2J" + SPLIT_TOKEN_TAIL,
                                         "control character U+001B"),
                                        (SPLIT_TOKEN_HEAD + "\t" + SPLIT_TOKEN_TAIL, "a tab")])
def test_an_inline_secret_with_a_control_character_is_refused(cloudflare, value, what):
    env = cloudflare
    env.config(AGENT + env.provider(api_token=value) + record("home", "cf"))
    for args in (("check",), ("update",)):
        done = env.run(*args)
        assert done.returncode == 2
        assert done.stderr.splitlines()[0] == (
            "ddns-agent: %s:%d: cf.api_token: holds %s; expected one line of printable text"
            % (env.conf, line_of(env, "api_token"), what))
        assert SPLIT_TOKEN_HEAD not in outputs(done) and SPLIT_TOKEN_TAIL not in outputs(done)


# -- servers echoing a credential in another encoding ----------------------------------------------

def _encodings(secret: str, user: str = USER) -> dict:
    raw = secret.encode()
    return {"raw": secret, "percent": quote(secret, safe=""), "form": quote_plus(secret),
            "json": json.dumps(secret)[1:-1], "json utf-8": json.dumps(secret, ensure_ascii=False)[1:-1],
            "basic auth": base64.b64encode(("%s:%s" % (user, secret)).encode()).decode(),
            "base64": base64.b64encode(raw).decode().rstrip("=")}


def _echo_everything(req: FakeRequest):
    """Answers quoting the request in the encodings servers use, where each provider quotes answers."""
    said = "body=%s auth=%s %s %s headers=%s" % (
        req.body.decode("utf-8", "replace"), req.headers.get("authorization", ""), req.method, req.path,
        json.dumps(dict(req.headers)))
    if req.route == "/nic/update":  # dyndns2 quotes the start of an answer it does not know
        return text_response("auth=%s %s" % (req.headers.get("authorization", ""), said))
    return text_response(said, 400)  # webhook quotes the start of a refusal


def _decoded_runs(text: str) -> str:
    """Every base64-looking run of `text`, decoded (whole quanta), for pieces of a secret."""
    import re

    out = []
    for run in re.findall(r"[A-Za-z0-9+/]{8,}", text):
        for start in range(4):
            body = run[start:]
            body = body[:len(body) - len(body) % 4]
            try:
                out.append(base64.b64decode(body).decode("utf-8", "replace"))
            except ValueError:
                pass
    return "\n".join(out)


def test_a_server_echoing_basic_auth_percent_and_json_forms_of_a_secret_leaks_none(serve, tmp_path):
    for name, form in _encodings(ECHO_PASSWORD).items():
        register_secret(form, "ECHO_PASSWORD as %s" % name)
    server = serve(_echo_everything)
    env = AgentEnv(tmp_path)
    wan(env)
    env.config(AGENT
               + section("provider", "dyn", type="dyndns2", username=USER, password=ECHO_PASSWORD,
                         endpoint=server.url + "/nic/update", cacert=server.cafile)
               + section("provider", "hook", type="webhook", username=USER, password=ECHO_PASSWORD,
                         url=server.url + "/u?ip={ip}", method="POST",
                         body='{"pw": "{password}"}', cacert=server.cafile)
               + record("dyn_home", "dyn") + record("hook_home", "hook", name="hook"))
    os.chmod(env.conf, 0o600)
    seen = ""
    for args in (("-v", "update"), ("status",), ("status", "--json"), ("-v", "check", "--online")):
        done = env.run(*args)
        assert "Traceback" not in done.stderr
        seen += outputs(done)
    seen += state_text(env)
    assert "home.example.com A: failed" in seen and "hook.example.com A: failed" in seen, seen
    assert len(server.requests) == 2
    forms = _encodings(ECHO_PASSWORD)
    sent = " ".join("%s %s %s" % (r.path, r.headers, r.body.decode()) for r in server.requests)
    sent_forms = [forms["basic auth"] in sent, forms["json utf-8"] in sent]
    assert all(sent_forms)  # the server did see them (no operands shown: they hold the secret)
    leaked = [name for name, form in forms.items() if form[:12] in seen]
    assert leaked == []
    pieces = [ECHO_PASSWORD[i:i + 8] for i in range(len(ECHO_PASSWORD) - 7)]
    decoded = _decoded_runs(seen)
    assert [p for p in pieces if p in decoded] == []


# -- provider error text: one bounded line ---------------------------------------------------------

def test_a_huge_error_with_escapes_and_line_breaks_ends_as_one_short_line(cloudflare):
    env = cloudflare
    env.config(AGENT + env.provider(api_token=CF_TOKEN) + record("home", "cf"))
    message = "bad\x1b[31m\nddns_agent: info: home.example.com A: updated FORGED\r" + "x" * (3 << 20)
    env.server.faults.add(Fault(status=400, body=json.dumps(
        {"success": False, "errors": [{"code": 1004, "message": message}], "messages": [], "result": None})),
        times=5)
    done = env.run("update")
    assert done.returncode == 1
    lines = [ln for ln in done.stderr.splitlines() if "failed" in ln]
    assert len(lines) == 1 and len(lines[0]) < 700, [ln[:200] for ln in lines]
    assert "\x1b" not in done.stderr and "\r" not in done.stderr
    assert not any(ln.startswith("ddns_agent: info: home.example.com A: updated")
                   for ln in done.stderr.splitlines())
    error = env.saved()["home"]["error"]
    assert "\x1b" not in error and "\n" not in error and len(error) < 700
    status = env.run("status")
    assert len(status.stdout.splitlines()) == 1 and "\x1b" not in status.stdout


@pytest.mark.parametrize("cls", ["ProviderError", "AuthError", "TransientError", "SourceError", "DdnsError"])
def test_every_error_is_one_bounded_line_whatever_a_provider_puts_in_it(cls):
    import ddns_agent.errors as errors

    text = "answer: \x1b[2J\r\nddns_agent: info: forged\u2028" + "y" * (3 << 20)
    said = str(getattr(errors, cls)(text))
    assert said.isprintable() and len(said) <= errors.MESSAGE_LIMIT + 40
    assert said.startswith("answer: \\x1b[2J\\r\\nddns_agent: info: forged")
    assert said.endswith(" more characters)") and "(3145" in said[-30:]  # what was cut, counted


# -- plain http ------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["endpoint", "webhook url", "ip_url"])
def test_plain_http_is_refused_by_check_and_update_unless_the_section_opts_in(tmp_path, where):
    env = AgentEnv(tmp_path)
    wan(env)
    if where == "endpoint":
        provider = section("provider", "p", type="duckdns", token=DUCK_TOKEN, endpoint="http://127.0.0.1:9")
        rec, option, sec = record("r", "p", "duckdns.org", "myhome"), "endpoint", "p"
    elif where == "webhook url":
        provider = section("provider", "p", type="webhook", token=DUCK_TOKEN,
                           url="http://127.0.0.1:9/u?k={token}&ip={ip}")
        rec, option, sec = record("r", "p"), "url", "p"
    else:
        provider = section("provider", "p", type="log")
        rec = section("record", "r", provider="p", domain="example.com", name="home",
                      ip_url="http://127.0.0.1:9/ip", source="url")
        option, sec = "ip_url", "r"
    env.config(AGENT + provider + rec)
    line = line_of(env, option)
    for args in (("check",), ("update",)):
        done = env.run(*args)
        assert done.returncode == 2, outputs(done)
        assert done.stderr.splitlines()[0].startswith(
            "ddns-agent: %s:%d: %s.%s: plain http " % (env.conf, line, sec, option))
        assert "set option allow_insecure_http 1" in done.stderr
        assert DUCK_TOKEN not in outputs(done)
    opted = provider + rec
    target = "p" if where != "ip_url" else "r"
    opted = opted.replace("config %s '%s'\n" % ("provider" if target == "p" else "record", target),
                          "config %s '%s'\n\toption allow_insecure_http '1'\n"
                          % ("provider" if target == "p" else "record", target))
    env.config(AGENT + opted)
    done = env.run("check")
    assert done.returncode == 0, done.stderr
    assert ": warning: %s is plain http (allowed by allow_insecure_http)" % option in done.stderr


def test_an_opted_in_http_endpoint_works_and_warns_on_each_run(serve, tmp_path):
    fake = DuckDNSFake(DUCK_TOKEN)
    server = serve(fake, tls=False)
    env = AgentEnv(tmp_path)
    wan(env)
    env.config(AGENT + section("provider", "duck", type="duckdns", token=DUCK_TOKEN, endpoint=server.url,
                               allow_insecure_http="1")
               + record("home", "duck", "duckdns.org", "myhome"))
    assert server.url.startswith("http://")
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert fake.records["myhome"]["A"] == "203.0.113.7"
    warnings = [ln for ln in done.stderr.splitlines() if "plain http" in ln]
    assert warnings == ["ddns_agent: warning: %s:%d: duck.endpoint: warning: endpoint is plain http "
                        "(allowed by allow_insecure_http), which sends the credentials in clear and lets "
                        "anyone on the path change what is published" % (env.conf, line_of(env, "endpoint"))]


# -- --interface names a file ----------------------------------------------------------------------

LOG_CONFIG = AGENT + section("provider", "dry", type="log") + record("home", "dry")


@pytest.mark.parametrize("bad", ["../state.json", "../../etc/passwd", "..", "fp/../x", "wan\nwan",
                                 "a" * 16 + "/", ""])
def test_update_and_plan_refuse_an_interface_that_is_no_name_and_touch_no_file(tmp_path, bad):
    env = AgentEnv(tmp_path)
    wan(env)
    env.config(LOG_CONFIG)
    assert env.run("update").returncode == 0
    before = sorted((p.name, p.read_bytes()) for p in env.state.rglob("*") if p.is_file())
    assert ("state.json" in [n for n, _ in before])
    for args in (("update", "--interface", bad), ("update", "-i", bad), ("plan", "-i", bad),
                 ("update", "--force", "--interface", bad)):
        done = env.run(*args)
        assert done.returncode == 2, (args, outputs(done))
        assert done.stderr.startswith("ddns-agent: --interface: expected a netifd interface like wan")
        assert len(done.stderr.splitlines()) == 1
        assert sorted((p.name, p.read_bytes()) for p in env.state.rglob("*") if p.is_file()) == before


@pytest.mark.parametrize("good", ["wan", "wan_6", "eth0.2", "br-lan", "pppoe-wan", "*"])
def test_real_interface_and_device_names_still_work(tmp_path, good):
    env = AgentEnv(tmp_path)
    wan(env)
    env.config(LOG_CONFIG)
    done = env.run("update", "--interface", good)
    assert done.returncode == 0, done.stderr


# -- addresses no one can reach --------------------------------------------------------------------

@pytest.mark.parametrize("rtype,address,words", [
    ("A", "255.255.255.255", "is the limited broadcast address"),
    ("A", "240.0.0.1", "is a reserved (240.0.0.0/4) address"),
    ("A", "254.1.2.3", "is a reserved (240.0.0.0/4) address"),
    ("A", "224.0.0.251", "is a multicast address"),
    ("AAAA", "::ffff:203.0.113.7", "is an IPv4-mapped IPv6 address: it stands for 203.0.113.7"),
    ("AAAA", "::203.0.113.7", "is a deprecated IPv4-compatible IPv6 address"),
    ("AAAA", "100::1", "is a discard-only (100::/64) address"),
    ("AAAA", "ff0e::1", "is a multicast address"),
    ("AAAA", "2001:db8::7%wan", "an address with a zone index (%wan)"),
])
def test_unpublishable_addresses_are_refused_with_the_reason(tmp_path, rtype, address, words):
    env = AgentEnv(tmp_path)
    if rtype == "A":
        wan(env, v4=(address,))
    else:
        wan(env, v6=(address,))
    env.config(AGENT + section("provider", "dry", type="log") + record("home", "dry", rtype=rtype))
    plan = env.run("plan", "--json")
    assert plan.returncode == 0, plan.stderr
    text = plan.stdout
    assert words in text, text
    done = env.run("-v", "update")
    assert "publish" not in [ln for ln in done.stderr.splitlines() if "would publish" in ln]
    assert "would publish" not in done.stderr, done.stderr
    assert words in done.stderr
    assert (env.saved().get("home") or {}).get("address") in (None, "")


def test_a_public_address_beside_a_mapped_one_is_the_one_published(tmp_path):
    env = AgentEnv(tmp_path)
    wan(env, v6=("::ffff:203.0.113.7", "2001:db8::7"))
    env.config(AGENT + section("provider", "dry", type="log") + record("home", "dry", rtype="AAAA"))
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert env.saved()["home"]["address"] == "2001:db8::7"


# -- files other users can read --------------------------------------------------------------------

def test_a_secret_file_others_can_read_is_used_with_one_warning_naming_it_and_its_mode(serve, tmp_path):
    fake = DuckDNSFake(DUCK_TOKEN)
    server = serve(fake)
    env = AgentEnv(tmp_path)
    wan(env)
    token = tmp_path / "duck.token"
    token.write_text(DUCK_TOKEN + "\n")
    token.chmod(0o644)
    env.config(AGENT + section("provider", "duck", type="duckdns", token_file=token, endpoint=server.url,
                               cacert=server.cafile)
               + record("home", "duck", "duckdns.org", "myhome"))
    os.chmod(env.conf, 0o644)
    expected = ("%s:%d: duck.token_file: warning: %s is readable by other users (mode 0644); chmod 600 %s"
                % (env.conf, line_of(env, "token_file"), token, token))
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert fake.records["myhome"]["A"] == "203.0.113.7"
    assert [ln for ln in done.stderr.splitlines() if "readable" in ln] == ["ddns_agent: warning: " + expected]
    check = env.run("check")
    assert check.returncode == 0 and ("ddns-agent: " + expected) in check.stderr.splitlines()
    token.chmod(0o600)
    for args in (("update", "--force"), ("check",)):
        assert "readable" not in env.run(*args).stderr


def test_a_config_holding_a_secret_inline_warns_when_others_can_read_it(tmp_path):
    env = AgentEnv(tmp_path)
    wan(env)
    env.config(AGENT + section("provider", "duck", type="duckdns", token=DUCK_TOKEN,
                               endpoint="https://127.0.0.1:9")
               + record("home", "duck", "duckdns.org", "myhome"))
    os.chmod(env.conf, 0o640)
    done = env.run("check")
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        "ddns-agent: %s:%d: duck.token: warning: this file holds token inline and is readable by other "
        "users (mode 0640); move it to token_file (mode 0600) or chmod 600 %s"
        % (env.conf, line_of(env, "token"), env.conf)]
    os.chmod(env.conf, 0o600)
    assert env.run("check").stderr == ""
    env.config(LOG_CONFIG)  # no secret in it: an ordinary 0644 UCI file says nothing
    os.chmod(env.conf, 0o644)
    assert env.run("check").stderr == ""


# -- IDNA 2003 folding -----------------------------------------------------------------------------

@pytest.mark.parametrize("option,value,words", [
    ("domain", "stra\u00dfe.de", "label 'stra\u00dfe' would be published as 'strasse' by IDNA 2003 but "
                                 "means 'stra\u00dfe' under IDNA 2008; write xn--strae-oqa"),
    ("name", "\u24d7ome", "'\u24d7' (U+24D7) is not allowed in a domain name (IDNA 2008) (IDNA 2003 would "
                          "publish 'home' instead)"),
    ("name", "\u03b4\u03bf\u03ba\u03b9\u03bc\u03ae\u03c2", "would be published as"),
    ("name", "ex\u200dample", "(U+200D) is not allowed"),
])
def test_names_idna_2003_would_change_are_refused_naming_the_option(tmp_path, option, value, words):
    env = AgentEnv(tmp_path)
    wan(env)
    options = {"domain": "example.com", "name": "home", option: value}
    env.config(AGENT + section("provider", "dry", type="log")
               + section("record", "r", provider="dry", type="A", interface="wan", **options))
    done = env.run("check")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].startswith("ddns-agent: %s:%d: r.%s: invalid %s %r: "
                                                  % (env.conf, line_of(env, option, "record"), option,
                                                     option, value))
    assert words in done.stderr


def test_names_both_idna_versions_agree_on_are_published(tmp_path):
    env = AgentEnv(tmp_path)
    wan(env)
    env.config(AGENT + section("provider", "dry", type="log")
               + record("r", "dry", "b\u00fccher.example", "B\u00fcro"))
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert "xn--bro-hoa.xn--bcher-kva.example A" in done.stderr


# -- check catches what every update would trip on -------------------------------------------------

def test_check_refuses_a_cacert_that_is_no_certificate(tmp_path):
    env = AgentEnv(tmp_path)
    wan(env)
    garbage = tmp_path / "ca.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    env.config(AGENT + section("provider", "duck", type="duckdns", token=DUCK_TOKEN,
                               endpoint="https://127.0.0.1:9", cacert=garbage)
               + record("home", "duck", "duckdns.org", "myhome"))
    os.chmod(env.conf, 0o600)
    done = env.run("check")
    assert done.returncode == 2, outputs(done)
    assert done.stderr.splitlines()[0].startswith(
        "ddns-agent: %s:%d: duck.cacert: cannot load CA certificates from %s"
        % (env.conf, env.conf.read_text().split("\n").index("config provider 'duck'") + 1, garbage))


def test_check_refuses_a_header_with_a_line_break(tmp_path):
    env = AgentEnv(tmp_path)
    wan(env)
    env.config(AGENT + section("provider", "hook", type="webhook", token=DUCK_TOKEN,
                               url="https://127.0.0.1:9/u?ip={ip}",
                               headers="X-Key: {token}\nX-Injected: 1")
               + record("home", "hook"))
    os.chmod(env.conf, 0o600)
    for args in (("check",), ("update",)):
        done = env.run(*args)
        assert done.returncode == 2, outputs(done)
        assert done.stderr.splitlines()[0] == (
            "ddns-agent: %s:%d: hook.headers: holds a line break; expected one line of printable text"
            % (env.conf, line_of(env, "headers")))


def test_status_masks_a_secret_an_older_version_left_in_the_state_file(tmp_path):
    # not named like a secret on purpose: this test itself writes it into a state file
    old_value = "duck-written-by-an-older-agent-7f3e"
    env = AgentEnv(tmp_path)
    wan(env)
    env.config(AGENT + section("provider", "duck", type="duckdns", token=old_value,
                               endpoint="https://127.0.0.1:9")
               + record("home", "duck", "duckdns.org", "myhome"))
    os.chmod(env.conf, 0o600)
    env.state.mkdir(mode=0o700)
    saved = {"records": {"home": {"result": "failed", "time": 1, "address": None,
                                  "error": "HTTP 400 for /update?token=%s\x1b[2J\nforged" % old_value}}}
    (env.state / "state.json").write_text(json.dumps(saved))
    (env.state / "state.json").chmod(0o600)
    for args in (("status",), ("status", "--json")):
        done = env.run(*args)
        assert done.returncode == 0, done.stderr
        assert old_value not in done.stdout and "\x1b" not in done.stdout
        assert "token=***" in done.stdout
    assert len(env.run("status").stdout.splitlines()) == 1
