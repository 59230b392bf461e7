package fleet

import (
	"fmt"
	"slices"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// HardwareOf sums up the parts of an inventory that someone could swap:
// system serial, memory, fixed disks and batteries.
func HardwareOf(inv wire.Inventory) Hardware {
	h := Hardware{SystemSerial: wire.NormalizeSerial(inv.System.Serial), MemoryBytes: inv.Memory.TotalBytes}
	for _, d := range inv.Disks {
		if d.Removable || d.Type == wire.DiskVirtual {
			continue
		}
		serial := wire.NormalizeSerial(d.Serial)
		if serial == "" {
			serial = "?" + d.Name
		}
		h.Disks = append(h.Disks, serial+" "+sizeGB(d.SizeBytes))
	}
	for _, b := range inv.Batteries {
		serial := wire.NormalizeSerial(b.Serial)
		if serial == "" {
			serial = "?" + b.Name
		}
		h.Batteries = append(h.Batteries, strings.TrimSpace(fmt.Sprintf("%s %s %s", serial, strings.Join(strings.Fields(b.Model), "_"), capacity(b))))
	}
	slices.Sort(h.Disks)
	slices.Sort(h.Batteries)
	return h
}

func sizeGB(b uint64) string { return fmt.Sprintf("(%d GB)", (b+500_000_000)/1_000_000_000) }

func capacity(b wire.BatteryInfo) string {
	switch {
	case b.DesignCapacityWh > 0:
		return fmt.Sprintf("%.0fWh", b.DesignCapacityWh)
	case b.DesignCapacitymAh > 0:
		return fmt.Sprintf("%.0fmAh", b.DesignCapacitymAh)
	}
	return ""
}

// Changes lists, for people, how now differs from h: a part replaced,
// added or removed. Parts unknown on one side are not compared; memory
// counts as changed beyond 5 %, since what the kernel reports moves a
// little between boots.
func (h Hardware) Changes(now Hardware) []string {
	var out []string
	if h.SystemSerial != "" && now.SystemSerial != "" && h.SystemSerial != now.SystemSerial {
		out = append(out, fmt.Sprintf("system serial %s became %s", h.SystemSerial, now.SystemSerial))
	}
	if h.MemoryBytes > 0 && now.MemoryBytes > 0 {
		a, b := float64(h.MemoryBytes), float64(now.MemoryBytes)
		if b < a*0.95 || b > a*1.05 {
			out = append(out, fmt.Sprintf("memory %.1f GiB became %.1f GiB", a/(1<<30), b/(1<<30)))
		}
	}
	out = append(out, partChanges("disk", h.Disks, now.Disks)...)
	out = append(out, partChanges("battery", h.Batteries, now.Batteries)...)
	return out
}

// partChanges compares two sorted lists of parts. Nothing is compared
// when the newer list is empty: an inventory that could not read the
// disks does not mean they are gone.
func partChanges(kind string, before, after []string) []string {
	if len(after) == 0 {
		return nil
	}
	var out []string
	for _, p := range before {
		if !slices.Contains(after, p) {
			out = append(out, fmt.Sprintf("%s %s removed", kind, p))
		}
	}
	for _, p := range after {
		if !slices.Contains(before, p) {
			out = append(out, fmt.Sprintf("%s %s added", kind, p))
		}
	}
	return out
}
