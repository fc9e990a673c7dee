"""luci-app-ddns-agent's rpcd plugin (luci.ddns_agent) run by the real OpenWrt 22.03 shell, uci and jshn.

status is answered from the UCI config and the state file without starting Python; set_secret
writes a 0600 file in /etc/ddns_agent/secrets and answers only its path. The booted router, real
rpcd ACLs and the browser are in tests/test_luci_browser.py.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys

import luci_root
import pytest

PLUGIN = "/usr/libexec/rpcd/luci.ddns_agent"
SECRET_TOKEN = "luci-rpcd-Tk-77Qx"
STATE_DIR = "/tmp/ddns_state"
CONFIG = """config agent
	option state_dir '%s'

config provider 'dry'
	option type 'log'

config provider 'cf'
	option type 'cloudflare'
	option api_token_file '/etc/ddns_agent/secrets/cf.api_token'

config record 'home4'
	option provider 'dry'
	option domain 'example.com'
	option name 'home'
	option interface 'wan'

config record 'apex6'
	option provider 'cf'
	option domain 'example.net'
	option type 'AAAA'
	option interface 'wan6'

config record 'lan'
	option provider 'dry'
	option domain 'example.org'
	option name 'nas'
	option interface 'lan'

config record 'off'
	option provider 'dry'
	option domain 'example.org'
	option interface 'wan'
	option enabled '0'
""" % STATE_DIR
NOW = 1900000000  # later than any test run: hold_until NOW is in the future


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """The rootfs with ddns-agent's files, and a `ddns-agent` that records its calls instead of running."""
    base = luci_root.unpack(tmp_path_factory.mktemp("openwrt") / "root")
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, str(luci_root.REPO / "tools/build_ipk.py"), "--out", str(dist)],
                   check=True, capture_output=True, timeout=120)
    luci_root.install(base, next(dist.glob("ddns-agent_*.ipk")))
    luci_root.install(base, next(dist.glob("luci-app-ddns-agent_*.ipk")))
    return base


@pytest.fixture
def router(root):
    """A fresh config and state; `ddns-agent` replaced by a recorder (each call: one line in /tmp/calls)."""
    (root / "etc/config/ddns_agent").write_text(CONFIG)
    state = root / STATE_DIR.lstrip("/")
    state.mkdir(parents=True, exist_ok=True)
    (state / "state.json").unlink(missing_ok=True)
    (root / "tmp/calls").write_text("")
    recorder = root / "usr/bin/ddns-agent"
    recorder.write_text('#!/bin/sh\necho "$*" >>/tmp/calls\n[ "$1" = status ] && echo "{}"\nexit 0\n')
    recorder.chmod(0o755)
    return root


def call(root, method: str, args: dict | None = None) -> dict:
    """`ubus call ddns_agent METHOD` as rpcd runs the plugin: compact JSON on stdin, one object out."""
    done = luci_root.run(root, "/bin/sh", PLUGIN, "call", method,
                         stdin=json.dumps(args or {}, separators=(",", ":")) + "\n")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def calls(root) -> list:
    return (root / "tmp/calls").read_text().splitlines()


def save_state(root, records: dict) -> None:
    (root / STATE_DIR.lstrip("/") / "state.json").write_text(json.dumps({"records": records}))


def test_shellcheck_finds_nothing_in_the_plugin():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed") if os.environ.get("CI") else pytest.skip("no shellcheck")
    source = str(luci_root.REPO / "openwrt/luci-app-ddns-agent/root") + PLUGIN
    done = subprocess.run(["shellcheck", "-s", "sh", source], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_status_joins_config_and_state_in_shell_without_starting_python(router):
    save_state(router, {
        "home4": {"address": "203.0.113.54", "result": "published", "time": 1700000000.5,
                  "next_check": 1700086400.25, "source": "netifd wan", "error": None},
        "apex6": {"result": "failed", "time_failed": 1700000100.0, "error": "HTTP 403: token refused",
                  "stopped": True},
        "lan": {"result": "refused", "note": "192.168.1.20 is a private (RFC 1918) address"},
        "off": {"result": "unchanged", "error": "HTTP 500", "read_error": "cannot read the remote record"},
    })

    rows = {r["record"]: r for r in call(router, "status")["records"]}

    assert list(rows) == ["home4", "apex6", "lan", "off"]
    assert rows["home4"] == {"record": "home4", "fqdn": "home.example.com", "type": "A", "provider": "dry",
                             "interface": "wan", "address": "203.0.113.54", "result": "published",
                             "time": 1700000000, "last_error": None, "next_check": 1700086400,
                             "reason": None, "source": "netifd wan", "since": None}
    # a fatal answer stops calls until the config changes: held, since the failure, with its words
    apex = rows["apex6"]
    assert (apex["fqdn"], apex["result"], apex["time"], apex["last_error"]) == \
        ("example.net", "held", 1700000100, "HTTP 403: token refused")
    assert (rows["lan"]["result"], rows["lan"]["reason"]) == \
        ("refused", "192.168.1.20 is a private (RFC 1918) address")
    assert (rows["off"]["result"], rows["off"]["last_error"]) == \
        ("unchanged", "cannot read the remote record")
    assert calls(router) == []  # no ddns-agent, so no Python


def test_a_disabled_record_without_state_says_disabled(router):
    rows = {r["record"]: r for r in call(router, "status")["records"]}

    assert rows["off"]["result"] == "disabled"


def test_status_says_held_while_the_provider_asked_to_wait(router):
    save_state(router, {"home4": {"result": "failed", "hold_until": NOW, "error": "HTTP 429"}})

    rows = {r["record"]: r for r in call(router, "status")["records"]}

    assert rows["home4"]["result"] == "held"
    assert rows["apex6"]["result"] == "never"


def test_status_says_held_with_the_plans_words_while_another_client_updates_the_record(router):
    reason = ("another client is updating home.example.com (found 198.51.100.9, we wrote 203.0.113.54); "
              "not writing until `update --force` or option takeover 1")
    save_state(router, {"home4": {"result": "held", "address": "203.0.113.54", "time": 1700000000,
                                  "since": 1700003600.5, "note": reason, "conflict": {
                                      "found": "198.51.100.9", "ours": "203.0.113.54", "wrote_at": 1700000000,
                                      "seen_at": 1700003600.5, "count": 3, "held": True}}})

    home = {r["record"]: r for r in call(router, "status")["records"]}["home4"]

    assert (home["result"], home["reason"], home["since"]) == ("held", reason, 1700003600)


def test_status_without_a_state_file_lists_every_record_as_not_run(router):
    rows = call(router, "status")["records"]

    assert [(r["record"], r["result"], r["address"]) for r in rows] == [
        ("home4", "never", None), ("apex6", "never", None), ("lan", "never", None), ("off", "disabled", None)]


def test_set_secret_writes_a_0600_file_in_the_secret_directory_and_answers_only_its_path(router):
    answer = call(router, "set_secret", {"provider": "cf", "option": "api_token", "value": SECRET_TOKEN})

    assert answer == {"path": "/etc/ddns_agent/secrets/cf.api_token", "code": 0}
    path = router / "etc/ddns_agent/secrets/cf.api_token"
    assert path.read_text() == SECRET_TOKEN + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert SECRET_TOKEN not in json.dumps(call(router, "status"))


@pytest.mark.parametrize("args,error", [
    ({"provider": "../../root", "option": "api_token", "value": "x1"}, "invalid provider or option name"),
    ({"provider": "cf", "option": "api_token/../../x", "value": "x1"}, "invalid provider or option name"),
    ({"provider": "home4", "option": "api_token", "value": "x1"}, "not a provider section"),
    ({"provider": "cf", "option": "api_token", "value": "two\nlines"}, "empty value, or one with control"),
    ({"provider": "cf", "option": "api_token", "value": ""}, "empty value, or one with control"),
])
def test_set_secret_refuses_names_that_are_no_provider_option_and_values_the_agent_would_refuse(
        router, args, error):
    answer = call(router, "set_secret", args)

    assert answer["code"] == 2 and answer["error"].startswith(error)
    assert not list((router / "etc/ddns_agent").glob("secrets/*.tmp.*"))
    assert not (router / "root/api_token").exists()


def test_set_secret_accepts_a_provider_that_save_and_apply_has_not_committed_yet(router):
    answer = call(router, "set_secret", {"provider": "new_cf", "option": "api_token", "value": SECRET_TOKEN})

    assert answer == {"path": "/etc/ddns_agent/secrets/new_cf.api_token", "code": 0}


def test_update_of_one_record_runs_the_update_its_interface_event_would_run(router):
    assert call(router, "update", {"record": "apex6"}) == {"result": "ok", "code": 0}
    assert call(router, "update", {}) == {"result": "ok", "code": 0}

    assert calls(router) == ["update --interface wan6", "update"]


def test_update_refuses_a_record_that_does_not_exist(router):
    assert call(router, "update", {"record": "cf"}) == {"result": "no such record", "code": 2}
    assert call(router, "update", {"record": "x;reboot"}) == {"result": "no such record", "code": 2}

    assert calls(router) == []


def test_providers_and_plan_are_the_agents_own_json(router):
    (router / "usr/bin/ddns-agent").write_text(
        '#!/bin/sh\necho "$*" >>/tmp/calls\necho \'{"types":{}}\'\n')

    assert call(router, "providers") == {"types": {}}
    assert call(router, "plan") == {"types": {}}
    assert calls(router) == ["providers --json", "plan --json"]
