package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/store"
)

// BenchmarkSubmit measures validation, figures and group commit (with
// fsync) without MQTT: 100 devices, each with one message in flight.
func BenchmarkSubmit(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "valise.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ing, err := New(Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	defer ing.Close()
	const devices = 100
	payloads := make([][][]byte, devices)
	for d := range payloads {
		dev := fmt.Sprintf("dev-%03d", d)
		for q := range b.N/devices + 1 {
			payloads[d] = append(payloads[d], payload(b, dev, uint64(q+1), wire.ChanHealth, healthBody()))
		}
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := fmt.Sprintf("dev-%03d", d)
			topic := topics.Device(dev, wire.ChanHealth)
			for q := d; q < b.N; q += devices {
				if err := ing.Submit(context.Background(), dev, topic, payloads[d][q/devices]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}
