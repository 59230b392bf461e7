package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valise-numerique/valise/internal/apitype"
)

// writeFile writes a file in a fresh directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImportAndExport(t *testing.T) {
	s := newTestServer(t)
	venues := writeFile(t, "lieux.csv", "\xef\xbb\xbfNom;Type;Commune;Code INSEE\r\nFrance Services Baugé;France Services;Baugé-en-Anjou;49018\r\n")
	if out := ok(t, s, "import", "venues", venues); out != "Imported lieux.csv: 1 rows, 1 venues created, 0 updated, 0 unchanged.\n" {
		t.Errorf("import venues printed %q", out)
	}
	devices := writeFile(t, "parc.csv", "Asset Tag,Serial,Model,Category,Status,Location,Manufacturer\n"+
		"CD-0101,PF10A01,ThinkPad T480,Laptops,Ready to Deploy,France Services Baugé,Lenovo\n"+
		"CD-0102,860123456789012,E5576,Hotspot,Lost/Stolen,,Huawei\n")
	if out := ok(t, s, "import", "devices", devices, "--dry-run"); out != "Dry run, nothing written: the 2 rows of parc.csv are good; they would create 2 devices, update 0 and leave 0 unchanged.\n" {
		t.Errorf("dry run printed %q", out)
	}
	if out := ok(t, s, "devices", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("the dry run wrote: %s", out)
	}
	rep := decode[apitype.ImportReport](t, ok(t, s, "import", "devices", devices, "--json"))
	if rep != (apitype.ImportReport{Kind: "devices", Rows: 2, Created: 2}) {
		t.Errorf("import --json: %+v", rep)
	}
	want := "asset tag,serial,class,manufacturer,model,venue,status,supplier,purchase date,warranty expires\r\n" +
		"CD-0101,PF10A01,laptop,Lenovo,ThinkPad T480,France Services Baugé,intake,,,\r\n" +
		"CD-0102,860123456789012,hotspot,Huawei,E5576,,lost,,,\r\n"
	if out := ok(t, s, "export", "devices", "--csv"); out != want {
		t.Errorf("export devices:\n%s\nwant:\n%s", out, want)
	}
	export := filepath.Join(t.TempDir(), "export.csv")
	if out := ok(t, s, "export", "devices", "--output", export); out != "" {
		t.Errorf("export --output printed %q", out)
	}
	if b, err := os.ReadFile(export); err != nil || string(b) != want {
		t.Fatalf("export --output wrote %q, %v", b, err)
	}
	if out := ok(t, s, "import", "devices", export); out != "Imported export.csv: 2 rows, 0 devices created, 0 updated, 2 unchanged.\n" {
		t.Errorf("re-import of the export printed %q", out)
	}
	if out := ok(t, s, "export", "loans"); out != "kit,borrower,venue,out,due,returned,override,overdue\r\n" {
		t.Errorf("export loans printed %q", out)
	}
}

func TestImportBadRows(t *testing.T) {
	s := newTestServer(t)
	file := writeFile(t, "parc.csv", "Asset Tag;Serial;Couleur;Location;Purchase Date;Status\r\n"+
		"CD-0101;PF10A01;;Nulle Part;2024-03-15;Ready to Deploy\r\n"+
		"CD-0102;PF10A01;;;15/04/2024;\r\n"+
		"CD-0103;PF10A03;;;2024-02-30;Donné\r\n")
	r := runCLI(t, s.URL, s.admin, "import", "devices", file)
	want := "valise: a bad header and 3 bad rows in parc.csv; nothing was imported\n" +
		`  line 1: unknown column "Couleur"; the columns of devices are: asset tag, serial, class, category, manufacturer, model, venue, status, supplier, purchase date, warranty expires` + "\n" +
		`  line 2, Location: no venue is named "Nulle Part"; import the venues first or fix the name` + "\n" +
		"  line 3, Serial: same serial as line 2\n" +
		`  line 4, Purchase Date: "2024-02-30" is not a date; write 2026-11-23 or 23/11/2026` + "\n" +
		`  line 4, Status: "Donné" is not a status: use intake, maintenance, lost or retired, or Snipe-IT's Ready to Deploy, Pending, Deployed, Broken, Out for Repair, Lost/Stolen, Archived` + "\n"
	if r.code != 1 || r.stdout != "" || r.stderr != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", r.code, r.stdout, r.stderr, want)
	}
	if out := ok(t, s, "devices", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("the refused file wrote: %s", out)
	}
}

func TestImportUsageErrors(t *testing.T) {
	s := newTestServer(t)
	file := writeFile(t, "x.csv", "name\nx\n")
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"import", "users", file}, `cannot import "users": import devices, venues, kits`},
		{[]string{"import", "devices"}, "missing argument FILE"},
		{[]string{"import", "devices", filepath.Join(t.TempDir(), "absent.csv")}, "no such file or directory"},
		{[]string{"export", "devices", "--json"}, "exports are CSV files; for JSON, use valise devices list --json"},
		{[]string{"export", "users"}, `cannot export "users": export devices, loans, venues, kits`},
	} {
		r := runCLI(t, s.URL, s.admin, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("valise %s: exit %d, stderr %q, want %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.stderr)
		}
	}
}
