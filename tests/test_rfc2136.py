"""RFC 2136 + TSIG: the spec's wire vector, a real BIND9 driven by the real CLI, and answers a forger
or a broken network would give (from a dnspython-backed fake that checks our TSIG independently)."""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time

import pytest
from agent_env import REAL, AgentEnv, status_with
from bind import SPEC_SECRET, Bind, free_port, new_secret, require_bind
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ddns_agent.errors import AuthError, ConfigError, RejectedError, TransientError, UnconfirmedError
from ddns_agent.providers import rfc2136
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.secret import Secret

# specs/providers.md §8.3, the V9 vector
V9 = bytes.fromhex("".join("""
1234 2800 0001 0000 0002 0001
076578616d706c6504746573740000060001
04686f6d65c00c 0001 00ff 00000000 0000
c01e 0001 0001 0000003c 0004 cb007107
0864646e732d6b657900 00fa 00ff 00000000 003d
0b686d61632d73686132353600 00006553f100 012c 0020
42021d04bde50da661cab48f90838a12eed01068af14d8b5c6d69e6150d6b2b3
1234 0000 0000
""".split()))

SEED = ("other A 192.0.2.99", "www A 192.0.2.80", "www AAAA 2001:db8::80", 'home TXT "keep me"',
        "home A 192.0.2.1", "home A 192.0.2.2")
HOME = RecordSpec("home", "example.test", "home", "A", 60)


def spec_key() -> rfc2136.Key:
    return rfc2136.Key("ddns-key", "hmac-sha256", base64.b64decode(SPEC_SECRET))


def provider(server_port: int, secret: str = SPEC_SECRET, **options) -> rfc2136.Rfc2136:
    opts = {"server": "127.0.0.1", "port": str(server_port), "key_name": "ddns-key",
            "key_secret": Secret(secret)}
    opts.update(options)
    return rfc2136.Rfc2136(opts)


# -- wire format ---------------------------------------------------------------------------------

def test_v9_update_message_matches_the_spec_byte_for_byte():
    message = rfc2136.update_message(0x1234, "example.test", "home.example.test", "A", 60, "203.0.113.7")
    signed, mac = spec_key().sign(message, 1700000000)
    assert signed == V9
    assert len(signed) == 144
    assert mac.hex() == "42021d04bde50da661cab48f90838a12eed01068af14d8b5c6d69e6150d6b2b3"


def test_aaaa_update_is_understood_by_dnspython_with_the_same_key():
    import dns.message
    import dns.tsigkeyring

    message = rfc2136.update_message(7, "example.test.", "Home.Example.Test", "AAAA", 300, "2001:db8::7")
    signed, _ = spec_key().sign(message, int(time.time()))
    parsed = dns.message.from_wire(signed, keyring=dns.tsigkeyring.from_text({"ddns-key.": SPEC_SECRET}))
    text = parsed.to_text()
    assert "\nhome.example.test. ANY AAAA\n" in text  # delete RRset: TTL 0, class ANY
    assert "home.example.test. 300 IN AAAA 2001:db8::7" in text


# -- configuration -----------------------------------------------------------------------------------

@pytest.mark.parametrize("option,value,expected", [
    ("key_algorithm", "hmac-md4", "key_algorithm: expected one of hmac-sha1"),
    ("port", "99999", "port: expected a port 1-65535"),
    ("key_name", "bad..name", "key_name: expected a DNS name"),
])
def test_bad_option_values_name_the_option(option, value, expected):
    with pytest.raises(ConfigError, match=expected):
        provider(53, **{option: value})


def test_a_secret_that_is_not_base64_is_reported_without_echoing_it():
    with pytest.raises(ConfigError) as e:
        provider(53, secret="s3cret!not-base64")
    assert "key_secret" in str(e.value) and "s3cret" not in str(e.value)


def test_providers_command_lists_rfc2136_and_its_options(tmp_path):
    out = AgentEnv(tmp_path).run("providers").stdout
    line = out[out.index("rfc2136:"):]
    for option in ("server", "key_name", "key_secret (or key_secret_file)", "port", "key_algorithm",
                   "zone"):
        assert option in line.split("\n\n")[0]


# -- a fake server for answers BIND would not give ------------------------------------------------

class FakeDns:
    """UDP and TCP on one loopback port; `handler(wire, proto)` returns the answer or None (silence).

    Threads are daemons and poll a stop flag, so the server stops at teardown or with the process.
    """

    def __init__(self, handler) -> None:
        self.handler = handler
        self.port = free_port()
        self.received: list = []  # (proto, request wire)
        self._stop = threading.Event()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", self.port))
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind(("127.0.0.1", self.port))
        self._tcp.listen(4)
        self._held: list = []
        for target in (self._serve_udp, self._serve_tcp):
            threading.Thread(target=target, daemon=True).start()

    def _serve_udp(self) -> None:
        self._udp.settimeout(0.05)
        while not self._stop.is_set():
            try:
                wire, peer = self._udp.recvfrom(65535)
            except socket.timeout:
                continue
            self.received.append(("udp", wire))
            for reply in self.handler(wire, "udp") or ():
                self._udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        self._tcp.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except socket.timeout:
                continue
            conn.settimeout(5)
            size = struct.unpack("!H", conn.recv(2))[0]
            wire = b""
            while len(wire) < size:
                wire += conn.recv(size - len(wire))
            self.received.append(("tcp", wire))
            replies = self.handler(wire, "tcp")
            if replies is None:
                self._held.append(conn)  # silent: keep it open until teardown
                continue
            for reply in replies:
                conn.sendall(struct.pack("!H", len(reply)) + reply)
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        time.sleep(0.1)
        for s in [self._udp, self._tcp] + self._held:
            s.close()


@pytest.fixture
def fake():
    servers = []

    def start(handler) -> FakeDns:
        servers.append(FakeDns(handler))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def signed_answer(wire: bytes, rcode: int = 0, address: str | None = None,
                  secret: str | None = SPEC_SECRET) -> bytes:
    """What a correct server says: dnspython checks our request's TSIG, then signs its answer.

    `secret` None: no TSIG on the answer; another secret: signed with the wrong key.
    """
    import dns.flags
    import dns.message
    import dns.rrset
    import dns.tsigkeyring

    query = dns.message.from_wire(wire, keyring=dns.tsigkeyring.from_text({"ddns-key.": SPEC_SECRET}))
    answer = dns.message.make_response(query)
    answer.flags |= dns.flags.AA
    answer.set_rcode(rcode)
    if address:
        answer.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", address))
    if secret is None:
        answer.tsig = None
    elif secret != SPEC_SECRET:
        answer.use_tsig(dns.tsigkeyring.from_text({"ddns-key.": secret}), original_id=query.id)
        answer.request_mac = query.mac
    return answer.to_wire()


def test_answer_signed_by_the_key_is_accepted(fake):
    server = fake(lambda wire, proto: [signed_answer(wire, address="203.0.113.7")])
    p = provider(server.port)
    assert p.update(HOME, Remote(None, None), "203.0.113.7").value == "203.0.113.7"
    found = p.find(HOME)
    assert (found.value, found.ttl) == ("203.0.113.7", 60)


def flip(wire: bytes, offset: int) -> bytes:
    return wire[:offset] + bytes((wire[offset] ^ 1,)) + wire[offset + 1:]


@pytest.mark.parametrize("forge", [
    pytest.param(lambda w: flip(signed_answer(w, address="203.0.113.7"), 3), id="flag-flipped"),
    pytest.param(lambda w: signed_answer(w, address="203.0.113.7").replace(
        socket.inet_aton("203.0.113.7"), socket.inet_aton("198.51.100.66")), id="address-swapped"),
    pytest.param(lambda w: signed_answer(w, address="203.0.113.7", secret=new_secret()),
                 id="another-secret"),
    pytest.param(lambda w: signed_answer(w, address="203.0.113.7", secret=None), id="unsigned"),
])
def test_an_answer_whose_tsig_does_not_verify_is_not_believed(fake, forge):
    server = fake(lambda wire, proto: [forge(wire)])
    p = provider(server.port)
    with pytest.raises(UnconfirmedError, match="answer's TSIG did not verify"):
        p.find(HOME)
    with pytest.raises(UnconfirmedError, match="answer's TSIG did not verify"):
        p.update(HOME, Remote(None, None), "203.0.113.7")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_parses_into_anything_but_bad_answer(data):
    try:
        rfc2136.Answer(data)
    except rfc2136.BadAnswer:
        pass


def _signed_find_answer() -> tuple:
    request, mac = spec_key().sign(rfc2136.query_message(0x4242, "home.example.test", 1),
                                   int(time.time()))
    return signed_answer(request, address="203.0.113.7"), mac


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_changed_byte_after_the_id_fails_verification(data):
    wire, mac = _signed_find_answer()
    spec_key().verify(rfc2136.Answer(wire), mac, time.time())  # the untouched answer verifies
    offset = data.draw(st.integers(2, len(wire) - 1))
    bits = data.draw(st.integers(1, 255))
    # the TSIG owner (key name) enters the MAC in canonical lower case (RFC 8945 4.3.3), so a
    # case flip of one of its letters is the same answer, not a forgery
    assume(not (bits == 0x20 and chr(wire[offset]).isalpha()))
    forged = wire[:offset] + bytes((wire[offset] ^ bits,)) + wire[offset + 1:]
    with pytest.raises(rfc2136.BadAnswer):
        spec_key().verify(rfc2136.Answer(forged), mac, time.time())


def test_truncated_udp_answer_is_fetched_again_over_tcp(fake):
    def handler(wire, proto):
        if proto == "udp":
            return [wire[:2] + b"\x82\x00" + b"\x00" * 8]  # QR and TC, nothing else
        return [signed_answer(wire, address="203.0.113.7")]

    server = fake(handler)
    assert provider(server.port).find(HOME).value == "203.0.113.7"
    assert [proto for proto, _ in server.received] == ["udp", "tcp"]


def test_silent_udp_is_resent_a_bounded_number_of_times_then_tcp_is_tried(fake):
    server = fake(lambda wire, proto: None if proto == "udp" else [signed_answer(wire)])
    p = provider(server.port, timeout=1.0)
    assert p.update(HOME, Remote(None, None), "203.0.113.7").value == "203.0.113.7"
    protos = [proto for proto, _ in server.received]
    assert protos == ["udp"] * len(rfc2136.UDP_TRIES) + ["tcp"]
    assert len({wire for _, wire in server.received}) == 1  # the same signed message every time


def test_an_update_with_no_answer_at_all_is_unconfirmed_and_a_query_just_failed(fake):
    server = fake(lambda wire, proto: None)
    p = provider(server.port, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(UnconfirmedError, match="could not confirm"):
        p.update(HOME, Remote(None, None), "203.0.113.7")
    assert time.monotonic() - started < 10  # bounded by the timeout (generous margin)
    with pytest.raises(TransientError) as e:
        p.find(HOME)
    assert not isinstance(e.value, UnconfirmedError)


def test_a_server_nobody_listens_on_is_a_transient_failure_not_a_doubt():
    p = provider(free_port(), timeout=1.0)
    with pytest.raises(TransientError, match="cannot reach 127.0.0.1#") as e:
        p.update(HOME, Remote(None, None), "203.0.113.7")
    assert not isinstance(e.value, UnconfirmedError)


def test_stray_answers_with_another_id_are_ignored(fake):
    def handler(wire, proto):
        stray = bytes((wire[0] ^ 0xFF,)) + signed_answer(wire, address="198.51.100.66")[1:]
        return [stray, signed_answer(wire, address="203.0.113.7")]

    assert provider(fake(handler).port).find(HOME).value == "203.0.113.7"


@pytest.mark.parametrize("rcode,error,words", [
    (2, TransientError, "SERVFAIL"),
    (10, RejectedError, "NOTZONE"),
    (3, RejectedError, "NXDOMAIN"),
    (5, RejectedError, "refused by the server's update policy"),
])
def test_signed_error_codes_map_to_the_project_errors(fake, rcode, error, words):
    server = fake(lambda wire, proto: [signed_answer(wire, rcode=rcode)])
    with pytest.raises(error, match=words):
        provider(server.port).update(HOME, Remote(None, None), "203.0.113.7")


# -- a real BIND9 ------------------------------------------------------------------------------------

@pytest.fixture
def bind(tmp_path):
    require_bind()
    with Bind(tmp_path / "bind", records=SEED) as server:
        yield server


def agent_config(bind: Bind, secret: str | None = None, zone: str = "", names=("home",)) -> str:
    text = """
config agent
	option log_level 'debug'

config provider 'ns'
	option type 'rfc2136'
	option server '%s'
	option port '%d'
	option key_name '%s'
	option key_secret '%s'
""" % (bind.address, bind.port, bind.key_name, secret or bind.key_secret)
    if zone:
        text += "\toption zone '%s'\n" % zone
    for name in names:
        text += """
config record '%(n)s'
	option provider 'ns'
	option domain 'example.test'
	option name '%(n)s'
	option type 'A'
	option ttl '60'
	option interface 'wan'

config record '%(n)s6'
	option provider 'ns'
	option domain 'example.test'
	option name '%(n)s'
	option type 'AAAA'
	option interface 'wan'
""" % {"n": name}
    return text


def wan(env: AgentEnv, v4: str = "203.0.113.7", v6: str = "2001:db8::7") -> None:
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": v4, "mask": 24}],
                                        "ipv6-address": [{"address": v6, "mask": 64}]}))


@pytest.fixture
def env(tmp_path, bind):
    e = AgentEnv(tmp_path)
    e.config(agent_config(bind))
    wan(e)
    return e


def untouched(bind: Bind) -> None:
    assert bind.dig("other.example.test", "A") == [(300, "192.0.2.99")]
    assert bind.dig("www.example.test", "A") == [(300, "192.0.2.80")]
    assert bind.dig("www.example.test", "AAAA") == [(300, "2001:db8::80")]
    assert bind.dig("home.example.test", "TXT") == [(300, '"keep me"')]


def test_update_replaces_the_rrsets_with_the_ttl_asked_and_touches_nothing_else(env, bind):
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert "home.example.test A: published 203.0.113.7" in done.stderr
    assert bind.dig("home.example.test", "A") == [(60, "203.0.113.7")]  # both seeded RRs are gone
    assert bind.dig("home.example.test", "AAAA") == [(300, "2001:db8::7")]  # no ttl: 300
    untouched(bind)

    queries, updates = bind.signed_queries("home.example.test"), bind.updates()
    assert updates == 2

    wan(env, "203.0.113.8", "2001:db8::8")
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert "published 203.0.113.8 (was 203.0.113.7)" in done.stderr
    # steady state: one UPDATE per changed record, no read before it
    assert (bind.signed_queries("home.example.test"), bind.updates()) == (queries, updates + 2)
    assert bind.dig("home.example.test", "A") == [(60, "203.0.113.8")]
    assert bind.dig("home.example.test", "AAAA") == [(300, "2001:db8::8")]
    untouched(bind)


def test_unchanged_address_sends_no_update(env, bind):
    assert env.run("update").returncode == 0
    serial, updates = bind.serial(), bind.updates()
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert "published" not in done.stderr
    assert (bind.serial(), bind.updates()) == (serial, updates)


def test_address_the_server_already_holds_is_read_back_not_rewritten(tmp_path):
    require_bind()
    with Bind(tmp_path / "bind", records=("home 60 A 203.0.113.7", "home AAAA 2001:db8::7")) as ns:
        e = AgentEnv(tmp_path)
        e.config(agent_config(ns))
        wan(e)
        done = e.run("update")
        assert done.returncode == 0, done.stderr
        assert "remote already holds 203.0.113.7" in done.stderr
        assert "remote already holds 2001:db8::7" in done.stderr
        assert (ns.serial(), ns.updates()) == (1, 0)


def test_wrong_secret_is_refused_by_bind_and_reported_as_badsig(env, bind, tmp_path):
    wrong = new_secret()
    env.config(agent_config(bind, secret=wrong))
    done = env.run("update")
    assert done.returncode == 1
    line = [x for x in done.stderr.splitlines() if "home.example.test A: failed" in x][0]
    assert "TSIG key ddns-key (hmac-sha256) rejected" in line and "BADSIG" in line
    assert "tsig verify failure (BADSIG)" in bind.log()
    assert bind.serial() == 1 and bind.updates() == 0
    assert bind.dig("home.example.test", "A") == [(300, "192.0.2.1"), (300, "192.0.2.2")]
    state = (env.state / "state.json").read_text()
    assert json.loads(state)["records"]["home"]["result"] == "failed"
    for text in (done.stdout, done.stderr, state):
        assert wrong not in text and bind.key_secret not in text


def test_name_outside_the_update_policy_is_refused_as_such(env, bind):
    env.config(agent_config(bind, names=("nas",)))
    done = env.run("update")
    assert done.returncode == 1
    assert "nas.example.test A: failed: refused by the server's update policy (REFUSED)" in done.stderr
    assert "rejected by secure update" in bind.log()
    assert bind.dig("nas.example.test", "A") == []
    untouched(bind)


def test_check_online_passes_with_the_right_key_and_fails_with_a_wrong_one(env, bind):
    env.config(agent_config(bind, zone="example.test"))
    done = env.run("check", "--online")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "provider ns (rfc2136): OK: zone example.test serial 1" in done.stdout
    env.config(agent_config(bind, secret=new_secret(), zone="example.test"))
    done = env.run("check", "--online")
    assert done.returncode != 0
    assert "provider ns (rfc2136): FAILED: TSIG key ddns-key (hmac-sha256) rejected" in done.stdout
    assert "BADSIG" in done.stdout


def test_check_online_reports_a_zone_the_server_does_not_serve(env, bind):
    env.config(agent_config(bind, zone="elsewhere.test"))
    done = env.run("check", "--online")
    assert done.returncode != 0
    assert "does not serve zone elsewhere.test (REFUSED)" in done.stdout


def test_a_clock_off_by_an_hour_is_reported_as_badtime(bind):
    p = provider(bind.port, secret=bind.key_secret)
    p.clock = lambda: time.time() - 3600
    with pytest.raises(AuthError, match=r"BADTIME.*clock differs from this one by \+3[56]\d\d s"):
        p.update(HOME, Remote(None, None), "203.0.113.7")
    assert bind.serial() == 1


@pytest.mark.parametrize("algorithm", sorted(rfc2136.ALGORITHMS))
def test_every_algorithm_updates_a_real_bind(tmp_path, algorithm):
    require_bind()
    with Bind(tmp_path / "bind", key_algorithm=algorithm) as ns:
        p = provider(ns.port, secret=ns.key_secret, key_algorithm=algorithm, zone="example.test")
        assert "serial 1" in p.check()
        p.update(RecordSpec("home", "example.test", "home", "AAAA", 120), Remote(None, None),
                 "2001:db8::7")
        assert ns.dig("home.example.test", "AAAA") == [(120, "2001:db8::7")]
