package spool

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valise-numerique/valise/internal/wire"
)

func openTest(t *testing.T, path string, opts Options) *Spool {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func payloadOf(size int) func(seq uint64) ([]byte, error) {
	return func(seq uint64) ([]byte, error) {
		p := []byte(fmt.Sprintf("seq=%d;", seq))
		for len(p) < size {
			p = append(p, '.')
		}
		return p, nil
	}
}

func mustAppend(t *testing.T, s *Spool, kind wire.Channel, size int) uint64 {
	t.Helper()
	seq, err := s.Append(kind, payloadOf(size))
	if err != nil {
		t.Fatalf("Append(%s): %v", kind, err)
	}
	return seq
}

func seqsOf(t *testing.T, s *Spool) []uint64 {
	t.Helper()
	msgs, err := s.Next(0, 1<<20)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	var out []uint64
	for _, m := range msgs {
		out = append(out, m.Seq)
	}
	return out
}

func TestAppendNextAck(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "spool.db"), Options{})
	kinds := []wire.Channel{wire.ChanInventory, wire.ChanHealth, wire.ChanNet, wire.ChanEvent, wire.ChanHealth}
	for i, k := range kinds {
		if seq := mustAppend(t, s, k, 10); seq != uint64(i+1) {
			t.Fatalf("Append #%d gave seq %d, want %d", i, seq, i+1)
		}
	}
	tests := []struct {
		name  string
		after uint64
		n     int
		want  []uint64
	}{
		{"from the start", 0, 10, []uint64{1, 2, 3, 4, 5}},
		{"limited", 0, 2, []uint64{1, 2}},
		{"after a cursor", 3, 10, []uint64{4, 5}},
		{"past the end", 5, 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := s.Next(tc.after, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, m := range msgs {
				got = append(got, m.Seq)
				if want := kinds[m.Seq-1]; m.Kind != want {
					t.Errorf("seq %d kind %s, want %s", m.Seq, m.Kind, want)
				}
				if want, _ := payloadOf(10)(m.Seq); string(m.Payload) != string(want) {
					t.Errorf("seq %d payload %q, want %q", m.Seq, m.Payload, want)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("seqs (-want +got):\n%s", diff)
			}
		})
	}

	if err := s.Ack(2, 4, 99); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{1, 3, 5}, seqsOf(t, s)); diff != "" {
		t.Errorf("after Ack (-want +got):\n%s", diff)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Stats{Count: 3, Bytes: 30, LastSeq: 5}, st); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestSeqSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustAppend(t, s, wire.ChanHealth, 5)
	}
	if err := s.Ack(1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(wire.ChanHealth, payloadOf(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}

	s = openTest(t, path, Options{})
	if seq := mustAppend(t, s, wire.ChanEvent, 5); seq != 4 {
		t.Errorf("first seq after reopen = %d, want 4 (never reuse 1..3)", seq)
	}
}

func TestBuildFailureUsesNoSeq(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "spool.db"), Options{})
	mustAppend(t, s, wire.ChanHealth, 5)
	boom := errors.New("boom")
	if _, err := s.Append(wire.ChanHealth, func(uint64) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Append with failing build: %v, want boom", err)
	}
	if seq := mustAppend(t, s, wire.ChanHealth, 5); seq != 2 {
		t.Errorf("seq after failed build = %d, want 2", seq)
	}
}

func TestBoundDropsOldestSamples(t *testing.T) {
	tests := []struct {
		name        string
		max         int64
		kinds       []wire.Channel
		wantSeqs    []uint64
		wantDropped uint64
	}{
		{
			name:     "under the bound nothing is dropped",
			max:      1000,
			kinds:    []wire.Channel{wire.ChanHealth, wire.ChanNet, wire.ChanInventory},
			wantSeqs: []uint64{1, 2, 3},
		},
		{
			name:        "oldest samples go first",
			max:         300,
			kinds:       []wire.Channel{wire.ChanHealth, wire.ChanNet, wire.ChanHealth, wire.ChanNet, wire.ChanHealth},
			wantSeqs:    []uint64{3, 4, 5},
			wantDropped: 2,
		},
		{
			name:        "inventory and events are kept even past the bound",
			max:         300,
			kinds:       []wire.Channel{wire.ChanInventory, wire.ChanHealth, wire.ChanEvent, wire.ChanNet, wire.ChanEvent, wire.ChanInventory},
			wantSeqs:    []uint64{1, 3, 5, 6},
			wantDropped: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, filepath.Join(t.TempDir(), "spool.db"), Options{MaxBytes: tc.max})
			for _, k := range tc.kinds {
				mustAppend(t, s, k, 100)
			}
			if diff := cmp.Diff(tc.wantSeqs, seqsOf(t, s)); diff != "" {
				t.Errorf("kept seqs (-want +got):\n%s", diff)
			}
			st, err := s.Stats()
			if err != nil {
				t.Fatal(err)
			}
			want := Stats{Count: uint64(len(tc.wantSeqs)), Bytes: int64(100 * len(tc.wantSeqs)), Dropped: tc.wantDropped, LastSeq: uint64(len(tc.kinds))}
			if diff := cmp.Diff(want, st); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendDropReport(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "spool.db"), Options{MaxBytes: 250})
	build := func(seq, dropped uint64) ([]byte, error) { return []byte(fmt.Sprintf("dropped=%d", dropped)), nil }

	if seq, n, err := s.AppendDropReport(build); err != nil || seq != 0 || n != 0 {
		t.Fatalf("report with nothing dropped = (%d, %d, %v), want (0, 0, nil)", seq, n, err)
	}
	for range 5 {
		mustAppend(t, s, wire.ChanHealth, 100)
	}
	seq, n, err := s.AppendDropReport(build)
	if err != nil {
		t.Fatal(err)
	}
	// 5 samples of 100 bytes under 250: 3 dropped; the 10-byte report then
	// fits next to the two samples left.
	if seq != 6 || n != 3 {
		t.Errorf("report = (seq %d, dropped %d), want (6, 3)", seq, n)
	}
	msgs, err := s.Next(5, 1)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Next: %v %v", msgs, err)
	}
	if msgs[0].Kind != wire.ChanEvent || string(msgs[0].Payload) != "dropped=3" {
		t.Errorf("report message = %s %q", msgs[0].Kind, msgs[0].Payload)
	}
	if seq, n, err := s.AppendDropReport(build); err != nil || seq != 0 || n != 0 {
		t.Errorf("second report = (%d, %d, %v), want nothing", seq, n, err)
	}
}

func TestUseNonce(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "spool.db")
	s, err := Open(path, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseNonce("n1", now.Add(time.Minute)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := s.UseNonce("n1", now.Add(time.Minute)); !errors.Is(err, ErrNonceReused) {
		t.Fatalf("replay: %v, want ErrNonceReused", err)
	}
	s.Close()

	// Still refused after a restart.
	s = openTest(t, path, Options{Now: func() time.Time { return now }})
	if err := s.UseNonce("n1", now.Add(time.Minute)); !errors.Is(err, ErrNonceReused) {
		t.Fatalf("replay after reopen: %v, want ErrNonceReused", err)
	}
	// Forgotten once expired.
	now = now.Add(2 * time.Minute)
	if err := s.UseNonce("n1", now.Add(time.Minute)); err != nil {
		t.Fatalf("use after expiry: %v", err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	openTest(t, path, Options{})
	// bbolt's flock is per file description, so a second Open in the same
	// process sees the lock as another process would.
	if _, err := Open(path, Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
}

// The kill -9 test re-executes the test binary as a child that appends in a
// loop, printing each committed seq, until the parent SIGKILLs it.
const childEnv = "VALISE_SPOOL_KILL_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(appendForever(path))
	}
	os.Exit(m.Run())
}

func appendForever(path string) int {
	s, err := Open(path, Options{MaxBytes: 1 << 30})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; i < 1_000_000; i++ { // bounded: the parent kills us long before
		kind := wire.ChanHealth
		if i%5 == 0 {
			kind = wire.ChanInventory
		}
		seq, err := s.Append(kind, payloadOf(200))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintln(w, seq)
		w.Flush()
	}
	return 0
}

func TestSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	tests := []struct {
		name  string
		after int // committed appends seen before the kill
	}{
		{"early", 3},
		{"later", 150},
	}
	path := filepath.Join(t.TempDir(), "spool.db")
	var lastSeen uint64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+path)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			seen := 0
			var last uint64
			for seen < tc.after && sc.Scan() {
				seq, err := strconv.ParseUint(sc.Text(), 10, 64)
				if err != nil {
					t.Fatalf("child said %q", sc.Text())
				}
				if seq <= lastSeen {
					t.Fatalf("child reused seq %d (previous run reached %d)", seq, lastSeen)
				}
				last = seq
				seen++
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if seen < tc.after {
				t.Fatalf("child stopped after %d appends: %s", seen, stderr.String())
			}

			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("reopen after kill -9: %v", err)
			}
			defer s.Close()
			msgs, err := s.Next(0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			var bytes int64
			for _, m := range msgs {
				seqs = append(seqs, m.Seq)
				bytes += int64(len(m.Payload))
			}
			if len(seqs) == 0 || seqs[len(seqs)-1] < last {
				t.Fatalf("spool lost committed messages: has up to %v, child committed %d", seqs[len(seqs)-1:], last)
			}
			for i, seq := range seqs {
				if seq != uint64(i+1) {
					t.Fatalf("seqs not contiguous from 1: position %d holds %d", i, seq)
				}
			}
			st, err := s.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.Count != uint64(len(seqs)) || st.Bytes != bytes {
				t.Errorf("Stats %+v disagree with %d messages of %d bytes", st, len(seqs), bytes)
			}
			next := mustAppend(t, s, wire.ChanEvent, 10)
			if next != seqs[len(seqs)-1]+1 {
				t.Errorf("next seq %d, want %d", next, seqs[len(seqs)-1]+1)
			}
			lastSeen = next
		})
	}
}

func BenchmarkAppendAck(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "spool.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	build := payloadOf(1024)
	b.ReportAllocs()
	for b.Loop() {
		seq, err := s.Append(wire.ChanHealth, build)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Ack(seq); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendAckBatch32(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "spool.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	build := payloadOf(1024)
	seqs := make([]uint64, 0, 32)
	b.ReportAllocs()
	for b.Loop() {
		seq, err := s.Append(wire.ChanHealth, build)
		if err != nil {
			b.Fatal(err)
		}
		if seqs = append(seqs, seq); len(seqs) == cap(seqs) {
			if err := s.Ack(seqs...); err != nil {
				b.Fatal(err)
			}
			seqs = seqs[:0]
		}
	}
}
