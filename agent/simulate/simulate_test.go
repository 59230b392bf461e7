package simulate

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/internal/wire"
)

func identifiers(f wire.Fingerprint) []string {
	ids := append([]string{"uuid:" + f.UUID, "sys:" + f.SystemSerial, "board:" + f.BaseboardSerial}, f.MACs...)
	ids = append(ids, f.DiskSerials...)
	ids = append(ids, f.IMEIs...)
	return slices.DeleteFunc(ids, func(s string) bool { return s == "uuid:" || s == "sys:" || s == "board:" })
}

func TestDevicesAreStableAndDistinct(t *testing.T) {
	ctx := context.Background()
	seen := map[string]string{}
	classes := map[string]int{}
	for _, seed := range []uint64{1, 2} {
		for i := range 60 {
			d := NewDevice(seed, i, "")
			again := NewDevice(seed, i, "")
			if diff := cmp.Diff(d.Inventory(ctx), again.Inventory(ctx)); diff != "" {
				t.Fatalf("device %d/%d differs between two builds (-first +second):\n%s", seed, i, diff)
			}
			if diff := cmp.Diff(d.Health(ctx), again.Health(ctx)); diff != "" {
				t.Fatalf("device %d/%d health differs between two builds:\n%s", seed, i, diff)
			}
			inv := d.Inventory(ctx)
			fp := wire.FingerprintOf(&inv)
			ids := identifiers(fp)
			if len(ids) < 2 {
				t.Errorf("device %d/%d (%s %s) has %d identifiers, want at least 2 for matching: %+v", seed, i, inv.System.Vendor, inv.System.Model, len(ids), fp)
			}
			who := fmt.Sprintf("%d/%d", seed, i)
			for _, id := range ids {
				if other, dup := seen[id]; dup {
					t.Errorf("devices %s and %s share identifier %s", other, who, id)
				}
				seen[id] = who
			}
			if seed == 1 {
				classes[d.Class]++
			}
		}
	}
	want := map[string]int{wire.ClassLaptop: 36, wire.ClassTablet: 12, wire.ClassHotspot: 12}
	if diff := cmp.Diff(want, classes); diff != "" {
		t.Errorf("class mix (-want +got):\n%s", diff)
	}
	if d := NewDevice(1, 7, wire.ClassHotspot); d.Class != wire.ClassHotspot || len(d.Inventory(ctx).Modems) != 1 {
		t.Errorf("hotspot asked, got class %s with modems %v", d.Class, d.Inventory(ctx).Modems)
	}
}

// TestReportsAreValidAndRealistic runs many samples of many devices
// through the wire encoder and decoder, and checks the figures stay in
// realistic ranges.
func TestReportsAreValidAndRealistic(t *testing.T) {
	ctx := context.Background()
	var worn, batteries int
	ops := map[string]bool{}
	for i := range 100 {
		d := NewDevice(3, i, "")
		var lastRx uint64
		for n := range 30 {
			for kind, body := range map[wire.Channel]any{wire.ChanHealth: d.Health(ctx), wire.ChanNet: d.Net(ctx), wire.ChanInventory: d.Inventory(ctx)} {
				env, err := wire.NewEnvelope("dsim00000001", uint64(n+1), time.Now(), kind, body)
				if err != nil {
					t.Fatal(err)
				}
				p, err := wire.Encode(env)
				if err != nil {
					t.Fatalf("device %d %s: %v", i, kind, err)
				}
				if _, err := wire.Decode(p); err != nil {
					t.Fatalf("device %d %s sample %d does not decode: %v", i, kind, n, err)
				}
			}
			h, nt := d.Health(ctx), d.Net(ctx)
			for _, b := range h.Batteries {
				if *b.HealthPercent < 50 || *b.HealthPercent > 100 || *b.ChargePercent < 0 || *b.ChargePercent > 100 {
					t.Fatalf("device %d battery %+v out of range", i, b)
				}
				if n == 0 {
					batteries++
					if *b.HealthPercent < 70 {
						worn++
					}
				}
			}
			for _, c := range nt.Cellular {
				if *c.RSRP < -120 || *c.RSRP > -75 {
					t.Fatalf("device %d RSRP %v out of -120..-75", i, *c.RSRP)
				}
				ops[c.OperatorCode] = true
				if c.RxBytes <= lastRx {
					t.Fatalf("device %d data used did not grow: %d after %d", i, c.RxBytes, lastRx)
				}
				lastRx = c.RxBytes
			}
		}
	}
	if worn == 0 || worn > batteries/2 {
		t.Errorf("%d of %d batteries under 70 %%, want some but not most", worn, batteries)
	}
	if diff := cmp.Diff(map[string]bool{"20801": true, "20810": true, "20815": true, "20820": true}, ops); diff != "" {
		t.Errorf("operators seen (-want +got):\n%s", diff)
	}
}

// enrolServer implements the enrolment contract for one token of a class
// and a number of uses; it matches devices on any shared identifier.
type enrolServer struct {
	class string
	uses  int
	key   ed25519.PublicKey
	mqtt  string
	// provision is another token accepted, once, as a provisioning's.
	provision string

	mu      sync.Mutex
	ids     map[string]string // identifier -> device id
	n       int
	classes []string // inventory class of each request
	reqs    []wire.EnrollRequest
}

func (s *enrolServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req wire.EnrollRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Token != "tok" && (req.Token != s.provision || s.provision == "") {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(apiError("unauthorized", "unknown token"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, req)
	if req.Token == s.provision {
		s.provision = "" // single use
		s.uses++
	}
	if s.uses == 0 {
		w.WriteHeader(http.StatusGone)
		json.NewEncoder(w).Encode(apiError("gone", "enrolment token used up"))
		return
	}
	s.uses--
	s.classes = append(s.classes, req.Inventory.Class)
	ids := identifiers(req.Fingerprint)
	id, known := "", false
	for _, k := range ids {
		if id, known = s.ids[k]; known {
			break
		}
	}
	if !known {
		s.n++
		id = fmt.Sprintf("dsim%08d", s.n)
	}
	for _, k := range ids {
		s.ids[k] = id
	}
	json.NewEncoder(w).Encode(wire.EnrollResponse{
		DeviceID: id, AssetTag: fmt.Sprintf("VAL-%04d", s.n), Class: s.class, Known: known,
		MQTTURL: "tcp://" + s.mqtt, Username: id, Password: "pw",
		CommandKey: base64.StdEncoding.EncodeToString(s.key),
	})
}

func apiError(code, msg string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": msg}}
}

// startBroker runs a mochi broker on loopback and counts the devices
// whose reports it saw.
func startBroker(t *testing.T) (addr string, devices func() map[string]int) {
	t.Helper()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	srv.Subscribe(wire.DefaultPrefix+"/dev/+/health", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		env, err := wire.Decode(pk.Payload)
		if err != nil {
			t.Errorf("bad health on %s: %v", pk.TopicName, err)
			return
		}
		mu.Lock()
		seen[env.Device]++
		mu.Unlock()
	})
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	return l.Address(), func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestRunEnrolsAndReports(t *testing.T) {
	mqttAddr, reported := startBroker(t)
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	es := &enrolServer{class: wire.ClassTablet, uses: 6, key: pub, mqtt: mqttAddr, ids: map[string]string{}}
	hs := httptest.NewServer(es)
	t.Cleanup(hs.Close)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	opts := Options{
		Count: 5, Server: hs.URL, Token: "tok", StateDir: dir, Interval: 10 * time.Millisecond,
		Logger: quiet,
		Agent:  agent.Config{Backoff: agent.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}},
	}
	run := func(o Options, want int) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, o) }()
		before := reported()
		waitFor(t, "health from every simulated device", func() bool {
			now := reported()
			n := 0
			for id, c := range now {
				if c > before[id] {
					n++
				}
			}
			return n >= want
		})
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not stop")
		}
	}

	run(opts, 5)
	es.mu.Lock()
	// Device 0 enrols with the mix (a laptop); the others take the class the
	// server gave it.
	if diff := cmp.Diff([]string{"laptop", "tablet", "tablet", "tablet", "tablet"}, es.classes); diff != "" {
		t.Errorf("inventory classes at enrolment (-want +got):\n%s", diff)
	}
	es.mu.Unlock()
	if got := len(reported()); got != 5 {
		t.Errorf("%d devices reported, want 5", got)
	}

	// Same state dir: no enrolment needed, the same five devices report.
	noToken := opts
	noToken.Server, noToken.Token = "", ""
	run(noToken, 5)
	if got := len(reported()); got != 5 {
		t.Errorf("after a restart %d devices reported, want the same 5", got)
	}

	// A fresh state dir with the same seed: the server recognises device 0.
	var f fleet
	b, err := os.ReadFile(filepath.Join(dir, fleetFile))
	if err != nil || json.Unmarshal(b, &f) != nil || f.Seed == 0 {
		t.Fatalf("simulate.json: %s %v", b, err)
	}
	fresh := opts
	fresh.Count, fresh.StateDir, fresh.Seed = 1, t.TempDir(), f.Seed
	run(fresh, 1)
	st, err := agent.LoadState(DeviceDir(fresh.StateDir, 0))
	if err != nil {
		t.Fatal(err)
	}
	first, err := agent.LoadState(DeviceDir(dir, 0))
	if err != nil {
		t.Fatal(err)
	}
	if st.DeviceID != first.DeviceID {
		t.Errorf("re-enrolled device 0 got id %s, want %s", st.DeviceID, first.DeviceID)
	}

	// Without state and without a token the simulator says what it needs.
	err = Run(context.Background(), Options{Count: 2, StateDir: t.TempDir(), Logger: quiet})
	if !errors.Is(err, ErrNeedEnrolment) {
		t.Errorf("Run without state or token = %v, want ErrNeedEnrolment", err)
	}
}
