package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

func netReport(t *testing.T, dev string, seq uint64, at time.Time, n wire.Net) Report {
	t.Helper()
	body, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return Report{Device: dev, Seq: seq, Kind: wire.ChanNet, At: at, Received: at, Body: body}
}

func TestLive(t *testing.T) {
	s, _ := openTemp(t)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	yes, no := true, false
	charge, health := 82.0, 91.5
	rs := []Report{
		// dev-hot: a hotspot whose modem has a SIM, and a second without.
		netReport(t, "dev-hot", 1, at, wire.Net{Cellular: []wire.Cellular{{Modem: "0"}, {Modem: "1", ICCID: "8933150319000000000"}}}),
		// dev-nosim: its only modem has no SIM.
		netReport(t, "dev-nosim", 1, at, wire.Net{Cellular: []wire.Cellular{{Modem: "0", State: "failed"}}}),
		// dev-lap: a laptop with no modem, and a battery.
		netReport(t, "dev-lap", 1, at, wire.Net{Interfaces: []wire.Interface{{Name: "wlan0", Kind: wire.IfWiFi, Up: true}}}),
		{Device: "dev-lap", Seq: 2, Kind: wire.ChanHealth, At: at.Add(time.Minute), Received: at.Add(time.Minute), Body: []byte(`{}`),
			Figures: []Figure{{apitype.MetricBatteryCharge, charge}, {apitype.MetricBatteryHealth, health}}},
		// dev-inv: only an inventory.
		{Device: "dev-inv", Seq: 1, Kind: wire.ChanInventory, At: at, Received: at,
			Body: []byte(`{"class":"laptop","system":{"serial":"PF1ABCDE"},"memory":{"total_bytes":8589934592}}`)},
	}
	if _, err := s.CommitReports(rs, []Presence{{Device: "dev-hot", Online: true, At: at.Add(2 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dev  string
		want fleet.Live
	}{
		{"dev-hot", fleet.Live{Reported: true, LastSeen: at.Add(2 * time.Minute), Online: true, SIM: &yes}},
		{"dev-nosim", fleet.Live{Reported: true, LastSeen: at, SIM: &no}},
		{"dev-lap", fleet.Live{Reported: true, LastSeen: at.Add(time.Minute), Charge: &charge, BatteryHealth: &health}},
		{"dev-inv", fleet.Live{Reported: true, LastSeen: at}},
		{"dev-never", fleet.Live{}},
	}
	for _, tt := range tests {
		got, err := s.Live(tt.dev)
		if err != nil {
			t.Fatalf("Live(%s): %v", tt.dev, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Live(%s) (-want +got):\n%s", tt.dev, diff)
		}
	}

	hw, ok, err := s.LatestHardware("dev-inv")
	if want := (fleet.Hardware{SystemSerial: "PF1ABCDE", MemoryBytes: 8589934592}); err != nil || !ok || !cmp.Equal(hw, want) {
		t.Errorf("LatestHardware(dev-inv) = %+v, %v, %v; want %+v", hw, ok, err, want)
	}
	for _, dev := range []string{"dev-lap", "dev-never"} {
		if hw, ok, err := s.LatestHardware(dev); err != nil || ok || !cmp.Equal(hw, fleet.Hardware{}) {
			t.Errorf("LatestHardware(%s) = %+v, %v, %v; want none", dev, hw, ok, err)
		}
	}
}

func TestLastSeen(t *testing.T) {
	s, _ := openTemp(t)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	rs := []Report{
		netReport(t, "dev-a", 1, at, wire.Net{}),
		netReport(t, "dev-b", 1, at.Add(time.Minute), wire.Net{}),
	}
	if _, err := s.CommitReports(rs, nil); err != nil {
		t.Fatal(err)
	}
	// A connection coming up later is news from the device too.
	if _, err := s.CommitReports(nil, []Presence{{Device: "dev-a", Online: true, At: at.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LastSeen([]string{"dev-a", "dev-b", "dev-never"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{}
	for _, dev := range []string{"dev-a", "dev-b"} {
		sum, err := s.Summary(dev)
		if err != nil {
			t.Fatal(err)
		}
		want[dev] = sum.LastSeen
	}
	if !want["dev-a"].Equal(at.Add(time.Hour)) {
		t.Fatalf("summary of dev-a last seen %s", want["dev-a"])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LastSeen (-summaries +got):\n%s", diff)
	}
}
