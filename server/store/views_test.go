package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

// TestSummaryViews checks that what readers decode of a stored summary
// (Summary, SummariesOf, Summaries, Live) is what the writer stored: the
// views decode only some fields of summaryRec, and a field renamed on one
// side would read as zero on the other.
func TestSummaryViews(t *testing.T) {
	s, _ := openTemp(t)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	rs := []Report{
		{Device: "dev-hot", Seq: 1, Kind: wire.ChanHealth, At: at, Received: at, Body: []byte(`{}`),
			Figures: []Figure{{apitype.MetricBatteryCharge, 64}, {apitype.MetricBatteryHealth, 88.5}, {apitype.MetricDiskWear, 3}}},
		netReport(t, "dev-hot", 2, at.Add(time.Minute), wire.Net{
			Interfaces: []wire.Interface{{Name: "wwan0", Kind: wire.IfCellular, Up: true}},
			Cellular:   []wire.Cellular{{Modem: "0", IMEI: "356938035643809", ICCID: "8933150319000000000", Operator: "Orange F"}},
		}),
		{Device: "dev-hot", Seq: 3, Kind: wire.ChanInventory, At: at, Received: at.Add(90 * time.Second), Body: []byte(`{"class":"hotspot"}`)},
	}
	presence := []Presence{{Device: "dev-hot", Online: true, At: at.Add(2 * time.Minute)}}
	if _, err := s.CommitReports(rs, presence); err != nil {
		t.Fatal(err)
	}
	var rec summaryRec
	err := s.db.View(func(tx *bolt.Tx) error {
		return json.Unmarshal(tx.Bucket(bucketSummary).Get([]byte("dev-hot")), &rec)
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.LastSeen.IsZero() || !rec.Online || rec.OnlineSince.IsZero() || rec.BatteryHealth == nil || rec.BatteryCharge == nil ||
		len(rec.Reported) != 3 || len(rec.Series) != 3 {
		t.Fatalf("the stored summary lacks a field, the comparison would prove nothing: %+v", rec)
	}
	want := Summary{
		LastSeen: rec.LastSeen, Online: rec.Online, OnlineSince: rec.OnlineSince,
		BatteryHealth: rec.BatteryHealth, BatteryCharge: rec.BatteryCharge, Reported: rec.Reported,
	}
	one, err := s.Summary("dev-hot")
	if err != nil {
		t.Fatal(err)
	}
	some, err := s.SummariesOf([]string{"dev-hot", "dev-never"})
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.Summaries()
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]Summary{"Summary": one, "SummariesOf": some["dev-hot"], "Summaries": all["dev-hot"]} {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s(dev-hot) (-stored +read):\n%s", name, diff)
		}
	}
	if _, ok := some["dev-never"]; ok || len(some) != 1 {
		t.Errorf("SummariesOf gave %d summaries, with one for a device that never reported: %v", len(some), ok)
	}

	sim := true
	wantLive := fleet.Live{Reported: true, LastSeen: rec.LastSeen, Online: true, Charge: rec.BatteryCharge, BatteryHealth: rec.BatteryHealth, SIM: &sim}
	live, err := s.Live("dev-hot")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantLive, live); diff != "" {
		t.Errorf("Live(dev-hot) (-stored +read):\n%s", diff)
	}
}
