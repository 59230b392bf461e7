//go:build !linux

package wipe

import (
	"fmt"
	"io"
	"os"
)

// openTarget opens path for reading and writing, through the page cache:
// O_DIRECT and the block device ioctls exist only on Linux.
func openTarget(path string, block, shared bool) (*target, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("size of %s: %w", path, err)
	}
	return &target{path: path, block: block, f: f, plain: f, size: size, align: 4096}, nil
}

func (t *target) flush() error {
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", t.path, err)
	}
	return nil
}

func rootDev() (string, bool) { return "", false }
