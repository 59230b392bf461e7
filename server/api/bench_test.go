package api_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/api"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// BenchmarkListDevices measures GET /api/v1/devices over a fleet of 5,000
// enrolled devices that all reported, through the real handler and store.
func BenchmarkListDevices(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "valise.db"), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	f, err := fleet.New(fleet.Config{Store: st, Dedupe: st})
	if err != nil {
		b.Fatal(err)
	}
	var admin string
	if _, err := f.BootstrapAdmin(func(s string) error { admin = s; return nil }); err != nil {
		b.Fatal(err)
	}
	_, tok, err := f.CreateEnrollToken(fleet.Principal{Name: "bench", Role: fleet.RoleAdmin}, fleet.TokenSpec{Class: wire.ClassLaptop, Uses: 10000})
	if err != nil {
		b.Fatal(err)
	}
	const n = 5000
	now := time.Now()
	var reports []store.Report
	for i := range n {
		inv := thinkpad(fmt.Sprintf("PF%06d", i))
		en, err := f.Enroll(wire.EnrollRequest{Token: tok, Inventory: inv})
		if err != nil {
			b.Fatal(err)
		}
		body, _ := json.Marshal(wire.Health{Batteries: []wire.Battery{{Name: "BAT0", HealthPercent: f64(80), ChargePercent: f64(50)}}})
		reports = append(reports, store.Report{Device: en.Device.ID, Seq: 1, Kind: wire.ChanHealth, At: now, Received: now, Body: body,
			Figures: []store.Figure{{Metric: apitype.MetricBatteryHealth, Value: 80}}})
	}
	if _, err := st.CommitReports(reports, nil); err != nil {
		b.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	a, err := api.New(api.Config{Fleet: f, Telemetry: st, Health: st, CommandKey: key,
		PublicURL: "http://127.0.0.1:8080", MQTTURL: "tcp://127.0.0.1:1883"})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/v1/devices", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
