package collect

import (
	"context"
	"fmt"

	"github.com/jaypipes/ghw"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectMemoryInventory reports the installed memory: the sum of the
// SMBIOS memory devices when the DMI table is readable (root; ghw does not
// list modules on Linux, see memoryModules), otherwise ghw's physical
// memory (the online memory blocks of /sys/devices/system/memory, or the
// memory the kernel manages, a little less than installed).
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
	info, err := ghw.Memory(c.ghwContext(ctx))
	if err != nil {
		return fmt.Errorf("read memory: %w", err)
	}
	if info.TotalPhysicalBytes <= 0 {
		return fmt.Errorf("read memory: %w", ErrNoData)
	}
	inv.Memory.TotalBytes = uint64(info.TotalPhysicalBytes)
	return nil
}

// collectMemoryUsage reports memory and swap in use, from gopsutil
// (/proc/meminfo under the root, MemAvailable or its estimate on old
// kernels).
func collectMemoryUsage(ctx context.Context, c *Collector, h *wire.Health) error {
	ctx = c.psContext(ctx)
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return fmt.Errorf("read memory usage: %w", err)
	}
	if vm.Total == 0 {
		return fmt.Errorf("read memory usage: %w", ErrNoData)
	}
	avail := min(vm.Available, vm.Total)
	// Swap from meminfo too: gopsutil's SwapMemory asks the running kernel
	// (sysinfo), which a recorded root cannot answer.
	h.Memory = &wire.MemoryUsage{
		TotalBytes:     vm.Total,
		AvailableBytes: avail,
		UsedPercent:    round1(float64(vm.Total-avail) / float64(vm.Total) * 100),
		SwapTotalBytes: vm.SwapTotal,
		SwapUsedBytes:  vm.SwapTotal - min(vm.SwapFree, vm.SwapTotal),
	}
	return nil
}
