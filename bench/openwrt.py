"""Figures in the real OpenWrt 22.03 userland (tests/openwrt_lab.py), the package installed by opkg.

- ifup -> published: a lease change (the ISP's DHCP moves to another range, wan down and up);
  in-place -> published: `/lib/netifd/dhcp.script renew` with a new address (netifd's ifupdate).
  Timed from netifd's event, i.e. the first iface hotplug script (00-lab-stamp: /proc/uptime,
  10 ms resolution), to the Cloudflare fake's receipt of the PATCH on the router's loopback.
  Split at the agent's Python start (a sitecustomize stamp, time.time(), after interpreter init):
  before = hotplug-call, the image's scripts sorted before ours (15-mwan3, 16-mwan3-user,
  20-firewall: measured apart with a stamp at 94-), our filter, exec and interpreter start;
  inside = the agent's own work until the request reaches the fake.
- 10 no-change ifupdates (same address, netmask flipped: IFUPDATE_ADDRESSES set) + 10 renews
  (`ubus call network.interface.wan renew`): Python starts and requests, both expected 0.
- Idle: processes of ours alive over the window, and CPU seconds per idle hour. The re-check
  interval is cut to 1 s (DDNS_AGENT_RECHECK_S in the init script) for `IDLE_S` seconds; the CPU
  of procd (with its reaped children: our passes), ubusd and netifd (respawn events, the sweep's
  status call) is summed, the same window with the service stopped is subtracted, and the cost per pass is
  scaled to the default interval (60 s: 60 passes an hour, every 5th a fingerprint sweep).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from measure import BenchError, summary

IDLE_S = 40
TOKEN = "cf-bench-token-7Hq2Lx9Wv"
RANGES = ("198.51.100.", "203.0.113.")


# run inside the router: wall ms of N `python3 -c pass`, the interpreter start every run pays
FLOOR = ("import subprocess, time\nfor _ in range(N):\n    t = time.monotonic()\n"
         "    subprocess.run([\"python3\", \"-S\", \"-c\", \"pass\"])\n"
         "    print((time.monotonic() - t) * 1000)")


class Timed:
    """The Cloudflare fake, noting when each PATCH arrived."""

    def __init__(self, fake) -> None:
        self.fake = fake
        self.patches: list = []
        self.bodies: list = []

    def __call__(self, req):
        if req.method == "PATCH":
            self.patches.append(time.time())
            self.bodies.append(req.body)
        return self.fake(req)


def _cpu_ticks(lab, name: str, children: bool) -> int:
    for pid, cmd in lab.processes():
        if cmd.split(" ")[0] == name:
            fields = (lab.root / "proc" / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
            # fields[11:15] = utime stime cutime cstime (proc(5) fields 14-17)
            return sum(int(x) for x in fields[11:15 if children else 13])
    raise BenchError("no %s in the router" % name)


def _cpu(lab) -> int:
    # procd with its reaped children (our passes and what they ran); ubusd and netifd serve
    # procd's respawn events and the sweep's `ubus call ... status`
    return (_cpu_ticks(lab, "/sbin/procd", True) + _cpu_ticks(lab, "/sbin/ubusd", False)
            + _cpu_ticks(lab, "/sbin/netifd", False))


def _idle_window(lab, seconds: float) -> dict:
    """CPU ticks of procd (+children) and ubusd, passes seen, and the longest-lived pid of ours."""
    memo = lab.root / "var/run/ddns_agent/recheck"
    before = _cpu(lab)
    seen: dict = {}
    memos, last = 0, None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = time.monotonic()
        for pid, cmd in lab.processes():
            if "ddns" in cmd:
                seen[pid] = (seen.get(pid, (now, now))[0], now)
        text = memo.read_text() if memo.exists() else None
        if text != last:
            memos, last = memos + 1, text
        time.sleep(0.1)
    after = _cpu(lab)
    longest = max((b - a for a, b in seen.values()), default=0.0)
    return {"ticks": after - before, "passes": max(memos - 1, 0), "longest_s": longest}


def lab_figures(root: Path, ca, changes: int, log) -> dict:
    """Every figure above, in one booted lab."""
    try:
        import openwrt_lab
        from fakes.cloudflare import CloudflareFake
        from test_openwrt_e2e import configure
    except ImportError as e:
        return {"skipped": "the OpenWrt lab is not importable: %s" % e}
    missing = openwrt_lab._why_missing()
    if missing:
        return {"skipped": missing}
    hz = os.sysconf("SC_CLK_TCK")
    out: dict = {}
    with openwrt_lab.Lab(root / "openwrt", python_ubus=False, lifetime_s=600) as lab:
        log("OpenWrt lab booted; installing the package")
        lab.install_ipks([p for p in lab.build_ipks(root / "ipk") if p.name.startswith("ddns-agent_")])
        fake = CloudflareFake(TOKEN)
        timed = Timed(fake)
        server = lab.serve(timed, ca)
        lab.add_stamp("94-lab-stamp", "hotplug94")
        configure(lab, server.url, token=TOKEN)
        _wait_content(lab, fake, lab.wan_ip())
        lab.settle()

        extra: list = []  # changes that took other than one PATCH

        def one(change) -> tuple:
            stamps, starts, patches = len(lab.hotplug_stamps()), len(lab.python_starts()), \
                len(timed.patches)
            stamps94 = len(lab.hotplug_stamps("hotplug94"))
            address = change()
            _wait_content(lab, fake, address)
            lab.settle()
            if len(timed.patches) - patches != 1:  # reported in the table, with what was sent
                extra.append({"patches": len(timed.patches) - patches,
                              "bodies": [b.decode("utf-8", "replace") for b in timed.bodies[patches:]]})
                if len(timed.patches) == patches:
                    raise BenchError("no PATCH for a change to %s" % address)
            event = [e for e in lab.hotplug_stamps()[stamps:] if e[1] in ("ifup", "ifupdate")
                     and e[2] == "wan"][-1][0]
            ours = [e for e in lab.hotplug_stamps("hotplug94")[stamps94:] if e[0] >= event - 0.02]
            start = [t for t, argv in lab.python_starts()[starts:] if "update" in argv][0]
            got = timed.patches[-1]
            return ((got - event) * 1000, (start - event) * 1000, (got - start) * 1000,
                    (ours[-1][0] - event) * 1000 if ours else float("nan"))

        log("lease changes (ifup) x%d" % changes)
        ifup = [one(lambda i=i: lab.lease(RANGES[i % 2])) for i in range(changes)]
        log("python3 -c pass in the router x%d (the floor under this machine's load)" % changes)
        floor = lab.sh("python3 -c '%s'" % FLOOR.replace("N", str(changes))).stdout.split()
        out["python_pass_ms"] = summary([float(x) for x in floor])

        # before the in-place changes: udhcpc's real renew restores the lease they replace
        log("10 no-change ifupdates + 10 renews")
        wan = lab.wan_ip()
        gw = wan.rsplit(".", 1)[0] + ".1"
        starts, requests, stamps = len(lab.python_starts()), len(fake.requests), len(lab.hotplug_stamps())
        for n in range(10):
            lab.sh("/lib/netifd/dhcp.script renew", env={
                "INTERFACE": "wan", "interface": "eth1", "ip": wan, "router": gw, "serverid": gw,
                "subnet": "255.255.254.0" if n % 2 == 0 else "255.255.255.0", "lease": "3600"})
            lab.settle()
            lab.sh("ubus call network.interface.wan renew")
            lab.settle()
        time.sleep(1)
        lab.settle()
        seen = [e for e in lab.hotplug_stamps()[stamps:] if e[1] == "ifupdate" and "A" in e[3]]
        out["nochange"] = {"ifupdates_with_addresses_flag": len(seen), "renews": 10,
                           "python_starts": len(lab.python_starts()) - starts,
                           "requests": len(fake.requests) - requests}

        log("in-place changes (ifupdate) x%d" % changes)
        base = lab.wan_ip().rsplit(".", 1)[0]
        inplace = [one(lambda i=i: (lab.renew("%s.%d" % (base, 20 + i)), "%s.%d" % (base, 20 + i))[1])
                   for i in range(changes)]
        out["patches"] = {"changes": 2 * changes, "other_than_one": extra}
        for name, rows in (("ifup", ifup), ("inplace", inplace)):
            out[name] = {"total_ms": summary([r[0] for r in rows]),
                         "before_python_ms": summary([r[1] for r in rows]),
                         "inside_agent_ms": summary([r[2] for r in rows]),
                         "other_hotplug_scripts_ms": summary([r[3] for r in rows])}

        log("idle: %d s with a 1 s re-check interval, %d s stopped" % (IDLE_S, IDLE_S))
        lab.sh("sed -i 's/^DDNS_AGENT_RECHECK_S=60$/DDNS_AGENT_RECHECK_S=1/' /etc/init.d/ddns_agent"
               " && service ddns_agent restart")
        lab.settle()
        time.sleep(2)
        running = _idle_window(lab, IDLE_S)
        lab.sh("service ddns_agent stop")
        time.sleep(1)
        stopped = _idle_window(lab, IDLE_S)
        passes = max(running["passes"], 1)
        per_pass_s = max(running["ticks"] - stopped["ticks"], 0) / hz / passes
        out["idle"] = {"window_s": IDLE_S, "passes": running["passes"], "ticks_running": running["ticks"],
                       "ticks_stopped": stopped["ticks"], "clk_tck": hz,
                       "cpu_s_per_pass": per_pass_s, "cpu_s_per_idle_hour": per_pass_s * 60,
                       "longest_lived_process_of_ours_s": running["longest_s"],
                       "resident_processes": 0 if running["longest_s"] < 1.0 else 1}
    return out


def _wait_content(lab, fake, address: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while [r["content"] for r in fake.records.values()] != [address]:
        if time.monotonic() > deadline:
            raise BenchError("the fake never got %s: %s" % (address, lab.logread("ddns")[-300:]))
        time.sleep(0.01)
