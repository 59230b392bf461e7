package fleet

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/wire"
)

func TestMatchFingerprint(t *testing.T) {
	lenovo := Device{ID: "daaaaaaaaaaaa", AssetTag: "VAL-0001", Fingerprint: wire.Fingerprint{
		UUID: "4c4c4544-0042-3510-8056-b4c04f4b4d32", SystemSerial: "PF1ABCDE", BaseboardSerial: "L1HF8AB01X",
		MACs: []string{"8c:16:45:aa:bb:cc"}, DiskSerials: []string{"S4EWNX0R123456"},
	}}
	dell := Device{ID: "dbbbbbbbbbbbb", AssetTag: "VAL-0002", Fingerprint: wire.Fingerprint{
		UUID: "4c4c4544-0031-3310-8052-c7c04f383732", SystemSerial: "7XK3TQ2",
		MACs: []string{"f8:b1:56:11:22:33"}, DiskSerials: []string{"WD-WX61A1234567"},
	}}
	hotspot := Device{ID: "dcccccccccccc", AssetTag: "VAL-0003", Fingerprint: wire.Fingerprint{IMEIs: []string{"867123456789014"}}}

	tests := []struct {
		name       string
		fp         wire.Fingerprint
		cands      []Candidate
		wantID     string
		wantChange bool
		conflict   bool
	}{
		{
			name: "no candidate: new device",
			fp:   wire.Fingerprint{SystemSerial: "NEWSERIAL1"},
		},
		{
			name:   "same machine re-enrolled",
			fp:     lenovo.Fingerprint,
			cands:  []Candidate{{lenovo, IdentKeys(lenovo.Fingerprint)}},
			wantID: lenovo.ID,
		},
		{
			name: "disk swap: same device, hardware changed",
			fp: wire.Fingerprint{UUID: lenovo.Fingerprint.UUID, SystemSerial: "PF1ABCDE", BaseboardSerial: "L1HF8AB01X",
				MACs: []string{"8c:16:45:aa:bb:cc"}, DiskSerials: []string{"NEWDISK0001"}},
			cands:      []Candidate{{lenovo, []string{"uuid:" + lenovo.Fingerprint.UUID, "serial:PF1ABCDE", "board:L1HF8AB01X", "mac:8c:16:45:aa:bb:cc"}}},
			wantID:     lenovo.ID,
			wantChange: true,
		},
		{
			name:       "partial match, only the serial known now: same device",
			fp:         wire.Fingerprint{SystemSerial: "PF1ABCDE", DiskSerials: []string{"NEWDISK0001"}},
			cands:      []Candidate{{lenovo, []string{"serial:PF1ABCDE"}}},
			wantID:     lenovo.ID,
			wantChange: true,
		},
		{
			name:   "unprivileged agent reads no SMBIOS: matched on MAC and disk, nothing changed",
			fp:     wire.Fingerprint{MACs: lenovo.Fingerprint.MACs, DiskSerials: lenovo.Fingerprint.DiskSerials},
			cands:  []Candidate{{lenovo, []string{"mac:8c:16:45:aa:bb:cc", "disk:S4EWNX0R123456"}}},
			wantID: lenovo.ID,
		},
		{
			name:     "one shared UUID but another serial: clone, new device",
			fp:       wire.Fingerprint{UUID: lenovo.Fingerprint.UUID, SystemSerial: "OTHER12345", MACs: []string{"00:11:22:33:44:55"}},
			cands:    []Candidate{{lenovo, []string{"uuid:" + lenovo.Fingerprint.UUID}}},
			conflict: true,
		},
		{
			name:     "disk moved into an unknown machine: new device",
			fp:       wire.Fingerprint{SystemSerial: "BRANDNEW99", DiskSerials: lenovo.Fingerprint.DiskSerials},
			cands:    []Candidate{{lenovo, []string{"disk:S4EWNX0R123456"}}},
			conflict: true,
		},
		{
			name: "disk of the Lenovo moved into the Dell: the Dell, changed",
			fp: wire.Fingerprint{UUID: dell.Fingerprint.UUID, SystemSerial: "7XK3TQ2", MACs: dell.Fingerprint.MACs,
				DiskSerials: lenovo.Fingerprint.DiskSerials},
			cands: []Candidate{
				{lenovo, []string{"disk:S4EWNX0R123456"}},
				{dell, []string{"uuid:" + dell.Fingerprint.UUID, "serial:7XK3TQ2", "mac:f8:b1:56:11:22:33"}},
			},
			wantID:     dell.ID,
			wantChange: true,
			conflict:   true,
		},
		{
			name: "two identifiers of each of two devices: ambiguous, never merged",
			fp:   wire.Fingerprint{SystemSerial: "PF1ABCDE", BaseboardSerial: "L1HF8AB01X", MACs: dell.Fingerprint.MACs, DiskSerials: dell.Fingerprint.DiskSerials},
			cands: []Candidate{
				{lenovo, []string{"serial:PF1ABCDE", "board:L1HF8AB01X"}},
				{dell, []string{"mac:f8:b1:56:11:22:33", "disk:WD-WX61A1234567"}},
			},
			conflict: true,
		},
		{
			name: "one identifier of each of two devices: ambiguous",
			fp:   wire.Fingerprint{MACs: lenovo.Fingerprint.MACs, DiskSerials: dell.Fingerprint.DiskSerials},
			cands: []Candidate{
				{lenovo, []string{"mac:8c:16:45:aa:bb:cc"}},
				{dell, []string{"disk:WD-WX61A1234567"}},
			},
			conflict: true,
		},
		{
			name:   "hotspot known by its IMEI alone",
			fp:     wire.Fingerprint{IMEIs: []string{"867123456789014"}},
			cands:  []Candidate{{hotspot, []string{"imei:867123456789014"}}},
			wantID: hotspot.ID,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := MatchFingerprint(tt.fp, tt.cands)
			if m.DeviceID != tt.wantID {
				t.Errorf("DeviceID = %q, want %q (conflict %q)", m.DeviceID, tt.wantID, m.Conflict)
			}
			if got := len(m.Changes) > 0; got != tt.wantChange {
				t.Errorf("changed = %v (%q), want %v", got, m.Changes, tt.wantChange)
			}
			if got := m.Conflict != ""; got != tt.conflict {
				t.Errorf("conflict = %q, want conflict %v", m.Conflict, tt.conflict)
			}
		})
	}
}

func TestHardwareChanges(t *testing.T) {
	old := wire.Fingerprint{SystemSerial: "PF1ABCDE", DiskSerials: []string{"D1", "D2"}, MACs: []string{"8c:16:45:aa:bb:cc"}}
	tests := []struct {
		name string
		cur  wire.Fingerprint
		want []string
	}{
		{"same", old, nil},
		{"serial unreadable is no change", wire.Fingerprint{DiskSerials: []string{"D1", "D2"}}, nil},
		{"one disk replaced", wire.Fingerprint{SystemSerial: "PF1ABCDE", DiskSerials: []string{"D1", "D3"}},
			[]string{"disk serials: -D2 +D3"}},
		{"serial differs", wire.Fingerprint{SystemSerial: "PF1XXXXX"}, []string{"system serial: PF1ABCDE -> PF1XXXXX"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, HardwareChanges(old, tt.cur)); diff != "" {
				t.Errorf("HardwareChanges (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServerFingerprintRenormalises(t *testing.T) {
	// An agent that sends placeholders in its fingerprint (old or
	// hostile normalisation) gets them dropped here.
	fp := wire.Fingerprint{
		UUID:         "03000200-0400-0500-0006-000700080009",
		SystemSerial: "To be filled by O.E.M.",
		MACs:         []string{"8C-16-45-AA-BB-CC", "ff:ff:ff:ff:ff:ff"},
	}
	inv := wire.Inventory{Disks: []wire.Disk{{Name: "sda", Serial: " s4ewnx0r123456 ", Type: wire.DiskSSD}}}
	want := wire.Fingerprint{MACs: []string{"8c:16:45:aa:bb:cc"}, DiskSerials: []string{"S4EWNX0R123456"}}
	if diff := cmp.Diff(want, serverFingerprint(fp, &inv)); diff != "" {
		t.Errorf("serverFingerprint (-want +got):\n%s", diff)
	}
}

func TestCompareAssetTags(t *testing.T) {
	tags := []string{"VAL-10000", "VAL-0002", "VAL-1000", "VAL-0999", "MAIRIE-3"}
	want := []string{"MAIRIE-3", "VAL-0002", "VAL-0999", "VAL-1000", "VAL-10000"}
	slices.SortFunc(tags, CompareAssetTags)
	if diff := cmp.Diff(want, tags); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}
