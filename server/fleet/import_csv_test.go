package fleet_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/csvio"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// snipeIT is a devices file as Snipe-IT exports its assets.
const snipeIT = "ID,Company,Asset Name,Asset Tag,Serial,Model,Model No.,Category,Status,Checked Out To,Location,Manufacturer,Supplier,Purchase Date,Purchase Cost,Warranty Expires,Notes\n" +
	"12,CD49,,cd-0101,PF10A01,ThinkPad T480,20L5,Laptops,Ready to Deploy,,France Services Baugé,Lenovo,Ecodair,2024-03-15 00:00:00,120.00,2025-03-15,\n" +
	"13,CD49,,CD-0102,860123456789012,E5576,,Hotspot,Lost/Stolen,,,Huawei,,15/04/2024,,,\"lost at\nthe market\"\n" +
	"14,CD49,,CD-0103,R52N90ABC,Galaxy Tab A8,,Tablets,Out for Repair,,france services bauge,Samsung,,,,,\n"

// importEnv is a fleet with one venue.
type importEnv struct {
	*env
	venue fleet.Venue
}

func newImportEnv(t *testing.T) *importEnv {
	t.Helper()
	e := newEnv(t)
	v, err := e.fleet.CreateVenue(logistics, fleet.Venue{Name: "France Services Baugé", Kind: fleet.VenueFranceServices, Commune: "Baugé-en-Anjou"})
	if err != nil {
		t.Fatal(err)
	}
	return &importEnv{env: e, venue: v}
}

func (e *importEnv) importCSV(by fleet.Principal, kind, body string, dryRun bool) (fleet.ImportReport, error) {
	return csvio.Import(e.fleet, by, kind, kind+".csv", strings.NewReader(body), dryRun)
}

func (e *importEnv) mustImport(t *testing.T, kind, body string) fleet.ImportReport {
	t.Helper()
	rep, err := e.importCSV(logistics, kind, body, false)
	if err != nil {
		var r *fleet.RefusedError
		if errors.As(err, &r) {
			t.Fatalf("import %s: %v\n%s", kind, err, strings.Join(r.Lines, "\n"))
		}
		t.Fatalf("import %s: %v", kind, err)
	}
	return rep
}

// snapshot is what a refused import must leave as it was.
type snapshot struct {
	devices, venues, kits int
	seq                   uint64
	head                  string
}

func (e *importEnv) snapshot(t *testing.T) snapshot {
	t.Helper()
	ds, err := e.st.Devices()
	if err != nil {
		t.Fatal(err)
	}
	vs, err := e.st.Venues()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := e.st.Kits("", 0)
	if err != nil {
		t.Fatal(err)
	}
	seq, head, err := e.st.AuditHead()
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{len(ds), len(vs), len(ks), seq, head}
}

func TestImportSnipeITDevices(t *testing.T) {
	e := newImportEnv(t)
	rep := e.mustImport(t, "devices", snipeIT)
	if diff := cmp.Diff(fleet.ImportReport{Kind: "devices", Rows: 3, Created: 3}, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	type got struct {
		Class, State, Serial, Vendor, Model, Venue, Supplier string
		Fingerprint                                          wire.Fingerprint
	}
	want := map[string]got{
		"CD-0101": {"laptop", "intake", "PF10A01", "Lenovo", "ThinkPad T480", e.venue.ID, "Ecodair", wire.Fingerprint{SystemSerial: "PF10A01", AssetTag: "CD-0101"}},
		"CD-0102": {"hotspot", "lost", "860123456789012", "Huawei", "E5576", "", "", wire.Fingerprint{IMEIs: []string{"860123456789012"}, AssetTag: "CD-0102"}},
		"CD-0103": {"tablet", "maintenance", "R52N90ABC", "Samsung", "Galaxy Tab A8", e.venue.ID, "", wire.Fingerprint{SystemSerial: "R52N90ABC", AssetTag: "CD-0103"}},
	}
	for tag, w := range want {
		d, err := e.fleet.Device(tag)
		if err != nil {
			t.Fatal(err)
		}
		g := got{d.Class, string(d.State), d.Serial, d.Vendor, d.Model, d.Venue, d.Supplier, d.Fingerprint}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tag, diff)
		}
		if !strings.HasPrefix(d.ID, "d") || !wire.ValidDeviceID(d.ID) {
			t.Errorf("%s: id %q", tag, d.ID)
		}
		evs, err := e.fleet.DeviceEvents(d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Action != fleet.ActionImported || evs[0].Actor != logistics.Name || evs[0].Before != nil {
			t.Errorf("%s: events %+v", tag, evs)
		}
	}
	d, _ := e.fleet.Device("cd-0101")
	if d.PurchasedOn.Format("2006-01-02") != "2024-03-15" || d.WarrantyEnd.Format("2006-01-02") != "2025-03-15" {
		t.Errorf("origin dates %v %v", d.PurchasedOn, d.WarrantyEnd)
	}
	if _, err := e.fleet.VerifyAudit(); err != nil {
		t.Error(err)
	}
}

func TestImportBadDevicesWritesNothing(t *testing.T) {
	e := newImportEnv(t)
	e.mustImport(t, "devices", "asset tag,serial,model\nCD-0001,PF1EXIST,T480\n")
	before := e.snapshot(t)
	body := "Asset Tag;Serial;Model;Colour;Status;Location;Purchase Date\r\n" +
		"CD-0101;PF1AAAA;T480;red;Ready to Deploy;France Services Baugé;2024-03-15\r\n" +
		"CD-0102;PF1BBBB;T480;;Ready to Deploy;;31/02/2024\r\n" +
		"CD-0103;pf1aaaa;\"T480\nwith notes\";;Pending;;\r\n" +
		"CD-0104;PF1CCCC;T480;;Donated;;\r\n" +
		"CD-0105;PF1DDDD;T480;;;Nowhere;\r\n" +
		"CD-0106;123456789;T480;;ready;;\r\n" +
		"CD-0001;PF1OTHER;T480;;;;\r\n" +
		"CD-0101;PF1EEEE;T480;;;;\r\n"
	for _, dry := range []bool{false, true} {
		rep, err := e.importCSV(logistics, "devices", "\xef\xbb\xbf"+body, dry)
		var refused *fleet.RefusedError
		if !errors.As(err, &refused) || !errors.Is(err, fleet.ErrInvalid) {
			t.Fatalf("dry run %v: err = %v, want a refusal", dry, err)
		}
		if want := "a bad header and 7 bad rows in devices.csv; nothing was imported"; refused.Summary != want {
			t.Errorf("summary %q, want %q", refused.Summary, want)
		}
		want := []string{
			`line 1: unknown column "Colour"; the columns of devices are: asset tag, serial, class, category, manufacturer, model, venue, status, supplier, purchase date, warranty expires`,
			`line 3, Purchase Date: "31/02/2024" is not a date; write 2026-11-23 or 23/11/2026`,
			"line 4, Serial: same serial as line 2",
			`line 6, Status: "Donated" is not a status: use intake, maintenance, lost or retired, or Snipe-IT's Ready to Deploy, Pending, Deployed, Broken, Out for Repair, Lost/Stolen, Archived`,
			`line 7, Location: no venue is named "Nowhere"; import the venues first or fix the name`,
			`line 8, Serial: "123456789" is a placeholder or too short, not a serial number`,
			"line 8, Status: a new device cannot start ready: it was never wiped here; use intake, maintenance, lost or retired",
			"line 9, Serial: CD-0001 has serial PF1EXIST, not PF1OTHER",
			"line 10, Asset Tag: same asset tag as line 2",
		}
		if diff := cmp.Diff(want, refused.Lines); diff != "" {
			t.Errorf("dry run %v: lines (-want +got):\n%s", dry, diff)
		}
		if len(rep.Errors) != len(want) || rep.Created != 0 {
			t.Errorf("report %+v", rep)
		}
		if after := e.snapshot(t); after != before {
			t.Errorf("dry run %v: store changed: %+v -> %+v", dry, before, after)
		}
	}
}

func TestImportDryRunWritesNothing(t *testing.T) {
	e := newImportEnv(t)
	e.mustImport(t, "devices", "asset tag,serial\nCD-0001,PF1EXIST\n")
	before := e.snapshot(t)
	rep, err := e.importCSV(logistics, "devices", "asset tag,serial,model\nCD-0001,PF1EXIST,T480\nCD-0002,PF1NEW1,T480\nCD-0003,,T480\n", true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fleet.ImportReport{Kind: "devices", DryRun: true, Rows: 3, Created: 2, Updated: 1}, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if after := e.snapshot(t); after != before {
		t.Errorf("store changed: %+v -> %+v", before, after)
	}
}

func TestImportedDeviceIsMatchedAtEnrolment(t *testing.T) {
	e := newImportEnv(t)
	inv := laptop("0b01", "S4EVNF0B1")
	e.mustImport(t, "devices", "asset tag;serial;class\nCD-0201;"+inv.System.Serial+";laptop\n")
	imported, err := e.fleet.Device("CD-0201")
	if err != nil {
		t.Fatal(err)
	}
	en := e.enroll(t, e.token(t, wire.ClassLaptop, 1), inv)
	if !en.Known || en.Device.ID != imported.ID || en.Device.AssetTag != "CD-0201" {
		t.Fatalf("enrolment made %s %s (known %v), want the imported %s CD-0201", en.Device.ID, en.Device.AssetTag, en.Known, imported.ID)
	}
	if en.Device.State != fleet.StateIntake || en.Device.Fingerprint.UUID == "" || en.Device.HardwareChanged {
		t.Errorf("enrolled device %+v", en.Device)
	}
	if !imported.EnrolledAt.IsZero() || !en.Device.EnrolledAt.Equal(e.clock.Now()) {
		t.Errorf("enrolled at %v after import, %v after enrolment", imported.EnrolledAt, en.Device.EnrolledAt)
	}
	// The enrolled fingerprint keeps matching a re-import by serial; the
	// class stays the enrolment token's.
	rep := e.mustImport(t, "devices", "serial,model,category\n"+inv.System.Serial+",ThinkPad T480s,Desktops\n")
	if rep.Updated != 1 || rep.Created != 0 {
		t.Errorf("re-import %+v", rep)
	}
	if d, _ := e.fleet.Device("CD-0201"); d.Model != "ThinkPad T480s" || d.State != fleet.StateIntake || d.Class != wire.ClassLaptop {
		t.Errorf("after re-import: model %q state %s class %s", d.Model, d.State, d.Class)
	}
}

func TestImportedHotspotIsMatchedByIMEI(t *testing.T) {
	e := newImportEnv(t)
	e.mustImport(t, "devices", snipeIT)
	lost, _ := e.fleet.Device("CD-0102")
	hilink := wire.Inventory{Class: wire.ClassHotspot, Modems: []wire.Modem{{Manufacturer: "Huawei", Model: "E5576-320", IMEI: "860123456789012"}}}
	en := e.enroll(t, e.token(t, wire.ClassHotspot, 1), hilink)
	if !en.Known || en.Device.ID != lost.ID || en.Device.AssetTag != "CD-0102" || en.Device.State != fleet.StateLost {
		t.Errorf("hotspot enrolled as %s %s %s (known %v), want the imported %s CD-0102, still lost", en.Device.ID, en.Device.AssetTag, en.Device.State, en.Known, lost.ID)
	}
}

func TestImportedDeviceInAKit(t *testing.T) {
	e := newImportEnv(t)
	e.clock.Add(-48 * time.Hour)
	e.mustImport(t, "devices", "asset tag,serial\nCD-0301,PF10C01\n")
	e.clock.Add(48 * time.Hour)
	e.mustImport(t, "kits", "label,devices\nKit 30,CD-0301\n")
	ks, err := e.fleet.KitStatus("Kit 30")
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.Devices) != 1 || ks.Devices[0].Ready || ks.Devices[0].Why != "imported on 21 Nov, never enrolled nor wiped" {
		t.Errorf("kit devices %+v", ks.Devices)
	}
}

func TestImportUpdatesNeverChangeState(t *testing.T) {
	e := newImportEnv(t)
	e.mustImport(t, "devices", snipeIT)
	rep := e.mustImport(t, "devices", "asset tag,status,model\nCD-0102,Ready to Deploy,E5577\nCD-0103,Archived,\n")
	if rep.Updated != 1 || rep.Unchanged != 1 {
		t.Errorf("report %+v", rep)
	}
	d, _ := e.fleet.Device("CD-0102")
	if d.State != fleet.StateLost || d.Model != "E5577" {
		t.Errorf("CD-0102: %s %s", d.State, d.Model)
	}
	// The serial of one device with the tag of another is refused.
	_, err := e.importCSV(logistics, "devices", "asset tag,serial\nCD-0101,R52N90ABC\nCD-0999,PF10A01\n", false)
	var refused *fleet.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("err = %v", err)
	}
	want := []string{"line 2, serial: R52N90ABC is the serial of CD-0103, not of CD-0101", "line 3, asset tag: the device with serial PF10A01 is CD-0101, not CD-0999"}
	if diff := cmp.Diff(want, refused.Lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestExportImportsBackUnchanged(t *testing.T) {
	e := newImportEnv(t)
	e.mustImport(t, "venues", "name;kind;commune;insee;latitude;longitude;contact\nMédiathèque de Segré;médiathèque;Segré-en-Anjou Bleu;49331;47,6862;-0,8725;=01 02\n")
	e.mustImport(t, "devices", snipeIT)
	e.mustImport(t, "kits", "label,home,devices,accessories\nKit 07,France Services Baugé,CD-0101 CD-0103,chargeur x2; sacoche\nKit 08,,,\n")
	for _, kind := range []string{"devices", "venues", "kits"} {
		var b bytes.Buffer
		if err := csvio.Export(e.fleet, logistics, kind, &b); err != nil {
			t.Fatal(err)
		}
		before := e.snapshot(t)
		rep := e.mustImport(t, kind, b.String())
		if rep.Created != 0 || rep.Updated != 0 || rep.Unchanged != rep.Rows || rep.Rows == 0 {
			t.Errorf("%s: re-import of the export %+v\n%s", kind, rep, b.String())
		}
		if after := e.snapshot(t); after != before {
			t.Errorf("%s: re-import wrote: %+v -> %+v", kind, before, after)
		}
	}
	var b bytes.Buffer
	if err := csvio.Export(e.fleet, logistics, "devices", &b); err != nil {
		t.Fatal(err)
	}
	want := "asset tag,serial,class,manufacturer,model,venue,status,supplier,purchase date,warranty expires\r\n" +
		"CD-0101,PF10A01,laptop,Lenovo,ThinkPad T480,France Services Baugé,intake,Ecodair,2024-03-15,2025-03-15\r\n" +
		"CD-0102,860123456789012,hotspot,Huawei,E5576,,lost,,2024-04-15,\r\n" +
		"CD-0103,R52N90ABC,tablet,Samsung,Galaxy Tab A8,France Services Baugé,maintenance,,,\r\n"
	if b.String() != want {
		t.Errorf("devices export:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := csvio.Export(e.fleet, logistics, "venues", &b); err != nil {
		t.Fatal(err)
	}
	want = "name,kind,commune,insee,latitude,longitude,contact\r\n" +
		"France Services Baugé,france_services,Baugé-en-Anjou,,,,\r\n" +
		"Médiathèque de Segré,mediatheque,Segré-en-Anjou Bleu,49331,47.6862,-0.8725,'=01 02\r\n"
	if b.String() != want {
		t.Errorf("venues export:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestImportVenues(t *testing.T) {
	e := newImportEnv(t)
	rep := e.mustImport(t, "venues", "\xef\xbb\xbfNom;Type;Commune;Code INSEE;Latitude;Longitude\r\n"+
		"France Services Baugé;France Services;Baugé-en-Anjou;49018;47,5408;-0,1031\r\n"+
		"Mairie d'Ajaccio;mairie;Ajaccio;2a004;;\r\n")
	if rep.Created != 1 || rep.Updated != 1 {
		t.Errorf("report %+v", rep)
	}
	v, err := e.fleet.Venue("france services bauge")
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != e.venue.ID || v.INSEE != "49018" || v.Lat == nil || *v.Lat != 47.5408 || *v.Lon != -0.1031 {
		t.Errorf("updated venue %+v", v)
	}
	if v, err := e.fleet.Venue("Mairie d’Ajaccio"); err != nil || v.Kind != fleet.VenueMairie || v.INSEE != "2A004" {
		t.Errorf("new venue %+v, %v", v, err)
	}
	before := e.snapshot(t)
	_, err = e.importCSV(logistics, "venues", "name,kind,commune,insee,lat,lon\n"+
		"EPN de Segré,cyber café,Segré,4933,47.6,\n"+
		"Nouvelle,,,,91,0\n"+
		"epn de segre,epn,Segré,,north,0\n", false)
	var refused *fleet.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		`line 2, kind: "cyber café" is not one of france_services, mairie, mediatheque, epn, association, other`,
		`line 2, insee: "4933" is not an INSEE code: five digits (2A or 2B and three digits in Corsica)`,
		"line 2, lon: give both latitude and longitude, or neither",
		"line 3, lat: 91 is not between -90 and 90",
		"line 3, kind: a new venue needs its kind: france_services, mairie, mediatheque, epn, association or other",
		"line 3, commune: a new venue needs its commune",
		`line 4, lat: "north" is not a number of degrees such as 47.4379`,
		"line 4, name: same venue as line 2",
	}
	if diff := cmp.Diff(want, refused.Lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if after := e.snapshot(t); after != before {
		t.Errorf("store changed: %+v -> %+v", before, after)
	}
}

func TestImportKits(t *testing.T) {
	e := newImportEnv(t)
	e.mustImport(t, "devices", snipeIT+"15,CD49,,CD-0104,PF10A04,T480,,Laptops,,,,Lenovo,,,,,\n")
	rep := e.mustImport(t, "kits", "label;home;devices;accessories\n"+
		"Kit 07;France Services Baugé;CD-0101, PF10A04;chargeur x2 | sacoche\n"+
		"Kit 08;;R52N90ABC;\n")
	if rep.Created != 2 {
		t.Errorf("report %+v", rep)
	}
	k7, err := e.fleet.Kit("kit 07")
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := e.fleet.Device("CD-0101")
	d4, _ := e.fleet.Device("CD-0104")
	if diff := cmp.Diff([]string{d1.ID, d4.ID}, k7.Devices); diff != "" || k7.Home != e.venue.ID || len(k7.Accessories) != 2 {
		t.Errorf("kit 07 %+v %s", k7, diff)
	}
	if d1.Kit != k7.ID {
		t.Errorf("CD-0101 is in kit %q", d1.Kit)
	}

	before := e.snapshot(t)
	_, err = e.importCSV(logistics, "kits", "label,devices\n"+
		"Kit 09,CD-0101 CD-0999\n"+
		"Kit 10,CD-0102\n"+
		"Kit 11,CD-0104 CD-0104\n", false)
	var refused *fleet.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"line 2, devices: no device has the asset tag or serial CD-0999",
		"line 3, devices: CD-0102 is lost and cannot join a kit",
		"line 4, devices: CD-0104 is already in Kit 07; take it out there first",
		"line 4, devices: CD-0104 is listed twice",
	}
	if diff := cmp.Diff(want, refused.Lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if after := e.snapshot(t); after != before {
		t.Errorf("store changed: %+v -> %+v", before, after)
	}

	// One file may move a device from a kit to another.
	rep = e.mustImport(t, "kits", "label,devices\nKit 08,R52N90ABC CD-0104\nKit 07,CD-0101\n")
	if rep.Updated != 2 {
		t.Errorf("report %+v", rep)
	}
	k8, _ := e.fleet.Kit("Kit 08")
	if d4, _ = e.fleet.Device("CD-0104"); d4.Kit != k8.ID || len(k8.Devices) != 2 {
		t.Errorf("CD-0104 in %q, kit 08 %v", d4.Kit, k8.Devices)
	}
	evs, err := e.fleet.DeviceEvents(d4.ID)
	if err != nil {
		t.Fatal(err)
	}
	var moves []string
	for _, ev := range evs {
		if ev.Action == fleet.ActionKitDevices {
			var from, to string
			json.Unmarshal(ev.Before, &from)
			json.Unmarshal(ev.After, &to)
			moves = append(moves, from+">"+to)
		}
	}
	if diff := cmp.Diff([]string{">" + k7.ID, k7.ID + ">", ">" + k8.ID}, moves); diff != "" {
		t.Errorf("moves of CD-0104 (-want +got):\n%s", diff)
	}
	if _, err := e.fleet.VerifyAudit(); err != nil {
		t.Error(err)
	}
}

func TestImportKitOnLoanCannotChange(t *testing.T) {
	o := newOpsEnv(t)
	if _, err := o.checkout(t, o.awa, ""); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := csvio.Export(o.fleet, logistics, "kits", &b); err != nil {
		t.Fatal(err)
	}
	e := &importEnv{env: o.env, venue: o.venue}
	if rep := e.mustImport(t, "kits", b.String()); rep.Unchanged != 1 {
		t.Errorf("re-import of the export: %+v", rep)
	}
	_, err := e.importCSV(logistics, "kits", "label,accessories\nKit 07,chargeur x2\n", false)
	var refused *fleet.RefusedError
	if !errors.As(err, &refused) || len(refused.Lines) != 1 || !strings.HasPrefix(refused.Lines[0], "line 2, label: Kit 07 is on loan (") {
		t.Errorf("err = %v %v", err, refused)
	}
	b.Reset()
	if err := csvio.Export(o.fleet, logistics, "loans", &b); err != nil {
		t.Fatal(err)
	}
	if want := "kit,borrower,venue,out,due,returned,override,overdue\r\nKit 07,Awa Diallo,France Services Baugé,"; !strings.HasPrefix(b.String(), want) {
		t.Errorf("loans export %q", b.String())
	}
}

func TestImportRoles(t *testing.T) {
	e := newImportEnv(t)
	for _, p := range []fleet.Principal{{Name: "awa", Role: fleet.RoleMediateur}, technician} {
		for _, kind := range []string{"devices", "venues", "kits"} {
			_, err := e.importCSV(p, kind, "asset tag,name,label\nX-1,y,z\n", false)
			if !errors.Is(err, fleet.ErrForbidden) {
				t.Errorf("%s imports %s: %v", p.Role, kind, err)
			}
		}
	}
	if _, err := e.importCSV(admin, "users", "name\nx\n", false); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("import users: %v", err)
	}
}

// BenchmarkImportDevices imports a file of 10,000 new devices, then the
// same file again as updates that change nothing.
func BenchmarkImportDevices(b *testing.B) {
	var file strings.Builder
	file.WriteString("asset tag;serial;model;manufacturer;category;location;status\n")
	for i := range 10_000 {
		fmt.Fprintf(&file, "CD-%05d;PF%07d;ThinkPad T480;Lenovo;Laptops;France Services Baugé;Ready to Deploy\n", i, i)
	}
	body := file.String()
	for b.Loop() {
		b.StopTimer()
		st, err := store.Open(filepath.Join(b.TempDir(), "valise.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		f, err := fleet.New(fleet.Config{Store: st})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.CreateVenue(logistics, fleet.Venue{Name: "France Services Baugé", Kind: fleet.VenueFranceServices, Commune: "Baugé-en-Anjou"}); err != nil {
			b.Fatal(err)
		}
		e := &importEnv{env: &env{st: st, fleet: f}}
		b.StartTimer()
		for _, want := range []int{10_000, 0} {
			rep, err := e.importCSV(logistics, "devices", body, false)
			if err != nil || rep.Created != want {
				b.Fatalf("%+v %v", rep, err)
			}
		}
		st.Close()
	}
}
