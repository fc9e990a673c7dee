"""The command line as a user runs it: real processes, real netifd captures through a stand-in ubus."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from agent_env import REAL, REPO, AgentEnv, status_with

LOG_CONFIG = """
config agent
	option log_level 'debug'

config provider 'demo'
	option type 'log'

config record 'home'
	option provider 'demo'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'

config record 'home6'
	option provider 'demo'
	option domain 'example.com'
	option name 'nas'
	option type 'AAAA'
	option interface 'lan'
	option ipv6_suffix '::1234'
"""


@pytest.fixture
def env(tmp_path):
    e = AgentEnv(tmp_path)
    e.config(LOG_CONFIG)
    e.interface("wan", REAL / "dhcp-public" / "status_wan_up.json")
    e.interface("wan6", REAL / "dhcpv6-pd" / "status_wan6_up.json")
    e.interface("lan", REAL / "dhcpv6-pd" / "status_lan_up.json")
    return e


def published(proc) -> list:
    return [line for line in proc.stderr.splitlines() if ": published " in line]


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "ddns_agent", "--help"], capture_output=True,
                         text=True, cwd=REPO).stdout
    for command in ("update", "plan", "status", "check", "watch", "providers"):
        assert command in out


def test_plan_json_shows_address_and_source_per_record(env):
    out = env.run("plan", "--json")
    assert out.returncode == 0, out.stderr
    items = {i["record"]: i for i in json.loads(out.stdout)["records"]}
    assert items["home"]["address"] == "203.0.113.54"
    assert items["home"]["action"] == "publish"
    assert items["home"]["source"] == "netifd wan"
    assert items["home6"]["address"] == "2001:db8:100:ff00::1234"


def test_plan_says_cgnat_in_those_words(env):
    cgnat = status_with(REAL / "dhcp-public" / "status_wan_up.json",
                        **{"ipv4-address": [{"address": "100.64.3.2", "mask": 10}]})
    env.interface("wan", cgnat)
    items = json.loads(env.run("plan", "--json").stdout)["records"]
    home = [i for i in items if i["record"] == "home"][0]
    assert home["action"] == "refuse" and home["address"] is None
    assert "carrier-grade NAT" in home["reason"]


def test_update_publishes_once_then_sends_nothing(env):
    first = env.run("update")
    assert first.returncode == 0, first.stderr
    assert len(published(first)) == 2
    assert env.saved()["home"]["address"] == "203.0.113.54"
    second = env.run("update")
    assert second.returncode == 0 and published(second) == []


def test_new_address_is_published_with_the_old_one_named(env):
    env.run("update")
    env.interface("wan", REAL / "dhcp-public" / "status_wan_changed.json")
    out = env.run("update", "--interface", "wan")
    assert published(out) == ["ddns_agent: info: home.example.com A: published 198.51.100.54 "
                              "(was 203.0.113.54)"]


def test_prefix_change_on_wan6_updates_the_lan_host(env):
    env.run("update")
    env.interface("wan6", REAL / "dhcpv6-pd" / "status_wan6_changed.json")
    env.interface("lan", REAL / "dhcpv6-pd" / "status_lan_changed.json")
    out = env.run("update", "--interface", "wan6")
    assert [line.split("published ")[1] for line in published(out)] == [
        "2001:db8:200:ff00::1234 (was 2001:db8:100:ff00::1234)"]


def test_interface_down_keeps_the_record_and_says_so(env):
    env.run("update")
    env.interface("wan", REAL / "dhcp-public" / "status_wan_initial.json")
    out = env.run("update", "--interface", "wan")
    assert out.returncode == 0
    assert "wan is down; keeping the published record" in out.stderr
    assert env.saved()["home"]["address"] == "203.0.113.54"


def test_fingerprint_is_left_for_hotplug_after_success(env):
    env.run("update", "--interface", "wan")
    fp = (env.state / "fp" / "wan").read_text()
    assert fp == "203.0.113.54\n"


def test_state_dir_and_files_are_private(env):
    env.run("update")
    assert stat.S_IMODE(os.stat(env.state).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(env.state / "state.json").st_mode) == 0o600


def test_status_json_reports_each_record(env):
    env.run("update")
    rows = json.loads(env.run("status", "--json").stdout)["records"]
    home = [r for r in rows if r["record"] == "home"][0]
    assert (home["address"], home["result"], home["last_error"]) == ("203.0.113.54", "published", None)
    assert home["next_check"] is None  # `log` is update-only: no blind re-send is ever scheduled


def test_parallel_updates_publish_once_and_leave_an_intact_state_file(env):
    procs = [env.start("update") for _ in range(20)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    lines = [line for _, err in outs for line in err.splitlines() if "com A: published" in line]
    assert len(lines) == 1
    assert env.saved()["home"]["address"] == "203.0.113.54"


def test_no_change_path_imports_neither_urllib3_nor_ssl(env):
    assert env.run("update").returncode == 0
    code = ("import sys; from ddns_agent.cli import main; rc = main(sys.argv[1:]); "
            "print(rc, 'urllib3' in sys.modules, 'ssl' in sys.modules, "
            "'ddns_agent.publish' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, "--config", str(env.conf), "--state-dir",
                          str(env.state), "update"], env=env.env, capture_output=True, text=True)
    assert out.stdout.split() == ["0", "False", "False", "False"], out.stderr


def test_config_error_is_one_line_with_exit_code_2(env):
    env.config(LOG_CONFIG + "\nconfig record 'bad'\n\toption provider 'nope'\n"
               "\toption domain 'example.com'\n\toption interface 'wan'\n")
    out = env.run("update")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "bad.provider" in out.stderr


def test_check_reports_every_problem_and_exits_2(env):
    env.config(LOG_CONFIG + "\nconfig record 'bad'\n\toption provider 'nope'\n\toption ttl 'x'\n"
               "\toption domain 'example.com'\n\toption interface 'wan'\n")
    out = env.run("check")
    assert out.returncode == 2
    assert "bad.provider" in out.stderr and "bad.ttl" in out.stderr


def test_disabled_agent_does_nothing(env):
    env.config(LOG_CONFIG.replace("option log_level 'debug'", "option enabled '0'"))
    out = env.run("update")
    assert out.returncode == 0 and published(out) == []


def test_missing_ubus_is_a_clean_failure(env):
    env.env["PATH"] = "/nonexistent"
    out = subprocess.run([sys.executable, "-m", "ddns_agent", "--config", str(env.conf),
                          "--state-dir", str(env.state), "update"], env=env.env,
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and "ubus" in out.stderr


def test_providers_lists_every_registered_type():
    from ddns_agent.providers import REGISTRY

    out = subprocess.run([sys.executable, "-m", "ddns_agent", "providers"], capture_output=True,
                         text=True, cwd=REPO).stdout
    for name in REGISTRY:
        assert "%s:" % name in out


def test_check_reports_option_values_only_the_provider_can_judge(env):
    env.config("config provider 'ns'\n\toption type 'rfc2136'\n\toption server '127.0.0.1'\n"
               "\toption key_name 'k'\n\toption key_secret 'c2VjcmV0'\n"
               "\toption key_algorithm 'hmac-md4'\n"
               "config record 'r'\n\toption provider 'ns'\n\toption domain 'example.test'\n"
               "\toption interface 'wan'\n")
    out = env.run("check")
    assert out.returncode == 2
    assert ":1: ns.key_algorithm: expected one of hmac-sha1" in out.stderr
    assert "Traceback" not in out.stderr


def test_force_interval_never_resends_blindly_to_an_update_only_provider(env):
    env.config(LOG_CONFIG.replace("option log_level 'debug'",
                                  "option log_level 'debug'\n\toption force_interval '1'"))
    env.run("update")
    data = json.loads((env.state / "state.json").read_text())
    for entry in data["records"].values():
        entry["checked"] = 0  # long ago
    (env.state / "state.json").write_text(json.dumps(data))
    assert published(env.run("update")) == []
    assert len(published(env.run("update", "--force"))) == 2
