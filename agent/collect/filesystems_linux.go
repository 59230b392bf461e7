package collect

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

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

// collectFilesystems reports usage of each mounted on-disk filesystem, once
// per device (bind mounts and btrfs subvolumes show the first mount point).
// Free is what an unprivileged user may still write; UsedPercent is
// computed as df does.
func collectFilesystems(ctx context.Context, c *Collector, h *wire.Health) error {
	path := c.path("/proc/self/mounts")
	f, err := os.Open(path)
	if err != nil {
		if f, err = os.Open(c.path("/proc/mounts")); err != nil {
			return fmt.Errorf("read mounts: %w", err)
		}
	}
	defer f.Close()
	statfs := liveStatfs
	if !c.live() {
		// The filesystems of a recorded root are not mounted here: their
		// usage is the recorded output of `df -P -B1`.
		if statfs, err = c.recordedDF(ctx); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	var errs []error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !diskFSTypes[fields[2]] {
			continue
		}
		dev, mp, typ := unescapeMount(fields[0]), unescapeMount(fields[1]), fields[2]
		if seen[dev] {
			continue
		}
		seen[dev] = true
		u, err := statfs(mp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fs := wire.Filesystem{Mountpoint: mp, Device: dev, FSType: typ, TotalBytes: u.Total, FreeBytes: u.Avail}
		if used := u.Total - min(u.Free, u.Total); used+u.Avail > 0 {
			fs.UsedPercent = min(round1(float64(used)/float64(used+u.Avail)*100), 100)
		}
		h.Filesystems = append(h.Filesystems, fs)
	}
	return errors.Join(errs...)
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

// liveStatfs asks the kernel about the filesystem mounted at mountpoint.
func liveStatfs(mountpoint string) (fsUsage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(mountpoint, &st); err != nil {
		return fsUsage{}, fmt.Errorf("statfs %s: %w", mountpoint, err)
	}
	bs := uint64(st.Bsize)
	return fsUsage{Total: st.Blocks * bs, Free: st.Bfree * bs, Avail: st.Bavail * bs}, nil
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
