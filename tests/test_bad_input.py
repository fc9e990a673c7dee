"""Bad input: any config text, any netifd answer and any provider answer ends in a clean error.

Property-based (hypothesis): the UCI reader on valid grammar mixed with junk, the netifd readers on
arbitrary JSON-like structures and on arbitrary bytes from the stand-in ubus, and every HTTP
provider's parsing on arbitrary statuses, headers and bodies. Only `ddns_agent.errors` classes may
come out, never KeyError, TypeError, ValueError, AttributeError or UnicodeDecodeError. Then the
config refusals a user meets: a private WAN address, a domain that is no name, a TTL out of range.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time

import pytest
from agent_env import REAL, STANDIN, AgentEnv, status_with
from fakes import FakeResponse, Fault
from fakes.server import FakeHttp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ddns_agent import addresses, config, netifd, sources
from ddns_agent.errors import ConfigError, DdnsError, SourceError
from ddns_agent.providers import REGISTRY, load
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.secret import Secret

FIXTURE = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                         HealthCheck.too_slow])

# -- the UCI reader: valid grammar mixed with junk --------------------------------------------------

SECTION_TYPES = ["agent", "provider", "record", "package", "recrod", "", "x y"]
SECTION_NAMES = ["", "cf", "home", "home6", "ns", "agent", "a-b", "a.b", "@record[0]", "x" * 70, "é"]
OPTION_NAMES = sorted(set(
    list(config.AgentConfig.__slots__) + list(config._RECORD_OPTIONS) + list(config.COMMON_OPTIONS)
    + [o for info in REGISTRY.values() for o in info.required + info.optional + info.secrets
       + info.record_options]
    + [o + "_file" for info in REGISTRY.values() for o in info.secrets]
    + ["bogus", "ttl ", "a.b", "-x", "", "Domain"]))
VALUES = st.one_of(st.sampled_from([
    "", "0", "1", "yes", "off", "-1", "60", "300", "86400", "86401", "1e3", "0x10", "١٢٣", "24h", "7d",
    "example.com", "home", "@", "*", "*.home", "bücher.example", "exa..com", "-bad.com", "a" * 64 + ".com",
    "A", "AAAA", "aaaa", "MX", "wan", "wan6", "lan", "eth0", "br-lan", "::1234", "::1:2:3:4:5", "1.2.3.4",
    "log", "cloudflare", "dnspod", "rfc2136", "webhook", "dyndns2", "duckdns", "nope",
    "https://127.0.0.1:1/x", "http://[::1]:99999/", "ftp://x", "/etc/hostname", "/dev/null", "/dev/zero",
    "/nonexistent/f", "relative/path", "netifd", "netlink upnp", "stun url", "debug", "loud",
    "192.168.1.1", "stun.example.net:3478", "host:0", "{ip}", "key-name", "MDEyMzQ1Njc4OQ==", "not base64!",
]), st.text(max_size=12))
QUOTES = st.sampled_from(["'%s'", '"%s"', "%s", "'%s", '"%s\\"', "'%s'#c"])


@st.composite
def uci_text(draw) -> str:
    """A UCI file: sections and options of the agent's vocabulary, some quoted wrongly, some junk."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["config", "c", "config", "package", "option", "#", "junk"]))
        if kind == "junk":
            lines.append(draw(st.text(max_size=20)))
            continue
        if kind in ("package", "#"):
            lines.append("%s %s" % (kind, draw(st.text(max_size=8))))
            continue
        name = draw(st.sampled_from(SECTION_NAMES))
        head = "%s %s" % (kind, draw(st.sampled_from(SECTION_TYPES)))
        lines.append(head + (" " + draw(QUOTES) % name if name else ""))
        for _ in range(draw(st.integers(0, 7))):
            word = draw(st.sampled_from(["option", "list", "o", "l", "\toption", "option"]))
            option = draw(st.sampled_from(OPTION_NAMES))
            lines.append("%s %s %s" % (word, option, draw(QUOTES) % draw(VALUES)))
    return draw(st.sampled_from(["\n", "\r\n", ";\n"])).join(lines) + draw(st.sampled_from(["", "\n", "\\"]))


@settings(FIXTURE, max_examples=500)
@given(uci_text())
def test_uci_with_junk_ends_in_a_config_or_errors_that_name_file_and_line(tmp_path, text):
    path = tmp_path / "ddns_agent"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    cfg, errors = config.check(str(path))
    assert (cfg is None) == bool(errors)
    last = text.count("\n") + 2
    for e in errors:
        assert isinstance(e, ConfigError)
        assert str(e).startswith("%s:" % path) and "\n" not in str(e)
        assert 0 <= e.line <= last
    if cfg is not None:
        from ddns_agent.state import config_hash

        for r in cfg.records:  # a valid config is usable as a whole
            assert r.provider in cfg.providers and r.type in ("A", "AAAA")
            assert config_hash(r, cfg.providers[r.provider])


@settings(FIXTURE, max_examples=15)
@given(uci_text())
def test_check_command_on_junk_exits_0_or_2_with_one_line_per_problem(tmp_path_factory, text):
    env = AgentEnv(tmp_path_factory.mktemp("check"))
    env.conf.write_bytes(text.encode("utf-8", "surrogatepass"))
    done = env.run("check")
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr
    problems = [ln for ln in done.stderr.splitlines() if ": warning: " not in ln]  # exposure.py's
    if done.returncode == 2:  # every problem on its line, then how many
        assert problems.pop() == "ddns-agent: %d problem(s) in %s" % (len(problems), env.conf)
    assert problems and all(line.startswith("ddns-agent: %s:" % env.conf) for line in problems) \
        or done.returncode == 0


# -- netifd: arbitrary JSON-like status objects -----------------------------------------------------

ADDRESS_TEXT = st.sampled_from([
    "203.0.113.7", "198.51.100.1", "2001:db8::1", "2001:db8:100::", "2001:db8:100:ff00::", "192.168.1.1",
    "10.0.0.1", "100.64.0.1", "127.0.0.1", "169.254.1.1", "0.0.0.0", "224.0.0.1", "fe80::1", "fd00::1",
    "::", "::1", "ff02::1", "::ffff:203.0.113.7", "<hidden>", "1.2.3", "2001:db8::/64", "", " 203.0.113.7",
    "2001:db8::1%eth0", "\ud800", "١.٢.٣.٤"])
KEYS = st.one_of(st.sampled_from([
    "up", "pending", "available", "autostart", "dynamic", "proto", "device", "address", "mask",
    "preferred", "valid", "ipv4-address", "ipv6-address", "ipv6-prefix", "ipv6-prefix-assignment",
    "local-address", "errors", "code", "route", "dns-server", "data", "target"]), st.text(max_size=6))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-2**80, 2**80),
                    st.floats(allow_nan=True), ADDRESS_TEXT, st.text(max_size=8))
JSONLIKE = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(KEYS, inner, max_size=5), max_leaves=25)
MASKS = st.one_of(st.integers(-1, 129), st.sampled_from(["64", "/64", "x", 64.0, None, True]), JSONLIKE)
ENTRY = st.fixed_dictionaries(
    {"address": st.one_of(ADDRESS_TEXT, JSONLIKE)},
    optional={"mask": MASKS, "preferred": st.one_of(st.integers(-5, 2**70), JSONLIKE),
              "valid": st.one_of(st.integers(), JSONLIKE),
              "local-address": st.one_of(st.fixed_dictionaries({"address": ADDRESS_TEXT}, optional={
                  "mask": MASKS}), JSONLIKE)})
LISTS = st.one_of(st.lists(st.one_of(ENTRY, JSONLIKE), max_size=4), JSONLIKE)
STATUS = st.fixed_dictionaries({}, optional={
    "up": st.one_of(st.booleans(), JSONLIKE), "pending": JSONLIKE, "available": JSONLIKE,
    "errors": st.one_of(st.lists(st.dictionaries(st.just("code"), JSONLIKE)), JSONLIKE),
    "ipv4-address": LISTS, "ipv6-address": LISTS, "ipv6-prefix": LISTS,
    "ipv6-prefix-assignment": LISTS, "route": LISTS, "data": JSONLIKE})


def record(rtype: str, suffix: str | None = None, allow_private: bool = False):
    return config.RecordConfig("home", "p", "example.com", "home", rtype, interface="wan",
                               ipv6_suffix=suffix, allow_private=allow_private)


@settings(max_examples=600, deadline=None)
@given(STATUS, st.sampled_from([4, 6]))
def test_netifd_readers_raise_nothing_but_source_errors(status, family):
    assert netifd.is_up(status) in (True, False)
    assert isinstance(netifd.down_reason(status, "wan"), str)
    assert isinstance(netifd.has_prefix_assignment(status), bool)
    assert all(isinstance(line, str) for line in netifd.fingerprint(status).splitlines())
    for read in (lambda: netifd.candidates(status, family, "wan"),
                 lambda: netifd.local_candidates(status, "lan")):
        try:
            found = read()
        except SourceError:
            continue
        for c in found:
            assert c.address.version == (family if "local" not in c.origin else 6)
    try:
        netifd.suffix_candidates(status, "::1234", "lan")
    except (SourceError, ValueError):  # ValueError: documented, a prefix too long for a suffix
        pass


@settings(max_examples=600, deadline=None)
@given(STATUS, st.sampled_from([("A", None), ("AAAA", None), ("AAAA", "::1234"), ("AAAA", "::1:0:0:1")]),
       st.booleans())
def test_sources_observe_always_answers_a_selection(status, kind, allow_private):
    cache = sources.Cache()
    cache.get(("netifd", "wan"), lambda: status)
    rec = record(kind[0], kind[1], allow_private)
    sel = sources.observe(rec, None, cache)
    assert sel.status in (addresses.OK, addresses.DOWN, addresses.REFUSED, addresses.ERROR, addresses.NONE)
    assert isinstance(sel.reason, str)
    if sel.status == addresses.OK:
        address = ipaddress.ip_address(sel.address)
        assert address.version == (6 if kind[0] == "AAAA" else 4)
        assert addresses.refusal(address, allow_private) is None
    else:
        assert sel.address is None and sel.reason


@settings(max_examples=300, deadline=None)
@given(JSONLIKE)
def test_fingerprint_takes_any_json_value(value):
    text = netifd.fingerprint(value)
    lines = text.split("\n")  # not splitlines(): a value may hold \x0c or \x1c, which are not line ends here
    assert lines[-1] == ""
    assert lines[:-1] == sorted(set(lines[:-1]))


# -- netifd: arbitrary bytes from the stand-in ubus ---------------------------------------------------

@pytest.fixture
def ubus_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "%s:%s" % (STANDIN, os.environ.get("PATH", "")))
    monkeypatch.setenv("UBUS_STANDIN_DIR", str(tmp_path))
    return tmp_path


def _jsonish_bytes():
    return st.one_of(
        st.binary(max_size=80),
        JSONLIKE.map(lambda v: json.dumps(v).encode()),
        STATUS.map(lambda v: json.dumps(v).encode()),
        st.tuples(STATUS.map(json.dumps), st.integers(0, 200), st.binary(max_size=3)).map(
            lambda t: t[0].encode()[:t[1]] + t[2]))


@settings(FIXTURE, max_examples=60)
@given(_jsonish_bytes())
@example(b'{"up": true, "ipv4-address": [{"address": "\\ud800", "mask": 24}]}')
@example(b"\xff\xfe{}")
@example(b"1" * 5000)
def test_netifd_status_from_any_ubus_output_is_an_object_or_a_source_error(ubus_dir, data):
    (ubus_dir / "wan.json").write_bytes(data)
    try:
        status = netifd.status("wan")
    except SourceError as e:
        assert "wan" in str(e)
        return
    assert isinstance(status, dict)
    netifd.fingerprint(status)
    sel = sources.observe(record("A"), None, _cached(status))
    assert sel.status in (addresses.OK, addresses.DOWN, addresses.REFUSED, addresses.ERROR, addresses.NONE)


def deep(depth: int) -> str:
    return ('{"up": true, "ipv4-address": [{"address": "203.0.113.7", "mask": 24}], "data": %s%s}'
            % ("[" * depth, "]" * depth))


@pytest.fixture(params=["ujson", "stdlib json"])
def json_backend(request, monkeypatch):
    """Run once with each JSON module jsonlib may use (a router has only the standard library's)."""
    from ddns_agent import jsonlib

    if request.param == "ujson":
        module = pytest.importorskip("ujson")
        monkeypatch.setattr(jsonlib, "dumps", lambda obj, indent=0: module.dumps(obj, ensure_ascii=False))
    else:
        module = json
        monkeypatch.setattr(jsonlib, "dumps", lambda obj, indent=0: json.dumps(obj, ensure_ascii=False))
    monkeypatch.setattr(jsonlib, "_json", module)
    return request.param


@pytest.mark.parametrize("text", [deep(1020), deep(5000), "[" * 100000, '"\\ud800"',
                                  '{"up": true, "ipv4-address": [{"address": "\\udc00", "mask": 24}]}'],
                         ids=["nested 1020 deep", "nested 5000 deep", "only brackets", "surrogate",
                              "surrogate address"])
def test_netifd_parser_turns_nesting_and_surrogates_into_source_errors(monkeypatch, json_backend, text):
    monkeypatch.setattr(netifd, "_reader", lambda timeout: lambda obj: text)
    try:
        status = netifd.status("wan")
    except SourceError as e:
        assert "network.interface.wan" in str(e)
        return
    fp = netifd.fingerprint(status)  # deep but parsed: a loop, not a RecursionError
    assert fp == "203.0.113.7\n"
    assert sources.observe(record("A"), None, _cached(status)).address == "203.0.113.7"


def _cached(status) -> sources.Cache:
    cache = sources.Cache()
    cache.get(("netifd", "wan"), lambda: status)
    return cache


@pytest.fixture(params=["ujson", "stdlib json"])
def cli_json(request, tmp_path):
    """Environment for an agent process using ujson (opt-in), or with ujson blocked (as on OpenWrt)."""
    if request.param == "ujson":
        return {"DDNS_AGENT_JSON": "ujson"}
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "ujson.py").write_text("raise ImportError('blocked by the test')\n")
    return {"DDNS_AGENT_JSON": "", "PYTHONPATH": str(shim)}


UBUS_GARBAGE = [  # (what ubus printed, exit code of `update`, published?)
    (deep(900).encode(), 0, True),
    (b'{"up": true, "ipv4-address": [{"address": "\\ud800", "mask": 24}]}', 1, False),
    (b'{"up": true, "ipv4-address": [{"address": "203.0.113.7", "mask": 24}], "route": [{"address": '
     b'"\\ud800"}]}', 1, False),
    (b"\xff\xfe\x00", 1, False),
    (b'{"up": true, "ipv4-address": "203.0.113.7"}', 0, False),  # no IPv4 address listed
    (b'{"up": true, "ipv4-address": [{"address": ["203.0.113.7"]}]}', 1, False),
    (b'{"up": true, "ipv4-address": [{"address": "203.0.113.7/24"}]}', 1, False),
    (b"null", 1, False),
    (b"", 1, False),
]


@pytest.mark.parametrize("data,code,published", UBUS_GARBAGE, ids=[
    "nested 900 deep", "lone surrogate", "surrogate elsewhere", "not UTF-8", "not a list", "not a string",
    "with a mask", "null", "empty"])
def test_garbage_from_ubus_through_the_cli_is_a_clean_failure(tmp_path, cli_json, data, code, published):
    env = AgentEnv(tmp_path)
    env.env["DDNS_AGENT_JSON"] = cli_json["DDNS_AGENT_JSON"]
    if "PYTHONPATH" in cli_json:
        env.env["PYTHONPATH"] = "%s:%s" % (cli_json["PYTHONPATH"], env.env["PYTHONPATH"])
    env.config("config provider 'demo'\n\toption type 'log'\n\n"
               "config record 'home'\n\toption provider 'demo'\n\toption domain 'example.com'\n"
               "\toption name 'home'\n\toption interface 'wan'\n")
    (env.ubus_dir / "wan.json").write_bytes(data)
    for args in (("plan",), ("plan", "--json"), ("status",)):
        done = env.run(*args)
        # plan fails as update does when netifd's answer cannot be read
        expected = code if args[0] == "plan" else 0
        assert done.returncode == expected and "Traceback" not in done.stderr, done.stderr
    done = env.run("-v", "update", "--interface", "wan")
    assert "Traceback" not in done.stderr and done.returncode == code, done.stderr
    assert ("home.example.com A: published 203.0.113.7" in done.stderr) == published
    if code == 1:  # the next hotplug event must start the agent again
        assert not (env.state / "fp" / "wan").exists()


# -- every HTTP provider's answer parsing ------------------------------------------------------------

#: options a provider needs that cannot be a generic secret
PLAIN_OPTIONS = {
    "dnspod": {"login_token": "31415,0123456789abcdef0123456789abcdef"},
    "dyndns2": {"username": "router"},
    "webhook": {"url": "https://fake.test/update?host={fqdn}&ip={ip}&key={token}", "token": "hook-token-1"},
    "tencentcloud": {"secret_id": "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"},
    "alidns": {"access_key_id": "testid"},
}
HTTP_PROVIDERS = sorted(t for t in REGISTRY if t not in ("log", "rfc2136"))

STATUSES = st.one_of(st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 409, 429, 500, 502, 503]),
                     st.integers(100, 599))
HEADER_VALUES = st.one_of(st.sampled_from([
    "", "0", "1", "-1", "30", "1e9", "99999999999999999999", "1" * 400, "²", "١", " 5 ",
    "Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", "not a date", "application/json",
    "text/plain; charset=utf-8", "text/html"]), st.text(max_size=10))
HEADER_NAMES = ["Retry-After", "Content-Type", "Date", "X-Request-Id", "Location"]
HEADERS = st.dictionaries(st.sampled_from(HEADER_NAMES), HEADER_VALUES, max_size=3)
WORDS = st.sampled_from([
    "good 203.0.113.7", "nochg 203.0.113.7", "good 127.0.0.1", "good", "nochg", "badauth", "notfqdn",
    "nohost", "numhost", "abuse", "badagent", "dnserr", "911", "!donator", "OK", "KO",
    "OK\n203.0.113.7\n\nUPDATED", "OK\n\n\nNOCHANGE", "success", "", "\x00", "good 203.0.113.7\nbadauth"])
ID = st.one_of(st.sampled_from(["", "1", "44146113", "c" * 32, "a/b", "../x"]), st.integers(), st.none(),
               st.booleans(), JSONLIKE)
VALUE = st.one_of(st.sampled_from(["203.0.113.7", "2001:db8::7", "203.0.113.9", "", "x"]), JSONLIKE)
TYPE = st.one_of(st.sampled_from(["A", "AAAA"]), JSONLIKE)


def some(**fields) -> st.SearchStrategy:
    """A dict with any subset of `fields` (name -> strategy), or any JSON-like value instead."""
    return st.one_of(st.fixed_dictionaries({}, optional=fields), JSONLIKE)


CLOUDFLARE = st.fixed_dictionaries({"success": st.one_of(st.booleans(), JSONLIKE)}, optional={
    "errors": st.one_of(st.lists(some(code=JSONLIKE, message=JSONLIKE)), JSONLIKE),
    "result": st.one_of(st.lists(some(id=ID, name=st.one_of(st.just("home.example.com"), JSONLIKE), type=TYPE,
                                      content=VALUE, ttl=JSONLIKE)),
                        some(id=ID, content=VALUE, name=JSONLIKE)),
    "result_info": some(total_pages=JSONLIKE)})
DNSPOD = st.fixed_dictionaries({"status": some(code=st.one_of(st.sampled_from(
    ["1", "10", "104", "8", "-1", "-2", "-8", "83", 1, "9"]), JSONLIKE), message=JSONLIKE)}, optional={
    "records": st.one_of(st.lists(some(id=ID, name=st.one_of(st.just("home"), JSONLIKE), type=TYPE,
                                       line=st.one_of(st.just("默认"), JSONLIKE), value=VALUE,
                                       ttl=st.one_of(st.sampled_from(["600", "²", "-1", ""]), JSONLIKE))),
                         JSONLIKE),
    "record": some(id=ID), "domains": JSONLIKE, "info": JSONLIKE})
RECORD_KEYS = ["RecordId", "Name", "Type", "Value", "TTL", "Line", "LineId", "Status", "RR", "DomainName"]
TENCENT = st.fixed_dictionaries({"Response": some(
    Error=some(Code=JSONLIKE, Message=JSONLIKE),
    RecordList=st.one_of(st.lists(st.dictionaries(st.sampled_from(RECORD_KEYS), st.one_of(VALUE, ID))),
                         JSONLIKE),
    RecordId=ID, DomainList=JSONLIKE, RequestId=JSONLIKE)})
ALIYUN = st.dictionaries(
    st.sampled_from(["Code", "Message", "RequestId", "RecordId", "DomainRecords", "TotalCount", "Domains"]),
    st.one_of(VALUE, ID, st.dictionaries(st.sampled_from(["Record", "Domain"]), st.one_of(
        st.lists(st.dictionaries(st.sampled_from(RECORD_KEYS), st.one_of(VALUE, ID))), JSONLIKE))))
SHAPED = st.one_of(CLOUDFLARE, DNSPOD, TENCENT, ALIYUN)


def _body(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


BODIES = st.one_of(st.binary(max_size=60), WORDS.map(str.encode), JSONLIKE.map(_body), SHAPED.map(_body),
                   st.sampled_from([b'{"status": {"code": "1", "message": "\\ud800"}}', b"[" * 5000,
                                    b'{"success": false, "errors": [{"code": [1], "message": "x"}]}',
                                    b'{"success": false, "errors": 5}']))
FAULTS = st.sampled_from([None, None, None, Fault(close=True), Fault(truncate=True), Fault(delay=99)])


def provider_for(ptype: str, http) -> object:
    info = REGISTRY[ptype]
    options = {"endpoint": http.url}
    options.update(PLAIN_OPTIONS.get(ptype, {}))
    for name in info.required + info.secrets:
        options.setdefault(name, "test-%s-0123456789" % name)
    options = {k: Secret(v) if k in info.secrets else v for k, v in options.items()}
    return load(ptype)(options, http)


def _spec(data, ptype: str) -> RecordSpec:
    rtype = data.draw(st.sampled_from(["A", "AAAA"]), label="type")
    return RecordSpec("home", "duckdns.org" if ptype == "duckdns" else "example.com",
                      data.draw(st.sampled_from(["home", "@", "a.b"]), label="name"), rtype,
                      data.draw(st.sampled_from([None, 600, 300]), label="ttl"))


@pytest.mark.parametrize("ptype", HTTP_PROVIDERS)
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 250)), deadline=None)
@given(data=st.data())
def test_provider_answers_of_any_shape_end_in_a_project_error(ptype, data):
    def answer(req):
        fault = data.draw(FAULTS, label="fault")
        if fault is not None:
            http.inject(fault)
        return FakeResponse(data.draw(STATUSES, label="status"), data.draw(HEADERS, label="headers"),
                            data.draw(BODIES, label="body"))

    http = FakeHttp(answer, read_s=5)
    provider = provider_for(ptype, http)
    spec = _spec(data, ptype)
    address = "2001:db8::7" if spec.type == "AAAA" else "203.0.113.7"
    remote = Remote(data.draw(st.one_of(st.none(), st.sampled_from(["c" * 32 + "/" + "d" * 32, "44146113",
                                                                   "1", "a/b", ""])), label="id"),
                    data.draw(st.sampled_from([None, "203.0.113.5"]), label="value"))
    call = data.draw(st.sampled_from(["find", "create", "update", "check"]), label="call")
    try:
        if call == "find":
            result = provider.find(spec)
            assert result is None or isinstance(result, Remote)
        elif call == "create":
            assert isinstance(provider.create(spec, address), Remote)
        elif call == "update":
            assert isinstance(provider.update(spec, remote, address), Remote)
        else:
            assert isinstance(provider.check(), str)
    except DdnsError as e:
        str(e).encode("utf-8")  # fit for a log line and the state file


# -- config refusals a user meets -------------------------------------------------------------------

REFUSAL_CONFIG = """
config agent
	option log_level 'debug'

config provider 'demo'
	option type 'log'

config record 'home'
	option provider 'demo'
	option domain '%(domain)s'
	option name 'home'
	option type 'A'
	option interface 'wan'
%(extra)s"""


@pytest.fixture
def env(tmp_path):
    e = AgentEnv(tmp_path)
    e.interface("wan", REAL / "dhcp-public" / "status_wan_up.json")
    return e


def test_a_private_wan_address_is_refused_with_the_reason_and_published_with_allow_private(env):
    env.config(REFUSAL_CONFIG % {"domain": "example.com", "extra": ""})
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": "192.168.1.23", "mask": 24}]}))
    [item] = json.loads(env.run("plan", "--json").stdout)["records"]
    assert item["action"] == "refuse"
    assert "192.168.1.23 is a private (RFC 1918) address" in item["reason"]
    assert "allow_private 1" in item["reason"]
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert "home.example.com A: not published: 192.168.1.23 is a private (RFC 1918) address" in done.stderr
    assert "published 192.168.1.23" not in done.stderr
    [row] = json.loads(env.run("status", "--json").stdout)["records"]
    assert (row["result"], row["address"]) == ("refused", None)

    env.config(REFUSAL_CONFIG % {"domain": "example.com", "extra": "\toption allow_private '1'\n"})
    done = env.run("update")
    assert done.returncode == 0 and "home.example.com A: published 192.168.1.23" in done.stderr


@pytest.mark.parametrize("domain,extra,where,message", [
    ("exa..com", "", "domain", "invalid domain 'exa..com': empty label"),
    ("-x.example.com", "", "domain",
     "invalid domain '-x.example.com': label '-x' starts or ends with a hyphen"),
    ("ex ample.com", "", "domain", "invalid domain 'ex ample.com': label 'ex ample' may only hold letters, "
                                   "digits, - and _"),
    ("example.com", "\toption ttl '0'\n", "ttl", "expected an integer 1-86400, got '0'"),
    ("example.com", "\toption ttl '86401'\n", "ttl", "expected an integer 1-86400, got '86401'"),
    ("example.com", "\toption ttl '-5'\n", "ttl", "expected an integer 1-86400, got '-5'"),
    ("example.com", "\toption ttl 'x'\n", "ttl", "expected an integer 1-86400, got 'x'"),
], ids=["empty label", "hyphen", "space", "ttl 0", "ttl too big", "ttl negative", "ttl not a number"])
def test_bad_domain_or_ttl_is_refused_with_file_line_section_option_and_exit_2(env, domain, extra, where,
                                                                                message):
    text = REFUSAL_CONFIG % {"domain": domain, "extra": extra}
    env.config(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("\toption %s " % where))
    for args in (("update",), ("plan",), ("status",), ("check",)):
        done = env.run(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
        first = done.stderr.splitlines()[0]
        assert first == "ddns-agent: %s:%d: home.%s: %s" % (env.conf, line, where, message)
    assert not (env.state / "state.json").exists()


# -- RFC 2136: answers that carry a valid TSIG but anything else --------------------------------------

TSIG_SECRET = b"0123456789abcdef0123456789abcdef"  # the bytes of bind.SPEC_SECRET
ZONE_LABELS = ("example", "test")


def _name(parts) -> bytes:
    return b"".join(bytes((len(p),)) + p.encode() for p in parts) + b"\0"


def _signed(request: bytes, body: bytes, counts: tuple, flags: int, error: int, other: bytes,
            when: int) -> bytes:
    """`body` (sections after the header) as an answer to `request`, TSIG-signed here, independently."""
    import hashlib
    import hmac
    import struct

    from ddns_agent.providers import rfc2136

    request_mac = rfc2136.Answer(request).tsig.mac
    key, alg = _name(("ddns-key",)), _name(("hmac-sha256",))
    unsigned = request[:2] + struct.pack("!5H", flags, *counts) + body
    variables = (key + struct.pack("!HI", 255, 0) + alg
                 + struct.pack("!HIHHH", when >> 32, when & 0xFFFFFFFF, 300, error, len(other)) + other)
    mac = hmac.new(TSIG_SECRET, struct.pack("!H", len(request_mac)) + request_mac + unsigned + variables,
                   hashlib.sha256).digest()
    rdata = (alg + struct.pack("!HIHH", when >> 32, when & 0xFFFFFFFF, 300, len(mac)) + mac
             + request[:2] + struct.pack("!HH", error, len(other)) + other)
    return (request[:2] + struct.pack("!5H", flags, counts[0], counts[1], counts[2], counts[3] + 1) + body
            + key + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata)


RR_OWNERS = st.sampled_from([ZONE_LABELS, ("home",) + ZONE_LABELS, ("x",), ()])
RR_TYPES = st.one_of(st.sampled_from([1, 28, 6, 5, 250]), st.integers(0, 65535))
SOA_RDATA = st.tuples(st.binary(max_size=12), st.binary(max_size=24)).map(
    lambda t: _name(("ns1",) + ZONE_LABELS) + t[0] + t[1])
RDATA = st.one_of(st.binary(max_size=20), st.sampled_from([bytes(4), bytes(16), b"\xcb\x00\x71\x07"]),
                  SOA_RDATA, st.sampled_from([b"\xc0\x0c", b"\xc0\xff", b"\x03ns1\xc0", b"\x40abc"]))


class SignedAnswers:
    """A UDP server on 127.0.0.1 answering each request as `plan` says, with a valid TSIG."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.plan: dict = {}
        self.running = True
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import struct

        from ddns_agent.providers import rfc2136

        while self.running:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            p = self.plan
            end = rfc2136.Answer(wire).name(12)[1] + 4  # past the question
            body = wire[12:end] + b"".join(_name(o) + struct.pack("!HHIH", t, 1, ttl, len(r)) + r
                                           for o, t, ttl, r in p["records"])
            flags = 0x8000 | (struct.unpack("!H", wire[2:4])[0] & 0x7800) | p["aa"] | p["rcode"]
            self.sock.sendto(_signed(wire, body, (1, len(p["records"]), 0, 0), flags, p["error"], p["other"],
                                     int(time.time())), peer)

    def close(self) -> None:
        self.running = False
        self.sock.close()


@pytest.fixture(scope="module")
def signed_answers():
    server = SignedAnswers()
    yield server
    server.close()


@settings(FIXTURE, max_examples=400)
@given(st.data())
def test_rfc2136_signed_answers_of_any_content_end_in_a_project_error(signed_answers, data):
    import base64

    from ddns_agent.providers import rfc2136

    signed_answers.plan = {
        "records": data.draw(st.lists(st.one_of(
            st.tuples(st.just(ZONE_LABELS), st.just(6), st.just(60), RDATA),  # what check() reads
            st.tuples(st.just(("home",) + ZONE_LABELS), st.sampled_from([1, 28]), st.just(60), RDATA),
            st.tuples(RR_OWNERS, RR_TYPES, st.integers(0, 2**32 - 1), RDATA)), max_size=4), label="records"),
        "aa": data.draw(st.sampled_from([0x400, 0x400, 0]), label="AA"),
        "rcode": data.draw(st.one_of(st.just(0), st.integers(0, 15)), label="rcode"),
        "error": data.draw(st.sampled_from([0, 0, 0, 0, 16, 17, 18, 22, 99]), label="TSIG error"),
        "other": data.draw(st.sampled_from([b"", b"\x00\x00\x65\x53\xf1\x00", b"\x01"]), label="other")}
    secret = Secret(base64.b64encode(TSIG_SECRET).decode())
    provider = rfc2136.Rfc2136({"server": "127.0.0.1", "port": str(signed_answers.port), "timeout": "2",
                                "key_name": "ddns-key", "key_secret": secret,
                                "zone": data.draw(st.sampled_from(["example.test", None]), label="zone")})
    rtype = data.draw(st.sampled_from(["A", "AAAA"]), label="type")
    spec = RecordSpec("home", "example.test", "home", rtype, 60)
    address = "2001:db8::7" if rtype == "AAAA" else "203.0.113.7"
    call = data.draw(st.sampled_from(["find", "update", "check"]), label="call")
    try:
        if call == "find":
            found = provider.find(spec)
            assert found is None or isinstance(found, Remote)
        elif call == "update":
            assert provider.update(spec, Remote(None, None), address).value == address
        else:
            assert isinstance(provider.check(), str)
    except DdnsError as e:
        str(e).encode("utf-8")
