package agent

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/valise-numerique/valise/agent/spool"
	"github.com/valise-numerique/valise/internal/wire"
)

// BenchmarkDrain measures how fast one agent drains its spool to a broker
// on loopback: b.N health reports of about 1 KiB, each removed from the
// spool on its PUBACK (ns/op is the time per message).
func BenchmarkDrain(b *testing.B) {
	br := startBroker(b, "127.0.0.1:0")
	dir := writeState(b, br.addr, newCommandKey(b))
	st, err := LoadState(dir)
	if err != nil {
		b.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(dir, SpoolFile), spool.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	body := wire.Health{Collectors: []wire.CollectorRun{{Name: string(make([]byte, 900))}}}
	now := time.Now()
	for range b.N {
		_, err := sp.Append(wire.ChanHealth, func(seq uint64) ([]byte, error) {
			env, err := wire.NewEnvelope(st.DeviceID, seq, now, wire.ChanHealth, body)
			if err != nil {
				return nil, err
			}
			return wire.Encode(env)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	cfg := testConfig(dir, &testSource{})
	cfg.defaults(st)
	ctx, cancel := context.WithCancel(context.Background())
	p := newPublisher(st, nil, sp, &cfg, func([]byte) {})
	done := make(chan struct{})
	b.ResetTimer()
	go func() { p.run(ctx); close(done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := sp.Stats()
		if err != nil {
			b.Fatal(err)
		}
		if s.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d messages still in the spool after 2 minutes", s.Count)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
}
