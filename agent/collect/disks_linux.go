package collect

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// skipBlock matches block devices that are not disks: loop, RAM, zram,
// device-mapper, software RAID, optical, floppy, network block devices,
// eMMC boot and RPMB partitions.
var skipBlock = regexp.MustCompile(`^(loop|ram|zram|dm-|md|sr|fd|nbd|mtdblock|ubiblock)|^mmcblk\d+(boot\d+|rpmb)$`)

// collectDisks lists the whole disks of /sys/block.
func collectDisks(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	disks, err := c.listDisks()
	inv.Disks = disks
	return err
}

// listDisks reads /sys/block. Model, serial and bus come from udev's
// database (/run/udev/data) when present, then from the device's sysfs
// attributes (model, serial, vpd_pg80, firmware_rev, rev).
func (c *Collector) listDisks() ([]wire.Disk, error) {
	dir := c.path("/sys/block")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	var disks []wire.Disk
	for _, e := range entries {
		name := e.Name()
		if skipBlock.MatchString(name) {
			continue
		}
		d := c.readDisk(filepath.Join(dir, name), name)
		if d.SizeBytes == 0 { // empty card reader, ejected medium
			continue
		}
		disks = append(disks, d)
	}
	return disks, nil
}

func (c *Collector) readDisk(dir, name string) wire.Disk {
	dev := dir + "/device"
	d := wire.Disk{Name: name, SizeBytes: readUint(dir+"/size") * 512}
	if readString(dir+"/hidden") == "1" { // NVMe multipath path device
		return wire.Disk{}
	}
	udev := c.udevProperties(readString(dir + "/dev"))
	// SCSI and SATA models in sysfs are cut at 16 characters: udev's
	// escaped model is complete.
	d.Model = firstNonEmpty(udevUnescape(udev["ID_MODEL_ENC"]), readString(dev+"/model"), readString(dev+"/name"), strings.ReplaceAll(udev["ID_MODEL"], "_", " "))
	d.Serial = firstNonEmpty(udev["ID_SERIAL_SHORT"], readString(dev+"/serial"), readString(dir+"/serial"), vpdSerial(dev+"/vpd_pg80"))
	d.Firmware = firstNonEmpty(readString(dev+"/firmware_rev"), udev["ID_REVISION"], readString(dev+"/rev"), readString(dev+"/fwrev"))
	if v := readString(dev + "/vendor"); v != "" && v != "ATA" && !strings.HasPrefix(v, "0x") {
		d.Vendor = v
	}
	d.Removable = readString(dir+"/removable") == "1"
	target, _ := os.Readlink(dir)
	switch {
	case strings.HasPrefix(name, "nvme"):
		d.Bus, d.Type = "nvme", wire.DiskNVMe
	case strings.HasPrefix(name, "mmcblk"):
		d.Bus, d.Type = "mmc", wire.DiskEMMC
		if readString(dev+"/type") == "SD" {
			d.Type, d.Removable = wire.DiskSD, true
		}
	case strings.HasPrefix(name, "vd"), strings.HasPrefix(name, "xvd"):
		d.Bus, d.Type = "virtio", wire.DiskVirtual
		if strings.HasPrefix(name, "xvd") {
			d.Bus = "xen"
		}
	default:
		switch bus := udev["ID_BUS"]; {
		case bus == "ata":
			d.Bus = "sata"
		case bus == "usb" || strings.Contains(target, "/usb"):
			d.Bus = "usb"
		case strings.Contains(target, "/ata"):
			d.Bus = "sata"
		case strings.Contains(target, "/virtio"):
			d.Bus = "virtio"
		default:
			d.Bus = "scsi"
		}
		switch {
		case isVirtualModel(d.Model, d.Vendor):
			d.Type = wire.DiskVirtual
		case readString(dir+"/queue/rotational") == "1":
			d.Type = wire.DiskHDD
		case readString(dir+"/queue/rotational") == "0":
			d.Type = wire.DiskSSD
		default:
			d.Type = wire.DiskUnknown
		}
	}
	return d
}

// isVirtualModel recognises the disks of common hypervisors.
func isVirtualModel(model, vendor string) bool {
	s := strings.ToUpper(model + " " + vendor)
	for _, v := range []string{"QEMU", "VBOX", "VMWARE", "VIRTUAL DISK", "MSFT"} {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// udevProperties returns the E: properties udev recorded for a block device
// "major:minor", or nil.
func (c *Collector) udevProperties(majmin string) map[string]string {
	if majmin == "" {
		return nil
	}
	f, err := os.Open(c.path("/run/udev/data/b" + majmin))
	if err != nil {
		return nil
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if kv, ok := strings.CutPrefix(sc.Text(), "E:"); ok {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
	}
	return m
}

// udevUnescape decodes udev's \xNN escapes ("Samsung\x20SSD") and trims.
func udevUnescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return strings.TrimSpace(b.String())
}

// vpdSerial returns the unit serial number of a SCSI VPD page 0x80 (which
// libata also provides for SATA disks): a 4-byte header, then the serial.
func vpdSerial(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 5 || b[1] != 0x80 {
		return ""
	}
	n := int(b[2])<<8 | int(b[3])
	b = b[4:]
	if n < len(b) {
		b = b[:n]
	}
	return strings.TrimSpace(strings.Trim(string(b), "\x00"))
}
