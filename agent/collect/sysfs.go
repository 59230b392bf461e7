package collect

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// readString returns the trimmed content of a small file, or "" when it
// cannot be read (root-only DMI files, attributes a driver lacks).
func readString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(bytes.TrimRight(b, "\x00")))
}

// readInt returns the integer in a small file and whether there was one.
func readInt(path string) (int64, bool) {
	s := readString(path)
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// readUint returns the unsigned integer in a small file, 0 when absent.
func readUint(path string) uint64 {
	n, err := strconv.ParseUint(readString(path), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// exists reports whether path exists (a broken symbolic link does not).
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// listDir returns the names in dir, sorted; nil if it cannot be read.
func listDir(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// readKeyValues parses a KEY=value file (uevent, os-release); quotes around
// values are removed.
func readKeyValues(path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `"'`)
		}
		m[k] = v
	}
	return m
}

// linkBase returns the last element of a symbolic link's target ("e1000e"
// for device/driver), or "".
func linkBase(path string) string {
	t, err := os.Readlink(path)
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// round1 rounds to one decimal.
func round1(f float64) float64 { return math.Round(f*10) / 10 }

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// firstNonEmpty returns the first non-empty string of s.
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
