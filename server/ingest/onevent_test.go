package ingest

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/store"
)

// TestOnEvent checks that stored events reach OnEvent once each, in
// order, duplicates left out, other channels never, and that Close
// delivers what is still queued.
func TestOnEvent(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "valise.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var mu sync.Mutex
	var got []string
	release := make(chan struct{})
	ing, err := New(Config{
		Store: st, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return t0 },
		OnEvent: func(device string, ev wire.Event) {
			<-release // a slow consumer holds up no commit
			mu.Lock()
			got = append(got, device+" "+ev.Type+" "+string(ev.Data))
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	topics := wire.Topics{}
	publish := func(dev string, seq uint64, ch wire.Channel, body any) {
		t.Helper()
		env, err := wire.NewEnvelope(dev, seq, t0, ch, body)
		if err != nil {
			t.Fatal(err)
		}
		payload, err := wire.Encode(env)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ing.Submit(ctx, dev, topics.Device(dev, ch), payload); err != nil {
			t.Fatalf("submit %s %d: %v", dev, seq, err)
		}
	}
	data := func(job string) json.RawMessage { b, _ := json.Marshal(wire.WipeResult{Job: job}); return b }
	publish("dev-a", 1, wire.ChanEvent, wire.Event{Type: wire.EventWipeProgress, Data: data("w1")})
	publish("dev-a", 2, wire.ChanHealth, healthBody())
	publish("dev-a", 3, wire.ChanEvent, wire.Event{Type: wire.EventWipeResult, Data: data("w1")})
	publish("dev-a", 3, wire.ChanEvent, wire.Event{Type: wire.EventWipeResult, Data: data("w1")}) // redelivery
	publish("dev-b", 1, wire.ChanEvent, wire.Event{Type: wire.EventProvisionResult, Data: data("p1")})
	close(release)
	if err := ing.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`dev-a wipe_progress {"job":"w1","ok":false}`,
		`dev-a wipe_result {"job":"w1","ok":false}`,
		`dev-b provision_result {"job":"p1","ok":false}`,
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if p, err := st.PendingEvents(); err != nil || len(p) != 0 {
		t.Errorf("pending events after Close: %v %v", p, err)
	}
}

// TestOnEventAfterCrash: an event committed by a server that died before
// acting on it is handed to OnEvent when the next ingester starts, and
// forgotten once handled.
func TestOnEventAfterCrash(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "valise.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	body, _ := json.Marshal(wire.Event{Type: wire.EventWipeResult, OK: true})
	// What the committer of the dead server wrote, and nothing more.
	if _, err := st.CommitReports([]store.Report{{Device: "dev-a", Seq: 7, Kind: wire.ChanEvent, At: t0, Received: t0, Body: body, Pending: true}}, nil); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	ing, err := New(Config{Store: st, Logger: slog.New(slog.DiscardHandler), OnEvent: func(device string, ev wire.Event) { got <- device + " " + ev.Type }})
	if err != nil {
		t.Fatal(err)
	}
	if err := ing.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "dev-a wipe_result" {
			t.Errorf("OnEvent(%s)", s)
		}
	default:
		t.Fatal("the pending event was not handed to OnEvent")
	}
	if p, err := st.PendingEvents(); err != nil || len(p) != 0 {
		t.Errorf("pending after handling: %v %v", p, err)
	}
}
