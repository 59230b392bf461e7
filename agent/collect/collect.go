package collect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// ExecFunc runs a command and returns its standard output. Like
// exec.Cmd.Output, it returns the output together with an error when the
// command exits with a non-zero status (smartctl does so on purpose). A
// missing tool is reported by an error that wraps exec.ErrNotFound.
type ExecFunc func(ctx context.Context, name string, args ...string) ([]byte, error)

// Config tells a Collector where to read. The zero value reads the live
// system and runs the real tools.
type Config struct {
	// Root is the filesystem root: "" or "/" is the live system. /sys,
	// /proc, /dev, /etc, /run and /usr/share are read under it.
	Root string
	// Exec runs external tools (smartctl, mmcli, iw; under a recorded root
	// also ip, ethtool and df, whose answers the live system gets from the
	// kernel).
	// When nil, the live system runs them through os/exec with
	// CommandTimeout; a recorded Root replays the outputs found in Root/cmd/
	// (see RecordedName), and a command without a recording behaves as a
	// tool that is not installed.
	Exec ExecFunc
	// CommandTimeout bounds each external command run by the default Exec.
	// Zero means 15 s.
	CommandTimeout time.Duration
	// BrokerAddr is the host:port whose TCP connect time is the broker
	// round-trip time; "" skips the probe.
	BrokerAddr string
	// Logger receives collector errors at debug level; nil discards them.
	Logger *slog.Logger
}

// Validate reports the first field of cfg that cannot work.
func (cfg Config) Validate() error {
	if cfg.CommandTimeout < 0 {
		return fmt.Errorf("collect config: CommandTimeout %v is negative", cfg.CommandTimeout)
	}
	if cfg.Root != "" && !filepath.IsAbs(cfg.Root) {
		return fmt.Errorf("collect config: Root %q is not an absolute path", cfg.Root)
	}
	return nil
}

// Collector collects inventories, health and connectivity samples of one
// device. Create it with New; it is safe for concurrent use.
type Collector struct {
	root       string // "" for the live system, else an absolute directory
	exec       ExecFunc
	brokerAddr string
	log        *slog.Logger

	// Injected for tests; set by New.
	now   func() time.Time
	addrs func(ctx context.Context) (map[string][]string, error)

	os wire.OS // read once at New

	mu          sync.Mutex
	signalSetUp map[string]bool // modems whose signal refresh was enabled, by equipment id
}

// fsUsage is what statfs says about a mounted filesystem, in bytes.
type fsUsage struct {
	Total, Free, Avail uint64
}

// New returns a Collector for cfg. It reads the operating system facts once.
func New(cfg Config) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Collector{
		brokerAddr:  cfg.BrokerAddr,
		log:         cfg.Logger,
		now:         time.Now,
		signalSetUp: map[string]bool{},
	}
	if cfg.Root != "" && filepath.Clean(cfg.Root) != "/" {
		c.root = filepath.Clean(cfg.Root)
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	timeout := cfg.CommandTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	switch {
	case cfg.Exec != nil:
		c.exec = cfg.Exec
	case c.root != "":
		c.exec = replayExec(filepath.Join(c.root, "cmd"))
	default:
		c.exec = commandExec(timeout)
	}
	c.addrs = c.interfaceAddrs
	c.os = c.readOS(context.Background())
	return c, nil
}

// path returns p (an absolute path of the live system) under the root.
func (c *Collector) path(p ...string) string {
	return filepath.Join(append([]string{c.root, "/"}, p...)...)
}

// live reports whether the collector reads the running system.
func (c *Collector) live() bool { return c.root == "" }

type (
	inventoryFunc func(ctx context.Context, c *Collector, inv *wire.Inventory) error
	healthFunc    func(ctx context.Context, c *Collector, h *wire.Health) error
	netFunc       func(ctx context.Context, c *Collector, n *wire.Net) error
)

// inventoryCollectors fill the hardware inventory. Class is derived after
// all of them ran (see deviceClass).
var inventoryCollectors = map[string]inventoryFunc{
	"os":        collectOS,
	"product":   collectProduct,
	"chassis":   collectChassis,
	"baseboard": collectBaseboard,
	"bios":      collectBIOS,
	"cpu":       collectCPU,
	"memory":    collectMemoryInventory,
	"disks":     collectDisks,
	"nics":      collectNICs,
	"gpus":      collectGPUs,
	"batteries": collectBatteryInfo,
	"modems":    collectModems,
}

// healthCollectors fill a health sample.
var healthCollectors = map[string]healthFunc{
	"batteries":    collectBatteries,
	"smart":        collectSMART,
	"filesystems":  collectFilesystems,
	"memory":       collectMemoryUsage,
	"load":         collectLoad,
	"temperatures": collectTemperatures,
	"uptime":       collectUptime,
}

// netCollectors fill a connectivity sample.
var netCollectors = map[string]netFunc{
	"interfaces": collectInterfaces,
	"route":      collectRoute,
	"wifi":       collectWiFi,
	"cellular":   collectCellular,
	"broker_rtt": collectBrokerRTT,
}

// Inventory collects the hardware inventory. It never fails: what a
// collector could not read is left empty and its error is in Collectors.
func (c *Collector) Inventory(ctx context.Context) wire.Inventory {
	var inv wire.Inventory
	ctx, run := withInventoryRun(ctx)
	defer run.release()
	inv.Collectors = runAll(ctx, c, inventoryCollectors, func(ctx context.Context, f inventoryFunc) error {
		return f(ctx, c, &inv)
	})
	inv.Class = deviceClass(&inv)
	return inv
}

// Health collects a health sample. It never fails: see Inventory.
func (c *Collector) Health(ctx context.Context) wire.Health {
	var h wire.Health
	h.Collectors = runAll(ctx, c, healthCollectors, func(ctx context.Context, f healthFunc) error {
		return f(ctx, c, &h)
	})
	return h
}

// Net collects a connectivity sample. It never fails: see Inventory.
func (c *Collector) Net(ctx context.Context) wire.Net {
	var n wire.Net
	n.Collectors = runAll(ctx, c, netCollectors, func(ctx context.Context, f netFunc) error {
		return f(ctx, c, &n)
	})
	return n
}

// runAll runs every collector of m in name order and records each run.
func runAll[F any](ctx context.Context, c *Collector, m map[string]F, call func(context.Context, F) error) []wire.CollectorRun {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	runs := make([]wire.CollectorRun, 0, len(names))
	for _, name := range names {
		runs = append(runs, c.runOne(ctx, name, func(ctx context.Context) error { return call(ctx, m[name]) }))
	}
	return runs
}

// runOne runs one collector, turning a panic into an error.
func (c *Collector) runOne(ctx context.Context, name string, f func(context.Context) error) (run wire.CollectorRun) {
	run.Name = name
	start := c.now()
	defer func() {
		if r := recover(); r != nil {
			buf := make([]byte, 2048)
			buf = buf[:runtime.Stack(buf, false)]
			c.log.Warn("collector panicked", "collector", name, "panic", r, "stack", string(buf))
			run.Error = fmt.Sprintf("panic: %v", r)
		}
		run.DurationMS = math.Round(float64(c.now().Sub(start).Microseconds())) / 1000
		if run.Error != "" {
			c.log.Debug("collector failed", "collector", name, "error", run.Error)
		}
	}()
	if err := ctx.Err(); err != nil {
		run.Error = err.Error()
		return run
	}
	if err := f(ctx); err != nil {
		run.Error = err.Error()
	}
	return run
}

// InventoryHash returns a hash of inv that changes only when what it
// describes changes: collector durations are left out (their names and
// errors are kept), so the agent re-sends the inventory only when the
// hardware, the OS or what could be read of them changed.
func InventoryHash(inv wire.Inventory) string {
	inv.Collectors = slices.Clone(inv.Collectors)
	for i := range inv.Collectors {
		inv.Collectors[i].DurationMS = 0
	}
	b, err := json.Marshal(inv)
	if err != nil { // cannot happen: the types hold no channels or funcs
		panic(fmt.Sprintf("marshal inventory: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// laptopChassis are the SMBIOS chassis types of portable PCs: portable,
// laptop, notebook, sub notebook, convertible, detachable.
var laptopChassis = map[string]bool{"8": true, "9": true, "10": true, "14": true, "31": true, "32": true}

// deviceClass derives the device class from the chassis type. Android
// devices are tablets (the agent runs there under Termux). A machine without
// SMBIOS (an ARM or MIPS board) that has a cellular modem and no battery is
// taken for a hotspot, such as an OpenWrt 4G router; anything else unknown
// is "other". A technician can always correct the class on the server.
func deviceClass(inv *wire.Inventory) string {
	switch t := inv.Chassis.Type; {
	case laptopChassis[t]:
		return wire.ClassLaptop
	case t == "30", inv.OS.Name == "Android":
		return wire.ClassTablet
	case t == "" && len(inv.Modems) > 0 && len(inv.Batteries) == 0:
		return wire.ClassHotspot
	}
	return wire.ClassOther
}
