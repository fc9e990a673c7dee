"""Figures of luci-app-ddns-agent in the real OpenWrt 22.03 (tests/openwrt_lab.py), read by chromium.

- page opened -> status rendered: from `page.goto()` of the status page (already logged in) to its
  record row in the DOM, in chromium in the lab's LAN client namespace; includes LuCI's own page,
  its JS and the status rpc.
- rpc status: one `ubus call luci.ddns_agent status` over LuCI's JSON-RPC (`/ubus/`, uhttpd -> rpcd ->
  the exec plugin), timed in the page with performance.now(); and the Python starts it causes,
  counted by the lab's sitecustomize over all calls.
- package sizes: the .ipk files `make ipk` builds for LuCI.
"""

from __future__ import annotations

import time
from pathlib import Path

from measure import summary

PAGES = 20
CALLS = 30
PASSWORD = "bench-luci-Pw-1"


def luci_figures(root: Path, log) -> dict:
    """Every figure above, in one booted lab."""
    try:
        import openwrt_lab
        from playwright.sync_api import sync_playwright
        from test_luci_browser import CHROMIUM, CHROMIUM_ARGS, STATUS
    except ImportError as e:
        return {"skipped": "the LuCI bench needs the lab and playwright: %s" % e}
    missing = openwrt_lab._why_missing()
    if missing:
        return {"skipped": missing}
    out: dict = {}
    with openwrt_lab.Lab(root / "openwrt-luci", python_ubus=False, luci=True, lifetime_s=600) as lab:
        log("LuCI lab booted; installing the packages")
        paths = lab.build_ipks(root / "ipk-luci")
        out["ipk_bytes"] = {p.name.split("_")[0]: p.stat().st_size for p in paths
                            if p.name.startswith("luci-")}
        lab.install_ipks(paths)
        lab.sh("i=0; until p=$(pidof rpcd) && ubus call luci getFeatures >/dev/null &&"
               " ubus list luci.ddns_agent >/dev/null && sleep 6 && [ \"$(pidof rpcd)\" = \"$p\" ]; do"
               " i=$((i+1)); [ $i -lt 10 ] || exit 1; sleep 1; done", timeout=120)
        lab.sh("""uci -q batch <<'EOF'
set ddns_agent.dry=provider
set ddns_agent.dry.type=log
set ddns_agent.home=record
set ddns_agent.home.provider=dry
set ddns_agent.home.domain=example.com
set ddns_agent.home.name=home
set ddns_agent.home.interface=wan
commit ddns_agent
EOF
printf '%%s\\n%%s\\n' '%s' '%s' | passwd root >/dev/null 2>&1
ubus call ddns_agent update""" % (PASSWORD, PASSWORD))
        wrapper = root / "chromium-in-lan"
        wrapper.write_text('#!/bin/sh\nexec nsenter --net=%s %s "$@"\n' % (lab.lan_netns, CHROMIUM))
        wrapper.chmod(0o755)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(wrapper), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(STATUS)
            page.fill("input[name=luci_username]", "root")
            page.fill("input[name=luci_password]", PASSWORD)
            with page.expect_navigation():
                page.click("button.cbi-button-positive")
            page.wait_for_selector("#ddns-row-home")
            rendered = []
            for _ in range(PAGES):
                t0 = time.monotonic()
                page.goto(STATUS)
                page.wait_for_selector("#ddns-row-home")
                rendered.append((time.monotonic() - t0) * 1000)
            out["page_to_status_ms"] = summary(rendered)
            starts = len(lab.python_starts())
            calls = page.evaluate("""async (n) => {
                const ms = [];
                for (let i = 0; i < n; i++) {
                    const t0 = performance.now();
                    const r = await fetch('/ubus/', {method: 'POST', body: JSON.stringify({jsonrpc: '2.0',
                        id: i, method: 'call', params: [L.env.sessionid, 'luci.ddns_agent', 'status', {}]})});
                    await r.json();
                    ms.push(performance.now() - t0);
                }
                return ms;
            }""", CALLS)
            out["rpc_status_ms"] = summary(calls)
            out["python_starts_per_status_call"] = (len(lab.python_starts()) - starts) / CALLS
            browser.close()
    return out
