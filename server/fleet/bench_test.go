package fleet_test

import (
	"testing"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

// BenchmarkWipeProgress measures acting on one progress event (one write
// transaction with its fsync): the pace at which the event worker keeps
// up with devices wiping at once, each reporting once a second.
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
		ev := progressEvent(b, wire.WipeProgress{Job: jobs[0].ID, Disk: "nvme0n1", Phase: wire.PhaseErasing, DoneBytes: int64(i), TotalBytes: int64(b.N)})
		if err := e.fleet.HandleEvent(a.id, ev); err != nil {
			b.Fatal(err)
		}
	}
}
