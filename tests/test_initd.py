"""The procd init script (init.d/ddns_agent) and its re-check pass (openwrt/files/ddns_agent.recheck).

The init script runs under a stand-in /etc/rc.common whose procd helpers record every call; the
re-check pass runs for real with a recording `ddns-agent` and the real captures. The real procd
respawning it, with nothing resident between passes, is tests/test_openwrt_idle.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest
from standins.router import INIT, REAL, RECHECK, STANDINS, Router, shellcheck

CONFIG = """
config agent 'main'
	option state_dir '{state}'

config provider 'dry'
	option type 'log'

config record 'home4'
	option provider 'dry'
	option domain 'example.com'
	option interface 'wan'
"""


def procd(router: Router, action: str) -> list:
    """Run `/etc/init.d/ddns_agent <action>`; the procd calls it made, as argument lists."""
    log = router.tmp / "procd.log"
    if log.exists():
        log.unlink()
    result = subprocess.run(["/bin/sh", str(STANDINS / "rc.common"), str(INIT), action],
                            env=router.env(PROCD_LOG=str(log)), capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in log.read_text().splitlines()] if log.exists() else []


def instances(calls: list) -> dict:
    """Instance name -> {param: [values...]} from the recorded calls."""
    found: dict = {}
    current = None
    for call in calls:
        if call[0] == "procd_open_instance":
            current = found.setdefault(call[1], {})
        elif call[0] == "procd_close_instance":
            current = None
        elif call[0] == "procd_set_param":
            assert current is not None, "procd_set_param outside an instance: %s" % call
            current[call[1]] = call[2:]
    return found


def triggers(calls: list) -> list:
    """Every trigger registration, as recorded."""
    return [c for c in calls if "trigger" in c[0]]


@pytest.fixture
def router(tmp_path):
    """A stand-in router with an enabled agent."""
    r = Router(tmp_path)
    r.config(CONFIG)
    return r


def _need_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed") if os.environ.get("CI") else pytest.skip("no shellcheck")


@pytest.mark.parametrize("script", [INIT, RECHECK], ids=["init", "recheck"])
def test_shellcheck_finds_nothing(script):
    _need_shellcheck()
    result = shellcheck(script)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("action", ["start", "boot", "reload"])
def test_start_runs_one_update_and_a_respawned_recheck_pass(router, action):
    calls = procd(router, action)

    got = instances(calls)
    assert set(got) == {"update", "recheck"}
    # one update per start/reload; no respawn, so no Python stays resident
    assert got["update"]["command"] == ["/usr/bin/ddns-agent", "update"]
    assert "respawn" not in got["update"]
    # a changed config restarts an update that is still running, so reload applies it at once
    assert got["update"]["file"] == ["/etc/config/ddns_agent"]
    # one re-check pass that exits; procd starts it again 60 s later (threshold 0 and retry 0:
    # never a crash loop), so nothing of ours is resident between passes
    assert got["recheck"]["command"] == ["/bin/sh", "/usr/lib/ddns_agent/recheck", str(router.state)]
    assert got["recheck"]["respawn"] == ["0", "60", "0"]
    assert calls[0] == ["procd_open_service", "ddns_agent"]
    assert (router.root / "var/run/ddns_agent.started").exists()


def test_only_the_config_triggers_a_reload(router):
    calls = procd(router, "start")

    # interface events go through the hotplug script's fingerprint check instead: a procd
    # interface trigger would start Python on every DHCPv6 lifetime refresh
    assert triggers(calls) == [["procd_add_reload_trigger", "ddns_agent"]]


def test_agent_enabled_0_runs_nothing_but_keeps_listening_for_config_changes(router):
    procd(router, "start")
    router.config(CONFIG.replace("config agent 'main'\n", "config agent 'main'\n\toption enabled '0'\n"))

    calls = procd(router, "reload")

    assert instances(calls) == {}
    assert triggers(calls) == [["procd_add_reload_trigger", "ddns_agent"]]
    assert not (router.root / "var/run/ddns_agent.started").exists()


def test_stop_ends_everything_and_tells_the_hotplug_script(router):
    procd(router, "start")

    calls = procd(router, "stop")

    assert ["procd_kill", "ddns_agent"] in calls
    assert not (router.root / "var/run/ddns_agent.started").exists()


def test_recheck_gets_the_configured_state_dir(router, tmp_path):
    router.config(CONFIG.replace("{state}", str(tmp_path / "elsewhere")))

    got = instances(procd(router, "start"))

    assert got["recheck"]["command"][-1] == str(tmp_path / "elsewhere")


def recheck_pass(router: Router, sweep: int = 1, **env: str) -> subprocess.CompletedProcess:
    """One pass of the re-check script, as procd starts it (then it exits)."""
    router.state.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["/bin/sh", str(RECHECK), str(router.state), str(sweep)],
                          env=router.env(**env), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=30)


def test_due_next_check_runs_an_update_and_a_future_one_does_not(router):
    router.state.mkdir(parents=True, exist_ok=True)
    (router.state / "next_check").write_text("%d\n" % (time.time() + 3600))
    assert recheck_pass(router).returncode == 0
    assert router.agent_calls() == []

    (router.state / "next_check").write_text("%d.5\n" % (time.time() - 1))
    recheck_pass(router)

    assert router.agent_calls() == ["update"]


def test_a_due_time_within_the_current_second_waits_for_the_next_pass(router):
    # the agent writes the whole second of a fractional due time (1000.6 -> 1000); at 1000.2 it
    # would find nothing due and leave 1000 in place, which the pass would then take as stuck
    clock = router.bin / "date"
    clock.write_text("#!/bin/sh\necho 1000\n")
    clock.chmod(0o755)
    router.state.mkdir(parents=True, exist_ok=True)
    (router.state / "next_check").write_text("1000\n")
    recheck_pass(router)
    assert router.agent_calls() == []

    clock.write_text("#!/bin/sh\necho 1001\n")
    recheck_pass(router)
    assert router.agent_calls() == ["update"]


def test_a_due_time_the_agent_never_moves_is_not_retried_every_pass(router):
    router.state.mkdir(parents=True, exist_ok=True)
    (router.state / "next_check").write_text("%d\n" % (time.time() - 10))

    for _ in range(3):
        recheck_pass(router)

    assert router.agent_calls() == ["update"]


def test_sweep_updates_an_interface_whose_fingerprint_moved_without_an_event(router):
    pd = REAL / "dhcpv6-pd"
    router.fingerprint("wan6", pd / "status_wan6_up.json")
    router.serve("wan6", pd / "status_wan6_changed.json")
    router.fingerprint("wan", pd / "status_wan_up.json")
    router.serve("wan", pd / "status_wan_changed.json")  # same address, new lease times

    recheck_pass(router)

    assert router.agent_calls() == ["update --interface wan6"]


def test_sweep_runs_every_nth_pass_only(router):
    pd = REAL / "dhcpv6-pd"
    router.fingerprint("wan6", pd / "status_wan6_up.json")
    router.serve("wan6", pd / "status_wan6_changed.json")

    recheck_pass(router, sweep=3)
    recheck_pass(router, sweep=3)
    assert router.ubus_calls() == [] and router.agent_calls() == []
    recheck_pass(router, sweep=3)

    assert router.agent_calls() == ["update --interface wan6"]


def test_two_moved_interfaces_and_a_due_time_make_one_update_of_all(router):
    pd = REAL / "dhcpv6-pd"
    router.fingerprint("wan6", pd / "status_wan6_up.json")
    router.serve("wan6", pd / "status_wan6_changed.json")
    router.fingerprint("lan", pd / "status_wan6_up.json")
    router.serve("lan", pd / "status_wan6_changed.json")

    recheck_pass(router)

    assert router.agent_calls() == ["update"]


def test_the_pass_becomes_the_agent_so_stop_signals_the_agent_itself(router):
    router.state.mkdir(parents=True, exist_ok=True)
    (router.state / "next_check").write_text("0\n")
    pids = router.tmp / "agent_pids"
    proc = subprocess.Popen(["/bin/sh", str(RECHECK), str(router.state), "1"],
                            env=router.env(DDNS_AGENT_STANDIN_SLEEP="60",
                                           DDNS_AGENT_STANDIN_PIDS=str(pids)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (pids.exists() and pids.read_text().strip()):
            time.sleep(0.05)
        # exec: procd's SIGTERM on `service ddns_agent stop` reaches the agent, nothing is orphaned
        assert int(pids.read_text().split()[0]) == proc.pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


UNIT = INIT.parent / "ddns-agent.service"


def _unit() -> dict:
    values: dict = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_systemd_unit_runs_watch_with_state_on_tmpfs_and_netlink_allowed():
    unit = _unit()

    assert unit["ExecStart"][-1].split()[0] == "ddns-agent" and unit["ExecStart"][-1].endswith(" watch")
    assert "--state-dir %t/ddns_agent" in unit["ExecStart"][-1]  # %t = /run: tmpfs
    assert unit["RuntimeDirectory"] == ["ddns_agent"]
    assert unit["Restart"] == ["on-failure"]
    assert set(unit["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6",
                                                               "AF_NETLINK"}
    assert unit["NoNewPrivileges"] == ["yes"] and unit["ProtectSystem"] == ["strict"]
    assert "/run/ddns_agent" in unit["ReadWritePaths"]
    assert "PrivateNetwork" not in unit  # the agent reads the host's own addresses


def test_systemd_accepts_the_unit(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # verify wants the command to exist: point ExecStart at a stand-in
    unit = tmp_path / "ddns-agent.service"
    unit.write_text(UNIT.read_text().replace("ExecStart=ddns-agent ",
                                             "ExecStart=%s " % (STANDINS / "ddns-agent")))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                            timeout=60)
    # an unknown or misspelt setting is only a warning: any output counts as a failure
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stderr
