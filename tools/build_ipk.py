"""Build the OpenWrt .ipk files without the SDK; what goes in is read from openwrt/Makefile (the feed recipe).

Layout as opkg-lede reads it (openwrt scripts/ipkg-build, include/package-pack.mk): a gzip'd tar
(not an `ar` archive) holding ./debian-binary, ./data.tar.gz and ./control.tar.gz. Entries are
owned by 0:0 with no names (--numeric-owner), sorted by name, stamped with SOURCE_DATE_EPOCH
(default: the last commit's time), and gzip stores no name or time: one commit, the same bytes.
One .ipk per `BuildPackage` in the recipe (ddns-agent, ddns-agent-upstream, ddns-agent-rfc2136,
ddns-agent-providers, ddns-agent-notify), then luci-app-ddns-agent and its translations (tools/build_luci.py).

    python3 tools/build_ipk.py --out dist/
"""

from __future__ import annotations

import argparse
import ast
import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKEFILE = "openwrt/Makefile"

# $(INSTALL_*) of include/package-defaults.mk
INSTALL_MODES = {"INSTALL_BIN": 0o755, "INSTALL_DATA": 0o644, "INSTALL_CONF": 0o600}

# what package-pack.mk writes around a package's own postinst/prerm (kept as <pkg>.postinst-pkg)
POSTINST = """#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
"""
PRERM = """#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
"""


class BuildError(Exception):
    """The recipe or the tree cannot give a package; the message names the place."""


class Recipe:
    """The parts of openwrt/Makefile that decide the package's contents and control file."""

    __slots__ = ("name", "source", "version", "release", "license", "section", "title", "url", "arch",
                 "depends", "description", "conffiles", "scripts", "files", "trees", "stripped",
                 "removed")

    def __init__(self) -> None:
        self.name = self.source = self.version = self.release = self.license = ""
        self.section = self.title = self.url = self.arch = ""
        self.depends: list = []
        self.description: list = []
        self.conffiles: list = []
        self.scripts: dict = {}   # control.tar.gz name -> text
        self.files: list = []     # (source relative to the repo, destination path, mode)
        self.trees: list = []     # (source dir, destination dir): *.py copied, 0644
        self.stripped: dict = {}  # Build/Compile's --strip-tree: output dir -> source dir
        self.removed: list = []   # $(RM) after the copies: destination paths

    @property
    def full_version(self) -> str:
        """`X.Y.Z-rN`, the form opkg (24.10) and apk (25.12) both accept."""
        return "%s-r%s" % (self.version, self.release)

    @property
    def filename(self) -> str:
        """ipkg-build's name: <pkg>_<version>_<arch>.ipk."""
        return "%s_%s_%s.ipk" % (self.name, self.full_version, self.arch)


def _variables(text: str) -> dict:
    joined = re.sub(r"\\\n", " ", text)
    found = {}
    for m in re.finditer(r"^\s*([A-Z][A-Z0-9_]*)\s*:=(.*)$", joined, re.M):
        found.setdefault(m.group(1), m.group(2).strip())
    return found


def package_names(path: Path) -> list:
    """The packages the recipe builds, in its `$(eval $(call BuildPackage,NAME))` order."""
    names = re.findall(r"^\$\(eval \$\(call BuildPackage,([^)\s]+)\)\)", path.read_text(), re.M)
    if not names:
        raise BuildError("%s: no $(eval $(call BuildPackage,...))" % path)
    return names


def parse_makefile(path: Path, name: str = "") -> Recipe:
    """Read package `name` (default PKG_NAME) of the recipe; BuildError names what is wrong."""
    text = path.read_text()
    defines = {m.group(1): m.group(2) for m in
               re.finditer(r"^define (\S+)\n(.*?)^endef\s*$", text, re.M | re.S)}
    top = _variables(re.sub(r"^define .*?^endef\s*$", "", text, flags=re.M | re.S))
    r = Recipe()
    r.source = top.get("PKG_NAME", "")  # every package of the recipe: SourceName
    r.name = name or r.source
    pkg = "Package/%s" % r.name
    if pkg not in defines:
        raise BuildError("%s: no 'define %s'" % (path, pkg))
    # $(call Package/<pkg>/Default): the fields the packages share
    info = _variables(re.sub(r"\$\(call (Package/[^)\s]+)\)", lambda m: defines.get(m.group(1), m.group(0)),
                             defines[pkg]))
    r.version = top.get("PKG_VERSION", "")
    r.release = top.get("PKG_RELEASE", "")
    if not re.fullmatch(r"\d+(\.\d+)+", r.version) or not r.release.isdigit():
        raise BuildError("%s: PKG_VERSION must be X.Y.Z and PKG_RELEASE an integer, got %r, %r"
                         % (path, r.version, r.release))
    r.license = top.get("PKG_LICENSE", "")
    r.section, r.title, r.url = info.get("SECTION", ""), info.get("TITLE", ""), info.get("URL", "")
    r.arch = info.get("PKGARCH", "")
    # every `+pkg`, conditional ones (`$(if ...,+pkg)`) included
    r.depends = ["libc"] + re.findall(r"\+([A-Za-z0-9][A-Za-z0-9_.+-]*)", info.get("DEPENDS", ""))
    extra = info.get("EXTRA_DEPENDS", "")
    if extra:  # package-pack.mk puts EXTRA_DEPENDS first, versions expanded
        extra = extra.replace("$(PKG_VERSION)", r.version).replace("$(PKG_RELEASE)", r.release)
        r.depends = [d.strip() for d in extra.split(",")] + r.depends
    r.description = [ln for ln in defines.get(pkg + "/description", "").splitlines() if ln.strip()]
    r.conffiles = [ln.strip() for ln in defines.get(pkg + "/conffiles", "").splitlines() if ln.strip()]
    for name, control_name in (("postinst", "postinst-pkg"), ("prerm", "prerm-pkg"),
                               ("preinst", "preinst"), ("postrm", "postrm")):
        body = defines.get("%s/%s" % (pkg, name))
        if body is not None:
            r.scripts[control_name] = body.replace("$$", "$")
    for m in re.finditer(r"build_ipk\.py --strip-tree ([^\s)]+) ([^\s)]+)", defines.get("Build/Compile", "")):
        r.stripped[m.group(2).rstrip("/")] = m.group(1).rstrip("/")
    _parse_install(r, defines.get(pkg + "/install", ""), path)
    return r


def _parse_install(r: Recipe, body: str, path: Path) -> None:
    for line in re.sub(r"\\\n", " ", body).splitlines():
        line = line.strip()
        m = re.fullmatch(r"\$\((INSTALL_BIN|INSTALL_DATA|INSTALL_CONF)\)\s+\$\(PKG_BUILD_DIR\)/(\S+)"
                         r"\s+\$\(1\)/(\S+)", line)
        if m:
            dest = m.group(3)
            if dest.endswith("/"):
                dest += m.group(2).rsplit("/", 1)[-1]
            r.files.append((m.group(2), dest, INSTALL_MODES[m.group(1)]))
            continue
        m = re.fullmatch(r"\$\(CP\)\s+\$\(PKG_BUILD_DIR\)/(\S+)\s+\$\(1\)/(\S+)/", line)
        if m:
            src = m.group(1).rstrip("/")
            r.trees.append((src, "%s/%s" % (m.group(2), src.rsplit("/", 1)[-1])))
            continue
        m = re.fullmatch(r"\$\(RM\)((?:\s+\$\(1\)/\S+)+)", line)
        if m:
            r.removed.extend(p[len("$(1)/"):] for p in m.group(1).split())
            continue
        # INSTALL_DIR: the parents come from the file paths
        if not line or line.startswith(("$(INSTALL_DIR)", "#")):
            continue
        raise BuildError("%s: install line not understood by build_ipk.py: %s" % (path, line))


def _payload(r: Recipe, root: Path) -> dict:
    """Destination path -> (bytes, mode) for every file the package installs."""
    files = {}
    for src, dest, mode in r.files:
        # a file of Build/Compile's stripped tree: strip its source here
        out_dir = next((d for d in r.stripped if src.startswith(d + "/")), None)
        source = r.stripped[out_dir] + src[len(out_dir):] if out_dir else src
        if not (root / source).is_file():
            raise BuildError("%s: %s is not a file" % (MAKEFILE, src))
        data = (root / source).read_bytes()
        files[dest] = (strip_file(data, source) if out_dir else data, mode)
    for src, dest in r.trees:
        if src in r.stripped:
            tree = {rel: strip_python(data, "%s/%s" % (r.stripped[src], rel))
                    for rel, data in python_tree(root / r.stripped[src]).items()}
        else:
            tree = python_tree(root / src)
        for rel, data in tree.items():
            files["%s/%s" % (dest, rel)] = (data, 0o644)
    for dest in r.removed:
        if files.pop(dest, None) is None:
            raise BuildError("%s: Package/%s/install removes %s, which it does not install"
                             % (MAKEFILE, r.name, dest))
    return files


def python_tree(base: Path) -> dict:
    """Relative path -> bytes of every .py under `base`, without __pycache__ and tests."""
    if not base.is_dir():
        raise BuildError("%s is not a directory" % base)
    out = {}
    for p in sorted(base.rglob("*.py")):
        rel = p.relative_to(base)
        if "__pycache__" not in rel.parts and "tests" not in rel.parts:
            out[rel.as_posix()] = p.read_bytes()
    return out


def _docstring_starts(tree: ast.AST) -> set:
    starts = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                starts.add((first.lineno, first.col_offset))
    return starts


def _shape(tree: ast.AST) -> list:
    return [(type(n).__name__, getattr(n, "lineno", None)) for n in ast.walk(tree)]


def strip_python(data: bytes, name: str) -> bytes:
    """Drop comments and docstrings, keeping every statement on its line (tracebacks match the repo).

    Flash is the budget (a .py compresses to well under a third of its .pyc); the result is
    checked to parse to the same statements on the same lines.
    """
    text = data.decode("utf-8")
    try:
        tree = ast.parse(text, name)
    except SyntaxError as e:
        raise BuildError("%s:%s: %s" % (name, e.lineno, e.msg))
    docs = _docstring_starts(tree)
    lines = list(io.StringIO(text, newline=""))
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln))
    edits = []
    for tok in tokenize.generate_tokens(io.StringIO(text, newline="").readline):
        if tok.type == tokenize.COMMENT:
            start = offsets[tok.start[0] - 1] + tok.start[1]
            line_start = offsets[tok.start[0] - 1]
            while start > line_start and text[start - 1] in " \t":
                start -= 1
            edits.append((start, offsets[tok.end[0] - 1] + tok.end[1], ""))
        elif tok.type == tokenize.STRING and tok.start in docs:
            newlines = tok.string.count("\n")
            edits.append((offsets[tok.start[0] - 1] + tok.start[1],
                          offsets[tok.end[0] - 1] + tok.end[1],
                          '""' if not newlines else '"""' + "\n" * newlines + '"""'))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    stripped = ast.parse(text, name)
    if _shape(stripped) != _shape(tree):
        raise BuildError("%s: stripping comments and docstrings changed the code" % name)
    return text.encode("utf-8")


def strip_shell(data: bytes, name: str) -> bytes:
    """Drop a shell script's comment-only lines, keeping its #! line (they ship on flash as text)."""
    if b"<<" in data:  # a here-document's lines are data, whatever they start with
        raise BuildError("%s: a here-document: comment lines cannot be told from its data" % name)
    lines = data.split(b"\n")
    kept = lines[:1] + [ln for ln in lines[1:] if not ln.lstrip().startswith(b"#")]
    return b"\n".join(kept)


def strip_file(data: bytes, name: str) -> bytes:
    """A shipped file without what only its reader needs: .py comments and docstrings, sh comment lines."""
    if name.endswith(".py"):
        return strip_python(data, name)
    if data.startswith(b"#!/bin/sh"):
        return strip_shell(data, name)
    return data


def source_tree(base: Path) -> dict:
    """Relative path -> bytes of what `--strip-tree` takes: a Python package, or a folder's shell scripts."""
    tree = python_tree(base)
    if not tree:
        tree = {p.name: p.read_bytes() for p in sorted(base.iterdir())
                if p.is_file() and p.read_bytes().startswith(b"#!/bin/sh")}
    return tree


def strip_tree(src: Path, dest: Path) -> None:
    """Write the stripped files of `src` to `dest` (the feed Makefile's Build/Compile)."""
    tree = source_tree(src)
    if dest.exists():
        shutil.rmtree(dest)
    for rel, data in tree.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(strip_file(data, str(src / rel)))
        shutil.copymode(src / rel, target)


def _walk(files: dict) -> list:
    """Tar entries as GNU tar --sort=name lists a tree: each directory before its sorted children."""
    tree: dict = {}
    for dest in files:
        node = tree
        for part in dest.split("/")[:-1]:
            node = node.setdefault(part, {})
        node[dest.rsplit("/", 1)[-1]] = None
    out = [(".", None)]

    def visit(node: dict, prefix: str) -> None:
        for name in sorted(node, key=lambda s: s.encode()):
            path = prefix + "/" + name
            out.append((path, node[name] is not None))
            if node[name] is not None:
                visit(node[name], path)
    visit(tree, ".")
    return out


def tar_bytes(files: dict, mtime: int, order: list | None = None) -> bytes:
    """A GNU tar of `files` (name -> (bytes, mode)) plus directories, root-owned, fixed mtime."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        entries = order if order is not None else _walk(files)
        for path, is_dir in entries:
            ti = tarfile.TarInfo(path)
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            ti.mtime = mtime
            key = path[2:]
            if is_dir or path == ".":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            else:
                data, ti.mode = files[key]
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """gzip -n: no file name, time 0."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def control_text(r: Recipe, installed_size: int, epoch: int) -> str:
    """The control file in package-pack.mk's field order."""
    fields = [("Package", r.name), ("Version", r.full_version), ("Depends", ", ".join(r.depends)),
              ("SourceName", r.source), ("License", r.license), ("Section", r.section),
              ("SourceDateEpoch", str(epoch)), ("URL", r.url), ("Architecture", r.arch),
              ("Installed-Size", str(installed_size))]
    lines = ["%s: %s" % (k, v) for k, v in fields if v]
    # package-pack.mk: printf "Description: "; sed 's,^[[:space:]]*, ,' on every line
    desc = [" " + ln.lstrip() for ln in (r.description or [r.title])]
    lines.append("Description: " + desc[0])
    lines.extend(desc[1:])
    return "\n".join(lines) + "\n"


def source_date_epoch(root: Path) -> int:
    """SOURCE_DATE_EPOCH, else the last commit's time, else 0."""
    env = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if env:
        if not env.isdigit():
            raise BuildError("SOURCE_DATE_EPOCH: expected an integer, got %r" % env)
        return int(env)
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%ct"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip().isdigit() else 0


def check_version(r: Recipe, root: Path) -> None:
    """The recipe and ddns_agent.__version__ must agree."""
    m = re.search(r'^__version__\s*=\s*"([^"]+)"', (root / "ddns_agent/__init__.py").read_text(), re.M)
    if not m or m.group(1) != r.version:
        raise BuildError("%s: PKG_VERSION %s differs from ddns_agent.__version__ %s"
                         % (MAKEFILE, r.version, m.group(1) if m else "(missing)"))


def build(root: Path, out_dir: Path, epoch: int | None = None) -> list:
    """Write one .ipk per package of the recipe into `out_dir`; return their paths."""
    epoch = source_date_epoch(root) if epoch is None else epoch
    recipes = [parse_makefile(root / MAKEFILE, name) for name in package_names(root / MAKEFILE)]
    payloads = [_payload(r, root) for r in recipes]
    owner: dict = {}
    for r, files in zip(recipes, payloads):
        for dest in files:
            if dest in owner:  # opkg refuses to install a file another package owns
                raise BuildError("%s: %s is in both %s and %s" % (MAKEFILE, dest, owner[dest], r.name))
            owner[dest] = r.name
    return [build_one(r, files, root, out_dir, epoch) for r, files in zip(recipes, payloads)]


def build_one(r: Recipe, files: dict, root: Path, out_dir: Path, epoch: int) -> Path:
    """Write the .ipk of recipe `r` holding `files` into `out_dir` and return its path."""
    check_version(r, root)
    data_tar = tar_bytes(files, epoch)
    control = {"control": (control_text(r, len(data_tar), epoch).encode(), 0o644),
               "postinst": (POSTINST.encode(), 0o755), "prerm": (PRERM.encode(), 0o755)}
    # ipkg-build keeps only conffiles that the package ships
    shipped = sorted(c for c in r.conffiles if c.lstrip("/") in files)
    if shipped:
        control["conffiles"] = ("".join(c + "\n" for c in shipped).encode(), 0o644)
    for name, text in r.scripts.items():
        control[name] = (text.rstrip("\n").encode() + b"\n", 0o755)
    outer = {"debian-binary": (b"2.0\n", 0o644),
             "data.tar.gz": (gzip_bytes(data_tar), 0o644),
             "control.tar.gz": (gzip_bytes(tar_bytes(control, epoch)), 0o644)}
    # ipkg-build names the three on the command line, in this order
    order = [("./debian-binary", False), ("./data.tar.gz", False), ("./control.tar.gz", False)]
    ipk = gzip_bytes(tar_bytes(outer, epoch, order))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / r.filename
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(ipk)
    tmp.replace(target)
    return target


def main(argv: list | None = None) -> int:
    """Command line: build, print the path and sizes."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="dist", help="output directory (default: dist)")
    ap.add_argument("--root", default=str(ROOT), help="source tree (default: this repository)")
    ap.add_argument("--strip-tree", nargs=2, metavar=("SRC", "DEST"),
                    help="only write SRC's .py files (or shell scripts) without comments to DEST")
    args = ap.parse_args(argv)
    try:
        if args.strip_tree:
            strip_tree(Path(args.strip_tree[0]), Path(args.strip_tree[1]))
            return 0
        paths = build(Path(args.root), Path(args.out))
        import build_luci  # the LuCI app and its translations, from luci.mk's layout

        paths += build_luci.build(Path(args.root), Path(args.out))
    except (BuildError, OSError) as e:
        print("build_ipk: %s" % e, file=sys.stderr)
        return 2
    for path in paths:
        with tarfile.open(path) as outer:
            member = outer.extractfile("./data.tar.gz")
            installed = len(gzip.decompress(member.read())) if member else 0
        print("%s: %d bytes, Installed-Size %d bytes" % (path, path.stat().st_size, installed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
