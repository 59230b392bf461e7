package collect

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/jaypipes/ghw"
	"github.com/jaypipes/ghw/pkg/pci"
	"github.com/jaypipes/ghw/pkg/util"
	"github.com/jaypipes/pcidb"
)

// quietLogger swallows ghw's warnings: an unprivileged agent cannot read
// the DMI serials and ghw warns about each of them at every inventory.
// What matters reaches the report through the collectors' errors.
var quietLogger = slog.New(slog.DiscardHandler)

// ghwContext returns ctx set up for ghw: reading under the collector's root
// (the live system is "/"), without ethtool or other tools (the agent runs
// the tools it needs itself, through Config.Exec), without NUMA topology,
// quiet, and with the PCI database of this inventory run when one was
// loaded (see pciDB).
func (c *Collector) ghwContext(ctx context.Context) context.Context {
	ctx = ghw.WithChroot(c.path("/"))(ctx)
	ctx = ghw.WithDisableTools()(ctx)
	ctx = ghw.WithDisableTopology()(ctx)
	ctx = ghw.WithLogger(quietLogger)(ctx)
	return ctx
}

// ghwString turns ghw's "unknown" (what it writes for files it could not
// read) into "".
func ghwString(s string) string {
	s = strings.TrimSpace(s)
	if s == util.UNKNOWN {
		return ""
	}
	return s
}

// inventoryRun holds what the collectors of one Inventory call share: the
// PCI database, parsed once on first use and dropped with the run, so that
// an idle agent does not keep it (several MB once parsed) in memory.
type inventoryRun struct {
	once sync.Once
	db   *pcidb.PCIDB // empty when pci.ids is missing
}

type inventoryRunKey struct{}

// withInventoryRun returns ctx carrying a fresh inventoryRun.
func withInventoryRun(ctx context.Context) (context.Context, *inventoryRun) {
	r := &inventoryRun{}
	return context.WithValue(ctx, inventoryRunKey{}, r), r
}

// release drops the run's PCI database and gives the memory of the run back
// to the operating system: an inventory allocates several MB (ghw reads
// every block device, partition and memory block, and pci.ids), which the
// agent then keeps idle for minutes.
func (r *inventoryRun) release() {
	r.db = nil
	debug.FreeOSMemory()
}

// noPCIDB is an empty PCI database: ghw lists devices without names
// instead of looking for a database itself, outside the root.
var noPCIDB = &pcidb.PCIDB{}

// pciContext returns ghwContext(ctx) with the PCI database of the current
// inventory run, loaded from pci.ids under the root on first use. Without
// a database, devices are listed without names. It also returns a release
// func for callers outside an Inventory run (tests), a no-op inside one.
func (c *Collector) pciContext(ctx context.Context) (context.Context, func()) {
	done := func() {}
	r, _ := ctx.Value(inventoryRunKey{}).(*inventoryRun)
	if r == nil {
		ctx, r = withInventoryRun(ctx)
		done = r.release
	}
	r.once.Do(func() {
		if r.db = c.loadPCIDB(); r.db == nil {
			r.db = noPCIDB
		}
	})
	return ghw.WithPCIDB(r.db)(c.ghwContext(ctx)), done
}

// pciIDsPaths are where distributions install the PCI ID database.
var pciIDsPaths = []string{"/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids"}

// loadPCIDB parses the first pci.ids found under the root, or returns nil.
// The path is given explicitly so that pcidb neither reads a cache in the
// user's home nor fetches the database from the network.
func (c *Collector) loadPCIDB() *pcidb.PCIDB {
	for _, p := range pciIDsPaths {
		p = c.path(p)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		db, err := pcidb.New(pcidb.WithPath(p))
		if err != nil {
			c.log.Debug("pci database unreadable", "path", p, "error", err)
			continue
		}
		return db
	}
	return nil
}

// pciNames returns the vendor and product names of the PCI device at addr,
// "" where unknown.
func pciNames(info *pci.Info, addr string) (vendor, product string) {
	if info == nil {
		return "", ""
	}
	d := info.GetDevice(addr)
	if d == nil {
		return "", ""
	}
	if d.Vendor != nil {
		vendor = ghwString(d.Vendor.Name)
	}
	if d.Product != nil {
		product = ghwString(d.Product.Name)
	}
	return vendor, product
}
