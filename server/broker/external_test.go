package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/ingest"
	"github.com/valise-numerique/valise/server/store"
)

// startExternal runs an External consumer on m with its own registry, and
// stops it at the end of the test unless stopped before.
func startExternal(t *testing.T, m *mosquitto, ing *ingest.Ingester) (*External, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	e, err := NewExternal(ExternalConfig{
		URL: "tcp://" + m.addr, ClientID: "valise-server", Sink: ing, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, reg
}

func TestExternalPersistentSession(t *testing.T) {
	m := startMosquitto(t, 0)
	st, err := store.Open(filepath.Join(t.TempDir(), "valise.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ingReg := prometheus.NewRegistry()
	ing, err := ingest.New(ingest.Config{Store: st, Registerer: ingReg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ing.Close() })
	points := func() int {
		pts, err := st.History("dev-01", apitype.MetricDataUsed, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(pts)
	}

	e, reg := startExternal(t, m, ing)
	eventually(t, "the connected gauge", func() bool { return counter(t, reg, "valise_mqtt_external_connected") == 1 })
	dev, err := connect(t, clientOpts(m.addr, "dev-01", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	cmds := make(chan string, 1)
	if tok := dev.Subscribe(topics.Device("dev-01", wire.ChanCmd), 1, func(_ paho.Client, msg paho.Message) { cmds <- string(msg.Payload()) }); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if err := publish(t, dev, topics.Device("dev-01", wire.ChanNet), netPayload(t, "dev-01", 1)); err != nil {
		t.Fatal(err)
	}
	if tok := dev.Publish(topics.Device("dev-01", wire.ChanPresence), 1, true, "online"); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	eventually(t, "first message stored", func() bool { return points() == 1 })
	eventually(t, "presence", func() bool { s, err := st.Summary("dev-01"); return err == nil && s.Online })
	if err := e.Publish(topics.Device("dev-01", wire.ChanCmd), []byte("cmd-1"), false); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, cmds); got != "cmd-1" {
		t.Errorf("device got %q", got)
	}

	// The consumer goes away; the device keeps publishing, bad input too.
	e.Close()
	const n = 50
	for seq := uint64(2); seq <= n; seq++ {
		if err := publish(t, dev, topics.Device("dev-01", wire.ChanNet), netPayload(t, "dev-01", seq)); err != nil {
			t.Fatal(err)
		}
	}
	if err := publish(t, dev, topics.Device("dev-01", wire.ChanNet), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if err := e.Publish("x", nil, false); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Publish while closed: err = %v, want ErrNotConnected", err)
	}
	if points() != 1 {
		t.Fatalf("%d points stored while the consumer was down", points())
	}

	// Back: the broker delivers what was queued for the session.
	e2, _ := startExternal(t, m, ing)
	eventually(t, "queued messages", func() bool { return points() == n })
	eventually(t, "the garbage refused", func() bool {
		return counter(t, ingReg, "valise_ingest_rejected_total", "reason", "malformed") == 1
	})

	// Everything is acknowledged after its commit, and Close lets the
	// handlers finish: a new session brings nothing again (the marker
	// message comes after any redelivery).
	e2.Close()
	startExternal(t, m, ing)
	if err := publish(t, dev, topics.Device("dev-01", wire.ChanNet), netPayload(t, "dev-01", n+1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the marker", func() bool { return points() == n+1 })
	if d := counter(t, ingReg, "valise_ingest_duplicates_total"); d != 0 {
		t.Errorf("%v messages delivered twice: not acknowledged after commit", d)
	}
	if r := counter(t, ingReg, "valise_ingest_rejected_total"); r != 1 {
		t.Errorf("rejected = %v, want 1 (the refused message must be acknowledged too)", r)
	}
}

func TestExternalConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  ExternalConfig
		want string
	}{
		{"no url", ExternalConfig{ClientID: "s", Sink: &failingSink{}}, "URL"},
		{"no client id", ExternalConfig{URL: "tcp://127.0.0.1:1", Sink: &failingSink{}}, "ClientID"},
		{"no sink", ExternalConfig{URL: "tcp://127.0.0.1:1", ClientID: "s"}, "Sink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewExternal(tt.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewExternal: err = %v, want ErrConfig naming %s", err, tt.want)
			}
		})
	}
}

// A message the Sink could not store is not acknowledged: the broker
// delivers it again to the next session.
func TestExternalNoAckOnStoreFailure(t *testing.T) {
	m := startMosquitto(t, 0)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sink := &failingSink{}
	e, err := NewExternal(ExternalConfig{URL: "tcp://" + m.addr, ClientID: "valise-server", Sink: sink, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	dev, err := connect(t, clientOpts(m.addr, "dev-01", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(t, dev, topics.Device("dev-01", wire.ChanNet), netPayload(t, "dev-01", 1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failed submit", func() bool { return sink.calls() == 1 })
	e.Close()

	st, err := store.Open(filepath.Join(t.TempDir(), "valise.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ing, err := ingest.New(ingest.Config{Store: st, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ing.Close() })
	startExternal(t, m, ing)
	eventually(t, "the redelivery", func() bool {
		_, _, err := st.Latest("dev-01", wire.ChanNet)
		return err == nil
	})
}
