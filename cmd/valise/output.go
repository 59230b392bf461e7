package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// dash stands for a value never reported.
const dash = "—"

// writeJSON prints v as indented JSON, for scripts.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// errWriter remembers the first write error, so that printing code can
// write freely and check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(p)
	w.err = err
	return n, err
}

// newTable returns a tabwriter for aligned columns separated by tabs.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// bold returns s in bold on a colour terminal.
func (e *env) bold(s string) string {
	if !e.color {
		return s
	}
	return "\x1b[1m" + s + "\x1b[0m"
}

// warn returns s in red on a colour terminal.
func (e *env) warn(s string) string {
	if !e.color {
		return s
	}
	return "\x1b[31m" + s + "\x1b[0m"
}

// clock formats t in the user's time zone.
func (e *env) clock(t time.Time) string {
	return t.In(e.loc).Format("2006-01-02 15:04")
}

// ago says how long ago t was: "2 min ago", "3 d ago"; "never" for nil.
func (e *env) ago(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	d := e.now().Sub(*t)
	if d < time.Minute {
		return "just now"
	}
	return span(d) + " ago"
}

// until says how far ahead t is: "in 24 h", or "expired".
func (e *env) until(t time.Time) string {
	d := t.Sub(e.now())
	if d <= 0 {
		return "expired"
	}
	return "in " + span(d+30*time.Second) // rounding: a 24h token reads "in 24 h", not 23 h
}

// span is a duration for people, in its largest unit: "45 s", "2 min",
// "5 h", "3 d".
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	}
	return fmt.Sprintf("%d d", int(d/(24*time.Hour)))
}

// uptime is an uptime for people: "3 d 4 h", "5 h 12 min", "12 min".
func uptime(seconds uint64) string {
	d := time.Duration(seconds) * time.Second
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%d d %d h", days, hours)
	case hours > 0:
		return fmt.Sprintf("%d h %d min", hours, mins)
	}
	return fmt.Sprintf("%d min", mins)
}

// parseDuration reads a Go duration, plus days ("7d") and weeks ("2w")
// on their own.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v < 0 || v > 3650 || math.IsNaN(v) {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			return time.Duration(v * float64(unit)), nil
		}
	}
	return time.ParseDuration(s)
}

// gb formats a size in decimal gigabytes, as disk vendors count: "256.1 GB".
func gb(bytes uint64) string {
	switch {
	case bytes >= 1e12:
		return fmt.Sprintf("%.1f TB", float64(bytes)/1e12)
	case bytes >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(bytes)/1e9)
	}
	return fmt.Sprintf("%.1f MB", float64(bytes)/1e6)
}

// gib formats a size in binary gibibytes, as memory and filesystems count:
// "15.5 GiB".
func gib(bytes uint64) string {
	switch {
	case bytes >= 1<<40:
		return fmt.Sprintf("%.1f TiB", float64(bytes)/(1<<40))
	case bytes >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(bytes)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
}

// pct formats a percentage, rounded: "64 %"; a dash when nil.
func pct(p *float64) string {
	if p == nil {
		return dash
	}
	return fmt.Sprintf("%.0f %%", *p)
}

// orDash returns s, or a dash when s is empty.
func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return dash
	}
	return s
}

// yesNo formats a boolean for tables.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// sparkBlocks are the eight heights of a sparkline.
var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws values as a line of unicode blocks, at most width of them
// (the last values when there are more).
func sparkline(values []float64, width int) string {
	if len(values) > width {
		values = values[len(values)-width:]
	}
	if len(values) == 0 {
		return ""
	}
	lo, hi := values[0], values[0]
	for _, v := range values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	var b strings.Builder
	for _, v := range values {
		i := 0
		if hi > lo {
			i = int(math.Round((v - lo) / (hi - lo) * float64(len(sparkBlocks)-1)))
		}
		b.WriteRune(sparkBlocks[i])
	}
	return b.String()
}

// join joins the non-empty parts with sep.
func join(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}
