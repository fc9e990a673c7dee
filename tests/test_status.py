"""`ddns-agent status` as a user reads it: text and `--json` (schema 1, docs/status.md), real processes.

Published, refused (with the plan's reason), held by another client, failed with back-off, a record
set's members and the last notification. States a run cannot reach without another engineer's part
(members, notify.json) or without waiting (back-off) are written as the agent writes them.
"""

from __future__ import annotations

import json
import time

import pytest
from agent_env import REAL, AgentEnv, status_with

CONFIG = """
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
"""
CGNAT = "100.64.3.2"


@pytest.fixture
def env(tmp_path):
    e = AgentEnv(tmp_path)
    e.config(CONFIG)
    wan(e, "203.0.113.54")
    return e


def wan(env: AgentEnv, address: str) -> None:
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": address, "mask": 24}]}))


def status(env: AgentEnv) -> tuple:
    """(the JSON document, the text lines)."""
    as_json, as_text = env.run("status", "--json"), env.run("status")
    assert as_json.returncode == 0 and as_text.returncode == 0, as_json.stderr + as_text.stderr
    return json.loads(as_json.stdout), as_text.stdout.splitlines()


def save(env: AgentEnv, **entry) -> None:
    """Put `entry` into the record's state as the agent keeps it."""
    env.state.mkdir(mode=0o700, exist_ok=True)
    path = env.state / "state.json"
    data = json.loads(path.read_text()) if path.exists() else {"records": {}}
    data["records"].setdefault("home", {}).update(entry)
    path.write_text(json.dumps(data))
    path.chmod(0o600)


def test_published_record_is_one_line_and_json_schema_1(env):
    assert env.run("update").returncode == 0
    doc, lines = status(env)
    assert doc["schema"] == 1
    [row] = doc["records"]
    assert (row["result"], row["address"], row["reason"], row["last_error"]) == ("published", "203.0.113.54",
                                                                                 None, None)
    assert row["since"] == row["time"] and row["conflict"] is None and row["members"] == []
    assert row["notification"] is None
    assert len(lines) == 1 and lines[0].split()[:4] == ["home.example.com", "A", "published", "203.0.113.54"]


def test_since_stays_across_re_checks_and_moves_with_the_address(env):
    env.run("update")
    first = status(env)[0]["records"][0]["since"]
    env.run("update", "--force")  # re-checked, unchanged: still published since then
    assert status(env)[0]["records"][0]["since"] == first
    wan(env, "203.0.113.55")
    env.run("update")
    row = status(env)[0]["records"][0]
    assert row["address"] == "203.0.113.55" and row["since"] > first


def test_refused_record_gives_the_plans_reason_in_text_and_json(env):
    env.run("update")
    wan(env, CGNAT)
    assert env.run("update").returncode == 0
    planned = json.loads(env.run("plan", "--json").stdout)["records"][0]["reason"]
    assert "carrier-grade NAT" in planned
    doc, lines = status(env)
    row = doc["records"][0]
    assert (row["result"], row["address"], row["reason"]) == ("refused", "203.0.113.54", planned)
    assert len(lines) == 1 and "refused" in lines[0] and ("reason: " + planned) in lines[0]


def test_failed_record_shows_the_error_and_the_next_try(env):
    now = time.time()
    save(env, result="failed", address="203.0.113.54", error="server error HTTP 503 from 127.0.0.1:4443",
         failures=2, time_failed=now - 60, next_check=now + 3600, failed_address="203.0.113.54")
    doc, lines = status(env)
    row = doc["records"][0]
    assert row["result"] == "failed" and row["failures"] == 2 and row["since"] == now - 60
    assert row["reason"].startswith("backing off after 2 failure(s) (server error HTTP 503 from "
                                    "127.0.0.1:4443); next try in ")
    assert row["reason"].endswith(" s, or at once on an address change")
    assert row["next_check"] == now + 3600
    assert len(lines) == 1
    assert "error: server error HTTP 503 from 127.0.0.1:4443; next try %s" % time.strftime(
        "%H:%M:%S", time.localtime(now + 3600)) in lines[0]


def test_stopped_record_says_to_fix_the_config(env):
    save(env, result="failed", error="Cloudflare refused the API token", stopped=True, failures=1)
    row = status(env)[0]["records"][0]
    assert row["reason"] == ("stopped after a fatal error (Cloudflare refused the API token); "
                             "fix the config to retry")


def test_record_held_by_another_client_says_so(env):
    env.run("update")
    now = time.time()
    save(env, result="held", address="203.0.113.54", time=now - 90, conflict={
        "found": "198.51.100.9", "ours": "203.0.113.54", "wrote_at": now - 90, "seen_at": now - 30,
        "count": 3, "held": True})
    planned = env.run("plan").stdout
    doc, lines = status(env)
    row = doc["records"][0]
    reason = ("another client is updating home.example.com (found 198.51.100.9, we wrote 203.0.113.54); "
              "not writing until `update --force` or option takeover 1")
    assert row["result"] == "held" and row["reason"] == reason and reason in planned
    assert row["conflict"]["count"] == 3 and row["conflict"]["found"] == "198.51.100.9"
    assert len(lines) == 2 and lines[0].split()[2] == "held" and ("reason: " + reason) in lines[0]
    assert lines[1].startswith("    another client: found 198.51.100.9 at ")
    assert lines[1].endswith("we wrote 203.0.113.54; conflict 3, held")


def test_set_members_are_shown_when_state_has_them(env):
    save(env, result="published", address="203.0.113.54", time=time.time(), members=[
        {"address": "203.0.113.54", "source": "wan", "id": "r1"},
        {"address": "198.51.100.7", "source": "wanb", "id": None}])
    doc, lines = status(env)
    assert doc["records"][0]["members"] == [{"address": "203.0.113.54", "source": "wan", "id": "r1"},
                                            {"address": "198.51.100.7", "source": "wanb", "id": None}]
    assert lines[1:] == ["    members: 203.0.113.54 (wan), 198.51.100.7 (wanb)"]


def test_last_notification_is_shown_from_notify_json(env):
    env.run("update")
    at = time.time()
    (env.state / "notify.json").write_text(json.dumps({"records": {"home": {
        "event": "failure", "at": at, "via": "phone", "ok": False, "error": "ntfy answered HTTP 429"}}}))
    doc, lines = status(env)
    assert doc["records"][0]["notification"] == {"event": "failure", "at": at, "via": "phone", "ok": False,
                                                 "error": "ntfy answered HTTP 429"}
    clock = time.strftime("%H:%M:%S", time.localtime(at))
    assert lines[1] == "    notified: failure via phone at %s, failed: ntfy answered HTTP 429" % clock


def test_a_notification_still_being_sent_says_so(env):
    env.run("update")
    (env.state / "notify.json").write_text(json.dumps({"records": {"home": {
        "event": "change", "at": time.time(), "via": "ntfy", "ok": None, "error": None}}}))
    lines = status(env)[1]
    assert lines[1].startswith("    notified: change via ntfy at ") and lines[1].endswith(", being sent")


@pytest.mark.parametrize("text", ["{", "[1]", '{"records": {"home": "x"}}', '{"records": []}'])
def test_a_notify_file_not_in_the_contracts_shape_is_left_out(env, text):
    env.run("update")
    (env.state / "notify.json").write_text(text)
    doc, lines = status(env)
    assert doc["records"][0]["notification"] is None and len(lines) == 1


def test_malformed_members_and_conflict_in_state_never_break_status(env):
    save(env, result="published", address="203.0.113.54", members=["x", {"address": 5}],
         conflict={"found": 1, "count": "many"})
    doc, lines = status(env)
    row = doc["records"][0]
    assert row["conflict"] is None and row["members"] == [{"address": None, "source": None, "id": None}]
    assert "Traceback" not in "\n".join(lines)
