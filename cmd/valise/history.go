package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

// devicesLifecycle prints the lifecycle events of a device: "devices
// history" without --metric.
func (e *env) devicesLifecycle(c *cli.Context, ref string) error {
	window := ""
	var from time.Time
	if c.IsSet("since") {
		d, err := parseDuration(c.String("since"))
		if err != nil || d <= 0 {
			return cmdmain.Usagef(c, "--since %q: give a positive duration such as 30m, 24h or 7d", c.String("since"))
		}
		from, window = e.now().Add(-d), "in the last "+span(d)
	}
	if c.Int("limit") < 0 {
		return cmdmain.Usagef(c, "--limit %d must not be negative", c.Int("limit"))
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	evs, err := cl.DeviceEvents(c.Context, ref)
	if err != nil {
		return deviceError(c, ref, err)
	}
	evs = slices.DeleteFunc(evs, func(ev apitype.Event) bool { return ev.At.Before(from) })
	return e.printLifecycle(c, ref, evs, window)
}

func (e *env) printLifecycle(c *cli.Context, ref string, evs []apitype.Event, window string) error {
	if n := c.Int("limit"); n > 0 && len(evs) > n {
		evs = evs[len(evs)-n:] // the latest ones
	}
	if e.wantJSON(c) {
		return writeJSON(e.stdout, evs)
	}
	w := &errWriter{w: e.stdout}
	if len(evs) == 0 {
		fmt.Fprintf(w, "No lifecycle event for %s%s.\n", ref, prefixed(" ", window))
		return w.err
	}
	fmt.Fprintf(w, "Lifecycle of %s, %d %s%s\n", ref, len(evs), plural(len(evs), "event"), prefixed(" ", window))
	tw := newTable(w)
	fmt.Fprintln(tw, "AT\tACTOR\tACTION\tCHANGE\tREASON")
	for _, ev := range evs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.clock(ev.At), orDash(ev.Actor), ev.Action,
			change(ev.Before, ev.After), orDash(cmdmain.OneLine(ev.Reason)))
	}
	tw.Flush()
	return w.err
}

// change shows an event's before and after: "needs_wipe → wiping".
func change(before, after json.RawMessage) string {
	return arrow(eventValue(before), eventValue(after))
}

// arrow shows a before and an after as "b → a", with a dash for a side
// that is empty.
func arrow(b, a string) string {
	switch {
	case b == "" && a == "":
		return dash
	case b == "":
		return a
	case a == "":
		return b + " → " + dash
	}
	return b + " → " + a
}

// eventValue shows one side of an event for people: a string as is, an
// object by its state when it has one, or as key=value pairs.
func eventValue(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return cmdmain.OneLine(s)
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) != nil {
		return cmdmain.OneLine(string(raw))
	}
	if st, ok := obj["state"].(string); ok && len(obj) == 1 {
		return st
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := obj[k]
		if vs, ok := v.(string); ok {
			parts = append(parts, k+"="+shortHash(vs))
			continue
		}
		vb, _ := json.Marshal(v)
		parts = append(parts, k+"="+string(vb))
	}
	return cmdmain.OneLine(strings.Join(parts, " "))
}

// shortHash cuts a long hex string (a SHA-256) to its first 12 digits, as
// enough to recognise it in a table: valise certificate show has it whole.
func shortHash(s string) string {
	if len(s) < 32 || strings.Trim(s, "0123456789abcdef") != "" {
		return s
	}
	return s[:12] + "…"
}
