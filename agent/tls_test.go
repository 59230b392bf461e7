package agent

import (
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/valise-numerique/valise/internal/wire"
)

// TestMQTTOverTLSTrustsTheKeptCA runs the agent against a broker speaking
// TLS with a certificate of the server's own CA: the agent connects with
// the CA kept at enrolment as its only root, and not without it.
func TestMQTTOverTLSTrustsTheKeptCA(t *testing.T) {
	ca := newTestCA(t, "127.0.0.1")
	other := newTestCA(t, "127.0.0.1")
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tls", Address: "127.0.0.1:0", TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{ca.Leaf.Raw}, PrivateKey: ca.LeafKey}},
		MinVersion:   tls.VersionTLS12,
	}})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	online := func(device string) bool {
		for _, pk := range srv.Topics.Messages((wire.Topics{}).Device(device, wire.ChanPresence)) {
			return string(pk.Payload) == wire.PresenceOnline
		}
		return false
	}

	tests := []struct {
		name    string
		caPEM   []byte // kept in the state dir; nil for none
		connect bool
	}{
		{"the server's CA kept", caPEM(ca.CA), true},
		{"another CA kept", caPEM(other.CA), false},
		{"no CA kept: system roots", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeState(t, "127.0.0.1:1", newCommandKey(t))
			st, err := LoadState(dir)
			if err != nil {
				t.Fatal(err)
			}
			st.MQTTURL = "ssl://" + l.Address()
			if err := SaveState(dir, st); err != nil {
				t.Fatal(err)
			}
			if tc.caPEM != nil {
				if err := os.WriteFile(filepath.Join(dir, CAFile), tc.caPEM, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			conns := make(chan bool, 8)
			cfg := testConfig(dir, &testSource{})
			cfg.OnConnection = func(up bool) { conns <- up }
			cfg.Backoff = Backoff{Min: 50 * time.Millisecond, Max: 50 * time.Millisecond}
			logs := &syncBuffer{}
			cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
			stop := startAgent(t, cfg)
			if tc.connect {
				waitFor(t, "online presence over TLS", func() bool { return online(testDevice) })
			} else {
				waitFor(t, "two refused connections", func() bool {
					return strings.Count(logs.String(), "mqtt connect failed") >= 2
				})
				if len(conns) > 0 {
					t.Errorf("the agent connected through a broker its roots do not trust")
				}
				if !strings.Contains(logs.String(), "certificate") {
					t.Errorf("the log does not say why: %s", logs.String())
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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
