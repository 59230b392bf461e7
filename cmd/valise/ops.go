package main

// Helpers shared by the commands of daily operations: users, venues, kits,
// loans, assignments and the audit log.

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

// Argument names in usage lines and errors.
const (
	kitArg   = "KIT"
	venueArg = "VENUE"
	userArg  = "USER"
	loanArg  = "LOAN"
)

// repeated is the value of a flag given once per item ("--missing sacoche
// --missing 'chargeur, câble'"): unlike cli.StringSliceFlag it never splits
// a value at its commas, which names and notes often hold.
type repeated struct{ items []string }

func (r *repeated) Set(v string) error {
	r.items = append(r.items, v)
	return nil
}

func (r *repeated) String() string { return strings.Join(r.items, ", ") }

// repeatedFlag is a flag that may be given several times.
func repeatedFlag(name, usage string) cli.Flag {
	return &cli.GenericFlag{Name: name, Usage: usage + " (repeat the flag for several)", Value: &repeated{}}
}

// items returns the values of a repeatedFlag, trimmed, in the order given.
func items(c *cli.Context, name string) []string {
	r, _ := c.Generic(name).(*repeated)
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.items))
	for _, v := range r.items {
		out = append(out, strings.TrimSpace(v))
	}
	return out
}

// nonEmpty refuses an empty value among the items of flag name.
func nonEmpty(c *cli.Context, name string, values []string) error {
	for _, v := range values {
		if v == "" {
			return cmdmain.Usagef(c, "--%s is empty: give a value", name)
		}
	}
	return nil
}

// required returns the trimmed value of a string flag, or a usage error
// that says what to give.
func required(c *cli.Context, name, what string) (string, error) {
	v := strings.TrimSpace(c.String(name))
	if v == "" {
		return "", cmdmain.Usagef(c, "--%s is required: %s", name, what)
	}
	return v, nil
}

// notFound explains a failure about the thing named ref ("kit", "Kit 07"):
// a 404 says that nothing matches, anything else as explain says.
func notFound(c *cli.Context, what, ref string, err error) error {
	if apiclient.IsNotFound(err) {
		return fmt.Errorf("no %s matches %s", what, ref)
	}
	return explain(c, err)
}

// refused prints a refusal that comes with one detail per reason (the
// devices blocking a checkout): the server's message, then each reason on
// its own indented line. It returns nil when err carries no details, for
// explain to handle.
func (e *env) refused(err error) error {
	var ae *apiclient.Error
	if !errors.As(err, &ae) || len(ae.Details) == 0 || ae.Status >= 500 {
		return nil
	}
	w := &errWriter{w: e.stderr}
	fmt.Fprintf(w, "valise: %s\n", cmdmain.OneLine(ae.Message))
	for _, d := range ae.Details {
		fmt.Fprintf(w, "  %s\n", cmdmain.OneLine(d))
	}
	if w.err != nil {
		return w.err
	}
	return &toldError{msg: ae.Message}
}

// dateLayout is how dates are typed: --due 2026-12-05.
const dateLayout = "2006-01-02"

// parseDue reads --due: a date (the end of that day in e.loc) or an RFC
// 3339 time. A time not after now is refused.
func (e *env) parseDue(c *cli.Context, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	var due time.Time
	if d, err := time.ParseInLocation(dateLayout, s, e.loc); err == nil {
		due = time.Date(d.Year(), d.Month(), d.Day(), 23, 59, 59, 0, e.loc)
	} else if t, err := time.Parse(time.RFC3339, s); err == nil {
		due = t
	} else {
		return time.Time{}, cmdmain.Usagef(c, "--due %q: give a date (2026-12-05) or a time (2026-12-05T17:00:00+01:00)", s)
	}
	if !due.After(e.now()) {
		return time.Time{}, cmdmain.Usagef(c, "--due %s is in the past: give the date the kit comes back", s)
	}
	return due, nil
}

// day formats the date of t in the user's time zone.
func (e *env) day(t time.Time) string {
	return t.In(e.loc).Format(dateLayout)
}

// dueText says when a loan is due: "2026-12-05 23:59 (in 12 d)", or
// "… (overdue by 2 d)" in red.
func (e *env) dueText(l apitype.Loan) string {
	switch {
	case l.ReturnedAt != nil:
		return e.clock(l.DueAt)
	case l.Overdue || !l.DueAt.After(e.now()):
		return e.clock(l.DueAt) + " " + e.warn("(overdue by "+span(e.now().Sub(l.DueAt))+")")
	}
	return fmt.Sprintf("%s (%s)", e.clock(l.DueAt), e.until(l.DueAt))
}

// listOrDash joins the items of a detail row, or is a dash when there are
// none.
func listOrDash(items []string) string {
	if len(items) == 0 {
		return dash
	}
	return strings.Join(items, ", ")
}

// output prints what a command answers: its JSON with --json, else
// through show.
func output[T any](e *env, c *cli.Context, v T, show func(w io.Writer, v T)) error {
	if e.wantJSON(c) {
		return writeJSON(e.stdout, v)
	}
	w := &errWriter{w: e.stdout}
	show(w, v)
	return w.err
}
