package fleet

import (
	"fmt"
	"slices"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// Identifier kinds, the prefixes of identifier keys ("serial:PF1ABCDE").
const (
	IdentUUID   = "uuid"
	IdentSerial = "serial"
	IdentBoard  = "board"
	IdentMAC    = "mac"
	IdentDisk   = "disk"
	IdentIMEI   = "imei"
	IdentTag    = "tag"
)

// IdentKeys returns the identifier keys of a normalised fingerprint, each
// "kind:value", in a stable order. The store indexes devices by them.
func IdentKeys(f wire.Fingerprint) []string {
	var keys []string
	add := func(kind, v string) {
		if v != "" {
			keys = append(keys, kind+":"+v)
		}
	}
	add(IdentUUID, f.UUID)
	add(IdentSerial, f.SystemSerial)
	add(IdentBoard, f.BaseboardSerial)
	for _, v := range f.MACs {
		add(IdentMAC, v)
	}
	for _, v := range f.DiskSerials {
		add(IdentDisk, v)
	}
	for _, v := range f.IMEIs {
		add(IdentIMEI, v)
	}
	add(IdentTag, f.AssetTag)
	return keys
}

// serverFingerprint re-normalises what an agent sent, never trusting the
// agent's own normalisation, and completes it with the identifiers of its
// inventory: single values from the fingerprint first, lists merged.
func serverFingerprint(fp wire.Fingerprint, inv *wire.Inventory) wire.Fingerprint {
	f := fp.Normalize()
	g := wire.FingerprintOf(inv) // normalised
	first := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	merged := wire.Fingerprint{
		UUID:            first(f.UUID, g.UUID),
		SystemSerial:    first(f.SystemSerial, g.SystemSerial),
		BaseboardSerial: first(f.BaseboardSerial, g.BaseboardSerial),
		MACs:            append(f.MACs, g.MACs...),
		DiskSerials:     append(f.DiskSerials, g.DiskSerials...),
		IMEIs:           append(f.IMEIs, g.IMEIs...),
		AssetTag:        f.AssetTag,
	}
	return merged.Normalize()
}

// Candidate is an enrolled device that owns at least one identifier of a
// fingerprint being enrolled.
type Candidate struct {
	Device Device
	// Keys are the identifier keys of the fingerprint this device owns.
	Keys []string
}

// Match is the outcome of matching a fingerprint against the fleet.
type Match struct {
	// DeviceID is the matched device, or "" for a new device.
	DeviceID string
	// Changes describes how the hardware differs from the matched device's
	// last fingerprint; empty when nothing changed.
	Changes []string
	// Conflict explains why candidates were not merged, or which
	// identifiers of other devices the matched one took over; empty when
	// there was nothing to say.
	Conflict string
}

// MatchFingerprint decides which device, if any, a fingerprint belongs to,
// given every device that owns one of its identifiers:
//
//   - two or more identifiers owned by one device: that device;
//   - exactly one identifier owned by one device (same serial, other disk):
//     that device, unless a single-valued identifier known on both sides
//     (SMBIOS UUID, system or baseboard serial) differs, which says it is
//     another machine sharing a part or a cloned value: then a new device;
//   - identifiers owned by several devices: the one owning two or more
//     when every other owns just one (a disk moved from one machine to
//     another); otherwise it is ambiguous and a new device is made rather
//     than merging two machines.
//
// Placeholders never match: the fingerprint is normalised first, and an
// empty field is unknown, not a wildcard. Changes lists the differences
// with the matched device (see HardwareChanges).
func MatchFingerprint(f wire.Fingerprint, candidates []Candidate) Match {
	if len(candidates) == 0 {
		return Match{}
	}
	cs := slices.Clone(candidates)
	slices.SortStableFunc(cs, func(a, b Candidate) int {
		if d := len(b.Keys) - len(a.Keys); d != 0 {
			return d
		}
		return CompareAssetTags(a.Device.AssetTag, b.Device.AssetTag)
	})
	top := cs[0]
	if len(cs) == 1 {
		if len(top.Keys) >= 2 {
			return Match{DeviceID: top.Device.ID, Changes: HardwareChanges(top.Device.Fingerprint, f)}
		}
		if c := contradiction(top.Device.Fingerprint, f); c != "" {
			return Match{Conflict: fmt.Sprintf("shares %s with %s but its %s differs: enrolled as a new device",
				top.Keys[0], top.Device.AssetTag, c)}
		}
		return Match{DeviceID: top.Device.ID, Changes: HardwareChanges(top.Device.Fingerprint, f)}
	}
	if len(top.Keys) >= 2 && len(cs[1].Keys) == 1 {
		var others []string
		for _, c := range cs[1:] {
			others = append(others, fmt.Sprintf("%s (%s)", c.Keys[0], c.Device.AssetTag))
		}
		return Match{
			DeviceID: top.Device.ID,
			Changes:  HardwareChanges(top.Device.Fingerprint, f),
			Conflict: "took over identifiers last seen on other devices: " + strings.Join(others, ", "),
		}
	}
	var names []string
	for _, c := range cs {
		names = append(names, fmt.Sprintf("%s (%s)", c.Device.AssetTag, strings.Join(c.Keys, ", ")))
	}
	return Match{Conflict: "identifiers match several devices, not merged: " + strings.Join(names, "; ")}
}

// contradiction names the first single-valued identifier that both
// fingerprints know and that differs, or returns "".
func contradiction(old, cur wire.Fingerprint) string {
	switch {
	case old.UUID != "" && cur.UUID != "" && old.UUID != cur.UUID:
		return "SMBIOS UUID"
	case old.SystemSerial != "" && cur.SystemSerial != "" && old.SystemSerial != cur.SystemSerial:
		return "system serial"
	case old.BaseboardSerial != "" && cur.BaseboardSerial != "" && old.BaseboardSerial != cur.BaseboardSerial:
		return "baseboard serial"
	}
	return ""
}

// HardwareChanges lists how cur differs from old, one entry per kind of
// identifier that both know and that differs ("disk serials: -S1 +S2").
// An identifier that one side could not read (empty) is not a change: an
// agent without root reads no SMBIOS serial, the machine is the same.
func HardwareChanges(old, cur wire.Fingerprint) []string {
	var out []string
	one := func(name, a, b string) {
		if a != "" && b != "" && a != b {
			out = append(out, fmt.Sprintf("%s: %s -> %s", name, a, b))
		}
	}
	list := func(name string, a, b []string) {
		if len(a) == 0 || len(b) == 0 {
			return
		}
		var gone, added []string
		for _, v := range a {
			if !slices.Contains(b, v) {
				gone = append(gone, "-"+v)
			}
		}
		for _, v := range b {
			if !slices.Contains(a, v) {
				added = append(added, "+"+v)
			}
		}
		if len(gone)+len(added) > 0 {
			out = append(out, name+": "+strings.Join(append(gone, added...), " "))
		}
	}
	one("SMBIOS UUID", old.UUID, cur.UUID)
	one("system serial", old.SystemSerial, cur.SystemSerial)
	one("baseboard serial", old.BaseboardSerial, cur.BaseboardSerial)
	list("MACs", old.MACs, cur.MACs)
	list("disk serials", old.DiskSerials, cur.DiskSerials)
	list("IMEIs", old.IMEIs, cur.IMEIs)
	return out
}
