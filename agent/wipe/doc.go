// Package wipe erases the disks of a device before it goes back to the
// public, verifies the erasure and keeps the evidence a certificate needs.
//
// Wipe probes a target (ProbeDisk), refuses unsafe ones, runs one method
// and verifies it, and always returns the medium record
// (certificate.Medium) — with Result failed and Error when anything went
// wrong, including a cancelled context. The methods, strongest first:
//
//   - NVMe sanitize (crypto erase, block erase) and NVMe format with secure
//     erase, through nvme-cli (JSON output, sanitize-log polling): Purge.
//   - ATA sanitize (crypto scramble, block erase) and ATA security erase
//     (enhanced when supported), through hdparm; a frozen drive is
//     reported (ErrFrozen) with the way out: Purge.
//   - LUKS key-slot erase (cryptsetup erase) when the whole disk is LUKS:
//     Purge.
//   - overwrite (zeros by default, or an AES-CTR stream) with a full
//     read-back or NIST SP 800-88 sampling: Clear. It is the universal
//     fallback and the only method for regular files (tests, simulator).
//   - discard (blkdiscard, --secure when the device takes it), checked by
//     reading zeros back: category none, never counted as sanitisation.
//
// Safety is never bypassed: a disk holding the running root is refused; a
// disk with a mounted filesystem or active swap is refused unless
// Options.Maintenance is set (booted from a live image) and the mount is
// not the root; a removable disk is refused unless Options.AllowRemovable;
// anything that is neither a block device nor a regular file is refused.
//
// Every command run against a device and its raw output (truncated to
// 4 KiB) is recorded in the medium's Commands. Commands, /sys and /proc are
// reached through Options.Exec and Options.Root so that tests run on
// recorded outputs and fixture trees; commands that need real NVMe or ATA
// hardware are exercised only with VALISE_HW_TEST=1.
//
// Wipe is safe for concurrent use on different targets.
package wipe
