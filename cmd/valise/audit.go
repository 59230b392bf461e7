package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

func (e *env) auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "the append-only, hash-chained log of every change",
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list the latest events, oldest first: of the whole fleet, a device or a kit",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "device", Usage: "only the events of this `DEVICE` (id or asset tag)"},
					&cli.StringFlag{Name: "kit", Usage: "only the events of this `KIT` (id or label)"},
					&cli.IntFlag{Name: "limit", Usage: "at most this many events, the latest (0: the server's default)"},
					jsonFlag(),
				},
				Action: e.auditList,
			},
			{
				Name:      "verify",
				Usage:     "check that no event of the log was altered or removed",
				ArgsUsage: " ",
				Description: "The server recomputes every event's hash along the chain and compares the last\n" +
					"one with the recorded head. Exits 0 if the log is intact, 1 naming the first\n" +
					"altered or removed event otherwise.",
				Flags:  []cli.Flag{jsonFlag()},
				Action: e.auditVerify,
			},
		},
	}
}

func (e *env) auditList(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	device, kit, limit := strings.TrimSpace(c.String("device")), strings.TrimSpace(c.String("kit")), c.Int("limit")
	switch {
	case device != "" && kit != "":
		return cmdmain.Usagef(c, "give --device or --kit, not both")
	case limit < 0:
		return cmdmain.Usagef(c, "--limit %d must not be negative", limit)
	}
	what := orDefault(device, kit)
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	evs, err := cl.AuditPage(c.Context, apiclient.AuditFilter{Device: device, Kit: kit, Limit: limit})
	switch {
	case err != nil && kit != "":
		return notFound(c, "kit", kit, err)
	case err != nil && device != "":
		return deviceError(c, device, err)
	case err != nil:
		return explain(c, err)
	}
	if limit > 0 && len(evs) > limit {
		evs = evs[len(evs)-limit:] // the latest ones
	}
	return output(e, c, evs, func(w io.Writer, evs []apitype.Event) {
		if len(evs) == 0 {
			if what != "" {
				fmt.Fprintf(w, "No event for %s.\n", what)
			} else {
				fmt.Fprintln(w, "The audit log is empty.")
			}
			return
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tACTION\tSUBJECT\tCHANGE\tREASON")
		for _, ev := range evs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, e.clock(ev.At), orDash(ev.Actor), ev.Action,
				orDash(join(" · ", orDefault(ev.AssetTag, ev.Device), orDefault(ev.SubjectName, ev.Subject))), auditChange(ev.Before, ev.After), orDash(cmdmain.OneLine(ev.Reason)))
		}
		tw.Flush()
	})
}

func (e *env) auditVerify(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	v, err := cl.VerifyAudit(c.Context)
	if err != nil {
		return explain(c, err)
	}
	if e.wantJSON(c) {
		if err := writeJSON(e.stdout, v); err != nil {
			return err
		}
	}
	if !v.OK {
		return errors.New("the audit log is broken: " + orDefault(cmdmain.OneLine(v.Error), "no reason given"))
	}
	if e.wantJSON(c) {
		return nil
	}
	_, err = fmt.Fprintf(e.stdout, "The audit log is intact: %d %s, head %s.\n", v.Events, plural(int(v.Events), "event"), shortHash(orDash(v.Head)))
	return err
}

// maxChange bounds the CHANGE cell of audit list; --json has it all.
const maxChange = 72

// auditChange shows an event's before and after in a table cell: a state
// change as "needs_wipe → wiping", a kit, loan, user or venue by what
// names it.
func auditChange(before, after json.RawMessage) string {
	return arrow(auditValue(before), auditValue(after))
}

// namingKeys are the fields that name an object of the audit log, in the
// order they are shown.
var namingKeys = []string{"id", "label", "name", "kit_label", "borrower_name", "venue_name", "role", "kind", "commune", "state"}

// auditValue is one side of an event, short: an object by its id and
// names, anything else as devices history shows it, cut to maxChange.
func auditValue(raw json.RawMessage) string {
	var obj map[string]any
	if json.Unmarshal(raw, &obj) == nil && len(obj) > 1 {
		var parts []string
		for _, k := range namingKeys {
			if v, ok := obj[k].(string); ok && v != "" {
				parts = append(parts, cmdmain.OneLine(v))
			}
		}
		if len(parts) > 1 {
			return cut(strings.Join(parts, " · "), maxChange)
		}
	}
	return cut(eventValue(raw), maxChange)
}

// cut shortens s to n characters, the last one an ellipsis.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
