package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/server/fleet"
)

// postCSV sends a CSV file to the import route and returns the status and
// body of the answer.
func (e *env) postCSV(t *testing.T, path, token, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b.Bytes()
}

func (e *env) deviceCount(t *testing.T) int {
	t.Helper()
	ds, err := e.st.Devices()
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

const snipeITAssets = "Asset Tag,Serial,Model,Category,Status,Location,Manufacturer,Purchase Date\n" +
	"CD-0101,PF10A01,ThinkPad T480,Laptops,Ready to Deploy,Mairie de Segré,Lenovo,2024-03-15\n" +
	"CD-0102,860123456789012,E5576,Hotspot,Lost/Stolen,,Huawei,\n"

func TestImportExportOverHTTP(t *testing.T) {
	e := newEnv(t)
	logi := e.addUser(t, "Léa Logistique", fleet.RoleLogistics)

	// Venues in a French spreadsheet's CSV: ';', BOM, CRLF.
	code, b := e.postCSV(t, "/api/v1/import/venues?file=lieux.csv", logi.Token, "text/csv; charset=utf-8",
		"\xef\xbb\xbfNom;Type;Commune;Code INSEE\r\nMairie de Segré;Mairie;Segré-en-Anjou Bleu;49331\r\n")
	if code != http.StatusCreated {
		t.Fatalf("import venues = %d %s", code, b)
	}

	// A dry run says what would happen and writes nothing.
	head, n := e.auditHead(t), e.deviceCount(t)
	code, b = e.postCSV(t, "/api/v1/import/devices?dry_run=true", logi.Token, "text/csv", snipeITAssets)
	if code != http.StatusOK || !strings.Contains(string(b), `"dry_run":true`) || !strings.Contains(string(b), `"created":2`) {
		t.Fatalf("dry run = %d %s", code, b)
	}
	if e.auditHead(t) != head || e.deviceCount(t) != n {
		t.Fatal("the dry run wrote")
	}

	var rep apitype.ImportReport
	code, b = e.postCSV(t, "/api/v1/import/devices", logi.Token, "", snipeITAssets)
	if code != http.StatusCreated {
		t.Fatalf("import devices = %d %s", code, b)
	}
	mustUnmarshal(t, b, &rep)
	if diff := cmp.Diff(apitype.ImportReport{Kind: "devices", Rows: 2, Created: 2}, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	var dev apitype.DeviceDetail
	e.doJSON(t, "GET", "/api/v1/devices/cd-0102", logi.Token, nil, &dev, http.StatusOK)
	if dev.State != "lost" || dev.Class != "hotspot" {
		t.Errorf("CD-0102 is %s %s", dev.Class, dev.State)
	}

	// A file with bad rows: 400, one detail per bad field, nothing written.
	head, n = e.auditHead(t), e.deviceCount(t)
	code, b = e.postCSV(t, "/api/v1/import/devices?file=parc.csv", logi.Token, "text/csv",
		"Asset Tag,Serial,Location,Warranty Expires,Colour\nCD-0103,PF10A03,Nowhere,2026-02-30,\nCD-0104,PF10A03,,,\n")
	detail := errorBody(t, b)
	if code != http.StatusBadRequest || detail.Message != "a bad header and 2 bad rows in parc.csv; nothing was imported" {
		t.Errorf("bad file = %d %+v", code, detail)
	}
	want := []string{
		`line 1: unknown column "Colour"; the columns of devices are: asset tag, serial, class, category, manufacturer, model, venue, status, supplier, purchase date, warranty expires`,
		`line 2, Warranty Expires: "2026-02-30" is not a date; write 2026-11-23 or 23/11/2026`,
		`line 2, Location: no venue is named "Nowhere"; import the venues first or fix the name`,
		"line 3, Serial: same serial as line 2",
	}
	if diff := cmp.Diff(want, detail.Details); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
	if e.auditHead(t) != head || e.deviceCount(t) != n {
		t.Error("the refused file wrote")
	}

	// The export imports back as rows that change nothing.
	for _, kind := range []string{"devices", "venues"} {
		resp, err := e.srv.Client().Do(authed(t, "GET", e.srv.URL+"/api/v1/export/"+kind, logi.Token))
		if err != nil {
			t.Fatal(err)
		}
		var csv bytes.Buffer
		csv.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
			resp.Header.Get("Content-Disposition") != `attachment; filename=valise-`+kind+`-2026-11-23.csv` {
			t.Fatalf("export %s = %d %v", kind, resp.StatusCode, resp.Header)
		}
		code, b = e.postCSV(t, "/api/v1/import/"+kind, logi.Token, "text/csv", csv.String())
		rep = apitype.ImportReport{}
		mustUnmarshal(t, b, &rep)
		if code != http.StatusCreated || rep.Created != 0 || rep.Updated != 0 || rep.Unchanged != rep.Rows || rep.Rows == 0 {
			t.Errorf("re-import of the %s export = %d %s\n%s", kind, code, b, csv.String())
		}
	}
	code, b = e.do(t, "GET", "/api/v1/export/devices", logi.Token, "")
	if wantCSV := "asset tag,serial,class,manufacturer,model,venue,status,supplier,purchase date,warranty expires\r\n" +
		"CD-0101,PF10A01,laptop,Lenovo,ThinkPad T480,Mairie de Segré,intake,,2024-03-15,\r\n" +
		"CD-0102,860123456789012,hotspot,Huawei,E5576,,lost,,,\r\n"; code != http.StatusOK || string(b) != wantCSV {
		t.Errorf("export devices = %d\n%s\nwant\n%s", code, b, wantCSV)
	}
	code, b = e.do(t, "GET", "/api/v1/export/loans", logi.Token, "")
	if code != http.StatusOK || string(b) != "kit,borrower,venue,out,due,returned,override,overdue\r\n" {
		t.Errorf("export loans = %d %q", code, b)
	}
}

func authed(t *testing.T, method, url, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

func TestImportRefusals(t *testing.T) {
	e := newEnv(t)
	logi := e.addUser(t, "Léa Logistique", fleet.RoleLogistics)
	tech := e.addUser(t, "Théo Technicien", fleet.RoleTechnician)
	med := e.addUser(t, "Awa Diallo", fleet.RoleMediateur)
	for _, tc := range []struct {
		name, path, token, contentType, body string
		code                                 int
		message                              string
	}{
		{"médiateur", "/api/v1/import/devices", med.Token, "text/csv", snipeITAssets, http.StatusForbidden, "role mediateur may not POST /api/v1/import/devices"},
		{"technician", "/api/v1/import/kits", tech.Token, "text/csv", "label\nKit 1\n", http.StatusForbidden, "role technician may not POST /api/v1/import/kits"},
		{"unknown kind", "/api/v1/import/users", logi.Token, "text/csv", "name\nx\n", http.StatusBadRequest, `cannot import "users": import devices, venues or kits`},
		{"JSON body", "/api/v1/import/venues", logi.Token, "application/json", `{"name":"x"}`, http.StatusBadRequest, `content type "application/json", want text/csv`},
		{"Latin-1", "/api/v1/import/venues", logi.Token, "text/csv; charset=iso-8859-1", "name\n", http.StatusBadRequest, `charset "iso-8859-1"; send the file as UTF-8`},
		{"bad dry_run", "/api/v1/import/venues?dry_run=perhaps", logi.Token, "text/csv", "name\n", http.StatusBadRequest, `dry_run "perhaps" is not true or false`},
		{"too large", "/api/v1/import/venues", logi.Token, "text/csv", "name\n" + strings.Repeat("x", 8<<20), http.StatusRequestEntityTooLarge, "the file is larger than 8 MiB; split it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := e.auditHead(t)
			code, b := e.postCSV(t, tc.path, tc.token, tc.contentType, tc.body)
			if d := errorBody(t, b); code != tc.code || d.Message != tc.message {
				t.Errorf("= %d %+v, want %d %q", code, d, tc.code, tc.message)
			}
			if e.auditHead(t) != head {
				t.Error("a refused import wrote")
			}
		})
	}
	code, b := e.do(t, "GET", "/api/v1/export/users", logi.Token, "")
	if d := errorBody(t, b); code != http.StatusBadRequest || d.Message != `cannot export "users": export devices, loans, venues, kits` {
		t.Errorf("export users = %d %+v", code, d)
	}
	code, _ = e.do(t, "GET", "/api/v1/export/devices", med.Token, "")
	if code != http.StatusForbidden {
		t.Errorf("médiateur export = %d", code)
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
