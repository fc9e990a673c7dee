"""Whole-process figures: update vs its floor, no-change vs `python3 -c pass`, hotplug vs `sh -c true`."""

from __future__ import annotations

import json

import boxes
from measure import BenchError, Variant, interleave, ratios, rss_mb, summary, walls
from standins.router import A_ON_WAN


def update_cycle(root, ca, transport: str, reps: int) -> dict:
    """`ddns-agent update` publishing one changed record (one PATCH) vs a bare interpreter's PATCH.

    transport "plain": the default configuration against a plain-HTTP endpoint (no CA store to load).
    """
    plain = transport == "plain"
    served = boxes.cloudflare(ca, tls=not plain)
    try:
        fake = served.handler
        box = boxes.Box(root, "update-" + transport)
        box.config("cf", boxes.cloudflare_options(served), [("home4", "example.com", "home", "A")])
        env = box.env_for(None if plain else transport)
        box.wan(boxes.V4[1])
        first = Variant("first", box.argv("update"), env)
        first.run()  # creates the record and caches its id: later runs are steady state
        (rec,) = fake.find("home.example.com")
        floor_rec = fake.add("example.com", "floor.example.com", "A", boxes.V4[1])
        floor_url = "%s/client/v4/zones/%s/dns_records/%s" % (served.server.url, rec["zone_id"],
                                                             floor_rec["id"])
        marks: dict = {}

        def agent_prepare(i: int) -> None:
            box.wan(boxes.V4[i % 2])
            marks["agent"] = served.mark()

        def agent_check(i: int, sample) -> None:
            n, conns, methods = served.since(marks["agent"])
            if methods != ["PATCH"] or conns != 1:
                raise BenchError("update (%s) sent %s over %d connection(s), expected one PATCH"
                                 % (transport, methods, conns))
            if fake.records[rec["id"]]["content"] != boxes.V4[i % 2]:
                raise BenchError("update (%s) did not publish %s" % (transport, boxes.V4[i % 2]))

        floor_env = {}

        def floor_prepare(i: int) -> None:
            body = json.dumps({"content": boxes.V4[i % 2]})
            floor_env.clear()
            floor_env.update(boxes.floor_env(env, floor_url, served.server.cafile or "", body))
            marks["floor"] = served.mark()

        def floor_check(i: int, sample) -> None:
            n, conns, methods = served.since(marks["floor"])
            if methods != ["PATCH"]:
                raise BenchError("floor (%s) sent %s" % (transport, methods))

        agent = Variant("agent", box.argv("update"), env, agent_prepare, agent_check)
        floor = Variant("floor", boxes.floor_argv(transport), floor_env, floor_prepare, floor_check)
        variants = [agent, floor]
        if transport == "stdlib":  # issue 5 defines the floor as a bare urllib3 request: run it too
            variants.append(Variant("urllib3 floor", boxes.floor_argv("urllib3"), floor_env,
                                    floor_prepare, floor_check))
        runs = interleave(variants, reps)
        if fake.errors:
            raise BenchError("the Cloudflare fake crashed: %r" % fake.errors[0])
    finally:
        served.stop()
    a, f = runs["agent"], runs["floor"]
    rss_a, rss_f = summary(rss_mb(a)), summary(rss_mb(f))
    result = {"transport": transport, "agent_ms": summary(walls(a)), "floor_ms": summary(walls(f)),
              "ratio": ratios(walls(a), walls(f)), "agent_rss_mb": rss_a, "floor_rss_mb": rss_f,
              "rss_delta_mb": rss_a["median"] - rss_f["median"], "requests_per_run": 1}
    if "urllib3 floor" in runs:
        u = runs["urllib3 floor"]
        result.update(urllib3_floor_ms=summary(walls(u)), urllib3_ratio=ratios(walls(a), walls(u)),
                      urllib3_rss_delta_mb=rss_a["median"] - summary(rss_mb(u))["median"])
    return result


LOG_PROVIDER = {"type": "log"}


def no_change(root, ca, reps: int, command: str | None = None) -> dict:
    """`ddns-agent update` with the state already right (no provider call) vs `python3 -c pass`.

    `command`: the installed `ddns-agent` to run (default: started as the OpenWrt launcher does).
    """
    served = boxes.cloudflare(ca)
    try:
        box = boxes.Box(root, "nochange-pip" if command else "nochange")
        box.config("cf", boxes.cloudflare_options(served), [("home4", "example.com", "home", "A")])
        box.wan(boxes.V4[0])
        argv = box.argv("update")
        if command:
            argv[:2] = [command]
        Variant("first", argv, box.env).run()
        mark = served.mark()

        def check(i: int, sample) -> None:
            if served.since(mark)[0]:
                raise BenchError("a no-change update sent a request")

        agent = Variant("agent", argv, box.env, check=check)
        bare = Variant("python -c pass", [boxes.PY, "-c", "pass"], box.env)
        runs = interleave([agent, bare], reps)
    finally:
        served.stop()
    a, b = runs["agent"], runs["python -c pass"]
    return {"agent_ms": summary(walls(a)), "python_ms": summary(walls(b)),
            "ratio": ratios(walls(a), walls(b)), "agent_rss_mb": summary(rss_mb(a)),
            "python_rss_mb": summary(rss_mb(b))}


DEVICE_CONFIG = """
config provider 'demo'
	option type 'log'

config record 'home4'
	option provider 'demo'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option device 'wan0'

config record 'home6'
	option provider 'demo'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option device 'wan0'
"""


def _settle(ns, device: str) -> None:
    """Wait (at most 5 s) until duplicate detection of the link-local address is over: its end changes
    the device's fingerprint, and the first no-change run would rightly take the full cycle."""
    import time

    for _ in range(100):
        if not ns.ip("-6", "addr", "show", "dev", device, "tentative").stdout.strip():
            return
        time.sleep(0.05)
    raise BenchError("%s kept a tentative IPv6 address for 5 s" % device)


def no_change_device(root, reps: int) -> dict:
    """The same for records on a netlink device (plain Linux), inside a namespace made for it.

    The helper that starts the children runs in the namespace, so neither side pays `ip netns exec`.
    """
    from netns import Netns, _why_missing
    from spawner import Spawner

    missing = _why_missing()
    if missing:
        return {"skipped": missing}
    with Netns("ddnsbench") as ns:
        ns.add_device("wan0")
        ns.ip("addr", "add", boxes.V4[0] + "/24", "dev", "wan0")
        ns.ip("-6", "addr", "add", boxes.V6[0] + "/64", "dev", "wan0", "nodad")
        _settle(ns, "wan0")
        box = boxes.Box(root, "nochange-device")
        box.conf.write_text(boxes.AGENT_SECTION.format(state=box.state) + DEVICE_CONFIG)
        spawner = Spawner(ns.argv())
        try:
            Variant("first", box.argv("update"), box.env, spawner=spawner).run()
            left = (box.state / "quick").read_text() if (box.state / "quick").exists() else ""
            if "\ndev wan0 " not in left:
                raise BenchError("the first run left no fast-path summary for wan0: %r" % left)
            before = (box.state / "state.json").stat().st_mtime_ns

            def check(i: int, sample) -> None:
                if (box.state / "state.json").stat().st_mtime_ns != before:
                    raise BenchError("a no-change update of a device record took the full cycle")

            agent = Variant("agent", box.argv("update"), box.env, check=check, spawner=spawner)
            bare = Variant("python -c pass", [boxes.PY, "-c", "pass"], box.env, spawner=spawner)
            runs = interleave([agent, bare], reps)
        finally:
            spawner.close()
    a, b = runs["agent"], runs["python -c pass"]
    return {"agent_ms": summary(walls(a)), "python_ms": summary(walls(b)),
            "ratio": ratios(walls(a), walls(b))}


HOTPLUG_CONFIG = A_ON_WAN


def hotplug(root, reps: int) -> dict:
    """The hotplug script's no-change exit (fingerprint equal) vs `sh -c true`, as hotplug-call runs it."""
    from standins.router import HOTPLUG, Router, hotplug_events

    if not HOTPLUG.exists():
        return {"skipped": "%s does not exist yet" % HOTPLUG.relative_to(boxes.REPO)}
    router = Router(root / "hotplug")
    router.enable()
    router.start()
    router.config(HOTPLUG_CONFIG)
    router.serve("wan", boxes.WAN_UP)
    router.fingerprint("wan", boxes.WAN_UP)
    event = next(e for e in hotplug_events("dhcp-public")
                 if e["ACTION"] == "ifup" and e["INTERFACE"] == "wan")
    env = router.env()
    env.update(event)
    # /sbin/hotplug-call: functions.sh loaded, each script sourced in a subshell
    argv = ["/bin/sh", "-c", '. "$1"; ( . "$2" )', "hotplug-call",
            str(router.root / "lib" / "functions.sh"), str(HOTPLUG)]
    seen = {"ubus": 0}

    def check(i: int, sample) -> None:
        if router.agent_calls():
            raise BenchError("the hotplug script started the agent although the fingerprint matched")
        calls = len(router.ubus_calls())
        if calls != seen["ubus"] + 1:
            raise BenchError("the hotplug script did not read the interface (%d ubus calls)" % calls)
        seen["ubus"] = calls

    script = Variant("hotplug", argv, env, check=check)
    true = Variant("sh -c true", ["/bin/sh", "-c", "true"], env)
    bare = Variant("python -c pass", [boxes.PY, "-c", "pass"], env)
    runs = interleave([script, true, bare], reps)
    h, t, p = runs["hotplug"], runs["sh -c true"], runs["python -c pass"]
    return {"hotplug_ms": summary(walls(h)), "sh_true_ms": summary(walls(t)),
            "python_ms": summary(walls(p)), "ratio": ratios(walls(h), walls(t)),
            "vs_python": ratios(walls(h), walls(p)), "python_started": False}
