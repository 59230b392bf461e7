package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

func (e *env) loansCommand() *cli.Command {
	return &cli.Command{
		Name:  "loans",
		Usage: "lend kits to médiateurs and take them back",
		Subcommands: []*cli.Command{
			{
				Name:      "checkout",
				Usage:     "lend a kit: every device must be ready (wiped since its last return)",
				ArgsUsage: kitArg,
				Description: "Refused, with one line per blocking device, unless every device of the kit is\n" +
					"ready. Logistics staff and admins may let it out anyway with --override and a\n" +
					"reason, which the loan and the audit log keep. Devices not seen lately, not\n" +
					"charged or without a SIM are warnings, printed before you leave.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "to", Usage: "the médiateur who borrows it, `USER` (default: you)"},
					&cli.StringFlag{Name: "venue", Usage: "the `VENUE` where it goes"},
					&cli.StringFlag{Name: "due", Usage: "when it comes back: a `DATE` (2026-12-05, the end of that day) or an RFC 3339 time"},
					&cli.StringFlag{Name: "override", Usage: "let out devices that are not ready, for this `REASON` (logistics, admin)"},
					jsonFlag(),
				},
				Action: e.loansCheckout,
			},
			{
				Name:      "checkin",
				Usage:     "record a kit's return: its devices then need a wipe",
				ArgsUsage: kitArg,
				Description: "Every device that came back goes to needs_wipe (damaged ones to maintenance).\n" +
					"A device given with --missing stays on the loan, flagged missing, until it is\n" +
					"found or declared --lost. Give --damaged and --note in pairs, in order.",
				Flags: []cli.Flag{
					repeatedFlag("missing", "an `ITEM` that did not come back: an accessory of the checklist, or a device"),
					repeatedFlag("lost", "a `DEVICE` that is lost for good"),
					repeatedFlag("damaged", "a `DEVICE` that came back damaged, with its --note"),
					repeatedFlag("note", "`TEXT` saying what is wrong with the --damaged device of the same rank"),
					jsonFlag(),
				},
				Action: e.loansCheckin,
			},
			{
				Name:      "list",
				Usage:     "list loans, newest first",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "open", Usage: "only the kits still out"},
					&cli.BoolFlag{Name: "overdue", Usage: "only the kits out past their due date"},
					&cli.StringFlag{Name: "user", Usage: "only the loans of this `USER`"},
					&cli.StringFlag{Name: "venue", Usage: "only the loans to this `VENUE`"},
					&cli.StringFlag{Name: "kit", Usage: "only the loans of this `KIT`"},
					&cli.IntFlag{Name: "limit", Usage: "at most this many loans (0: the server's default)"},
					jsonFlag(),
				},
				Action: e.loansList,
			},
			{
				Name:      "show",
				Usage:     "show a loan: devices, warnings, what the check-in found",
				ArgsUsage: loanArg,
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.loansShow,
			},
		},
	}
}

func (e *env) loansCheckout(c *cli.Context) error {
	pos, err := args(c, kitArg)
	if err != nil {
		return err
	}
	venue, err := required(c, "venue", "the venue where the kit goes")
	if err != nil {
		return err
	}
	dueText, err := required(c, "due", "the date the kit comes back, e.g. --due "+e.day(e.now().AddDate(0, 0, 14)))
	if err != nil {
		return err
	}
	due, err := e.parseDue(c, dueText)
	if err != nil {
		return err
	}
	override := strings.TrimSpace(c.String("override"))
	if c.IsSet("override") && override == "" {
		return cmdmain.Usagef(c, "--override needs a reason: say why the kit may go out anyway")
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	loan, err := cl.Checkout(c.Context, pos[0], apitype.CheckoutRequest{
		To: strings.TrimSpace(c.String("to")), Venue: venue, Due: due, Override: override,
	})
	if err != nil {
		if told := e.refused(err); told != nil {
			return told
		}
		return explain(c, err) // the kit's, the user's or the venue's 404: the server says which
	}
	return output(e, c, loan, func(w io.Writer, l apitype.Loan) {
		fmt.Fprintf(w, "Loan %s: %s is out to %s at %s, due %s.\n", l.ID, l.KitLabel, l.BorrowerName, l.VenueName, e.dueText(l))
		if len(l.Devices) > 0 {
			fmt.Fprintf(w, "Devices: %s.\n", strings.Join(l.Devices, ", "))
		}
		if l.Override != "" {
			fmt.Fprintf(w, "Let out with devices not ready: %s\n", cmdmain.OneLine(l.Override))
		}
		if len(l.Warnings) > 0 {
			fmt.Fprintln(w, e.warn("Before you leave, check:"))
			for _, warning := range l.Warnings {
				fmt.Fprintf(w, "  %s\n", cmdmain.OneLine(warning))
			}
		}
	})
}

func (e *env) loansCheckin(c *cli.Context) error {
	pos, err := args(c, kitArg)
	if err != nil {
		return err
	}
	req := apitype.CheckinRequest{Missing: items(c, "missing"), Lost: items(c, "lost")}
	damaged, notes := items(c, "damaged"), items(c, "note")
	for _, flag := range []struct {
		name   string
		values []string
	}{{"missing", req.Missing}, {"lost", req.Lost}, {"damaged", damaged}} {
		if err := nonEmpty(c, flag.name, flag.values); err != nil {
			return err
		}
	}
	if len(damaged) != len(notes) {
		return cmdmain.Usagef(c, "--damaged and --note go in pairs: %d --damaged, %d --note", len(damaged), len(notes))
	}
	for i, d := range damaged {
		if notes[i] == "" {
			return cmdmain.Usagef(c, "--note for %s is empty: say what is damaged", d)
		}
		req.Damaged = append(req.Damaged, apitype.Damage{Device: d, Note: notes[i]})
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	loan, err := cl.Checkin(c.Context, pos[0], req)
	if err != nil {
		return explain(c, err)
	}
	return output(e, c, loan, e.printCheckin)
}

// printCheckin says what a check-in recorded and what comes next.
func (e *env) printCheckin(w io.Writer, l apitype.Loan) {
	fmt.Fprintf(w, "%s is back from %s at %s (loan %s, out %s).\n", l.KitLabel, l.BorrowerName, l.VenueName, l.ID, e.clock(l.OutAt))
	back := slices.DeleteFunc(slices.Clone(l.Devices), func(tag string) bool { return slices.Contains(l.MissingDevices, tag) })
	if len(back) > 0 {
		fmt.Fprintf(w, "To wipe before the next loan: %s (valise wipe %s).\n", strings.Join(back, ", "), strings.Join(back, " "))
	}
	if len(l.MissingDevices) > 0 {
		fmt.Fprintf(w, "%s %s\n", e.warn("Missing devices:"), strings.Join(l.MissingDevices, ", "))
	}
	if len(l.MissingAccessories) > 0 {
		fmt.Fprintf(w, "%s %s (valise kits restock %q when found)\n", e.warn("Missing accessories:"), strings.Join(l.MissingAccessories, ", "), l.KitLabel)
	}
	for _, d := range l.Damaged {
		fmt.Fprintf(w, "%s %s: %s\n", e.warn("Damaged:"), d.Device, cmdmain.OneLine(d.Note))
	}
	for _, h := range l.HardwareChanges {
		fmt.Fprintf(w, "%s %s: %s\n", e.warn("Hardware changed:"), orDefault(h.AssetTag, h.Device), cmdmain.OneLine(h.What))
	}
}

func (e *env) loansList(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	f := apiclient.LoanFilter{
		Open: c.Bool("open"), Overdue: c.Bool("overdue"), Limit: c.Int("limit"),
		User: strings.TrimSpace(c.String("user")), Venue: strings.TrimSpace(c.String("venue")), Kit: strings.TrimSpace(c.String("kit")),
	}
	if f.Limit < 0 {
		return cmdmain.Usagef(c, "--limit %d must not be negative", f.Limit)
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	loans, err := cl.Loans(c.Context, f)
	if err != nil {
		return explain(c, err)
	}
	return output(e, c, loans, func(w io.Writer, loans []apitype.Loan) {
		if len(loans) == 0 {
			if f != (apiclient.LoanFilter{}) {
				fmt.Fprintln(w, "No loan matches these filters.")
			} else {
				fmt.Fprintln(w, "No loan yet. To lend a kit: valise loans checkout KIT --to USER --venue VENUE --due DATE")
			}
			return
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "LOAN\tKIT\tBORROWER\tVENUE\tOUT\tDUE\tRETURNED\tFLAGS")
		open, overdue := 0, 0
		for _, l := range loans {
			var flags []string
			if l.ReturnedAt == nil {
				open++
			}
			if l.Overdue {
				overdue++
				flags = append(flags, e.warn("overdue"))
			}
			if len(l.PossiblyLost) > 0 {
				flags = append(flags, e.warn("possibly lost: "+strings.Join(l.PossiblyLost, " ")))
			}
			if len(l.MissingDevices)+len(l.MissingAccessories) > 0 {
				flags = append(flags, "missing: "+strings.Join(append(slices.Clone(l.MissingDevices), l.MissingAccessories...), ", "))
			}
			if len(l.Damaged) > 0 {
				flags = append(flags, "damaged")
			}
			if l.Override != "" {
				flags = append(flags, "override")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.KitLabel, l.BorrowerName, l.VenueName,
				e.clock(l.OutAt), e.clock(l.DueAt), e.optClock(l.ReturnedAt), listOrDash(flags))
		}
		tw.Flush()
		fmt.Fprintf(w, "%d %s, %d open, %d overdue\n", len(loans), plural(len(loans), "loan"), open, overdue)
	})
}

func (e *env) loansShow(c *cli.Context) error {
	pos, err := args(c, loanArg)
	if err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	l, err := cl.Loan(c.Context, pos[0])
	if err != nil {
		return notFound(c, "loan", pos[0], err)
	}
	return output(e, c, l, e.printLoan)
}

// printLoan prints the detail view of a loan.
func (e *env) printLoan(out io.Writer, l apitype.Loan) {
	w := tabwriter.NewWriter(out, 17, 0, 2, ' ', 0)
	defer w.Flush()
	state := "open"
	if l.ReturnedAt != nil {
		state = "returned"
	} else if l.Overdue {
		state = e.warn("overdue")
	}
	fmt.Fprintln(w, e.bold(fmt.Sprintf("Loan %s · %s · %s", l.ID, l.KitLabel, state)))
	row(w, "Borrower", l.BorrowerName)
	row(w, "Venue", l.VenueName)
	row(w, "Out", join(" by ", e.clock(l.OutAt), l.By))
	row(w, "Due", e.dueText(l))
	if l.ReturnedAt != nil {
		row(w, "Returned", join(" by ", e.clock(*l.ReturnedAt), l.ReturnedBy))
	}
	row(w, "Devices", listOrDash(l.Devices))
	if l.Override != "" {
		row(w, "Override", cmdmain.OneLine(l.Override))
	}
	for _, warning := range l.Warnings {
		row(w, "Warning", cmdmain.OneLine(warning))
	}
	if len(l.PossiblyLost) > 0 {
		row(w, "Possibly lost", e.warn(strings.Join(l.PossiblyLost, ", "))+"  (silent too long)")
	}
	if len(l.MissingDevices) > 0 {
		row(w, "Missing devices", e.warn(strings.Join(l.MissingDevices, ", ")))
	}
	if len(l.MissingAccessories) > 0 {
		row(w, "Missing", e.warn(strings.Join(l.MissingAccessories, ", ")))
	}
	for _, d := range l.Damaged {
		row(w, "Damaged", d.Device+": "+cmdmain.OneLine(d.Note))
	}
	for _, h := range l.HardwareChanges {
		row(w, "Hardware changed", orDefault(h.AssetTag, h.Device)+": "+cmdmain.OneLine(h.What))
	}
}
