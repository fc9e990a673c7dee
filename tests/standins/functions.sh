# Stand-in for OpenWrt's /lib/functions.sh (package/base-files): the UCI shell API that the
# hotplug and init scripts use, with the same observable behaviour. The real config_load runs
# `uci export <package>` and evals it; UCI's file syntax is that same shell syntax, so this one
# evals the file from $UCI_CONFIG_DIR (the directory `uci -c` would read) directly.

config() {
	CONFIG_NUM_SECTIONS=$((CONFIG_NUM_SECTIONS + 1))
	CONFIG_SECTION="${2:-cfg$CONFIG_NUM_SECTIONS}"
	CONFIG_SECTIONS="${CONFIG_SECTIONS:+$CONFIG_SECTIONS }$CONFIG_SECTION"
	config_set "$CONFIG_SECTION" TYPE "$1"
}

option() {
	_standin_name="$1"
	shift
	config_set "$CONFIG_SECTION" "$_standin_name" "$*"
}

list() {
	_standin_name="$1"
	shift
	eval "_standin_old=\${CONFIG_${CONFIG_SECTION}_${_standin_name}:-}"
	config_set "$CONFIG_SECTION" "$_standin_name" "${_standin_old:+$_standin_old }$*"
}

package() { :; }

config_set() {
	eval "CONFIG_${1}_${2}=\$3"
}

config_load() {
	CONFIG_SECTIONS=
	CONFIG_NUM_SECTIONS=0
	CONFIG_SECTION=
	_standin_file="${UCI_CONFIG_DIR:-/etc/config}/$1"
	[ -f "$_standin_file" ] || return 1
	. "$_standin_file"
}

config_get() {
	case "$3" in
		"") eval echo "\"\${CONFIG_${1}_${2}:-\${4}}\"" ;;
		*) eval "${1}=\${CONFIG_${2}_${3}:-\${4}}" ;;
	esac
}

config_get_bool() {
	config_get _standin_tmp "$2" "$3" "$4"
	case "$_standin_tmp" in
		1|on|true|yes|enabled) _standin_tmp=1 ;;
		0|off|false|no|disabled) _standin_tmp=0 ;;
		*) _standin_tmp="$4" ;;
	esac
	eval "${1}=\$_standin_tmp"
}

config_foreach() {
	_standin_fn="$1"
	_standin_type="$2"
	shift 2
	for _standin_section in $CONFIG_SECTIONS; do
		config_get _standin_t "$_standin_section" TYPE
		[ -n "$_standin_type" ] && [ "$_standin_t" != "$_standin_type" ] && continue
		"$_standin_fn" "$_standin_section" "$@"
	done
}
