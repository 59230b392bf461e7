package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

func (e *env) kitsCommand() *cli.Command {
	return &cli.Command{
		Name:  "kits",
		Usage: "the kits of devices and accessories that go out on loan",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "make a kit, empty; put devices in it with kits add",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "label", Usage: "the kit's `LABEL`, unique, as printed on its bag: \"Kit 07\""},
					&cli.StringFlag{Name: "home", Usage: "the `VENUE` the kit lives at between loans"},
					repeatedFlag("accessory", "an `ITEM` of the checklist that travels with the devices: \"chargeur x2\""),
					jsonFlag(),
				},
				Action: e.kitsCreate,
			},
			{
				Name:      "add",
				Usage:     "put devices in a kit",
				ArgsUsage: kitArg + " " + refArg + "…",
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.kitsAdd,
			},
			{
				Name:      "remove",
				Usage:     "take devices out of a kit",
				ArgsUsage: kitArg + " " + refArg + "…",
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.kitsRemove,
			},
			{
				Name:      "list",
				Usage:     "list the kits by label, with their state",
				ArgsUsage: " ",
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.kitsList,
			},
			{
				Name:      "show",
				Usage:     "show a kit: each device's state, charge and battery, and why it is not ready",
				ArgsUsage: kitArg,
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.kitsShow,
			},
			{
				Name:      "restock",
				Usage:     "mark accessories found missing at a check-in as back in the kit (all of them without ITEM)",
				ArgsUsage: kitArg + " [ITEM…]",
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.kitsRestock,
			},
		},
	}
}

func (e *env) kitsCreate(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	label, err := required(c, "label", `the kit's label, e.g. --label "Kit 07"`)
	if err != nil {
		return err
	}
	acc := items(c, "accessory")
	if err := nonEmpty(c, "accessory", acc); err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	k, err := cl.CreateKit(c.Context, apitype.KitRequest{Label: label, Home: strings.TrimSpace(c.String("home")), Accessories: acc})
	if err != nil {
		return explain(c, err)
	}
	return output(e, c, k, func(w io.Writer, k apitype.Kit) {
		fmt.Fprintf(w, "Created %s (kit %s)", k.Label, k.ID)
		if k.HomeName != "" {
			fmt.Fprintf(w, ", at home in %s", k.HomeName)
		}
		fmt.Fprintln(w, ".")
		if len(k.Accessories) > 0 {
			fmt.Fprintf(w, "Checklist: %s.\n", strings.Join(k.Accessories, ", "))
		}
		fmt.Fprintf(w, "Put devices in it with: valise kits add %q VAL-0001 …\n", k.Label)
	})
}

// kitDevices runs kits add or kits remove: change sends the devices;
// verb and prep say what happened ("Added", "to").
func (e *env) kitDevices(c *cli.Context, verb, prep string, change func(cl *apiclient.Client, kit string, devices []string) (apitype.Kit, error)) error {
	pos, err := positional(c)
	if err != nil {
		return err
	}
	switch len(pos) {
	case 0:
		return cmdmain.Usagef(c, "missing argument %s", kitArg)
	case 1:
		return cmdmain.Usagef(c, "missing argument %s", refArg)
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	k, err := change(cl, pos[0], uniqueRefs(pos[1:]))
	if err != nil {
		return explain(c, err) // the kit's or a device's 404: the server says which
	}
	return output(e, c, k, func(w io.Writer, k apitype.Kit) {
		fmt.Fprintf(w, "%s %s %s %s: it holds %s.\n", verb, strings.Join(pos[1:], ", "), prep, k.Label, kitHolds(k))
	})
}

// kitHolds says what devices a kit holds: "3 devices (VAL-0001, …)".
func kitHolds(k apitype.Kit) string {
	if len(k.Devices) == 0 {
		return "no device"
	}
	tags := make([]string, len(k.Devices))
	for i, d := range k.Devices {
		tags[i] = tagOrID(d.Device)
	}
	return fmt.Sprintf("%d %s (%s)", len(tags), plural(len(tags), "device"), strings.Join(tags, ", "))
}

func (e *env) kitsAdd(c *cli.Context) error {
	return e.kitDevices(c, "Added", "to", func(cl *apiclient.Client, kit string, devices []string) (apitype.Kit, error) {
		return cl.AddKitDevices(c.Context, kit, devices)
	})
}

func (e *env) kitsRemove(c *cli.Context) error {
	return e.kitDevices(c, "Removed", "from", func(cl *apiclient.Client, kit string, devices []string) (apitype.Kit, error) {
		return cl.RemoveKitDevices(c.Context, kit, devices)
	})
}

func (e *env) kitsList(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	kits, err := cl.Kits(c.Context)
	if err != nil {
		return explain(c, err)
	}
	return output(e, c, kits, func(w io.Writer, kits []apitype.Kit) {
		if len(kits) == 0 {
			fmt.Fprintln(w, `No kit yet. To make one: valise kits create --label "Kit 07" --accessory "chargeur x2"`)
			return
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "LABEL\tSTATE\tDEVICES\tHOME\tMISSING\tLOAN")
		available := 0
		for _, k := range kits {
			if k.State == apitype.KitAvailable {
				available++
			}
			loan := dash
			if k.Loan != nil {
				loan = fmt.Sprintf("%s at %s, due %s", k.Loan.BorrowerName, k.Loan.VenueName, e.day(k.Loan.DueAt))
				if k.Loan.Overdue {
					loan += " " + e.warn("(overdue)")
				}
			}
			// Colour only in the last column: escape codes would shift the others.
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", k.Label, k.State, len(k.Devices), orDash(k.HomeName), listOrDash(k.Missing), loan)
		}
		tw.Flush()
		fmt.Fprintf(w, "%d %s, %d available\n", len(kits), plural(len(kits), "kit"), available)
	})
}

func (e *env) kitsShow(c *cli.Context) error {
	pos, err := args(c, kitArg)
	if err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	k, err := cl.Kit(c.Context, pos[0])
	if err != nil {
		return notFound(c, "kit", pos[0], err)
	}
	return output(e, c, k, e.printKit)
}

// flagLabels name the device flags of kits and loans for people.
var flagLabels = map[string]string{
	apitype.FlagSilent:          "silent",
	apitype.FlagNeverReported:   "never reported",
	apitype.FlagLowCharge:       "low charge",
	apitype.FlagNoSIM:           "no SIM",
	apitype.FlagPossiblyLost:    "possibly lost",
	apitype.FlagHardwareChanged: "hardware changed",
	apitype.FlagMissing:         "missing",
}

func flagLabel(f string) string {
	if l, ok := flagLabels[f]; ok {
		return l
	}
	return strings.ReplaceAll(f, "_", " ")
}

// printKit prints the detail view of a kit: its checklist and loan, then
// a line per device.
func (e *env) printKit(out io.Writer, k apitype.Kit) {
	w := tabwriter.NewWriter(out, 17, 0, 2, ' ', 0)
	fmt.Fprintln(w, e.bold(k.Label+" · "+k.State))
	row(w, "ID", k.ID)
	row(w, "Home", orDash(k.HomeName))
	row(w, "Accessories", listOrDash(k.Accessories))
	if len(k.Missing) > 0 {
		row(w, "Missing", e.warn(strings.Join(k.Missing, ", "))+"  (valise kits restock when found)")
	}
	if l := k.Loan; l != nil {
		row(w, "Loan", fmt.Sprintf("%s to %s at %s, out %s", l.ID, l.BorrowerName, l.VenueName, e.clock(l.OutAt)))
		row(w, "Due", e.dueText(*l))
		if l.Override != "" {
			row(w, "Override", cmdmain.OneLine(l.Override))
		}
		for _, warning := range l.Warnings {
			row(w, "Warning", cmdmain.OneLine(warning))
		}
	} else {
		row(w, "Loan", dash)
	}
	row(w, "Created", e.clock(k.CreatedAt))
	w.Flush()

	fmt.Fprintln(out)
	if len(k.Devices) == 0 {
		fmt.Fprintf(out, "%s\n  (none yet: valise kits add %q VAL-0001 …)\n", e.bold("Devices"), k.Label)
	} else {
		ready := 0
		for _, d := range k.Devices {
			if d.Ready {
				ready++
			}
		}
		fmt.Fprintf(out, "%s · %d of %d ready\n", e.bold("Devices"), ready, len(k.Devices))
		tw := newTable(out)
		fmt.Fprintln(tw, "  ASSET TAG\tCLASS\tSTATE\tONLINE\tLAST SEEN\tCHARGE\tBATTERY\tFLAGS\tNOT READY BECAUSE")
		for _, d := range k.Devices {
			flags := make([]string, len(d.Flags))
			for i, f := range d.Flags {
				flags[i] = flagLabel(f)
			}
			why := dash
			if !d.Ready {
				why = e.warn(cmdmain.OneLine(orDefault(d.Why, d.State)))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tagOrID(d.Device), d.Class, d.State, yesNo(d.Online),
				e.ago(d.LastSeen), pct(d.BatteryCharge), pct(d.BatteryHealth), listOrDash(flags), why)
		}
		tw.Flush()
	}

	if len(k.Notes) > 0 {
		fmt.Fprintln(out)
		fmt.Fprintln(out, e.bold("Notes"))
		w := tabwriter.NewWriter(out, 17, 0, 2, ' ', 0)
		for _, n := range k.Notes {
			row(w, e.clock(n.At), join(": ", e.warn(strings.ReplaceAll(n.Kind, "_", " ")), cmdmain.OneLine(n.Text)))
		}
		w.Flush()
	}
}

func (e *env) kitsRestock(c *cli.Context) error {
	pos, err := positional(c)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return cmdmain.Usagef(c, "missing argument %s", kitArg)
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	k, err := cl.RestockKit(c.Context, pos[0], pos[1:])
	if err != nil {
		return notFound(c, "kit", pos[0], err)
	}
	return output(e, c, k, func(w io.Writer, k apitype.Kit) {
		if len(k.Missing) == 0 {
			fmt.Fprintf(w, "%s is complete again: %s.\n", k.Label, listOrDash(k.Accessories))
			return
		}
		fmt.Fprintf(w, "Restocked %s; still missing: %s.\n", k.Label, strings.Join(k.Missing, ", "))
	})
}
