"""The real OpenWrt 22.03 userland unpacked and entered with chroot: its busybox ash, uci, jshn and Lua.

Enough to run the rpcd plugin and LuCI's translation loader as the router runs them, without
booting (tests/openwrt_lab.py boots the whole router for the browser tests). The rootfs tarball is
named by OPENWRT_ROOTFS; missing, the test skips, and fails when CI=true.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def require() -> Path:
    """The rootfs tarball, or skip (fail when CI=true) with one line."""
    path = os.environ.get("OPENWRT_ROOTFS", "")
    reason = None
    if not path or not Path(path).is_file():
        reason = "OPENWRT_ROOTFS=%r: no OpenWrt rootfs tarball" % path
    elif os.geteuid() != 0:
        reason = "chroot into the OpenWrt rootfs needs root"
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    return Path(path)


def unpack(dest: Path) -> Path:
    """Unpack the rootfs into `dest` with what a chroot needs (dev nodes, /var -> /tmp); return it."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xJf", str(require()), "-C", str(dest)], check=True, timeout=300)
    (dest / "tmp").mkdir(exist_ok=True)
    (dest / "dev").mkdir(exist_ok=True)
    if not (dest / "var").exists():
        os.symlink("tmp", dest / "var")
    for name, minor in (("null", 3), ("urandom", 9)):
        node = dest / "dev" / name
        if not node.exists():
            os.mknod(node, 0o20666, os.makedev(1, minor))
    return dest


def install(root: Path, ipk: Path) -> None:
    """Put a package's files in place (data.tar.gz), as opkg would, without running its scripts."""
    with tarfile.open(ipk) as outer:
        data = outer.extractfile("./data.tar.gz")
        with tarfile.open(fileobj=data, mode="r:gz") as payload:
            payload.extractall(root, **({"filter": "tar"} if hasattr(tarfile, "data_filter") else {}))


def run(root: Path, *argv: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `argv` chrooted in `root` with a clean environment."""
    return subprocess.run(["chroot", str(root), "/usr/bin/env", "-i", "PATH=" + PATH, *argv],
                          input=stdin, capture_output=True, text=True, timeout=timeout)
