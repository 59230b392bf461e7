package agent

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/valise-numerique/valise/agent/spool"
	"github.com/valise-numerique/valise/internal/wire"
)

// DefaultQueueTimeout is how long QueueEvent waits for a spool file held
// by a running agent.
const DefaultQueueTimeout = 5 * time.Second

// QueueEvent appends ev to the spool of stateDir, for a process other than
// the running agent: the maintenance-mode wipe command queues its result
// this way, and `valise-agent run` sends it once the network is back. It
// opens the spool only for the append. While an agent runs on stateDir it
// holds the spool: QueueEvent then waits up to timeout (zero means
// DefaultQueueTimeout) and fails with spool.ErrLocked, and the caller
// should say to stop the agent first. now stamps the event; nil means
// time.Now.
func QueueEvent(stateDir string, ev wire.Event, timeout time.Duration, now func() time.Time) (seq uint64, err error) {
	st, err := LoadState(stateDir)
	if err != nil {
		return 0, err
	}
	if timeout == 0 {
		timeout = DefaultQueueTimeout
	}
	if now == nil {
		now = time.Now
	}
	if ev.At.IsZero() {
		ev.At = now().UTC()
	}
	sp, err := spool.Open(filepath.Join(stateDir, SpoolFile), spool.Options{Timeout: timeout, Now: now})
	if err != nil {
		return 0, fmt.Errorf("queue %s event: %w", ev.Type, err)
	}
	seq, err = sp.Append(wire.ChanEvent, func(seq uint64) ([]byte, error) {
		env, err := wire.NewEnvelope(st.DeviceID, seq, now(), wire.ChanEvent, ev)
		if err != nil {
			return nil, err
		}
		return wire.Encode(env)
	})
	if cerr := sp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("queue %s event: %w", ev.Type, err)
	}
	return seq, nil
}
