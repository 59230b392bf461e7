package simulate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// eventBroker is a mochi broker on loopback that records the events of
// every device and lets the test send commands.
type eventBroker struct {
	srv  *mochi.Server
	addr string
	mu   sync.Mutex
	evs  map[string][]wire.Event // device -> events, in arrival order
}

func startEventBroker(t *testing.T) *eventBroker {
	t.Helper()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	b := &eventBroker{srv: srv, addr: l.Address(), evs: map[string][]wire.Event{}}
	srv.Subscribe(wire.DefaultPrefix+"/dev/+/event", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		env, err := wire.Decode(pk.Payload)
		if err != nil {
			t.Errorf("bad event on %s: %v", pk.TopicName, err)
			return
		}
		var ev wire.Event
		if err := json.Unmarshal(env.Body, &ev); err != nil {
			t.Errorf("bad event body: %v", err)
			return
		}
		b.mu.Lock()
		b.evs[env.Device] = append(b.evs[env.Device], ev)
		b.mu.Unlock()
	})
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	return b
}

// event returns the first event of device of type typ, if any.
func (b *eventBroker) event(device, typ string) (wire.Event, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range b.evs[device] {
		if ev.Type == typ {
			return ev, true
		}
	}
	return wire.Event{}, false
}

func (b *eventBroker) online(device string) bool {
	for _, pk := range b.srv.Topics.Messages((wire.Topics{}).Device(device, wire.ChanPresence)) {
		return string(pk.Payload) == wire.PresenceOnline
	}
	return false
}

func (b *eventBroker) send(t *testing.T, key ed25519.PrivateKey, device, id, typ string, args any) {
	t.Helper()
	raw, _ := json.Marshal(args)
	now := time.Now()
	p, err := wire.SignCommand(key, wire.Command{ID: id, Device: device, Type: typ, Nonce: "n-" + id, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Args: raw})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Publish((wire.Topics{}).Device(device, wire.ChanCmd), p, false, 1); err != nil {
		t.Fatal(err)
	}
}

// TestSimulatedWipeAndProvision runs the cycle on simulated devices: a
// laptop's disk image really erased and verified, a hotspot reset with new
// credentials, the laptop provisioned and enrolled again.
func TestSimulatedWipeAndProvision(t *testing.T) {
	b := startEventBroker(t)
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	es := &enrolServer{class: wire.ClassHotspot, uses: 2, key: pub, mqtt: b.addr, ids: map[string]string{}, provision: "prov-tok"}
	hs := httptest.NewServer(es)
	t.Cleanup(hs.Close)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Count: 2, Server: hs.URL, Token: "tok", StateDir: dir, Interval: time.Hour, DiskBytes: 2 << 20,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Agent:  agent.Config{Backoff: agent.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}},
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not stop")
		}
	})
	laptop, hotspot := "dsim00000001", "dsim00000002"
	waitFor(t, "both devices online", func() bool { return b.online(laptop) && b.online(hotspot) })
	laptopDir, hotspotDir := DeviceDir(dir, 0), DeviceDir(dir, 1)
	disk := filepath.Join(laptopDir, DiskFile)
	before, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 2<<20 || bytes.Count(before, []byte{0}) > len(before)/100 {
		t.Fatalf("disk image of %d bytes, %d zeros: want 2 MiB of pseudo-random data", len(before), bytes.Count(before, []byte{0}))
	}
	hsBefore, err := loadHotspot(filepath.Join(hotspotDir, HotspotFile))
	if err != nil || hsBefore.SMSDevice == 0 {
		t.Fatalf("hotspot settings %+v, %v: want SMS to delete", hsBefore, err)
	}

	for _, dev := range []string{laptop, hotspot} {
		b.send(t, key, dev, "wipe-"+dev, wire.CmdWipe, wire.WipeArgs{Job: "job-" + dev, Operator: "tech-1", Destination: "reuse"})
	}
	certOf := func(dev, dir string) certificate.Certificate {
		t.Helper()
		var ev wire.Event
		waitFor(t, "the wipe result of "+dev, func() (ok bool) { ev, ok = b.event(dev, wire.EventWipeResult); return ok })
		var res wire.WipeResult
		if err := json.Unmarshal(ev.Data, &res); err != nil {
			t.Fatal(err)
		}
		if !res.OK || !ev.OK {
			t.Fatalf("%s wipe result = %+v (%s)", dev, res, ev.Message)
		}
		var f certificate.File
		if err := json.Unmarshal(res.Certificate, &f); err != nil {
			t.Fatal(err)
		}
		canon, _ := f.Marshal()
		devKey, err := agent.LoadDeviceKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := certificate.Verify(canon, certificate.VerifyOptions{Unsigned: true, DeviceKey: devKey.Public().(ed25519.PublicKey)})
		if err != nil {
			t.Fatalf("%s certificate: %v", dev, err)
		}
		return c
	}

	c := certOf(laptop, laptopDir)
	after, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || bytes.Count(after, []byte{0}) != len(after) {
		t.Errorf("the disk image does not read back as zeros")
	}
	m := c.Media[0]
	st, _ := agent.LoadState(laptopDir)
	d := deviceOf(t, es, laptop)
	if m.Method != wire.MethodOverwrite || m.Category != certificate.CategoryClear || m.Verification.Method != wire.VerifyFull ||
		m.Verification.BytesChecked != 2<<20 || m.Serial == "" || !slices.Contains(d.DiskSerials, m.Serial) || c.Asset.DeviceID != st.DeviceID {
		t.Errorf("laptop medium = %+v (device disks %v)", m, d.DiskSerials)
	}

	c = certOf(hotspot, hotspotDir)
	m = c.Media[0]
	if m.Method != wire.MethodHotspotReset || m.Category != certificate.CategoryNone || m.Verification.Result != "passed" || c.Asset.IMEI == "" {
		t.Errorf("hotspot certificate = %+v", c)
	}
	hsAfter, err := loadHotspot(filepath.Join(hotspotDir, HotspotFile))
	if err != nil {
		t.Fatal(err)
	}
	if hsAfter.SMSDevice+hsAfter.SMSSIM != 0 || hsAfter.SSID == hsBefore.SSID || hsAfter.WiFiKey == hsBefore.WiFiKey || hsAfter.AdminPassword == hsBefore.AdminPassword {
		t.Errorf("hotspot after reset = %+v, before %+v", hsAfter, hsBefore)
	}

	// Provision the laptop: it enrols again with the bundle's token.
	bundle := `{"profile":"laptop-linux","agent_config":{"interval":"2h0m0s","inventory_interval":"1h0m0s"},
		"enroll":{"server":"` + hs.URL + `","token":"prov-tok","provision_job":"prov-1"},
		"files":[{"path":"/etc/valise/kiosk.url","mode":"0644","content":"https://www.service-public.fr\n"}]}`
	b.send(t, key, laptop, "prov-cmd", wire.CmdProvision, wire.ProvisionArgs{Job: "prov-1", Profile: "laptop-linux", Bundle: json.RawMessage(bundle)})
	var ev wire.Event
	waitFor(t, "the provisioning result", func() (ok bool) { ev, ok = b.event(laptop, wire.EventProvisionResult); return ok })
	if !ev.OK {
		t.Fatalf("provisioning failed: %s", ev.Message)
	}
	es.mu.Lock()
	last := es.reqs[len(es.reqs)-1]
	es.mu.Unlock()
	if last.ProvisionJob != "prov-1" || last.Token != "prov-tok" {
		t.Errorf("last enrolment: token %q job %q", last.Token, last.ProvisionJob)
	}
	if got, err := os.ReadFile(filepath.Join(laptopDir, agent.ProvisionedDir, "etc/valise/kiosk.url")); err != nil || !strings.Contains(string(got), "service-public") {
		t.Errorf("provisioned file: %q, %v", got, err)
	}
	if st, _ := agent.LoadState(laptopDir); time.Duration(st.Config.Interval) != 2*time.Hour || st.DeviceID != laptop {
		t.Errorf("state after provisioning: %+v", st)
	}
}

// deviceOf returns the fingerprint device enrolled with.
func deviceOf(t *testing.T, es *enrolServer, device string) wire.Fingerprint {
	t.Helper()
	es.mu.Lock()
	defer es.mu.Unlock()
	for _, r := range es.reqs {
		if es.ids[identifiers(r.Fingerprint)[0]] == device {
			return r.Fingerprint
		}
	}
	t.Fatalf("no enrolment of %s", device)
	return wire.Fingerprint{}
}

func TestSimulatedWiperTargets(t *testing.T) {
	tests := []struct {
		name    string
		class   string
		disks   func(d *Device) []string
		wantErr bool
	}{
		{"laptop, all disks", wire.ClassLaptop, func(*Device) []string { return nil }, false},
		{"laptop, its disk", wire.ClassLaptop, func(d *Device) []string { return []string{"/dev/" + d.inv.Disks[0].Name} }, false},
		{"laptop, another disk", wire.ClassLaptop, func(*Device) []string { return []string{"/dev/sdz"} }, true},
		{"hotspot, its settings", wire.ClassHotspot, func(*Device) []string { return nil }, false},
		{"hotspot, a disk", wire.ClassHotspot, func(*Device) []string { return []string{"sda"} }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDevice(7, 0, tc.class)
			w := d.Wiper(t.TempDir())
			if w == nil {
				t.Fatalf("no wiper for a %s", tc.class)
			}
			got, err := w.Targets(t.Context(), tc.disks(d))
			if tc.wantErr {
				if !errors.Is(err, agent.ErrBadArgs) {
					t.Errorf("Targets = %v, %v; want ErrBadArgs, which the agent reports as bad command args", got, err)
				}
				return
			}
			if err != nil || len(got) != 1 {
				t.Errorf("Targets = %v, %v; want one target", got, err)
			}
		})
	}
}
