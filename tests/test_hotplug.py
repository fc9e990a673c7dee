"""The hotplug script (/etc/hotplug.d/iface/95-ddns_agent) on real netifd events and captures.

Each event is a real environment from openwrt-22.03-real/*/hotplug_env.txt; `ubus` prints the
real status captures; `ddns-agent` is a recording stand-in that sleeps, so a script that waited
for it would be caught.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from standins.router import (
    A_ON_WAN,
    HOTPLUG,
    REAL,
    Router,
    hotplug_events,
    pipeline_fingerprint,
    run_hotplug,
    shellcheck,
    subscribe_updates,
    ubus_format,
)
from standins.router import agent_fingerprint as agent_fp

AAAA_ON_LAN = A_ON_WAN + """
config record 'nas6'
	option provider 'dry'
	option domain 'example.com'
	option name 'nas'
	option type 'AAAA'
	option interface 'lan'
	option ipv6_suffix '::1234'
"""

DHCP = REAL / "dhcp-public"
PD = REAL / "dhcpv6-pd"


def event(scenario: str, action: str, interface: str, **flags: str) -> dict:
    """The first real hotplug environment of `scenario` with this ACTION, INTERFACE and IFUPDATE_* set."""
    for env in hotplug_events(scenario):
        have = {k: v for k, v in env.items() if k.startswith("IFUPDATE_")}
        if env["ACTION"] == action and env["INTERFACE"] == interface and (not flags or have == flags):
            return env
    raise LookupError("no %s %s %s event in %s" % (action, interface, flags, scenario))


@pytest.fixture
def router(tmp_path):
    """An enabled, started ddns_agent on a stand-in router."""
    r = Router(tmp_path)
    r.enable()
    r.start()
    return r


def test_shellcheck_finds_nothing_in_the_hotplug_script():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed") if os.environ.get("CI") else pytest.skip("no shellcheck")
    result = shellcheck(HOTPLUG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_wan_ifup_starts_one_background_update_and_returns_at_once(router):
    router.config(A_ON_WAN)
    router.serve("wan", DHCP / "status_wan_up.json")
    ev = event("dhcp-public", "ifup", "wan")
    assert ev["DEVICE"] == "eth1"

    run = run_hotplug(router, ev, hold=True)  # fails unless it returns while the agent runs

    assert run.returncode == 0, run.stderr
    assert router.agent_calls() == ["update --interface wan"]


def test_ifdown_starts_nothing(router):
    router.config(A_ON_WAN)
    router.serve("wan", DHCP / "status_wan_initial.json")

    run = run_hotplug(router, event("dhcp-public", "ifdown", "wan"))

    assert run.returncode == 0
    assert router.agent_calls() == []
    assert router.ubus_calls() == []


def test_interface_that_no_record_uses_starts_no_python_and_reads_nothing(router):
    router.config(A_ON_WAN)  # no AAAA record: wan6 events concern nobody
    router.serve("wan6", PD / "status_wan6_up.json")

    run_hotplug(router, event("dhcpv6-pd", "ifup", "wan6"))
    run_hotplug(router, event("dhcpv6-pd", "ifupdate", "wan6", IFUPDATE_PREFIXES="1"))

    assert router.agent_calls() == []
    assert router.ubus_calls() == []


def test_reconnect_with_a_new_address_starts_an_update(router):
    # dhcp-public: the ISP renumbers; netifd reports ifdown, then ifup with 198.51.100.54
    router.config(A_ON_WAN)
    router.fingerprint("wan", DHCP / "status_wan_up.json")
    router.serve("wan", DHCP / "status_wan_changed.json")
    ifup_after_ifdown = [e for e in hotplug_events("dhcp-public") if e["ACTION"] == "ifup"][-1]

    run_hotplug(router, ifup_after_ifdown, hold=True)

    assert router.agent_calls() == ["update --interface wan"]


def test_an_event_on_any_interface_of_a_record_set_starts_an_update(router):
    # docs/record-sets.md: `list interface 'wan'` + `list interface 'wanb'`
    router.config(A_ON_WAN.replace("\toption interface 'wan'",
                                   "\tlist interface 'wanb'\n\tlist interface 'wan'"))
    router.fingerprint("wan", DHCP / "status_wan_up.json")
    router.serve("wan", DHCP / "status_wan_changed.json")
    ifup_after_ifdown = [e for e in hotplug_events("dhcp-public") if e["ACTION"] == "ifup"][-1]

    run_hotplug(router, ifup_after_ifdown, hold=True)

    assert router.agent_calls() == ["update --interface wan"]


def test_reconnect_with_the_same_address_starts_no_python(router):
    router.config(A_ON_WAN)
    router.fingerprint("wan", DHCP / "status_wan_up.json")
    router.serve("wan", DHCP / "status_wan_up.json")

    run_hotplug(router, event("dhcp-public", "ifup", "wan"))

    assert router.ubus_calls() == ["-t 2 call network.interface.wan status"]
    assert router.agent_calls() == []


LIFETIME_ONLY = [(a, b) for a, b in zip(subscribe_updates("dhcpv6-pd"), subscribe_updates("dhcpv6-pd")[1:])
                 if a["interface"] == b["interface"] == "wan6" and b.get("updated") == ["prefixes"]]


@pytest.mark.parametrize("before,after", LIFETIME_ONLY, ids=[str(i) for i in range(len(LIFETIME_ONLY))])
def test_renewal_that_moves_only_lifetimes_starts_no_python(router, before, after):
    # consecutive real notifications: same prefixes, new preferred/valid lifetimes
    assert before != after
    assert agent_fp(ubus_format(before)) == agent_fp(ubus_format(after))
    router.config(AAAA_ON_LAN)
    router.fingerprint("wan6", before)
    router.serve("wan6", after)

    run_hotplug(router, event("dhcpv6-pd", "ifupdate", "wan6", IFUPDATE_PREFIXES="1"))

    assert router.ubus_calls() == ["-t 2 call network.interface.wan6 status"]
    assert router.agent_calls() == []


def test_renewal_sequence_has_lifetime_only_updates():
    # the parametrised test above must not silently run zero cases
    assert len(LIFETIME_ONLY) >= 5


def test_new_delegated_prefix_starts_an_update_for_wan6(router):
    router.config(AAAA_ON_LAN)
    router.fingerprint("wan6", PD / "status_wan6_up.json")
    router.serve("wan6", PD / "status_wan6_changed.json")

    run_hotplug(router, event("dhcpv6-pd", "ifupdate", "wan6", IFUPDATE_PREFIXES="1",
                                    IFUPDATE_ROUTES="1"), hold=True)

    assert router.agent_calls() == ["update --interface wan6"]


def test_expired_old_prefix_starts_an_update(router):
    router.config(AAAA_ON_LAN)
    router.fingerprint("wan6", PD / "status_wan6_changed.json")
    router.serve("wan6", PD / "status_wan6_old_prefix_expired.json")

    run_hotplug(router, event("dhcpv6-pd", "ifupdate", "wan6", IFUPDATE_PREFIXES="1"))

    assert router.agent_calls() == ["update --interface wan6"]


def test_aaaa_record_on_lan_is_served_by_wan6_events(router):
    # lan's prefix assignment changes without a lan event: wan6's ifup must wake the agent
    router.config(AAAA_ON_LAN.replace("option interface 'wan'", "option interface 'wan_unused'"))
    router.serve("wan6", PD / "status_wan6_up.json")

    run_hotplug(router, event("dhcpv6-pd", "ifup", "wan6"))

    assert router.agent_calls() == ["update --interface wan6"]


def test_ifupdate_without_address_or_prefix_change_starts_nothing(router):
    router.config(AAAA_ON_LAN)
    router.fingerprint("wan6", PD / "status_wan6_up.json")
    router.serve("wan6", PD / "status_wan6_changed.json")
    routes_only = dict(event("dhcpv6-pd", "ifupdate", "wan6", IFUPDATE_PREFIXES="1", IFUPDATE_ROUTES="1"))
    del routes_only["IFUPDATE_PREFIXES"]

    run_hotplug(router, routes_only)

    assert router.agent_calls() == []


def test_unreadable_status_leaves_the_decision_to_the_agent(router):
    router.config(A_ON_WAN)
    router.fingerprint("wan", DHCP / "status_wan_up.json")  # no status served: ubus says Not found

    run_hotplug(router, event("dhcp-public", "ifup", "wan"))

    assert router.agent_calls() == ["update --interface wan"]


@pytest.mark.parametrize("why", ["agent enabled 0", "record enabled 0", "service disabled",
                                 "service stopped"])
def test_nothing_runs_when_switched_off(router, why):
    config = A_ON_WAN
    if why == "agent enabled 0":
        config = config.replace("config agent 'main'\n", "config agent 'main'\n\toption enabled '0'\n")
    elif why == "record enabled 0":
        config += "\toption enabled '0'\n"
    elif why == "service disabled":
        router.enable(False)
    else:
        router.start(False)
    router.config(config)
    router.serve("wan", DHCP / "status_wan_up.json")

    run_hotplug(router, event("dhcp-public", "ifup", "wan"))

    assert router.agent_calls() == []


def test_state_dir_comes_from_the_config(router, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    router.config(A_ON_WAN.replace("{state}", str(elsewhere)))
    router.state = elsewhere
    router.fingerprint("wan", DHCP / "status_wan_up.json")
    router.serve("wan", DHCP / "status_wan_up.json")

    run_hotplug(router, event("dhcp-public", "ifup", "wan"))

    assert router.agent_calls() == []


def test_run_directly_with_sh_it_loads_functions_sh_itself(router):
    router.config(A_ON_WAN)
    router.serve("wan", DHCP / "status_wan_up.json")

    run = run_hotplug(router, event("dhcp-public", "ifup", "wan"), direct=True)

    assert run.returncode == 0, run.stderr
    assert router.agent_calls() == ["update --interface wan"]


def _captures() -> list:
    found = sorted(REAL.glob("*/status_*.json"))
    for dump in sorted(REAL.glob("*/dump_*.json")):
        for iface in json.loads(dump.read_text())["interface"]:
            found.append((dump.name, iface))
    return found


@pytest.mark.parametrize("capture", _captures(), ids=lambda c: c.name if hasattr(c, "name") else
                         "%s-%s" % (c[0], c[1]["interface"]))
def test_shell_fingerprint_equals_the_agents(capture):
    text = capture.read_text() if hasattr(capture, "read_text") else ubus_format(capture[1])
    assert pipeline_fingerprint(text) == agent_fp(text)


def test_ubus_format_prints_addresses_like_ubus_call():
    # the notifications are replayed through ubus_format: it must print what `ubus call` prints
    for path in sorted(REAL.glob("*/status_*.json")):
        text = path.read_text()
        assert pipeline_fingerprint(ubus_format(json.loads(text))) == pipeline_fingerprint(text), path


BAD_TTL = A_ON_WAN.replace("option interface 'wan'", "option ttl 'soon'\n\toption interface 'wan'")


def test_a_config_error_in_a_hotplug_started_run_reaches_syslog(router):
    from standins.devlog import DevLog, require_unshare

    require_unshare()
    router.config(BAD_TTL)
    router.serve("wan", DHCP / "status_wan_up.json")
    syslog = DevLog(router.tmp)
    agent = router.bin / "ddns-agent"
    agent.unlink()  # the real agent, which sees a /dev/log as on a router
    syslog.wrapper(agent, "--config", str(router.config_dir / "ddns_agent"))
    try:
        run = run_hotplug(router, event("dhcp-public", "ifup", "wan"))
        lines = syslog.lines()
    finally:
        syslog.close()

    assert run.returncode == 0 and run.stderr == ""  # hotplug-call's own output stays clean
    config = router.config_dir / "ddns_agent"
    line = next(n for n, text in enumerate(BAD_TTL.splitlines(), 1) if "'soon'" in text)
    assert len(lines) == 1, lines  # `logread -e ddns` shows it: tag ddns_agent, one line
    assert lines[0].startswith("<27>")  # daemon.err
    assert lines[0].endswith("ddns_agent[%s]: %s:%d: home4.ttl: expected an integer 1-86400, got 'soon'"
                             % (lines[0].split("[")[1].split("]")[0], config, line))


def test_a_config_error_is_logged_once_when_procd_also_logs_stderr(router):
    import subprocess

    from standins.devlog import DevLog, require_unshare

    require_unshare()
    router.config(BAD_TTL)
    syslog = DevLog(router.tmp)
    try:  # procd_set_param stderr 1: procd sends the service's stderr to syslog too
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(HOTPLUG.parents[2])}
        done = subprocess.run(syslog.argv("--config", str(router.config_dir / "ddns_agent"), "update"),
                              capture_output=True, text=True, timeout=60, env=env)
        lines = syslog.lines()
    finally:
        syslog.close()
    assert done.returncode == 2 and done.stderr == ""
    assert len(lines) == 1 and "home4.ttl: expected an integer 1-86400, got 'soon'" in lines[0]
