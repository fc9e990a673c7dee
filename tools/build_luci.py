"""Build luci-app-ddns-agent and its translation packages without the SDK, as LuCI's luci.mk would.

The app follows luci.mk's layout (openwrt/luci-app-ddns-agent/): htdocs/ goes to /www, root/ to /,
and each po/<lang>/ddns_agent.po becomes /usr/lib/lua/luci/i18n/ddns_agent.<lc>.lmo in a package
luci-i18n-ddns-agent-<lc> (luci.mk maps zh_Hans to zh-cn). The .lmo is written here as po2lmo
writes it (LuCI's modules/luci-base/src/po2lmo.c): each translation's bytes padded to 4, then an
index of (key hash, value hash, offset, length) sorted by key hash, then the index's offset; all
big-endian. The key hash is SuperFastHash of the whitespace-trimmed msgid, the one LuCI's `_()`
looks up in `window.TR` (cbi.js `sfh`).

    python3 tools/build_luci.py --out dist/      # also run by tools/build_ipk.py
    python3 tools/build_luci.py --pot            # regenerate po/templates/ddns_agent.pot
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_ipk  # noqa: E402  (tools/ is no package)

APP = "openwrt/luci-app-ddns-agent"
NAME = "luci-app-ddns-agent"
DOMAIN = "ddns_agent"  # the po file's name, and the .lmo's
LANG_CODES = {"zh_Hans": "zh-cn", "zh_Hant": "zh-tw", "pt_BR": "pt-br"}  # luci.mk LUCI_LC_ALIAS
M32 = 0xFFFFFFFF

# luci.mk's postinst: LuCI caches the menu and modules; rpcd reads ACLs and plugins at start.
# luci.mk sends rpcd SIGHUP; a restart instead, as ddns-agent's postinst does (openwrt/Makefile:
# a SIGHUP during rpcd's reload leaves plugins unregistered)
POSTINST = """#!/bin/sh
[ -n "${IPKG_INSTROOT}" ] || {
	rm -f /tmp/luci-indexcache.*
	rm -rf /tmp/luci-modulecache/
	/etc/init.d/rpcd restart 2>/dev/null
	exit 0
}
"""


def sfh(text: str) -> int:
    """Paul Hsieh's SuperFastHash of the UTF-8 bytes, as LuCI's po2lmo and cbi.js compute it."""
    data = text.encode("utf-8")

    def u16(i: int) -> int:
        return data[i] | data[i + 1] << 8

    def s8(i: int) -> int:
        return data[i] - 256 if data[i] > 127 else data[i]

    h, off = len(data), 0
    for _ in range(len(data) >> 2):
        h = (h + u16(off)) & M32
        tmp = ((u16(off + 2) << 11) ^ h) & M32
        h = ((h << 16) ^ tmp) & M32
        h = (h + (h >> 11)) & M32
        off += 4
    rem = len(data) & 3
    if rem == 3:
        h = (h + u16(off)) & M32
        h ^= (h << 16) & M32
        h ^= (s8(off + 2) << 18) & M32
        h = (h + (h >> 11)) & M32
    elif rem == 2:
        h = (h + u16(off)) & M32
        h ^= (h << 11) & M32
        h = (h + (h >> 17)) & M32
    elif rem == 1:
        h = (h + s8(off)) & M32
        h ^= (h << 10) & M32
        h = (h + (h >> 1)) & M32
    h ^= (h << 3) & M32
    h = (h + (h >> 5)) & M32
    h ^= (h << 4) & M32
    h = (h + (h >> 17)) & M32
    h ^= (h << 25) & M32
    h = (h + (h >> 6)) & M32
    return h


def lmo_bytes(translations: dict) -> bytes:
    """An .lmo catalog of msgid -> msgstr (empty msgstr and msgstr == msgid are left out, as po2lmo does)."""
    body = bytearray()
    index = []
    for key, value in translations.items():
        key_id, val_id = sfh(_trim(key)), sfh(value)
        if not value or key_id == val_id:
            continue
        raw = value.encode("utf-8")
        index.append((key_id, val_id, len(body), len(raw)))
        body += raw
        body += b"\0" * (-len(body) % 4)
    index.sort()
    start = len(body)
    for entry in index:
        body += struct.pack(">IIII", *entry)
    return bytes(body + struct.pack(">I", start))


def _trim(text: str) -> str:
    # cbi.js trimws(): what `_()` hashes
    return re.sub(r"[ \t\n]+", " ", text.strip())


_JS_CALL = re.compile(r"""\b_\(\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def _js_unquote(literal: str) -> str:
    def one(m: re.Match) -> str:
        c = m.group(1)
        return chr(int(c[1:], 16)) if c[0] == "u" and len(c) == 5 else {"n": "\n", "t": "\t"}.get(c, c)
    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", one, literal[1:-1])


def msgids(app: Path) -> list:
    """Every translatable string, in file order: JS `_()`, menu titles, ACL descriptions."""
    found: dict = {}
    for js in sorted((app / "htdocs").rglob("*.js")):
        for m in _JS_CALL.finditer(js.read_text(encoding="utf-8")):
            found.setdefault(_js_unquote(m.group(1)), None)
    for path in sorted((app / "root/usr/share/luci/menu.d").glob("*.json")):
        for node in json.loads(path.read_text(encoding="utf-8")).values():
            if node.get("title"):
                found.setdefault(node["title"], None)
    for path in sorted((app / "root/usr/share/rpcd/acl.d").glob("*.json")):
        for group in json.loads(path.read_text(encoding="utf-8")).values():
            if group.get("description"):
                found.setdefault(group["description"], None)
    return list(found)


def _po_string(text: str) -> str:
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def pot_text(ids: list) -> str:
    """The template as i18n-scan.pl writes it: a header, then msgid / empty msgstr pairs."""
    out = ['msgid ""', 'msgstr "Content-Type: text/plain; charset=UTF-8"', ""]
    for i in ids:
        out += ["msgid " + _po_string(i), 'msgstr ""', ""]
    return "\n".join(out)


def parse_po(text: str, where: str) -> dict:
    """msgid -> msgstr of a .po file (no plurals or contexts: the app uses none)."""
    entries: dict = {}
    field, cur = None, {"msgid": None, "msgstr": None}

    def flush() -> None:
        if cur["msgid"]:
            entries[cur["msgid"]] = cur["msgstr"] or ""
        cur["msgid"] = cur["msgstr"] = None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'(msgid|msgstr)\s+"(.*)"', line)
        if m:
            if m.group(1) == "msgid":
                flush()
            field = m.group(1)
            cur[field] = _unescape(m.group(2))
        elif line.startswith('"') and line.endswith('"') and field:
            cur[field] = (cur[field] or "") + _unescape(line[1:-1])
        else:
            raise build_ipk.BuildError("%s:%d: not understood: %s" % (where, n, line))
    flush()
    return entries


def _unescape(s: str) -> str:
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


def _tree(base: Path, prefix: str) -> dict:
    files = {}
    for p in sorted(base.rglob("*")):
        if p.is_file():
            # luci.mk copies root/ as it is: the rpcd plugin keeps its exec bit
            mode = 0o755 if p.stat().st_mode & 0o100 else 0o644
            files[prefix + p.relative_to(base).as_posix()] = (p.read_bytes(), mode)
    return files


def _recipe(name: str, version: str, release: str, depends: list, title: str) -> build_ipk.Recipe:
    r = build_ipk.Recipe()
    r.name, r.source, r.version, r.release = name, NAME, version, release
    r.license, r.section, r.arch = "GPL-2.0-only", "luci", "all"
    r.url, r.title = "https://github.com/ddns-agent/ddns_agent", title
    r.depends = ["libc"] + depends
    r.scripts = {"postinst-pkg": POSTINST}
    return r


def build(root: Path, out_dir: Path, epoch: int | None = None) -> list:
    """Write luci-app-ddns-agent and one luci-i18n-ddns-agent-<lc> per po/<lang>/; return the paths."""
    epoch = build_ipk.source_date_epoch(root) if epoch is None else epoch
    app = root / APP
    core = build_ipk.parse_makefile(root / build_ipk.MAKEFILE)
    text = (app / "Makefile").read_text()
    title = re.search(r"^LUCI_TITLE:=(.*)$", text, re.M).group(1).strip()
    depends = re.search(r"^LUCI_DEPENDS:=(.*)$", text, re.M).group(1)
    deps = re.findall(r"\+([A-Za-z0-9][A-Za-z0-9_.+-]*)", depends)
    files = _tree(app / "htdocs", "www/")
    files.update(_tree(app / "root", ""))
    r = _recipe(NAME, core.version, core.release, deps, title)
    paths = [build_ipk.build_one(r, files, root, out_dir, epoch)]
    ids = set(msgids(app))
    for po in sorted((app / "po").glob("*/%s.po" % DOMAIN)):
        lang = po.parent.name
        if lang == "templates":
            continue
        lc = LANG_CODES.get(lang, lang.lower().replace("_", "-"))
        po_entries = parse_po(po.read_text(encoding="utf-8"), str(po))
        translations = {k: v for k, v in po_entries.items() if k in ids}
        lmo = {"usr/lib/lua/luci/i18n/%s.%s.lmo" % (DOMAIN, lc): (lmo_bytes(translations), 0o644)}
        ri = _recipe("luci-i18n-ddns-agent-%s" % lc, core.version, core.release, [NAME],
                     "%s translation for %s" % (lang, NAME))
        paths.append(build_ipk.build_one(ri, lmo, root, out_dir, epoch))
    return paths


def main(argv: list | None = None) -> int:
    """Command line: build the packages, or regenerate the .pot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="dist", help="output directory (default: dist)")
    ap.add_argument("--root", default=str(build_ipk.ROOT), help="source tree (default: this repository)")
    ap.add_argument("--pot", action="store_true", help="write po/templates/%s.pot from the sources" % DOMAIN)
    args = ap.parse_args(argv)
    root = Path(args.root)
    try:
        if args.pot:
            (root / APP / ("po/templates/%s.pot" % DOMAIN)).write_text(pot_text(msgids(root / APP)),
                                                                     encoding="utf-8")
            return 0
        paths = build(root, Path(args.out))
    except (build_ipk.BuildError, OSError) as e:
        print("build_luci: %s" % e, file=sys.stderr)
        return 2
    for path in paths:
        print("%s: %d bytes" % (path, path.stat().st_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
