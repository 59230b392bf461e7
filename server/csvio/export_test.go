package csvio

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/valise-numerique/valise/server/fleet"
)

// pagedFleet is a Source over lists held in memory that pages as the
// fleet does, and counts its calls.
type pagedFleet struct {
	devices []fleet.Device // by asset tag
	kits    []fleet.Kit    // by label
	calls   map[string]int
	failAt  int // fail the Devices call of this number (1-based); 0: never
}

func (p *pagedFleet) Devices(f fleet.Filter) ([]fleet.Device, error) {
	p.calls["devices"]++
	if p.calls["devices"] == p.failAt {
		return nil, errors.New("disk on fire")
	}
	i := 0
	if f.After != "" {
		i = slices.IndexFunc(p.devices, func(d fleet.Device) bool { return fleet.CompareAssetTags(d.AssetTag, f.After) > 0 })
		if i < 0 {
			return nil, nil
		}
	}
	return p.devices[i:min(len(p.devices), i+f.Limit)], nil
}

func (p *pagedFleet) Device(ref string) (fleet.Device, error) {
	p.calls["device"]++
	for _, d := range p.devices {
		if d.ID == ref {
			return d, nil
		}
	}
	return fleet.Device{}, fleet.ErrNotFound
}

func (p *pagedFleet) Venues() ([]fleet.Venue, error) {
	return []fleet.Venue{{ID: "v1", Name: "Mairie de Segré"}}, nil
}

func (p *pagedFleet) Kits(after string, limit int) ([]fleet.KitStatus, error) {
	p.calls["kits"]++
	var out []fleet.KitStatus
	for _, k := range p.kits {
		if fleet.NameKey(k.Label) > fleet.NameKey(after) && len(out) < limit {
			out = append(out, fleet.KitStatus{Kit: k})
		}
	}
	return out, nil
}

func (p *pagedFleet) Loans(fleet.Principal, fleet.LoanFilter) ([]fleet.LoanStatus, error) {
	return nil, nil
}

func TestExportPages(t *testing.T) {
	p := &pagedFleet{calls: map[string]int{}}
	for i := range 2*pageSize + 1 {
		p.devices = append(p.devices, fleet.Device{ID: fmt.Sprintf("d%05d", i), AssetTag: fmt.Sprintf("VAL-%d", i+1), Class: "laptop", State: fleet.StateReady, Venue: "v1"})
	}
	for i := range pageSize + 1 {
		p.kits = append(p.kits, fleet.Kit{Label: fmt.Sprintf("Kit %05d", i), Home: "v1", Devices: []string{p.devices[i].ID, p.devices[i+pageSize].ID}})
	}
	var b strings.Builder
	if err := Export(p, fleet.Principal{}, KindDevices, &b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\r\n"), "\r\n")
	if len(lines) != 2*pageSize+2 || lines[1] != "VAL-1,,laptop,,,Mairie de Segré,ready,,," || lines[len(lines)-1] != "VAL-2001,,laptop,,,Mairie de Segré,ready,,," {
		t.Errorf("%d lines: %q … %q", len(lines), lines[1], lines[len(lines)-1])
	}
	if p.calls["devices"] != 3 {
		t.Errorf("%d pages read, want 3", p.calls["devices"])
	}

	b.Reset()
	if err := Export(p, fleet.Principal{}, KindKits, &b); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSuffix(b.String(), "\r\n"), "\r\n")
	if len(lines) != pageSize+2 || lines[1] != "Kit 00000,Mairie de Segré,VAL-1 VAL-1001," || lines[len(lines)-1] != "Kit 01000,Mairie de Segré,VAL-1001 VAL-2001," {
		t.Errorf("%d lines: %q … %q", len(lines), lines[1], lines[len(lines)-1])
	}
	if p.calls["kits"] != 2 {
		t.Errorf("%d pages of kits read, want 2", p.calls["kits"])
	}

	// A failure before the first row writes nothing; a later one stops.
	p.calls, p.failAt = map[string]int{}, 1
	b.Reset()
	if err := Export(p, fleet.Principal{}, KindDevices, &b); err == nil || b.Len() != 0 {
		t.Errorf("first page fails: %v, wrote %d bytes", err, b.Len())
	}
	p.calls, p.failAt = map[string]int{}, 2
	if err := Export(p, fleet.Principal{}, KindDevices, &b); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("second page fails: %v", err)
	}
}
