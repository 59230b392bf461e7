package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/store"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

type env struct {
	st  *store.Store
	ing *Ingester
	reg *prometheus.Registry
	log *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, maxBatch int) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "valise.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, reg: prometheus.NewRegistry(), log: new(syncBuffer)}
	e.ing, err = New(Config{
		Store: st, MaxBatch: maxBatch, Registerer: e.reg,
		Logger: slog.New(slog.NewTextHandler(e.log, nil)),
		Now:    func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ing.Close() })
	return e
}

func ptr[T any](v T) *T { return &v }

func healthBody() *wire.Health {
	return &wire.Health{
		Batteries: []wire.Battery{
			{Name: "BAT0", ChargePercent: ptr(91.0), HealthPercent: ptr(88.0)},
			{Name: "BAT1", ChargePercent: ptr(45.0), HealthPercent: ptr(62.5)},
		},
		Disks:       []wire.DiskHealth{{Name: "nvme0n1", SmartAvailable: true, PercentageUsed: ptr(int64(7))}, {Name: "sda", PercentageUsed: ptr(int64(3))}},
		Filesystems: []wire.Filesystem{{Mountpoint: "/", UsedPercent: 40}, {Mountpoint: "/home", UsedPercent: 75}},
	}
}

func payload(t testing.TB, dev string, seq uint64, kind wire.Channel, body any) []byte {
	t.Helper()
	e, err := wire.NewEnvelope(dev, seq, t0.Add(time.Duration(seq)*time.Minute), kind, body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var topics wire.Topics

func TestSubmitStores(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	p := payload(t, "dev-a", 1, wire.ChanHealth, healthBody())
	for range 2 { // the second is a redelivery
		if err := e.ing.Submit(ctx, "dev-a", topics.Device("dev-a", wire.ChanHealth), p); err != nil {
			t.Fatal(err)
		}
	}
	body, at, err := e.st.Latest("dev-a", wire.ChanHealth)
	if err != nil {
		t.Fatal(err)
	}
	if !at.Equal(t0.Add(time.Minute)) || !bytes.Contains(body, []byte(`"BAT1"`)) {
		t.Errorf("Latest = %s at %s", body, at)
	}
	want := map[string]float64{
		apitype.MetricBatteryHealth: 62.5, apitype.MetricBatteryCharge: 45,
		apitype.MetricDiskWear: 7, apitype.MetricStorageFree: 25,
	}
	for m, v := range want {
		pts, err := e.st.History("dev-a", m, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]apitype.Point{{At: t0.Add(time.Minute), Value: v}}, pts); diff != "" {
			t.Errorf("history %s (-want +got):\n%s", m, diff)
		}
	}
	sum, err := e.st.Summary("dev-a")
	if err != nil {
		t.Fatal(err)
	}
	if sum.BatteryHealth == nil || *sum.BatteryHealth != 62.5 || !sum.LastSeen.Equal(t0) {
		t.Errorf("summary = %+v", sum)
	}
	if got := testutil.ToFloat64(e.ing.m.messages.WithLabelValues("health")); got != 1 {
		t.Errorf("messages{health} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.ing.m.duplicates); got != 1 {
		t.Errorf("duplicates = %v, want 1", got)
	}
}

func TestSubmitPresence(t *testing.T) {
	e := newEnv(t, 0)
	topic := topics.Device("dev-a", wire.ChanPresence)
	for _, p := range []string{"online", ""} {
		if err := e.ing.Submit(context.Background(), "", topic, []byte(p)); err != nil {
			t.Fatalf("presence %q: %v", p, err)
		}
	}
	sum, err := e.st.Summary("dev-a")
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Online || !sum.OnlineSince.Equal(t0) {
		t.Errorf("after online: %+v", sum)
	}
	if err := e.ing.SetPresence("dev-a", false, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if sum, _ = e.st.Summary("dev-a"); sum.Online {
		t.Errorf("after SetPresence offline: %+v", sum)
	}
}

func TestSubmitRejects(t *testing.T) {
	health := payload(t, "dev-a", 1, wire.ChanHealth, healthBody())
	gz := func() []byte { // a gzip'd payload inflating past the limit
		inv := &wire.Inventory{Hostname: strings.Repeat("x", 1000)}
		inv.Collectors = make([]wire.CollectorRun, 500)
		for i := range inv.Collectors {
			inv.Collectors[i] = wire.CollectorRun{Name: strings.Repeat("c", 600)}
		}
		return payload(t, "dev-a", 2, wire.ChanInventory, inv)
	}
	tests := []struct {
		name    string
		auth    string
		topic   string
		payload []byte
		want    error
	}{
		{"garbage", "dev-a", topics.Device("dev-a", wire.ChanHealth), []byte("\x00\x01garbage"), wire.ErrMalformed},
		{"truncated json", "dev-a", topics.Device("dev-a", wire.ChanHealth), health[:len(health)/2], wire.ErrMalformed},
		{"unknown version", "dev-a", topics.Device("dev-a", wire.ChanHealth), bytes.Replace(health, []byte(`"v":1`), []byte(`"v":7`), 1), wire.ErrVersion},
		{"too large", "dev-a", topics.Device("dev-a", wire.ChanHealth), make([]byte, wire.MaxPayload+1), wire.ErrTooLarge},
		{"gzip inflating past the limit", "dev-a", topics.Device("dev-a", wire.ChanInventory), gz(), wire.ErrTooLarge},
		{"another device's topic", "dev-b", topics.Device("dev-a", wire.ChanHealth), health, wire.ErrWrongDevice},
		{"envelope of another device", "", topics.Device("dev-c", wire.ChanHealth), health, wire.ErrWrongDevice},
		{"kind differs from topic", "dev-a", topics.Device("dev-a", wire.ChanNet), health, wire.ErrInvalid},
		{"cmd topic", "dev-a", topics.Device("dev-a", wire.ChanCmd), health, wire.ErrTopic},
		{"unknown topic", "dev-a", "other/dev-a/health", health, wire.ErrTopic},
		{"bad presence", "dev-a", topics.Device("dev-a", wire.ChanPresence), []byte("maybe"), wire.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 0)
			label := wire.Reason(tt.want)
			for range 3 {
				err := e.ing.Submit(context.Background(), tt.auth, tt.topic, tt.payload)
				if !errors.Is(err, tt.want) {
					t.Fatalf("Submit: err = %v, want %v", err, tt.want)
				}
			}
			if got := testutil.ToFloat64(e.ing.m.rejected.WithLabelValues(label)); got != 3 {
				t.Errorf("rejected{%s} = %v, want 3", label, got)
			}
			if n := strings.Count(e.log.String(), "message refused"); n != 1 {
				t.Errorf("logged %d times, want once:\n%s", n, e.log.String())
			}
			if sums, err := e.st.Summaries(); err != nil || len(sums) != 0 {
				t.Errorf("something was stored: %v, %v", sums, err)
			}
		})
	}
}

// Many concurrent senders, each message sent twice: every message is stored
// once and the counters add up exactly.
func TestSubmitConcurrent(t *testing.T) {
	for _, maxBatch := range []int{1, 7, 0} {
		t.Run(fmt.Sprintf("maxbatch=%d", maxBatch), func(t *testing.T) {
			e := newEnv(t, maxBatch)
			const devices, perDevice, senders = 10, 30, 40
			type msg struct {
				dev     string
				payload []byte
			}
			var msgs []msg
			for d := range devices {
				dev := fmt.Sprintf("dev-%02d", d)
				for q := range perDevice {
					kind, body := wire.ChanHealth, any(healthBody())
					if q%3 == 0 {
						kind, body = wire.ChanNet, &wire.Net{WiFi: &wire.WiFi{Interface: "wlan0", SignalDBm: ptr(-60.0)}}
					}
					msgs = append(msgs, msg{dev, payload(t, dev, uint64(q+1), kind, body)})
				}
			}
			work := make(chan msg)
			var wg sync.WaitGroup
			errs := make(chan error, senders)
			for range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for m := range work {
						kind := wire.ChanHealth
						if bytes.Contains(m.payload, []byte(`"kind":"net"`)) {
							kind = wire.ChanNet
						}
						if err := e.ing.Submit(context.Background(), m.dev, topics.Device(m.dev, kind), m.payload); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			for range 2 {
				for _, m := range msgs {
					work <- m
				}
			}
			close(work)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			stored := testutil.ToFloat64(e.ing.m.messages.WithLabelValues("health")) + testutil.ToFloat64(e.ing.m.messages.WithLabelValues("net"))
			if stored != devices*perDevice {
				t.Errorf("stored %v, want %d", stored, devices*perDevice)
			}
			if got := testutil.ToFloat64(e.ing.m.duplicates); got != devices*perDevice {
				t.Errorf("duplicates %v, want %d", got, devices*perDevice)
			}
			if n := testutil.CollectAndCount(e.reg, "valise_ingest_batch_size"); n != 1 {
				t.Errorf("batch size histogram series: %d", n)
			}
			sums, err := e.st.Summaries()
			if err != nil {
				t.Fatal(err)
			}
			if len(sums) != devices {
				t.Errorf("%d devices in summaries, want %d", len(sums), devices)
			}
		})
	}
}

func TestClose(t *testing.T) {
	e := newEnv(t, 0)
	if err := e.ing.Close(); err != nil {
		t.Fatal(err)
	}
	err := e.ing.Submit(context.Background(), "dev-a", topics.Device("dev-a", wire.ChanHealth), payload(t, "dev-a", 1, wire.ChanHealth, healthBody()))
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: err = %v, want ErrClosed", err)
	}
	if err := e.ing.SetPresence("dev-a", true, t0); !errors.Is(err, ErrClosed) {
		t.Errorf("SetPresence after Close: err = %v, want ErrClosed", err)
	}
}

// A store failure reaches the caller as an error that is no wire
// rejection, so that the broker withholds the PUBACK.
func TestStoreFailure(t *testing.T) {
	e := newEnv(t, 0)
	e.st.Close()
	err := e.ing.Submit(context.Background(), "dev-a", topics.Device("dev-a", wire.ChanHealth), payload(t, "dev-a", 1, wire.ChanHealth, healthBody()))
	if err == nil || wire.Reason(err) != "other" {
		t.Errorf("Submit on a closed store: err = %v (reason %s), want a store error", err, wire.Reason(err))
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no store", Config{}, "Store"},
		{"negative batch", Config{Store: new(store.Store), MaxBatch: -1}, "MaxBatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: err = %v, want ErrConfig naming %s", err, tt.want)
			}
		})
	}
}

func TestFigures(t *testing.T) {
	tests := []struct {
		name string
		body any
		want []store.Figure
	}{
		{"health", healthBody(), []store.Figure{
			{Metric: apitype.MetricBatteryHealth, Value: 62.5}, {Metric: apitype.MetricBatteryCharge, Value: 45},
			{Metric: apitype.MetricDiskWear, Value: 7}, {Metric: apitype.MetricStorageFree, Value: 25},
		}},
		{"charge without health", &wire.Health{Batteries: []wire.Battery{{Name: "BAT0"}, {Name: "BAT1", ChargePercent: ptr(30.0)}}},
			[]store.Figure{{Metric: apitype.MetricBatteryCharge, Value: 30}}},
		{"desktop", &wire.Health{UptimeSeconds: 9}, nil},
		{"net wifi and default route", &wire.Net{
			DefaultRoute: "wlan0",
			Interfaces:   []wire.Interface{{Name: "eth0", RxBytes: 5}, {Name: "wlan0", RxBytes: 1000, TxBytes: 24}},
			WiFi:         &wire.WiFi{Interface: "wlan0", SignalDBm: ptr(-67.0)},
		}, []store.Figure{{Metric: apitype.MetricWiFiSignal, Value: -67}, {Metric: apitype.MetricDataUsed, Value: 1024}}},
		{"net cellular without listed route", &wire.Net{
			DefaultRoute: "wwan0",
			Cellular: []wire.Cellular{
				{Modem: "0", RxBytes: 100, TxBytes: 20},
				{Modem: "1", SignalPercent: ptr(70.0), RSRP: ptr(-95.0), RxBytes: 1},
			},
		}, []store.Figure{{Metric: apitype.MetricCellSignal, Value: 70}, {Metric: apitype.MetricCellRSRP, Value: -95}, {Metric: apitype.MetricDataUsed, Value: 121}}},
		{"event", &wire.Event{Type: wire.EventAgentStarted}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Figures(tt.body)); diff != "" {
				t.Errorf("Figures (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubmitAsync(t *testing.T) {
	e := newEnv(t, 0)
	topic := topics.Device("dev-a", wire.ChanHealth)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	done := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		wg.Done()
	}
	const n = 100
	for round := range 2 { // the second round is all duplicates
		for q := range n {
			wg.Add(1)
			if err := e.ing.SubmitAsync("dev-a", topic, payload(t, "dev-a", uint64(q+1), wire.ChanHealth, healthBody()), done); err != nil {
				t.Fatalf("round %d seq %d: %v", round, q+1, err)
			}
		}
	}
	called := false
	err := e.ing.SubmitAsync("dev-a", topic, []byte("garbage"), func(error) { called = true })
	if !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("garbage: err = %v, want ErrMalformed", err)
	}
	wg.Wait()
	if called {
		t.Error("done called for a refused message")
	}
	if diff := cmp.Diff(make([]error, 2*n), errs); diff != "" {
		t.Errorf("callback errors (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(e.ing.m.messages.WithLabelValues("health")); got != n {
		t.Errorf("stored %v, want %d", got, n)
	}
	if got := testutil.ToFloat64(e.ing.m.duplicates); got != n {
		t.Errorf("duplicates %v, want %d", got, n)
	}
	e.ing.Close()
	if err := e.ing.SubmitAsync("dev-a", topic, payload(t, "dev-a", 999, wire.ChanHealth, healthBody()), func(error) { called = true }); !errors.Is(err, ErrClosed) || called {
		t.Errorf("after Close: err = %v, called = %v; want ErrClosed, not called", err, called)
	}
}
