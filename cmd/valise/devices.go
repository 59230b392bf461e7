package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/internal/wire"
)

// refArg names the device argument in usage lines and errors.
const refArg = "ID|TAG"

func (e *env) devicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "devices",
		Usage: "list and inspect the devices of the fleet",
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list the devices, sorted by asset tag",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "class", Usage: "only this class: laptop, tablet, hotspot, other"},
					&cli.StringFlag{Name: "state", Usage: "only this lifecycle state: intake, needs_wipe, ready, on_loan…"},
					&cli.BoolFlag{Name: "online", Usage: "only the devices connected now"},
					jsonFlag(),
				},
				Action: e.devicesList,
			},
			{
				Name:      "show",
				Usage:     "show a device: identity, hardware, health, connectivity, recent history",
				ArgsUsage: refArg,
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.devicesShow,
			},
			{
				Name:      "history",
				Usage:     "show the lifecycle of a device (intake, wipes, provisioning…), or the samples of one figure with --metric",
				ArgsUsage: refArg,
				Description: "Without --metric: every lifecycle event of the device from the audit log, with\n" +
					"its actor (enrolment, state changes, wipes, certificates, provisioning).\n" +
					"With --metric: the samples of one figure over --since.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "metric", Usage: "show the samples of this figure instead: " + strings.Join(apitype.Metrics, ", ")},
					&cli.StringFlag{Name: "since", Value: "7d", Usage: "how far back (30m, 24h, 7d); for the lifecycle, all of it unless given"},
					&cli.IntFlag{Name: "limit", Usage: "at most this many samples, or the latest events (0: the server's default, all events)"},
					jsonFlag(),
				},
				Action: e.devicesHistory,
			},
			{
				Name:      "collect",
				Usage:     "ask a device for a fresh report now",
				ArgsUsage: refArg,
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.devicesCollect,
			},
			{
				Name:      "assign",
				Usage:     "assign devices, or every device of a kit, to a venue for the long term",
				ArgsUsage: refArg + "…",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "kit", Usage: "assign every device of this `KIT` (whose home becomes the venue too) instead of named devices"},
					&cli.StringFlag{Name: "venue", Usage: "the `VENUE` the devices go to"},
					jsonFlag(),
				},
				Action: e.devicesAssign,
			},
			{
				Name:      "set-state",
				Usage:     "move a device to " + strings.Join(settableStates, ", ") + ", with a reason",
				ArgsUsage: refArg + " STATE",
				Description: "maintenance: out for repair (technicians); lost: missing for good; retired:\n" +
					"donated or recycled after a wipe (technicians); needs_wipe: a lost device found\n" +
					"again, or one to wipe before use. The reason goes to the audit log.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "reason", Usage: "why, for the audit log: `TEXT`"},
					jsonFlag(),
				},
				Action: e.devicesSetState,
			},
		},
	}
}

// settableStates are the states set-state moves a device to; the others
// are reached through wipes, provisioning and loans.
var settableStates = []string{"maintenance", "lost", "retired", "needs_wipe"}

func (e *env) devicesAssign(c *cli.Context) error {
	pos, err := positional(c)
	if err != nil {
		return err
	}
	kit := strings.TrimSpace(c.String("kit"))
	switch {
	case kit != "" && len(pos) > 0:
		return cmdmain.Usagef(c, "give devices or --kit, not both")
	case kit == "" && len(pos) == 0:
		return cmdmain.Usagef(c, "missing argument %s (or --kit KIT)", refArg)
	}
	venue, err := required(c, "venue", "the venue the devices go to")
	if err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	devs, err := cl.Assign(c.Context, apitype.AssignRequest{Devices: uniqueRefs(pos), Kit: kit, Venue: venue})
	if err != nil {
		return explain(c, err) // a device's, the kit's or the venue's 404: the server says which
	}
	return output(e, c, devs, func(w io.Writer, devs []apitype.Device) {
		name := venue
		tags := make([]string, len(devs))
		for i, d := range devs {
			tags[i] = tagOrID(d)
			if d.VenueName != "" {
				name = d.VenueName
			}
		}
		if len(devs) == 0 {
			fmt.Fprintf(w, "%s holds no device: nothing was assigned.\n", kit)
			return
		}
		fmt.Fprintf(w, "Assigned %d %s to %s: %s.\n", len(devs), plural(len(devs), "device"), name, strings.Join(tags, ", "))
	})
}

func (e *env) devicesSetState(c *cli.Context) error {
	pos, err := args(c, refArg, "STATE")
	if err != nil {
		return err
	}
	state := strings.ToLower(strings.TrimSpace(pos[1]))
	if !slices.Contains(settableStates, state) {
		return cmdmain.Usagef(c, "cannot set a device %q by hand: use %s (the other states come from wipes, provisioning and loans)",
			pos[1], strings.Join(settableStates, ", "))
	}
	reason, err := required(c, "reason", `say why, for the audit log, e.g. --reason "écran cassé"`)
	if err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	d, err := cl.SetState(c.Context, pos[0], apitype.SetStateRequest{State: state, Reason: reason})
	if err != nil {
		return deviceError(c, pos[0], err)
	}
	return output(e, c, d, func(w io.Writer, d apitype.Device) {
		fmt.Fprintf(w, "%s is now %s.\n", tagOrID(d), d.State)
		if d.State == "needs_wipe" {
			fmt.Fprintf(w, "Wipe it before it goes out again: valise wipe %s\n", tagOrID(d))
		}
	})
}

// deviceError explains a failure about the device ref.
func deviceError(c *cli.Context, ref string, err error) error {
	if apiclient.IsNotFound(err) {
		return fmt.Errorf("no device matches %s", ref)
	}
	return explain(c, err)
}

// onDevice runs a command whose one argument names a device: it asks the
// server with call, explains a failure with deviceError, and writes the
// answer as JSON with --json, else through show.
func onDevice[T any](e *env, c *cli.Context, call func(cl *apiclient.Client, ref string) (T, error), show func(w io.Writer, ref string, v T)) error {
	pos, err := args(c, refArg)
	if err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	v, err := call(cl, pos[0])
	if err != nil {
		return deviceError(c, pos[0], err)
	}
	if e.wantJSON(c) {
		return writeJSON(e.stdout, v)
	}
	w := &errWriter{w: e.stdout}
	show(w, pos[0], v)
	return w.err
}

func (e *env) devicesList(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	f := apiclient.DeviceFilter{
		Class:  strings.ToLower(strings.TrimSpace(c.String("class"))),
		State:  strings.ToLower(strings.TrimSpace(c.String("state"))),
		Online: c.Bool("online"),
	}
	if f.Class != "" && !wire.ValidClass(f.Class) {
		return cmdmain.Usagef(c, "--class %q is not a device class: use %s", c.String("class"), strings.Join(enrollClasses, ", "))
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	devs, err := cl.Devices(c.Context, f)
	if err != nil {
		return explain(c, err)
	}
	if e.wantJSON(c) {
		return writeJSON(e.stdout, devs)
	}
	w := &errWriter{w: e.stdout}
	if len(devs) == 0 {
		if f != (apiclient.DeviceFilter{}) {
			fmt.Fprintln(w, "No device matches these filters.")
		} else {
			fmt.Fprintln(w, "No device is enrolled yet. To enrol one: valise enroll-token create --class laptop")
		}
		return w.err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ASSET TAG\tCLASS\tVENDOR/MODEL\tSERIAL\tSTATE\tBATTERY\tONLINE\tLAST SEEN")
	online := 0
	for _, d := range devs {
		if d.Online {
			online++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			orDash(d.AssetTag), d.Class, orDash(vendorModel(d.Vendor, d.Model)), orDash(d.Serial),
			d.State, pct(d.BatteryHealth), yesNo(d.Online), e.ago(d.LastSeen))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d %s, %d online\n", len(devs), plural(len(devs), "device"), online)
	return w.err
}

// vendorModel joins vendor and model, without repeating a vendor that the
// model already starts with.
func vendorModel(vendor, model string) string {
	vendor, model = strings.TrimSpace(vendor), strings.TrimSpace(model)
	if vendor != "" && strings.HasPrefix(strings.ToLower(model), strings.ToLower(vendor)) {
		return model
	}
	return join(" ", vendor, model)
}

func (e *env) devicesShow(c *cli.Context) error {
	return onDevice(e, c, func(cl *apiclient.Client, ref string) (apitype.DeviceDetail, error) {
		return cl.Device(c.Context, ref)
	}, func(w io.Writer, _ string, d apitype.DeviceDetail) {
		e.printDevice(w, d)
	})
}

func (e *env) devicesHistory(c *cli.Context) error {
	pos, err := args(c, refArg)
	if err != nil {
		return err
	}
	metric := strings.TrimSpace(c.String("metric"))
	switch {
	case metric == "":
		return e.devicesLifecycle(c, pos[0])
	case !slices.Contains(apitype.Metrics, metric):
		return cmdmain.Usagef(c, "--metric %q is not a figure the server keeps: use %s", metric, strings.Join(apitype.Metrics, ", "))
	}
	since, err := parseDuration(c.String("since"))
	if err != nil || since <= 0 {
		return cmdmain.Usagef(c, "--since %q: give a positive duration such as 30m, 24h or 7d", c.String("since"))
	}
	if c.Int("limit") < 0 {
		return cmdmain.Usagef(c, "--limit %d must not be negative", c.Int("limit"))
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	h, err := cl.History(c.Context, pos[0], metric, since, c.Int("limit"))
	if err != nil {
		return deviceError(c, pos[0], err)
	}
	if e.wantJSON(c) {
		return writeJSON(e.stdout, h)
	}
	w := &errWriter{w: e.stdout}
	if len(h.Points) == 0 {
		fmt.Fprintf(w, "No %s sample for %s in the last %s.\n", metricLabel(metric), pos[0], span(since))
		return w.err
	}
	fmt.Fprintf(w, "%s of %s, %d %s since %s\n", metricLabel(metric), pos[0], len(h.Points),
		plural(len(h.Points), "sample"), e.clock(e.now().Add(-since)))
	tw := newTable(w)
	fmt.Fprintln(tw, "AT\tVALUE")
	for _, p := range h.Points {
		fmt.Fprintf(tw, "%s\t%s\n", e.clock(p.At), metricValue(metric, p.Value))
	}
	tw.Flush()
	fmt.Fprintln(w, summary(metric, h.Points))
	return w.err
}

func (e *env) devicesCollect(c *cli.Context) error {
	return onDevice(e, c, func(cl *apiclient.Client, ref string) (map[string]any, error) {
		return map[string]any{"device": ref, "requested": true}, cl.CollectNow(c.Context, ref)
	}, func(w io.Writer, ref string, _ map[string]any) {
		fmt.Fprintf(w, "Asked %s for a fresh report; it arrives as soon as the device is online.\n", ref)
	})
}

// metricLabels name the history metrics for people.
var metricLabels = map[string]string{
	apitype.MetricBatteryHealth: "Battery health",
	apitype.MetricBatteryCharge: "Battery charge",
	apitype.MetricDiskWear:      "Disk wear",
	apitype.MetricStorageFree:   "Storage free",
	apitype.MetricWiFiSignal:    "Wi-Fi signal",
	apitype.MetricCellSignal:    "Cellular signal",
	apitype.MetricCellRSRP:      "Cellular RSRP",
	apitype.MetricDataUsed:      "Data used",
}

func metricLabel(m string) string {
	if l, ok := metricLabels[m]; ok {
		return l
	}
	return m
}

// metricValue formats a value of metric with its unit.
func metricValue(metric string, v float64) string {
	switch metric {
	case apitype.MetricWiFiSignal, apitype.MetricCellRSRP:
		return fmt.Sprintf("%.0f dBm", v)
	case apitype.MetricDataUsed:
		if v < 0 {
			return fmt.Sprintf("%.0f B", v)
		}
		return gb(uint64(v))
	case apitype.MetricBatteryHealth, apitype.MetricBatteryCharge, apitype.MetricDiskWear,
		apitype.MetricStorageFree, apitype.MetricCellSignal:
		return fmt.Sprintf("%.0f %%", v)
	}
	return fmt.Sprintf("%g", v)
}

// summary is one line about points: last value, min and max, sparkline.
func summary(metric string, points []apitype.Point) string {
	values := make([]float64, len(points))
	for i, p := range points {
		values[i] = p.Value
	}
	lo, hi := slices.Min(values), slices.Max(values)
	if lo == hi {
		return fmt.Sprintf("%s, steady", metricValue(metric, lo))
	}
	return fmt.Sprintf("last %s, min %s, max %s  %s", metricValue(metric, values[len(values)-1]),
		metricValue(metric, lo), metricValue(metric, hi), sparkline(values, 24))
}

// deviceRefs lists the asset tags for shell completion, within a short
// time; nil when the server cannot tell.
func (e *env) deviceRefs(c *cli.Context) []string {
	cl, err := apiclient.New(c.String("server"), c.String("token"), apiclient.WithVersion(version), apiclient.WithTimeout(2*time.Second))
	if err != nil {
		return nil
	}
	devs, err := cl.Devices(c.Context, apiclient.DeviceFilter{})
	if err != nil {
		return nil
	}
	refs := make([]string, 0, len(devs))
	for _, d := range devs {
		if d.AssetTag != "" {
			refs = append(refs, d.AssetTag)
		}
	}
	return refs
}
