package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/agent/simulate"
	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server"
)

// quiet discards the logs of the servers and agents of these tests.
var quiet = slog.New(slog.DiscardHandler)

// startServer starts a server with cfg, filling in free loopback ports and
// the quiet logger, and returns it with a function that stops it and checks
// the shutdown; the test's cleanup stops it too if the test did not.
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
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-served:
		cancel()
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("server not ready")
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
		case err := <-served:
			if err != nil {
				t.Errorf("server.Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	}
	t.Cleanup(stop)
	return srv, stop
}

// eventually polls cond every 20 ms, at most 10 s, and fails with what
// when it never holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not after 10 s", what)
}

// TestAgentEndToEnd runs the real agent code against the real server in
// one process: enrolment over HTTP, reports through the embedded broker,
// ingest and bbolt, read back through the API; a collect_now command
// travels back; a re-enrolment with a fresh state keeps the device; the
// agent's clean stop shows it offline.
func TestAgentEndToEnd(t *testing.T) {
	dir := t.TempDir()
	srv, stopServer := startServer(t, server.Config{DataDir: filepath.Join(dir, "server")})
	ctx := context.Background()
	base := "http://" + srv.HTTPAddr()
	api := adminClient(t, filepath.Join(dir, "server"), base)
	tok, err := api.CreateEnrollToken(ctx, apitype.EnrollTokenRequest{Class: wire.ClassLaptop, Uses: 2})
	if err != nil {
		t.Fatal(err)
	}

	dev := simulate.NewDevice(7, 0, wire.ClassLaptop)
	state := filepath.Join(dir, "agent")
	en, err := agent.Enroll(ctx, agent.EnrollOptions{Server: base, Token: tok.Token, StateDir: state, Source: dev, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAgent := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() {
		ran <- agent.Run(actx, agent.Config{StateDir: state, Source: dev, Interval: time.Hour, Logger: quiet})
	}()
	agentStopped := false
	defer func() {
		if !agentStopped {
			stopAgent()
			<-ran
		}
	}()

	var d apitype.DeviceDetail
	eventually(t, "inventory, health and net through the API", func() bool {
		d, err = api.Device(ctx, en.AssetTag)
		return err == nil && d.Online && d.Inventory != nil && d.Health != nil && d.Net != nil
	})
	if d.ID != en.DeviceID || d.Class != wire.ClassLaptop || d.Serial == "" || d.Vendor == "" {
		t.Errorf("device = %+v", d.Device)
	}
	before := d.Reported[string(wire.ChanHealth)]

	if err := api.CollectNow(ctx, en.AssetTag); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a fresh health report after collect_now", func() bool {
		d, err = api.Device(ctx, en.AssetTag)
		return err == nil && d.Reported[string(wire.ChanHealth)].After(before)
	})

	// The same hardware enrolled into a fresh state directory is the
	// same device.
	again, err := agent.Enroll(ctx, agent.EnrollOptions{Server: base, Token: tok.Token, StateDir: filepath.Join(dir, "agent2"), Source: dev, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if again.DeviceID != en.DeviceID || again.AssetTag != en.AssetTag || !again.Known {
		t.Errorf("re-enrolment = %s %s known=%v, want %s %s", again.DeviceID, again.AssetTag, again.Known, en.DeviceID, en.AssetTag)
	}

	stopAgent()
	agentStopped = true
	if err := <-ran; err != nil {
		t.Errorf("agent.Run: %v", err)
	}
	eventually(t, "offline after the agent stopped", func() bool {
		d, err = api.Device(ctx, en.AssetTag)
		return err == nil && !d.Online
	})

	stopServer()
}

func readAdminToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

// adminClient is an API client of the server at base, with the admin
// token the server wrote into dataDir.
func adminClient(t *testing.T, dataDir, base string, opts ...apiclient.Option) *apiclient.Client {
	t.Helper()
	token, err := readAdminToken(filepath.Join(dataDir, server.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	api, err := apiclient.New(base, token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return api
}
