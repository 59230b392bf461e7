package collect

import (
	"context"
	"runtime"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// readOS reads the operating system facts once, at New: /etc/os-release (or
// /usr/lib/os-release) and the kernel release. Under Android (Termux) the
// version comes from getprop.
func (c *Collector) readOS(ctx context.Context) wire.OS {
	o := wire.OS{Arch: runtime.GOARCH, Kernel: readString(c.path("/proc/sys/kernel/osrelease"))}
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
