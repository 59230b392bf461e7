package collect

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/jaypipes/ghw"

	"github.com/valise-numerique/valise/internal/wire"
)

// skipBlock matches block devices that are not disks: loop, RAM, zram,
// device-mapper, software RAID, optical, floppy, network block devices,
// eMMC boot and RPMB partitions.
var skipBlock = regexp.MustCompile(`^(loop|ram|zram|dm-|md|sr|fd|nbd|mtdblock|ubiblock)|^mmcblk\d+(boot\d+|rpmb)$`)

// collectDisks lists the whole disks of /sys/block.
func collectDisks(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	disks, err := c.listDisks(ctx)
	inv.Disks = disks
	return err
}

// listDisks lists the disks through ghw (sysfs, and udev's database under
// /run/udev/data for model, serial and bus path). Where udev has no data
// (no udev on OpenWrt, udev not yet run, a container), model and serial
// come from the device's sysfs attributes (model, name, serial, vpd_pg80);
// the firmware revision, which ghw does not read, from sysfs or udev.
func (c *Collector) listDisks(ctx context.Context) ([]wire.Disk, error) {
	info, err := ghw.Block(c.ghwContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	if info.Disks == nil { // ghw could not read /sys/block
		return nil, fmt.Errorf("list disks: %w", ErrNoData)
	}
	dir := c.path("/sys/block")
	var disks []wire.Disk
	for _, gd := range info.Disks {
		if skipBlock.MatchString(gd.Name) || gd.SizeBytes == 0 { // empty card reader, ejected medium
			continue
		}
		p := filepath.Join(dir, gd.Name)
		if readString(p+"/hidden") == "1" { // NVMe multipath path device
			continue
		}
		disks = append(disks, c.readDisk(gd, p))
	}
	return disks, nil
}

func (c *Collector) readDisk(gd *ghw.Disk, dir string) wire.Disk {
	dev := dir + "/device"
	d := wire.Disk{Name: gd.Name, SizeBytes: gd.SizeBytes, Removable: gd.IsRemovable}
	// udev's ID_MODEL is complete (SCSI and SATA models in sysfs are cut
	// at 16 characters), with blanks turned into "_".
	d.Model = firstNonEmpty(strings.ReplaceAll(ghwString(gd.Model), "_", " "), readString(dev+"/model"), readString(dev+"/name"))
	d.Serial = firstNonEmpty(ghwString(gd.SerialNumber), readString(dev+"/serial"), readString(dir+"/serial"), vpdSerial(dev+"/vpd_pg80"))
	d.Firmware = firstNonEmpty(readString(dev+"/firmware_rev"), c.udevProperties(readString(dir + "/dev"))["ID_REVISION"], readString(dev+"/rev"), readString(dev+"/fwrev"))
	if v := ghwString(gd.Vendor); v != "" && v != "ATA" && !strings.HasPrefix(v, "0x") {
		d.Vendor = v
	}
	switch {
	case gd.StorageController == ghw.StorageControllerNVMe:
		d.Bus, d.Type = "nvme", wire.DiskNVMe
	case gd.StorageController == ghw.StorageControllerMMC:
		d.Bus, d.Type = "mmc", wire.DiskEMMC
		if readString(dev+"/type") == "SD" {
			d.Type, d.Removable = wire.DiskSD, true
		}
	case gd.StorageController == ghw.StorageControllerVirtIO:
		d.Bus, d.Type = "virtio", wire.DiskVirtual
	case strings.HasPrefix(gd.Name, "xvd"):
		d.Bus, d.Type = "xen", wire.DiskVirtual
	default:
		d.Bus = diskBus(ghwString(gd.BusPath), dir)
		switch {
		case isVirtualModel(d.Model, d.Vendor):
			d.Type = wire.DiskVirtual
		case !exists(dir + "/queue/rotational"):
			d.Type = wire.DiskUnknown
		case gd.DriveType == ghw.DriveTypeHDD:
			d.Type = wire.DiskHDD
		case gd.DriveType == ghw.DriveTypeSSD:
			d.Type = wire.DiskSSD
		default:
			d.Type = wire.DiskUnknown
		}
	}
	return d
}

// diskBus tells the bus of a SCSI-like disk from udev's ID_PATH
// ("pci-0000:00:17.0-ata-1", "pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0"),
// else from the sysfs path of the device.
func diskBus(idPath, dir string) string {
	target, _ := os.Readlink(dir)
	switch {
	case strings.Contains(idPath, "-usb-"):
		return "usb"
	case strings.Contains(idPath, "-ata-"):
		return "sata"
	case strings.Contains(target, "/usb"):
		return "usb"
	case strings.Contains(target, "/ata"):
		return "sata"
	case strings.Contains(target, "/virtio"):
		return "virtio"
	}
	return "scsi"
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
// "major:minor", or nil. ghw reads the same file but keeps no revision.
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
