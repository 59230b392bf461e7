package csvio

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Writer writes a CSV file: UTF-8, ',' between cells, "\r\n" between rows
// as RFC 4180 and spreadsheets expect.
//
// A cell that a spreadsheet would run as a formula (one starting with '=',
// '+', '-', '@', a tab or a carriage return, and not a number) is written
// with a leading "'", which spreadsheets show as text; reading removes it
// again, so an export imports back unchanged.
type Writer struct {
	w *csv.Writer
}

// NewWriter returns a Writer to w that has written the header row.
func NewWriter(w io.Writer, header []string) (*Writer, error) {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(header); err != nil {
		return nil, fmt.Errorf("write CSV header: %w", err)
	}
	return &Writer{w: cw}, nil
}

// Write writes one row.
func (w *Writer) Write(cells ...string) error {
	for i, c := range cells {
		cells[i] = escape(c)
	}
	if err := w.w.Write(cells); err != nil {
		return fmt.Errorf("write CSV row: %w", err)
	}
	return nil
}

// Flush writes what is buffered and reports any error of the writes.
func (w *Writer) Flush() error {
	w.w.Flush()
	if err := w.w.Error(); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	return nil
}

func formulaLike(s string) bool {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err != nil
}

func escape(s string) string {
	if formulaLike(s) {
		return "'" + s
	}
	return s
}

func unescape(s string) string {
	if strings.HasPrefix(s, "'") && formulaLike(s[1:]) {
		return s[1:]
	}
	return s
}

// Date formats a day as exports write it; "" for the zero time.
func Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

// Time formats an instant as exports write it (RFC 3339, UTC); "" for the
// zero time.
func Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// dateLayouts are the dates a cell may hold: ISO, French day-first,
// Snipe-IT's with a time, RFC 3339.
var dateLayouts = []string{
	time.DateOnly, "2/1/2006", "02/01/2006", "2.1.2006", "02.01.2006",
	time.DateTime, "2006-01-02 15:04", "02/01/2006 15:04", "02/01/2006 15:04:05", time.RFC3339,
}

// ParseDate reads a day: 2026-11-23, 23/11/2026 (day first, as in France),
// with or without a time of day, which is dropped.
func ParseDate(s string) (time.Time, error) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			y, m, d := t.Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date; write 2026-11-23 or 23/11/2026", s)
}

// ParseCoord reads a latitude or longitude in decimal degrees, with '.' or
// ',' as the decimal separator.
func ParseCoord(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of degrees such as 47.4379", s)
	}
	return v, nil
}
