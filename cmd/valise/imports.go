package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

// Kinds of files import reads and export writes.
var (
	importKinds = []string{apitype.KindDevices, apitype.KindVenues, apitype.KindKits}
	exportKinds = []string{apitype.KindDevices, apitype.KindLoans, apitype.KindVenues, apitype.KindKits}
)

// maxImport is the largest file the server takes.
const maxImport = 8 << 20

const importHelp = `Reads a CSV file (',' or ';' between cells, UTF-8, at most 20,000 rows and
8 MiB: split bigger ones) whose first line names the columns, and imports
all of its rows or, when one is bad, none: every bad field is listed with
its line.

Columns (case and accents do not matter; Snipe-IT's asset export names
are understood, its other columns skipped):
  devices  asset tag, serial, class (or Snipe-IT's category), manufacturer,
           model, venue (location), status, supplier, purchase date,
           warranty expires
  venues   name, kind, commune, insee, latitude, longitude, contact
  kits     label, home, devices (asset tags or serials), accessories
           (separated by ';' or '|')

A row that names an existing device (by asset tag or serial), venue (by
name) or kit (by label) updates it; an empty cell leaves its field as it
is, and an enrolled device keeps the class and state it has. A new device
needs its asset tag and starts in intake (or maintenance, lost or retired,
from its status): it is wiped before it goes out. An export imports back
as rows that change nothing.`

func (e *env) importCommand() *cli.Command {
	return &cli.Command{
		Name:        "import",
		Usage:       "import devices, venues or kits from a CSV file, all rows or none",
		ArgsUsage:   strings.Join(importKinds, "|") + " FILE.csv",
		Description: importHelp,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "check the file and say what it would do, without writing anything"},
			jsonFlag(),
		},
		Action: e.importCSV,
	}
}

func (e *env) importCSV(c *cli.Context) error {
	pos, err := args(c, "KIND", "FILE")
	if err != nil {
		return err
	}
	kind, file := strings.ToLower(pos[0]), pos[1]
	if !slices.Contains(importKinds, kind) {
		return cmdmain.Usagef(c, "cannot import %q: import %s", pos[0], strings.Join(importKinds, ", "))
	}
	body, err := readImport(e.stdin, file)
	if err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	name := filepath.Base(file)
	if file == "-" {
		name = ""
	}
	rep, err := cl.Import(c.Context, kind, name, body, c.Bool("dry-run"))
	if err != nil {
		if told := e.refused(err); told != nil {
			return told
		}
		return explain(c, err)
	}
	return output(e, c, rep, func(w io.Writer, r apitype.ImportReport) {
		if name == "" {
			name = "stdin"
		}
		if r.DryRun {
			fmt.Fprintf(w, "Dry run, nothing written: the %d rows of %s are good; they would create %d %s, update %d and leave %d unchanged.\n",
				r.Rows, name, r.Created, r.Kind, r.Updated, r.Unchanged)
			return
		}
		fmt.Fprintf(w, "Imported %s: %d rows, %d %s created, %d updated, %d unchanged.\n",
			name, r.Rows, r.Created, r.Kind, r.Updated, r.Unchanged)
	})
}

// readImport reads the file to import ("-": standard input), refusing one
// larger than the server takes before sending it.
func readImport(stdin io.Reader, file string) ([]byte, error) {
	var r io.Reader = stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, cleanPathError(err))
		}
		defer f.Close()
		r = f
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(io.LimitReader(r, maxImport+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, cleanPathError(err))
	}
	if b.Len() > maxImport {
		return nil, fmt.Errorf("%s is larger than %d MiB: split it", file, maxImport>>20)
	}
	return b.Bytes(), nil
}

// cleanPathError drops the path an *os.PathError repeats.
func cleanPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (e *env) exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "export devices, loans, venues or kits as a CSV file",
		ArgsUsage: strings.Join(exportKinds, "|"),
		Description: `Writes a CSV file (UTF-8, ',' between cells) to standard output, or to
--output: the columns import reads, one row per record, so that an export
imports back. Loans list kit, borrower, venue, out, due, returned,
override and overdue.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "csv", Value: true, Usage: "write CSV (the only format of exports)"},
			&cli.StringFlag{Name: "output", Usage: "write to `FILE`, replaced only once the whole export is in", TakesFile: true},
			jsonFlag(),
		},
		Action: e.exportCSV,
	}
}

func (e *env) exportCSV(c *cli.Context) error {
	pos, err := args(c, "KIND")
	if err != nil {
		return err
	}
	kind := strings.ToLower(pos[0])
	switch {
	case !slices.Contains(exportKinds, kind):
		return cmdmain.Usagef(c, "cannot export %q: export %s", pos[0], strings.Join(exportKinds, ", "))
	case e.wantJSON(c) || !c.Bool("csv"):
		return cmdmain.Usagef(c, "exports are CSV files; for JSON, use valise %s list --json", kind)
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := cl.Export(c.Context, kind, &b); err != nil {
		return explain(c, err)
	}
	out := c.String("output")
	if out == "" {
		_, err := e.stdout.Write(b.Bytes())
		return err
	}
	return writeFileAtomic(out, b.Bytes())
}

// writeFileAtomic writes data to a new file beside path and renames it
// over path, so that path is never half written.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, cleanPathError(err))
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, cleanPathError(err))
	}
	return nil
}
