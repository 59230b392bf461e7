package main

// The CLI's tests run against the real server: the API handler of
// server/api over a real bbolt store in t.TempDir(), fed by the real ingest
// with recorded-style reports from testdata/fleet. Only the clock and the
// random source are fixed, so that ids, tokens and relative times, hence
// the golden files, do not change from run to run.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/api"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/ingest"
	"github.com/valise-numerique/valise/server/store"
)

// clock is the server's clock, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// recorder is the API's publisher: it keeps what would go to the broker.
type recorder struct {
	mu   sync.Mutex
	msgs []message
}

type message struct {
	topic   string
	payload []byte
}

func (r *recorder) Publish(topic string, payload []byte, retain bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, message{topic, bytes.Clone(payload)})
	return nil
}

func (r *recorder) sent() []message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]message(nil), r.msgs...)
}

// testServer is a real Valise API on a loopback port.
type testServer struct {
	URL    string
	admin  string // the admin API token
	fleet  *fleet.Fleet
	ingest *ingest.Ingester
	clock  *clock
	pub    *recorder
	key    ed25519.PublicKey
	seq    map[string]uint64 // next envelope seq by device

	mu        sync.Mutex
	eventErrs []error // what the fleet said of the devices' events
}

// publicURL is where agents reach the server, as join commands say.
const publicURL = "https://valise.example.org"

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "valise.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: testNow}
	quiet := slog.New(slog.DiscardHandler)
	f, err := fleet.New(fleet.Config{Store: st, Dedupe: st, Telemetry: st, Now: clk.Now, Logger: quiet, ServerKey: serverKey,
		Rand: rand.NewChaCha8([32]byte{'v', 'a', 'l', 'i', 's', 'e'})})
	if err != nil {
		t.Fatal(err)
	}
	var admin string
	if _, err := f.BootstrapAdmin(func(s string) error { admin = s; return nil }); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	a, err := api.New(api.Config{
		Fleet: f, Telemetry: st, Health: st, Publisher: rec, CommandKey: serverKey, Provisioner: testProvisioner{},
		PublicURL: publicURL, MQTTURL: "tcp://valise.example.org:1883", Now: clk.Now, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{admin: admin, fleet: f, clock: clk, pub: rec, key: serverKey.Public().(ed25519.PublicKey), seq: map[string]uint64{}}
	ts.ingest, err = ingest.New(ingest.Config{Store: st, Now: clk.Now, Logger: quiet, OnEvent: ts.handleEvent})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.ingest.Close() })
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	ts.URL = srv.URL
	return ts
}

// handleEvent gives the fleet a device's event, as the server does, and
// keeps the errors for the test to check.
func (s *testServer) handleEvent(device string, ev wire.Event) {
	if err := s.fleet.HandleEvent(device, ev); err != nil {
		s.mu.Lock()
		s.eventErrs = append(s.eventErrs, fmt.Errorf("%s %s: %w", device, ev.Type, err))
		s.mu.Unlock()
	}
}

// testProvisioner knows one profile per class, laptop-linux and so on, and
// renders a bundle that holds just the enrolment token and job.
type testProvisioner struct{}

func (testProvisioner) CheckProfile(name, class string) error {
	if !strings.HasPrefix(name, class+"-") {
		return fmt.Errorf("%w: no profile %q for a %s", fleet.ErrNotFound, name, class)
	}
	return nil
}

func (testProvisioner) Bundle(profile string, in api.BundleInput) (json.RawMessage, error) {
	return json.Marshal(map[string]string{"profile": profile, "token": in.EnrollToken, "job": in.ProvisionJob})
}

// fixture reads testdata/fleet/name.
func fixture[T any](t *testing.T, name string) *T {
	t.Helper()
	v := new(T)
	b, err := os.ReadFile(filepath.Join("testdata", "fleet", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// enroll creates a token with the CLI and enrols a device with it over
// HTTP, as an agent does, at time at; it returns the device id.
func (s *testServer) enroll(t *testing.T, class, inventory string, at time.Time) string {
	t.Helper()
	return s.enrollInventory(t, class, fixture[wire.Inventory](t, inventory), at)
}

// enrollInventory is enroll with an inventory in hand.
func (s *testServer) enrollInventory(t *testing.T, class string, inv *wire.Inventory, at time.Time) string {
	t.Helper()
	s.clock.Set(at)
	r := runCLI(t, s.URL, s.admin, "enroll-token", "create", "--class", class, "--json")
	if r.code != 0 {
		t.Fatalf("enroll-token create: exit %d: %s", r.code, r.stderr)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || tok.Token == "" {
		t.Fatalf("enroll-token create --json printed %q: %v", r.stdout, err)
	}
	return s.enrollWith(t, wire.EnrollRequest{Token: tok.Token, Fingerprint: wire.FingerprintOf(inv), Inventory: *inv, AgentVersion: "test"})
}

// enrollWith posts an enrolment as an agent does, with the device key of
// the tests, and returns the device id.
func (s *testServer) enrollWith(t *testing.T, req wire.EnrollRequest) string {
	t.Helper()
	req.DeviceKey = base64.StdEncoding.EncodeToString(deviceKey.Public().(ed25519.PublicKey))
	body, _ := json.Marshal(req)
	resp, err := http.Post(s.URL+wire.EnrollPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("enrol %s: %d %s", req.Inventory.System.Model, resp.StatusCode, answer)
	}
	var er wire.EnrollResponse
	if err := json.Unmarshal(answer, &er); err != nil {
		t.Fatal(err)
	}
	return er.DeviceID
}

// report publishes one envelope of the device through the real ingest, as
// the broker does, received at at.
func (s *testServer) report(t *testing.T, device string, kind wire.Channel, body any, at time.Time) {
	t.Helper()
	s.clock.Set(at)
	s.seq[device]++
	env, err := wire.NewEnvelope(device, s.seq[device], at, kind, body)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := wire.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ingest.Submit(context.Background(), device, wire.Topics{}.Device(device, kind), payload); err != nil {
		t.Fatalf("ingest %s %s: %v", device, kind, err)
	}
}

// presence records a device connecting or leaving at at.
func (s *testServer) presence(t *testing.T, device string, online bool, at time.Time) {
	t.Helper()
	if err := s.ingest.SetPresence(device, online, at); err != nil {
		t.Fatal(err)
	}
}

// fleetIDs are the devices of seedFleet.
type fleetIDs struct {
	t480, elitebook, hotspot, tablet string
}

// seedFleet enrols four devices and gives them a few days of reports:
//
//	VAL-0001 ThinkPad T480, worn battery, online, reported 2 min ago
//	VAL-0002 EliteBook 840 G5, fullish disk, offline since 3 days
//	VAL-0003 Huawei E5576 hotspot, online, cellular only
//	VAL-0004 Samsung tablet, enrolled yesterday, never reported
//
// and sets the server's clock back to testNow.
func seedFleet(t *testing.T, s *testServer) fleetIDs {
	t.Helper()
	day := 24 * time.Hour
	ids := fleetIDs{
		t480:      s.enroll(t, "laptop", "t480.inventory.json", testNow.Add(-20*day)),
		elitebook: s.enroll(t, "laptop", "elitebook.inventory.json", testNow.Add(-19*day)),
		hotspot:   s.enroll(t, "hotspot", "e5576.inventory.json", testNow.Add(-5*day)),
		tablet:    s.enroll(t, "tablet", "tab.inventory.json", testNow.Add(-day)),
	}

	health, net := fixture[wire.Health](t, "t480.health.json"), fixture[wire.Net](t, "t480.net.json")
	s.presence(t, ids.t480, true, testNow.Add(-3*day))
	s.report(t, ids.t480, wire.ChanInventory, fixture[wire.Inventory](t, "t480.inventory.json"), testNow.Add(-3*day))
	// A sample every 3 hours for 3 days: the battery wears, the charge
	// goes down and up, the Wi-Fi signal wanders.
	for i := 24; i >= 0; i-- {
		at := testNow.Add(-time.Duration(i)*3*time.Hour - 2*time.Minute)
		h := *health
		b := h.Batteries[0]
		hp, charge := 64.2+float64(i)*0.05, float64(40+(i*7)%60)
		b.HealthPercent, b.ChargePercent = &hp, &charge
		h.Batteries = []wire.Battery{b}
		s.report(t, ids.t480, wire.ChanHealth, &h, at)
		n := *net
		w := *n.WiFi
		signal := float64(-58 - (i*5)%17)
		w.SignalDBm = &signal
		n.WiFi = &w
		s.report(t, ids.t480, wire.ChanNet, &n, at)
	}

	s.presence(t, ids.elitebook, true, testNow.Add(-4*day))
	s.report(t, ids.elitebook, wire.ChanInventory, fixture[wire.Inventory](t, "elitebook.inventory.json"), testNow.Add(-4*day))
	s.report(t, ids.elitebook, wire.ChanHealth, fixture[wire.Health](t, "elitebook.health.json"), testNow.Add(-3*day-5*time.Hour))
	s.presence(t, ids.elitebook, false, testNow.Add(-3*day-5*time.Hour))

	s.presence(t, ids.hotspot, true, testNow.Add(-2*time.Hour))
	s.report(t, ids.hotspot, wire.ChanInventory, fixture[wire.Inventory](t, "e5576.inventory.json"), testNow.Add(-2*time.Hour))
	s.report(t, ids.hotspot, wire.ChanNet, fixture[wire.Net](t, "e5576.net.json"), testNow.Add(-40*time.Second))

	s.clock.Set(testNow)
	return ids
}
