package collect

import (
	"context"
	"runtime"
	"strings"

	"github.com/shirou/gopsutil/v4/host"

	"github.com/valise-numerique/valise/internal/wire"
)

// readOS reads the operating system facts once, at New: the name and
// version from /etc/os-release (or /usr/lib/os-release), and the kernel
// release, from gopsutil on the live system (uname). Under Android (Termux)
// the version comes from getprop.
//
// gopsutil's host.Info is not used for the name: its platform is an id
// ("debian", where os-release says "Debian GNU/Linux"), and it runs the live
// machine's lsb_release even when pointed at a recorded root.
func (c *Collector) readOS(ctx context.Context) wire.OS {
	o := wire.OS{Arch: runtime.GOARCH, Kernel: readString(c.path("/proc/sys/kernel/osrelease"))}
	if c.live() {
		if k, err := host.KernelVersionWithContext(ctx); err == nil {
			o.Kernel = k
		}
	}
	rel := readKeyValues(c.path("/etc/os-release"))
	if rel == nil {
		rel = readKeyValues(c.path("/usr/lib/os-release"))
	}
	o.Name = rel["NAME"]
	o.Version = rel["VERSION_ID"]
	if o.Version == "" {
		o.Version = rel["VERSION"]
	}
	if runtime.GOOS == "android" && c.live() {
		o.Name = "Android"
		if out, err := c.exec(ctx, "getprop", "ro.build.version.release"); err == nil {
			o.Version = strings.TrimSpace(string(out))
		}
	}
	return o
}

// collectOS fills the operating system (read at New) and the host name.
func collectOS(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	inv.OS = c.os
	inv.Hostname = readString(c.path("/proc/sys/kernel/hostname"))
	if inv.Hostname == "" {
		inv.Hostname = readString(c.path("/etc/hostname"))
	}
	return nil
}
