#!/bin/sh
# Install the real components the test suite drives (Debian/Ubuntu). Idempotent and quick when present.
set -eu
need=""
command -v named >/dev/null 2>&1 || need="$need bind9"
command -v dig >/dev/null 2>&1 || need="$need bind9-dnsutils"
command -v shellcheck >/dev/null 2>&1 || need="$need shellcheck"
command -v miniupnpd >/dev/null 2>&1 || need="$need miniupnpd"
command -v turnserver >/dev/null 2>&1 || need="$need coturn"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v nft >/dev/null 2>&1 || need="$need nftables"
command -v iptables >/dev/null 2>&1 || need="$need iptables"
# the LuCI browser tests drive Debian's chromium through playwright (no browser download)
command -v chromium >/dev/null 2>&1 || need="$need chromium"
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need="$need python3-venv"
[ -z "$need" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "installing:$need"
$SUDO apt-get update -qq
# miniupnpd's package asks debconf questions; never start the system services it ships
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
for svc in named bind9 miniupnpd coturn; do
	$SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
