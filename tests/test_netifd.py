"""netifd source on real OpenWrt samples: reading status through ubus, choosing addresses, fingerprints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from ddns_agent import netifd, sources
from ddns_agent.config import RecordConfig
from ddns_agent.errors import SourceError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "netifd"
REAL = FIXTURES / "openwrt-22.03-real"
STANDIN = Path(__file__).resolve().parent / "ubus_standin"
# The hotplug script's no-Python check (see netifd.fingerprint); busybox sort has no locale.
PIPELINE = """sed -n 's/^[[:space:]]*"address": "\\([^"]*\\)",\\{0,1\\}$/\\1/p' | sort -u"""


def load(path: Path) -> dict:
    """A status object as ubus returns it; JSON-RPC answers (`"result": [0, {...}]`) unwrapped."""
    data = json.loads(path.read_text())
    if "result" in data and isinstance(data["result"], list):
        return data["result"][1]
    return data


def split_dump(path: Path) -> dict:
    """`ubus call network.interface dump` as interface name -> status."""
    return {entry["interface"]: entry for entry in json.loads(path.read_text())["interface"]}


def tabbed(status: dict) -> str:
    """JSON printed the way `ubus call` prints it (tab-indented, `"key": value`)."""
    return json.dumps(status, indent="\t", ensure_ascii=False) + "\n"


def record(interface: str, type: str = "A", suffix: str | None = None, key: str = "",
           allow_private: bool = False, source: tuple = ("auto",)) -> RecordConfig:
    return RecordConfig(key or "%s_%s" % (interface, type), "p", "example.com", type=type,
                        interface=interface, ipv6_suffix=suffix, allow_private=allow_private,
                        source=source)


@pytest.fixture
def ubus_dir(tmp_path, monkeypatch):
    """The stand-in `ubus` first on PATH, serving <name>.json from the returned directory."""
    assert (FIXTURES / "SOURCES.md").exists(), "real netifd samples missing: %s" % FIXTURES
    monkeypatch.setitem(sys.modules, "ubus", None)  # no python3-ubus: take the command path
    monkeypatch.setenv("PATH", str(STANDIN) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("UBUS_STANDIN_DIR", str(tmp_path))
    monkeypatch.setenv("UBUS_STANDIN_LOG", str(tmp_path / "calls.log"))
    return tmp_path


def calls(directory: Path) -> list:
    log = directory / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def serve(directory: Path, name: str, status) -> None:
    (directory / (name + ".json")).write_text(status if isinstance(status, str) else tabbed(status))


# -- every real sample: what a record on it would publish -------------------------------------------

PRIVATE_NAT = "is a private (RFC 1918) address: the router sits behind NAT"
ULA = "is a unique local (ULA) address"
PD_PHASES = ("initial", "up", "changed", "old_prefix_expired")
PD_NEW = {"up": "2001:db8:100:ff00::", "changed": "2001:db8:200:ff00::",
          "old_prefix_expired": "2001:db8:200:ff00::"}


def _expectations() -> list:
    """(sample, interface, type, ipv6_suffix, status, address or words of the reason)."""
    cases = []
    for phase, wan in (("initial", None), ("up", "203.0.113.54"), ("changed", "198.51.100.54")):
        for sample in ("dhcp-public/status_%s_" + phase, "dhcp-public/dump_" + phase):
            def s(iface, sample=sample):
                return sample % iface if "%s" in sample else sample + ":" + iface
            cases += [
                (s("wan"), "wan", "A", None, "ok", wan) if wan else
                (s("wan"), "wan", "A", None, "down", "wan is down"),
                (s("wan"), "wan", "AAAA", None, "none" if wan else "down",
                 "wan has no IPv6 address" if wan else "wan is down"),
                (s("lan"), "lan", "A", None, "refused", "192.168.1.1 " + PRIVATE_NAT),
                (s("lan"), "lan", "AAAA", None, "refused", "fd5c:3a7e:91b4::1 " + ULA),
                (s("lan"), "lan", "AAAA", "::1234", "refused", "fd5c:3a7e:91b4::1234 " + ULA),
            ]
            if "dump" in sample:
                cases.append((s("loopback"), "loopback", "A", None, "refused", "127.0.0.1 is a loopback"))
    for phase in PD_PHASES:
        new = PD_NEW.get(phase)
        for sample in ("dhcpv6-pd/status_%s_" + phase, "dhcpv6-pd/dump_" + phase):
            def s(iface, sample=sample):
                return sample % iface if "%s" in sample else sample + ":" + iface
            if new is None:
                cases += [(s(i), i, t, None, "down", "%s is down" % i)
                          for i, t in (("wan", "A"), ("wan6", "AAAA"), ("wan6", "A"))]
                cases += [(s("wan6"), "wan6", "AAAA", "::1234", "down", "wan6 is down"),
                          (s("lan"), "lan", "AAAA", None, "refused", "fd5c:3a7e:91b4::1 " + ULA),
                          (s("lan"), "lan", "AAAA", "::1234", "refused", "fd5c:3a7e:91b4::1234 " + ULA)]
            else:
                cases += [
                    (s("wan"), "wan", "A", None, "ok", "203.0.113.62"),
                    (s("wan6"), "wan6", "AAAA", None, "ok", "2001:db8:0:1::1674"),
                    (s("wan6"), "wan6", "A", None, "none", "wan6 has no IPv4 address"),
                    (s("wan6"), "wan6", "AAAA", "::1234", "ok", new + "1234"),
                    (s("lan"), "lan", "AAAA", None, "ok", new + "1"),
                    (s("lan"), "lan", "AAAA", "::1234", "ok", new + "1234"),
                ]
            cases.append((s("lan"), "lan", "A", None, "refused", "192.168.1.1 " + PRIVATE_NAT))
    x86 = "dump_x86_generic_24.10.5_dhcp_wan"
    rax = "dump_rax3000m_25.12.0-rc1_wan_down"
    cases += [
        (x86 + ":wan", "wan", "A", None, "refused", "172.17.68.202 " + PRIVATE_NAT),
        (x86 + ":wan", "wan", "AAAA", None, "none", "wan has no IPv6 address"),
        (x86 + ":wan6", "wan6", "AAAA", None, "down", "wan6 is down (still connecting)"),
        (x86 + ":lan", "lan", "A", None, "refused", "192.168.1.1 " + PRIVATE_NAT),
        (x86 + ":lan", "lan", "AAAA", None, "refused", "fd33:bf38:54d5::1 " + ULA),
        (x86 + ":lan", "lan", "AAAA", "::1234", "refused", "fd33:bf38:54d5::1234 " + ULA),
        (x86 + ":loopback", "loopback", "AAAA", None, "none", "loopback has no IPv6 address"),
        (x86 + ":loopback", "loopback", "A", None, "refused", "127.0.0.1 is a loopback"),
        (rax + ":wan", "wan", "A", None, "down", "wan is down"),
        (rax + ":wan6", "wan6", "AAAA", None, "down", "wan6 is down"),
        (rax + ":wg0", "wg0", "AAAA", None, "down", "wg0 is down (NO_DEVICE)"),
        (rax + ":wwan", "wwan", "A", None, "down", "wwan is down (NO_DEVICE)"),
        (rax + ":wwan2", "wwan2", "A", None, "down", "wwan2 is down"),
        (rax + ":lan", "lan", "A", None, "refused", "192.168.233.1 " + PRIVATE_NAT),
        (rax + ":lan", "lan", "AAAA", None, "refused", "fd5f:638a:c21e::1 " + ULA),
        (rax + ":loopback", "loopback", "A", None, "refused", "127.0.0.1 is a loopback"),
        ("status_wan_pppoe_jsonrpc_kodemaniak", "wan", "A", None, "refused", "192.168.1.100 " + PRIVATE_NAT),
        ("status_wan_pppoe_jsonrpc_kodemaniak", "wan", "AAAA", None, "none", "wan has no IPv6 address"),
        ("status_static_sfp1_csdn", "SFP1", "A", None, "refused", "192.168.67.88 " + PRIVATE_NAT),
        ("status_wan6_dhcpv6_iana128_pd64_normal_redacted", "wan6", "AAAA", None, "error",
         "netifd wan6: ipv6-address '<hidden>' is not an IPv6 address"),
        ("status_wan6_dhcpv6_iana128_pd64_normal_redacted", "wan6", "AAAA", "::1234", "error",
         "netifd wan6: ipv6-prefix '<hidden>' is not an IPv6 address"),
        ("status_wan6_dhcpv6_iana128_pd64_normal_redacted", "wan6", "A", None, "none",
         "wan6 has no IPv4 address"),
    ]
    return cases


def sample_status(sample: str) -> dict:
    name, _, iface = sample.partition(":")
    base = REAL if "/" in name else FIXTURES
    path = base / (name + ".json")
    return split_dump(path)[iface] if iface else load(path)


@pytest.mark.parametrize("sample,interface,rtype,suffix,status,expected", _expectations(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_real_sample_gives_the_expected_address_or_reason(
        ubus_dir, sample, interface, rtype, suffix, status, expected):
    serve(ubus_dir, interface, sample_status(sample))
    chosen = sources.observe(record(interface, rtype, suffix))
    assert chosen.status == status, chosen
    if status == "ok":
        assert chosen.address == expected
        assert chosen.origin.startswith("netifd " + interface)
    else:
        assert chosen.address is None
        assert expected in chosen.reason


def test_every_sample_file_is_covered():
    covered = {sample.partition(":")[0] for sample, *_ in _expectations()}
    files = {str(p.relative_to(REAL if REAL in p.parents else FIXTURES))[:-5]
             for p in FIXTURES.rglob("*.json") if not p.name.startswith("board_")}
    assert files == covered


def test_cgnat_wan_is_refused_with_the_cgnat_explanation(ubus_dir):
    # No CGNAT capture exists; the real dhcp-public `up` status with a 100.64/10 lease is one.
    text = (REAL / "dhcp-public" / "status_wan_up.json").read_text().replace("203.0.113", "100.64.3")
    serve(ubus_dir, "wan", text.replace("100.64.3.54", "100.64.3.2"))
    chosen = sources.observe(record("wan"))
    assert (chosen.status, chosen.address) == ("refused", None)
    assert chosen.reason.startswith("100.64.3.2 is a carrier-grade NAT (CGNAT) address")
    assert "ask the ISP for a public address" in chosen.reason


def test_allow_private_publishes_the_nat_address(ubus_dir):
    serve(ubus_dir, "wan", sample_status("dump_x86_generic_24.10.5_dhcp_wan:wan"))
    chosen = sources.observe(record("wan", allow_private=True))
    assert (chosen.status, chosen.address) == ("ok", "172.17.68.202")


# -- reading status ------------------------------------------------------------------------------

def test_status_runs_ubus_call_with_compact_output(ubus_dir):
    expected = load(REAL / "dhcp-public" / "status_wan_up.json")
    serve(ubus_dir, "wan", expected)
    assert netifd.status("wan") == expected
    assert calls(ubus_dir) == ["-S call network.interface.wan status"]


def test_a_late_dynamic_interface_is_asked_for_twice(ubus_dir):
    expected = load(REAL / "dhcpv6-pd" / "status_wan6_up.json")
    (ubus_dir / "wan_6.json.pending").write_text(tabbed(expected))
    assert netifd.status("wan_6") == expected
    assert len(calls(ubus_dir)) == 2


def test_an_unknown_interface_is_a_clear_source_error(ubus_dir):
    with pytest.raises(SourceError) as e:
        netifd.status("wan6")
    assert str(e.value) == "interface wan6 does not exist in netifd (ubus: Not found)"
    assert len(calls(ubus_dir)) == 2


def test_malformed_json_is_a_source_error_not_a_traceback(ubus_dir):
    serve(ubus_dir, "wan", '{"up": true, "ipv4-address": [\n')
    with pytest.raises(SourceError, match="malformed JSON"):
        netifd.status("wan")
    serve(ubus_dir, "wan", "[1, 2]\n")
    with pytest.raises(SourceError, match="not an object"):
        netifd.status("wan")
    chosen = sources.observe(record("wan"))
    assert chosen.status == "error" and "not an object" in chosen.reason


def test_ubus_unreachable_is_reported_with_its_message(ubus_dir, monkeypatch):
    monkeypatch.setenv("UBUS_STANDIN_EXIT", "255")
    with pytest.raises(SourceError, match="Failed to connect to ubus"):
        netifd.status("wan")
    monkeypatch.setenv("UBUS_STANDIN_EXIT", "6")
    with pytest.raises(SourceError, match="Permission denied"):
        netifd.status("wan")


def test_a_hanging_ubus_is_cut_at_the_timeout(ubus_dir, monkeypatch):
    serve(ubus_dir, "wan", load(REAL / "dhcp-public" / "status_wan_up.json"))
    monkeypatch.setenv("UBUS_STANDIN_SLEEP", "30")
    with pytest.raises(SourceError, match="timed out after 0.5 s"):
        netifd.status("wan", timeout=0.5)


def test_no_ubus_at_all_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ubus", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SourceError, match="neither the python3-ubus module nor the ubus command"):
        netifd.status("wan")
    chosen = sources.observe(record("wan"))
    assert chosen.status == "error" and "python3-ubus" in chosen.reason


class FakeUbusModule(types.ModuleType):
    """python3-ubus 0.1.1 as far as netifd.status uses it: connect, get_connected, call -> [replies].

    As in the real module, connect() defaults to the pre-22.03 socket and fails with IOError
    unless ubusd listens on the path given; ubusd here listens on `listening` (22.03's path).
    """

    def __init__(self, objects: dict, missing_times: int = 0,
                 listening: str | None = "/var/run/ubus/ubus.sock") -> None:
        super().__init__("ubus")
        self.objects = objects
        self.missing_times = missing_times
        self.listening = listening
        self.connected = False
        self.tried: list = []
        self.calls: list = []

    def get_connected(self) -> bool:
        return self.connected

    def connect(self, socket_path: str = "/var/run/ubus.sock") -> bool:
        if self.connected:
            raise RuntimeError("You are already connected to ubus.")
        self.tried.append(socket_path)
        if socket_path != self.listening:
            raise OSError("Failed to connect to the ubus socket '%s'\n" % socket_path)
        self.connected = True
        self.stale = False
        return True

    def disconnect(self, deregister: bool = True) -> None:
        if not self.connected:
            raise RuntimeError("You are not connected to ubus.")
        self.connected = False

    def restart_ubusd(self) -> None:
        """As seen on 22.03: the old connection stays "connected", and finds no object any more."""
        self.stale = True

    def call(self, obj: str, method: str, arguments: dict, timeout: int = 0) -> list:
        if not self.connected:
            raise RuntimeError("You are not connected to ubus.")
        self.calls.append((obj, method, arguments, timeout))
        if obj not in self.objects or self.missing_times > 0 or self.stale:
            self.missing_times -= 1
            raise RuntimeError("Object '%s' was not found." % obj)
        return [self.objects[obj]]


def test_status_uses_the_python_binding_when_it_imports(tmp_path, monkeypatch):
    expected = load(REAL / "dhcpv6-pd" / "status_lan_changed.json")
    fake = FakeUbusModule({"network.interface.lan": expected})
    monkeypatch.setitem(sys.modules, "ubus", fake)
    monkeypatch.setenv("PATH", str(tmp_path))  # no ubus command: the binding must be enough
    assert netifd.status("lan", timeout=2.0) == expected
    assert netifd.status("lan") == expected
    assert fake.calls[0] == ("network.interface.lan", "status", {}, 2000)
    assert len(fake.calls) == 2  # connected once, then reused
    assert fake.tried == ["/var/run/ubus/ubus.sock"]  # 22.03's socket, not the binding's default


def test_binding_reaches_an_older_ubusd_on_the_old_socket(tmp_path, monkeypatch):
    expected = load(REAL / "dhcp-public" / "status_wan_up.json")
    fake = FakeUbusModule({"network.interface.wan": expected}, listening="/var/run/ubus.sock")
    monkeypatch.setitem(sys.modules, "ubus", fake)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert netifd.status("wan") == expected
    assert fake.tried == ["/var/run/ubus/ubus.sock", "/var/run/ubus.sock"]


def test_binding_retries_a_late_interface_once_then_gives_up(tmp_path, monkeypatch):
    expected = load(REAL / "dhcpv6-pd" / "status_wan6_up.json")
    fake = FakeUbusModule({"network.interface.wan_6": expected}, missing_times=1)
    monkeypatch.setitem(sys.modules, "ubus", fake)
    assert netifd.status("wan_6") == expected
    assert len(fake.calls) == 2
    with pytest.raises(SourceError, match=r"^interface wan9 does not exist in netifd \(ubus: Not found\)$"):
        netifd.status("wan9")


def test_binding_connects_again_after_ubusd_restarts(tmp_path, monkeypatch):
    expected = load(REAL / "dhcp-public" / "status_wan_up.json")
    fake = FakeUbusModule({"network.interface.wan": expected})
    monkeypatch.setitem(sys.modules, "ubus", fake)
    monkeypatch.setattr(netifd, "RETRY_PAUSE", 0)
    assert netifd.status("wan") == expected
    fake.restart_ubusd()  # `watch` lives on while procd restarts ubusd
    assert netifd.status("wan") == expected
    assert fake.tried == ["/var/run/ubus/ubus.sock"] * 2


def test_a_binding_that_cannot_connect_falls_back_to_the_ubus_command(ubus_dir, monkeypatch):
    expected = load(REAL / "dhcp-public" / "status_wan_up.json")
    serve(ubus_dir, "wan", expected)
    fake = FakeUbusModule({}, listening=None)
    monkeypatch.setitem(sys.modules, "ubus", fake)
    assert netifd.status("wan") == expected
    assert fake.calls == [] and len(fake.tried) == 2
    assert calls(ubus_dir) == ["-S call network.interface.wan status"]


def test_binding_connection_failure_without_the_command_names_both_sockets(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ubus", FakeUbusModule({}, listening=None))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SourceError) as e:
        netifd.status("wan")
    assert str(e.value) == ("cannot connect to ubus (tried /var/run/ubus/ubus.sock, /var/run/ubus.sock): "
                            "Failed to connect to the ubus socket '/var/run/ubus.sock'")


def test_ubus_output_over_the_limit_is_refused_not_held_in_memory(ubus_dir):
    huge = load(REAL / "dhcp-public" / "status_wan_up.json")
    huge["data"] = {"junk": "x" * (netifd.OUTPUT_LIMIT + 1)}
    serve(ubus_dir, "wan", huge)
    with pytest.raises(SourceError) as e:
        netifd.status("wan")
    assert str(e.value) == "ubus call network.interface.wan status printed more than 1024 KiB; not reading it"


# -- candidates from status ---------------------------------------------------------------------

def test_a_down_interface_has_no_candidates_and_is_not_up():
    down = load(REAL / "dhcpv6-pd" / "status_wan6_initial.json")
    assert not netifd.is_up(down)
    assert netifd.down_reason(down, "wan6") == "wan6 is down"  # cable unplugged: nothing more to say
    assert netifd.candidates(down, 6, "wan6") == []
    assert netifd.suffix_candidates(down, "::1", "wan6") == []
    assert netifd.local_candidates(down, "wan6") == []


def test_an_entry_that_is_not_an_address_is_a_source_error():
    status = load(REAL / "dhcp-public" / "status_wan_up.json")
    status["ipv4-address"][0]["address"] = 5
    with pytest.raises(SourceError, match="ipv4-address 5 is not an IPv4 address"):
        netifd.candidates(status, 4, "wan")
    status["ipv4-address"][0]["address"] = "2001:db8::1"
    with pytest.raises(SourceError, match="is not an IPv4 address"):
        netifd.candidates(status, 4, "wan")


def test_candidates_carry_lifetimes_and_deprecation():
    status = load(REAL / "dhcpv6-pd" / "status_wan6_changed.json")
    status["ipv6-address"].append({"address": "2001:db8:0:1::99", "mask": 128, "preferred": 0, "valid": 9})
    found = netifd.candidates(status, 6, "wan6")
    assert [(str(c.address), c.preferred, c.deprecated) for c in found] == [
        ("2001:db8:0:1::1674", 50, False), ("2001:db8:0:1::99", 0, True)]
    assert {c.origin for c in found} == {"netifd wan6"}


def test_suffix_candidates_put_the_newest_prefix_first():
    lan = load(REAL / "dhcpv6-pd" / "status_lan_changed.json")
    assert [(str(c.address), c.preferred) for c in netifd.suffix_candidates(lan, "::1234", "lan")] == [
        ("fd5c:3a7e:91b4::1234", None), ("2001:db8:200:ff00::1234", 50), ("2001:db8:100:ff00::1234", 20)]
    wan6 = load(REAL / "dhcpv6-pd" / "status_wan6_changed.json")  # old prefix listed first here
    assert [str(c.address) for c in netifd.suffix_candidates(wan6, "::1234", "wan6")] == [
        "2001:db8:200:ff00::1234", "2001:db8:100:ff00::1234"]


def test_local_candidates_skip_assignments_not_enabled():
    lan = load(REAL / "dhcpv6-pd" / "status_lan_up.json")
    lan["ipv6-prefix-assignment"][0]["local-address"] = {}
    assert [str(c.address) for c in netifd.local_candidates(lan, "lan")] == ["fd5c:3a7e:91b4::1"]


def test_a_bad_suffix_is_an_error_for_the_record(ubus_dir):
    serve(ubus_dir, "lan", load(REAL / "dhcpv6-pd" / "status_lan_up.json"))
    chosen = sources.observe(record("lan", "AAAA", "1::1"))
    assert chosen.status == "error" and "upper 64" in chosen.reason


# -- one read per interface and run; which records an event concerns ----------------------------

def test_records_on_one_interface_share_one_ubus_call(ubus_dir):
    for name in ("wan", "wan6", "lan"):
        serve(ubus_dir, name, load(REAL / "dhcpv6-pd" / ("status_%s_changed.json" % name)))
    records = [record("wan", "A", key="a"), record("wan", "AAAA", key="b"),
               record("wan6", "AAAA", key="c"), record("lan", "AAAA", key="d"),
               record("lan", "AAAA", "::1234", key="e"), record("lan", "A", key="f"),
               record("wan", "A", key="g", source=("pigeon",)),
               record("wan", "A", key="h", source=("pigeon", "netifd")),
               # one read, one answer per interface: still each record's own suffix and allow_private
               record("lan", "AAAA", "::5678", key="i"), record("lan", "A", key="j", allow_private=True),
               record("lan", "AAAA", "::1234", key="k")]
    chosen = sources.observe_all(records)
    assert {k: (s.status, s.address) for k, s in chosen.items()} == {
        "a": ("ok", "203.0.113.62"), "b": ("none", None), "c": ("ok", "2001:db8:0:1::1674"),
        "d": ("ok", "2001:db8:200:ff00::1"), "e": ("ok", "2001:db8:200:ff00::1234"),
        "f": ("refused", None), "g": ("error", None), "h": ("ok", "203.0.113.62"),
        "i": ("ok", "2001:db8:200:ff00::5678"), "j": ("ok", "192.168.1.1"),
        "k": ("ok", "2001:db8:200:ff00::1234")}
    assert chosen["g"].reason == "source pigeon is not available in this build"
    assert sorted(calls(ubus_dir)) == ["-S call network.interface.%s status" % n
                                       for n in ("lan", "wan", "wan6")]


def test_an_unreadable_interface_keeps_its_records_with_the_error(ubus_dir):
    chosen = sources.observe_all([record("wan_6", "AAAA", key="x"), record("wan_6", "A", key="y")])
    assert {s.status for s in chosen.values()} == {"error"}
    assert chosen["x"].reason == "interface wan_6 does not exist in netifd (ubus: Not found)"
    assert len(calls(ubus_dir)) == 2  # one read (with its one retry) for both records


def test_prefix_events_also_reach_aaaa_records_on_lan():
    recs = [record("wan", "A", key="a"), record("wan", "AAAA", key="b"), record("wan6", "AAAA", key="c"),
            record("lan", "AAAA", "::1234", key="d"), record("lan", "AAAA", key="e"),
            record("lan", "A", key="f"), record("wan_6", "AAAA", key="g"),
            RecordConfig("h", "p", "example.com", type="AAAA", device="eth0")]
    keys = lambda found: [r.key for r in found]  # noqa: E731
    assert keys(sources.related_records(recs, "wan")) == ["a", "b"]
    assert keys(sources.related_records(recs, "lan")) == ["d", "e", "f"]
    assert keys(sources.related_records(recs, "wan6")) == ["c", "b", "d", "e"]
    assert keys(sources.related_records(recs, "wan_6")) == ["g", "b", "d", "e"]
    assert keys(sources.related_records(recs, "eth0")) == ["h"]
    assert keys(sources.related_records(recs, "*")) == list("abcdefgh")


# -- fingerprint: what the hotplug script compares without starting Python ------------------------

def shell_fingerprint(text: str) -> str:
    done = subprocess.run(["/bin/sh", "-c", PIPELINE], input=text, capture_output=True, text=True,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
                          timeout=10, check=True)
    return done.stdout


def all_statuses() -> list:
    found = []
    for path in sorted(FIXTURES.rglob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data.get("interface"), list):
            found += [("%s:%s" % (path.name, n), s) for n, s in split_dump(path).items()]
        elif not path.name.startswith("board_"):
            found.append((path.name, load(path)))
    return found


def test_fingerprint_equals_the_shell_pipeline_on_every_sample():
    assert shutil.which("sed") and shutil.which("sort")
    checked = 0
    for path in sorted(FIXTURES.rglob("*.json")):
        text = path.read_text()
        assert netifd.fingerprint(json.loads(text)) == shell_fingerprint(text), path
        checked += 1
    for name, status in all_statuses():
        assert netifd.fingerprint(status) == shell_fingerprint(tabbed(status)), name
        checked += 1
    assert checked > 50
    assert netifd.fingerprint(load(REAL / "dhcpv6-pd" / "status_wan6_initial.json")) == ""


def test_fingerprint_through_the_standin_ubus_output(ubus_dir):
    status = load(REAL / "dhcpv6-pd" / "status_lan_changed.json")
    serve(ubus_dir, "lan", status)
    out = subprocess.run(["/bin/sh", "-c", "ubus call network.interface.lan status | " + PIPELINE],
                         capture_output=True, text=True, timeout=10, check=True,
                         env=dict(os.environ, LC_ALL="C")).stdout
    assert out == netifd.fingerprint(netifd.status("lan")) == (
        "192.168.1.1\n2001:db8:100:ff00::\n2001:db8:100:ff00::1\n2001:db8:200:ff00::\n"
        "2001:db8:200:ff00::1\nfd5c:3a7e:91b4::\nfd5c:3a7e:91b4::1\n")


def renewed(status: dict, seconds: int) -> dict:
    """A DHCPv6 renew that changes only lifetimes: every preferred/valid/uptime moved by `seconds`."""
    def walk(value):
        if isinstance(value, dict):
            return {k: (v + seconds if k in ("preferred", "valid", "uptime") and isinstance(v, int)
                        else walk(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value
    copy = walk(status)
    copy["updated"] = ["prefixes"]
    return copy


@pytest.mark.parametrize("name", ["wan6", "lan"])
def test_a_lifetime_only_renew_keeps_the_fingerprint_a_new_prefix_changes_it(name):
    up = load(REAL / "dhcpv6-pd" / ("status_%s_up.json" % name))
    renew = renewed(up, 3600)
    assert renew != up
    assert netifd.fingerprint(renew) == netifd.fingerprint(up)
    assert shell_fingerprint(tabbed(renew)) == shell_fingerprint(tabbed(up))
    changed = load(REAL / "dhcpv6-pd" / ("status_%s_changed.json" % name))
    assert netifd.fingerprint(changed) != netifd.fingerprint(up)
    assert shell_fingerprint(tabbed(changed)) != shell_fingerprint(tabbed(up))


# -- through the CLI, with the stand-in python3-ubus 0.1.1 (tests/standins/pyubus) ---------------

A_ON_WAN = """
config provider 'dry'
	option type 'log'

config record 'home4'
	option provider 'dry'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'
"""


def _with_binding(tmp_path, listening: str, ubus_command: bool):
    from agent_env import AgentEnv

    env = AgentEnv(tmp_path)
    env.config(A_ON_WAN)
    env.interface("wan", REAL / "dhcp-public" / "status_wan_up.json")
    pyubus = Path(__file__).resolve().parent / "standins" / "pyubus"
    env.env["PYTHONPATH"] = "%s:%s" % (pyubus, env.env["PYTHONPATH"])
    env.env["UBUS_STANDIN_SOCKET"] = listening
    env.env["UBUS_STANDIN_LOG"] = str(tmp_path / "calls.log")
    if not ubus_command:
        env.env["PATH"] = os.pathsep.join(d for d in env.env["PATH"].split(os.pathsep)
                                          if d != str(STANDIN) and not os.path.exists(d + "/ubus"))
    return env


def test_plan_with_python3_ubus_reads_netifd_on_the_22_03_socket(tmp_path):
    env = _with_binding(tmp_path, "/var/run/ubus/ubus.sock", ubus_command=False)
    done = env.run("plan")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:4] == ["home.example.com", "A", "publish", "203.0.113.54"]
    assert calls(tmp_path) == ["binding connect /var/run/ubus/ubus.sock",
                               "binding call network.interface.wan status"]


def test_update_with_a_binding_that_cannot_connect_publishes_through_the_ubus_command(tmp_path):
    env = _with_binding(tmp_path, "none", ubus_command=True)
    done = env.run("update")
    assert done.returncode == 0, done.stderr
    assert "home.example.com A: published 203.0.113.54" in done.stderr
    assert calls(tmp_path)[-1] == "-S call network.interface.wan status"


def test_plan_with_no_ubusd_at_all_says_so_and_fails(tmp_path):
    env = _with_binding(tmp_path, "none", ubus_command=False)
    done = env.run("plan")
    assert done.returncode == 1
    assert "cannot connect to ubus (tried /var/run/ubus/ubus.sock, /var/run/ubus.sock)" in done.stdout


def test_status_shows_a_netifd_read_error_per_record_until_a_read_succeeds(tmp_path):
    from agent_env import AgentEnv

    env = AgentEnv(tmp_path)
    env.config(A_ON_WAN)
    env.interface("wan", REAL / "dhcp-public" / "status_wan_up.json")
    assert env.run("update").returncode == 0
    env.env["UBUS_STANDIN_EXIT"] = "255"  # ubusd gone
    failed = env.run("update")
    assert failed.returncode == 1
    assert "error: home.example.com A: cannot connect to ubus" in failed.stderr
    row = json.loads(env.run("status", "--json").stdout)["records"][0]
    assert row["result"] == "published" and row["address"] == "203.0.113.54"  # kept, not deleted
    assert row["last_error"].startswith("cannot connect to ubus (is ubusd running?): Failed to connect")
    assert "error: cannot connect to ubus" in env.run("status").stdout
    plan = json.loads(env.run("plan", "--json").stdout)["records"][0]
    assert plan["action"] == "keep" and plan["error"].startswith("cannot connect to ubus")

    del env.env["UBUS_STANDIN_EXIT"]
    assert env.run("update").returncode == 0
    assert json.loads(env.run("status", "--json").stdout)["records"][0]["last_error"] is None


def test_status_of_a_record_on_a_missing_interface_says_so(tmp_path):
    from agent_env import AgentEnv

    env = AgentEnv(tmp_path)
    env.config(A_ON_WAN)  # no wan.json: netifd knows no such interface
    assert env.run("update").returncode == 1
    row = json.loads(env.run("status", "--json").stdout)["records"][0]
    assert row["result"] == "never"
    assert row["last_error"].startswith("interface wan does not exist in netifd (ubus: Not found)")
    plan = env.run("plan")
    assert plan.returncode == 1 and "interface wan does not exist in netifd" in plan.stdout


def test_update_refuses_a_100_mib_ubus_answer_with_one_line(tmp_path):
    from agent_env import AgentEnv

    env = AgentEnv(tmp_path)
    env.config(A_ON_WAN)
    huge = load(REAL / "dhcp-public" / "status_wan_up.json")
    huge["data"] = {"junk": "x" * (100 << 20)}
    serve(env.ubus_dir, "wan", huge)
    done = env.run("update")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "ddns_agent: error: home.example.com A: ubus call network.interface.wan status printed more "
        "than 1024 KiB; not reading it; keeping the published record"]


def test_a_huge_ubus_answer_on_the_hotplug_fast_path_is_one_error_line_too(tmp_path):
    from agent_env import AgentEnv

    env = AgentEnv(tmp_path)
    env.config(A_ON_WAN)
    env.interface("wan", REAL / "dhcp-public" / "status_wan_up.json")
    assert env.run("update", "--interface", "wan").returncode == 0  # leaves the fast path's summary
    huge = load(REAL / "dhcp-public" / "status_wan_up.json")
    huge["data"] = {"junk": "x" * (2 << 20)}
    serve(env.ubus_dir, "wan", huge)
    done = env.run("update", "--interface", "wan")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "ddns_agent: error: home.example.com A: ubus call network.interface.wan status printed more "
        "than 1024 KiB; not reading it; keeping the published record"]
