#!/bin/sh
# Install the peers `make bench` compares against into the bench's own prefix (default build/bench-peers):
#   ddclient 3.10 and inadyn 2.10 from Debian (apt-get download + dpkg -x: their packages would start
#   daemons and write /etc), with the Perl modules / libraries they need that the system lacks, and
#   NewFuture `ddns` 4.2.0 from PyPI into its own venv. Nothing is configured or started.
# Writes PREFIX/status/<peer>: "ok <version>" or "skipped: <reason>"; bench/peers.py reads it.
#   sh tools/bench-peers.sh [PREFIX]      PYTHON=python3 (the bench's interpreter, for ddns's venv)
set -u
PREFIX=${1:-build/bench-peers}
PYTHON=${PYTHON:-python3}
DDCLIENT_VERSION=3.10
INADYN_VERSION=2.10
DDNS_VERSION=4.2.0
mkdir -p "$PREFIX/debs" "$PREFIX/root" "$PREFIX/status"
PREFIX=$(cd "$PREFIX" && pwd)

status() { printf '%s\n' "$2" > "$PREFIX/status/$1"; echo "bench-peers: $1: $2" >&2; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# apt-get download PKG (matching version prefix) and unpack into PREFIX/root; 0 on success
unpack() {
    pkg=$1
    want=${2:-}
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1
    fi
    ver=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
    if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
        echo "no Debian candidate for $pkg" > "$PREFIX/debs/$pkg.err"
        return 1
    fi
    case "$ver" in "$want"*) ;; *)
        echo "Debian offers $pkg $ver, not $want" > "$PREFIX/debs/$pkg.err"
        return 1 ;;
    esac
    if ! ls "$PREFIX/debs/${pkg}_"*.deb >/dev/null 2>&1; then
        (cd "$PREFIX/debs" && apt-get download -q "$pkg" >/dev/null 2>"$pkg.err") || return 1
    fi
    for deb in "$PREFIX/debs/${pkg}_"*.deb; do dpkg -x "$deb" "$PREFIX/root" || return 1; done
}

# a Debian library package: use the system's copy when installed, else unpack it into the prefix
need() { installed "$1" || unpack "$1"; }

reason() { cat "$PREFIX/debs/$1.err" 2>/dev/null | head -1; }

# -- ddclient (Perl; IO::Socket::SSL for https, JSON::PP for Cloudflare: Debian's `perl`, not perl-base) --
if [ -x "$PREFIX/root/usr/bin/ddclient" ] || unpack ddclient "$DDCLIENT_VERSION"; then
    ok=1
    # perl's own modules are tied to the interpreter's version: install the package (no service in it)
    if ! installed perl && [ "$(id -u)" = 0 ]; then
        apt-get install -y -qq --no-install-recommends perl >/dev/null 2>&1
    fi
    installed perl || { ok=0; status ddclient "skipped: Debian's perl package is not installed (needs root)"; }
    for lib in libnet-ssleay-perl libio-socket-ssl-perl; do
        [ $ok = 1 ] && ! need "$lib" && { ok=0; status ddclient "skipped: $lib: $(reason "$lib")"; }
    done
    if [ $ok = 1 ]; then
        export PERL5LIB="$PREFIX/root/usr/share/perl5:$(echo "$PREFIX"/root/usr/lib/x86_64-linux-gnu/perl5/* | tr ' ' :)"
        if v=$(perl "$PREFIX/root/usr/bin/ddclient" -version 2>/dev/null) \
                && perl -MIO::Socket::SSL -e 1 2>/dev/null; then
            status ddclient "ok $(echo "$v" | sed -n 's/.*ddclient version \([0-9.]*\).*/\1/p' | head -1)"
        else
            status ddclient "skipped: ddclient does not start (perl -MIO::Socket::SSL fails?)"
        fi
    fi
else
    status ddclient "skipped: $(reason ddclient)"
fi

# -- inadyn (C; libconfuse2, libgnutls30) --
if [ -x "$PREFIX/root/usr/sbin/inadyn" ] || unpack inadyn "$INADYN_VERSION"; then
    for lib in libconfuse-common libconfuse2 libgnutls30 libnettle8; do need "$lib"; done
    if v=$(LD_LIBRARY_PATH="$PREFIX/root/usr/lib/x86_64-linux-gnu" "$PREFIX/root/usr/sbin/inadyn" --version 2>&1); then
        status inadyn "ok $v"
    else
        status inadyn "skipped: inadyn does not start: $(echo "$v" | head -1)"
    fi
else
    status inadyn "skipped: $(reason inadyn)"
fi

# -- ddns (NewFuture, PyPI): a venv of the bench's interpreter without pip/setuptools, so no .pth code
# runs at start (the agent's children get the same, bench/boxes.py clean_interpreter)
V="$PREFIX/ddns-venv"
if [ -x "$V/bin/ddns" ] && "$V/bin/python" -c 'import ddns' 2>/dev/null; then :
elif "$PYTHON" -m venv --clear --without-pip "$V" >/dev/null 2>&1 \
        && "$PYTHON" -m pip --python "$V/bin/python" install -q --no-deps "ddns==$DDNS_VERSION" \
           >"$PREFIX/ddns-pip.log" 2>&1; then :
else
    status ddns "skipped: pip install ddns==$DDNS_VERSION failed: $(tail -1 "$PREFIX/ddns-pip.log" 2>/dev/null)"
    V=""
fi
if [ -n "$V" ]; then
    v=$("$V/bin/python" -c 'import importlib.metadata as m; print(m.version("ddns"))' 2>&1)
    [ "$v" = "$DDNS_VERSION" ] && status ddns "ok $v" || status ddns "skipped: ddns version $v"
fi
exit 0
