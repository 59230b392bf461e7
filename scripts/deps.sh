#!/usr/bin/env bash
# Installs, on Debian, what Valise's builds and tests use from the system:
# Mosquitto (external-broker tests and the benchmark baseline), the PCI ID
# database (hardware names in inventories) and smartmontools (disk health).
# It does nothing when they are already there.
set -euo pipefail

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
[ -e /usr/share/misc/pci.ids ] || [ -e /usr/share/hwdata/pci.ids ] || missing+=(pci.ids)
command -v smartctl >/dev/null 2>&1 || [ -x /usr/sbin/smartctl ] || missing+=(smartmontools)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: please install: ${missing[*]}" >&2
	exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts a Mosquitto service on port 1883 where an init system
# runs; Valise's tests start their own on free ports, and the demo's embedded
# broker wants 1883.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
	$sudo systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
