package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/agent/collect"
	"github.com/valise-numerique/valise/internal/wire"
)

// inventoryCommand is `valise-agent inventory`: it prints what the agent
// sees on this device, without any server.
func inventoryCommand() *cli.Command {
	return &cli.Command{
		Name:  "inventory",
		Usage: "print the inventory, health and connectivity the agent sees (no server needed)",
		Description: "Without --json, prints a summary for people; with --json, one object\n" +
			"{\"inventory\":…,\"health\":…,\"net\":…} as the agent would send it.\n\n" +
			"--root DIR reads a recorded device instead of this one: DIR holds sys/, proc/,\n" +
			"etc/… and cmd/, the recorded outputs of smartctl, mmcli, iw, ip, ethtool and df\n" +
			"(named as collect.RecordedName says). No command is run under --root: a\n" +
			"command without a recording counts as a tool that is not installed.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a summary"},
			&cli.StringFlag{Name: "root", Usage: "read a recorded device tree `DIR` instead of this machine"},
			&cli.StringFlag{Name: "broker", Usage: "measure the TCP connect time to `HOST:PORT`"},
		},
		Action: func(c *cli.Context) error {
			opts := inventoryOptions{JSON: c.Bool("json"), Root: c.String("root"), Broker: c.String("broker")}
			return runInventory(c.Context, c.App.Writer, opts)
		},
	}
}

// inventoryOptions are the flags of the inventory command.
type inventoryOptions struct {
	JSON   bool
	Root   string // recorded device tree; "" = this machine
	Broker string // host:port for the round-trip probe; "" = none
}

// report is what `inventory --json` prints.
type report struct {
	Inventory wire.Inventory `json:"inventory"`
	Health    wire.Health    `json:"health"`
	Net       wire.Net       `json:"net"`
}

// runInventory collects once and writes the result to w.
func runInventory(ctx context.Context, w io.Writer, opts inventoryOptions) error {
	if opts.Root != "" {
		abs, err := filepath.Abs(opts.Root)
		if err != nil {
			return fmt.Errorf("root %s: %w", opts.Root, err)
		}
		opts.Root = abs
	}
	col, err := collect.New(collect.Config{Root: opts.Root, BrokerAddr: opts.Broker})
	if err != nil {
		return err
	}
	r := report{Inventory: col.Inventory(ctx), Health: col.Health(ctx), Net: col.Net(ctx)}
	if opts.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return writeSummary(w, r)
}

// writeSummary prints a report for people.
func writeSummary(w io.Writer, r report) error {
	inv, h, n := r.Inventory, r.Health, r.Net
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }

	s := inv.System
	model := s.Model
	if !strings.HasPrefix(strings.ToLower(model), strings.ToLower(s.Vendor)) {
		model = join(" ", s.Vendor, model)
	}
	line("System\t%s", join(" ", or(model, "unknown (no SMBIOS data)"), paren(s.Version)))
	line("Class\t%s", join(" ", inv.Class, paren(prefix("chassis ", inv.Chassis.Description))))
	if s.Serial != "" || s.UUID != "" {
		line("Serial\t%s", join("  ", s.Serial, prefix("uuid ", s.UUID)))
	}
	if b := inv.Baseboard; b.Vendor != "" || b.Product != "" {
		line("Board\t%s", join(" ", b.Vendor, b.Product, prefix("serial ", b.Serial)))
	}
	if b := inv.BIOS; b.Vendor != "" {
		line("BIOS\t%s", join(" ", b.Vendor, b.Version, b.Date))
	}
	o := inv.OS
	line("OS\t%s", join(", ", join(" ", o.Name, o.Version), prefix("kernel ", o.Kernel), o.Arch, prefix("host ", inv.Hostname)))
	cpu := inv.CPU
	line("CPU\t%s", join(", ", cpu.Model, count(cpu.Cores, "core"), count(cpu.Threads, "thread")))
	mem := fmt.Sprintf("%s installed", gib(inv.Memory.TotalBytes))
	if len(inv.Memory.Modules) > 0 {
		mem += ", " + count(len(inv.Memory.Modules), "module")
	}
	if h.Memory != nil {
		mem += fmt.Sprintf(", %.1f %% used", h.Memory.UsedPercent)
	}
	line("Memory\t%s", mem)
	if h.Load != nil {
		line("Load\t%.2f %.2f %.2f, up %s", h.Load.Load1, h.Load.Load5, h.Load.Load15, time.Duration(h.UptimeSeconds)*time.Second)
	}

	line("\nDisks")
	smart := map[string]wire.DiskHealth{}
	for _, d := range h.Disks {
		smart[d.Name] = d
	}
	for _, d := range inv.Disks {
		kind := d.Type
		if d.Removable {
			kind += ", removable"
		}
		line("  %s\t%s\t%s\t%s\t%s", d.Name, kind, gb(d.SizeBytes), join(" ", d.Model, d.Serial), diskHealth(smart[d.Name]))
	}
	if len(inv.Disks) == 0 {
		line("  none found")
	}
	for _, f := range h.Filesystems {
		line("  %s\t%s\t%s free of %s\t%.1f %% used", f.Mountpoint, f.FSType, gib(f.FreeBytes), gib(f.TotalBytes), f.UsedPercent)
	}

	if len(h.Batteries) > 0 || len(inv.Batteries) > 0 {
		line("\nBatteries")
		for _, b := range h.Batteries {
			var parts []string
			if b.HealthPercent != nil {
				parts = append(parts, fmt.Sprintf("health %.1f %%", *b.HealthPercent))
			}
			if b.ChargePercent != nil {
				parts = append(parts, fmt.Sprintf("charge %.0f %%", *b.ChargePercent))
			}
			if b.CycleCount != nil {
				parts = append(parts, count(*b.CycleCount, "cycle"))
			}
			line("  %s\t%s\t%s", b.Name, b.Status, join(", ", parts...))
		}
	}
	if len(h.Temperatures) > 0 {
		hottest := h.Temperatures[0]
		for _, t := range h.Temperatures {
			if t.Celsius > hottest.Celsius {
				hottest = t
			}
		}
		line("\nTemperature\t%.1f °C (%s, hottest of %d sensors)", hottest.Celsius, hottest.Sensor, len(h.Temperatures))
	}

	line("\nNetwork")
	if n.DefaultRoute != "" {
		line("  default route\t%s", join(" via ", n.DefaultRoute, n.Gateway))
	}
	for _, i := range n.Interfaces {
		if i.Kind == wire.IfLoopback {
			continue
		}
		state := "down"
		if i.Up {
			state = "up"
		}
		line("  %s\t%s\t%s\t%s", i.Name, i.Kind, state, strings.Join(i.Addresses, " "))
	}
	if wf := n.WiFi; wf != nil {
		ssid := wf.SSID
		if ssid == "" {
			ssid = "not connected"
		} else {
			ssid = fmt.Sprintf("%q", ssid)
		}
		line("  Wi-Fi %s: %s", wf.Interface, join(", ", ssid, dbm(wf.SignalDBm), prefix("quality ", pct(wf.Quality))))
	}
	for _, c := range n.Cellular {
		line("  cellular %s: %s", join(" ", c.Manufacturer, c.Model),
			join(", ", c.State, join(" ", c.Operator, paren(c.OperatorCode)), c.AccessTech, prefix("signal ", pct(c.SignalPercent)),
				prefix("RSRP ", dbm(c.RSRP)), prefix("IMEI ", c.IMEI), prefix("ICCID ", c.ICCID)))
	}
	if n.BrokerRTTMillis != nil {
		line("  broker round trip: %.1f ms", *n.BrokerRTTMillis)
	}

	var errs []string
	for _, part := range []struct {
		name string
		runs []wire.CollectorRun
	}{{"inventory", inv.Collectors}, {"health", h.Collectors}, {"net", n.Collectors}} {
		for _, c := range part.runs {
			if c.Error != "" {
				errs = append(errs, fmt.Sprintf("  %s/%s\t%s", part.name, c.Name, c.Error))
			}
		}
	}
	if len(errs) > 0 {
		line("\nCollector errors")
		for _, e := range errs {
			line("%s", e)
		}
	}
	return tw.Flush()
}

func diskHealth(d wire.DiskHealth) string {
	switch {
	case d.Name == "":
		return ""
	case d.Error != "" && !d.SmartAvailable:
		return "SMART: " + d.Error
	}
	var parts []string
	if d.Passed != nil {
		parts = append(parts, map[bool]string{true: "SMART passed", false: "SMART FAILED"}[*d.Passed])
	}
	if d.PercentageUsed != nil {
		parts = append(parts, fmt.Sprintf("%d %% worn", *d.PercentageUsed))
	}
	if d.ReallocatedSectors != nil && *d.ReallocatedSectors > 0 {
		parts = append(parts, fmt.Sprintf("%d reallocated sectors", *d.ReallocatedSectors))
	}
	if d.PendingSectors != nil && *d.PendingSectors > 0 {
		parts = append(parts, fmt.Sprintf("%d pending sectors", *d.PendingSectors))
	}
	if d.PowerOnHours != nil {
		parts = append(parts, fmt.Sprintf("%d h", *d.PowerOnHours))
	}
	if d.TemperatureC != nil {
		parts = append(parts, fmt.Sprintf("%.0f °C", *d.TemperatureC))
	}
	return strings.Join(parts, ", ")
}

// join joins the non-empty strings of parts with sep.
func join(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// or returns s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

func prefix(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func count(n int, what string) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func dbm(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%.0f dBm", *v)
}

func pct(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%.0f %%", *v)
}

// gib prints a size in GiB, or MiB below 1 GiB (hotspots, EFI partitions).
func gib(b uint64) string {
	if b < 1<<30 {
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

func gb(b uint64) string { return fmt.Sprintf("%.0f GB", float64(b)/1e9) }
