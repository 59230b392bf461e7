package collect

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// readMeminfo returns the fields of /proc/meminfo in bytes.
func (c *Collector) readMeminfo() (map[string]uint64, error) {
	path := c.path("/proc/meminfo")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read memory info: %w", err)
	}
	defer f.Close()
	m := make(map[string]uint64, 64)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n *= 1024
		}
		m[k] = n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if m["MemTotal"] == 0 {
		return nil, fmt.Errorf("read %s: %w", path, ErrNoData)
	}
	return m, nil
}

// collectMemoryInventory reports the installed memory: the sum of the
// SMBIOS memory devices when the DMI table is readable (root), otherwise
// the memory the kernel manages (MemTotal, a little less than installed).
func collectMemoryInventory(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	modules, dmiErr := c.memoryModules()
	if dmiErr != nil {
		// Root-only, or absent on ARM boards: not an error of the inventory.
		c.log.Debug("memory modules unknown", "error", dmiErr)
	}
	inv.Memory.Modules = modules
	var sum uint64
	for _, m := range modules {
		sum += m.SizeBytes
	}
	if sum > 0 {
		inv.Memory.TotalBytes = sum
		return nil
	}
	mi, err := c.readMeminfo()
	if err != nil {
		return err
	}
	inv.Memory.TotalBytes = mi["MemTotal"]
	return nil
}

// collectMemoryUsage reports memory and swap in use.
func collectMemoryUsage(ctx context.Context, c *Collector, h *wire.Health) error {
	mi, err := c.readMeminfo()
	if err != nil {
		return err
	}
	total := mi["MemTotal"]
	avail, ok := mi["MemAvailable"]
	if !ok { // kernels before 3.14
		avail = mi["MemFree"] + mi["Buffers"] + mi["Cached"]
	}
	avail = min(avail, total)
	h.Memory = &wire.MemoryUsage{
		TotalBytes:     total,
		AvailableBytes: avail,
		UsedPercent:    round1(float64(total-avail) / float64(total) * 100),
		SwapTotalBytes: mi["SwapTotal"],
		SwapUsedBytes:  mi["SwapTotal"] - min(mi["SwapFree"], mi["SwapTotal"]),
	}
	return nil
}
