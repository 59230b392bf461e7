package collect

import (
	"context"
	"fmt"
	"strings"

	"github.com/jaypipes/ghw"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectCPU reads the processors through ghw: the topology of
// /sys/devices/system/cpu (sockets, cores, threads) and the model and
// vendor of /proc/cpuinfo (x86 "model name", MIPS "cpu model", ARM
// "Processor" or the device tree's SoC).
func collectCPU(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	info, err := ghw.CPU(c.ghwContext(ctx))
	if err != nil {
		return fmt.Errorf("read cpu: %w", err)
	}
	if len(info.Processors) == 0 {
		return fmt.Errorf("read cpu: %w", ErrNoData)
	}
	p := info.Processors[0]
	inv.CPU = wire.CPU{
		Model:   ghwString(p.Model),
		Vendor:  cpuVendor(ghwString(p.Vendor)),
		Sockets: len(info.Processors),
		Cores:   int(info.TotalCores),
		Threads: int(info.TotalHardwareThreads),
	}
	return nil
}

// cpuVendor drops what ghw takes for a vendor on architectures without
// vendor_id: the "isa" line of RISC-V, which MIPS also has ("mips1 mips2
// mips32r1"). Vendor ids have no blanks (GenuineIntel, AuthenticAMD, ARM).
func cpuVendor(v string) string {
	if strings.ContainsRune(v, ' ') || strings.HasPrefix(v, "rv32") || strings.HasPrefix(v, "rv64") {
		return ""
	}
	return v
}
