"""What `config notify` sections fire, without processes: notify.decide over one run's events."""

from __future__ import annotations

from test_notify import COMMAND, HC_SECRET, HEARTBEAT, PROVIDER

from ddns_agent import config, notify


class Notes:
    """A log sink keeping the notices."""

    def __init__(self) -> None:
        self.lines: list = []

    def notice(self, text: str) -> None:
        self.lines.append(text)


def decided(tmp_path, notify_text: str):
    path = tmp_path / "decide.conf"
    path.write_text(PROVIDER.format(token="/x", endpoint="https://127.0.0.1:1", cacert="/dev/null")
                    .replace("option token_file '/x'", "option token 'abcdefgh'")
                    .replace("\toption cacert '/dev/null'\n", "") + notify_text)
    cfg = config.load(str(path))
    memory: dict = {}
    log = Notes()

    def run(found: list, now: float, failed: bool = False) -> list:
        return [(j["via"], j["event"]) for j in notify.decide(cfg, found, failed, memory, now, log)]
    return run, memory, log


def change(address: str) -> list:
    facts = {"address": address, "previous": "", "error": "", "failures": 0}
    return [("change", "home4", facts), ("ok", "home4", facts)]


def failed(n: int) -> list:
    facts = {"address": "203.0.113.7", "previous": "", "error": "HTTP 500", "failures": n}
    return [("failed", "home4", facts)]


def test_max_per_hour_caps_a_section_and_frees_up_an_hour_later(tmp_path):
    run, memory, log = decided(tmp_path, COMMAND.format(script="/bin/true") + "\toption max_per_hour '2'\n"
                               "\toption min_interval '0'\n")
    assert run(change("203.0.113.1"), 1000) == [("script", "change")]
    assert run(change("203.0.113.2"), 1001) == [("script", "change")]
    assert run(change("203.0.113.3"), 1002) == []
    assert "max_per_hour 2" in log.lines[0]
    assert run(change("203.0.113.4"), 1000 + 3600) == [("script", "change")]


def test_recovery_only_follows_a_failure_notification_and_replaces_the_change(tmp_path):
    run, memory, _ = decided(tmp_path, COMMAND.format(script="/bin/true") + "\toption failures '2'\n")
    assert run(failed(1), 1000, True) == []
    assert run(change("203.0.113.9"), 1100) == [("script", "change")]  # no failure told: no recovery
    assert run(failed(1), 2000, True) == []
    assert run(failed(2), 2100, True) == [("script", "failure")]
    assert run(failed(3), 2200, True) == []  # one failure notification per streak
    assert run(change("203.0.113.10"), 2300) == [("script", "recovery")]
    assert memory["failing"] == {}


def test_a_failure_not_listed_in_on_is_not_told_and_no_recovery_follows(tmp_path):
    run, _, _ = decided(tmp_path, COMMAND.format(script="/bin/true") + "\tlist on 'change recovery'\n"
                        "\toption failures '1'\n")
    assert run(failed(1), 1000, True) == []
    assert run(change("203.0.113.9"), 1100) == [("script", "change")]


def test_heartbeats_repeat_once_per_min_interval_but_a_change_of_health_goes_at_once(tmp_path):
    section = HEARTBEAT.format(base="https://hc-ping.com", uuid=HC_SECRET, cacert="/dev/null")
    run, _, _ = decided(tmp_path, section.replace("\toption cacert '/dev/null'\n", ""))
    assert run([], 1000) == [("hc", "ping")]
    assert run([], 1100) == []
    assert run(failed(1), 1200, True) == [("hc", "fail")]
    assert run([], 1250) == [("hc", "ping")]
    assert run([], 1250 + 300) == [("hc", "ping")]


def test_list_record_limits_a_section_to_its_records(tmp_path):
    run, _, _ = decided(tmp_path, COMMAND.format(script="/bin/true") + "\tlist record 'home4'\n"
                        + COMMAND.format(script="/bin/true").replace("'script'", "'other'")
                        + "\tlist record 'home6'\n" + """
config record 'home6'
	option provider 'duck'
	option domain 'myhome.duckdns.org'
	option type 'AAAA'
	option interface 'wan'
""")
    assert run(change("203.0.113.1"), 1000) == [("script", "change")]
