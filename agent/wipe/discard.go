package wipe

import (
	"context"
	"fmt"

	"github.com/valise-numerique/valise/internal/certificate"
)

// discard tells the device every block is unused (blkdiscard, --secure
// when the device takes it), then reads zeros back as o.Verify says. A
// discard alone is never counted as sanitisation (category none): the
// flash may keep the data until it is garbage-collected.
func discard(ctx context.Context, t *target, p Probe, o *Options, rec *recorder, m *certificate.Medium) error {
	dev := p.Disk.Path
	if _, err := rec.run(ctx, "blkdiscard", "--secure", dev); err != nil {
		if out, err := rec.run(ctx, "blkdiscard", dev); err != nil {
			return fmt.Errorf("%w: blkdiscard %s: %v: %s", ErrErase, dev, err, firstLine(out))
		}
	}
	if err := t.flush(); err != nil {
		return fmt.Errorf("%w: %v", ErrErase, err)
	}
	return verifyPattern(ctx, t, p.Disk, o, m, keystream{}, "discarded blocks must read as zeros; ")
}
