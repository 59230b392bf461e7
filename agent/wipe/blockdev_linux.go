package wipe

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openTarget opens path for reading and writing. Block devices and files
// are opened with O_DIRECT when the kernel or filesystem allows it (a
// second, buffered descriptor serves the unaligned tail); a block device
// is opened exclusively (O_EXCL: the kernel refuses it while mounted or
// held) unless shared is set.
func openTarget(path string, block, shared bool) (*target, error) {
	flags := os.O_RDWR
	if block && !shared {
		flags |= unix.O_EXCL
	}
	t := &target{path: path, block: block, align: 4096}
	f, err := os.OpenFile(path, flags|unix.O_DIRECT, 0)
	if errors.Is(err, syscall.EINVAL) {
		f, err = os.OpenFile(path, flags, 0)
	} else if err == nil {
		t.direct = true
	}
	if errors.Is(err, syscall.EBUSY) {
		return nil, fmt.Errorf("open %s: %w: the kernel says it is in use (mounted, or held by LVM, RAID or dm-crypt)", path, ErrUnsafe)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	t.f = f
	if t.direct {
		// The unaligned tail of a file (and nothing else) goes through the
		// page cache.
		t.plain, err = os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	} else {
		t.plain = f
	}
	if block {
		var size uint64
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); e != 0 {
			t.close()
			return nil, fmt.Errorf("size of %s (BLKGETSIZE64): %w", path, e)
		}
		t.size = int64(size)
		if ss, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err == nil && ss > 0 {
			t.align = int64(max(ss, 512))
		}
	} else {
		fi, err := f.Stat()
		if err != nil {
			t.close()
			return nil, fmt.Errorf("stat %s: %w", path, err)
		}
		t.size = fi.Size()
	}
	return t, nil
}

// flush makes the written data durable and drops cached copies so that
// verification reads the medium: fsync (a FLUSH CACHE for a disk),
// BLKFLSBUF for a block device, and POSIX_FADV_DONTNEED.
func (t *target) flush() error {
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", t.path, err)
	}
	if t.plain != t.f {
		if err := t.plain.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", t.path, err)
		}
	}
	if t.block {
		unix.IoctlSetInt(int(t.plain.Fd()), unix.BLKFLSBUF, 0) // best effort: not every driver has a buffer cache to drop
	}
	unix.Fadvise(int(t.plain.Fd()), 0, 0, unix.FADV_DONTNEED)
	return nil
}

// rootDev returns the "major:minor" of the filesystem mounted on /, as the
// kernel sees it (the /proc/mounts source may be /dev/root).
func rootDev() (string, bool) {
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		return "", false
	}
	return fmt.Sprintf("%d:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev))), true
}
