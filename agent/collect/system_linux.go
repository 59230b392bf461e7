package collect

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectLoad reads /proc/loadavg.
func collectLoad(ctx context.Context, c *Collector, h *wire.Health) error {
	path := c.path("/proc/loadavg")
	f := strings.Fields(readString(path))
	if len(f) < 3 {
		return fmt.Errorf("read %s: %w", path, ErrNoData)
	}
	var l wire.Load
	var err error
	for i, dst := range []*float64{&l.Load1, &l.Load5, &l.Load15} {
		if *dst, err = strconv.ParseFloat(f[i], 64); err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
	}
	h.Load = &l
	return nil
}

// collectUptime reads /proc/uptime.
func collectUptime(ctx context.Context, c *Collector, h *wire.Health) error {
	path := c.path("/proc/uptime")
	f := strings.Fields(readString(path))
	if len(f) < 1 {
		return fmt.Errorf("read %s: %w", path, ErrNoData)
	}
	up, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	h.UptimeSeconds = uint64(up)
	return nil
}
