package wipe

import (
	"fmt"
	"os"
	"unsafe"
)

// target is an open wipe target. Aligned I/O goes through f (O_DIRECT
// when direct); unaligned I/O through plain, which is f itself when the
// target could not be opened with O_DIRECT.
type target struct {
	path   string
	block  bool
	f      *os.File
	plain  *os.File
	direct bool
	size   int64
	align  int64 // O_DIRECT alignment of offsets and lengths
}

// writeAt writes p at off: its aligned head directly, the rest through
// the page cache. p must start at an aligned address (alignedBuf).
func (t *target) writeAt(p []byte, off int64) error {
	head := t.alignedLen(len(p), off)
	if head > 0 {
		if _, err := t.f.WriteAt(p[:head], off); err != nil {
			return fmt.Errorf("write %s at %d: %w", t.path, off, err)
		}
	}
	if head < len(p) {
		if _, err := t.plain.WriteAt(p[head:], off+int64(head)); err != nil {
			return fmt.Errorf("write %s at %d: %w", t.path, off+int64(head), err)
		}
	}
	return nil
}

// readAt fills p from off, as writeAt writes.
func (t *target) readAt(p []byte, off int64) error {
	head := t.alignedLen(len(p), off)
	if head > 0 {
		if _, err := t.f.ReadAt(p[:head], off); err != nil {
			return fmt.Errorf("read %s at %d: %w", t.path, off, err)
		}
	}
	if head < len(p) {
		if _, err := t.plain.ReadAt(p[head:], off+int64(head)); err != nil {
			return fmt.Errorf("read %s at %d: %w", t.path, off+int64(head), err)
		}
	}
	return nil
}

// alignedLen is how many bytes of an n-byte I/O at off can go through f.
func (t *target) alignedLen(n int, off int64) int {
	if !t.direct {
		return n
	}
	if off%t.align != 0 {
		return 0
	}
	return n - n%int(t.align)
}

func (t *target) close() error {
	var err error
	if t.plain != nil && t.plain != t.f {
		err = t.plain.Close()
	}
	if t.f != nil {
		if e := t.f.Close(); e != nil {
			err = e
		}
	}
	return err
}

// bufAlign is the memory alignment of I/O buffers, enough for O_DIRECT
// on every Linux block device.
const bufAlign = 4096

// alignedBuf returns an n-byte slice starting at a bufAlign boundary.
func alignedBuf(n int) []byte {
	b := make([]byte, n+bufAlign)
	shift := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) % bufAlign); r != 0 {
		shift = bufAlign - r
	}
	return b[shift : shift+n : shift+n]
}
