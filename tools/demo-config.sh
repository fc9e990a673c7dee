#!/bin/sh
# Print a demo UCI config for this machine: the `log` provider (no account) and records that follow
# the device carrying the default route, as a plain Linux host would configure them.
dev4=$(ip -4 route show default 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)
dev6=$(ip -6 route show default 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)
[ -n "$dev4" ] || dev4=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
[ -n "$dev6" ] || dev6=$dev4
cat <<CONF
# demo config written by tools/demo-config.sh
config agent
	option log_level 'info'

config provider 'demo'
	option type 'log'

config record 'home4'
	option provider 'demo'
	option domain 'example.com'
	option name 'home'
	option type 'A'
	option device '$dev4'

config record 'home6'
	option provider 'demo'
	option domain 'example.com'
	option name 'home'
	option type 'AAAA'
	option device '$dev6'
CONF
