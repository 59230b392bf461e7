package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valise.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func report(dev string, seq uint64, kind wire.Channel, at time.Time, figs ...Figure) Report {
	return Report{
		Device: dev, Seq: seq, Kind: kind, At: at, Received: at.Add(time.Second),
		Body: fmt.Appendf(nil, `{"seq":%d}`, seq), Figures: figs,
	}
}

func commitSeqs(t *testing.T, s *Store, dev string, seqs ...uint64) []bool {
	t.Helper()
	rs := make([]Report, len(seqs))
	for i, q := range seqs {
		rs[i] = report(dev, q, wire.ChanHealth, t0.Add(time.Duration(q)*time.Second))
	}
	stored, err := s.CommitReports(rs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

func TestCommitReportsDedupe(t *testing.T) {
	tests := []struct {
		name    string
		batches [][]uint64
		want    [][]bool
	}{
		{"in order", [][]uint64{{1, 2, 3}, {4, 5}}, [][]bool{{true, true, true}, {true, true}}},
		{"redelivered batch", [][]uint64{{1, 2, 3}, {1, 2, 3}}, [][]bool{{true, true, true}, {false, false, false}}},
		{"duplicate inside one batch", [][]uint64{{7, 7, 8, 7}}, [][]bool{{true, false, true, false}}},
		{"out of order after reconnect", [][]uint64{{1, 2, 5, 6}, {3, 5, 4, 6, 7}}, [][]bool{{true, true, true, true}, {true, false, true, false, true}}},
		{"gap then late arrivals", [][]uint64{{10}, {3000}, {2000, 10, 2999, 3000}}, [][]bool{{true}, {true}, {true, false, true, false}}},
		{"older than the window", [][]uint64{{1}, {DedupeWindow + 10}, {5}}, [][]bool{{true}, {true}, {false}}},
		{"jump past the window clears it", [][]uint64{{5}, {5 + 3*DedupeWindow}, {6 + 3*DedupeWindow, 5 + 3*DedupeWindow}}, [][]bool{{true}, {true}, {true, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTemp(t)
			for i, b := range tt.batches {
				if diff := cmp.Diff(tt.want[i], commitSeqs(t, s, "dev-a", b...)); diff != "" {
					t.Errorf("batch %d %v stored (-want +got):\n%s", i, b, diff)
				}
			}
		})
	}
}

func TestDedupeSurvivesReopenAndIsPerDevice(t *testing.T) {
	s, path := openTemp(t)
	commitSeqs(t, s, "dev-a", 1, 2, 3, 9)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if diff := cmp.Diff([]bool{false, true, false, true}, commitSeqs(t, s, "dev-a", 3, 4, 9, 10)); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bool{true, true}, commitSeqs(t, s, "dev-b", 3, 9)); diff != "" {
		t.Errorf("other device (-want +got):\n%s", diff)
	}
}

func TestResetDedupe(t *testing.T) {
	s, _ := openTemp(t)
	commitSeqs(t, s, "dev-a", 1, 2, 3)
	if err := s.ResetDedupe("dev-a"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bool{true, false}, commitSeqs(t, s, "dev-a", 1, 1)); diff != "" {
		t.Errorf("after reset (-want +got):\n%s", diff)
	}
}

// A failed commit must leave the replay window as it was, or the retry of
// the same messages would be taken for duplicates and lost.
func TestFailedCommitKeepsWindow(t *testing.T) {
	s, _ := openTemp(t)
	commitSeqs(t, s, "dev-a", 1)
	bad := []Report{report("dev-a", 2, wire.ChanHealth, t0), {Device: "dev-a", Seq: 0}}
	if _, err := s.CommitReports(bad, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("commit with a zero seq: err = %v, want ErrInvalid", err)
	}
	if diff := cmp.Diff([]bool{true}, commitSeqs(t, s, "dev-a", 2)); diff != "" {
		t.Errorf("retry after failure (-want +got):\n%s", diff)
	}
}

func TestLatestKeepsNewest(t *testing.T) {
	s, _ := openTemp(t)
	if _, _, err := s.Latest("dev-a", wire.ChanHealth); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Latest before any report: err = %v, want ErrNotFound", err)
	}
	steps := []struct {
		seq    uint64
		at     time.Time
		wantAt time.Time
		want   string
	}{
		{1, t0, t0, `{"seq":1}`},
		{2, t0.Add(time.Minute), t0.Add(time.Minute), `{"seq":2}`},
		{3, t0.Add(-time.Hour), t0.Add(time.Minute), `{"seq":2}`},  // older sample arriving late
		{4, t0.Add(time.Minute), t0.Add(time.Minute), `{"seq":4}`}, // same At: the later message wins
	}
	for _, st := range steps {
		if _, err := s.CommitReports([]Report{report("dev-a", st.seq, wire.ChanHealth, st.at)}, nil); err != nil {
			t.Fatal(err)
		}
		body, at, err := s.Latest("dev-a", wire.ChanHealth)
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != st.want || !at.Equal(st.wantAt) {
			t.Errorf("after seq %d: Latest = %s at %s, want %s at %s", st.seq, body, at, st.want, st.wantAt)
		}
	}
	if _, _, err := s.Latest("dev-a", wire.ChanNet); !errors.Is(err, ErrNotFound) {
		t.Errorf("Latest of another kind: err = %v, want ErrNotFound", err)
	}
}

func TestHistoryBounds(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		step      time.Duration
		wantCount int
		wantFirst time.Time
	}{
		{"count bound", HistoryMaxPoints + 50, 5 * time.Minute, HistoryMaxPoints, t0.Add(50 * 5 * time.Minute)},
		{"age bound", 200, time.Hour, int(HistoryMaxAge/time.Hour) + 1, t0.Add(time.Duration(200-1)*time.Hour - HistoryMaxAge)},
		{"one point per resolution slot", 600, time.Second, 10, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTemp(t)
			const batch = 100
			for i := 0; i < tt.n; i += batch {
				var rs []Report
				for j := i; j < min(i+batch, tt.n); j++ {
					rs = append(rs, report("dev-a", uint64(j+1), wire.ChanHealth, t0.Add(time.Duration(j)*tt.step),
						Figure{apitype.MetricBatteryHealth, float64(j)}))
				}
				if _, err := s.CommitReports(rs, nil); err != nil {
					t.Fatal(err)
				}
			}
			pts, err := s.History("dev-a", apitype.MetricBatteryHealth, time.Time{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) != tt.wantCount {
				t.Fatalf("%d points, want %d", len(pts), tt.wantCount)
			}
			if !pts[0].At.Equal(tt.wantFirst) {
				t.Errorf("oldest point at %s, want %s", pts[0].At, tt.wantFirst)
			}
			if last := pts[len(pts)-1]; last.Value != float64(tt.n-1) {
				t.Errorf("newest value %v, want %v", last.Value, tt.n-1)
			}
			for i := 1; i < len(pts); i++ {
				if !pts[i].At.After(pts[i-1].At) {
					t.Fatalf("points out of order at %d: %s then %s", i, pts[i-1].At, pts[i].At)
				}
			}
		})
	}
}

func TestHistoryQuery(t *testing.T) {
	s, _ := openTemp(t)
	var rs []Report
	for i := range 10 {
		rs = append(rs, report("dev-a", uint64(i+1), wire.ChanNet, t0.Add(time.Duration(i)*time.Hour),
			Figure{apitype.MetricWiFiSignal, -50 - float64(i)}, Figure{apitype.MetricCellRSRP, -100}))
	}
	rs = append(rs, report("dev-ab", 1, wire.ChanNet, t0, Figure{apitype.MetricWiFiSignal, 1}))
	if _, err := s.CommitReports(rs, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		dev    string
		metric string
		since  time.Time
		limit  int
		want   []apitype.Point
	}{
		{"since", "dev-a", apitype.MetricWiFiSignal, t0.Add(8 * time.Hour), 0,
			[]apitype.Point{{At: t0.Add(8 * time.Hour), Value: -58}, {At: t0.Add(9 * time.Hour), Value: -59}}},
		{"limit keeps the newest", "dev-a", apitype.MetricWiFiSignal, time.Time{}, 1,
			[]apitype.Point{{At: t0.Add(9 * time.Hour), Value: -59}}},
		{"no prefix bleed between devices", "dev-ab", apitype.MetricWiFiSignal, time.Time{}, 0,
			[]apitype.Point{{At: t0, Value: 1}}},
		{"unknown metric", "dev-a", apitype.MetricDataUsed, time.Time{}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.History(tt.dev, tt.metric, tt.since, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("History (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := s.Summary("dev-a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Summary before any report: err = %v, want ErrNotFound", err)
	}
	rs := []Report{
		report("dev-a", 1, wire.ChanHealth, t0, Figure{apitype.MetricBatteryHealth, 64}, Figure{apitype.MetricBatteryCharge, 80}),
		report("dev-a", 2, wire.ChanNet, t0.Add(time.Minute)),
		report("dev-a", 3, wire.ChanHealth, t0.Add(-time.Hour), Figure{apitype.MetricBatteryHealth, 99}), // late, older sample
	}
	ps := []Presence{
		{Device: "dev-a", Online: true, At: t0.Add(-time.Minute)},
		{Device: "dev-b", Online: true, At: t0},
		{Device: "dev-b", Online: false, At: t0.Add(time.Hour)},
		{Device: "dev-b", Online: true, At: t0.Add(30 * time.Minute)}, // older than the offline: ignored
	}
	if _, err := s.CommitReports(rs, ps); err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	want := map[string]Summary{
		"dev-a": {
			LastSeen: t0.Add(time.Minute + time.Second), Online: true, OnlineSince: t0.Add(-time.Minute),
			BatteryHealth: f(64), BatteryCharge: f(80),
			Reported: map[string]time.Time{"health": t0.Add(time.Second), "net": t0.Add(time.Minute + time.Second)},
		},
		"dev-b": {LastSeen: t0.Add(time.Hour), Online: false},
	}
	got, err := s.Summaries()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summaries (-want +got):\n%s", diff)
	}
	one, err := s.Summary("dev-a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want["dev-a"], one); diff != "" {
		t.Errorf("Summary (-want +got):\n%s", diff)
	}
}

func TestMarkAllOffline(t *testing.T) {
	s, _ := openTemp(t)
	ps := []Presence{
		{Device: "dev-a", Online: true, At: t0},
		{Device: "dev-b", Online: true, At: t0},
		{Device: "dev-c", Online: false, At: t0},
	}
	if _, err := s.CommitReports(nil, ps); err != nil {
		t.Fatal(err)
	}
	n, err := s.MarkAllOffline(t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("changed %d, want 2", n)
	}
	sums, err := s.Summaries()
	if err != nil {
		t.Fatal(err)
	}
	for dev, sum := range sums {
		if sum.Online || !sum.OnlineSince.IsZero() {
			t.Errorf("%s still online: %+v", dev, sum)
		}
	}
	// A presence older than the reset does not bring it back.
	if _, err := s.CommitReports(nil, []Presence{{Device: "dev-a", Online: true, At: t0.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if sum, _ := s.Summary("dev-a"); sum.Online {
		t.Errorf("an older presence turned dev-a online again")
	}
}

func TestWindowEncoding(t *testing.T) {
	var w window
	for _, q := range []uint64{1, 5, 64, 65, 2047, 3000} {
		w.mark(q)
	}
	got, err := unmarshalWindow(w.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.top != w.top || got.mask != w.mask || got.count() != w.count() {
		t.Errorf("round trip: top %d count %d, want top %d count %d", got.top, got.count(), w.top, w.count())
	}
	if _, err := unmarshalWindow([]byte{1, 2, 3}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short window: err = %v, want ErrCorrupt", err)
	}
}

func BenchmarkCommitReports(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "valise.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := make([]byte, 900)
	const devices, perBatch = 100, 500
	seq := make([]uint64, devices)
	b.ResetTimer()
	for b.Loop() {
		rs := make([]Report, perBatch)
		for i := range rs {
			d := i % devices
			seq[d]++
			rs[i] = Report{Device: fmt.Sprintf("dev-%03d", d), Seq: seq[d], Kind: wire.ChanHealth,
				At: t0.Add(time.Duration(seq[d]) * time.Second), Received: t0, Body: body,
				Figures: []Figure{{apitype.MetricBatteryHealth, 80}, {apitype.MetricBatteryCharge, 50}, {apitype.MetricStorageFree, 40}}}
		}
		if _, err := s.CommitReports(rs, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "msg/s")
}
