package fleet_test

import (
	"testing"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

// BenchmarkWipeProgress measures acting on one progress event, each in a
// new phase so that it is written (one write transaction with its fsync):
// the worst case of the event worker, which otherwise keeps progress in
// memory and writes it every progressEvery.
func BenchmarkWipeProgress(b *testing.B) {
	e, _ := newWipeEnv(b)
	a := newAgent(b, "0a01", "S4EVNF0M1")
	_, secret, err := e.fleet.CreateEnrollToken(technician, fleet.TokenSpec{Class: "laptop"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.enrolAgent(b, a, secret, ""); err != nil {
		b.Fatal(err)
	}
	jobs, err := e.fleet.RequestWipes(technician, fleet.WipeSpec{Devices: []string{a.id}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		phase := wire.PhaseErasing
		if i%2 == 1 {
			phase = wire.PhaseVerifying
		}
		ev := progressEvent(b, wire.WipeProgress{Job: jobs[0].ID, Disk: "nvme0n1", Phase: phase, DoneBytes: int64(i), TotalBytes: int64(b.N)})
		if err := e.fleet.HandleEvent(a.id, ev); err != nil {
			b.Fatal(err)
		}
	}
}
