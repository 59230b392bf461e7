package wipe

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// TypeFile is the Disk.Type of a regular file used as a disk (tests and
// the simulator).
const TypeFile = "file"

// Disk describes a wipe target.
type Disk struct {
	Path       string // what was opened: /dev/sda, or a regular file
	Name       string // kernel name (sda, nvme0n1), or the file's path
	Model      string
	Serial     string
	Firmware   string
	Type       string // wire.Disk* media type, or TypeFile
	Size       int64  // bytes
	Removable  bool   // removable media, or a disk on USB
	Rotational bool
}

// InternalDisks lists the whole internal disks under root/sys/block: not
// removable, not on USB, and not a loop, RAM, zram, device-mapper, md or
// optical device. They are sorted by name.
func InternalDisks(root string) ([]Disk, error) {
	if root == "" {
		root = "/"
	}
	entries, err := os.ReadDir(filepath.Join(root, "sys/block"))
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	var disks []Disk
	for _, e := range entries {
		name := e.Name()
		if skipDisk(name) {
			continue
		}
		d := sysDisk(root, name)
		if d.Removable || d.Size == 0 {
			continue
		}
		d.Path = filepath.Join("/dev", name)
		disks = append(disks, d)
	}
	sort.Slice(disks, func(i, j int) bool { return disks[i].Name < disks[j].Name })
	return disks, nil
}

// skipDisk tells the block devices that are never internal disks.
func skipDisk(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd", "mtdblock"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	// eMMC boot and RPMB partitions show up as separate block devices.
	return strings.Contains(name, "boot") || strings.HasSuffix(name, "rpmb")
}

// sysDisk reads what /sys/block says about a whole disk.
func sysDisk(root, name string) Disk {
	dir := filepath.Join(root, "sys/block", name)
	d := Disk{Name: name}
	if n, err := strconv.ParseInt(readSys(dir, "size"), 10, 64); err == nil {
		d.Size = n * 512 // always in 512-byte sectors
	}
	d.Removable = readSys(dir, "removable") == "1"
	d.Rotational = readSys(dir, "queue/rotational") == "1"
	d.Model = readSys(dir, "device/model")
	d.Serial = readSys(dir, "device/serial")
	if d.Serial == "" {
		d.Serial = vpdSerial(filepath.Join(dir, "device/vpd_pg80"))
	}
	d.Firmware = readSys(dir, "device/firmware_rev")
	if d.Firmware == "" {
		d.Firmware = readSys(dir, "device/rev")
	}
	if link, err := filepath.EvalSymlinks(dir); err == nil && strings.Contains(link, "/usb") {
		d.Removable = true
	}
	switch {
	case strings.HasPrefix(name, "nvme"):
		d.Type = wire.DiskNVMe
	case strings.HasPrefix(name, "mmcblk"):
		d.Type = wire.DiskEMMC
		if readSys(dir, "device/type") == "SD" {
			d.Type = wire.DiskSD
		}
	case strings.HasPrefix(name, "loop"), strings.HasPrefix(name, "vd"), strings.HasPrefix(name, "xvd"):
		d.Type = wire.DiskVirtual
	case d.Rotational:
		d.Type = wire.DiskHDD
	case strings.HasPrefix(name, "sd"):
		d.Type = wire.DiskSSD
	default:
		d.Type = wire.DiskUnknown
	}
	return d
}

// vpdSerial reads the unit serial number VPD page (0x80) of a SCSI or
// SATA disk: 4 header bytes, then the serial.
func vpdSerial(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 4 {
		return ""
	}
	return strings.TrimSpace(strings.Trim(string(b[4:]), "\x00"))
}

// readSys reads a one-line sysfs attribute, trimmed; "" when unreadable.
func readSys(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
