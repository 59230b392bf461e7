package collect

import (
	"context"
	"fmt"

	"github.com/jaypipes/ghw"

	"github.com/valise-numerique/valise/internal/wire"
)

// The SMBIOS records come from ghw, which reads /sys/class/dmi/id (and the
// device tree of boards without SMBIOS: ARM, MIPS, where the baseboard is
// the board itself and the BIOS is U-Boot). Serials and the UUID
// are readable by root only: run unprivileged, they stay empty. Values are
// reported as the firmware holds them, placeholders included;
// wire.FingerprintOf drops the placeholders.

// collectProduct reads the SMBIOS system record (type 1), or the model of a
// device-tree board.
func collectProduct(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	p, err := ghw.Product(c.ghwContext(ctx))
	if err != nil {
		return fmt.Errorf("read product: %w", err)
	}
	inv.System = wire.System{
		Vendor: ghwString(p.Vendor), Model: ghwString(p.Name), Version: ghwString(p.Version),
		Serial: ghwString(p.SerialNumber), UUID: ghwString(p.UUID), SKU: ghwString(p.SKU), Family: ghwString(p.Family),
	}
	if inv.System == (wire.System{}) {
		return fmt.Errorf("read product: %w", ErrNoData)
	}
	return nil
}

// collectChassis reads the SMBIOS chassis record (type 3), whose type gives
// the device class (see deviceClass).
func collectChassis(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	ch, err := ghw.Chassis(c.ghwContext(ctx))
	if err != nil {
		return fmt.Errorf("read chassis: %w", err)
	}
	inv.Chassis = wire.Chassis{
		Type: ghwString(ch.Type), Description: ghwString(ch.TypeDescription),
		Vendor: ghwString(ch.Vendor), Serial: ghwString(ch.SerialNumber), AssetTag: ghwString(ch.AssetTag),
	}
	return nil
}

// collectBaseboard reads the SMBIOS baseboard record (type 2).
func collectBaseboard(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	b, err := ghw.Baseboard(c.ghwContext(ctx))
	if err != nil {
		return fmt.Errorf("read baseboard: %w", err)
	}
	inv.Baseboard = wire.Baseboard{
		Vendor: ghwString(b.Vendor), Product: ghwString(b.Product), Version: ghwString(b.Version), Serial: ghwString(b.SerialNumber),
	}
	return nil
}

// collectBIOS reads the SMBIOS BIOS record (type 0).
func collectBIOS(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	b, err := ghw.BIOS(c.ghwContext(ctx))
	if err != nil {
		return fmt.Errorf("read bios: %w", err)
	}
	inv.BIOS = wire.BIOS{Vendor: ghwString(b.Vendor), Version: ghwString(b.Version), Date: ghwString(b.Date)}
	return nil
}
