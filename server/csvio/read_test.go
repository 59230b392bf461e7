package csvio

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/server/fleet"
)

func TestParseDelimitersAndEncodings(t *testing.T) {
	want := []fleet.DeviceRow{
		{Line: 2, AssetTag: "VAL-0001", Serial: "PF1ABCDE", Model: "ThinkPad T480", Manufacturer: "Lenovo", Class: "laptop", Venue: "Mairie de Baugé"},
		{Line: 3, AssetTag: "VAL-0002", Serial: "R52N90", Model: "Galaxy Tab A8", Manufacturer: "Samsung", Class: "tablet", Venue: ""},
	}
	for _, tc := range []struct {
		name  string
		body  string
		delim rune
	}{
		{"comma", "asset tag,serial,model,manufacturer,class,venue\nVAL-0001,PF1ABCDE,ThinkPad T480,Lenovo,laptop,Mairie de Baugé\nVAL-0002,R52N90,Galaxy Tab A8,Samsung,tablet,\n", ','},
		{"semicolon BOM CRLF", "\xef\xbb\xbfAsset Tag;Serial;Model;Manufacturer;Class;Venue\r\nVAL-0001;PF1ABCDE;ThinkPad T480;Lenovo;Laptop;Mairie de Baugé\r\nVAL-0002;R52N90;Galaxy Tab A8;Samsung;tablet;\r\n", ';'},
		{"tab", "asset tag\tserial\tmodel\tmanufacturer\tclass\tvenue\nVAL-0001\tPF1ABCDE\tThinkPad T480\tLenovo\tlaptop\tMairie de Baugé\nVAL-0002\tR52N90\tGalaxy Tab A8\tSamsung\ttablet\t\n", '\t'},
		{"french headers", "Étiquette;Numéro de série;Modèle;Fabricant;Classe;Lieu\nVAL-0001;PF1ABCDE;ThinkPad T480;Lenovo;laptop;Mairie de Baugé\nVAL-0002;R52N90;Galaxy Tab A8;Samsung;tablet;\n", ';'},
		{"quoted delimiter in header line", "\"asset tag\",\"serial\",model,manufacturer,class,venue\n\"VAL-0001\",PF1ABCDE,ThinkPad T480,Lenovo,laptop,\"Mairie de Baugé\"\nVAL-0002,R52N90,Galaxy Tab A8,Samsung,tablet,\n", ','},
		{"blank lines and trailing empty cells", "asset tag;serial;model;manufacturer;class;venue\n;;;;;\nVAL-0001;PF1ABCDE;ThinkPad T480;Lenovo;laptop;Mairie de Baugé;;\nVAL-0002;R52N90;Galaxy Tab A8;Samsung;tablet;\n", ';'},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse([]byte(tc.body), Devices)
			if len(f.Errors) > 0 {
				t.Fatalf("errors: %v", f.Errors)
			}
			if f.Delimiter != tc.delim {
				t.Errorf("delimiter %q, want %q", f.Delimiter, tc.delim)
			}
			rows, errs := DeviceRows(f)
			if len(errs) > 0 {
				t.Fatalf("row errors: %v", errs)
			}
			if tc.name == "blank lines and trailing empty cells" {
				want := []fleet.DeviceRow{want[0], want[1]}
				want[0].Line, want[1].Line = 3, 4
				if diff := cmp.Diff(want, rows); diff != "" {
					t.Fatalf("rows (-want +got):\n%s", diff)
				}
				return
			}
			if diff := cmp.Diff(want, rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSnipeITExport(t *testing.T) {
	body := "ID,Company,Asset Name,Asset Tag,Serial,Model,Model No.,Category,Status,Checked Out To,Location,Manufacturer,Supplier,Purchase Date,Purchase Cost,Warranty,Warranty Expires,Notes\n" +
		"12,CD49,pc-accueil,000123,PF1ABCDE,ThinkPad T480,20L5,Laptops,Ready to Deploy,,Mairie de Baugé,Lenovo,Ecodair,2024-03-15 00:00:00,120.00,12,2025-03-15,\n" +
		"13,CD49,,000124,860123456789012,E5576,,Hotspot,Lost/Stolen,,,Huawei,,15/04/2024,,,,\"two\nlines\"\n" +
		"14,CD49,,000125,SN77,Pixel,,Phones,Pending,,,Google,,,,,,\n"
	f := Parse([]byte(body), Devices)
	if len(f.Errors) > 0 {
		t.Fatalf("errors: %v", f.Errors)
	}
	rows, errs := DeviceRows(f)
	if len(errs) > 0 {
		t.Fatalf("row errors: %v", errs)
	}
	want := []fleet.DeviceRow{
		{Line: 2, AssetTag: "000123", Serial: "PF1ABCDE", Model: "ThinkPad T480", Manufacturer: "Lenovo", Class: "laptop",
			Venue: "Mairie de Baugé", Status: "Ready to Deploy", Supplier: "Ecodair",
			PurchasedOn: time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC), WarrantyEnd: time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)},
		{Line: 3, AssetTag: "000124", Serial: "860123456789012", Model: "E5576", Manufacturer: "Huawei", Class: "hotspot",
			Status: "Lost/Stolen", PurchasedOn: time.Date(2024, 4, 15, 0, 0, 0, 0, time.UTC)},
		// The notes of line 3 span two lines: this row starts on line 5.
		{Line: 5, AssetTag: "000125", Serial: "SN77", Model: "Pixel", Manufacturer: "Google", Class: "other", Status: "Pending"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want []string
	}{
		{"unknown column", "asset tag,serial,colour\nVAL-1,S1234,red\n",
			[]string{`line 1: unknown column "colour"; the columns of devices are: asset tag, serial, class, category, manufacturer, model, venue, status, supplier, purchase date, warranty expires`}},
		{"repeated column", "Serial,asset tag,numéro de série\nS1234,VAL-1,S1234\n",
			[]string{`line 1: column 3 "numéro de série" gives the serial again (column 1 "Serial" gives it already); keep one`}},
		{"no required column", "model,manufacturer\nT480,Lenovo\n",
			[]string{"line 1: the header has no asset tag or serial column"}},
		{"empty file", "\xef\xbb\xbf\r\n",
			[]string{"line 1: the file is empty; the first line must name the columns (asset tag, serial, class, category, manufacturer, model, venue, status, supplier, purchase date, warranty expires)"}},
		{"wrong width", "asset tag,serial\nVAL-1,S1234,extra\nVAL-2\nVAL-3,S3456,,\n",
			[]string{"line 2: 3 cells, but the header has 2 columns", "line 3: 1 cells, but the header has 2 columns"}},
		{"value under an unnamed column", "asset tag,,serial\nVAL-1,,S1234\nVAL-2,oops,S2345\n",
			[]string{"line 3: cell 2 has a value but its column has no name in the header"}},
		{"bare quote after a multi-line cell", "asset tag,model\nVAL-1,\"a\nb\"\nVAL-2,12\" screen\n",
			[]string{`line 4: a '"' inside an unquoted cell (column 9); quote the cell and double the '"'`}},
		{"unclosed quote", "asset tag,model\nVAL-1,ok\nVAL-2,\"never closed\nVAL-3,x\n",
			[]string{`line 3: a quoted cell is not closed before the end of the file, or has text after its closing '"'`}},
		{"not UTF-8", "asset tag,model\nVAL-1,ok\nVAL-2,Mod\xe8le\n",
			[]string{`line 3: the text is not UTF-8; save the file as "CSV UTF-8"`}},
		{"bad dates on the line of their cell", "asset tag,notes,purchase date,warranty expires\nVAL-1,\"x\ny\",31/02/2024,2024-13-01\n",
			[]string{`line 3, purchase date: "31/02/2024" is not a date; write 2026-11-23 or 23/11/2026`,
				`line 3, warranty expires: "2024-13-01" is not a date; write 2026-11-23 or 23/11/2026`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse([]byte(tc.body), Devices)
			errs := f.Errors
			if len(errs) == 0 {
				_, errs = DeviceRows(f)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("asset tag\n")
	for i := range MaxRows + 1 {
		fmt.Fprintf(&b, "T%d\n", i)
	}
	f := Parse(b.Bytes(), Devices)
	if len(f.Errors) != 1 || f.Errors[0].String() != fmt.Sprintf("line %d: the file has more than 20000 rows; split it", MaxRows+2) {
		t.Errorf("errors = %v", f.Errors)
	}
	big := append([]byte("asset tag\n"), bytes.Repeat([]byte("x"), MaxBytes)...)
	f, err := Read(bytes.NewReader(big), Devices)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Errors) != 1 || f.Errors[0].String() != "the file is larger than 8 MiB; split it" {
		t.Errorf("errors = %v", f.Errors)
	}
}

func TestVenueAndKitRows(t *testing.T) {
	f := Parse([]byte("Nom;Type;Commune;Code INSEE;Latitude;Longitude;Contact\n"+
		"France Services Baugé;France Services;Baugé-en-Anjou;49018;47,5408;-0,1031;accueil@example.fr\n"+
		"Médiathèque;mediatheque;Segré;49331;north;-0.87;\n"), Venues)
	if len(f.Errors) > 0 {
		t.Fatal(f.Errors)
	}
	rows, errs := VenueRows(f)
	lat, lon := 47.5408, -0.1031
	want := []fleet.VenueRow{
		{Line: 2, Venue: fleet.Venue{Name: "France Services Baugé", Kind: "France Services", Commune: "Baugé-en-Anjou", INSEE: "49018", Lat: &lat, Lon: &lon, Contact: "accueil@example.fr"}},
		{Line: 3, Venue: fleet.Venue{Name: "Médiathèque", Kind: "mediatheque", Commune: "Segré", INSEE: "49331"}},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("venues (-want +got):\n%s", diff)
	}
	if len(errs) != 1 || errs[0].String() != `line 3, latitude: "north" is not a number of degrees such as 47.4379` {
		t.Errorf("errors = %v", errs)
	}

	f = Parse([]byte("label,home,devices,accessories\n"+
		"Kit 07,Mairie,\"VAL-0001, VAL-0002;PF1ABCDE\",chargeur x2; sacoche | souris\n"+
		"Kit 08,,,\n"), Kits)
	if len(f.Errors) > 0 {
		t.Fatal(f.Errors)
	}
	kits, _ := KitRows(f)
	wantKits := []fleet.KitRow{
		{Line: 2, Label: "Kit 07", Home: "Mairie", Devices: []string{"VAL-0001", "VAL-0002", "PF1ABCDE"}, Accessories: []string{"chargeur x2", "sacoche", "souris"}},
		{Line: 3, Label: "Kit 08"},
	}
	if diff := cmp.Diff(wantKits, kits); diff != "" {
		t.Errorf("kits (-want +got):\n%s", diff)
	}
}

func TestClassOfCategory(t *testing.T) {
	for cat, want := range map[string]string{
		"Laptops": "laptop", "Laptop": "laptop", "Notebook": "laptop", "Ordinateurs portables": "laptop",
		"Tablets": "tablet", "Tablette": "tablet", "Hotspot": "hotspot", "Routers": "hotspot",
		"Modem 4G": "hotspot", "Desktops": "other", "Phones": "other",
	} {
		if got := ClassOfCategory(cat); got != want {
			t.Errorf("ClassOfCategory(%q) = %q, want %q", cat, got, want)
		}
	}
}

func TestParseDate(t *testing.T) {
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"2026-11-23", "23/11/2026", "23.11.2026", "2026-11-23 14:05:00", "2026-11-23T14:05:00+01:00"} {
		got, err := ParseDate(s)
		if err != nil || !got.Equal(day) {
			t.Errorf("ParseDate(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"11/23/2026", "yesterday", "2026-02-30"} {
		if _, err := ParseDate(s); err == nil {
			t.Errorf("ParseDate(%q) succeeded", s)
		}
	}
}

func TestWriterEscapesFormulas(t *testing.T) {
	var b strings.Builder
	w, err := NewWriter(&b, []string{"label", "accessories"})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range [][]string{
		{"=HYPERLINK(\"http://x\")", "-0.87"},
		{"+33 6", "@SUM(A1)"},
		{"multi\nline", "a,b"},
	} {
		if err := w.Write(row...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "label,accessories\r\n\"'=HYPERLINK(\"\"http://x\"\")\",-0.87\r\n'+33 6,'@SUM(A1)\r\n\"multi\r\nline\",\"a,b\"\r\n"
	if b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
	f := Parse([]byte(b.String()), Kits)
	if len(f.Errors) > 0 {
		t.Fatal(f.Errors)
	}
	var got [][]string
	for _, r := range f.Rows {
		got = append(got, []string{r.Get(ColLabel), r.Get(ColAccessories)})
	}
	if diff := cmp.Diff([][]string{{"=HYPERLINK(\"http://x\")", "-0.87"}, {"+33 6", "@SUM(A1)"}, {"multi\nline", "a,b"}}, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}

func TestRefusal(t *testing.T) {
	err := Refusal("C:\\Users\\awa\\devices.csv", []fleet.RowError{
		{Line: 4, Column: "serial", Message: "same serial as line 2"},
		{Line: 1, Message: `unknown column "colour"`},
		{Line: 3, Column: "venue", Message: `no venue "Nowhere"`},
		{Line: 4, Column: "status", Message: "bad"},
	})
	if err.Summary != "a bad header and 2 bad rows in devices.csv; nothing was imported" {
		t.Errorf("summary %q", err.Summary)
	}
	want := []string{`line 1: unknown column "colour"`, `line 3, venue: no venue "Nowhere"`, "line 4, serial: same serial as line 2", "line 4, status: bad"}
	if diff := cmp.Diff(want, err.Lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if got := FileName("../\x01evil"); got != "the file" {
		t.Errorf("FileName = %q", got)
	}
}

func TestRefusalIsBounded(t *testing.T) {
	var errs []fleet.RowError
	for i := range 5000 {
		errs = append(errs, fleet.RowError{Line: i + 2, Column: "serial", Message: "same serial as line 1"})
	}
	err := Refusal("devices.csv", errs)
	if len(err.Lines) != MaxErrorLines+1 || err.Lines[MaxErrorLines] != "… and 4800 more bad fields" {
		t.Errorf("%d lines, last %q", len(err.Lines), err.Lines[len(err.Lines)-1])
	}
	if err.Summary != "5000 bad rows in devices.csv; nothing was imported" {
		t.Errorf("summary %q", err.Summary)
	}
}
