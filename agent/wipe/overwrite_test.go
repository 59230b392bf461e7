package wipe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

func TestWipeFile(t *testing.T) {
	tests := []struct {
		name    string
		size    int64
		verify  string
		pattern string
		buffer  int
	}{
		{"zeros full", 8<<20 + 12345, wire.VerifyFull, PatternZeros, 0},
		{"random full", 8<<20 + 12345, wire.VerifyFull, PatternRandom, 0},
		{"zeros sample", 16 << 20, wire.VerifySample, PatternZeros, 0},
		{"random sample small buffers", 16<<20 + 1, wire.VerifySample, PatternRandom, 64 << 10},
		{"tiny file", 100, wire.VerifySample, PatternZeros, 0},
		{"empty file", 0, wire.VerifyFull, PatternZeros, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := randomFile(t, tt.size)
			var last map[string]wire.WipeProgress = map[string]wire.WipeProgress{}
			m, err := Wipe(context.Background(), path, Options{
				Verify: tt.verify, Pattern: tt.pattern, BufferSize: tt.buffer, Now: fixedNow, Job: "job-1",
				Progress: func(p wire.WipeProgress) { last[p.Phase] = p },
			})
			if err != nil {
				t.Fatalf("Wipe: %v (record %+v)", err, m)
			}
			if m.Result != certificate.ResultSucceeded || m.Verification.Result != VerifyPassed || m.Category != certificate.CategoryClear {
				t.Fatalf("record: result %s, verification %+v, category %s", m.Result, m.Verification, m.Category)
			}
			if m.Method != wire.MethodOverwrite || m.Pattern != tt.pattern || m.CapacityBytes != tt.size || m.Type != TypeFile {
				t.Errorf("record: method %s pattern %s capacity %d type %s", m.Method, m.Pattern, m.CapacityBytes, m.Type)
			}
			checkPattern(t, readDevice(t, path), tt.pattern, m.Verification.Detail)
			for _, phase := range []string{wire.PhaseErasing, wire.PhaseVerifying} {
				p := last[phase]
				if p.DoneBytes != p.TotalBytes || p.Job != "job-1" || p.Disk != path {
					t.Errorf("last %s progress %+v, want done = total", phase, p)
				}
			}
			if got := last[wire.PhaseErasing].TotalBytes; got != tt.size {
				t.Errorf("erasing total %d, want %d", got, tt.size)
			}
			if tt.verify == wire.VerifyFull && m.Verification.BytesChecked != tt.size {
				t.Errorf("full verification checked %d bytes, want %d", m.Verification.BytesChecked, tt.size)
			}
			if tt.verify == wire.VerifySample {
				checkSampling(t, m, tt.size)
			}
		})
	}
}

// checkSampling checks a sampling verification's record: the seed, at
// least 1,000 random sub-ranges plus the first and last blocks.
func checkSampling(t *testing.T, m certificate.Medium, size int64) {
	t.Helper()
	v := m.Verification
	seed, err := hex.DecodeString(v.Seed)
	if err != nil || len(seed) != 32 {
		t.Fatalf("seed %q is not 32 hex bytes", v.Seed)
	}
	if v.Samples < DefaultSamples+2 {
		t.Errorf("%d samples, want at least %d", v.Samples, DefaultSamples+2)
	}
	ranges := SampleRanges([32]byte(seed), size, DefaultSamples, sampleLen)
	if len(ranges) != v.Samples {
		t.Errorf("the seed gives %d ranges, the record says %d", len(ranges), v.Samples)
	}
	var total int64
	for _, r := range ranges {
		total += r.Len
	}
	if total != v.BytesChecked {
		t.Errorf("the seed's ranges cover %d bytes, the record checked %d", total, v.BytesChecked)
	}
}

func TestSampleRanges(t *testing.T) {
	seed := [32]byte{7}
	for _, size := range []int64{1, 100, 4096, 1 << 20, 64<<20 + 512, 2 << 30, 1 << 40} {
		rs := SampleRanges(seed, size, 1000, sampleLen)
		if len(rs) != 1002 {
			t.Fatalf("size %d: %d ranges, want 1002", size, len(rs))
		}
		first, last := rs[0], rs[1]
		if first.Off != 0 || last.Off+last.Len != size || first.Len == 0 {
			t.Errorf("size %d: first %+v last %+v, want the first and last blocks", size, first, last)
		}
		for i, r := range rs[2:] {
			if r.Off < 0 || r.Len <= 0 || r.Off+r.Len > size {
				t.Fatalf("size %d: range %d %+v outside the medium", size, i, r)
			}
			if size >= 1000*(sampleLen+8192) {
				lo, hi := int64(i)*size/1000, int64(i+1)*size/1000
				if r.Off < lo || r.Off+r.Len > hi || r.Off%4096 != 0 || r.Len != sampleLen {
					t.Fatalf("size %d: range %d %+v not an aligned %d-byte range of section [%d,%d)", size, i, r, sampleLen, lo, hi)
				}
			}
		}
		if diff := cmp.Diff(rs, SampleRanges(seed, size, 1000, sampleLen)); diff != "" {
			t.Errorf("size %d: same seed, other ranges (-first +second):\n%s", size, diff)
		}
	}
	a := SampleRanges([32]byte{1}, 2<<30, 1000, sampleLen)
	b := SampleRanges([32]byte{2}, 2<<30, 1000, sampleLen)
	if cmp.Equal(a, b) {
		t.Error("two seeds give the same ranges")
	}
}

func TestVerifyDetectsCorruption(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		offset  func(size int64) int64
	}{
		{"zeros middle", PatternZeros, func(s int64) int64 { return s / 2 }},
		{"zeros last byte", PatternZeros, func(s int64) int64 { return s - 1 }},
		{"random first byte", PatternRandom, func(int64) int64 { return 0 }},
		{"random in the tail", PatternRandom, func(s int64) int64 { return s - 3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const size = 4<<20 + 333
			path := randomFile(t, size)
			o := Options{Pattern: tt.pattern}
			o.defaults()
			p, err := ProbeDisk(context.Background(), path, o)
			if err != nil {
				t.Fatal(err)
			}
			tg, err := openTarget(path, false, false)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.close()
			var m certificate.Medium
			if err := overwrite(context.Background(), tg, p.Disk, &o, &m); err != nil {
				t.Fatalf("overwrite: %v", err)
			}
			ks := keystream{}
			if tt.pattern == PatternRandom {
				data := readDevice(t, path)
				checkPattern(t, data, tt.pattern, m.Verification.Detail)
			}
			// Corrupt one byte behind the wipe's back, then verify again.
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			off := tt.offset(size)
			one := []byte{0}
			f.ReadAt(one, off)
			one[0] ^= 0x40
			if _, err := f.WriteAt(one, off); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if tt.pattern == PatternRandom {
				ks = keyFromDetail(t, m.Verification.Detail)
			}
			var m2 certificate.Medium
			err = verifyPattern(context.Background(), tg, p.Disk, &o, &m2, ks, "")
			if !errors.Is(err, ErrVerify) {
				t.Fatalf("verify after corruption: %v, want ErrVerify", err)
			}
			if m2.Verification.Result != VerifyFailed {
				t.Errorf("verification %+v, want failed", m2.Verification)
			}
		})
	}
}

func keyFromDetail(t *testing.T, detail string) keystream {
	t.Helper()
	m := regexp.MustCompile(`key ([0-9a-f]{32})`).FindStringSubmatch(detail)
	if m == nil {
		t.Fatalf("no pattern key in detail %q", detail)
	}
	key, _ := hex.DecodeString(m[1])
	ks, err := newKeystream(key)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestWipeCancelled(t *testing.T) {
	t.Run("before it starts", func(t *testing.T) {
		path := randomFile(t, 1<<20)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m, err := Wipe(ctx, path, Options{Now: fixedNow})
		if !errors.Is(err, ErrErase) || m.Result != certificate.ResultFailed || m.Error == "" {
			t.Fatalf("err %v, record %+v: want a failed record", err, m)
		}
	})
	t.Run("during the erasure", func(t *testing.T) {
		path := randomFile(t, 4<<20)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// The pattern key is read once the erasure has started: cancel then.
		r := readerFunc(func(b []byte) (int, error) { cancel(); return rand.Read(b) })
		m, err := Wipe(ctx, path, Options{Pattern: PatternRandom, Rand: r, Now: fixedNow})
		if !errors.Is(err, ErrErase) || m.Result != certificate.ResultFailed || m.Category != certificate.CategoryNone {
			t.Fatalf("err %v, record %+v: want a failed record", err, m)
		}
		if m.Verification.Result == VerifyPassed {
			t.Errorf("verification %+v after a cancelled erasure", m.Verification)
		}
	})
	t.Run("before the verification", func(t *testing.T) {
		path := randomFile(t, 4<<20)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		m, err := Wipe(ctx, path, Options{Now: fixedNow, Progress: func(p wire.WipeProgress) {
			if p.Phase == wire.PhaseErasing && p.DoneBytes == p.TotalBytes {
				cancel()
			}
		}})
		if err == nil || m.Result != certificate.ResultFailed || m.Verification.Result == VerifyPassed {
			t.Fatalf("err %v, record %+v: want a failed record", err, m)
		}
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"sample random", Options{Verify: wire.VerifySample, Pattern: PatternRandom, Method: wire.MethodOverwrite}, true},
		{"unknown method", Options{Method: "shred"}, false},
		{"unknown verify", Options{Verify: "quick"}, false},
		{"unknown pattern", Options{Pattern: "ones"}, false},
		{"unaligned buffer", Options{BufferSize: 1000}, false},
		{"too few samples", Options{Samples: 10}, false},
		{"depth", Options{Depth: 1000}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrOptions)) {
				t.Fatalf("Validate: %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				m, err := Wipe(context.Background(), randomFile(t, 10), tt.o)
				if !errors.Is(err, ErrOptions) || m.Result != certificate.ResultFailed {
					t.Errorf("Wipe with bad options: %v, %+v", err, m)
				}
			}
		})
	}
}
