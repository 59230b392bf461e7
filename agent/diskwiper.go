package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/valise-numerique/valise/agent/wipe"
	"github.com/valise-numerique/valise/internal/certificate"
)

// DiskWiper is the Wiper of a real machine: its internal disks, erased by
// package wipe's executors. It never runs in maintenance mode: the disk
// that holds the running root, and any disk with a mounted filesystem, is
// refused (the medium record and the job's error say so), as are
// removable disks.
type DiskWiper struct {
	// Root is where /proc and /sys are read; "" means "/".
	Root string
	// Exec runs the erasure tools (nvme, hdparm, cryptsetup); nil means
	// os/exec.
	Exec func(ctx context.Context, name string, args ...string) ([]byte, error)
}

var _ Wiper = DiskWiper{}

// Targets returns the internal disks named, or all of them.
func (w DiskWiper) Targets(_ context.Context, names []string) ([]WipeTarget, error) {
	disks, err := wipe.InternalDisks(w.Root)
	if err != nil {
		return nil, err
	}
	byName := map[string]wipe.Disk{}
	var known []string
	for _, d := range disks {
		byName[d.Name] = d
		known = append(known, d.Name)
	}
	var out []WipeTarget
	if len(names) == 0 {
		for _, d := range disks {
			out = append(out, WipeTarget{Name: d.Name, Path: d.Path})
		}
		return out, nil
	}
	for _, n := range names {
		d, ok := byName[strings.TrimPrefix(n, "/dev/")]
		if !ok {
			return nil, fmt.Errorf("%w: %q is not an internal disk of this device (internal disks: %s)", ErrBadArgs, n, strings.Join(known, ", "))
		}
		out = append(out, WipeTarget{Name: d.Name, Path: d.Path})
	}
	return out, nil
}

// Wipe erases one disk with wipe.Wipe.
func (w DiskWiper) Wipe(ctx context.Context, t WipeTarget, spec WipeSpec) (certificate.Medium, error) {
	return wipe.Wipe(ctx, t.Path, wipe.Options{
		Method: spec.Method, Verify: spec.Verify, Root: w.Root, Exec: w.Exec,
		Progress: spec.Progress, Job: spec.Job,
	})
}
