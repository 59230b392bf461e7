package collect

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectNICs lists the network interfaces but loopback and the host ends
// of container pairs (veth*, which come and go with containers and would
// change the inventory hash). An interface without a device link is
// virtual; one with a wireless or phy80211 entry is wireless. The permanent
// MAC is the driver's burnt-in address (ethtool's, see permanentMAC), else
// the current address when the kernel says it was not changed
// (addr_assign_type 0); it stays empty for a random or software-set MAC
// the driver cannot tell the origin of.
func collectNICs(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	dir := c.path("/sys/class/net")
	names := listDir(dir)
	if names == nil {
		return fmt.Errorf("list network interfaces: %w", ErrNoData)
	}
	var ids []pciID
	pciOf := map[int]pciID{}
	for _, name := range names {
		if name == "lo" || strings.HasPrefix(name, "veth") || name == "bonding_masters" {
			continue
		}
		p := filepath.Join(dir, name)
		n := wire.NIC{
			Name:     name,
			MAC:      readString(p + "/address"),
			Virtual:  !exists(p + "/device"),
			Wireless: exists(p+"/wireless") || exists(p+"/phy80211"),
		}
		if !n.Virtual {
			n.PermanentMAC = c.permanentMAC(ctx, name)
		}
		if n.PermanentMAC == "" && readString(p+"/addr_assign_type") == "0" && wire.NormalizeMAC(n.MAC) != "" {
			n.PermanentMAC = n.MAC
		}
		if !n.Virtual {
			uev := readKeyValues(p + "/device/uevent")
			n.Driver = firstNonEmpty(uev["DRIVER"], linkBase(p+"/device/driver"))
			n.Bus, _, _ = strings.Cut(uev["MODALIAS"], ":")
			switch n.Bus {
			case "pci":
				id := pciID{hexID(readString(p + "/device/vendor")), hexID(readString(p + "/device/device"))}
				ids = append(ids, id)
				pciOf[len(inv.NICs)] = id
			case "usb":
				// device is the USB interface; the USB device is its parent.
				if real, err := filepath.EvalSymlinks(p + "/device"); err == nil {
					usb := filepath.Dir(real)
					n.Vendor = readString(usb + "/manufacturer")
					n.Product = readString(usb + "/product")
				}
			}
		}
		inv.NICs = append(inv.NICs, n)
	}
	vendors, devices := c.pciNames(ids)
	for i, id := range pciOf {
		inv.NICs[i].Vendor = vendors[id.vendor]
		inv.NICs[i].Product = devices[id]
	}
	return nil
}

// permanentMAC returns the burnt-in MAC of an interface: from the kernel on
// the live system, from a recorded `ethtool -P <name>` under a recorded
// root. It returns "" when it is unknown.
func (c *Collector) permanentMAC(ctx context.Context, name string) string {
	var mac string
	if c.live() {
		mac = permanentMAC(name)
	} else if out, err := c.exec(ctx, "ethtool", "-P", name); err == nil {
		// "Permanent address: a4:34:d9:12:7c:51"
		_, mac, _ = strings.Cut(strings.TrimSpace(string(out)), ": ")
	}
	if wire.NormalizeMAC(mac) == "" {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(mac))
}
