"""The rpcd exec plugin (/usr/libexec/rpcd/ddns_agent) and its ACL, run the way rpcd runs them.

rpcd calls `<plugin> list` for the signatures and `<plugin> call <method>` with the arguments as
JSON on stdin, and takes one JSON object from stdout as the ubus reply.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from standins.router import A_ON_WAN, REAL, REPO, RPCD, Router, shellcheck

ACL = REPO / "openwrt" / "files" / "ddns_agent.acl.json"

STATUS = {"records": [{"record": "home4", "fqdn": "home.example.com", "type": "A", "provider": "dry",
                       "address": "203.0.113.54", "result": "published", "time": 1700000000,
                       "last_error": None, "next_check": None}]}

CONFIG = A_ON_WAN


def rpcd(router: Router, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    """Run the plugin as rpcd does."""
    return subprocess.run(["/bin/sh", str(RPCD), *args], input=stdin, env=router.env(**env),
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def router(tmp_path):
    """A stand-in router; `ddns-agent` records its calls."""
    return Router(tmp_path)


def test_shellcheck_finds_nothing_in_the_plugin():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed") if os.environ.get("CI") else pytest.skip("no shellcheck")
    result = shellcheck(RPCD)
    assert result.returncode == 0, result.stdout + result.stderr


def test_list_declares_status_and_update_with_their_argument_types(router):
    result = rpcd(router, "list")

    assert result.returncode == 0
    # rpcd: a string value declares a string argument, true a boolean, {} no arguments
    assert json.loads(result.stdout) == {"status": {}, "update": {"interface": "str", "force": True}}
    assert router.agent_calls() == []  # listing never starts Python (rpcd lists at every start)


def test_call_status_answers_the_agents_status_json(router):
    out = router.tmp / "status.json"
    out.write_text(json.dumps(STATUS, indent=2))

    result = rpcd(router, "call", "status", stdin="{}", DDNS_AGENT_STANDIN_STDOUT=str(out))

    assert result.returncode == 0
    assert json.loads(result.stdout) == STATUS
    assert router.agent_calls() == ["status --json"]


def test_call_status_answers_an_object_when_the_agent_fails(router):
    result = rpcd(router, "call", "status", stdin="{}", DDNS_AGENT_STANDIN_RC="2")

    answer = json.loads(result.stdout)
    assert answer["code"] == 2
    assert "config error" in answer["error"]


def test_call_status_with_the_real_agent_shows_the_published_record(router):
    router.config(CONFIG)
    router.serve("wan", REAL / "dhcp-public" / "status_wan_up.json")
    wrapper = router.tmp / "agent_bin" / "ddns-agent"
    wrapper.parent.mkdir()
    wrapper.write_text('#!/bin/sh\nexec "%s" -m ddns_agent --config "%s" "$@"\n'
                       % (sys.executable, router.config_dir / "ddns_agent"))
    wrapper.chmod(0o755)
    env = {"PATH": "%s:%s" % (wrapper.parent, router.env()["PATH"]), "PYTHONPATH": str(REPO),
           "DDNS_AGENT_LOG": "stderr"}
    update = rpcd(router, "call", "update", stdin='{"interface":"wan"}', **env)
    assert json.loads(update.stdout) == {"result": "ok", "code": 0}, update.stderr

    result = rpcd(router, "call", "status", stdin="{}", **env)

    rows = json.loads(result.stdout)["records"]
    assert [(r["record"], r["fqdn"], r["result"], r["address"]) for r in rows] == \
        [("home4", "home.example.com", "published", "203.0.113.54")]
    assert isinstance(rows[0]["time"], (int, float))


@pytest.mark.parametrize("args,argv", [
    ('{"interface":"wan","force":true}', "update --interface wan --force"),
    ('{"interface":"wan6"}', "update --interface wan6"),
    ('{"force":false}', "update"),
    ("{}", "update"),
    ("", "update"),
])
def test_call_update_runs_the_agent_with_the_given_arguments(router, args, argv):
    result = rpcd(router, "call", "update", stdin=args)

    assert json.loads(result.stdout) == {"result": "ok", "code": 0}
    assert router.agent_calls() == [argv]


@pytest.mark.parametrize("rc,words", [("1", "record failed"), ("2", "config error"), ("70", "error")])
def test_call_update_reports_the_agents_exit_code(router, rc, words):
    result = rpcd(router, "call", "update", stdin='{"interface":"wan"}', DDNS_AGENT_STANDIN_RC=rc)

    assert json.loads(result.stdout) == {"result": words, "code": int(rc)}


def test_call_update_refuses_an_interface_that_is_no_uci_name(router):
    result = rpcd(router, "call", "update", stdin='{"interface":"wan; reboot"}')

    assert json.loads(result.stdout) == {"result": "invalid interface", "code": 2}
    assert router.agent_calls() == []


def test_acl_lets_readers_see_status_and_writers_run_updates():
    acl = json.loads(ACL.read_text())

    (group,) = acl.values()
    assert group["read"] == {"ubus": {"ddns_agent": ["status"]}}
    assert group["write"] == {"ubus": {"ddns_agent": ["update"]}}
    # no uci: the read role must not see inline secrets (issue 10); LuCI's config ACL has it


def test_a_config_error_in_an_rpcd_started_run_reaches_syslog(router):
    from standins.devlog import DevLog, require_unshare

    require_unshare()
    router.config(CONFIG.replace("option type 'A'", "option type 'MX'"))
    syslog = DevLog(router.tmp)
    wrapper = router.tmp / "agent_bin" / "ddns-agent"
    wrapper.parent.mkdir()
    syslog.wrapper(wrapper, "--config", str(router.config_dir / "ddns_agent"))
    env = {"PATH": "%s:%s" % (wrapper.parent, router.env()["PATH"])}
    try:
        update = rpcd(router, "call", "update", stdin='{"interface":"wan"}', **env)
        status = rpcd(router, "call", "status", stdin="{}", **env)
        lines = syslog.lines()
    finally:
        syslog.close()

    assert json.loads(update.stdout) == {"result": "config error", "code": 2}
    assert json.loads(status.stdout)["error"] == "config error; see logread -e ddns"
    assert len(lines) == 2, lines  # one line per run, where that answer says to look
    for line in lines:
        assert "ddns_agent[" in line and "home4.type: " in line and "MX" in line
