//go:build !linux

package collect

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	gnet "github.com/shirou/gopsutil/v4/net"

	"github.com/valise-numerique/valise/internal/wire"
)

// On other systems than Linux (and Android), the portable collectors use
// gopsutil and the others report ErrUnsupported.

func unsupported(what string) error {
	return fmt.Errorf("%s on %s: %w", what, runtime.GOOS, ErrUnsupported)
}

func (c *Collector) readOS(ctx context.Context) wire.OS {
	o := wire.OS{Arch: runtime.GOARCH}
	if hi, err := host.InfoWithContext(ctx); err == nil {
		o.Name, o.Version, o.Kernel = hi.Platform, hi.PlatformVersion, hi.KernelVersion
	}
	return o
}

func collectOS(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	inv.OS = c.os
	inv.Hostname, _ = os.Hostname()
	return nil
}

func collectCPU(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	infos, err := cpu.InfoWithContext(ctx)
	if err != nil || len(infos) == 0 {
		return fmt.Errorf("read cpu info: %w", err)
	}
	inv.CPU.Model, inv.CPU.Vendor = infos[0].ModelName, infos[0].VendorID
	inv.CPU.Cores, _ = cpu.CountsWithContext(ctx, false)
	inv.CPU.Threads, _ = cpu.CountsWithContext(ctx, true)
	return nil
}

func collectMemoryInventory(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return fmt.Errorf("read memory: %w", err)
	}
	inv.Memory.TotalBytes = vm.Total
	return nil
}

func collectMemoryUsage(ctx context.Context, c *Collector, h *wire.Health) error {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return fmt.Errorf("read memory: %w", err)
	}
	h.Memory = &wire.MemoryUsage{TotalBytes: vm.Total, AvailableBytes: vm.Available, UsedPercent: round1(vm.UsedPercent)}
	if sw, err := mem.SwapMemoryWithContext(ctx); err == nil {
		h.Memory.SwapTotalBytes, h.Memory.SwapUsedBytes = sw.Total, sw.Used
	}
	return nil
}

func collectFilesystems(ctx context.Context, c *Collector, h *wire.Health) error {
	parts, err := disk.PartitionsWithContext(ctx, false)
	if err != nil {
		return fmt.Errorf("list filesystems: %w", err)
	}
	for _, p := range parts {
		u, err := disk.UsageWithContext(ctx, p.Mountpoint)
		if err != nil || u.Total == 0 {
			continue
		}
		h.Filesystems = append(h.Filesystems, wire.Filesystem{
			Mountpoint: p.Mountpoint, Device: p.Device, FSType: p.Fstype,
			TotalBytes: u.Total, FreeBytes: u.Free, UsedPercent: round1(u.UsedPercent),
		})
	}
	return nil
}

func collectLoad(ctx context.Context, c *Collector, h *wire.Health) error {
	l, err := load.AvgWithContext(ctx)
	if err != nil {
		return unsupported("load average")
	}
	h.Load = &wire.Load{Load1: l.Load1, Load5: l.Load5, Load15: l.Load15}
	return nil
}

func collectUptime(ctx context.Context, c *Collector, h *wire.Health) error {
	up, err := host.UptimeWithContext(ctx)
	if err != nil {
		return fmt.Errorf("read uptime: %w", err)
	}
	h.UptimeSeconds = up
	return nil
}

func collectInterfaces(ctx context.Context, c *Collector, n *wire.Net) error {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("list network interfaces: %w", err)
	}
	counters := map[string]gnet.IOCountersStat{}
	if cs, err := gnet.IOCountersWithContext(ctx, true); err == nil {
		for _, s := range cs {
			counters[s.Name] = s
		}
	}
	for _, i := range ifs {
		it := wire.Interface{Name: i.Name, Kind: wire.IfOther, MAC: i.HardwareAddr.String(), Up: i.Flags&net.FlagUp != 0}
		if i.Flags&net.FlagLoopback != 0 {
			it.Kind = wire.IfLoopback
		}
		if as, err := i.Addrs(); err == nil {
			for _, a := range as {
				it.Addresses = append(it.Addresses, a.String())
			}
		}
		it.RxBytes, it.TxBytes = counters[i.Name].BytesRecv, counters[i.Name].BytesSent
		n.Interfaces = append(n.Interfaces, it)
	}
	return nil
}

func (c *Collector) interfaceAddrs(context.Context) (map[string][]string, error) {
	return nil, unsupported("interface addresses")
}

func (c *Collector) listDisks(context.Context) ([]wire.Disk, error) {
	return nil, unsupported("disk list")
}

// inventoryRun holds what the collectors of one Inventory share; nothing
// off Linux.
type inventoryRun struct{}

func withInventoryRun(ctx context.Context) (context.Context, *inventoryRun) {
	return ctx, &inventoryRun{}
}

func (*inventoryRun) release() {}

func collectProduct(context.Context, *Collector, *wire.Inventory) error {
	return unsupported("SMBIOS system")
}
func collectChassis(context.Context, *Collector, *wire.Inventory) error {
	return unsupported("SMBIOS chassis")
}
func collectBaseboard(context.Context, *Collector, *wire.Inventory) error {
	return unsupported("SMBIOS baseboard")
}
func collectBIOS(context.Context, *Collector, *wire.Inventory) error {
	return unsupported("SMBIOS BIOS")
}
func collectDisks(context.Context, *Collector, *wire.Inventory) error {
	return unsupported("disk inventory")
}
func collectNICs(context.Context, *Collector, *wire.Inventory) error {
	return unsupported("NIC inventory")
}
func collectGPUs(context.Context, *Collector, *wire.Inventory) error {
	return unsupported("GPU inventory")
}
func collectBatteryInfo(context.Context, *Collector, *wire.Inventory) error {
	return unsupported("batteries")
}
func collectBatteries(context.Context, *Collector, *wire.Health) error {
	return unsupported("batteries")
}
func collectTemperatures(context.Context, *Collector, *wire.Health) error {
	return unsupported("temperatures")
}
func collectRoute(context.Context, *Collector, *wire.Net) error { return unsupported("default route") }
func collectWiFi(context.Context, *Collector, *wire.Net) error  { return unsupported("Wi-Fi") }
