package wipe

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/valise-numerique/valise/internal/certificate"
)

// luksErase destroys every key slot of a LUKS disk (cryptsetup erase) and
// checks with luksDump that none is left: without a key slot the volume
// key is gone, and the data with it.
func luksErase(ctx context.Context, p Probe, o *Options, rec *recorder, m *certificate.Medium) error {
	dev := p.Disk.Path
	m.Verification = certificate.Verification{Method: VerifyDeviceStatus, Result: VerifyNotDone}
	if _, err := rec.run(ctx, "cryptsetup", "isLuks", dev); err != nil {
		return fmt.Errorf("%w: cryptsetup isLuks %s: %v", ErrUnsupported, dev, err)
	}
	if out, err := rec.run(ctx, "cryptsetup", "erase", "--batch-mode", dev); err != nil {
		return fmt.Errorf("%w: cryptsetup erase %s: %v: %s", ErrErase, dev, err, firstLine(out))
	}
	out, err := rec.run(ctx, "cryptsetup", "luksDump", dev)
	if err != nil {
		m.Verification.Result = VerifyFailed
		return fmt.Errorf("%w: cryptsetup luksDump %s: %v", ErrVerify, dev, err)
	}
	n := LUKSKeySlots(out)
	m.Verification.Detail = fmt.Sprintf("luksDump after erase: %d key slots", n)
	if n != 0 {
		m.Verification.Result = VerifyFailed
		return fmt.Errorf("%w: %s still has %d LUKS key slots", ErrVerify, dev, n)
	}
	m.Verification.Result = VerifyPassed
	return nil
}

var (
	luks1Slot = regexp.MustCompile(`(?m)^Key Slot \d+: ENABLED`)
	luks2Slot = regexp.MustCompile(`^\s+\d+: luks2`)
)

// LUKSKeySlots counts the key slots in use in a cryptsetup luksDump
// output, LUKS1 ("Key Slot 0: ENABLED") or LUKS2 (entries under
// "Keyslots:").
func LUKSKeySlots(dump string) int {
	n := len(luks1Slot.FindAllString(dump, -1))
	in := false
	for _, line := range strings.Split(dump, "\n") {
		switch {
		case strings.HasPrefix(line, "Keyslots:"):
			in = true
		case line != "" && line[0] != ' ' && line[0] != '\t':
			in = false
		case in && luks2Slot.MatchString(line):
			n++
		}
	}
	return n
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
