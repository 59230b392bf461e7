package wipe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// Defaults of Options.
const (
	DefaultBufferSize    = 8 << 20
	DefaultDepth         = 4
	DefaultSamples       = 1000
	DefaultProgressEvery = time.Second
	DefaultPollEvery     = 2 * time.Second
)

// Options say how Wipe erases a target. The zero value wipes with the
// strongest supported method, verifies fully, writes zeros and refuses
// removable and mounted disks.
type Options struct {
	// Method is a wire.Method*; "" or wire.MethodAuto picks the strongest
	// the probe found (Probe.Methods[0]).
	Method string
	// Verify is wire.VerifyFull (default) or wire.VerifySample; it applies
	// to the overwrite and discard methods, the others are checked by the
	// device's own status.
	Verify string
	// Pattern is PatternZeros (default) or PatternRandom.
	Pattern string
	// AllowRemovable lets Wipe erase a removable or USB disk.
	AllowRemovable bool
	// Maintenance is set when the agent runs from a live image: a disk with
	// mounted filesystems may then be wiped, never the one holding /.
	Maintenance bool
	// Root is where /proc and /sys are read: "/" by default, a fixture
	// tree in tests.
	Root string
	// Exec runs a command and returns its combined output; by default
	// os/exec through $PATH. An error with an ExitCode method gives the
	// recorded exit status.
	Exec func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Progress, when set, receives progress about every ProgressEvery
	// while a phase runs, and once at its end (DoneBytes == TotalBytes when
	// it completed). It is called from one goroutine at a time and must
	// not block for long.
	Progress      func(wire.WipeProgress)
	ProgressEvery time.Duration
	// Rand gives the pattern key and the sampling seed; crypto/rand by
	// default.
	Rand io.Reader
	// Now gives the times of the record; time.Now by default.
	Now func() time.Time
	// Job is copied into progress reports.
	Job string
	// BufferSize is the size of each I/O of an overwrite, a multiple of
	// 4096 (default 8 MiB); Depth is how many are in flight (default 4).
	BufferSize int
	Depth      int
	// Samples is the number of random sub-ranges of a sampling
	// verification, at least 1000 (the default).
	Samples int
	// PollEvery is how often a running sanitize is polled (default 2 s).
	PollEvery time.Duration
}

func (o *Options) defaults() {
	if o.Method == "" {
		o.Method = wire.MethodAuto
	}
	if o.Verify == "" {
		o.Verify = wire.VerifyFull
	}
	if o.Pattern == "" {
		o.Pattern = PatternZeros
	}
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Exec == nil {
		o.Exec = runCommand
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.Depth == 0 {
		o.Depth = DefaultDepth
	}
	if o.Samples == 0 {
		o.Samples = DefaultSamples
	}
	if o.PollEvery == 0 {
		o.PollEvery = DefaultPollEvery
	}
}

// methods lists every method Wipe knows, strongest first.
var methods = []string{
	wire.MethodNVMeSanitizeCrypto, wire.MethodNVMeSanitizeBlock, wire.MethodNVMeFormat,
	wire.MethodATASanitize, wire.MethodATAErase, wire.MethodLUKS,
	wire.MethodOverwrite, wire.MethodDiscard,
}

// Validate reports the first invalid field of o (after defaults).
func (o Options) Validate() error {
	switch {
	case o.Method != "" && o.Method != wire.MethodAuto && !slices.Contains(methods, o.Method):
		return fmt.Errorf("%w: method %q, want auto or one of %s", ErrOptions, o.Method, strings.Join(methods, ", "))
	case o.Verify != "" && o.Verify != wire.VerifyFull && o.Verify != wire.VerifySample:
		return fmt.Errorf("%w: verify %q, want %s or %s", ErrOptions, o.Verify, wire.VerifyFull, wire.VerifySample)
	case o.Pattern != "" && o.Pattern != PatternZeros && o.Pattern != PatternRandom:
		return fmt.Errorf("%w: pattern %q, want %s or %s", ErrOptions, o.Pattern, PatternZeros, PatternRandom)
	case o.BufferSize < 0 || o.BufferSize%4096 != 0:
		return fmt.Errorf("%w: buffer size %d is not a positive multiple of 4096", ErrOptions, o.BufferSize)
	case o.Depth < 0 || o.Depth > 64:
		return fmt.Errorf("%w: depth %d, want 1 to 64", ErrOptions, o.Depth)
	case o.Samples != 0 && o.Samples < DefaultSamples:
		return fmt.Errorf("%w: %d samples, NIST SP 800-88 sampling wants at least %d", ErrOptions, o.Samples, DefaultSamples)
	case o.ProgressEvery < 0 || o.PollEvery < 0:
		return fmt.Errorf("%w: negative interval", ErrOptions)
	}
	return nil
}

// Category returns the NIST SP 800-88 category of a method that succeeded
// on a disk whose probe is p.
func Category(method string, p Probe) string {
	switch method {
	case wire.MethodOverwrite:
		return certificate.CategoryClear
	case wire.MethodNVMeSanitizeCrypto, wire.MethodNVMeSanitizeBlock, wire.MethodNVMeFormat,
		wire.MethodATAErase, wire.MethodATASanitize:
		return certificate.CategoryPurge
	case wire.MethodLUKS:
		if p.LUKS {
			return certificate.CategoryPurge
		}
	}
	return certificate.CategoryNone
}

// Choose returns the method Wipe would run on a disk for the method asked
// (auto picks the strongest usable one). It fails with ErrUnsupported, or
// ErrFrozen for an ATA security erase on a frozen drive.
func Choose(p Probe, method string) (string, error) {
	if method == "" || method == wire.MethodAuto {
		for _, m := range p.Methods {
			if m == wire.MethodATAErase && p.Frozen {
				continue // the next method is usable now; the frozen state is in the record
			}
			return m, nil
		}
		return "", fmt.Errorf("%w: no method for %s", ErrUnsupported, p.Disk.Name)
	}
	if !slices.Contains(p.Methods, method) {
		return "", fmt.Errorf("%w: %s on %s (supported: %s)", ErrUnsupported, method, p.Disk.Name, strings.Join(p.Methods, ", "))
	}
	if method == wire.MethodATAErase && p.Frozen {
		return "", fmt.Errorf("%w: %s: %s", ErrFrozen, p.Disk.Name, frozenHelp)
	}
	return method, nil
}

// frozenHelp is the way out of a frozen ATA drive, for the record.
const frozenHelp = "the firmware froze the drive's security at boot; suspend the machine and wake it up (systemctl suspend, or echo mem > /sys/power/state), or unplug and replug the drive's SATA power while it runs, then check hdparm -I says \"not frozen\" and retry"

// Wipe erases the disk or file at path as o says and verifies it. It
// always returns the medium record, with Result failed and Error when it
// refused the target, the erasure or the verification failed, or ctx was
// cancelled; the error then wraps ErrUnsafe, ErrUnsupported, ErrFrozen,
// ErrErase, ErrVerify or ErrOptions.
func Wipe(ctx context.Context, path string, o Options) (certificate.Medium, error) {
	o.defaults()
	m := certificate.Medium{Name: path, Type: TypeFile, Method: o.Method, Started: o.Now().UTC()}
	rec := &recorder{exec: o.Exec}
	fail := func(err error) (certificate.Medium, error) {
		m.Commands = rec.commands
		m.Finished = o.Now().UTC()
		m.Result = certificate.ResultFailed
		m.Category = certificate.CategoryNone
		m.Error = err.Error()
		if m.Verification.Method == "" {
			m.Verification.Method = VerifyNone
		}
		if m.Verification.Result == "" {
			m.Verification.Result = VerifyNotDone
		}
		return m, err
	}
	if err := o.Validate(); err != nil {
		return fail(err)
	}
	if o.Progress != nil {
		o.Progress(wire.WipeProgress{Job: o.Job, Disk: diskName(path), Phase: wire.PhaseProbing})
	}
	p, err := probe(ctx, path, &o, rec)
	m.Name, m.Type, m.Model, m.Serial, m.Firmware = p.Disk.Name, p.Disk.Type, p.Disk.Model, p.Disk.Serial, p.Disk.Firmware
	m.CapacityBytes, m.HPA, m.DCO = p.Disk.Size, p.HPA, p.DCO
	if err != nil {
		return fail(err)
	}
	if err := CheckSafe(p, o.AllowRemovable, o.Maintenance); err != nil {
		return fail(err)
	}
	method, err := Choose(p, o.Method)
	if err != nil {
		return fail(err)
	}
	m.Method = method
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("%w: cancelled before it started: %v", ErrErase, context.Cause(ctx)))
	}
	switch method {
	case wire.MethodOverwrite, wire.MethodDiscard:
		err = eraseBlocks(ctx, p, &o, rec, &m)
	case wire.MethodLUKS:
		err = luksErase(ctx, p, &o, rec, &m)
	case wire.MethodNVMeSanitizeCrypto, wire.MethodNVMeSanitizeBlock, wire.MethodNVMeFormat:
		err = nvmeErase(ctx, p, method, &o, rec, &m)
	case wire.MethodATAErase, wire.MethodATASanitize:
		err = ataErase(ctx, p, method, &o, rec, &m)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ErrErase) && !errors.Is(err, ErrVerify) {
			err = fmt.Errorf("%w: cancelled: %v", ErrErase, err)
		}
		return fail(err)
	}
	m.Verification.Detail += notes(p, method)
	m.Commands = rec.commands
	m.Finished = o.Now().UTC()
	m.Result = certificate.ResultSucceeded
	m.Category = Category(method, p)
	return m, nil
}

// eraseBlocks runs the methods that write or discard through the block
// layer: overwrite and discard.
func eraseBlocks(ctx context.Context, p Probe, o *Options, rec *recorder, m *certificate.Medium) error {
	if m.Method == wire.MethodDiscard {
		// blkdiscard opens the disk exclusively: run it before we do.
		if err := discard(ctx, p, rec); err != nil {
			return err
		}
	}
	block := p.Disk.Type != TypeFile
	t, err := openTarget(p.Disk.Path, block, o.Maintenance)
	if err != nil {
		return err
	}
	defer t.close()
	m.CapacityBytes = t.size
	if m.Method == wire.MethodDiscard {
		return verifyPattern(ctx, t, p.Disk, o, m, keystream{}, "discarded blocks must read as zeros; ")
	}
	return overwrite(ctx, t, p.Disk, o, m)
}

// notes says, for the record, what the chosen method left aside.
func notes(p Probe, method string) string {
	var n []string
	if p.Frozen && method != wire.MethodATAErase && slices.Contains(p.Methods, wire.MethodATAErase) {
		n = append(n, "ATA security erase not used: the drive is frozen ("+frozenHelp+")")
	}
	if method == wire.MethodOverwrite || method == wire.MethodDiscard {
		if p.HPA == StatePresent {
			n = append(n, "a host protected area (HPA) hides sectors from this "+method)
		}
		if p.DCO == StatePresent {
			n = append(n, "a device configuration overlay (DCO) hides sectors from this "+method)
		}
	}
	if len(n) == 0 {
		return ""
	}
	return "; " + strings.Join(n, "; ")
}

// diskName is the name progress reports give path before the probe: the
// kernel name of a block device, the path of anything else.
func diskName(path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return path
	}
	if fi, err := os.Stat(real); err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 {
		return filepath.Base(real)
	}
	return path
}

// fullRead fills b from r.
func fullRead(r io.Reader, b []byte) (int, error) { return io.ReadFull(r, b) }
