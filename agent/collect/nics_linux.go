package collect

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/jaypipes/ghw"
	"github.com/jaypipes/ghw/pkg/pci"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectNICs lists the network interfaces through ghw, but loopback and
// the host ends of container pairs (veth*, which come and go with
// containers and would change the inventory hash). ghw tells a virtual
// interface by its sysfs link into devices/virtual. One with a wireless or
// phy80211 entry is wireless. Vendor and product names of PCI NICs come from the PCI
// database, of USB NICs from the USB device. The permanent MAC is the
// driver's burnt-in address (ethtool's, see permanentMAC), else the
// address ghw reports when the kernel says it was not changed
// (addr_assign_type 0); it stays empty for a random or software-set MAC the
// driver cannot tell the origin of.
func collectNICs(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	info, err := ghw.Network(c.ghwContext(ctx))
	if err != nil {
		return fmt.Errorf("list network interfaces: %w", err)
	}
	dir := c.path("/sys/class/net")
	if !exists(dir) {
		return fmt.Errorf("list network interfaces: %w", ErrNoData)
	}
	var pciInfo *pci.Info
	for _, g := range info.NICs {
		name := g.Name
		if strings.HasPrefix(name, "veth") {
			continue
		}
		p := filepath.Join(dir, name)
		n := wire.NIC{
			Name:     name,
			MAC:      readString(p + "/address"),
			Virtual:  g.IsVirtual,
			Wireless: exists(p+"/wireless") || exists(p+"/phy80211"),
		}
		if !n.Virtual {
			n.PermanentMAC = c.permanentMAC(ctx, name)
		}
		if n.PermanentMAC == "" && wire.NormalizeMAC(g.MACAddress) != "" {
			n.PermanentMAC = strings.ToLower(g.MACAddress)
		}
		if !n.Virtual {
			uev := readKeyValues(p + "/device/uevent")
			n.Driver = firstNonEmpty(uev["DRIVER"], linkBase(p+"/device/driver"))
			n.Bus, _, _ = strings.Cut(uev["MODALIAS"], ":")
			switch {
			case g.PCIAddress != nil:
				if pciInfo == nil {
					pctx, done := c.pciContext(ctx)
					if pciInfo, err = ghw.PCI(pctx); err != nil {
						done()
						return fmt.Errorf("read pci devices: %w", err)
					}
					defer done()
				}
				n.Bus = "pci"
				n.Vendor, n.Product = pciNames(pciInfo, *g.PCIAddress)
			case n.Bus == "usb":
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
