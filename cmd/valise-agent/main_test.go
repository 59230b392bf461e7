package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/internal/wire"
)

// TestMain makes the test binary answer as valise-agent when the agent
// under test starts it as its inventory child process.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "inventory" {
		if err := run(context.Background(), os.Args, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"fly"}, "unknown command"},
		{"unknown flag", []string{"run", "--state", "x", "--speed", "9"}, "flag provided but not defined"},
		{"enroll without token", []string{"enroll", "--server", "http://127.0.0.1:1", "--state", "x"}, "token"},
		{"enroll with a bad URL", []string{"enroll", "--server", "127.0.0.1:8080", "--token", "t", "--state", "x"}, "Server"},
		{"enroll with a bad pin", []string{"enroll", "--server", "https://127.0.0.1:1", "--token", "t", "--ca-pin", "md5:00", "--state", "x"}, "CAPin"},
		{"run with an empty state", []string{"run", "--state", ""}, "state"},
		{"bad log level", []string{"run", "--state", "x", "--log-level", "loud"}, "log-level"},
		{"negative interval", []string{"run", "--state", "x", "--interval", "-1s"}, "negative"},
		{"stray argument", []string{"run", "--state", "x", "now"}, "unexpected argument"},
		{"simulate nothing", []string{"simulate", "--count", "0"}, "Count"},
		{"simulate a robot", []string{"simulate", "--count", "2", "--class", "robot"}, "Class"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), append([]string{"valise-agent"}, tc.args...), &out, &errOut)
			if err == nil || cmdmain.ExitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v (exit %d), want a usage error about %q", tc.args, err, cmdmain.ExitCode(err), tc.want)
			}
		})
	}
}

func TestRunNotEnrolled(t *testing.T) {
	err := run(t.Context(), []string{"valise-agent", "run", "--state", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || cmdmain.ExitCode(err) != 1 || !strings.Contains(err.Error(), "enroll first") {
		t.Errorf("run = %v (exit %d), want exit 1 telling to enrol", err, cmdmain.ExitCode(err))
	}
}

// startBroker runs a mochi broker on loopback; the returned func lists the
// payloads seen per topic.
func startBroker(t *testing.T) (*mochi.Server, string, func() map[string][]string) {
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
	seen := map[string][]string{}
	srv.Subscribe(wire.DefaultPrefix+"/#", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		mu.Lock()
		seen[pk.TopicName] = append(seen[pk.TopicName], string(pk.Payload))
		mu.Unlock()
	})
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	return srv, l.Address(), func() map[string][]string {
		mu.Lock()
		defer mu.Unlock()
		out := map[string][]string{}
		for k, v := range seen {
			out[k] = append([]string(nil), v...)
		}
		return out
	}
}

// enrolServer answers enrolments as the server's contract says, giving
// device ids in order.
func enrolServer(t *testing.T, mqttAddr string) *httptest.Server {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req wire.EnrollRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Token != "tok" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":{"code":"unauthorized","message":"unknown enrolment token"}}`))
			return
		}
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		id := "dcmd" + strings.Repeat("0", 7) + string(rune('0'+k))
		json.NewEncoder(w).Encode(wire.EnrollResponse{
			DeviceID: id, AssetTag: "VAL-004" + string(rune('0'+k)), Class: wire.ClassLaptop,
			MQTTURL: "tcp://" + mqttAddr, Username: id, Password: "pw",
			CommandKey: base64.StdEncoding.EncodeToString(pub),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
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

// runUntil runs the command in the background until cond holds, then
// stops it as a signal would and returns its error.
func runUntil(t *testing.T, args []string, what string, cond func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"valise-agent"}, args...), io.Discard, io.Discard) }()
	waitFor(t, what, func() bool {
		select {
		case err := <-done:
			t.Fatalf("%v stopped early: %v", args, err)
		default:
		}
		return cond()
	})
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%v did not stop", args)
		return nil
	}
}

func TestEnrollRunStop(t *testing.T) {
	broker, addr, seen := startBroker(t)
	api := enrolServer(t, addr)
	state := t.TempDir()

	var out bytes.Buffer
	err := run(t.Context(), []string{"valise-agent", "enroll", "--server", api.URL, "--token", "nope", "--state", state}, &out, io.Discard)
	if err == nil || cmdmain.ExitCode(err) != 1 || !strings.Contains(err.Error(), "unknown enrolment token") {
		t.Fatalf("enroll with a bad token = %v, want the server's message", err)
	}
	err = run(t.Context(), []string{"valise-agent", "enroll", "--server", api.URL, "--token", "tok", "--state", state}, &out, io.Discard)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if !strings.Contains(out.String(), "VAL-0041") || !strings.Contains(out.String(), "dcmd00000001") {
		t.Errorf("enroll printed %q, want the asset tag and device id", out.String())
	}

	topics := wire.Topics{}
	health := topics.Device("dcmd00000001", wire.ChanHealth)
	err = runUntil(t, []string{"run", "--state", state, "--interval", "20ms", "--log-level", "error"}, "two health reports",
		func() bool { return len(seen()[health]) >= 2 })
	if err != nil {
		t.Fatalf("run stopped with %v, want a clean stop", err)
	}
	env, err := wire.Decode([]byte(seen()[health][0]))
	if err != nil || env.Device != "dcmd00000001" {
		t.Errorf("health report: %+v %v", env, err)
	}
	// The inventory comes from the child process.
	invs := seen()[topics.Device("dcmd00000001", wire.ChanInventory)]
	if len(invs) != 1 {
		t.Fatalf("%d inventories sent, want 1", len(invs))
	}
	env, body, err := wire.DecodeFull([]byte(invs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if inv := body.(*wire.Inventory); inv.OS.Kernel == "" || env.Seq != 2 {
		t.Errorf("inventory seq %d with kernel %q, want seq 2 and this machine's kernel", env.Seq, inv.OS.Kernel)
	}
	var presence string
	for _, pk := range broker.Topics.Messages(topics.Device("dcmd00000001", wire.ChanPresence)) {
		presence = string(pk.Payload)
	}
	if presence != wire.PresenceOffline {
		t.Errorf("retained presence after stop = %q, want offline", presence)
	}
}

func TestSimulate(t *testing.T) {
	_, addr, seen := startBroker(t)
	api := enrolServer(t, addr)
	args := []string{"simulate", "--count", "3", "--server", api.URL, "--token", "tok", "--interval", "20ms",
		"--state", t.TempDir(), "--log-level", "error"}
	err := runUntil(t, args, "health from three devices", func() bool {
		n := 0
		for topic := range seen() {
			if strings.HasSuffix(topic, "/health") {
				n++
			}
		}
		return n == 3
	})
	if err != nil {
		t.Fatalf("simulate stopped with %v, want a clean stop", err)
	}
}
