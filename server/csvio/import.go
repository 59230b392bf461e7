package csvio

import (
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/valise-numerique/valise/server/fleet"
)

// MaxErrorLines and maxErrorBytes bound the bad fields an import reports,
// so that the answer stays short enough for a client to read whole; a
// last line then says how many more there are.
const (
	MaxErrorLines = 200
	maxErrorBytes = 32 << 10
)

// Importer is what an import needs of the fleet.
type Importer interface {
	ImportDevices(by fleet.Principal, rows []fleet.DeviceRow, dryRun bool) (fleet.ImportReport, error)
	ImportVenues(by fleet.Principal, rows []fleet.VenueRow, dryRun bool) (fleet.ImportReport, error)
	ImportKits(by fleet.Principal, rows []fleet.KitRow, dryRun bool) (fleet.ImportReport, error)
}

// Import reads a CSV file of devices, venues or kits, called name in
// messages, and hands its rows to the fleet, which writes them all in one
// transaction or nothing (only validates them when dryRun).
//
// A file with bad fields is refused whole with a *fleet.RefusedError
// (fleet.ErrInvalid) whose lines name each bad field and its line, sorted
// by line: the file's own problems (unknown columns, dates that do not
// parse) and the fleet's (duplicate serials, unknown venues) together.
func Import(im Importer, by fleet.Principal, kind, name string, r io.Reader, dryRun bool) (fleet.ImportReport, error) {
	s, err := schemaOf(kind)
	if err != nil {
		return fleet.ImportReport{}, err
	}
	f, err := Read(r, s)
	if err != nil {
		return fleet.ImportReport{}, err
	}
	errs := slices.Clone(f.Errors)
	check := dryRun || len(errs) > 0
	var (
		rep  fleet.ImportReport
		bad  []fleet.RowError
		ferr error
	)
	switch kind {
	case KindDevices:
		var rows []fleet.DeviceRow
		rows, bad = DeviceRows(f)
		rep, ferr = im.ImportDevices(by, rows, check || len(bad) > 0)
	case KindVenues:
		var rows []fleet.VenueRow
		rows, bad = VenueRows(f)
		rep, ferr = im.ImportVenues(by, rows, check || len(bad) > 0)
	case KindKits:
		var rows []fleet.KitRow
		rows, bad = KitRows(f)
		rep, ferr = im.ImportKits(by, rows, check || len(bad) > 0)
	}
	errs = append(errs, bad...)
	var refused *fleet.RefusedError
	switch {
	case ferr == nil:
	case errors.As(ferr, &refused) && errors.Is(ferr, fleet.ErrInvalid):
		errs = append(errs, rep.Errors...)
		if len(rep.Errors) == 0 { // a refusal that names no row
			for _, l := range refused.Lines {
				errs = append(errs, fleet.RowError{Message: l})
			}
		}
	default:
		return fleet.ImportReport{}, ferr
	}
	if len(errs) == 0 {
		rep.Kind, rep.DryRun = kind, dryRun
		return rep, nil
	}
	for i, e := range errs { // name columns as the file does
		if h, ok := f.Header[e.Column]; ok {
			errs[i].Column = h
		}
	}
	return fleet.ImportReport{Kind: kind, DryRun: dryRun, Rows: len(f.Rows), Errors: errs}, Refusal(name, errs)
}

// Refusal returns the error of a file with bad fields: its summary counts
// the bad rows, its lines name each bad field, by line.
func Refusal(name string, errs []fleet.RowError) *fleet.RefusedError {
	errs = slices.Clone(errs)
	slices.SortStableFunc(errs, func(a, b fleet.RowError) int { return a.Line - b.Line })
	errs = slices.Compact(errs)
	rows := map[int]bool{}
	header, file := false, false
	for _, e := range errs {
		switch e.Line {
		case 0:
			file = true
		case 1:
			header = true
		default:
			rows[e.Line] = true
		}
	}
	var what []string
	if file {
		what = append(what, "an unreadable file")
	}
	if header {
		what = append(what, "a bad header")
	}
	switch len(rows) {
	case 0:
	case 1:
		what = append(what, "1 bad row")
	default:
		what = append(what, fmt.Sprintf("%d bad rows", len(rows)))
	}
	lines := make([]string, 0, min(len(errs), MaxErrorLines+1))
	size := 0
	for i, e := range errs {
		if i == MaxErrorLines || size > maxErrorBytes {
			lines = append(lines, fmt.Sprintf("… and %d more bad fields", len(errs)-i))
			break
		}
		lines = append(lines, e.String())
		size += len(lines[i])
	}
	return &fleet.RefusedError{
		Kind:    fleet.ErrInvalid,
		Summary: fmt.Sprintf("%s in %s; nothing was imported", strings.Join(what, " and "), FileName(name)),
		Lines:   lines,
	}
}

// FileName returns the base name of a file name for messages, or "the
// file" when it is empty or not a plain name.
func FileName(name string) string {
	name = path.Base(strings.ReplaceAll(strings.TrimSpace(name), "\\", "/"))
	if name == "" || name == "." || name == "/" || len(name) > 128 ||
		strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "the file"
	}
	return name
}
