#!/usr/bin/env bash
# Installs, on Debian, what Valise's builds and tests use from the system:
# Mosquitto (external-broker tests and the benchmark baseline), the PCI ID
# database (hardware names in inventories), smartmontools and iproute2 (what
# the collectors run), and for the wipe tests on loop devices losetup and
# mount (mount), blkdiscard (util-linux), mkfs.ext4 (e2fsprogs) and
# cryptsetup (cryptsetup-bin); systemd-analyze checks the installers' units;
# make, git and the CA certificates (Go modules) build and run it all.
# It does nothing when they are already there.
set -euo pipefail

# has tells whether the command is on the PATH or in an sbin directory,
# which a non-root PATH may leave out.
has() {
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing=()
has mosquitto || missing+=(mosquitto)
[ -e /usr/share/misc/pci.ids ] || [ -e /usr/share/hwdata/pci.ids ] || missing+=(pci.ids)
has smartctl || missing+=(smartmontools)
has ip || missing+=(iproute2)
{ has losetup && has mount && has umount; } || missing+=(mount)
has blkdiscard || missing+=(util-linux)
has mkfs.ext4 || missing+=(e2fsprogs)
has cryptsetup || missing+=(cryptsetup-bin)
has systemd-analyze || missing+=(systemd)
has make || missing+=(make)
has git || missing+=(git)
[ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
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
