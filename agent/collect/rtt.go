package collect

import (
	"context"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// rttTimeout bounds the broker round-trip probe.
const rttTimeout = 5 * time.Second

// collectBrokerRTT measures the time of a TCP connect to the broker: one
// round trip (SYN, SYN-ACK), without TLS or MQTT on top.
func collectBrokerRTT(ctx context.Context, c *Collector, n *wire.Net) error {
	if c.brokerAddr == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, rttTimeout)
	defer cancel()
	var d net.Dialer
	start := c.now()
	conn, err := d.DialContext(ctx, "tcp", c.brokerAddr)
	if err != nil {
		return fmt.Errorf("probe broker %s: %w", c.brokerAddr, err)
	}
	rtt := c.now().Sub(start)
	conn.Close()
	n.BrokerRTTMillis = ptr(math.Round(float64(rtt.Microseconds())/10) / 100)
	return nil
}
