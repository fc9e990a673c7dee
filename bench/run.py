"""`make bench`: speed and memory of ddns_agent as ratios measured side by side; table + bench/results.json.

    python bench/run.py [--reps N] [--only GROUP,...] [--strict]   (groups: GROUPS below)

Everything runs against loopback fakes, a BIND9 on loopback, or namespaces the bench makes, and
stops by itself. Exit 0 even when a target is missed, unless --strict. bench/README.md says what
each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import measure

GROUPS = ("update", "nochange", "hotplug", "requests", "records", "event", "openwrt", "luci", "peers")
EVENT_CHANGES = 20
TMPFS = "/dev/shm"  # where every side keeps its files (main)
OPENWRT_CHANGES = 10


def fmt_ratio(r: dict) -> str:
    return "%.2fx [%.2f-%.2f]" % (r["median"], r["p25"], r["p75"])


def row(rows: list, fid: str, figure: str, measured: str, target: str, ok: bool | None,
        value=None, detail=None) -> None:
    """Add one table row (ok None = informational, no target)."""
    rows.append({"id": fid, "figure": figure, "measured": measured, "target": target,
                 "result": "info" if ok is None else ("PASS" if ok else "FAIL"), "value": value,
                 "detail": detail})


def group_update(rows: list, root: Path, ca, reps: int) -> None:
    import cycles
    log("update cycle, default configuration, plain-HTTP endpoint")
    r = cycles.update_cycle(root, ca, "plain", reps)
    row(rows, "update.plain.time", "update, 1 changed record, plain HTTP (default transport): time",
        "%s of floor (%.0f vs %.0f ms)" % (fmt_ratio(r["ratio"]), r["agent_ms"]["median"],
                                           r["floor_ms"]["median"]),
        "none: a bound (socket PATCH by hand, no ssl)", None, r["ratio"]["median"], r)
    for transport in ("urllib3", "stdlib"):
        log("update cycle, %s transport" % transport)
        r = cycles.update_cycle(root, ca, transport, reps)
        floor = "urllib3 PATCH" if transport == "urllib3" else "socket + ssl PATCH by hand"
        row(rows, "update.%s.time" % transport,
            "update, 1 changed record (%s): time vs %s" % (transport, floor),
            "%s of floor (%.0f vs %.0f ms)" % (fmt_ratio(r["ratio"]), r["agent_ms"]["median"],
                                               r["floor_ms"]["median"]),
            "<= 1.2x (floor: urllib3 PATCH)" if transport == "urllib3" else
            "none: a bound (issue 5's floor is the urllib3 row below)",
            r["ratio"]["median"] <= 1.2 if transport == "urllib3" else None, r["ratio"]["median"], r)
        if "urllib3_ratio" in r:  # the floor; the row above is the stricter same-transport one
            row(rows, "update.%s.time_vs_urllib3" % transport,
                "update, 1 changed record (%s): time vs urllib3 floor" % transport,
                "%s of floor (%.0f vs %.0f ms)" % (fmt_ratio(r["urllib3_ratio"]), r["agent_ms"]["median"],
                                                   r["urllib3_floor_ms"]["median"]),
                "<= 1.2x (floor: urllib3 PATCH)", r["urllib3_ratio"]["median"] <= 1.2,
                r["urllib3_ratio"]["median"], None)
        row(rows, "update.%s.rss" % transport, "update, 1 changed record (%s): peak RSS" % transport,
            "%+.1f MB (%.1f vs %.1f MB)" % (r["rss_delta_mb"], r["agent_rss_mb"]["median"],
                                            r["floor_rss_mb"]["median"]),
            "<= floor + 3 MB", r["rss_delta_mb"] <= 3.0, r["rss_delta_mb"], None)


def group_nochange(rows: list, root: Path, ca, reps: int) -> None:
    import boxes
    import cycles
    log("no-change cycle")
    r = cycles.no_change(root, ca, reps)
    row(rows, "nochange.time", "no-change update: time",
        "%s of python3 -c pass (%.0f vs %.0f ms)" % (fmt_ratio(r["ratio"]), r["agent_ms"]["median"],
                                                     r["python_ms"]["median"]),
        "<= 1.3x", r["ratio"]["median"] <= 1.3, r["ratio"]["median"], r)
    log("no-change cycle, the command `pip install .` gives")
    try:
        command = boxes.pip_installed(root)
    except (OSError, subprocess.SubprocessError) as e:  # no pip, or no index to build from
        why = getattr(e, "stderr", None) or str(e)
        row(rows, "nochange.pip.time", "no-change update, pip-installed ddns-agent",
            "skipped: pip install failed: %s" % str(why).strip()[-200:], "<= 1.3x", None)
    else:
        r = cycles.no_change(root, ca, reps, command)
        row(rows, "nochange.pip.time", "no-change update, pip-installed ddns-agent: time",
            "%s of python3 -c pass (%.0f vs %.0f ms)" % (fmt_ratio(r["ratio"]), r["agent_ms"]["median"],
                                                         r["python_ms"]["median"]),
            "<= 1.3x", r["ratio"]["median"] <= 1.3, r["ratio"]["median"], r)
    log("no-change cycle, netlink device records (namespace)")
    r = cycles.no_change_device(root, reps)
    if "skipped" in r:
        row(rows, "nochange.device.time", "no-change update, device records", "skipped: " + r["skipped"],
            "<= 1.3x", None)
        return
    row(rows, "nochange.device.time", "no-change update, netlink device records: time",
        "%s of python3 -c pass (%.0f vs %.0f ms)" % (fmt_ratio(r["ratio"]), r["agent_ms"]["median"],
                                                     r["python_ms"]["median"]),
        "<= 1.3x", r["ratio"]["median"] <= 1.3, r["ratio"]["median"], r)


def group_hotplug(rows: list, root: Path, reps: int) -> None:
    import cycles
    log("hotplug no-change exit")
    r = cycles.hotplug(root, reps)
    if "skipped" in r:
        row(rows, "hotplug.time", "hotplug no-change exit", "skipped: " + r["skipped"], "-", None)
        return
    row(rows, "hotplug.time", "hotplug no-change exit: time",
        "%s of sh -c true (%.1f vs %.1f ms); %.2fx of python3 -c pass"
        % (fmt_ratio(r["ratio"]), r["hotplug_ms"]["median"], r["sh_true_ms"]["median"],
           r["vs_python"]["median"]),
        "no Python started", not r["python_started"], r["ratio"]["median"], r)


def group_requests(rows: list, root: Path, ca) -> None:
    import traffic
    log("requests per changed record")
    for r in traffic.requests_per_provider(root, ca, log):
        name = "%s (%s)" % (r["provider"], r.get("transport", "-"))
        fid = "requests.%s.%s" % (r["provider"], r.get("transport", "-"))
        if "skipped" in r:
            row(rows, fid, "requests per changed record: " + r["provider"], "skipped: " + r["skipped"],
                "1", None)
            continue
        ok = r["per_changed_record"] == 1 and r["unchanged_run"] == 0
        row(rows, fid, "requests per changed record: " + name,
            "%g (%d for %d changed; first run %d, unchanged run %d)"
            % (r["per_changed_record"], r["changed_run"], r["changed_records"], r["first_run"],
               r["unchanged_run"]),
            "1 (0 unchanged)", ok, r["per_changed_record"], r)


def group_records(rows: list, root: Path, ca, reps: int) -> None:
    import traffic
    for transport in ("urllib3", "stdlib"):
        log("1 vs 50 records, %s transport" % transport)
        r = traffic.many_records(root, ca, transport, reps)
        n = r["records"]
        ok = (r["requests_one"], r["requests_many"]) == (1, n) and r["connections_many"] == [1]
        row(rows, "records.%s" % transport, "1 vs %d records (%s)" % (n, transport),
            "%s time (%.0f vs %.0f ms, %+.2f ms/record; raw socket + ssl loop on the same fake "
            "%+.2f ms/record); requests %d vs %d; TCP connections %s vs %s"
            % (fmt_ratio(r["ratio"]), r["many_ms"]["median"], r["one_ms"]["median"],
               r["extra_ms_per_record"]["median"], r["floor_extra_ms_per_record"]["median"],
               r["requests_many"], r["requests_one"],
               "/".join(map(str, r["connections_many"])), "/".join(map(str, r["connections_one"]))),
            "%d requests, 1 connection" % n, ok, r["ratio"]["median"], r)
        if transport == "stdlib":  # the default transport: issue 14's goal per extra record
            extra, floor = r["extra_ms_per_record"], r["floor_extra_ms_per_record"]
            row(rows, "records.stdlib.per_record", "%d records (stdlib): time per extra record" % n,
                "%+.2f ms [%+.2f to %+.2f]; the raw socket + ssl loop on the same fake %+.2f ms, so the "
                "agent's own share %+.2f ms" % (extra["median"], extra["p25"], extra["p75"], floor["median"],
                                                extra["median"] - floor["median"]),
                "<= 0.5 ms", extra["median"] <= 0.5, extra["median"], None)


def group_event(rows: list, root: Path, reps: int) -> None:
    import latency
    log("event to published (namespaces + BIND9)")
    r = latency.event_to_published(root, reps, log)
    if "skipped" in r:
        row(rows, "event.latency", "event to published", "skipped: " + r["skipped"], "<= 50 ms median", None)
        return
    parts = r["parts_ms"]
    row(rows, "event.latency", "event to published, first of a burst (%d changes)" % r["changes"],
        "median %.0f ms, worst %.0f ms (p25-p75 %.0f-%.0f ms): ip+kernel %.1f, agent %.1f "
        "(%.0f of it settling), BIND %.1f, poll %.1f"
        % (r["ms"]["median"], r["ms"]["max"], r["ms"]["p25"], r["ms"]["p75"],
           parts["ip_and_kernel"]["median"], parts["agent_to_update_sent"]["median"],
           r["settle_ms"], parts["bind_update_to_answer"]["median"],
           parts["answer_to_poll_seen"]["median"]),
        "<= 50 ms median", r["ms"]["median"] <= 50, r["ms"]["median"], r)
    row(rows, "event.burst_last", "event to published, last of a burst (%d bursts)" % r["bursts"],
        "median %.0f ms (the quiet time %.0f ms + a cycle); %d UPDATEs"
        % (r["burst_last_ms"]["median"], r["quiet_ms"], r["burst_updates"]),
        "1 UPDATE per change", r["burst_updates"] == 2 * r["bursts"], r["burst_last_ms"]["median"], r)


def _ms(s: dict) -> str:
    return "%.0f ms [%.0f-%.0f]" % (s["median"], s["p25"], s["p75"])


def group_openwrt(rows: list, root: Path, ca, changes: int) -> None:
    import openwrt
    log("OpenWrt lab (OPENWRT_ROOTFS): real netifd, hotplug, procd; Cloudflare fake on its loopback")
    r = openwrt.lab_figures(root, ca, changes, log)
    if "skipped" in r:
        row(rows, "openwrt", "OpenWrt lab", "skipped: " + r["skipped"], "-", None)
        return
    for key, name in (("ifup", "ifup -> published"), ("inplace", "in-place change -> published")):
        f = r[key]
        row(rows, "openwrt.%s" % key, "OpenWrt %s (%d changes)" % (name, f["total_ms"]["n"]),
            "%s; before Python %s (other hotplug scripts %s), inside the agent %s"
            % (_ms(f["total_ms"]), _ms(f["before_python_ms"]), _ms(f["other_hotplug_scripts_ms"]),
               _ms(f["inside_agent_ms"])),
            "<= 150 ms median", f["total_ms"]["median"] <= 150, f["total_ms"]["median"], f)
    p = r["patches"]
    odd = "".join("; %d PATCHes: %s" % (x["patches"], ", ".join(x["bodies"])) for x in p["other_than_one"])
    row(rows, "openwrt.patches", "OpenWrt PATCHes per change (lease and in-place)",
        "%d of %d changes took other than 1 PATCH%s" % (len(p["other_than_one"]), p["changes"], odd),
        "1 each", not p["other_than_one"], len(p["other_than_one"]), p)
    row(rows, "openwrt.python_pass", "OpenWrt python3 -S -c pass (for scale: this machine's load)",
        _ms(r["python_pass_ms"]), "-", None, r["python_pass_ms"]["median"], r["python_pass_ms"])
    n = r["nochange"]
    row(rows, "openwrt.nochange", "OpenWrt 10 no-change ifupdates + 10 renews",
        "%d Python starts, %d requests (%d ifupdates with IFUPDATE_ADDRESSES)"
        % (n["python_starts"], n["requests"], n["ifupdates_with_addresses_flag"]),
        "0 and 0", n["python_starts"] == 0 and n["requests"] == 0, n["python_starts"], n)
    i = r["idle"]
    row(rows, "openwrt.idle", "OpenWrt idle: processes of ours, CPU per idle hour",
        "%d resident (longest-lived %.2f s); %.3f CPU s/hour (%.1f ms per pass, %d passes in %d s)"
        % (i["resident_processes"], i["longest_lived_process_of_ours_s"], i["cpu_s_per_idle_hour"],
           i["cpu_s_per_pass"] * 1000, i["passes"], i["window_s"]),
        "0 resident", i["resident_processes"] == 0, i["cpu_s_per_idle_hour"], i)


def group_luci(rows: list, root: Path) -> None:
    import luci
    log("LuCI in the OpenWrt lab (OPENWRT_ROOTFS), read by chromium")
    r = luci.luci_figures(root, log)
    if "skipped" in r:
        row(rows, "luci", "LuCI page", "skipped: " + r["skipped"], "-", None)
        return
    row(rows, "luci.page", "LuCI page opened -> status rendered (%d loads)" % r["page_to_status_ms"]["n"],
        _ms(r["page_to_status_ms"]), "-", None, r["page_to_status_ms"]["median"], r["page_to_status_ms"])
    row(rows, "luci.rpc", "LuCI rpc status through uhttpd + rpcd (%d calls)" % r["rpc_status_ms"]["n"],
        "%s; %g Python starts per call" % (_ms(r["rpc_status_ms"]), r["python_starts_per_status_call"]),
        "0 Python starts", r["python_starts_per_status_call"] == 0, r["rpc_status_ms"]["median"], r)
    row(rows, "luci.size", "LuCI packages (.ipk)",
        ", ".join("%s %.1f KB" % (k, v / 1000) for k, v in sorted(r["ipk_bytes"].items())), "-", None,
        r["ipk_bytes"])


def group_peers(rows: list, root: Path, ca, reps: int) -> None:
    import peers
    log("peers side by side (ddclient, inadyn, ddns; installed by tools/bench-peers.sh)")
    for r in peers.figures(root, ca, min(peers.RUNS, reps), log):
        row(rows, *r)


def log(text: str) -> None:
    print("bench: " + text, file=sys.stderr, flush=True)


def table(rows: list) -> str:
    """The rows as a fixed-width text table."""
    heads = ("figure", "measured: median [p25-p75]", "target", "result")
    keys = ("figure", "measured", "target", "result")
    widths = [max(len(h), *(len(r[k]) for r in rows)) for h, k in zip(heads, keys)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for r in rows:
        lines.append("  ".join(r[k].ljust(w) for k, w in zip(keys, widths)).rstrip())
    return "\n".join(lines)


def meta(reps: int, seconds: float) -> dict:
    import subprocess

    import boxes
    commit = subprocess.run(["git", "-C", str(boxes.REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {"python": boxes.python_version(), "cores": boxes.cores(), "load_avg": os.getloadavg(),
            "commit": commit, "reps": reps, "seconds": round(seconds, 1),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=30, help="interleaved rounds per timed figure (default 30)")
    p.add_argument("--only", default=",".join(GROUPS), help="comma-separated: " + ",".join(GROUPS))
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results.json"))
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--site-as-is", action="store_true",
                   help="run children with this interpreter's own site (its .pth code included)")
    args = p.parse_args(argv)
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        p.error("unknown group(s): %s" % ", ".join(unknown))
    measure.start_spawner()  # first, while this process is still small (spawner.py says why)
    import boxes  # puts the repo and tests/ on sys.path
    import trustme

    t0 = time.monotonic()
    ca = trustme.CA()
    rows: list = []
    try:
        # on tmpfs, as a router's /tmp and /var/run (the agent's state_dir) are: on this machine's
        # ext4 /tmp each atomic replace (write + rename over a file) costs ~1.1 ms against ~0.04 ms
        where = TMPFS if os.path.isdir(TMPFS) else None
        with tempfile.TemporaryDirectory(prefix="ddns-bench-", dir=where) as tmp:
            root = Path(tmp)
            if not args.site_as_is:
                boxes.PY = boxes.clean_interpreter(root)
            for group in groups:
                try:
                    if group == "update":
                        group_update(rows, root, ca, args.reps)
                    elif group == "nochange":
                        group_nochange(rows, root, ca, args.reps * 2)  # ~15 ms runs: cheap rounds
                    elif group == "hotplug":
                        group_hotplug(rows, root, args.reps)
                    elif group == "requests":
                        group_requests(rows, root, ca)
                    elif group == "records":
                        group_records(rows, root, ca, args.reps * 2)  # (50-record - 1-record run) / 49
                    elif group == "event":
                        group_event(rows, root, EVENT_CHANGES)
                    elif group == "openwrt":
                        group_openwrt(rows, root, ca, OPENWRT_CHANGES)
                    elif group == "luci":
                        group_luci(rows, root)
                    elif group == "peers":
                        group_peers(rows, root, ca, args.reps)
                except measure.BenchError as e:
                    row(rows, group + ".error", group, "error: %s" % e, "-", False)
    finally:
        measure.stop_spawner()
    info = meta(args.reps, time.monotonic() - t0)
    info["children_python"] = boxes.PY
    info["children"] = "own site (.pth code: %s)" % (", ".join(boxes.site_code()) or "none") \
        if args.site_as_is else "clean venv of this interpreter (no .pth code; urllib3, ujson importable)"
    print(table(rows))
    print("python %s, %d cores, load %.2f %.2f %.2f, %d rounds, %.0f s; children: %s"
          % (info["python"], info["cores"], *info["load_avg"], info["reps"], info["seconds"],
             info["children"]))
    Path(args.out).write_text(json.dumps({"meta": info, "figures": rows}, indent=1) + "\n")
    failed = [r for r in rows if r["result"] == "FAIL"]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
