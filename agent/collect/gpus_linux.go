package collect

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectGPUs lists the PCI display controllers (class 0x03xxxx), with
// their names from pci.ids. A machine without PCI (ARM boards) has none.
func collectGPUs(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	dir := c.path("/sys/bus/pci/devices")
	var ids []pciID
	for _, addr := range listDir(dir) {
		p := filepath.Join(dir, addr)
		if !strings.HasPrefix(readString(p+"/class"), "0x03") {
			continue
		}
		ids = append(ids, pciID{hexID(readString(p + "/vendor")), hexID(readString(p + "/device"))})
		inv.GPUs = append(inv.GPUs, wire.GPU{
			Address: addr,
			Driver:  firstNonEmpty(readKeyValues(p + "/uevent")["DRIVER"], linkBase(p+"/driver")),
		})
	}
	vendors, devices := c.pciNames(ids)
	for i, id := range ids {
		inv.GPUs[i].Vendor = vendors[id.vendor]
		inv.GPUs[i].Product = devices[id]
	}
	return nil
}
