package wipe

import (
	"context"
	"fmt"
)

// discard tells the device every block is unused (blkdiscard, --secure
// when the device takes it); the caller then reads zeros back as
// Options.Verify says. A discard alone is never counted as sanitisation
// (category none): the flash may keep the data until it is
// garbage-collected.
func discard(ctx context.Context, p Probe, rec *recorder) error {
	dev := p.Disk.Path
	if _, err := rec.run(ctx, "blkdiscard", "--secure", dev); err != nil {
		if out, err := rec.run(ctx, "blkdiscard", dev); err != nil {
			return fmt.Errorf("%w: blkdiscard %s: %v: %s", ErrErase, dev, err, firstLine(out))
		}
	}
	return nil
}
