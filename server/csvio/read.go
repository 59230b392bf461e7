// Package csvio reads and writes the CSV files of devices, venues, kits and
// loans that logistics staff import and export.
//
// Reading is lenient about what spreadsheets do and strict about content:
// ',' ';' or tab as the delimiter (sniffed from the header line), a UTF-8
// byte order mark, CRLF line ends and quoted multi-line cells are accepted;
// column names are matched by fleet.NameKey (case, accents and separators
// do not matter) against each kind's names, Snipe-IT's asset export names
// and French ones. Anything else (an unknown column, a row with more cells
// than the header, text that is not UTF-8) is a RowError naming its line:
// the header is line 1 and a quoted cell that spans lines counts each of
// them. Nothing is imported unless every row is good (see Import).
//
// Writing produces what reading accepts: UTF-8, ',' as the delimiter, a
// header row with the names import reads, so that an export imports back
// as updates.
package csvio

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/valise-numerique/valise/server/fleet"
)

// Limits of an imported file.
const (
	// MaxBytes bounds the size of a file.
	MaxBytes = 8 << 20
	// MaxRows bounds the number of rows of a file, header excluded. A
	// file is written in one transaction, during which the server's other
	// writes wait: 20,000 new devices take a few seconds in a new store,
	// 100,000 nearly a minute, as bbolt's pages split only at commit.
	MaxRows = fleet.MaxImportRows
)

// Column is a column a kind of file may have.
type Column struct {
	// Name is the column's name in exports and messages.
	Name string
	// Aliases are the other names it is read under: Snipe-IT's, French.
	Aliases []string
}

// Schema is the columns of one kind of file.
type Schema struct {
	// Kind is devices, venues or kits.
	Kind    string
	Columns []Column
	// Ignored are names of columns that are known (Snipe-IT's) and skipped.
	Ignored []string
	// Required lists groups of column names: the header must have at least
	// one column of each group.
	Required [][]string
}

// Names returns the names of the schema's columns.
func (s Schema) Names() []string {
	out := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		out[i] = c.Name
	}
	return out
}

// Cell is one value of a row and the line it starts on.
type Cell struct {
	Value string
	Line  int
}

// Row is one data row of a file, by column name.
type Row struct {
	// Line is the line the row starts on.
	Line  int
	cells map[string]Cell
}

// Get returns the trimmed value of the row's column, "" when the file has
// no such column.
func (r Row) Get(col string) string { return r.cells[col].Value }

// LineOf returns the line the column's cell starts on, or the row's line.
func (r Row) LineOf(col string) int {
	if c, ok := r.cells[col]; ok && c.Line > 0 {
		return c.Line
	}
	return r.Line
}

// File is a read file: its rows, and what is wrong with its structure.
type File struct {
	// Delimiter is the one sniffed from the header line.
	Delimiter rune
	// Columns are the schema's column names the header holds, in file
	// order; Header maps each to its name as the header writes it.
	Columns []string
	Header  map[string]string
	Rows    []Row
	// Errors are the problems of the file's structure: unknown, missing
	// or repeated columns, rows of the wrong width, CSV syntax, encoding.
	// Reading stops at the first error it cannot read past.
	Errors []fleet.RowError
}

// Read reads a whole CSV file of the schema's kind, at most MaxBytes.
// Structural problems are in File.Errors; the error is for a failing
// reader only.
func Read(r io.Reader, s Schema) (*File, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read CSV: %w", err)
	}
	return Parse(body, s), nil
}

// Parse reads a CSV file held in memory; see Read.
func Parse(body []byte, s Schema) *File {
	f := &File{Delimiter: ',', Header: map[string]string{}}
	fail := func(line int, col, format string, args ...any) {
		f.Errors = append(f.Errors, fleet.RowError{Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
	}
	if len(body) > MaxBytes {
		fail(0, "", "the file is larger than %d MiB; split it", MaxBytes>>20)
		return f
	}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(body) {
		fail(badUTF8Line(body), "", "the text is not UTF-8; save the file as \"CSV UTF-8\"")
		return f
	}
	if len(bytes.TrimSpace(body)) == 0 {
		fail(1, "", "the file is empty; the first line must name the columns (%s)", strings.Join(s.Names(), ", "))
		return f
	}
	f.Delimiter = sniff(body)
	cr := csv.NewReader(bytes.NewReader(body))
	cr.Comma = f.Delimiter
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		fail(1, "", "%s", csvMessage(err))
		return f
	}
	cols := f.mapHeader(header, s)
	if len(f.Errors) > 0 && cols == nil {
		return f
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			line := 0
			if errors.As(err, &pe) {
				line = pe.Line
				if errors.Is(pe.Err, csv.ErrQuote) {
					line = pe.StartLine
				}
			}
			fail(line, "", "%s", csvMessage(err))
			return f
		}
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			continue
		}
		if len(f.Rows) == MaxRows {
			fail(line, "", "the file has more than %d rows; split it", MaxRows)
			return f
		}
		if len(rec) != len(header) && !(len(rec) > len(header) && blank(rec[len(header):])) {
			fail(line, "", "%d cells, but the header has %d columns", len(rec), len(header))
			continue
		}
		row := Row{Line: line, cells: make(map[string]Cell, len(f.Columns))}
		for i, name := range cols {
			if i >= len(rec) {
				break
			}
			v := unescape(strings.TrimSpace(rec[i]))
			l, _ := cr.FieldPos(i)
			switch name {
			case "":
				continue
			case unnamed:
				if v != "" {
					fail(l, "", "cell %d has a value but its column has no name in the header", i+1)
				}
				continue
			}
			row.cells[name] = Cell{Value: v, Line: l}
		}
		f.Rows = append(f.Rows, row)
	}
	return f
}

// unnamed marks a column whose header cell is empty.
const unnamed = "\x00unnamed"

// mapHeader maps each header cell to a column name ("" for ignored ones)
// and records the header's errors. It returns nil when no column is known.
func (f *File) mapHeader(header []string, s Schema) []string {
	byKey := map[string]string{}
	for _, c := range s.Columns {
		byKey[fleet.NameKey(c.Name)] = c.Name
		for _, a := range c.Aliases {
			byKey[fleet.NameKey(a)] = c.Name
		}
	}
	ignored := map[string]bool{}
	for _, n := range s.Ignored {
		ignored[fleet.NameKey(n)] = true
	}
	cols := make([]string, len(header))
	seen := map[string]int{}
	known := 0
	for i, h := range header {
		h = strings.TrimSpace(h)
		key := fleet.NameKey(h)
		name, ok := byKey[key]
		switch {
		case key == "":
			cols[i] = unnamed
		case ok:
			if j, dup := seen[name]; dup {
				f.Errors = append(f.Errors, fleet.RowError{Line: 1, Message: fmt.Sprintf(
					"column %d %q gives the %s again (column %d %q gives it already); keep one", i+1, h, name, j+1, header[j])})
				continue
			}
			seen[name] = i
			cols[i] = name
			f.Columns = append(f.Columns, name)
			f.Header[name] = h
			known++
		case ignored[key]:
		default:
			f.Errors = append(f.Errors, fleet.RowError{Line: 1, Message: fmt.Sprintf(
				"unknown column %q; the columns of %s are: %s", h, s.Kind, strings.Join(s.Names(), ", "))})
		}
	}
	for _, group := range s.Required {
		found := false
		for _, n := range group {
			if _, ok := seen[n]; ok {
				found = true
			}
		}
		if !found {
			f.Errors = append(f.Errors, fleet.RowError{Line: 1, Message: fmt.Sprintf(
				"the header has no %s column", strings.Join(group, " or "))})
		}
	}
	if known == 0 {
		return nil
	}
	return cols
}

// sniff returns the delimiter of the header line: the most frequent of
// ',', ';' and tab outside quotes; ',' when there is none.
func sniff(body []byte) rune {
	counts := map[byte]int{}
	quoted := false
	for _, c := range body {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\n':
			return best(counts)
		case c == ',' || c == ';' || c == '\t':
			counts[c]++
		}
	}
	return best(counts)
}

func best(counts map[byte]int) rune {
	d := byte(',')
	for _, c := range []byte{';', '\t'} {
		if counts[c] > counts[d] {
			d = c
		}
	}
	return rune(d)
}

func blank(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// badUTF8Line returns the line of the first byte that is not UTF-8.
func badUTF8Line(b []byte) int {
	line := 1
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return line
		}
		if r == '\n' {
			line++
		}
		b = b[n:]
	}
	return line
}

// csvMessage words a CSV syntax error without its position, which the
// RowError carries.
func csvMessage(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, csv.ErrBareQuote):
			return fmt.Sprintf("a '\"' inside an unquoted cell (column %d); quote the cell and double the '\"'", pe.Column)
		case errors.Is(pe.Err, csv.ErrQuote):
			return "a quoted cell is not closed before the end of the file, or has text after its closing '\"'"
		}
		return pe.Err.Error()
	}
	return err.Error()
}
