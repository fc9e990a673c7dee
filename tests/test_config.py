"""config.py, uci.py, ucitypes.py: UCI as libuci reads it, validation into Config, every problem named."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddns_agent import config
from ddns_agent.config import ConfigError, check, load, parse
from ddns_agent.providers import REGISTRY
from ddns_agent.secret import Secret

# ------------------------------------------------------------------------------------------ helpers


def write(tmp_path, text: str, name: str = "ddns_agent") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def problems(tmp_path, text: str) -> list:
    path = write(tmp_path, text)
    cfg, errors = check(path)
    assert cfg is None
    return [str(e).replace(path, "F") for e in errors]


def grammar_error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, "F")
    return str(info.value)


def options(text: str, index: int = 0) -> dict:
    return {k: v for k, (v, _) in parse(text, "F")[index].options.items()}


PROVIDER = "config provider 'cf'\n\toption type 'log'\n"
RECORD = ("config record 'home'\n\toption provider 'cf'\n\toption domain 'example.com'\n"
          "\toption interface 'wan'\n")

# ------------------------------------------------------------------------------------------ grammar


def test_file_written_by_uci_commit_is_read_exactly():
    # `uci commit` output: blank line, unindented config, tab-indented single-quoted options,
    # a ' inside a value written as '\'' (UCI_QUOTE_ESCAPE), anonymous sections without a name
    text = ("\nconfig agent\n\toption log_level 'info'\n"
            "\nconfig provider 'cf'\n\toption type 'webhook'\n\toption url 'https://x/?q=it'\\''s'\n"
            "\nconfig record\n\tlist source 'upnp'\n\tlist source 'stun'\n\n")
    sections = parse(text, "F")
    assert [(s.type, s.name, s.line, s.anonymous) for s in sections] == [
        ("agent", "@agent[0]", 2, True), ("provider", "cf", 5, False), ("record", "@record[0]", 9, True)]
    assert sections[1].options == {"type": ("webhook", 6), "url": ("https://x/?q=it's", 7)}
    assert sections[2].options == {"source": (["upnp", "stun"], 10)}


def test_abbreviations_leading_whitespace_and_package_line():
    text = "package ddns_agent\n   c agent main\n  o enabled 0\n\t l source auto\n p other\n"
    [section] = parse(text, "F")
    assert (section.type, section.name, section.line) == ("agent", "main", 2)
    assert section.options == {"enabled": ("0", 3), "source": (["auto"], 4)}


def test_comments_whole_line_and_after_an_unquoted_hash():
    text = ("# header\n  # indented\nconfig agent # trailing\n"
            "\toption a 'x # y'\n\toption b x#y z\n\toption c \"#\"#q\n")
    assert options(text) == {"a": "x # y", "b": "x", "c": "#"}


def test_semicolon_separates_commands_on_one_line():
    sections = parse("config agent; option a 1; option b '2;3'\nconfig record r;o c 4", "F")
    assert sections[0].options == {"a": ("1", 1), "b": ("2;3", 1)}
    assert (sections[1].name, sections[1].options) == ("r", {"c": ("4", 2)})


def test_double_quotes_escape_the_next_character_and_single_quotes_escape_nothing():
    text = r"""config agent
	option d "a\"b\\c\n\'"
	option s 'a\b\\'
	option u a\ b\'c
"""
    assert options(text) == {"d": "a\"b\\cn'", "s": "a\\b\\\\", "u": "a b'c"}


def test_adjacent_parts_concatenate():
    assert options("config agent\n option v ab'c d'\"e f\"g\n") == {"v": "abc de fg"}


def test_whitespace_inside_single_quotes_and_glued_quoted_parts_are_kept():
    text = "config agent\n\toption a '\t x\r'\t\n option b 'c''d'\n option c '' \n option 'd' e'f'\n"
    [section] = parse(text, "F")
    assert section.options == {"a": ("\t x\r", 2), "b": ("cd", 3), "d": ("ef", 5)}  # c: empty removes


UCI_WORD = st.one_of(st.text("ab_.:\xa0\x1c-", min_size=1, max_size=4),
                     st.text("ab \t\r#;\"", max_size=4).map("'{}'".format))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text("ab_", min_size=1, max_size=3), st.lists(UCI_WORD, max_size=2))
                .map(lambda x: " \t".join([x[0], *x[1]])), max_size=6))
def test_a_line_reads_the_same_when_a_semicolon_ends_it(lines):
    # plain lines take a fast path, a `;` sends them through the token by token grammar
    def read(text: str):
        try:
            return [(s.type, s.name, s.line, s.options) for s in parse(text, "F")]
        except ConfigError as e:
            return str(e)
    text = "config agent main\n" + "".join("option " + line + "\n" for line in lines)
    assert read(text) == read(text.replace("\n", ";\n"))


UCI_SPACE = st.text(" \t\r\v\f", min_size=1, max_size=2)
UCI_KEYWORD = st.one_of(st.sampled_from(["config", "c", "option", "o", "list", "l", "package", "p"]),
                        st.sampled_from(["'option'", "confg", "x-y", ""]), UCI_WORD)
UCI_LINE = st.tuples(
    st.text(" \t\r", max_size=2), UCI_KEYWORD,
    st.lists(st.one_of(UCI_WORD, st.sampled_from(["a_b", "''", "'a#b'", "x#y", "type"])), max_size=3),
    st.lists(UCI_SPACE, min_size=3, max_size=3), st.sampled_from(["", "#", " # c 'd", "#x;y", "\t"]),
).map(lambda x: x[0] + x[1] + "".join(s + w for s, w in zip(x[3], x[2])) + x[4])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(UCI_LINE, max_size=8))
def test_any_line_reads_the_same_on_the_fast_path_and_token_by_token(lines):
    # _LINE takes most lines in one match; a `;` before each line break sends every one of them
    # through _TOKEN_RE, the grammar's full form, so both must agree on sections, options and errors
    def read(text: str):
        errors = []
        sections = parse(text, "F", errors)
        return [(s.type, s.name, s.line, s.options) for s in sections], [str(e) for e in errors]
    text = "config agent main\n" + "".join(line + "\n" for line in lines)
    assert read(text) == read(text.replace("\n", ";\n"))


def test_quoted_values_span_lines_and_later_lines_keep_their_numbers():
    text = "config agent\n option a 'one\ntwo'\n option b \"x\ny\"\n option c z\n"
    [section] = parse(text, "F")
    assert section.options == {"a": ("one\ntwo", 2), "b": ("x\ny", 4), "c": ("z", 6)}


def test_backslash_newline_continues_a_line():
    text = "config agent\n option a \"long\\\nvalue\"\n option \\\n  b bare\\\nword\n option c 3\n"
    [section] = parse(text, "F")
    assert section.options == {"a": ("longvalue", 2), "b": ("bareword", 4), "c": ("3", 7)}


def test_crlf_line_endings_are_accepted():
    assert options("config agent\r\n\toption a '1'\r\n\toption b 2\r\n") == {"a": "1", "b": "2"}


def test_anonymous_sections_are_numbered_per_type_counting_named_ones():
    text = "config record\nconfig record named\nconfig agent\nconfig record\n"
    assert [s.name for s in parse(text, "F")] == ["@record[0]", "named", "@agent[0]", "@record[2]"]


def test_repeats_follow_libuci():
    text = ("config record r\n option a 1\n option a 2\n option b x\n option b ''\n"
            "config agent\nconfig record r\n option c 3\n list l 1\n list l ''\n")
    sections = parse(text, "F")
    assert [s.name for s in sections] == ["r", "@agent[0]"]
    assert sections[0].options == {"a": ("2", 3), "c": ("3", 8), "l": (["1", ""], 9)}


def test_option_and_list_with_the_same_name_conflict():
    assert grammar_error("config record r\n option source auto\n list source upnp\n") == (
        "F:3: r.source: list conflicts with option source on line 2 (use one or the other)")
    assert grammar_error("config record r\n list source auto\n option source upnp\n") == (
        "F:3: r.source: option conflicts with list source on line 2 (use one or the other)")


def test_unterminated_quote_names_the_line_where_it_opened():
    assert grammar_error("config agent\n option a 'one\ntwo\n") == "F:2: unterminated ' quote"
    assert grammar_error('config agent\n option a 1\n option b "x\\"\n') == 'F:3: unterminated " quote'


def test_option_outside_a_section():
    assert grammar_error("# x\noption enabled 1\n") == (
        "F:2: option outside a section (add a 'config TYPE NAME' line above it)")


def test_bad_section_and_option_names():
    assert grammar_error("config record 'my-home'\n") == (
        "F:1: invalid section name 'my-home' (use only letters, digits and _)")
    assert grammar_error("config record r\n option my-ttl 60\n") == (
        "F:2: r: invalid option name 'my-ttl' (use only letters, digits and _)")


def test_unknown_command_missing_and_extra_arguments():
    assert grammar_error("confg agent\n") == (
        "F:1: invalid command 'confg' (expected config, option, list or package)")
    assert grammar_error("config\n") == "F:1: config needs a section type"
    assert grammar_error("config record r\n option domain example com\n") == (
        "F:2: r.domain: too many arguments (quote a value that contains spaces)")
    assert grammar_error("config agent a\nconfig record a\n") == (
        "F:2: a: section 'a' was declared with type 'agent' on line 1")


def test_grammar_errors_are_all_collected_and_skip_only_their_command(tmp_path):
    text = "option a 1\nconfig bad-type? x-y\n option skipped 1\nconfig agent\n option ok 1\nfoo\n"
    errors = []
    sections = parse(text, "F", errors)
    assert [str(e) for e in errors] == [
        "F:1: option outside a section (add a 'config TYPE NAME' line above it)",
        "F:2: invalid section name 'x-y' (use only letters, digits and _)",
        "F:6: invalid command 'foo' (expected config, option, list or package)",
    ]
    assert [(s.name, s.options) for s in sections] == [("@agent[0]", {"ok": ("1", 5)})]
    assert len(problems(tmp_path, text)) == 3


# ------------------------------------------------------------------------------------------ validation


def test_full_configuration_loads_into_the_model(tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    os.chmod(token, 0o600)
    path = write(tmp_path, f"""
config agent
	option enabled 'yes'
	option log_level 'NOTICE'
	option state_dir '/tmp/state'
	option force_interval '12h'
	option retry_max '5'
	option retry_base '1.5'
	option retry_cap '2m'
	option timeout '30'

config provider 'cf'
	option type 'cloudflare'
	option api_token_file '{token}'
	option zone_id 'abc'
	option endpoint 'https://127.0.0.1:8443/client/v4'
	option timeout '5'

config record 'home'
	option provider 'cf'
	option domain 'Example.COM.'
	option name 'Home'
	option type 'aaaa'
	option interface 'wan6'
	option ipv6_suffix '::0:0:0:1234'
	option ttl '300'
	option allow_private 'on'
	list source 'netifd'
	list source 'netlink'
	option proxied 'true'

config record
	option provider 'cf'
	option domain 'bücher.example'
	option name '*.dyn'
	option source 'upnp stun'
	option stun_server 'stun.example.net:3478'
	option enabled 'off'
""")
    cfg = load(path)
    a = cfg.agent
    assert (a.enabled, a.log_level, a.state_dir, a.force_interval, a.retry_max, a.retry_base,
            a.retry_cap, a.timeout) == (True, "notice", "/tmp/state", 43200, 5, 1.5, 120, 30)
    cf = cfg.providers["cf"]
    assert (cf.name, cf.type, cf.line) == ("cf", "cloudflare", 12)
    assert cf.options == {"api_token": Secret("s3cr3t-token"), "zone_id": "abc",
                          "endpoint": "https://127.0.0.1:8443/client/v4", "timeout": 5.0}
    assert cf.options["api_token"].reveal() == "s3cr3t-token"
    home, anon = cfg.records
    assert (home.key, home.fqdn, home.type, home.interface, home.device, home.ipv6_suffix, home.ttl,
            home.enabled, home.allow_private, home.source, home.options, home.line) == (
        "home", "home.example.com", "AAAA", "wan6", None, "::1234", 300, True, True,
        ("netifd", "netlink"), {"proxied": "true"}, 19)
    assert (anon.key, anon.fqdn, anon.type, anon.source, anon.options, anon.enabled, anon.ttl) == (
        "@record[1]", "*.dyn.xn--bcher-kva.example", "A", ("upnp", "stun"),
        {"stun_server": "stun.example.net:3478"}, False, None)


def test_defaults_apply_when_options_are_absent(tmp_path):
    cfg = load(write(tmp_path, PROVIDER + RECORD))
    assert (cfg.agent.enabled, cfg.agent.force_interval, cfg.agent.state_dir) == (
        True, 86400, "/var/run/ddns_agent")
    [r] = cfg.records
    assert (r.name, r.type, r.source, r.ttl, r.enabled, r.allow_private, r.options) == (
        "@", "A", ("auto",), None, True, False, {})
    assert cfg.providers["cf"].options == {}


def test_secret_from_a_0600_file_never_prints(tmp_path):
    token = tmp_path / "token"
    token.write_text("tok-XYZ-123\n\n")
    os.chmod(token, 0o600)
    cfg = load(write(tmp_path, "config provider cf\n option type cloudflare\n"
                               " option api_token_file '%s'\n" % token))
    opts = cfg.providers["cf"].options
    assert opts["api_token"].reveal() == "tok-XYZ-123"
    assert "tok-XYZ" not in str(opts) + repr(opts) + str(opts["api_token"]) + repr(cfg.providers)
    assert str(opts) == "{'api_token': ***}"


def test_secret_given_inline_is_wrapped_too(tmp_path):
    cfg = load(write(tmp_path, "config provider dp\n option type dnspod\n option login_token '1,abc'\n"))
    assert cfg.providers["dp"].options["login_token"] == Secret("1,abc")
    assert "abc" not in repr(cfg.providers["dp"].options)


def test_unreadable_or_empty_token_file_names_the_option(tmp_path):
    (tmp_path / "empty").write_text(" \n")
    text = ("config provider a\n option type cloudflare\n option api_token_file '/nonexistent/token'\n"
            "config provider b\n option type cloudflare\n option api_token_file '%s'\n"
            "config provider c\n option type cloudflare\n option api_token_file '%s'\n"
            % (tmp_path / "empty", tmp_path))
    assert problems(tmp_path, text) == [
        "F:3: a.api_token_file: cannot read '/nonexistent/token': No such file or directory",
        "F:6: b.api_token_file: '%s' is empty" % (tmp_path / "empty"),
        "F:9: c.api_token_file: cannot read '%s': not a regular file" % tmp_path,
    ]


def test_provider_options_are_checked(tmp_path):
    text = ("config provider a\n option type cloudflare\n"
            "config provider b\n option type cloudflare\n option api_token x\n option api_token_file /x\n"
            "config provider c\n option type 'cloudflair'\n option anything 1\n"
            "config provider d\n option type log\n option endpoint 'ftp://h/'\n option cacert /no/ca.pem\n"
            " option timeout 0\n option api_tokn 1\n"
            "config provider\n option type log\n")
    assert problems(tmp_path, text) == [
        "F:1: a.api_token: missing required option (or api_token_file)",
        "F:6: b.api_token_file: give api_token or api_token_file, not both",
        "F:8: c.type: unknown provider type 'cloudflair' (did you mean 'cloudflare'?); "
        "known types: " + ", ".join(sorted(REGISTRY)),
        "F:12: d.endpoint: expected an http:// or https:// URL, got 'ftp://h/'",
        "F:13: d.cacert: no such file: '/no/ca.pem'",
        "F:14: d.timeout: expected seconds 1-120, got '0'",
        "F:15: d.api_tokn: unknown option",
        "F:16: @provider[4]: a provider section needs a name that records can refer to: "
        "config provider 'NAME'",
    ]


def test_unknown_option_gets_a_hint(tmp_path):
    assert problems(tmp_path, PROVIDER + RECORD + " option domian example.net\n") == [
        "F:7: home.domian: unknown option (did you mean 'domain'?)"]


def test_record_option_of_another_provider_type_is_unknown(tmp_path):
    text = "config provider cf\n option type dnspod\n option login_token 1,a\n" + RECORD.replace(
        "'cf'", "cf") + " option proxied 1\n option record_line x\n"
    assert problems(tmp_path, text) == ["F:8: home.proxied: unknown option"]


def test_record_without_or_with_a_wrong_provider(tmp_path):
    text = (PROVIDER + "config record a\n option domain example.com\n option device eth0\n"
            + RECORD.replace("'cf'", "'cff'"))
    assert problems(tmp_path, text) == [
        "F:3: a.provider: missing required option",
        "F:7: home.provider: no provider section named 'cff' (did you mean 'cf'?)"]


@pytest.mark.parametrize("ttl,message", [
    ("0", "expected an integer 1-86400, got '0'"),
    ("86401", "expected an integer 1-86400, got '86401'"),
    ("5m", "expected an integer 1-86400, got '5m'"),
    ("1.5", "expected an integer 1-86400, got '1.5'"),
])
def test_bad_ttl(tmp_path, ttl, message):
    assert problems(tmp_path, PROVIDER + RECORD + " option ttl '%s'\n" % ttl) == ["F:7: home.ttl: " + message]


@pytest.mark.parametrize("domain,message", [
    ("example", "invalid domain 'example': needs at least two labels, like example.com"),
    ("exa..com", "invalid domain 'exa..com': empty label"),
    ("-bad.com", "invalid domain '-bad.com': label '-bad' starts or ends with a hyphen"),
    ("a b.com", "invalid domain 'a b.com': label 'a b' may only hold letters, digits, - and _"),
    ("x" * 64 + ".com", "invalid domain '%s.com': label '%s' is longer than 63 characters" % ("x" * 64,
                                                                                           "x" * 64)),
    ("ex\ufffdmple.com", "invalid domain 'ex\ufffdmple.com': '\ufffd' (U+FFFD) is not allowed in a domain "
                         "name (IDNA 2008)"),
])
def test_bad_domain(tmp_path, domain, message):
    text = PROVIDER + RECORD.replace("'example.com'", "'%s'" % domain)
    assert problems(tmp_path, text) == ["F:5: home.domain: " + message]


def test_name_labels_and_wildcard(tmp_path):
    assert load(write(tmp_path, PROVIDER + RECORD + " option name '*'\n")).records[0].fqdn == "*.example.com"
    assert problems(tmp_path, PROVIDER + RECORD + " option name 'a.*'\n") == [
        "F:7: home.name: invalid name 'a.*': label '*' may only hold letters, digits, - and _"]
    assert problems(tmp_path, PROVIDER + RECORD + " option name '%s'\n" % ".".join(["x" * 60] * 4)) == [
        "F:7: home.name: the full name %s.example.com is longer than 253 characters"
        % ".".join(["x" * 60] * 4)]


def test_ipv6_suffix_needs_an_aaaa_record_and_64_bits(tmp_path):
    assert problems(tmp_path, PROVIDER + RECORD + " option ipv6_suffix '::1'\n") == [
        "F:7: home.ipv6_suffix: needs type AAAA (this record is type A)"]
    assert problems(tmp_path, PROVIDER + RECORD + " option type AAAA\n option ipv6_suffix '1::1'\n") == [
        "F:8: home.ipv6_suffix: '1::1' is not an interface id: it must be non-zero and fit in the "
        "low 64 bits, like ::1:2:3:4"]
    assert problems(tmp_path, PROVIDER + RECORD + " option type AAAA\n option ipv6_suffix 'zz'\n") == [
        "F:8: home.ipv6_suffix: expected an IPv6 interface id like ::1234 or ::1:2:3:4, got 'zz'"]


def test_sources_and_the_interface_requirement(tmp_path):
    base = "config record r\n option provider cf\n option domain example.com\n"
    assert problems(tmp_path, PROVIDER + base + " list source netifd\n list source upnpp\n") == [
        "F:3: r.interface: needs option interface (a netifd name like wan) or device (like eth0) "
        "for source netifd",
        "F:6: r.source: unknown source 'upnpp' (did you mean 'upnp'?); "
        "expected some of auto netifd netlink upnp natpmp stun url"]
    cfg = load(write(tmp_path, PROVIDER + base + " option source 'natpmp url upnp'\n"
                     " option ip_url 'https://127.0.0.1:8080/ip'\n"))
    assert (cfg.records[0].source, cfg.records[0].options) == (
        ("natpmp", "url", "upnp"), {"ip_url": "https://127.0.0.1:8080/ip"})
    assert problems(tmp_path, PROVIDER + base + " option source stun\n option stun_server stun\n"
                    " option device 'a/b'\n") == [
        "F:7: r.stun_server: expected host:port like stun.example.net:3478, got 'stun'",
        "F:8: r.device: expected a kernel device name like eth0 (at most 15 characters), got 'a/b'"]


def test_duplicate_record_is_reported_on_the_second(tmp_path):
    text = PROVIDER + RECORD + RECORD.replace("'home'", "'again'").replace("'example.com'", "'EXAMPLE.com.'")
    assert problems(tmp_path, text) == [
        "F:7: again: publishes example.com A through provider cf like record home on line 3"]
    load(write(tmp_path, text + " option type AAAA\n"))  # another type is another record


def test_agent_options(tmp_path):
    text = ("config agent\n option enabled maybe\n option log_level verbose\n option state_dir run\n"
            " option force_interval 1w\n option retry_max 11\n option retry_base 0\n"
            " option timeout 121\n option log_levl info\nconfig agent\n")
    assert problems(tmp_path, text) == [
        "F:2: @agent[0].enabled: expected 1/0, on/off, true/false, yes/no or enabled/disabled, got 'maybe'",
        "F:3: @agent[0].log_level: expected one of debug, info, notice, warning, error, got 'verbose'",
        "F:4: @agent[0].state_dir: expected an absolute path, got 'run'",
        "F:5: @agent[0].force_interval: expected a duration like 3600, 30m, 24h or 7d (0 = off), got '1w'",
        "F:6: @agent[0].retry_max: expected 0-10, got '11'",
        "F:7: @agent[0].retry_base: expected seconds, more than 0 and at most 3600, got '0'",
        "F:8: @agent[0].timeout: expected seconds 1-120, got '121'",
        "F:9: @agent[0].log_levl: unknown option (did you mean 'log_level'?)",
        "F:10: @agent[1]: only one agent section is allowed",
    ]
    assert problems(tmp_path, "config agent\n option retry_base 1m\n option retry_cap 30\n") == [
        "F:3: @agent[0].retry_cap: must be at least retry_base (60), got 30"]
    assert load(write(tmp_path, "config agent\n option force_interval 0\n")).agent.force_interval == 0


def test_unknown_section_type_and_single_value_options(tmp_path):
    assert problems(tmp_path, "config recrod x\nconfig agent\n list timeout 5\n") == [
        "F:1: x: unknown section type 'recrod' (did you mean 'record'?)",
        "F:3: @agent[0].timeout: expected a single value (use option, not list)"]


def test_check_reports_every_problem_at_once_and_load_raises_the_first(tmp_path):
    text = (PROVIDER + RECORD + " option ttl 0\n"
            "config record other\n option provider nope\n option domain 'bad..name'\n option device eth0\n"
            "config record fine\n option provider cf\n option domain example.org\n option device eth0\n")
    path = write(tmp_path, text)
    cfg, errors = check(path)
    assert cfg is None
    assert all(isinstance(e, ConfigError) and e.exit_code == 2 for e in errors)
    assert [(e.line, e.section, e.option) for e in errors] == [
        (7, "home", "ttl"), (9, "other", "provider"), (10, "other", "domain")]
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == "%s:7: home.ttl: expected an integer 1-86400, got '0'" % path


def test_missing_or_undecodable_file(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(ConfigError) as info:
        load(missing)
    assert str(info.value) == "%s: cannot read: No such file or directory" % missing
    assert [str(e) for e in check(str(tmp_path))[1]] == ["%s: cannot read: not a regular file" % tmp_path]
    bad = tmp_path / "latin1"
    bad.write_bytes(b"config agent\n# caf\xe9\n")
    assert [str(e) for e in check(str(bad))[1]] == ["%s:2: not UTF-8 text" % bad]


def test_config_module_stays_cheap_to_import():
    import subprocess
    import sys

    code = ("import sys; import ddns_agent.config; "
            "print(sorted(m for m in ('difflib', 'dataclasses', 'typing', 'ddns_agent.providers.cloudflare',"
            " 'encodings.idna', 'ipaddress') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(config.__file__)))
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------ property

FRAGMENTS = st.sampled_from([
    "config ", "option ", "list ", "package ", "c ", "o ", "l ", "\n", " ", "\t", ";", "#", "'", '"',
    "\\", "\\\n", "agent", "provider", "record", "cf", "type", "log", "cloudflare", "api_token",
    "api_token_file", "/", "domain", "example.com", "name", "@", "*", "ttl", "60", "source", "upnp",
    "ipv6_suffix", "::1", "AAAA", "interface", "wan", "device", "eth0", "enabled", "1", "24h",
    "provider cf", "bücher", "xn--", "-", "_", "."])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(), st.lists(st.one_of(FRAGMENTS, st.text(max_size=2)), max_size=60).map("".join)))
def test_any_text_ends_in_a_result_or_config_errors(tmp_path, text):
    try:
        assert isinstance(parse(text, "F"), list)
    except ConfigError as e:
        assert str(e).startswith("F:")
    path = tmp_path / "fuzz"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    cfg, errors = check(str(path))
    assert (cfg is None) == bool(errors)
    assert all(isinstance(e, ConfigError) and str(e).startswith(str(path)) for e in errors)
    if cfg is not None:
        assert isinstance(cfg, config.Config)
