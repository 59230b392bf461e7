package collect

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/jaypipes/ghw"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectGPUs lists the graphics cards through ghw (the PCI devices behind
// /sys/class/drm/card*), with their names from the PCI database. A machine
// without DRM devices (a headless VM, an ARM board) has none.
func collectGPUs(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	// Parse the PCI database only when there is a card to name: most
	// of an inventory's time goes there.
	gctx := ghw.WithPCIDB(noPCIDB)(c.ghwContext(ctx))
	if cards, _ := filepath.Glob(c.path("/sys/class/drm/card[0-9]*")); len(cards) > 0 {
		var done func()
		gctx, done = c.pciContext(ctx)
		defer done()
	}
	info, err := ghw.GPU(gctx)
	if err != nil {
		return fmt.Errorf("read gpus: %w", err)
	}
	for _, card := range info.GraphicsCards {
		g := wire.GPU{Address: card.Address}
		if d := card.DeviceInfo; d != nil {
			if d.Vendor != nil {
				g.Vendor = ghwString(d.Vendor.Name)
			}
			if d.Product != nil {
				g.Product = ghwString(d.Product.Name)
			}
			g.Driver = ghwString(d.Driver)
		}
		if g.Driver == "" {
			dev := c.path("/sys/bus/pci/devices", card.Address)
			g.Driver = firstNonEmpty(readKeyValues(filepath.Join(dev, "uevent"))["DRIVER"], linkBase(dev+"/driver"))
		}
		inv.GPUs = append(inv.GPUs, g)
	}
	return nil
}
