package collect

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectCPU reads /proc/cpuinfo: the model (x86 "model name", MIPS "cpu
// model", older ARM "Processor"), and counts sockets (distinct physical
// ids), cores (distinct physical id + core id) and threads (processors).
// Without topology lines (ARM, MIPS) every processor counts as a core.
func collectCPU(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	path := c.path("/proc/cpuinfo")
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read cpu info: %w", err)
	}
	defer f.Close()
	var (
		cpu            wire.CPU
		phys, core     string
		sockets, cores = map[string]bool{}, map[string]bool{}
		flush          = func() {
			if phys != "" || core != "" {
				sockets[phys] = true
				cores[phys+"/"+core] = true
			}
			phys, core = "", ""
		}
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20) // "flags" lines are long
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			flush()
			cpu.Threads++
		case "model name", "cpu model", "Processor":
			if cpu.Model == "" {
				cpu.Model = v
			}
		case "vendor_id":
			if cpu.Vendor == "" {
				cpu.Vendor = v
			}
		case "Hardware": // ARM boards
			if cpu.Model == "" {
				cpu.Model = v
			}
		case "physical id":
			phys = v
		case "core id":
			core = v
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	flush()
	cpu.Sockets, cpu.Cores = len(sockets), len(cores)
	if cpu.Cores == 0 {
		cpu.Sockets, cpu.Cores = 1, cpu.Threads
	}
	inv.CPU = cpu
	if cpu.Threads == 0 {
		return fmt.Errorf("read %s: %w", path, ErrNoData)
	}
	return nil
}
