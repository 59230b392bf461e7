package wipe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// States of a drive's HPA and DCO.
const (
	StateAbsent  = "absent"
	StatePresent = "present"
	StateUnknown = "unknown"
)

// Probe is what a target supports and why it might be unsafe to wipe.
type Probe struct {
	Disk Disk
	// Methods are the supported wire.Method*, strongest first.
	Methods []string
	// HPA and DCO are StateAbsent, StatePresent or StateUnknown.
	HPA, DCO string
	// Frozen is set when the ATA security feature set is frozen.
	Frozen bool
	// LUKS is set when the whole disk is a LUKS volume.
	LUKS bool
	// Mounted lists the mounts and swaps on the disk, its partitions and
	// the devices stacked on them: "/dev/sda2 on /home".
	Mounted []string
	// HoldsRoot is set when the running root filesystem is on the disk.
	HoldsRoot bool

	fna            uint64 // NVMe format attributes
	enhanced       bool   // ATA enhanced security erase supported
	cryptoScramble bool   // ATA sanitize crypto scramble supported
}

// ProbeDisk finds what the disk or file at path is and which methods it
// supports, running the tools its type calls for (nvme id-ctrl, hdparm).
func ProbeDisk(ctx context.Context, path string, o Options) (Probe, error) {
	o.defaults()
	return probe(ctx, path, &o, &recorder{exec: o.Exec})
}

func probe(ctx context.Context, path string, o *Options, rec *recorder) (Probe, error) {
	p := Probe{Disk: Disk{Path: path, Name: path, Type: TypeFile}, HPA: StateAbsent, DCO: StateAbsent}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return p, fmt.Errorf("probe %s: %w", path, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return p, fmt.Errorf("probe %s: %w", path, err)
	}
	switch {
	case fi.Mode().IsRegular():
		p.Disk.Size = fi.Size()
		p.Methods = []string{wire.MethodOverwrite}
		return p, nil
	case fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0:
		return p, fmt.Errorf("probe %s: %w: %s is neither a block device nor a regular file", path, ErrUnsafe, fi.Mode().Type())
	}
	name := filepath.Base(real)
	if _, err := os.Stat(filepath.Join(o.Root, "sys/class/block", name, "partition")); err == nil {
		return p, fmt.Errorf("probe %s: %w: %s is a partition; give the whole disk", path, ErrUnsupported, name)
	}
	d := sysDisk(o.Root, name)
	d.Path = path
	p.Disk = d
	if f, err := os.Open(path); err == nil {
		// Read-only: a probe changes nothing, not even udev's view.
		if size, err := f.Seek(0, io.SeekEnd); err == nil {
			p.Disk.Size = size
		}
		head := make([]byte, 4096)
		if n, _ := f.ReadAt(head, 0); n > 0 {
			p.LUKS = isLUKS(head[:n])
		}
		f.Close()
	}
	p.Mounted, p.HoldsRoot = mounts(o.Root, name)
	switch d.Type {
	case wire.DiskNVMe:
		probeNVMe(ctx, &p, rec)
	case wire.DiskHDD, wire.DiskSSD:
		if strings.HasPrefix(name, "sd") {
			probeATA(ctx, &p, rec)
		}
	}
	if p.LUKS {
		p.Methods = append(p.Methods, wire.MethodLUKS)
	}
	p.Methods = append(p.Methods, wire.MethodOverwrite)
	if n, _ := strconv.ParseInt(readSys(filepath.Join(o.Root, "sys/block", name), "queue/discard_max_bytes"), 10, 64); n > 0 {
		p.Methods = append(p.Methods, wire.MethodDiscard)
	}
	return p, nil
}

// isLUKS tells a LUKS1 or LUKS2 header by its magic.
func isLUKS(head []byte) bool {
	return bytes.HasPrefix(head, []byte("LUKS\xba\xbe")) || bytes.HasPrefix(head, []byte("SKUL\xba\xbe"))
}

// CheckSafe refuses a target that must not be wiped: the disk holding the
// running root always; a disk with mounts or swap unless maintenance; a
// removable disk unless allowRemovable. The error wraps ErrUnsafe.
func CheckSafe(p Probe, allowRemovable, maintenance bool) error {
	switch {
	case p.HoldsRoot:
		return fmt.Errorf("%w: %s holds the running root filesystem (%s); boot a live image to wipe it", ErrUnsafe, p.Disk.Name, strings.Join(p.Mounted, ", "))
	case len(p.Mounted) > 0 && !maintenance:
		return fmt.Errorf("%w: %s is in use: %s", ErrUnsafe, p.Disk.Name, strings.Join(p.Mounted, ", "))
	case p.Disk.Removable && !allowRemovable:
		return fmt.Errorf("%w: %s is a removable or USB disk; allow removable disks to wipe it", ErrUnsafe, p.Disk.Name)
	}
	return nil
}

// mounts lists what is mounted or swapped on the disk name (its
// partitions and the devices stacked on it, such as dm-crypt or LVM), from
// root/proc/mounts and root/proc/swaps, and whether / is among them.
func mounts(root, name string) (list []string, holdsRoot bool) {
	family := stack(root, name)
	match := func(src string) bool {
		if !strings.HasPrefix(src, "/dev/") {
			return false
		}
		if real, err := filepath.EvalSymlinks(filepath.Join(root, src)); err == nil {
			if family[filepath.Base(real)] {
				return true
			}
		}
		return family[strings.TrimPrefix(src, "/dev/")] || family[filepath.Base(src)]
	}
	for _, f := range procLines(filepath.Join(root, "proc/mounts")) {
		if len(f) < 2 {
			continue
		}
		src, dir := unescape(f[0]), unescape(f[1])
		if match(src) {
			list = append(list, src+" on "+dir)
			holdsRoot = holdsRoot || dir == "/"
		}
	}
	for i, f := range procLines(filepath.Join(root, "proc/swaps")) {
		if i > 0 && len(f) > 0 && match(unescape(f[0])) {
			list = append(list, "swap "+unescape(f[0]))
		}
	}
	if root == "/" || root == "" {
		if dev, ok := rootDev(); ok && family["dev:"+dev] && !holdsRoot {
			holdsRoot = true
			list = append(list, "/ (device "+dev+")")
		}
	}
	return list, holdsRoot
}

// stack returns the names of a disk, its partitions and every device
// stacked on them (holders, recursively), with their "mapper/NAME" aliases
// and "dev:MAJ:MIN" numbers.
func stack(root, name string) map[string]bool {
	set := map[string]bool{}
	var add func(dir, n string)
	add = func(dir, n string) {
		if set[n] {
			return
		}
		set[n] = true
		if dev := readSys(dir, "dev"); dev != "" {
			set["dev:"+dev] = true
		}
		if dm := readSys(dir, "dm/name"); dm != "" {
			set["mapper/"+dm] = true
			set[dm] = true
		}
		holders, _ := os.ReadDir(filepath.Join(dir, "holders"))
		for _, h := range holders {
			add(filepath.Join(root, "sys/block", h.Name()), h.Name())
		}
	}
	dir := filepath.Join(root, "sys/block", name)
	add(dir, name)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "partition")); err == nil {
			add(filepath.Join(dir, e.Name()), e.Name())
		}
	}
	return set
}

// procLines splits a /proc table into fields; nil when unreadable.
func procLines(path string) [][]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		out = append(out, strings.Fields(sc.Text()))
	}
	return out
}

// unescape decodes the octal escapes of /proc/mounts (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
