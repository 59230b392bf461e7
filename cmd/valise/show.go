package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/internal/wire"
)

// row prints one "label  value" line of the detail view, to the
// tabwriter that aligns the values of a section.
func row(w io.Writer, label, value string) {
	fmt.Fprintf(w, "  %s\t%s\n", label, value)
}

// printDevice prints the detail view of one device, section by section.
func (e *env) printDevice(out io.Writer, d apitype.DeviceDetail) {
	w := tabwriter.NewWriter(out, 17, 0, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintln(w, e.bold(join(" · ", orDash(d.AssetTag), vendorModel(d.Vendor, d.Model))))
	row(w, "ID", d.ID)
	row(w, "Class", d.Class)
	row(w, "State", d.State)
	row(w, "Serial", orDash(d.Serial))
	if d.Hostname != "" {
		row(w, "Hostname", d.Hostname)
	}
	if d.Kit != "" {
		row(w, "Kit", orDefault(d.KitLabel, d.Kit))
	}
	if d.Loan != "" {
		row(w, "Loan", d.Loan)
	}
	if d.Venue != "" {
		row(w, "Venue", orDefault(d.VenueName, d.Venue))
	}
	if origin := join(" · ", d.Supplier, e.dayOf(d.PurchasedOn, "bought "), e.dayOf(d.WarrantyEnd, "warranty until ")); origin != "" {
		row(w, "Origin", origin)
	}
	row(w, "Enrolled", e.when(d.EnrolledAt))
	if d.LastSeen != nil && !d.LastSeen.IsZero() {
		row(w, "Last seen", e.when(*d.LastSeen))
	} else {
		row(w, "Last seen", "never")
	}
	row(w, "Online", yesNo(d.Online))
	if d.HardwareChanged {
		what := "changed since an earlier enrolment (disk, memory or serial)"
		if len(d.Notes) > 0 {
			what = "changed since an earlier enrolment (see Notes)"
		}
		row(w, "Hardware", e.warn(what))
	}

	e.printNotes(w, d)
	e.printHardware(w, d)
	e.printHealth(w, d)
	e.printNet(w, d)
	e.printHistory(w, d)
	e.printCollectorErrors(w, d)
}

// when formats a past time and how long ago it was.
func (e *env) when(t time.Time) string {
	if t.IsZero() {
		return dash
	}
	return fmt.Sprintf("%s (%s)", e.clock(t), e.ago(&t))
}

// heading prints a section title with when its report arrived.
func (e *env) heading(w io.Writer, title string, d apitype.DeviceDetail, kind wire.Channel) {
	fmt.Fprintln(w)
	if at, ok := d.Reported[string(kind)]; ok && !at.IsZero() {
		fmt.Fprintf(w, "%s · reported %s, %s\n", e.bold(title), e.clock(at), e.ago(&at))
		return
	}
	fmt.Fprintln(w, e.bold(title))
}

// noteKinds name the kinds of notes for people.
var noteKinds = map[string]string{
	apitype.NoteHardwareChanged:  "hardware changed",
	apitype.NoteIdentityConflict: "identity conflict",
	apitype.NoteEnrolled:         "enrolled",
}

// printNotes lists the dated remarks on the device, oldest first.
func (e *env) printNotes(w io.Writer, d apitype.DeviceDetail) {
	if len(d.Notes) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, e.bold("Notes"))
	for _, n := range d.Notes {
		kind, ok := noteKinds[n.Kind]
		if !ok {
			kind = strings.ReplaceAll(n.Kind, "_", " ")
		}
		if n.Kind != apitype.NoteEnrolled {
			kind = e.warn(kind)
		}
		row(w, e.clock(n.At), join(": ", kind, cmdmain.OneLine(n.Text)))
	}
}

func (e *env) printHardware(w io.Writer, d apitype.DeviceDetail) {
	e.heading(w, "Hardware", d, wire.ChanInventory)
	inv := d.Inventory
	if inv == nil {
		// Batteries and disks of a health report still show below.
		fmt.Fprintln(w, "  (no inventory received yet)")
		inv = &wire.Inventory{}
	}
	if os := join(" ", inv.OS.Name, inv.OS.Version); os != "" || inv.OS.Kernel != "" {
		row(w, "OS", join(" · ", os, prefixed("kernel ", inv.OS.Kernel), inv.OS.Arch))
	}
	if inv.CPU.Model != "" || inv.CPU.Cores > 0 {
		cpu := inv.CPU.Model
		if inv.CPU.Cores > 0 {
			cpu = join(" · ", cpu, fmt.Sprintf("%d %s", inv.CPU.Cores, plural(inv.CPU.Cores, "core")))
			if inv.CPU.Threads > inv.CPU.Cores {
				cpu += fmt.Sprintf(" / %d threads", inv.CPU.Threads)
			}
		}
		row(w, "CPU", cpu)
	}
	if inv.Memory.TotalBytes > 0 {
		mem := gib(inv.Memory.TotalBytes)
		// Identical modules are counted: "2 × 8.0 GiB DDR4 2400 MT/s".
		var mods []string
		count := map[string]int{}
		for _, m := range inv.Memory.Modules {
			speed := ""
			if m.SpeedMTs > 0 {
				speed = fmt.Sprintf("%d MT/s", m.SpeedMTs)
			}
			desc := join(" ", gib(m.SizeBytes), m.Type, speed)
			if count[desc] == 0 {
				mods = append(mods, desc)
			}
			count[desc]++
		}
		for i, desc := range mods {
			if n := count[desc]; n > 1 {
				mods[i] = fmt.Sprintf("%d × %s", n, desc)
			}
		}
		if len(mods) > 0 {
			mem += " (" + strings.Join(mods, ", ") + ")"
		}
		row(w, "Memory", mem)
	}

	var smart []wire.DiskHealth
	var batteries []wire.Battery
	if d.Health != nil {
		smart, batteries = d.Health.Disks, d.Health.Batteries
	}
	shown := map[string]bool{}
	for _, disk := range inv.Disks {
		shown[disk.Name] = true
		line := join(" · ", mediaName(disk.Type), disk.Model, gb(disk.SizeBytes), prefixed("serial ", disk.Serial))
		if disk.Removable {
			line += " · removable"
		}
		row(w, "Disk "+disk.Name, line)
		for _, h := range smart {
			if h.Name == disk.Name {
				row(w, "", e.smartLine(h))
			}
		}
	}
	for _, h := range smart {
		if !shown[h.Name] {
			row(w, "Disk "+h.Name, join(" · ", h.Model, prefixed("serial ", h.Serial), e.smartLine(h)))
		}
	}

	info := map[string]wire.BatteryInfo{}
	for _, b := range inv.Batteries {
		info[b.Name] = b
	}
	seen := map[string]bool{}
	for _, b := range batteries {
		seen[b.Name] = true
		row(w, "Battery "+b.Name, e.batteryLine(info[b.Name], b))
	}
	for _, b := range inv.Batteries {
		if !seen[b.Name] {
			row(w, "Battery "+b.Name, join(" · ", join(" ", b.Manufacturer, b.Model), "no health reported"))
		}
	}
	for _, n := range inv.NICs {
		if n.Virtual {
			continue
		}
		kind := "ethernet"
		if n.Wireless {
			kind = "wifi"
		}
		mac := n.PermanentMAC
		if mac == "" {
			mac = n.MAC
		}
		row(w, "NIC "+n.Name, join(" · ", kind, join(" ", n.Vendor, n.Product), mac))
	}
	for _, g := range inv.GPUs {
		row(w, "GPU", join(" ", g.Vendor, g.Product))
	}
	for _, m := range inv.Modems {
		row(w, "Modem", join(" · ", join(" ", m.Manufacturer, m.Model), prefixed("IMEI ", m.IMEI)))
	}
}

// mediaName is how people call a disk type.
func mediaName(t string) string {
	switch t {
	case wire.DiskHDD:
		return "HDD"
	case wire.DiskSSD:
		return "SSD"
	case wire.DiskNVMe:
		return "NVMe"
	case wire.DiskEMMC:
		return "eMMC"
	case wire.DiskSD:
		return "SD card"
	case wire.DiskVirtual:
		return "virtual"
	}
	return "disk"
}

// prefixed returns prefix+s, or "" when s is empty.
func prefixed(prefix, s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return prefix + s
}

// smartLine summarises a disk's SMART state; failures and worrying counts
// come first.
func (e *env) smartLine(h wire.DiskHealth) string {
	if !h.SmartAvailable || h.Passed == nil {
		if h.Error != "" {
			return "SMART unavailable: " + h.Error
		}
		return "SMART unavailable"
	}
	status := "SMART passed"
	if !*h.Passed {
		status = e.warn("SMART FAILED")
	}
	var parts []string
	count := func(label string, v *int64, bad bool) {
		if v == nil {
			return
		}
		s := fmt.Sprintf("%s %d", label, *v)
		if bad && *v > 0 {
			s = e.warn(s)
		}
		parts = append(parts, s)
	}
	if h.PercentageUsed != nil {
		parts = append(parts, fmt.Sprintf("%d %% used", *h.PercentageUsed))
	}
	count("reallocated", h.ReallocatedSectors, true)
	count("pending", h.PendingSectors, true)
	count("uncorrectable", h.OfflineUncorrectable, true)
	count("media errors", h.MediaErrors, true)
	if h.PowerOnHours != nil {
		parts = append(parts, fmt.Sprintf("%d h on", *h.PowerOnHours))
	}
	if h.TemperatureC != nil {
		parts = append(parts, fmt.Sprintf("%.0f °C", *h.TemperatureC))
	}
	return join(" · ", append([]string{status}, parts...)...)
}

// batteryLine summarises one battery: who made it, health, charge, cycles.
func (e *env) batteryLine(info wire.BatteryInfo, b wire.Battery) string {
	health := ""
	if b.HealthPercent != nil {
		health = "health " + pct(b.HealthPercent)
		if *b.HealthPercent < 70 {
			health = e.warn(health + " (worn)")
		}
	}
	charge := ""
	if b.ChargePercent != nil {
		charge = "charge " + pct(b.ChargePercent)
		if b.Status != "" {
			charge += " (" + strings.ToLower(b.Status) + ")"
		}
	}
	cycles := ""
	if b.CycleCount != nil {
		cycles = fmt.Sprintf("%d cycles", *b.CycleCount)
	}
	return join(" · ", join(" ", info.Manufacturer, info.Model), health, charge, cycles)
}

func (e *env) printHealth(w io.Writer, d apitype.DeviceDetail) {
	e.heading(w, "Health", d, wire.ChanHealth)
	h := d.Health
	if h == nil {
		fmt.Fprintln(w, "  (no health report received yet)")
		return
	}
	for _, f := range h.Filesystems {
		line := fmt.Sprintf("%s free of %s (%.0f %% used)", gib(f.FreeBytes), gib(f.TotalBytes), f.UsedPercent)
		if f.UsedPercent >= 90 {
			line = e.warn(line)
		}
		row(w, "Filesystem "+f.Mountpoint, join(" · ", line, f.FSType))
	}
	if m := h.Memory; m != nil {
		line := fmt.Sprintf("%s available of %s (%.0f %% used)", gib(m.AvailableBytes), gib(m.TotalBytes), m.UsedPercent)
		if m.SwapTotalBytes > 0 && m.SwapUsedBytes > 0 {
			line += fmt.Sprintf(" · swap %s of %s used", gib(m.SwapUsedBytes), gib(m.SwapTotalBytes))
		}
		row(w, "Memory", line)
	}
	if l := h.Load; l != nil {
		row(w, "Load", fmt.Sprintf("%.2f %.2f %.2f", l.Load1, l.Load5, l.Load15))
	}
	if len(h.Temperatures) > 0 {
		var ts []string
		for _, t := range h.Temperatures {
			ts = append(ts, fmt.Sprintf("%s %.0f °C", t.Sensor, t.Celsius))
		}
		row(w, "Temperatures", strings.Join(ts, ", "))
	}
	if h.UptimeSeconds > 0 {
		row(w, "Uptime", uptime(h.UptimeSeconds))
	}
}

func (e *env) printNet(w io.Writer, d apitype.DeviceDetail) {
	e.heading(w, "Connectivity", d, wire.ChanNet)
	n := d.Net
	if n == nil {
		fmt.Fprintln(w, "  (no connectivity report received yet)")
		return
	}
	if n.DefaultRoute != "" {
		row(w, "Default route", join(" via ", n.DefaultRoute, n.Gateway))
	} else {
		row(w, "Default route", e.warn("none (offline)"))
	}
	if wf := n.WiFi; wf != nil {
		signal := ""
		if wf.SignalDBm != nil {
			signal = fmt.Sprintf("%.0f dBm", *wf.SignalDBm)
		}
		quality := ""
		if wf.Quality != nil {
			quality = pct(wf.Quality)
		}
		freq := ""
		if wf.FrequencyMHz > 0 {
			freq = fmt.Sprintf("%.0f MHz", wf.FrequencyMHz)
		}
		ssid := ""
		if wf.SSID != "" {
			ssid = fmt.Sprintf("%q", wf.SSID)
		}
		row(w, "Wi-Fi", join(" · ", join(" on ", ssid, wf.Interface), signal, quality, freq))
	}
	for _, c := range n.Cellular {
		row(w, "Cellular", join(" · ", orDash(c.Operator), strings.ToUpper(c.AccessTech), c.State,
			prefixed("signal ", pctOrEmpty(c.SignalPercent)), dB("RSRP", c.RSRP, "dBm"), dB("RSRQ", c.RSRQ, "dB"),
			dB("SINR", c.SINR, "dB")))
		if c.RxBytes+c.TxBytes > 0 {
			row(w, "", fmt.Sprintf("data used %s (↓ %s, ↑ %s)", gb(c.RxBytes+c.TxBytes), gb(c.RxBytes), gb(c.TxBytes)))
		}
	}
	for _, i := range n.Interfaces {
		if i.Kind == wire.IfLoopback || (i.Kind == wire.IfVirtual && !i.Up) {
			continue // neither says anything about the device's connectivity
		}
		state := "down"
		if i.Up {
			state = "up"
		}
		row(w, "Interface "+i.Name, join(" · ", i.Kind, state, strings.Join(i.Addresses, ", ")))
	}
	if n.BrokerRTTMillis != nil {
		row(w, "Broker RTT", fmt.Sprintf("%.0f ms", *n.BrokerRTTMillis))
	}
}

// pctOrEmpty formats a percentage, or "" when nil.
func pctOrEmpty(p *float64) string {
	if p == nil {
		return ""
	}
	return pct(p)
}

// dB formats a radio figure with its label and unit, or "" when nil.
func dB(label string, v *float64, unit string) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%s %.0f %s", label, *v, unit)
}

func (e *env) printHistory(w io.Writer, d apitype.DeviceDetail) {
	found := false
	for _, m := range apitype.Metrics {
		found = found || len(d.History[m]) > 0
	}
	if !found {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, e.bold("Recent history"))
	for _, m := range apitype.Metrics {
		points := d.History[m]
		if len(points) == 0 {
			continue
		}
		if len(points) == 1 {
			row(w, metricLabel(m), fmt.Sprintf("%s (1 sample, %s)", metricValue(m, points[0].Value), e.clock(points[0].At)))
			continue
		}
		row(w, metricLabel(m), fmt.Sprintf("%s (%d samples since %s)", summary(m, points), len(points), e.clock(points[0].At)))
	}
}

// printCollectorErrors lists what the agent could not read, so that a
// missing figure has a reason.
func (e *env) printCollectorErrors(w io.Writer, d apitype.DeviceDetail) {
	var runs []wire.CollectorRun
	if d.Inventory != nil {
		runs = append(runs, d.Inventory.Collectors...)
	}
	if d.Health != nil {
		runs = append(runs, d.Health.Collectors...)
	}
	if d.Net != nil {
		runs = append(runs, d.Net.Collectors...)
	}
	first := true
	for _, r := range runs {
		if r.Error == "" {
			continue
		}
		if first {
			fmt.Fprintln(w)
			fmt.Fprintln(w, e.bold("Collector errors"))
			first = false
		}
		row(w, r.Name, cmdmain.OneLine(r.Error))
	}
}

// dayOf is prefix and the date of t in the CLI's zone, or "" for nil.
func (e *env) dayOf(t *time.Time, prefix string) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return prefix + t.In(e.loc).Format("2006-01-02")
}
