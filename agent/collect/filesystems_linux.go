package collect

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/disk"

	"github.com/valise-numerique/valise/internal/wire"
)

// diskFSTypes are the filesystems that hold data on a device; everything
// else (tmpfs, overlay, squashfs, proc, cgroup, network filesystems…) is
// left out of the health sample.
var diskFSTypes = map[string]bool{
	"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "f2fs": true,
	"vfat": true, "exfat": true, "ntfs": true, "ntfs3": true, "fuseblk": true, "hfsplus": true,
	"jfs": true, "reiserfs": true, "zfs": true, "bcachefs": true, "jffs2": true, "ubifs": true,
}

// mount is one line of the mount table.
type mount struct{ device, mountpoint, fstype string }

// collectFilesystems reports usage of each mounted on-disk filesystem, once
// per device (bind mounts and btrfs subvolumes show the first mount point).
// On the live system the mounts and their usage come from gopsutil
// (disk.Partitions, disk.Usage); the filesystems of a recorded root are not
// mounted here: its mount table is read from proc/mounts and the usage from
// the recorded output of `df -P -B1`. Free is what an unprivileged user may
// still write; UsedPercent is computed as df does.
func collectFilesystems(ctx context.Context, c *Collector, h *wire.Health) error {
	mounts, statfs, err := c.liveMounts(ctx)
	if !c.live() {
		mounts, statfs, err = c.recordedMounts(ctx)
	}
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var errs []error
	for _, m := range mounts {
		if !diskFSTypes[m.fstype] || seen[m.device] {
			continue
		}
		seen[m.device] = true
		u, err := statfs(m.mountpoint)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fs := wire.Filesystem{Mountpoint: m.mountpoint, Device: m.device, FSType: m.fstype, TotalBytes: u.Total, FreeBytes: u.Avail}
		if used := u.Total - min(u.Free, u.Total); used+u.Avail > 0 {
			fs.UsedPercent = min(round1(float64(used)/float64(used+u.Avail)*100), 100)
		}
		h.Filesystems = append(h.Filesystems, fs)
	}
	return errors.Join(errs...)
}

// liveMounts lists the mounts of the running system and returns a statfs
// that asks the kernel, both through gopsutil.
func (c *Collector) liveMounts(ctx context.Context) ([]mount, func(string) (fsUsage, error), error) {
	if !c.live() {
		return nil, nil, nil
	}
	parts, err := disk.PartitionsWithContext(c.psContext(ctx), true)
	if err != nil && len(parts) == 0 {
		return nil, nil, fmt.Errorf("read mounts: %w", err)
	}
	mounts := make([]mount, 0, len(parts))
	for _, p := range parts {
		mounts = append(mounts, mount{device: p.Device, mountpoint: p.Mountpoint, fstype: p.Fstype})
	}
	statfs := func(mp string) (fsUsage, error) {
		u, err := disk.UsageWithContext(ctx, mp)
		if err != nil {
			return fsUsage{}, fmt.Errorf("statfs %s: %w", mp, err)
		}
		return fsUsage{Total: u.Total, Free: u.Total - min(u.Used, u.Total), Avail: u.Free}, nil
	}
	return mounts, statfs, nil
}

// recordedMounts reads the mount table of a recorded root and returns a
// statfs that answers from its recorded df output.
func (c *Collector) recordedMounts(ctx context.Context) ([]mount, func(string) (fsUsage, error), error) {
	f, err := os.Open(c.path("/proc/self/mounts"))
	if err != nil {
		if f, err = os.Open(c.path("/proc/mounts")); err != nil {
			return nil, nil, fmt.Errorf("read mounts: %w", err)
		}
	}
	defer f.Close()
	statfs, err := c.recordedDF(ctx)
	if err != nil {
		return nil, nil, err
	}
	var mounts []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		mounts = append(mounts, mount{device: unescapeMount(fields[0]), mountpoint: unescapeMount(fields[1]), fstype: fields[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read mounts: %w", err)
	}
	return mounts, statfs, nil
}

// unescapeMount undoes the octal escapes of /proc/mounts ("\040" for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// recordedDF returns a statfs that answers from `df -P -B1` output.
func (c *Collector) recordedDF(ctx context.Context) (func(string) (fsUsage, error), error) {
	out, err := c.exec(ctx, "df", "-P", "-B1")
	if err != nil {
		return nil, err
	}
	usage := map[string]fsUsage{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		// Filesystem 1-blocks Used Available Capacity Mounted on
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		total, err1 := strconv.ParseUint(f[1], 10, 64)
		used, err2 := strconv.ParseUint(f[2], 10, 64)
		avail, err3 := strconv.ParseUint(f[3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue // header
		}
		usage[strings.Join(f[5:], " ")] = fsUsage{Total: total, Free: total - min(used, total), Avail: avail}
	}
	return func(mp string) (fsUsage, error) {
		u, ok := usage[mp]
		if !ok {
			return u, fmt.Errorf("usage of %s: %w in df output", mp, ErrNoData)
		}
		return u, nil
	}, nil
}
