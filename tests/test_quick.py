"""The no-change fast path answers only when a full cycle would change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_env import REAL, AgentEnv
from test_cli import LOG_CONFIG, published

from ddns_agent import netifd, quick

PROBE = ("import sys; from ddns_agent.cli import main; rc = main(sys.argv[1:]); "
         "print(rc, 'ddns_agent.config' in sys.modules, 'json' in sys.modules)")


@pytest.fixture
def env(tmp_path):
    e = AgentEnv(tmp_path)
    e.config(LOG_CONFIG)
    e.interface("wan", REAL / "dhcp-public" / "status_wan_up.json")
    e.interface("lan", REAL / "dhcpv6-pd" / "status_lan_up.json")
    return e


def probe(env, *args) -> list:
    out = subprocess.run([sys.executable, "-c", PROBE, "--config", str(env.conf), "--state-dir",
                          str(env.state), *args], env=env.env, capture_output=True, text=True)
    return out.stdout.split()


def all_status_files() -> list:
    return sorted(Path(REAL).rglob("status_*.json"))


@pytest.mark.parametrize("path", all_status_files(), ids=lambda p: "%s/%s" % (p.parent.name, p.name))
def test_fast_fingerprint_equals_the_agents_on_real_captures(path):
    data = json.loads(path.read_text())
    printed = json.dumps(data, indent="\t").encode()  # as `ubus call` prints it
    assert quick.fingerprint(printed) == netifd.fingerprint(data)


def test_second_unchanged_update_answers_before_loading_config(env):
    assert env.run("update").returncode == 0
    assert (env.state / "quick").exists()
    assert probe(env, "update") == ["0", "False", "False"]
    assert probe(env, "update", "--interface", "wan") == ["0", "False", "False"]


def test_a_new_address_takes_the_full_cycle_and_publishes(env):
    env.run("update")
    env.interface("wan", REAL / "dhcp-public" / "status_wan_changed.json")
    out = env.run("update", "--interface", "wan")
    assert [line.split("published ")[1] for line in published(out)] == [
        "198.51.100.54 (was 203.0.113.54)"]


def test_an_edited_config_takes_the_full_cycle(env):
    env.run("update")
    env.config(LOG_CONFIG.replace("'home'", "'house'", 1))
    os.utime(env.conf, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert probe(env, "update")[1] == "True"


def test_a_due_recheck_takes_the_full_cycle(env):
    env.run("update")
    lines = (env.state / "quick").read_text().split("\n")
    lines[2] = "next %d" % (time.time() - 5)
    (env.state / "quick").write_text("\n".join(lines))
    assert probe(env, "update")[1] == "True"


def test_verbose_force_and_other_commands_never_take_the_fast_path():
    assert quick.parse(["-v", "update"]) is None
    assert quick.parse(["update", "--force"]) is None
    assert quick.parse(["plan"]) is None
    assert quick.parse(["update", "--config", "x"]) is None  # --config belongs before the command
    a = quick.parse(["--config", "c", "--state-dir", "s", "update", "-i", "wan"])
    assert (a.config, a.state_dir, a.interface) == ("c", "s", "wan")


def test_a_failed_record_leaves_no_summary(env):
    env.run("update")
    env.env["UBUS_STANDIN_EXIT"] = "255"  # ubus cannot connect: the sources are unreadable
    assert env.run("update").returncode == 1
    assert not (env.state / "quick").exists()


def test_an_unreadable_device_leaves_no_summary(tmp_path):
    e = AgentEnv(tmp_path)
    e.config("config provider 'd'\n\toption type 'log'\nconfig record 'r'\n\toption provider 'd'\n"
             "\toption domain 'example.com'\n\toption device 'nosuch0'\n")
    assert e.run("update").returncode == 1
    assert not (e.state / "quick").exists()


def test_only_netifd_and_netlink_records_can_be_vouched_for():
    from types import SimpleNamespace as R

    wan = R(source=None, interface="wan", device=None)
    eth = R(source=None, interface=None, device="eth0")
    assert quick.sources_of([wan, eth], None) == ({"wan"}, {"eth0"})
    pinned = R(source=("netlink",), interface="wan", device="eth0")
    assert quick.sources_of([pinned], None) == (set(), {"eth0"})
    assert quick.sources_of([wan, R(source=("upnp", "netifd"), interface="wan", device=None)], None) is None
    # a device's fingerprint is read by the cycle that writes the summary: only a full one may
    assert quick.sources_of([wan, eth], "eth0") is None
    assert quick.sources_of([wan], "wan") == ({"wan"}, set())


def test_a_replaced_token_or_ca_file_takes_the_full_cycle(env, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not read by the log provider\n")
    env.config(LOG_CONFIG.replace("\toption type 'log'", "\toption type 'log'\n\toption cacert '%s'" % ca))
    env.run("update")
    assert probe(env, "update")[1] == "False"
    ca.write_text("another CA\n")
    os.utime(ca, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert probe(env, "update")[1] == "True"


def ubus_calls(log: Path, interface: str) -> int:
    return sum(("network.interface.%s " % interface) in line for line in log.read_text().splitlines())


@pytest.mark.parametrize("args", [("update",), ("update", "--interface", "wan")])
def test_a_changed_address_is_read_once_per_run(env, tmp_path, args):
    env.run("update")
    env.interface("wan", REAL / "dhcp-public" / "status_wan_changed.json")
    log = tmp_path / "ubus.log"
    env.env["UBUS_STANDIN_LOG"] = str(log)
    out = env.run(*args)
    assert out.returncode == 0, out.stderr
    assert [line.split("published ")[1] for line in published(out)] == [
        "198.51.100.54 (was 203.0.113.54)"]
    # the fast path's look is handed to the cycle: one `ubus call` (one process) for wan, not two
    assert ubus_calls(log, "wan") == 1


def test_a_run_overtaken_before_the_lock_reads_the_address_again(env, monkeypatch):
    from ddns_agent import cli, commands

    env.run("update")
    for name in ("PATH", "UBUS_STANDIN_DIR", "DDNS_AGENT_LOG"):
        monkeypatch.setenv(name, env.env[name])
    env.interface("wan", REAL / "dhcp-public" / "status_wan_changed.json")
    fast = quick.parse(["--config", str(env.conf), "--state-dir", str(env.state), "update"])
    assert not quick.unchanged(fast) and fast.seen is not None  # it saw 198.51.100.54
    # before this run gets the lock, another one publishes that address, then the address changes
    assert published(env.run("update"))
    later = json.loads((REAL / "dhcp-public" / "status_wan_changed.json").read_text())
    later["ipv4-address"][0]["address"] = "192.0.2.77"
    env.interface("wan", later)
    assert commands.run(cli._Update(fast)) == 0
    assert env.saved()["home"]["address"] == "192.0.2.77"  # the address of now, not the one it saw


def test_a_hung_ubus_sends_the_fast_path_to_the_full_cycle(env, monkeypatch):
    import signal

    env.run("update")
    for name in ("PATH", "UBUS_STANDIN_DIR"):
        monkeypatch.setenv(name, env.env[name])
    monkeypatch.setenv("UBUS_STANDIN_SLEEP", "30")
    monkeypatch.setattr(quick, "UBUS_TIMEOUT_S", 0.3)
    fast = quick.parse(["--config", str(env.conf), "--state-dir", str(env.state), "update"])
    assert quick.unchanged(fast) is False
    assert fast.seen is None
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL  # the timer is gone with its handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    with pytest.raises(ChildProcessError):  # the stand-in was killed and reaped
        os.waitpid(-1, os.WNOHANG)
