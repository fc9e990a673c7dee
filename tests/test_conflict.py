"""Another writer on the same record: two real agents (two state dirs, two configs) on one record.

Against the Cloudflare fake over HTTPS (the force_interval re-check reads the record before writing)
and the dyndns2 fake (`nochg` where we expected a change). What a user sees: the record on the fake,
the log line in words, the exit code, `status`, and how many writes reached the server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_env import REAL, AgentEnv, status_with
from fakes.cloudflare import PREFIX, CloudflareFake
from fakes.duckdns import DuckDNSFake
from fakes.dyndns2 import Dyndns2Fake

from ddns_agent import conflict, plan
from ddns_agent.config import RecordConfig

TOKEN = "cf-conflict-token-Qw3eR5tY7uI9oP1a"
ZONE = "5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d"
USER, PASSWORD = "bob@example.com", "dyn-Pa55-conflict-77"
OURS, THEIRS = "203.0.113.5", "198.51.100.9"
HOUR = 3600


def _agent_conf(extra: str = "") -> str:
    return """
config agent
	option log_level 'debug'
	option retry_max '0'
	option timeout '5'
	option force_interval '1h'
""" + extra


def _record(provider: str, takeover: bool = False) -> str:
    return """
config record 'home'
	option provider '%s'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option interface 'wan'
%s""" % (provider, "\toption takeover '1'\n" if takeover else "")


def _wan(env: AgentEnv, address: str) -> None:
    env.interface("wan", status_with(REAL / "dhcp-public" / "status_wan_up.json",
                                     **{"ipv4-address": [{"address": address, "mask": 24}]}))


def _run(env: AgentEnv, *args: str, code: int):
    done = env.run("-v", *(args or ("update",)))  # -v: always the full cycle, never the fast path
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    for text in (done.stdout, done.stderr, (env.state / "state.json").read_text()):
        assert TOKEN not in text and PASSWORD not in text
    return done


def _due(env: AgentEnv) -> None:
    """Pretend force_interval has passed since the last check (no real waiting in tests)."""
    path = env.state / "state.json"
    data = json.loads(path.read_text())
    for entry in data["records"].values():
        if entry.get("checked"):
            entry["checked"] -= HOUR + 1
    path.write_text(json.dumps(data))


class TwoAgents:
    """Agents `a` (WAN OURS) and `b` (WAN THEIRS), each its own config and state, one fake record."""

    def __init__(self, tmp_path: Path, serve, takeover: bool = False) -> None:
        self.fake = CloudflareFake(TOKEN, {"example.com": ZONE})
        self.server = serve(self.fake)
        self.a = self._agent(tmp_path / "a", OURS, takeover)
        self.b = self._agent(tmp_path / "b", THEIRS, False)

    def _agent(self, tmp: Path, address: str, takeover: bool) -> AgentEnv:
        tmp.mkdir()
        env = AgentEnv(tmp)
        env.config(_agent_conf() + """
config provider 'cf'
	option type 'cloudflare'
	option api_token '%s'
	option endpoint '%s'
	option cacert '%s'
""" % (TOKEN, self.server.url + PREFIX, self.server.cafile) + _record("cf", takeover))
        env.conf.chmod(0o600)
        _wan(env, address)
        return env

    def content(self) -> list:
        return [r["content"] for r in self.fake.find("home.example.com")]

    def writes(self) -> int:
        return sum(1 for r in self.server.requests if r.method in ("PATCH", "POST", "PUT"))

    def recheck(self, env: AgentEnv, code: int = 0):
        _due(env)
        return _run(env, code=code)


@pytest.fixture
def two(tmp_path, serve):
    t = TwoAgents(tmp_path, serve)
    yield t
    assert t.fake.errors == []


def _status(env: AgentEnv) -> dict:
    done = env.run("status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["records"][0]


def test_two_agents_flip_the_record_until_the_third_conflict_holds_it(two):
    _run(two.a, code=0)
    _run(two.b, code=0)  # b never wrote this record: what it finds is no conflict
    assert two.content() == [THEIRS] and "another client" not in two.b.run("-v", "plan").stderr

    done = two.recheck(two.a)
    assert ("home.example.com A: another client changed the record: we wrote %s at " % OURS) in done.stderr
    assert ("found %s at " % THEIRS) in done.stderr
    assert "writing %s back (conflict 1 of 3)" % OURS in done.stderr
    assert two.content() == [OURS]
    two.recheck(two.b)
    assert two.content() == [THEIRS]
    assert "writing %s back (conflict 2 of 3)" % OURS in two.recheck(two.a).stderr
    two.recheck(two.b)
    assert two.content() == [THEIRS]

    writes = two.writes()
    held = two.recheck(two.a, code=1)
    assert "not writing: another client is updating it (conflict 3 of 3): held until " \
           "`update --force` or option takeover 1" in held.stderr
    assert two.writes() == writes and two.content() == [THEIRS]  # the flipping stops here
    assert "remote already holds %s" % THEIRS in two.recheck(two.b).stderr
    assert two.writes() == writes and two.content() == [THEIRS]

    requests = len(two.server.requests)
    again = two.recheck(two.a, code=1)
    assert ("home.example.com A: not calling the provider: another client is updating home.example.com "
            "(found %s, we wrote %s); not writing until `update --force` or option takeover 1"
            % (THEIRS, OURS)) in again.stderr
    assert len(two.server.requests) == requests  # a held record costs no request
    row = _status(two.a)
    assert row["result"] == "held" and row["address"] == OURS
    assert row["conflict"]["held"] is True and row["conflict"]["count"] == 3
    assert row["since"] == row["conflict"]["seen_at"]  # held since the third conflict was seen
    assert row["next_check"] is None  # nothing happens until --force: procd need not wake for it
    assert (row["conflict"]["found"], row["conflict"]["ours"]) == (THEIRS, OURS)
    assert row["reason"].startswith("another client is updating home.example.com")
    text = two.a.run("status").stdout
    assert "held" in text and "another client is updating home.example.com" in text


def test_a_record_with_a_conflict_still_costs_one_request_per_change(two):
    _run(two.a, code=0)
    _run(two.b, code=0)
    two.recheck(two.a)  # conflict 1 of 3, written back
    requests = len(two.server.requests)
    _wan(two.a, "203.0.113.6")
    done = _run(two.a, code=0)
    assert "published 203.0.113.6 (was %s)" % OURS in done.stderr and "another client" not in done.stderr
    assert len(two.server.requests) - requests == 1 and two.content() == ["203.0.113.6"]
    row = _status(two.a)
    assert (row["result"], row["conflict"]["count"], row["conflict"]["held"]) == ("published", 1, False)
    assert two.a.run("status").stdout.splitlines()[1].startswith(
        "    another client: found %s at " % THEIRS)


def test_update_force_takes_a_held_record_back_once_and_restarts_the_count(two):
    _run(two.a, code=0)
    _run(two.b, code=0)
    for _ in range(2):
        two.recheck(two.a)
        two.recheck(two.b)
    two.recheck(two.a, code=1)  # held

    forced = _run(two.a, "update", "--force", code=0)
    assert "published %s" % OURS in forced.stderr
    assert two.content() == [OURS]
    assert _status(two.a)["conflict"]["held"] is False and _status(two.a)["conflict"]["count"] == 0
    assert "(conflict 3 of 3): held" in two.recheck(two.b, code=1).stderr  # now b holds its copy
    assert two.content() == [OURS]
    [rec] = two.fake.find("home.example.com")
    rec["content"] = "198.51.100.10"  # a person edits the record by hand
    # a's count started again: this conflict writes back as the first of three
    assert "writing %s back (conflict 1 of 3)" % OURS in two.recheck(two.a).stderr
    assert two.content() == [OURS]


def test_takeover_writes_the_record_back_every_time_and_never_holds(tmp_path, serve):
    two = TwoAgents(tmp_path, serve, takeover=True)
    _run(two.a, code=0)
    for n in range(1, 5):
        _run(two.b, "update", "--force", code=0)  # b insists every time
        assert two.content() == [THEIRS]
        done = two.recheck(two.a)
        assert "writing %s back (conflict %d; takeover 1)" % (OURS, n) in done.stderr
        assert two.content() == [OURS]
    assert _status(two.a)["conflict"]["held"] is False and _status(two.a)["result"] == "published"


def test_a_lost_write_of_our_own_is_no_conflict(two):
    """An earlier attempt that may have landed (failed_address) is ours, not another client's."""
    _run(two.a, code=0)
    path = two.a.state / "state.json"
    data = json.loads(path.read_text())
    data["records"]["home"].update(result="failed", error="could not confirm", failed_address="203.0.113.77",
                                   failures=1)
    path.write_text(json.dumps(data))
    [rec] = two.fake.find("home.example.com")
    rec["content"] = "203.0.113.77"
    done = _run(two.a, code=0)
    assert "another client" not in done.stderr and two.content() == [OURS]


def test_a_record_whose_config_changed_starts_afresh_without_a_conflict(two):
    _run(two.a, code=0)
    _run(two.b, code=0)
    two.a.config(two.a.conf.read_text().replace("option type 'A'", "option type 'A'\n\toption ttl '300'"))
    done = _run(two.a, code=0)
    assert "another client" not in done.stderr and two.content() == [OURS]
    assert _status(two.a)["conflict"] is None


def test_a_takeover_that_is_no_boolean_is_a_one_line_config_error(tmp_path):
    env = AgentEnv(tmp_path)
    env.config(_agent_conf() + "\nconfig provider 'demo'\n\toption type 'log'\n"
               + _record("demo") + "\toption takeover 'always'\n")
    done = env.run("update")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert "home.takeover" in line and "'always'" in line


# -- dyndns2: `nochg` where we expected a change ----------------------------------------------------

class Dyn:
    """A dyndns2 agent (No-IP preset pointed at the fake) whose WAN the test moves."""

    def __init__(self, tmp: Path, server) -> None:
        tmp.mkdir()
        self.env = AgentEnv(tmp)
        secret = tmp / "password"
        secret.write_text(PASSWORD + "\n")
        secret.chmod(0o600)
        self.env.config(_agent_conf() + """
config provider 'dyn'
	option type 'dyndns2'
	option preset 'noip'
	option username '%s'
	option password_file '%s'
	option endpoint '%s'
	option cacert '%s'
""" % (USER, secret, server.url + "/nic/update", server.cafile) + _record("dyn"))

    def at(self, address: str, code: int = 0):
        _wan(self.env, address)
        return _run(self.env, code=code)


def test_dyndns2_nochg_after_we_wrote_another_address_is_another_client(tmp_path, serve):
    fake = Dyndns2Fake({USER: PASSWORD}, {"home.example.com": USER})
    server = serve(fake)
    a, b = Dyn(tmp_path / "a", server), Dyn(tmp_path / "b", server)
    a.at("203.0.113.5")
    b.at("203.0.113.6")  # the other client moves first, each time
    first = a.at("203.0.113.6")
    assert fake.answers[-1] == "nochg 203.0.113.6"
    assert ("home.example.com A: another client changed the record: we wrote 203.0.113.5 at ") in first.stderr
    assert "found 203.0.113.6 at " in first.stderr
    assert "it is our address now, nothing to write (conflict 1 of 3)" in first.stderr
    b.at("203.0.113.7")
    assert "(conflict 2 of 3)" in a.at("203.0.113.7").stderr
    b.at("203.0.113.8")
    third = a.at("203.0.113.8", code=1)  # the record holds our address, written by the other client
    assert "(conflict 3 of 3): held until `update --force` or option takeover 1" in third.stderr
    assert json.loads(a.env.run("status", "--json").stdout)["records"][0]["result"] == "held"

    sent = len(fake.requests)
    held = a.at("203.0.113.9", code=1)
    assert "not calling the provider: another client is updating home.example.com" in held.stderr
    assert len(fake.requests) == sent and fake.records["home.example.com"]["A"] == "203.0.113.8"
    forced = _run(a.env, "update", "--force", code=0)
    assert "published 203.0.113.9" in forced.stderr
    assert fake.records["home.example.com"]["A"] == "203.0.113.9"
    assert fake.errors == []


def test_dyndns2_nochg_at_start_up_is_no_conflict(tmp_path, serve):
    fake = Dyndns2Fake({USER: PASSWORD}, {"home.example.com": USER})
    fake.records["home.example.com"]["A"] = "203.0.113.5"
    a = Dyn(tmp_path / "a", serve(fake))
    done = a.at("203.0.113.5")
    assert fake.answers == ["nochg 203.0.113.5"] and "another client" not in done.stderr


def test_duckdns_nochange_after_we_wrote_another_address_is_another_client(tmp_path, serve):
    token = "duck-conflict-token-0a1b2c3d4e5f"
    fake = DuckDNSFake(token)
    server = serve(fake)
    env = AgentEnv(tmp_path)
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "token").chmod(0o600)
    env.config(_agent_conf() + """
config provider 'duck'
	option type 'duckdns'
	option token_file '%s'
	option endpoint '%s'
	option cacert '%s'

config record 'home'
	option provider 'duck'
	option domain 'duckdns.org'
	option name 'myhome'
	option type 'A'
	option interface 'wan'
""" % (tmp_path / "token", server.url, server.cafile))
    _wan(env, "203.0.113.5")
    _run(env, code=0)
    fake.records["myhome"]["A"] = "203.0.113.6"  # another client got there first
    _wan(env, "203.0.113.6")
    done = _run(env, code=0)
    assert "myhome.duckdns.org A: another client changed the record: we wrote 203.0.113.5 at " in done.stderr
    assert "it is our address now, nothing to write (conflict 1 of 3)" in done.stderr
    assert token not in done.stderr


# -- the pure judgement ---------------------------------------------------------------------------

def test_judge_counts_only_conflicts_within_the_window():
    before = {"address": OURS, "time": 1000.0, "conflict": {
        "found": THEIRS, "ours": OURS, "wrote_at": 900.0, "seen_at": 1000.0, "count": 2, "held": False}}
    soon = conflict.judge(before, THEIRS, OURS, 1000.0 + conflict.WINDOW_S)
    assert soon.hold and soon.entry["count"] == 3
    late = conflict.judge(before, THEIRS, OURS, 1001.0 + conflict.WINDOW_S)
    assert not late.hold and late.entry["count"] == 1


def test_judge_sees_no_conflict_in_our_own_values_or_without_a_write_of_ours():
    assert conflict.judge({"address": OURS}, OURS, OURS, 1.0) is None
    mine = {"address": OURS, "pending": "203.0.113.9"}
    assert conflict.judge(mine, "203.0.113.9", "203.0.113.9", 1.0) is None
    assert conflict.judge({}, THEIRS, OURS, 1.0) is None
    assert conflict.judge({"address": OURS}, None, OURS, 1.0) is None


def test_a_malformed_conflict_entry_in_state_counts_as_none():
    assert conflict.entry_of({"conflict": {"count": "3", "held": True}}) is None
    assert conflict.entry_of({"conflict": {"found": "x", "ours": "y", "count": True, "held": True}}) is None
    odd = {"found": THEIRS, "ours": OURS, "seen_at": "now", "wrote_at": 1e300, "count": 1, "held": False}
    assert conflict.entry_of({"conflict": odd})["seen_at"] is None
    assert conflict.judge({"address": OURS, "conflict": odd}, THEIRS, OURS, 5.0).entry["count"] == 1
    assert conflict.hold_reason("home.example.com", {"conflict": ["x"]}) is None


class _Sel:
    address, status, reason, origin = "203.0.113.7", "ok", "", "netifd wan"


HELD = {"address": OURS, "config": "h1", "checked": 900.0, "result": "held", "conflict": {
    "found": THEIRS, "ours": OURS, "wrote_at": 800.0, "seen_at": 900.0, "count": 3, "held": True}}


def _decide(force: bool = False, **options):
    r = RecordConfig("home", "cf", "example.com", "home", interface="wan", options=options)
    saved = {"home": dict(HELD)}
    return plan.plan([r], {"home": _Sel()}, saved, 1000.0, force, 86400, {"home": "h1"}).items[0]


def test_a_held_record_plans_wait_in_words_even_when_its_address_changed():
    item = _decide()
    assert item.action == "wait" and item.reason == (
        "another client is updating home.example.com (found %s, we wrote %s); not writing until "
        "`update --force` or option takeover 1" % (THEIRS, OURS))


def test_force_and_takeover_plan_a_held_record_for_publishing():
    forced = _decide(force=True)
    assert forced.action == "publish" and forced.verify  # --force reads the record first
    assert _decide(takeover=True).action == "publish"
