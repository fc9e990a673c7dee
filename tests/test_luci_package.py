"""luci-app-ddns-agent as `make ipk` builds it: luci.mk's layout, ACLs, menu, and its Chinese catalog
read by the real LuCI of OpenWrt 22.03."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import luci_root
import pytest

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "openwrt" / "luci-app-ddns-agent"
sys.path.insert(0, str(REPO / "tools"))
import build_luci  # noqa: E402


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, str(REPO / "tools/build_ipk.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def payload(ipk: Path) -> dict:
    """name -> (mode, bytes) of the package's data.tar.gz, and its control files."""
    with tarfile.open(ipk) as outer:
        files = {}
        for member in ("./data.tar.gz", "./control.tar.gz"):
            with tarfile.open(fileobj=io.BytesIO(outer.extractfile(member).read())) as inner:
                for m in inner.getmembers():
                    if m.isfile():
                        files[(member[2:6], m.name)] = (m.mode, inner.extractfile(m).read())
    return files


def test_the_app_installs_luci_mk_s_layout_and_clears_luci_s_caches(dist):
    (ipk,) = dist.glob("luci-app-ddns-agent_*.ipk")
    files = payload(ipk)

    assert sorted(name for kind, name in files if kind == "data") == [
        "./usr/libexec/rpcd/luci.ddns_agent",
        "./usr/share/luci/menu.d/luci-app-ddns-agent.json",
        "./usr/share/rpcd/acl.d/luci-app-ddns-agent.json",
        "./www/luci-static/resources/view/ddns_agent/config.js",
        "./www/luci-static/resources/view/ddns_agent/status.js"]
    assert files[("data", "./usr/libexec/rpcd/luci.ddns_agent")][0] == 0o755
    assert files[("data", "./www/luci-static/resources/view/ddns_agent/status.js")][0] == 0o644
    control = files[("cont", "./control")][1].decode()
    assert "Depends: libc, luci-base, ddns-agent\n" in control
    postinst = files[("cont", "./postinst-pkg")][1].decode()
    for step in ("rm -f /tmp/luci-indexcache.*", "rm -rf /tmp/luci-modulecache/", "/etc/init.d/rpcd restart"):
        assert step in postinst


def test_the_read_role_gets_status_and_plan_only_and_no_uci(dist):
    acl = json.loads((APP / "root/usr/share/rpcd/acl.d/luci-app-ddns-agent.json").read_text())

    assert acl["luci-app-ddns-agent"]["read"] == {"ubus": {"luci.ddns_agent": ["status", "plan"]}}
    assert acl["luci-app-ddns-agent"]["write"] == {"ubus": {"luci.ddns_agent": ["update"]}}
    config = acl["luci-app-ddns-agent-config"]
    assert config["read"] == {"ubus": {"luci.ddns_agent": ["providers"]}, "uci": ["ddns_agent"]}
    assert config["write"] == {"ubus": {"luci.ddns_agent": ["set_secret"]}, "uci": ["ddns_agent"]}
    menu = json.loads((APP / "root/usr/share/luci/menu.d/luci-app-ddns-agent.json").read_text())
    assert menu["admin/services/ddns_agent/status"]["depends"]["acl"] == ["luci-app-ddns-agent"]
    assert menu["admin/services/ddns_agent/config"]["depends"]["acl"] == ["luci-app-ddns-agent-config"]


def test_every_string_of_the_page_is_in_the_template_and_translated_to_chinese():
    ids = build_luci.msgids(APP)
    template = build_luci.parse_po((APP / "po/templates/ddns_agent.pot").read_text(), "pot")
    chinese = build_luci.parse_po((APP / "po/zh_Hans/ddns_agent.po").read_text(), "po")

    assert "Update now" in ids and "Why not published?" in ids
    assert sorted(template) == sorted(ids), "run: python3 tools/build_luci.py --pot"
    assert [i for i in ids if not chinese.get(i)] == []
    assert sorted(chinese) == sorted(ids)  # nothing stale


def test_the_real_luci_reads_the_chinese_catalog_under_the_keys_its_javascript_looks_up(dist, tmp_path):
    root = luci_root.unpack(tmp_path / "root")
    (ipk,) = dist.glob("luci-i18n-ddns-agent-zh-cn_*.ipk")
    luci_root.install(root, ipk)
    (root / "tmp/t.lua").write_text(
        'local tp = require "luci.template.parser"\n'
        'assert(tp.load_catalog("zh-cn", "/usr/lib/lua/luci/i18n/") and tp.change_catalog("zh-cn"))\n'
        'print(tp.translate("Update now"))\n'
        'tp.get_translations(function(k, v) print(k .. "=" .. v) end)\n')

    done = luci_root.run(root, "/usr/bin/lua", "/tmp/t.lua")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "立即更新"
    # window.TR as admin/translations/zh-cn serves it; cbi.js `_()` looks up sfh(msgid)
    tr = dict(line.split("=", 1) for line in lines[1:])
    assert tr["%08x" % build_luci.sfh("Why not published?")] == "为什么没有发布？"
    chinese = build_luci.parse_po((APP / "po/zh_Hans/ddns_agent.po").read_text(), "po")
    assert len(tr) == len([i for i in build_luci.msgids(APP) if chinese[i] != i])  # "TTL" stays
