#!/bin/sh
# Install the Valise agent: its binary and its service (a systemd unit, or
# the procd init script on OpenWrt), then enrol it if asked. Running it
# again with the same files changes nothing; with a new binary it replaces
# it and restarts the service. Enrolment happens only once (the state dir
# already holding state.json means enrolled) unless --reenroll.
#
# usage: install.sh [options] AGENT_BINARY
#   --server URL --token T [--ca-pin sha256:HEX] [--asset-tag TAG]
#                   enrol with the join command's values
#   --reenroll      enrol even if already enrolled
#   --init systemd|openwrt
#                   service manager (default: detected)
#   --root DIR      install into DIR (an image being built): no service is
#                   started and no enrolment is made
#   --no-start      install and enable, but neither start nor restart
set -eu

die() { echo "install.sh: $*" >&2; exit 2; }

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
root=/ init= server= token= pin= tag= reenroll=0 start=1 binary=
while [ $# -gt 0 ]; do
	case "$1" in
	--server) [ $# -ge 2 ] || die "$1 needs a value"; server=$2; shift 2 ;;
	--token) [ $# -ge 2 ] || die "$1 needs a value"; token=$2; shift 2 ;;
	--ca-pin) [ $# -ge 2 ] || die "$1 needs a value"; pin=$2; shift 2 ;;
	--asset-tag) [ $# -ge 2 ] || die "$1 needs a value"; tag=$2; shift 2 ;;
	--init) [ $# -ge 2 ] || die "$1 needs a value"; init=$2; shift 2 ;;
	--root) [ $# -ge 2 ] || die "$1 needs a value"; root=$2; shift 2 ;;
	--reenroll) reenroll=1; shift ;;
	--no-start) start=0; shift ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown option $1" ;;
	*) [ -z "$binary" ] || die "one binary only"; binary=$1; shift ;;
	esac
done
[ -n "$binary" ] || die "usage: install.sh [options] AGENT_BINARY (see --help)"
[ -f "$binary" ] || die "$binary: no such file"
if [ -n "$server$token" ] && { [ -z "$server" ] || [ -z "$token" ]; }; then
	die "--server and --token go together"
fi
root=${root%/}
live=0
[ -z "$root" ] && live=1
if [ -z "$init" ]; then
	if [ -f "$root/etc/openwrt_release" ]; then init=openwrt; else init=systemd; fi
fi
case "$init" in
systemd)
	bin=/usr/local/bin/valise-agent state=/var/lib/valise-agent
	service_src=$here/systemd/valise-agent.service service=/etc/systemd/system/valise-agent.service service_mode=0644 ;;
openwrt)
	bin=/usr/bin/valise-agent state=/etc/valise-agent
	service_src=$here/openwrt/valise-agent service=/etc/init.d/valise-agent service_mode=0755 ;;
*) die "--init $init: want systemd or openwrt" ;;
esac
[ -f "$service_src" ] || die "$service_src: missing (keep install.sh next to systemd/ and openwrt/)"

changed=0
# put SRC DEST MODE: install SRC as DEST unless it is already there.
put() {
	if [ -f "$root$2" ] && cmp -s "$1" "$root$2"; then
		echo "unchanged: $2"
		return 0
	fi
	mkdir -p "$(dirname "$root$2")"
	cp "$1" "$root$2.new"
	chmod "$3" "$root$2.new"
	mv -f "$root$2.new" "$root$2"
	echo "installed: $2"
	changed=1
}
put "$binary" "$bin" 0755
put "$service_src" "$service" "$service_mode"
mkdir -p "$root$state"
chmod 0700 "$root$state"

if [ "$live" = 0 ]; then
	echo "installed into $root: enrol and start the agent on the device"
	exit 0
fi

if [ -n "$server" ]; then
	if [ -f "$state/state.json" ] && [ "$reenroll" = 0 ]; then
		echo "already enrolled ($state/state.json); --reenroll to enrol again"
	else
		set -- enroll --server "$server" --token "$token" --state "$state"
		[ -z "$pin" ] || set -- "$@" --ca-pin "$pin"
		[ -z "$tag" ] || set -- "$@" --asset-tag "$tag"
		"$bin" "$@"
		changed=1
	fi
fi

case "$init" in
systemd)
	systemctl daemon-reload
	systemctl enable valise-agent.service
	if [ "$start" = 1 ] && [ -f "$state/state.json" ]; then
		if [ "$changed" = 1 ]; then systemctl restart valise-agent.service; else systemctl start valise-agent.service; fi
	fi ;;
openwrt)
	/etc/init.d/valise-agent enable
	if [ "$start" = 1 ] && [ -f "$state/state.json" ]; then
		if [ "$changed" = 1 ]; then /etc/init.d/valise-agent restart; else /etc/init.d/valise-agent start; fi
	fi ;;
esac
[ -f "$state/state.json" ] || echo "not enrolled yet: run $bin enroll --server URL --token T --state $state"
