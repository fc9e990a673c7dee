"""`make ipk` (tools/build_ipk.py): the five .ipk files unpacked and checked as opkg would see them.

ddns-agent is the core; ddns-agent-upstream (option source upnp/natpmp/stun/url),
ddns-agent-rfc2136 (provider type rfc2136), ddns-agent-providers (the further HTTP provider
APIs) and ddns-agent-notify (config notify sections) are split off it, as ddns-scripts-<service> are.
"""

from __future__ import annotations

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

import pytest

from ddns_agent.providers import PACKAGES, REGISTRY

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "tools" / "build_ipk.py"
MAKEFILE = REPO / "openwrt" / "Makefile"
EPOCH = "1700000000"
SIZE_BUDGET = 76_500  # bytes, the whole core .ipk (docs/design/openwrt-package.md says why not 60)
CORE, UPSTREAM, RFC2136 = "ddns-agent", "ddns-agent-upstream", "ddns-agent-rfc2136"
PROVIDERS = "ddns-agent-providers"
NOTIFY = "ddns-agent-notify"
CODE = "./usr/lib/ddns_agent/ddns_agent/"
# the modules each optional package ships; the core ships every other one
EXTRA_MODULES = {UPSTREAM: {CODE + m for m in ("ipurl.py", "natpmp.py", "stun.py", "upnp.py", "upstream.py")},
                 RFC2136: {CODE + "providers/rfc2136.py", CODE + "providers/dnswire.py"},
                 # every type the registry says `opkg install ddns-agent-providers` for
                 PROVIDERS: {CODE + "providers/%s.py" % REGISTRY[t].module
                             for t, pkg in PACKAGES.items() if pkg == PROVIDERS}
                 | {CODE + "providers/signing.py"},
                 NOTIFY: {CODE + "notify.py", CODE + "notifysend.py"}}
EXTRAS = [UPSTREAM, RFC2136, PROVIDERS, NOTIFY]

EXECUTABLES = {"./usr/bin/ddns-agent", "./etc/init.d/ddns_agent", "./usr/libexec/rpcd/ddns_agent",
               "./usr/lib/ddns_agent/recheck"}
DATA_FILES = EXECUTABLES | {"./etc/config/ddns_agent", "./etc/hotplug.d/iface/95-ddns_agent",
                            "./usr/share/rpcd/acl.d/ddns_agent.json"}
DEPENDS = {"libc", "python3-light", "python3-codecs", "python3-urllib", "python3-openssl", "ca-bundle"}
EXTRA_DEPENDS = {"libc", CORE}


def build(out: Path, epoch: str | None = EPOCH) -> dict:
    """Run the build as `make ipk` does; return package name -> .ipk."""
    env = dict(os.environ)
    env.pop("SOURCE_DATE_EPOCH", None)
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = epoch
    result = subprocess.run([sys.executable, str(BUILD), "--out", str(out)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return {p.name.split("_")[0]: p for p in out.glob("*.ipk")}


def repo_modules() -> set:
    """Every module of the repository's ddns_agent/, as its path in an .ipk payload."""
    return {"./usr/lib/ddns_agent/" + p.relative_to(REPO).as_posix()
            for p in (REPO / "ddns_agent").rglob("*.py") if "__pycache__" not in p.parts}


class Ipk:
    """The three members of an .ipk, opened."""

    def __init__(self, path: Path) -> None:
        self.raw = path.read_bytes()
        with tarfile.open(fileobj=io.BytesIO(self.raw), mode="r:gz") as outer:
            self.outer = outer.getmembers()
            self.members = {m.name: outer.extractfile(m).read() for m in self.outer}
        self.data_tar = gzip.decompress(self.members["./data.tar.gz"])
        self.data = tarfile.open(fileobj=io.BytesIO(self.data_tar)).getmembers()
        ctl = tarfile.open(fileobj=io.BytesIO(gzip.decompress(self.members["./control.tar.gz"])))
        self.control_members = ctl.getmembers()
        self.control = {m.name: ctl.extractfile(m).read().decode() for m in self.control_members
                        if m.isfile()}

    def fields(self) -> dict:
        """The control file's fields (continuation lines joined)."""
        out: dict = {}
        key = None
        for line in self.control["./control"].splitlines():
            if line.startswith(" ") and key:
                out[key] += "\n" + line
            else:
                key, _, value = line.partition(": ")
                out[key] = value
        return out

    def file(self, name: str) -> bytes:
        """One payload file's content."""
        with tarfile.open(fileobj=io.BytesIO(self.data_tar)) as t:
            return t.extractfile(name).read()

    def files(self) -> set:
        """The payload's file names."""
        return {m.name for m in self.data if m.isfile()}

    def extract(self, root: Path) -> None:
        """Unpack the payload into `root`, as opkg installs it."""
        with tarfile.open(fileobj=io.BytesIO(self.data_tar)) as t:
            t.extractall(root, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))


@pytest.fixture(scope="module")
def ipks(tmp_path_factory) -> dict:
    """One build: package name -> Ipk, for openwrt/Makefile's packages (LuCI's: test_luci_package.py)."""
    return {name: Ipk(path) for name, path in build(tmp_path_factory.mktemp("ipk")).items()
            if not name.startswith("luci-")}


@pytest.fixture(scope="module")
def ipk(ipks) -> Ipk:
    """The core package."""
    return ipks[CORE]


def test_make_ipk_builds_the_five_packages_named_by_opkg_and_apk_version_rules(ipks, tmp_path):
    paths = build(tmp_path)
    version = re.search(r'__version__ = "([^"]+)"', (REPO / "ddns_agent/__init__.py").read_text())[1]

    # and the LuCI page with its Chinese translation (tests/test_luci_package.py)
    assert sorted(paths) == sorted([CORE] + EXTRAS + ["luci-app-ddns-agent", "luci-i18n-ddns-agent-zh-cn"])
    for name, path in paths.items():
        assert re.fullmatch(r"%s_%s-r\d+_all\.ipk" % (name, re.escape(version)), path.name)
        assert Ipk(path).fields()["Version"] == path.name.split("_")[1]


def test_outer_layer_is_a_gzipped_tar_as_opkg_lede_reads_it(ipks):
    for ipk in ipks.values():
        assert ipk.raw[:2] == b"\x1f\x8b"  # not an `ar` archive: opkg-lede has no ar support
        assert [m.name for m in ipk.outer] == ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]
        assert ipk.members["./debian-binary"] == b"2.0\n"


def test_core_payload_holds_the_agent_and_the_openwrt_integration(ipk):
    files = ipk.files()

    assert DATA_FILES <= files
    code = {f for f in files if f.startswith(CODE)}
    assert CODE + "cli.py" in code
    assert {CODE + "providers/%s.py" % p for p in ("log", "cloudflare", "dnspod",
                                                     "duckdns", "dyndns2", "webhook")} <= code
    assert all(f.endswith(".py") for f in code)
    assert not [f for f in files if "__pycache__" in f or "/tests/" in f or f.endswith(".pyc")]
    assert files == DATA_FILES | code
    # the optional packages' modules are not in the core
    assert not code & set().union(*EXTRA_MODULES.values())


def test_optional_packages_hold_exactly_their_modules(ipks):
    for name, modules in EXTRA_MODULES.items():
        assert ipks[name].files() == modules, name


def test_every_repository_module_is_in_exactly_one_package(ipks):
    shipped = [f for ipk in ipks.values() for f in ipk.files() if f.startswith(CODE)]

    assert len(shipped) == len(set(shipped))  # opkg refuses a file two packages own
    assert set(shipped) == repo_modules()


def test_modes_and_owners(ipks):
    for ipk in ipks.values():
        for m in ipk.data:
            assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", ""), m.name
            assert m.mtime == int(EPOCH), m.name
            if m.isdir():
                assert m.mode == 0o755, m.name
            elif m.name == "./etc/config/ddns_agent":
                assert m.mode == 0o600  # INSTALL_CONF: it may hold credentials
            elif m.name in EXECUTABLES:
                assert m.mode == 0o755, m.name
            else:
                assert m.mode == 0o644, m.name  # .py, ACL, and the hotplug script (sourced)


def test_entries_are_in_gnu_tar_sort_name_order(ipks):
    for ipk in ipks.values():
        names = [m.name.rstrip("/") for m in ipk.data]
        assert names[0] == "."
        # each directory comes right before its children, children sorted by name
        for i, name in enumerate(names[1:], 1):
            parent = name.rsplit("/", 1)[0]
            assert parent in names[:i], name
        for parent in {n.rsplit("/", 1)[0] for n in names[1:]}:
            children = [n.rsplit("/", 1)[1] for n in names[1:] if n.rsplit("/", 1)[0] == parent]
            assert children == sorted(children, key=str.encode)


def test_control_fields(ipks):
    for name, ipk in ipks.items():
        f = ipk.fields()

        assert f["Package"] == name
        assert f["SourceName"] == CORE  # PKG_NAME: one recipe
        assert f["Version"] == ipks[CORE].fields()["Version"]
        assert f["Architecture"] == "all"
        if name == CORE:
            assert set(f["Depends"].split(", ")) == DEPENDS
        else:  # pinned to the same build of the core, so an upgrade moves them together
            assert f["Depends"].split(", ") == ["%s (=%s)" % (CORE, f["Version"]), "libc", CORE]
        assert f["Installed-Size"] == str(len(ipk.data_tar))  # bytes, as ipkg-build counts them
        assert f["SourceDateEpoch"] == EPOCH
        assert f["Description"].strip()


def test_depends_on_the_split_stdlib_not_urllib3_nor_full_python3(ipk):
    depends = set(ipk.fields()["Depends"].split(", "))
    assert not depends & {"python3", "python3-urllib3", "python3-requests", "python3-logging",
                          "python3-asyncio"}


def test_conffiles_and_maintainer_scripts(ipk):
    names = {m.name for m in ipk.control_members}
    assert {"./control", "./conffiles", "./postinst", "./prerm"} <= names
    assert ipk.control["./conffiles"] == "/etc/config/ddns_agent\n"
    assert "default_postinst $0 $@" in ipk.control["./postinst"]
    assert "default_prerm $0 $@" in ipk.control["./prerm"]
    for m in ipk.control_members:
        if m.name in ("./postinst", "./prerm", "./postinst-pkg", "./postrm"):
            assert m.mode == 0o755 and ipk.control[m.name].startswith("#!/bin/sh\n"), m.name


def test_optional_packages_have_no_conffiles_and_only_an_update_after_install(ipks):
    for name in EXTRA_MODULES:
        ipk = ipks[name]
        names = {m.name for m in ipk.control_members if m.isfile()}
        # postinst/prerm: what package-pack.mk writes for every package; postinst-pkg is theirs
        assert names == {"./control", "./postinst", "./prerm", "./postinst-pkg"}, name
        assert ipk.control["./postinst"] == ipks[CORE].control["./postinst"]
        script = ipk.control["./postinst-pkg"]
        assert script.startswith("#!/bin/sh\n")
        # on a live system with the service started only, never while building an image
        assert '[ -n "${IPKG_INSTROOT}" ] || [ ! -e /var/run/ddns_agent.started ] || ' \
               "/etc/init.d/ddns_agent reload" in script
        for m in ipk.control_members:
            if m.isfile() and m.name != "./control":
                assert m.mode == 0o755, m.name


def test_second_build_gives_the_same_bytes(ipks, tmp_path):
    again = build(tmp_path)
    for name, ipk in ipks.items():
        assert again[name].read_bytes() == ipk.raw, name


def test_default_epoch_is_the_last_commits_time(tmp_path):
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%ct"],
                            capture_output=True, text=True).stdout.strip()
    if not commit.isdigit():
        pytest.skip("not a git checkout")
    for path in build(tmp_path, epoch=None).values():
        assert Ipk(path).fields()["SourceDateEpoch"] == commit


def test_core_package_fits_the_size_budget(ipks):
    for name, ipk in ipks.items():
        print("%s: %d bytes, Installed-Size %s bytes"
              % (name, len(ipk.raw), ipk.fields()["Installed-Size"]))
    assert len(ipks[CORE].raw) < SIZE_BUDGET, "%d bytes" % len(ipks[CORE].raw)


def test_shipped_code_runs_and_keeps_the_repositorys_line_numbers(ipks, tmp_path):
    root = tmp_path / "root"
    for ipk in ipks.values():  # as `opkg install` of every optional package leaves them
        ipk.extract(root)
    assert {"./" + p.relative_to(root).as_posix() for p in (root / CODE).rglob("*.py")} == repo_modules()
    for p in (root / "usr/lib/ddns_agent/ddns_agent").rglob("*.py"):
        shipped = p.read_text()
        source = (REPO / p.relative_to(root / "usr/lib/ddns_agent")).read_text()
        assert shipped.count("\n") == source.count("\n"), p
        comments = [t for t in tokenize.generate_tokens(io.StringIO(shipped).readline)
                    if t.type == tokenize.COMMENT]
        assert not comments, p
    # the launcher as shipped, with its two absolute paths moved into tmp_path
    pycache = tmp_path / "run" / "ddns_agent-pycache"
    launcher = (root / "usr/bin/ddns-agent").read_text()
    assert "/usr/lib/ddns_agent" in launcher and "/var/run/ddns_agent-pycache" in launcher
    launcher = launcher.replace("/usr/lib/ddns_agent", str(root / "usr/lib/ddns_agent")).replace(
        "/var/run/ddns_agent-pycache", str(pycache))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run([sys.executable, "-c", launcher, "providers"], capture_output=True,
                            text=True, timeout=60, cwd=str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    assert "log:" in result.stdout
    # bytecode goes to tmpfs, never next to the sources on flash
    assert list(pycache.rglob("cli.*.pyc"))
    assert not list((root / "usr").rglob("__pycache__"))
    # the optional packages' modules import next to the core's
    modules = sorted("ddns_agent." + f[len(CODE):-3].replace("/", ".")
                     for f in set().union(*EXTRA_MODULES.values()))
    code = "import sys; sys.path.insert(0, %r)\nimport %s" % (str(root / "usr/lib/ddns_agent"),
                                                             ", ".join(modules))
    result = subprocess.run([sys.executable, "-I", "-B", "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr


def _define(text: str, name: str) -> str:
    return re.search(r"^define %s\n(.*?)^endef$" % re.escape(name), text, re.S | re.M)[1]


def test_makefile_recipe_uses_the_feed_conventions():
    text = MAKEFILE.read_text()
    assert re.search(r"^PKG_VERSION:=\d+\.\d+\.\d+$", text, re.M)
    assert re.search(r"^PKG_RELEASE:=\d+$", text, re.M)
    assert "PKGARCH:=all" in _define(text, "Package/ddns-agent/Default")
    assert re.findall(r"^\$\(eval \$\(call BuildPackage,(\S+)\)\)$", text, re.M) == [CORE] + EXTRAS
    for name, depends in [(CORE, DEPENDS)] + [(extra, EXTRA_DEPENDS) for extra in EXTRAS]:
        body = _define(text, "Package/" + name)
        assert "$(call Package/ddns-agent/Default)" in body
        assert set(re.findall(r"\+([\w.-]+)", body)) == depends - {"libc"}, name
    assert "INSTALL_CONF) $(PKG_BUILD_DIR)/openwrt/files/ddns_agent.config $(1)/etc/config/ddns_agent" in text
    assert re.findall(r"^define Package/(\S+)/conffiles$", text, re.M) == [CORE]
    assert "/etc/config/ddns_agent" in _define(text, "Package/ddns-agent/conffiles")


def _build_ipk_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("build_ipk", BUILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRICKY = '''"""Module doc."""
import os  # why os
X = "# not a comment"
Y = """# nor this,
    on two lines"""


def f():
    """Doc
    on two lines."""
    return len(X)  # trailing


class C:
    """Only a docstring."""
'''


def test_stripping_keeps_code_strings_and_lines():
    stripped = _build_ipk_module().strip_python(TRICKY.encode(), "tricky.py").decode()

    assert stripped.count("\n") == TRICKY.count("\n")
    assert "why os" not in stripped and "Only a docstring" not in stripped
    ns: dict = {}
    exec(compile(stripped, "tricky.py", "exec"), ns)
    assert ns["X"] == "# not a comment"
    assert ns["Y"] == "# nor this,\n    on two lines"
    assert ns["f"]() == len("# not a comment")
    original: dict = {}
    exec(compile(TRICKY, "tricky.py", "exec"), original)
    assert ns["f"].__code__.co_firstlineno == original["f"].__code__.co_firstlineno


def test_shipped_shell_scripts_lose_only_their_comment_lines(tmp_path):
    build_ipk = _build_ipk_module()
    script = "#!/bin/sh\n# why\n\t# indented why\necho '# kept' # trailing\nx=1\n"
    stripped = build_ipk.strip_file(script.encode(), "s.sh").decode()

    assert stripped == "#!/bin/sh\necho '# kept' # trailing\nx=1\n"
    with pytest.raises(build_ipk.BuildError, match="here-document"):
        build_ipk.strip_file(b"#!/bin/sh\ncat <<EOF\n# data\nEOF\n", "h.sh")
    # what the feed's Build/Compile writes: every shipped script still parses, none keeps a comment line
    for src in ("openwrt/files", "init.d"):
        assert build_ipk.main(["--strip-tree", str(REPO / src), str(tmp_path / src)]) == 0
    scripts = sorted((tmp_path / "openwrt/files").iterdir()) + [tmp_path / "init.d/ddns_agent"]
    assert len(scripts) >= 4
    for path in scripts:
        lines = path.read_text().splitlines()
        assert not [ln for ln in lines[1:] if ln.lstrip().startswith("#")], path
        assert subprocess.run(["sh", "-n", str(path)]).returncode == 0, path


def test_an_install_line_the_builder_does_not_understand_stops_the_build(tmp_path):
    build_ipk = _build_ipk_module()
    text = MAKEFILE.read_text().replace(
        "define Package/ddns-agent/install\n",
        "define Package/ddns-agent/install\n\t$(LN) /usr/bin/ddns-agent $(1)/usr/sbin/ddns\n")
    (tmp_path / "Makefile").write_text(text)

    with pytest.raises(build_ipk.BuildError, match="not understood"):
        build_ipk.parse_makefile(tmp_path / "Makefile")


def _build_from(tmp_path: Path, text: str):
    """build_ipk.build() on a copy of the tree whose recipe is `text`."""
    build_ipk = _build_ipk_module()
    src = tmp_path / "src"
    for part in ("ddns_agent", "openwrt", "init.d"):
        shutil.copytree(REPO / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "openwrt" / "Makefile").write_text(text)
    return build_ipk, lambda: build_ipk.build(src, tmp_path / "out", epoch=int(EPOCH))


def test_a_module_in_two_packages_stops_the_build(tmp_path):
    # the core forgetting to leave out a module an optional package installs: opkg would refuse it
    text = re.sub(r"\t\$\(RM\) .*?providers/dnswire\.py\n", "", MAKEFILE.read_text(), flags=re.S)
    build_ipk, run = _build_from(tmp_path, text)

    with pytest.raises(build_ipk.BuildError, match=r"ddns_agent/ipurl\.py is in both ddns-agent and "
                                                    r"ddns-agent-upstream"):
        run()


def test_removing_a_file_the_package_does_not_install_stops_the_build(tmp_path):
    # a renamed module must not leave the core's $(RM) line silently out of date
    text = MAKEFILE.read_text().replace("ddns_agent/stun.py $(1)", "ddns_agent/stunning.py $(1)", 1)
    build_ipk, run = _build_from(tmp_path, text)

    with pytest.raises(build_ipk.BuildError, match="removes usr/lib/ddns_agent/ddns_agent/stunning.py"):
        run()


CONFIG = REPO / "openwrt" / "files" / "ddns_agent.config"


def _check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ddns_agent", "--config", str(path), "check"],
                          capture_output=True, text=True, timeout=60, cwd=str(REPO))


def test_default_config_is_valid_and_publishes_nothing():
    result = _check(CONFIG)

    assert result.returncode == 0, result.stderr
    assert "0 record(s)" in result.stdout


def test_commented_examples_in_the_default_config_are_valid(tmp_path):
    token = tmp_path / "cloudflare.token"
    token.write_text("example-token\n")
    token.chmod(0o600)
    lines = [re.sub(r"^#(config |\t)", r"\1", ln) for ln in CONFIG.read_text().splitlines()]
    text = "\n".join(ln for ln in lines if not ln.startswith("#")) + "\n"
    example = tmp_path / "ddns_agent"
    example.write_text(text.replace("/etc/ddns_agent/cloudflare.token", str(token)))

    result = _check(example)

    assert result.returncode == 0, result.stderr
    assert "2 record(s)" in result.stdout


# Just enough of the OpenWrt build system to run the recipe's own install commands.
STUB_PACKAGE_MK = r"""
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
CP:=cp -fpR
define BuildPackage
$$(eval $$(Package/$(1)))
DEPENDS_$(1):=$$(DEPENDS)
depends-$(1):
	@echo '$$(strip $$(DEPENDS_$(1)))'
install-$(1):
	$$(Build/Compile)
	$$(call Package/$(1)/install,$$(DEST)/$(1))
endef
"""
STUB_HOST_MK = r"""
HOST_PYTHON3_BIN:=$(PYTHON)
define HostPython3/Run
	cd "$(if $(strip $(1)),$(strip $(1)),.)" && $(HOST_PYTHON3_BIN) $(2)
endef
"""


@pytest.fixture
def feed(tmp_path):
    """A build tree: the recipe at feeds/packages/net/ddns-agent, a copy of the sources to build."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    top = tmp_path / "top"
    (top / "include").mkdir(parents=True)
    (top / "rules.mk").write_text("INCLUDE_DIR:=$(TOPDIR)/include\n")
    (top / "include" / "package.mk").write_text(STUB_PACKAGE_MK)
    python = top / "feeds" / "packages" / "lang" / "python"
    (python / "python3" / "files").mkdir(parents=True)
    (python / "python3-host.mk").write_text(STUB_HOST_MK)
    pkg = top / "feeds" / "packages" / "net" / "ddns-agent"
    pkg.mkdir(parents=True)
    shutil.copy(MAKEFILE, pkg / "Makefile")
    src = tmp_path / "src"
    for part in ("ddns_agent", "tools", "openwrt", "init.d"):
        shutil.copytree(REPO / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))

    def make(target: str, email_split: bool = True) -> subprocess.CompletedProcess:
        email = python / "python3" / "files" / "python3-package-email.mk"
        if email_split:
            email.write_text("")
        elif email.exists():
            email.unlink()
        return subprocess.run(["make", "-s", "-C", str(pkg), target, "TOPDIR=%s" % top,
                               "PKG_BUILD_DIR=%s" % src, "DEST=%s" % (tmp_path / "dest"),
                               "PYTHON=%s" % sys.executable],
                              capture_output=True, text=True, timeout=120)
    make.dest = tmp_path / "dest"
    return make


@pytest.mark.parametrize("package", [CORE] + EXTRAS)
def test_feed_recipe_installs_what_the_ipk_holds(feed, ipks, package):
    result = feed("install-" + package)
    assert result.returncode == 0, result.stdout + result.stderr

    dest = feed.dest / package
    installed = {}
    for p in sorted(dest.rglob("*")):
        if p.is_file():
            installed["./" + p.relative_to(dest).as_posix()] = (p.stat().st_mode & 0o7777, p.read_bytes())
    ipk = ipks[package]
    shipped = {m.name: (m.mode, ipk.file(m.name)) for m in ipk.data if m.isfile()}
    assert installed.keys() == shipped.keys()
    for name in shipped:
        assert installed[name] == shipped[name], name


def test_feed_recipe_depends_on_no_python3_email_whether_or_not_the_feed_splits_it(feed):
    # the agent no longer imports email (its own HTTP/1.1 and HTTP-date reading): on master, where
    # email moved into python3-urllib, and on releases where it is its own package, alike
    split = feed("depends-" + CORE, email_split=True)
    merged = feed("depends-" + CORE, email_split=False)
    extras = [feed("depends-" + name) for name in EXTRAS]

    assert split.returncode == 0 and merged.returncode == 0, split.stderr + merged.stderr
    assert set(split.stdout.split()) == {"+" + d for d in DEPENDS - {"libc"}}
    assert set(merged.stdout.split()) == {"+" + d for d in DEPENDS - {"libc"}}
    assert [r.stdout.split() for r in extras] == [["+" + CORE]] * len(EXTRAS)
