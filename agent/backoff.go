package agent

import (
	"math/rand/v2"
	"time"
)

// Backoff computes reconnection delays: capped exponential with full
// jitter, so that a hundred agents cut off by the same broker restart do
// not all come back in the same second.
type Backoff struct {
	// Min is the ceiling of the first delay; each failure doubles it.
	Min time.Duration
	// Max caps the ceiling.
	Max time.Duration
	// Rand returns a number in [0, 1). Nil means math/rand/v2.Float64.
	Rand func() float64
}

// Delay returns the delay before attempt n (0 for the first retry): a
// uniformly random duration in [0, min(Max, Min·2ⁿ)).
func (b Backoff) Delay(n int) time.Duration {
	ceil := b.Min
	for i := 0; i < n && ceil < b.Max; i++ {
		ceil *= 2
	}
	if ceil > b.Max {
		ceil = b.Max
	}
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	return time.Duration(r() * float64(ceil))
}
