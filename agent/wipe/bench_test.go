package wipe

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// BenchmarkWipeLoop overwrites with zeros and fully verifies the block
// device named by VALISE_BENCH_DEVICE (scripts/bench.sh gives it a 2 GiB
// loop device it made), or else a 256 MiB file in a temp dir. Its MB/s is
// the device's size over the time of the whole wipe: write, flush and
// read-back. VALISE_BENCH_BUFFER (MiB) and VALISE_BENCH_DEPTH override
// the I/O size and depth.
func BenchmarkWipeLoop(b *testing.B) {
	path := os.Getenv("VALISE_BENCH_DEVICE")
	if path == "" {
		path = filepath.Join(b.TempDir(), "disk.img")
		if err := os.WriteFile(path, make([]byte, 256<<20), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	o := Options{Method: wire.MethodOverwrite, Verify: wire.VerifyFull, AllowRemovable: true}
	if n, err := strconv.Atoi(os.Getenv("VALISE_BENCH_BUFFER")); err == nil {
		o.BufferSize = n << 20
	}
	if n, err := strconv.Atoi(os.Getenv("VALISE_BENCH_DEPTH")); err == nil {
		o.Depth = n
	}
	p, err := ProbeDisk(context.Background(), path, o)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(p.Disk.Size)
	for b.Loop() {
		m, err := Wipe(context.Background(), path, o)
		if err != nil || m.Result != certificate.ResultSucceeded {
			b.Fatalf("Wipe %s: %v", path, err)
		}
	}
}

// BenchmarkKeystream measures the random pattern's generation alone.
func BenchmarkKeystream(b *testing.B) {
	ks, _ := newKeystream(make([]byte, 16))
	buf := alignedBuf(DefaultBufferSize)
	b.SetBytes(int64(len(buf)))
	var off int64
	for b.Loop() {
		ks.fill(buf, off)
		off += int64(len(buf))
	}
}
