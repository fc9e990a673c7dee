"""luci-app-ddns-agent in the real OpenWrt 22.03 (uhttpd, rpcd, LuCI) driven by a real chromium.

The router (tests/openwrt_lab.py) boots once for the module with every package `make ipk` builds
installed by opkg; a DuckDNS fake listens on its loopback. Chromium runs in the lab's LAN client
namespace (a wrapper enters it, then execs /usr/bin/chromium) and opens http://192.168.1.1/.
Tests run in file order on the router's evolving state.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time

import pytest
from fakes.duckdns import DuckDNSFake
from openwrt_lab import LAN_IP, Lab, require_rootfs

DUCK_TOKEN = "5e1d1c3e-luci-4f55-9a0e-6f1f1e2d3c4b"
CF_SECRET_TOKEN = "cf-luci-added-Tk-31Zq8w"
ROOT_PASSWORD = "luci-lab-Pw-1"
VIEWER_PASSWORD = "luci-viewer-Pw-2"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
BASE = "http://%s/cgi-bin/luci" % LAN_IP
STATUS = BASE + "/admin/services/ddns_agent/status"
CONFIG = BASE + "/admin/services/ddns_agent/config"


def require_browser() -> None:
    """Skip with one line, or fail when CI=true, without chromium or playwright."""
    missing = None
    if not os.access(CHROMIUM, os.X_OK):
        missing = "%s is missing (apt-get install chromium; tools/test-deps.sh)" % CHROMIUM
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[test]')"
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("the LuCI browser tests are required in CI: " + missing)
        pytest.skip(missing)


class Router:
    """The booted lab, the fake, and what the browser saw."""

    def __init__(self, lab: Lab, fake: DuckDNSFake, server) -> None:
        self.lab, self.fake, self.server = lab, fake, server
        self.bodies: list = []      # every response body the browser received
        self.console_errors: list = []


@pytest.fixture(scope="module")
def router(tmp_path_factory, ca):
    require_rootfs()
    require_browser()
    dist = tmp_path_factory.mktemp("dist")
    # a stock image has no python3-ubus; the agent reads netifd through the ubus CLI
    with Lab(tmp_path_factory.mktemp("openwrt"), python_ubus=False, luci=True) as lab:
        paths = Lab.build_ipks(dist)
        done = lab.install_ipks(paths)
        assert "luci-app-ddns-agent" in done.stdout, done.stdout + done.stderr
        # each postinst restarts rpcd; a restart landing while rpcd still loads its plugins is
        # only finished by procd's SIGKILL 5 s later: ready when one rpcd serves all for 6 s
        lab.sh("i=0; until p=$(pidof rpcd) && ubus call luci getFeatures >/dev/null &&"
               " ubus list luci.ddns_agent >/dev/null && sleep 6 && [ \"$(pidof rpcd)\" = \"$p\" ]; do"
               " i=$((i+1)); [ $i -lt 10 ] || exit 1; sleep 1; done", timeout=120)
        fake = DuckDNSFake(DUCK_TOKEN)
        server = lab.serve(fake, ca)
        lab.sh("mkdir -p /etc/ddns_agent/secrets && umask 077 && echo %s >/etc/ddns_agent/secrets/duck.token"
               % DUCK_TOKEN)
        # not reloaded: the record has not run yet when the page first shows it
        lab.sh("""uci -q batch <<'EOF'
set ddns_agent.duck=provider
set ddns_agent.duck.type=duckdns
set ddns_agent.duck.token_file=/etc/ddns_agent/secrets/duck.token
set ddns_agent.duck.endpoint=%s
set ddns_agent.duck.cacert=%s
set ddns_agent.home=record
set ddns_agent.home.provider=duck
set ddns_agent.home.domain=duckdns.org
set ddns_agent.home.name=myhome
set ddns_agent.home.interface=wan
commit ddns_agent
EOF
printf '%%s\\n%%s\\n' '%s' '%s' | passwd root >/dev/null 2>&1
""" % (server.url, lab.CA_IN_ROUTER, ROOT_PASSWORD, ROOT_PASSWORD))
        # rpcd answers logins once the postinsts' restarts are over
        lab.sh("i=0; until ubus call session login '{\"username\":\"root\",\"password\":\"%s\"}'; do"
               " i=$((i+1)); [ $i -lt 30 ] || exit 1; sleep 1; done" % ROOT_PASSWORD)
        yield Router(lab, fake, server)


@pytest.fixture(scope="module")
def browser(router, tmp_path_factory):
    """Chromium in the LAN client's namespace, through playwright."""
    from playwright.sync_api import sync_playwright

    wrapper = tmp_path_factory.mktemp("chromium") / "chromium-in-lan"
    wrapper.write_text('#!/bin/sh\nexec nsenter --net=%s %s "$@"\n' % (router.lab.lan_netns, CHROMIUM))
    wrapper.chmod(0o755)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(wrapper), args=CHROMIUM_ARGS, timeout=60000)
        yield b
        b.close()


def open_page(browser, router, url: str, user: str = "root", password: str = ROOT_PASSWORD):
    """`url` in a new browser context, through LuCI's login form; records bodies and console errors."""
    ctx = browser.new_context(locale="en-US")
    page = ctx.new_page()
    page.set_default_timeout(30000)

    def keep(response) -> None:
        try:
            router.bodies.append(response.body())
        except Exception:  # redirects and aborted loads have no body
            pass
    page.on("response", keep)
    page.goto(url)
    page.fill("input[name=luci_username]", user)
    page.fill("input[name=luci_password]", password)
    with page.expect_navigation():
        page.click("button.cbi-button-positive, input[type=submit]")
    assert page.query_selector("input[name=luci_password]") is None, "LuCI refused %s's login" % user
    # from here on (the login form itself is LuCI's 403 answer)
    page.on("console", lambda m: m.type == "error" and not _image_defect(m.location.get("url", ""))
            and router.console_errors.append("%s (%s)" % (m.text, m.location.get("url"))))
    page.on("pageerror", lambda e: router.console_errors.append(str(e)))
    return page


def _image_defect(url: str) -> bool:
    """LuCI's network.js asks for a protocol handler per /lib/netifd/proto/*.sh; this image has
    qmi.sh and wwan.sh (uqmi, wwan) but not luci-proto-qmi: 404s on every page that loads it."""
    return "/luci-static/resources/protocol/qmi.js" in url or "/luci-static/resources/protocol/wwan.js" in url


def wait_row(page, record: str) -> None:
    """Wait for the record's row; on timeout, fail with what the page shows instead."""
    try:
        page.wait_for_selector("#ddns-row-%s" % record)
    except Exception:
        main = page.query_selector("#maincontent") or page.query_selector("body")
        raise AssertionError("no row for %s; the page shows:\n%s" % (record, main.inner_text()[:2000]))


def row_result(page, record: str) -> str:
    return page.get_attribute("#ddns-row-%s" % record, "data-result")


def test_status_page_shows_the_record_and_update_now_publishes_it_with_one_request(browser, router, tmp_path):
    page = open_page(browser, router, STATUS)
    wait_row(page, "home")
    assert row_result(page, "home") == "never"
    assert "myhome.duckdns.org" in page.inner_text("#ddns-row-home")
    before = len(router.fake.requests)

    page.click("#ddns-row-home .ddns-update")
    page.wait_for_function("document.querySelector('#ddns-row-home').dataset.result == 'published'")

    wan = router.lab.wan_ip()
    assert len(router.fake.requests) == before + 1
    assert router.fake.records["myhome"]["A"] == wan
    assert page.inner_text("#ddns-row-home .ddns-address") == wan
    assert "netifd wan" in page.inner_text("#ddns-row-home")
    shot = os.environ.get("LUCI_SCREENSHOT")
    page.screenshot(path=shot or str(tmp_path / "status.png"), full_page=True)
    page.context.close()
    assert router.console_errors == []


def test_a_provider_added_with_a_secret_leaves_a_0600_file_and_the_secret_nowhere_else(browser, router):
    page = open_page(browser, router, CONFIG)
    page.wait_for_selector("#cbi-ddns_agent-provider")
    page.type("#cbi-ddns_agent-provider .cbi-section-create input[type=text]", "cf2")
    page.click("#cbi-ddns_agent-provider .cbi-section-create .cbi-button-add")
    page.wait_for_selector("#cbi-ddns_agent-cf2")
    page.select_option("#widget\\.cbid\\.ddns_agent\\.cf2\\.type", "cloudflare")
    page.fill("#widget\\.cbid\\.ddns_agent\\.cf2\\.api_token", CF_SECRET_TOKEN)
    page.click(".cbi-page-actions .cbi-button-apply")
    lab = router.lab
    deadline = time.monotonic() + 60
    while "cf2" not in lab.sh("uci -q show ddns_agent.cf2", check=False).stdout:
        assert time.monotonic() < deadline, "Save & Apply never committed cf2"
        time.sleep(0.2)
    # LuCI applies with rollback: until the page confirms, rpcd holds the apply for this session
    # and a later page would find the config locked; a user waits for this line too
    page.wait_for_selector("text=Configuration changes applied.", timeout=90000)
    page.wait_for_load_state("networkidle")

    info = (lab.root / "etc/ddns_agent/secrets/cf2.api_token").stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o600, 0, 0)
    assert lab.sh("cat /etc/ddns_agent/secrets/cf2.api_token").stdout == CF_SECRET_TOKEN + "\n"
    uci = lab.sh("uci show ddns_agent").stdout
    assert "ddns_agent.cf2.api_token_file='/etc/ddns_agent/secrets/cf2.api_token'" in uci
    assert CF_SECRET_TOKEN not in uci
    assert CF_SECRET_TOKEN not in lab.sh("ubus call luci.ddns_agent status").stdout
    page.goto(CONFIG)
    page.wait_for_selector("#cbi-ddns_agent-cf2")
    assert CF_SECRET_TOKEN not in page.content()
    assert not [b for b in router.bodies if CF_SECRET_TOKEN.encode() in b]
    page.context.close()
    assert router.console_errors == []


def test_a_bad_ttl_is_refused_inline_with_the_agents_rule(browser, router):
    page = open_page(browser, router, CONFIG)
    field = "#widget\\.cbid\\.ddns_agent\\.home\\.ttl"
    page.wait_for_selector(field)

    page.fill(field, "0")
    page.dispatch_event(field, "blur")

    page.wait_for_selector(field + ".cbi-input-invalid")
    assert page.get_attribute(field, "data-tooltip") == "Expected an integer 1-86400"
    refusal = 'Option "TTL" contains an invalid input value. Expected an integer 1-86400'
    page.click(".cbi-page-actions .cbi-button-save")  # LuCI refuses to save, and says why
    deadline = time.monotonic() + 20
    while not [e for e in router.console_errors if refusal in e]:
        assert time.monotonic() < deadline, "Save did not refuse the bad TTL"
        page.wait_for_timeout(100)
    page.fill(field, "600")
    page.dispatch_event(field, "blur")
    assert not page.query_selector(field + ".cbi-input-invalid")
    page.context.close()
    assert router.lab.sh("uci -q get ddns_agent.home.ttl", check=False).stdout == ""
    # the refusal is LuCI's error; nothing else may be
    assert [e for e in router.console_errors if refusal not in e] == []
    router.console_errors.clear()


def test_the_read_only_role_sees_the_status_gets_no_update_button_and_is_refused_the_method(
        browser, router):
    lab = router.lab
    lab.sh("""uci -q batch <<'EOF'
set rpcd.viewer=login
set rpcd.viewer.username=viewer
set rpcd.viewer.password='%s'
add_list rpcd.viewer.read=unauthenticated
add_list rpcd.viewer.read=luci-base
add_list rpcd.viewer.read=luci-app-ddns-agent
commit rpcd
EOF""" % _crypt(VIEWER_PASSWORD))  # rpcd reads its logins at each login
    requests = len(router.fake.requests)
    page = open_page(browser, router, STATUS, "viewer", VIEWER_PASSWORD)
    wait_row(page, "home")

    assert row_result(page, "home") == "published"
    assert page.query_selector(".ddns-update") is None
    assert page.query_selector(".ddns-update-all") is None
    answer = page.evaluate("""async () => {
        const call = (m) => fetch('/ubus/', {method: 'POST', body: JSON.stringify({jsonrpc: '2.0', id: 1,
            method: 'call', params: [L.env.sessionid, 'luci.ddns_agent', m, {}]})}).then(r => r.json());
        return {update: await call('update'), status: await call('status'), uci: await fetch('/ubus/', {
            method: 'POST', body: JSON.stringify({jsonrpc: '2.0', id: 2, method: 'call',
            params: [L.env.sessionid, 'uci', 'get', {config: 'ddns_agent'}]})}).then(r => r.json())};
    }""")
    assert answer["update"].get("error", {}).get("message") == "Access denied", answer
    # luci-base lets any LuCI user call uci get; rpcd refuses this config: UBUS_STATUS_PERMISSION_DENIED
    assert answer["uci"]["result"] == [6], answer
    assert answer["status"]["result"][0] == 0, answer
    assert len(router.fake.requests) == requests
    page.context.close()
    # LuCI logs a refused rpc as a console error; only the two we provoked may be there
    assert [e for e in router.console_errors if "Access denied" not in e and "403" not in e] == []


def _crypt(password: str) -> str:
    """An MD5-crypt hash rpcd's login accepts (openssl passwd -1)."""
    return subprocess.run([shutil.which("openssl") or "openssl", "passwd", "-1", password],
                          capture_output=True, text=True, check=True, timeout=10).stdout.strip()


def test_service_status_tells_an_event_driven_service_from_a_stopped_one(router):
    lab = router.lab

    active = lab.sh("service ddns_agent status", check=False)
    lab.sh("service ddns_agent stop")
    stopped = lab.sh("service ddns_agent status", check=False)
    lab.sh("service ddns_agent start")

    assert (active.returncode, active.stdout.strip()) == (
        0, "active: acting on interface events; no resident process")
    assert (stopped.returncode, stopped.stdout.strip()) == (3, "inactive: stopped, or agent.enabled 0")
