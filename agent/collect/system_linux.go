package collect

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectLoad reads the load averages through gopsutil (/proc/loadavg
// under the root).
func collectLoad(ctx context.Context, c *Collector, h *wire.Health) error {
	if !c.live() && !exists(c.path("/proc/loadavg")) {
		// gopsutil would fall back to asking the running kernel
		// (sysinfo), which is not the recorded device.
		return fmt.Errorf("read load: %w", ErrNoData)
	}
	l, err := load.AvgWithContext(c.psContext(ctx))
	if err != nil {
		return fmt.Errorf("read load: %w", err)
	}
	h.Load = &wire.Load{Load1: l.Load1, Load5: l.Load5, Load15: l.Load15}
	return nil
}

// collectUptime asks the kernel through gopsutil (sysinfo); a recorded root
// has its /proc/uptime read instead.
func collectUptime(ctx context.Context, c *Collector, h *wire.Health) error {
	if c.live() {
		up, err := host.UptimeWithContext(ctx)
		if err != nil {
			return fmt.Errorf("read uptime: %w", err)
		}
		h.UptimeSeconds = up
		return nil
	}
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
