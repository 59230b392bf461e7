package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server"
)

// quiet discards the servers' logs; run with -v and change it to see them.
var quiet = slog.New(slog.DiscardHandler)

// wait bounds every wait of these tests.
const wait = 10 * time.Second

// startServer starts a server with cfg, filling in free loopback ports
// (the embedded broker's only when no external one is named) and the quiet
// logger, and returns it with a function that stops it and checks the
// shutdown; the test's cleanup stops it too if the test did not.
func startServer(t *testing.T, cfg server.Config) (*server.Server, func()) {
	t.Helper()
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.MQTTAddr == "" && cfg.MQTTURL == "" {
		cfg.MQTTAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(wait):
		cancel()
		t.Fatal("server not ready in time")
	}
	stopped := false
	stop := func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel: %v", err)
			}
		case <-time.After(wait):
			t.Error("server did not shut down in time")
		}
	}
	t.Cleanup(stop)
	return s, stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestRunFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, _ := startServer(t, server.Config{DataDir: dir})
	base := "http://" + s.HTTPAddr()

	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	for _, name := range []string{server.AdminTokenFile, server.CommandKeyFile, server.MQTTPasswordFile, server.StoreFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", name, fi.Mode().Perm(), err)
		}
	}
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz = %d %q", code, body)
	}
	code, body := get(t, base+"/metrics")
	for _, want := range []string{"valise_http_requests_total", "valise_ingest_batch_size", "valise_mqtt_connected_agents", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics (%d) lack %s", code, want)
		}
	}
	token := readToken(t, dir)
	c, err := apiclient.New(base, token)
	if err != nil {
		t.Fatal(err)
	}
	devs, err := c.Devices(context.Background(), apiclient.DeviceFilter{})
	if err != nil || len(devs) != 0 {
		t.Errorf("Devices = %v, %v; want an empty fleet", devs, err)
	}
}

func TestRestartKeepsSecrets(t *testing.T) {
	dir := t.TempDir()
	read := func() (string, string) {
		tok, err := os.ReadFile(filepath.Join(dir, server.AdminTokenFile))
		if err != nil {
			t.Fatal(err)
		}
		key, err := os.ReadFile(filepath.Join(dir, server.CommandKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		return string(tok), string(key)
	}
	_, stop := startServer(t, server.Config{DataDir: dir})
	stop()
	tok1, key1 := read()
	s, _ := startServer(t, server.Config{DataDir: dir})
	tok2, key2 := read()
	if tok1 != tok2 || key1 != key2 {
		t.Error("a restart changed the admin token or the command key")
	}
	c, err := apiclient.New("http://"+s.HTTPAddr(), strings.TrimSpace(tok2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Devices(context.Background(), apiclient.DeviceFilter{}); err != nil {
		t.Errorf("the admin token does not work after a restart: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"bad http addr", server.Config{HTTPAddr: "8080"}, "HTTPAddr"},
		{"bad mqtt addr", server.Config{MQTTAddr: "localhost"}, "MQTTAddr"},
		{"bad mqtt url", server.Config{MQTTURL: "http://broker:1883"}, "MQTTURL"},
		{"bad public url", server.Config{PublicURL: "valise.example"}, "PublicURL"},
		{"wildcard prefix", server.Config{TopicPrefix: "valise/#"}, "TopicPrefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := server.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func readToken(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, server.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func f64(v float64) *float64 { return &v }

// fixtureInventory is a laptop as the agent's inventory collector reports
// it.
func fixtureInventory() wire.Inventory {
	return wire.Inventory{
		Class:     wire.ClassLaptop,
		Hostname:  "kit07-t480",
		OS:        wire.OS{Name: "Debian GNU/Linux", Version: "13", Kernel: "6.12.48-1", Arch: "amd64"},
		System:    wire.System{Vendor: "LENOVO", Model: "20L5CTO1WW", Serial: "PF1ABCDE", UUID: "4C4C4544-0042-3510-8056-B4C04F4B4D32"},
		Chassis:   wire.Chassis{Type: "10", Description: "Notebook"},
		Baseboard: wire.Baseboard{Vendor: "LENOVO", Product: "20L5CTO1WW", Serial: "L1HF8AB01X"},
		CPU:       wire.CPU{Model: "Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz", Cores: 4, Threads: 8},
		Memory:    wire.Memory{TotalBytes: 16 << 30},
		Disks:     []wire.Disk{{Name: "nvme0n1", Model: "SAMSUNG MZVLB256HAHQ", Serial: "S4EWNX0R123456", SizeBytes: 256060514304, Type: wire.DiskNVMe, Bus: "nvme"}},
		NICs: []wire.NIC{
			{Name: "enp0s31f6", MAC: "8c:16:45:aa:bb:cc", PermanentMAC: "8c:16:45:aa:bb:cc", Bus: "pci"},
			{Name: "wlp3s0", MAC: "a4:34:d9:11:22:33", PermanentMAC: "a4:34:d9:11:22:33", Wireless: true, Bus: "pci"},
		},
		Batteries: []wire.BatteryInfo{{Name: "BAT0", Manufacturer: "SMP", Model: "01AV422", DesignCapacityWh: 24.05}},
	}
}

// TestEndToEnd enrols a device over HTTP, has it report through the
// embedded broker with paho, and reads it back through the API; then asks
// it for a fresh report and checks the signed command it receives.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	s, _ := startServer(t, server.Config{DataDir: dir})
	base := "http://" + s.HTTPAddr()
	ctx := context.Background()
	c, err := apiclient.New(base, readToken(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.CreateEnrollToken(ctx, apitype.EnrollTokenRequest{Class: wire.ClassLaptop})
	if err != nil {
		t.Fatal(err)
	}
	if want := "valise-agent enroll --server " + base + " --token " + tok.Token; tok.Join != want {
		t.Errorf("join = %q, want %q", tok.Join, want)
	}

	inv := fixtureInventory()
	body, err := json.Marshal(wire.EnrollRequest{Token: tok.Token, Fingerprint: wire.FingerprintOf(&inv), Inventory: inv, AgentVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+wire.EnrollPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var en wire.EnrollResponse
	err = json.NewDecoder(resp.Body).Decode(&en)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("enrol: %d %v", resp.StatusCode, err)
	}
	if want := "tcp://" + s.MQTTAddr(); en.MQTTURL != want {
		t.Errorf("mqtt url = %s, want %s", en.MQTTURL, want)
	}

	// The agent's side: paho with the returned credentials.
	cmds := make(chan []byte, 4)
	opts := paho.NewClientOptions().AddBroker(en.MQTTURL).SetClientID(en.DeviceID).
		SetUsername(en.Username).SetPassword(en.Password).SetCleanSession(false).SetProtocolVersion(4).
		SetConnectTimeout(wait).SetAutoReconnect(false).
		SetWill(wire.Topics{Prefix: en.TopicPrefix}.Device(en.DeviceID, wire.ChanPresence), wire.PresenceOffline, 1, true)
	cl := paho.NewClient(opts)
	if tk := cl.Connect(); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("connect: %v", tk.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	topics := wire.Topics{Prefix: en.TopicPrefix}
	if tk := cl.Subscribe(topics.Device(en.DeviceID, wire.ChanCmd), 1, func(_ paho.Client, m paho.Message) { cmds <- m.Payload() }); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("subscribe: %v", tk.Error())
	}
	now := time.Now().UTC().Truncate(time.Second)
	reports := []struct {
		kind wire.Channel
		body any
	}{
		{wire.ChanInventory, inv},
		{wire.ChanHealth, wire.Health{Batteries: []wire.Battery{{Name: "BAT0", Status: "Discharging", ChargePercent: f64(81), HealthPercent: f64(66.5)}}, UptimeSeconds: 3600}},
		{wire.ChanNet, wire.Net{DefaultRoute: "wlp3s0", WiFi: &wire.WiFi{Interface: "wlp3s0", SSID: "MairieWiFi", SignalDBm: f64(-58)}}},
	}
	for i, r := range reports {
		env, err := wire.NewEnvelope(en.DeviceID, uint64(i+1), now, r.kind, r.body)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := wire.Encode(env)
		if err != nil {
			t.Fatal(err)
		}
		if tk := cl.Publish(topics.Device(en.DeviceID, r.kind), 1, false, payload); !tk.WaitTimeout(wait) || tk.Error() != nil {
			t.Fatalf("publish %s: %v", r.kind, tk.Error())
		}
	}
	if tk := cl.Publish(topics.Device(en.DeviceID, wire.ChanPresence), 1, true, wire.PresenceOnline); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("publish presence: %v", tk.Error())
	}

	// A PUBACK means stored: the API shows it at once.
	devs, err := c.Devices(ctx, apiclient.DeviceFilter{Online: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].ID != en.DeviceID || !devs[0].Online || devs[0].LastSeen == nil ||
		devs[0].BatteryHealth == nil || *devs[0].BatteryHealth != 66.5 || devs[0].Serial != "PF1ABCDE" {
		t.Fatalf("online devices = %+v", devs)
	}
	d, err := c.Device(ctx, en.AssetTag)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&inv, d.Inventory); diff != "" {
		t.Errorf("inventory through the API (-sent +got):\n%s", diff)
	}
	if d.Health == nil || *d.Health.Batteries[0].ChargePercent != 81 || d.Net == nil || d.Net.WiFi.SSID != "MairieWiFi" {
		t.Errorf("health or net missing: %+v %+v", d.Health, d.Net)
	}
	if len(d.History[apitype.MetricBatteryHealth]) != 1 {
		t.Errorf("history = %v", d.History)
	}

	// collect_now reaches the agent, signed by the key it got at enrolment.
	if err := c.CollectNow(ctx, en.AssetTag); err != nil {
		t.Fatal(err)
	}
	select {
	case payload := <-cmds:
		key, err := base64.StdEncoding.DecodeString(en.CommandKey)
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := wire.VerifyCommand(ed25519.PublicKey(key), payload, en.DeviceID, time.Now())
		if err != nil || cmd.Type != wire.CmdCollectNow {
			t.Errorf("command = %+v, %v", cmd, err)
		}
	case <-time.After(wait):
		t.Fatal("no command arrived")
	}
}
