package collect

import (
	"context"
	"fmt"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// chassisNames are the SMBIOS 3.x chassis types.
var chassisNames = map[string]string{
	"1": "Other", "2": "Unknown", "3": "Desktop", "4": "Low Profile Desktop", "5": "Pizza Box",
	"6": "Mini Tower", "7": "Tower", "8": "Portable", "9": "Laptop", "10": "Notebook",
	"11": "Hand Held", "12": "Docking Station", "13": "All in One", "14": "Sub Notebook",
	"15": "Space-saving", "16": "Lunch Box", "17": "Main Server Chassis", "18": "Expansion Chassis",
	"19": "SubChassis", "20": "Bus Expansion Chassis", "21": "Peripheral Chassis", "22": "RAID Chassis",
	"23": "Rack Mount Chassis", "24": "Sealed-case PC", "25": "Multi-system chassis", "26": "Compact PCI",
	"27": "Advanced TCA", "28": "Blade", "29": "Blade Enclosure", "30": "Tablet", "31": "Convertible",
	"32": "Detachable", "33": "IoT Gateway", "34": "Embedded PC", "35": "Mini PC", "36": "Stick PC",
}

// collectDMI reads the SMBIOS records the kernel exposes in
// /sys/class/dmi/id. Serials and the UUID are readable by root only: run
// unprivileged, they stay empty. Values are reported as the firmware holds
// them, placeholders included; wire.FingerprintOf drops the placeholders.
// Boards without SMBIOS (ARM, MIPS) give their model from the device tree.
func collectDMI(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	dir := c.path("/sys/class/dmi/id")
	if !exists(dir) {
		if model := readString(c.path("/sys/firmware/devicetree/base/model")); model != "" {
			inv.System.Model = model
			return nil
		}
		return fmt.Errorf("read %s: %w", dir, ErrNoData)
	}
	r := func(name string) string {
		v := readString(dir + "/" + name)
		if strings.EqualFold(v, "unknown") { // what some libraries write for unreadable files
			return ""
		}
		return v
	}
	inv.System = wire.System{
		Vendor: r("sys_vendor"), Model: r("product_name"), Version: r("product_version"),
		Serial: r("product_serial"), UUID: r("product_uuid"), SKU: r("product_sku"), Family: r("product_family"),
	}
	inv.Chassis = wire.Chassis{
		Type: r("chassis_type"), Vendor: r("chassis_vendor"), Serial: r("chassis_serial"), AssetTag: r("chassis_asset_tag"),
	}
	inv.Chassis.Description = chassisNames[inv.Chassis.Type]
	inv.Baseboard = wire.Baseboard{
		Vendor: r("board_vendor"), Product: r("board_name"), Version: r("board_version"), Serial: r("board_serial"),
	}
	inv.BIOS = wire.BIOS{Vendor: r("bios_vendor"), Version: r("bios_version"), Date: r("bios_date")}
	return nil
}
