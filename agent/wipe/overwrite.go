package wipe

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// Patterns of an overwrite.
const (
	PatternZeros  = "zeros"
	PatternRandom = "random" // AES-128-CTR keystream, key in the record
)

// Verification results, as certificate.Verification.Result says them.
const (
	VerifyPassed  = "passed"
	VerifyFailed  = "failed"
	VerifyNotDone = "not_done"
)

// Verification methods of the erasures that the device itself checks, and
// of none at all.
const (
	VerifyDeviceStatus = "device-status"
	VerifyNone         = "none"
)

// Range is a byte range of a medium.
type Range struct {
	Off, Len int64
}

// SampleRanges returns the ranges a sampling verification reads on a
// medium of size bytes: the first and the last sampleLen bytes, then one
// range of sampleLen bytes at a pseudo-random offset (aligned to 4 KiB)
// inside each of samples equal sections of the medium, so that every
// 1/samples of it is checked. The offsets come from ChaCha8 seeded with
// seed (math/rand/v2): an auditor given the seed recomputes them.
func SampleRanges(seed [32]byte, size int64, samples int, sampleLen int64) []Range {
	if size <= 0 || samples <= 0 || sampleLen <= 0 {
		return nil
	}
	sampleLen = min(sampleLen, size)
	out := make([]Range, 0, samples+2)
	out = append(out, Range{0, sampleLen}, Range{size - sampleLen, sampleLen})
	rng := rand.New(rand.NewChaCha8(seed))
	const align = 4096
	for i := range int64(samples) {
		start := (i*size/int64(samples) + align - 1) / align * align
		end := (i + 1) * size / int64(samples)
		n := min(sampleLen, end-start)
		if n <= 0 { // sections smaller than the alignment: a tiny medium
			start = i * size / int64(samples) / align * align
			out = append(out, Range{start, min(sampleLen, size-start)})
			continue
		}
		slots := (end - start - n) / align
		off := start + rng.Int64N(slots+1)*align
		out = append(out, Range{off, n})
	}
	return out
}

// keystream is the overwrite pattern: zeros, or an AES-CTR stream that can
// be produced from any 16-byte aligned offset.
type keystream struct {
	block cipher.Block // nil for zeros
}

// newKeystream returns the AES-128-CTR stream of a 16-byte key.
func newKeystream(key []byte) (keystream, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return keystream{}, err
	}
	return keystream{b}, nil
}

// fill writes the pattern of [off, off+len(p)) into p. The stream is
// AES-CTR with the 128-bit big-endian counter starting at 0 for offset 0.
func (k keystream) fill(p []byte, off int64) {
	clear(p)
	if k.block == nil {
		return
	}
	var iv, skip [16]byte
	binary.BigEndian.PutUint64(iv[8:], uint64(off/16))
	s := cipher.NewCTR(k.block, iv[:])
	s.XORKeyStream(skip[:off%16], skip[:off%16])
	s.XORKeyStream(p, p)
}

// overwrite runs the overwrite method on an open target: write pass,
// flush, verification pass. It fills m's pattern and verification.
func overwrite(ctx context.Context, t *target, d Disk, o *Options, m *certificate.Medium) error {
	ks := keystream{}
	m.Pattern = o.Pattern
	detail := ""
	if o.Pattern == PatternRandom {
		key := make([]byte, 16)
		if _, err := fullRead(o.Rand, key); err != nil {
			return fmt.Errorf("%w: pattern key: %v", ErrErase, err)
		}
		ks, _ = newKeystream(key)
		detail = "pattern AES-128-CTR, key " + hex.EncodeToString(key) + ", counter = offset/16; "
	}
	io := newPasser(t, d, o)
	err := io.pass(ctx, wire.PhaseErasing, fullRanges(t.size, int64(io.chunk)), t.size, func(w *worker, r Range) error {
		buf := w.buf[:r.Len]
		if ks.block != nil { // a fresh buffer already holds zeros
			ks.fill(buf, r.Off)
		}
		return t.writeAt(buf, r.Off)
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrErase, err)
	}
	if err := t.flush(); err != nil {
		return fmt.Errorf("%w: %v", ErrErase, err)
	}
	return verifyPattern(ctx, t, d, o, m, ks, detail)
}

// verifyPattern reads the target back, fully or by sampling, and checks
// every byte read equals the pattern.
func verifyPattern(ctx context.Context, t *target, d Disk, o *Options, m *certificate.Medium, ks keystream, detail string) error {
	v := &m.Verification
	v.Method = o.Verify
	v.Result = VerifyNotDone
	io := newPasser(t, d, o)
	ranges := fullRanges(t.size, int64(io.chunk))
	total := t.size
	if o.Verify == wire.VerifySample {
		var seed [32]byte
		if _, err := fullRead(o.Rand, seed[:]); err != nil {
			return fmt.Errorf("%w: sample seed: %v", ErrVerify, err)
		}
		list := SampleRanges(seed, t.size, o.Samples, sampleLen)
		ranges = listRanges(list)
		total = 0
		for _, r := range list {
			total += r.Len
		}
		v.Samples = len(list)
		v.Seed = hex.EncodeToString(seed[:])
		detail += fmt.Sprintf("first and last %d bytes and %d sub-ranges of up to %d bytes, one in each 1/%d of the medium, offsets from ChaCha8(seed)", sampleLen, o.Samples, sampleLen, o.Samples)
	} else {
		detail += "every byte read back"
	}
	var bad atomic.Pointer[string]
	err := io.pass(ctx, wire.PhaseVerifying, ranges, total, func(w *worker, r Range) error {
		buf := w.buf[:r.Len]
		if err := t.readAt(buf, r.Off); err != nil {
			return err
		}
		if ks.block == nil {
			if bytes.Equal(buf, w.zero[:r.Len]) {
				return nil
			}
		} else {
			want := w.want[:r.Len]
			ks.fill(want, r.Off)
			if bytes.Equal(buf, want) {
				return nil
			}
		}
		want := w.zero[:r.Len]
		if ks.block != nil {
			want = w.want[:r.Len]
		}
		i := 0
		for i < len(buf) && buf[i] == want[i] {
			i++
		}
		msg := fmt.Sprintf("byte at offset %d reads 0x%02x, the pattern says 0x%02x", r.Off+int64(i), buf[i], want[i])
		bad.CompareAndSwap(nil, &msg)
		return fmt.Errorf("%w: %s", ErrVerify, msg)
	})
	v.BytesChecked = io.done.Load()
	if p := bad.Load(); p != nil {
		v.Result = VerifyFailed
		v.Detail = detail + "; " + *p
		return fmt.Errorf("%w: %s", ErrVerify, *p)
	}
	if err != nil {
		v.Detail = detail
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	v.Result = VerifyPassed
	v.Detail = detail
	return nil
}

// sampleLen is the length of each sub-range of a sampling verification.
const sampleLen = 64 << 10

// ranges hands out the ranges of a pass to the workers, in order.
type ranges func(i int64) (Range, bool)

// fullRanges covers [0, size) in chunk-sized ranges.
func fullRanges(size, chunk int64) ranges {
	return func(i int64) (Range, bool) {
		off := i * chunk
		if off >= size {
			return Range{}, false
		}
		return Range{off, min(chunk, size-off)}, true
	}
}

func listRanges(list []Range) ranges {
	return func(i int64) (Range, bool) {
		if i >= int64(len(list)) {
			return Range{}, false
		}
		return list[i], true
	}
}

// worker is one I/O goroutine of a pass, with its own aligned buffers.
type worker struct {
	buf  []byte
	want []byte // expected pattern, random verification only
	zero []byte // never written
}

// passer runs passes over a target with Options.Depth I/Os in flight and
// reports progress.
type passer struct {
	t     *target
	d     Disk
	o     *Options
	chunk int // bytes per I/O of a full pass
	done  atomic.Int64
}

func newPasser(t *target, d Disk, o *Options) *passer {
	return &passer{t: t, d: d, o: o, chunk: chunkSize(t.size, o.BufferSize)}
}

// chunkSize is the I/O size of a full pass: BufferSize, or less on a small
// medium (a sixteenth of it, at least 64 KiB) so that a simulated disk of
// a few MiB does not cost Depth × BufferSize of memory.
func chunkSize(size int64, buffer int) int {
	c := min(int64(buffer), max(64<<10, (size/16+4095)/4096*4096))
	return int(c)
}

// pass runs fn over every range, Depth at a time, until done, an error or
// ctx is cancelled, reporting progress about every ProgressEvery.
func (p *passer) pass(ctx context.Context, phase string, next ranges, total int64, fn func(w *worker, r Range) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		idx     atomic.Int64
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { first = err; cancel() })
	}
	start := p.o.Now()
	size := p.chunk
	if phase == wire.PhaseVerifying {
		size = max(size, sampleLen)
	}
	zero := make([]byte, size)
	for range p.o.Depth {
		w := &worker{buf: alignedBuf(size), zero: zero}
		if p.o.Pattern == PatternRandom && phase == wire.PhaseVerifying {
			w.want = make([]byte, size)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				r, ok := next(idx.Add(1) - 1)
				if !ok {
					return
				}
				if err := fn(w, r); err != nil {
					fail(err)
					return
				}
				p.done.Add(r.Len)
			}
		}()
	}
	stop := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		p.report(phase, total, start, stop)
	}()
	wg.Wait()
	close(stop)
	<-reported
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cancelled after %d of %d bytes: %w", p.done.Load(), total, context.Cause(ctx))
	}
	return nil
}

// report calls Options.Progress every ProgressEvery until stop closes, and
// once more at the end.
func (p *passer) report(phase string, total int64, start time.Time, stop <-chan struct{}) {
	if p.o.Progress == nil {
		<-stop
		return
	}
	lastAt, lastDone := start, int64(0)
	send := func(final bool) {
		now := p.o.Now()
		done := p.done.Load()
		rate := 0.0
		if el := now.Sub(lastAt).Seconds(); el > 0 && !final {
			rate = float64(done-lastDone) / el
		} else if el := now.Sub(start).Seconds(); el > 0 {
			rate = float64(done) / el
		}
		lastAt, lastDone = now, done
		p.o.Progress(wire.WipeProgress{Job: p.o.Job, Disk: p.d.Name, Phase: phase, DoneBytes: done, TotalBytes: total, RateBps: rate})
	}
	tick := time.NewTicker(p.o.ProgressEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			send(true)
			return
		case <-tick.C:
			send(false)
		}
	}
}
