"""`config notify`: the real `ddns-agent update` telling a command, a push service and a heartbeat
server of changes, failures and recoveries, detached from the publishing, rate-limited, secret-free."""

from __future__ import annotations

import io
import json
import shutil
import threading
import time

from agent_env import REPO, AgentEnv, assert_no_secret, set_wan
from fakes import record_output
from fakes.duckdns import DuckDNSFake
from fakes.notify import HealthchecksFake, NtfyFake, SlackFake

from ddns_agent import config, notify
from ddns_agent.log import Log

TOKEN = "b3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
NTFY_TOKEN = "tk_Lw9rPq2xVb7nKd4sMz8tYh3cJf6"
SLACK_SECRET = "QpWoEiRuTyAlSkDjFhGz1234"
HC_SECRET = "0f8e2b1c-9a7d-4e6f-b5c4-a3d2e1f0b9c8"

PROVIDER = """
config agent
	option retry_max '0'

config provider 'duck'
	option type 'duckdns'
	option token_file '{token}'
	option endpoint '{endpoint}'
	option cacert '{cacert}'

config record 'home4'
	option provider 'duck'
	option domain 'duckdns.org'
	option name 'myhome'
	option type 'A'
	option interface 'wan'
"""

SCRIPT = """#!/bin/sh
env | grep '^DDNS_' | sort > "{out}/.tmp.$$"
mv "{out}/.tmp.$$" "{out}/$DDNS_EVENT-$DDNS_AT-$$"
"""


class Lab:
    """AgentEnv + a DuckDNS fake over HTTPS + a command that leaves each notification's env in `out`."""

    def __init__(self, tmp_path, serve, notify_text: str) -> None:
        self.fake = DuckDNSFake(TOKEN)
        self.server = serve(self.fake)
        self.env = AgentEnv(tmp_path)
        secrets = tmp_path / "secrets"
        secrets.mkdir(mode=0o700)
        token = secrets / "token"
        token.write_text(TOKEN + "\n")
        token.chmod(0o600)
        self.env.env["DDNS_AGENT_SECRET_DIR"] = str(secrets)
        self.out = tmp_path / "out"
        self.out.mkdir()
        self.script = tmp_path / "notify.sh"
        self.script.write_text(SCRIPT.format(out=self.out))
        self.script.chmod(0o755)
        self.env.config(PROVIDER.format(token=token, endpoint=self.server.url, cacert=self.server.cafile)
                        + notify_text.format(script=self.script))
        self.runs: list = []

    def update(self, v4: str = "203.0.113.7"):
        set_wan(self.env, v4, "2001:db8::7")
        done = self.env.run("update")
        self.runs.append(done)
        return done

    def told(self) -> list:
        """Each notification the command got, as a dict of its DDNS_* variables, oldest first."""
        found = []
        for path in sorted(p for p in self.out.iterdir() if not p.name.startswith(".")):
            text = path.read_text()
            record_output("notify command env", text)
            found.append(dict(line.split("=", 1) for line in text.splitlines()))
        return sorted(found, key=lambda d: int(d["DDNS_AT"]))

    def notify_json(self) -> dict:
        path = self.env.state / "notify.json"
        return json.loads(path.read_text()) if path.exists() else {}


def wait_for(check, what: str, within: float = 30.0):
    """Poll `check` until it gives something true (the sender is a detached process)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("gave up waiting for " + what)


def outcome(lab: Lab, key: str = "home4"):
    entry = lab.notify_json().get("records", {}).get(key) or {}
    return entry if entry.get("ok") is not None else None


COMMAND = """
config notify 'script'
	option command '{script}'
"""


def test_a_change_runs_the_command_with_the_facts_in_ddns_variables(tmp_path, serve):
    lab = Lab(tmp_path, serve, COMMAND)
    assert lab.update().returncode == 0
    [told] = wait_for(lab.told, "the command")
    assert told["DDNS_EVENT"] == "change" and told["DDNS_RECORD"] == "home4"
    assert told["DDNS_FQDN"] == "myhome.duckdns.org" and told["DDNS_TYPE"] == "A"
    assert told["DDNS_ADDRESS"] == "203.0.113.7" and told["DDNS_PREVIOUS"] == ""
    assert told["DDNS_PROVIDER"] == "duck" and told["DDNS_PROVIDER_TYPE"] == "duckdns"
    assert told["DDNS_MESSAGE"] == "myhome.duckdns.org A is now 203.0.113.7"
    last = wait_for(lambda: outcome(lab), "the outcome in notify.json")
    assert (last["event"], last["via"], last["ok"], last["error"]) == ("change", "script", True, None)
    assert lab.fake.records["myhome"]["A"] == "203.0.113.7"
    assert_no_secret(lab.env, lab.runs, TOKEN)
    assert TOKEN not in (lab.env.state / "notify.json").read_text()


def test_unchanged_address_tells_nothing(tmp_path, serve):
    lab = Lab(tmp_path, serve, COMMAND)
    lab.update()
    first = wait_for(lambda: outcome(lab), "the first notification")
    again = lab.update()
    assert again.returncode == 0 and len(lab.server.requests) == 1
    # the agent records each notification in notify.json before it exits, sent or not yet
    assert lab.notify_json()["records"]["home4"] == first and len(lab.told()) == 1


FAILURES = """
config notify 'script'
	option command '{script}'
	option failures '2'
	list on 'failure recovery'
"""


def test_failure_is_told_after_n_failures_in_a_row_and_recovery_once_after_it(tmp_path, serve):
    lab = Lab(tmp_path, serve, FAILURES)
    lab.server.inject(status=500, body="oops", times=2)
    assert lab.update().returncode == 1
    assert lab.update().returncode == 1  # the second failure in a row: told
    wait_for(lambda: outcome(lab), "the failure notification")
    assert lab.update().returncode == 0
    told = wait_for(lambda: len(lab.told()) == 2 and lab.told(), "the recovery")
    assert [t["DDNS_EVENT"] for t in told] == ["failure", "recovery"]
    assert told[0]["DDNS_FAILURES"] == "2" and "500" in told[0]["DDNS_ERROR"]
    assert told[1]["DDNS_MESSAGE"] == "myhome.duckdns.org A is published again: 203.0.113.7"
    last = wait_for(lambda: (outcome(lab) or {}).get("event") == "recovery" and outcome(lab),
                    "the recovery's outcome")
    assert lab.update("203.0.113.8").returncode == 0  # a change, but `on` lists no change
    assert lab.notify_json()["records"]["home4"] == last and len(lab.told()) == 2
    assert_no_secret(lab.env, lab.runs, TOKEN)


def test_a_second_change_within_min_interval_is_left_out_and_said_so(tmp_path, serve):
    lab = Lab(tmp_path, serve, COMMAND)
    lab.update()
    first = wait_for(lambda: outcome(lab), "the first notification")
    second = lab.update("203.0.113.8")
    assert second.returncode == 0 and lab.fake.records["myhome"]["A"] == "203.0.113.8"
    assert "change notification through script left out: rate limit (min_interval 300s" in second.stderr
    assert lab.notify_json()["records"]["home4"] == first and len(lab.told()) == 1


HEARTBEAT = """
config notify 'hc'
	option ping_url '{base}/{uuid}'
	option fail_url '{base}/{uuid}/fail'
	option endpoint '{base}'
	option cacert '{cacert}'
"""


def test_heartbeat_pings_after_a_good_run_and_fail_pings_after_a_failed_one(tmp_path, serve):
    hc = HealthchecksFake(HC_SECRET)
    hc_server = serve(hc)
    lab = Lab(tmp_path, serve, HEARTBEAT.replace("{base}", "https://hc-ping.com").replace("{uuid}", HC_SECRET)
              .replace("option endpoint 'https://hc-ping.com'", "option endpoint '%s'" % hc_server.url)
              .replace("{cacert}", hc_server.cafile))
    assert lab.update().returncode == 0
    wait_for(lambda: hc.pings, "the success ping")
    lab.server.inject(status=500, times=1)
    assert lab.update("203.0.113.8").returncode == 1
    wait_for(lambda: len(hc.pings) == 2, "the fail ping")
    assert hc.pings[0] == ("ok", "all records are right")
    assert hc.pings[1][0] == "fail" and hc.pings[1][1].startswith("myhome.duckdns.org A: ")
    assert [r.route for r in hc_server.requests] == ["/" + HC_SECRET, "/%s/fail" % HC_SECRET]


NTFY = """
config notify 'phone'
	option preset 'ntfy'
	option url 'https://ntfy.sh/home-router-4f9a'
	option token '{token}'
	option endpoint '{endpoint}'
	option cacert '{cacert}'
	option timeout '60'
"""


def test_a_hanging_push_service_does_not_hold_up_the_update(tmp_path, serve):
    fake = NtfyFake(NTFY_TOKEN)
    fake.hold = threading.Event()
    push = serve(fake)
    try:
        lab = Lab(tmp_path, serve, NTFY.format(token=NTFY_TOKEN, endpoint=push.url, cacert=push.cafile)
                  .replace("{", "{{").replace("}", "}}"))
        set_wan(lab.env, "203.0.113.7", "2001:db8::7")
        proc = lab.env.start("update")
        assert fake.entered.wait(30)  # the notification is at the service, which holds it...
        assert proc.wait(timeout=30) == 0  # ...and the update is over all the same
        proc.communicate()
        assert lab.fake.records["myhome"]["A"] == "203.0.113.7"
        assert lab.notify_json()["records"]["home4"]["ok"] is None  # still in flight
    finally:
        fake.hold.set()
    last = wait_for(lambda: outcome(lab), "the outcome")
    assert last["ok"] is True and fake.messages[0][1] == "myhome.duckdns.org A is now 203.0.113.7"


SLACK = """
config notify 'team'
	option preset 'slack'
	option url 'https://hooks.slack.com/services/T0EXAMPLE/B0EXAMPLE/WrongWrongWrongWrong'
	option endpoint '{endpoint}'
	option cacert '{cacert}'
"""


def test_a_refused_notification_is_kept_in_notify_json_and_leaves_the_exit_code_alone(tmp_path, serve):
    push = serve(SlackFake(SLACK_SECRET))
    lab = Lab(tmp_path, serve, SLACK.format(endpoint=push.url, cacert=push.cafile))
    done = lab.update()
    assert done.returncode == 0 and lab.fake.records["myhome"]["A"] == "203.0.113.7"
    last = wait_for(lambda: outcome(lab), "the outcome")
    assert last["ok"] is False and last["error"].startswith("slack refused the notification (HTTP 403)")
    assert "WrongWrong" not in (lab.env.state / "notify.json").read_text()


def test_the_sender_logs_a_failed_notification_in_one_line(tmp_path, serve):
    push = serve(SlackFake(SLACK_SECRET))
    path = tmp_path / "c"
    path.write_text(PROVIDER.format(token="/nonexistent", endpoint="https://127.0.0.1:1", cacert=push.cafile)
                    .replace("option token_file '/nonexistent'", "option token '%s'" % TOKEN)
                    + SLACK.format(endpoint=push.url, cacert=push.cafile))
    cfg = config.load(str(path))
    stream = io.StringIO()
    state = tmp_path / "state"
    state.mkdir()
    job = {"via": "team", "key": "home4", "event": "change", "at": 1700000000.0,
           "facts": notify._facts(cfg.records[0], cfg, "change", {"address": "203.0.113.7", "previous": "",
                                                                   "error": "", "failures": 0}, 1700000000)}
    notify.send_all(cfg, str(state), [job], Log("info", use_syslog=False, stream=stream))
    assert stream.getvalue() == ("ddns_agent: error: notify team: change notification failed: slack refused "
                                 "the notification (HTTP 403): invalid_token\n")


def test_without_the_notify_package_a_warning_and_publishing_goes_on(tmp_path, serve, monkeypatch):
    lab = Lab(tmp_path, serve, COMMAND)
    lib = tmp_path / "lib"  # the core as opkg installs it without ddns-agent-notify
    shutil.copytree(REPO / "ddns_agent", lib / "ddns_agent",
                    ignore=shutil.ignore_patterns("notify.py", "notifysend.py", "__pycache__"))
    # the venv's editable install would find the missing modules in the repository: drop its finder
    (lib / "sitecustomize.py").write_text("import sys\nsys.meta_path[:] = [f for f in sys.meta_path if "
                                          "'editable' not in repr(f).lower()]\n")
    lab.env.env["PYTHONPATH"] = str(lib)
    monkeypatch.chdir(lib)  # `python -m` puts the working directory first on sys.path
    done = lab.update()
    assert done.returncode == 0 and lab.fake.records["myhome"]["A"] == "203.0.113.7"
    assert done.stderr.count("\n") == 2  # the publish line and one warning
    assert ("ddns_agent: warning: config notify sections need the ddns-agent-notify package "
            "(opkg install ddns-agent-notify); no notification sent") in done.stderr
    assert not (lab.env.state / "notify.json").exists() and lab.told() == []


def test_bad_notify_sections_are_one_line_errors_naming_section_and_option(tmp_path):
    env = AgentEnv(tmp_path)
    env.config(PROVIDER.format(token="/x", endpoint="https://127.0.0.1:1", cacert="/dev/null")
               .replace("option token_file '/x'", "option token 'abcdefgh'").replace(
                   "\toption cacert '/dev/null'\n", "") + """
config notify 'a'
	option preset 'pushover'

config notify 'b'
	option preset 'telegram'
	option token 'abcdefgh'

config notify 'c'
	option url 'http://example.net/hook'
	list record 'home6'
	list on 'change failed'

config notify 'd'
	option command 'notify.sh'
	option body '{"a": "{ip}"}'
""")
    done = env.run("check")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    conf = str(env.conf)
    for words in ("a.preset: expected one of ntfy, telegram, bark, serverchan, wecom, discord, slack, got "
                  "'pushover'", "b.chat_id: missing required option (preset telegram needs it)",
                  "c.record: no record section named 'home6' (did you mean 'home4'?)",
                  "c.on: unknown event 'failed'", "c.url: http:// sends the notification in clear",
                  "d.command: expected an absolute path, got 'notify.sh'",
                  "d.body: unknown placeholder {ip}"):
        assert [line for line in lines if conf in line and words in line], words
    assert "Traceback" not in done.stderr


def test_the_sender_runs_with_only_the_packages_a_router_has(tmp_path):
    from standins.router import A_ON_WAN, REAL
    from test_import_closure import agent, declared_packages

    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "notify.sh"
    script.write_text(SCRIPT.format(out=out))
    script.chmod(0o755)
    (tmp_path / "config").write_text(A_ON_WAN.replace("{state}", str(tmp_path / "state"))
                                     + COMMAND.format(script=script))
    (tmp_path / "ubus").mkdir()
    (tmp_path / "ubus" / "wan.json").write_text((REAL / "dhcp-public" / "status_wan_up.json").read_text())

    run = agent(tmp_path, "update", "--interface", "wan", packages=declared_packages())

    assert run.returncode == 0, run.stderr
    assert "published 203.0.113.54" in run.stderr
    # the forked sender inherits the same import guard: the command runs only if its imports pass
    [told] = wait_for(lambda: [p for p in out.iterdir() if not p.name.startswith(".")], "the command")
    assert "DDNS_ADDRESS=203.0.113.54\n" in told.read_text()
