package wipe

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// randomFile writes size pseudo-random bytes to a new file in a test dir.
func randomFile(t *testing.T, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fixedNow is the clock of the tests.
func fixedNow() time.Time { return time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) }

// checkPattern fails unless every byte of data is the pattern the record
// describes (zeros, or the AES-CTR stream whose key is in the detail).
func checkPattern(t *testing.T, data []byte, pattern, detail string) {
	t.Helper()
	want := make([]byte, len(data))
	if pattern == PatternRandom {
		m := regexp.MustCompile(`key ([0-9a-f]{32})`).FindStringSubmatch(detail)
		if m == nil {
			t.Fatalf("no pattern key in detail %q", detail)
		}
		key, _ := hex.DecodeString(m[1])
		ks, err := newKeystream(key)
		if err != nil {
			t.Fatal(err)
		}
		ks.fill(want, 0)
	}
	if i := firstDiff(data, want); i >= 0 {
		t.Fatalf("byte %d of %d is 0x%02x, want 0x%02x (pattern %s)", i, len(data), data[i], want[i], pattern)
	}
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

// needLoop skips the test unless it may create loop devices.
func needLoop(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loop device tests need root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("loop device tests need /dev/loop-control")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("loop device tests need losetup")
	}
}

// loopDevice attaches a new loop device to a file of size bytes (random
// content) in a test dir, detached at the end of the test.
func loopDevice(t *testing.T, size int64) (dev, backing string) {
	t.Helper()
	needLoop(t)
	backing = randomFile(t, size)
	out, err := exec.Command("losetup", "-f", "--show", backing).CombinedOutput()
	if err != nil {
		t.Skipf("losetup: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev, backing
}

// readDevice reads a whole device or file.
func readDevice(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeExec answers commands from a script of recorded outputs, in order,
// and fails the test on an unexpected command.
type fakeExec struct {
	t     *testing.T
	steps []step
	calls []string
}

type step struct {
	cmd  string // command line, as commandLine renders it
	out  string
	code int // exit status; 0 for success
}

type exitErr int

func (e exitErr) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitErr) ExitCode() int { return int(e) }

func (f *fakeExec) exec(_ context.Context, name string, args ...string) ([]byte, error) {
	line := commandLine(name, args)
	f.calls = append(f.calls, line)
	if len(f.steps) == 0 {
		f.t.Errorf("unexpected command %q", line)
		return nil, exitErr(127)
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	if s.cmd != line {
		f.t.Errorf("command %q, want %q", line, s.cmd)
	}
	if s.code != 0 {
		return []byte(s.out), exitErr(s.code)
	}
	return []byte(s.out), nil
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
