package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// addUser makes a user through the API, as an admin, and returns them
// with their token.
func (e *env) addUser(t *testing.T, name string, role fleet.Role) apitype.User {
	t.Helper()
	var u apitype.User
	e.doJSON(t, "POST", "/api/v1/users", e.admin, apitype.UserRequest{Name: name, Role: string(role)}, &u, http.StatusCreated)
	if u.Token == "" || u.ID == "" || u.Name != name || u.Role != string(role) {
		t.Fatalf("created user %+v", u)
	}
	return u
}

// makeReady takes an enrolled device through a wipe, its certificate and
// provisioning to ready, as a technician and the device's agent would.
func (e *env) makeReady(t *testing.T, d *device) {
	t.Helper()
	var jobs []apitype.WipeJob
	e.doJSON(t, "POST", "/api/v1/wipes", e.admin, apitype.WipeRequest{Devices: []string{d.id}}, &jobs, http.StatusCreated)
	e.certify(t, d, e.lastCommand(t, d.id))
	var pj apitype.ProvisionJob
	e.doJSON(t, "POST", "/api/v1/provisions", e.admin, apitype.ProvisionRequest{Device: d.id, Profile: "laptop-linux"}, &pj, http.StatusCreated)
	var args wire.ProvisionArgs
	if err := json.Unmarshal(e.lastCommand(t, d.id).Args, &args); err != nil {
		t.Fatal(err)
	}
	var bundle map[string]string
	if err := json.Unmarshal(args.Bundle, &bundle); err != nil {
		t.Fatal(err)
	}
	e.enrollWith(t, d, bundle["token"], pj.ID, http.StatusOK)
	var dev apitype.DeviceDetail
	e.doJSON(t, "GET", "/api/v1/devices/"+d.id, e.admin, nil, &dev, http.StatusOK)
	if dev.State != string(fleet.StateReady) {
		t.Fatalf("%s is %s after its wipe and provisioning", dev.AssetTag, dev.State)
	}
}

// auditHead returns the sequence number and hash of the last audit event.
func (e *env) auditHead(t *testing.T) string {
	t.Helper()
	seq, hash, err := e.st.AuditHead()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d %s", seq, hash)
}

// call sends in (nil: no body) and decodes the answer, which must have
// status want, into a fresh T.
func call[T any](t *testing.T, e *env, method, path, token string, in any, want int) T {
	t.Helper()
	var out T
	e.doJSON(t, method, path, token, in, &out, want)
	return out
}

func tagsOf(devs []apitype.Device) []string {
	var tags []string
	for _, d := range devs {
		tags = append(tags, d.AssetTag)
	}
	return tags
}

func TestKitLoanCycleOverHTTP(t *testing.T) {
	e := newEnv(t)
	lea := e.addUser(t, "Léa Martin", fleet.RoleLogistics)
	awa := e.addUser(t, "Awa Diallo", fleet.RoleMediateur)

	var venue apitype.Venue
	e.doJSON(t, "POST", "/api/v1/venues", lea.Token, apitype.VenueRequest{
		Name: "France Services Baugé", Kind: apitype.VenueFranceServices, Commune: "Baugé-en-Anjou", INSEE: "49018",
	}, &venue, http.StatusCreated)
	if venue.ID == "" || venue.Name != "France Services Baugé" || venue.Kind != apitype.VenueFranceServices || venue.INSEE != "49018" {
		t.Fatalf("venue %+v", venue)
	}
	var shown apitype.Venue
	e.doJSON(t, "GET", "/api/v1/venues/"+url.PathEscape("france services bauge"), awa.Token, nil, &shown, http.StatusOK)
	if diff := cmp.Diff(venue, shown); diff != "" {
		t.Errorf("venue by name (-created +shown):\n%s", diff)
	}

	a, b := e.enrolDevice(t, "PF1AAA01"), e.enrolDevice(t, "PF1BBB02")
	e.makeReady(t, a)
	e.makeReady(t, b)

	kit := call[apitype.Kit](t, e, "POST", "/api/v1/kits", lea.Token, apitype.KitRequest{Label: "Kit 07", Home: "France Services Baugé", Accessories: []string{"chargeur x2", "sacoche"}}, http.StatusCreated)
	if kit.ID == "" || kit.State != apitype.KitIncomplete || kit.HomeName != "France Services Baugé" || kit.Home != venue.ID || kit.Devices == nil {
		t.Fatalf("new kit %+v", kit)
	}
	kit = call[apitype.Kit](t, e, "POST", "/api/v1/kits/"+kit.ID+"/devices", lea.Token, apitype.KitDevicesRequest{Devices: []string{"val-0001", b.id}}, http.StatusOK)
	if kit.State != apitype.KitAvailable || len(kit.Devices) != 2 {
		t.Fatalf("kit with its devices %+v", kit)
	}
	for _, kd := range kit.Devices {
		if !kd.Ready || kd.KitLabel != "Kit 07" || kd.Kit != kit.ID {
			t.Errorf("kit device %+v", kd)
		}
	}

	// Live telemetry shows in the kit: a's battery and presence.
	e.report(t, a.id, 1, wire.ChanHealth, wire.Health{Batteries: []wire.Battery{{Name: "BAT0", HealthPercent: f64(90), ChargePercent: f64(85)}}},
		store.Figure{Metric: apitype.MetricBatteryHealth, Value: 90}, store.Figure{Metric: apitype.MetricBatteryCharge, Value: 85})
	if _, err := e.st.CommitReports(nil, []store.Presence{{Device: a.id, Online: true, At: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	kit = call[apitype.Kit](t, e, "GET", "/api/v1/kits/"+url.PathEscape("kit 07"), awa.Token, nil, http.StatusOK)
	if d := kit.Devices[0].Device; d.AssetTag != "VAL-0001" || !d.Online || d.BatteryCharge == nil || *d.BatteryCharge != 85 || d.LastSeen == nil {
		t.Errorf("kit device with telemetry %+v", d)
	}
	if d := kit.Devices[1]; d.Online || d.LastSeen != nil || !slices.Contains(d.Flags, apitype.FlagNeverReported) {
		t.Errorf("silent kit device %+v", d)
	}

	due := e.clock.Now().Add(7 * 24 * time.Hour)
	var loan apitype.Loan
	e.doJSON(t, "POST", "/api/v1/kits/Kit%2007/checkout", awa.Token, apitype.CheckoutRequest{Venue: "France Services Baugé", Due: due}, &loan, http.StatusCreated)
	want := apitype.Loan{
		ID: loan.ID, Kit: kit.ID, KitLabel: "Kit 07", Borrower: awa.ID, BorrowerName: "Awa Diallo", Venue: venue.ID, VenueName: "France Services Baugé",
		Devices: []string{"VAL-0001", "VAL-0002"}, OutAt: e.clock.Now(), DueAt: due, By: "Awa Diallo", Warnings: loan.Warnings,
	}
	if diff := cmp.Diff(want, loan); diff != "" || loan.ID == "" {
		t.Errorf("loan (-want +got):\n%s", diff)
	}
	if !slices.ContainsFunc(loan.Warnings, func(w string) bool { return strings.Contains(w, "VAL-0002") }) {
		t.Errorf("warnings %q do not name the silent VAL-0002", loan.Warnings)
	}
	code, body := e.do(t, "POST", "/api/v1/kits/Kit%2007/checkout", lea.Token, mustJSON(t, apitype.CheckoutRequest{Venue: venue.ID, Due: due, To: "Awa Diallo"}))
	if code != http.StatusConflict || !strings.Contains(errorBody(t, body).Message, "already out") {
		t.Errorf("second checkout: %d %s", code, body)
	}

	kit = call[apitype.Kit](t, e, "GET", "/api/v1/kits/"+kit.ID, lea.Token, nil, http.StatusOK)
	if kit.State != apitype.KitOnLoan || kit.Loan == nil || kit.Loan.ID != loan.ID || kit.Loan.Overdue {
		t.Errorf("kit on loan %+v, loan %+v", kit, kit.Loan)
	}
	devs := call[[]apitype.Device](t, e, "GET", "/api/v1/devices?kit=Kit%2007&state=on_loan", awa.Token, nil, http.StatusOK)
	if len(devs) != 2 || devs[0].Loan != loan.ID || devs[0].KitLabel != "Kit 07" || devs[1].Loan != loan.ID {
		t.Errorf("devices of the kit on loan %+v", devs)
	}

	loans := call[[]apitype.Loan](t, e, "GET", "/api/v1/loans?open=true", awa.Token, nil, http.StatusOK)
	if len(loans) != 1 || loans[0].ID != loan.ID {
		t.Errorf("Awa's open loans %+v", loans)
	}
	e.clock.Add(8 * 24 * time.Hour)
	loans = call[[]apitype.Loan](t, e, "GET", "/api/v1/loans?overdue=true&venue="+url.QueryEscape("France Services Baugé"), lea.Token, nil, http.StatusOK)
	if len(loans) != 1 || !loans[0].Overdue || len(loans[0].PossiblyLost) != 2 {
		t.Errorf("overdue loans %+v", loans)
	}
	kit = call[apitype.Kit](t, e, "GET", "/api/v1/kits/Kit%2007", lea.Token, nil, http.StatusOK)
	if kit.Loan == nil || !kit.Loan.Overdue || len(kit.Loan.PossiblyLost) != 2 {
		t.Errorf("overdue kit's loan %+v", kit.Loan)
	}

	var back apitype.Loan
	e.doJSON(t, "POST", "/api/v1/kits/Kit%2007/checkin", awa.Token, apitype.CheckinRequest{
		Missing: []string{"sacoche"}, Damaged: []apitype.Damage{{Device: b.id, Note: "écran fêlé"}},
	}, &back, http.StatusOK)
	if back.ReturnedAt == nil || back.ReturnedBy != "Awa Diallo" || back.Overdue ||
		!slices.Equal(back.MissingAccessories, []string{"sacoche"}) || !slices.Equal(back.Damaged, []apitype.Damage{{Device: "VAL-0002", Note: "écran fêlé"}}) {
		t.Errorf("returned loan %+v", back)
	}
	devs = call[[]apitype.Device](t, e, "GET", "/api/v1/devices", lea.Token, nil, http.StatusOK)
	if len(devs) != 2 || devs[0].State != string(fleet.StateNeedsWipe) || devs[1].State != string(fleet.StateMaintenance) || devs[0].Loan != "" {
		t.Errorf("devices after check-in %+v", devs)
	}

	// Back in, restocked, but not wiped: refused, one detail per device.
	kit = call[apitype.Kit](t, e, "POST", "/api/v1/kits/Kit%2007/restock", lea.Token, apitype.RestockRequest{}, http.StatusOK)
	if len(kit.Missing) != 0 {
		t.Errorf("restocked kit still misses %v", kit.Missing)
	}
	head := e.auditHead(t)
	code, body = e.do(t, "POST", "/api/v1/kits/Kit%2007/checkout", awa.Token, mustJSON(t, apitype.CheckoutRequest{Venue: venue.ID, Due: e.clock.Now().Add(24 * time.Hour)}))
	detail := errorBody(t, body)
	if code != http.StatusConflict || len(detail.Details) != 2 || !strings.HasPrefix(detail.Details[0], "VAL-0001") || !strings.HasPrefix(detail.Details[1], "VAL-0002") {
		t.Errorf("checkout of unwiped devices: %d %+v", code, detail)
	}
	if e.auditHead(t) != head {
		t.Error("a refused checkout wrote to the audit log")
	}

	// The audit log by subject, newest last, in pages.
	evs := call[[]apitype.Event](t, e, "GET", "/api/v1/audit?user="+url.QueryEscape("Awa Diallo"), lea.Token, nil, http.StatusOK)
	if len(evs) != 1 || evs[0].Action != fleet.ActionUserCreated || evs[0].Subject != "user:"+awa.ID {
		t.Errorf("Awa's events %+v", evs)
	}
	evs = call[[]apitype.Event](t, e, "GET", "/api/v1/audit?kit=Kit%2007", lea.Token, nil, http.StatusOK)
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	if i, j := slices.Index(actions, fleet.ActionCheckout), slices.Index(actions, fleet.ActionCheckin); i < 0 || j < i {
		t.Errorf("kit's events, oldest first: %v", actions)
	}
	if len(evs) < 3 || evs[0].Action != fleet.ActionKitCreated || evs[0].Subject != "kit:"+kit.ID || !slices.IsSortedFunc(evs, func(x, y apitype.Event) int { return int(x.Seq) - int(y.Seq) }) {
		t.Errorf("kit's events %+v", evs)
	}
	var all, last2, before []apitype.Event
	e.doJSON(t, "GET", "/api/v1/audit", lea.Token, nil, &all, http.StatusOK)
	e.doJSON(t, "GET", "/api/v1/audit?limit=2", lea.Token, nil, &last2, http.StatusOK)
	if len(all) < 4 || len(last2) != 2 || last2[1].Seq != all[len(all)-1].Seq || last2[0].Seq != all[len(all)-2].Seq {
		t.Fatalf("last two events %+v of %d", last2, len(all))
	}
	e.doJSON(t, "GET", fmt.Sprintf("/api/v1/audit?before=%d&limit=2", last2[0].Seq), lea.Token, nil, &before, http.StatusOK)
	if len(before) != 2 || before[1].Seq != last2[0].Seq-1 {
		t.Errorf("page before %d: %+v", last2[0].Seq, before)
	}

	// Long-term assignment and a device declared lost.
	var assigned []apitype.Device
	e.doJSON(t, "POST", "/api/v1/assignments", lea.Token, apitype.AssignRequest{Kit: "Kit 07", Venue: venue.Name}, &assigned, http.StatusOK)
	if diff := cmp.Diff([]string{"VAL-0001", "VAL-0002"}, tagsOf(assigned)); diff != "" || assigned[0].VenueName != venue.Name || assigned[0].Venue != venue.ID {
		t.Errorf("assigned %+v", assigned)
	}
	devs = call[[]apitype.Device](t, e, "GET", "/api/v1/devices?venue="+url.QueryEscape("France Services Baugé"), awa.Token, nil, http.StatusOK)
	if len(devs) != 2 || devs[0].VenueName != venue.Name || devs[1].KitLabel != "Kit 07" {
		t.Errorf("devices of the venue %+v", devs)
	}
	var lost apitype.Device
	e.doJSON(t, "POST", "/api/v1/devices/VAL-0001/state", lea.Token, apitype.SetStateRequest{State: "lost", Reason: "left at the market"}, &lost, http.StatusOK)
	if lost.State != string(fleet.StateLost) || lost.AssetTag != "VAL-0001" || lost.KitLabel != "Kit 07" {
		t.Errorf("lost device %+v", lost)
	}
}

func TestUsersOverHTTP(t *testing.T) {
	e := newEnv(t)
	lea := e.addUser(t, "Léa Martin", fleet.RoleLogistics)
	bob := e.addUser(t, "Bob", fleet.RoleMediateur)
	var us []apitype.User
	e.doJSON(t, "GET", "/api/v1/users", lea.Token, nil, &us, http.StatusOK)
	var names []string
	for _, u := range us {
		if u.Token != "" {
			t.Errorf("user %s listed with a token", u.Name)
		}
		names = append(names, u.Name)
	}
	if !slices.Contains(names, "Bob") || !slices.Contains(names, "Léa Martin") {
		t.Errorf("users %v", names)
	}
	var off apitype.User
	e.doJSON(t, "POST", "/api/v1/users/Bob/disable", e.admin, nil, &off, http.StatusOK)
	if off.Disabled == nil || off.Token != "" || off.ID != bob.ID {
		t.Errorf("disabled user %+v", off)
	}
	if code, b := e.do(t, "GET", "/api/v1/kits", bob.Token, ""); code != http.StatusUnauthorized {
		t.Errorf("a disabled user's token: %d %s", code, b)
	}
}

func TestDevicePages(t *testing.T) {
	e := newEnv(t)
	tok := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassLaptop, Uses: 5})
	for _, s := range []string{"PF1AAA01", "PF1AAA02", "PF1AAA03", "PF1AAA04", "PF1AAA05"} {
		e.enroll(t, tok.Token, thinkpad(s))
	}
	page := func(query string) ([]string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/devices"+query, nil)
		req.Header.Set("Authorization", "Bearer "+e.admin)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var devs []apitype.Device
		if err := json.NewDecoder(resp.Body).Decode(&devs); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET devices%s: %d %v", query, resp.StatusCode, err)
		}
		return tagsOf(devs), resp.Header.Get("X-Next-After")
	}
	tests := []struct {
		query string
		tags  []string
		next  string
	}{
		{"?limit=2", []string{"VAL-0001", "VAL-0002"}, "VAL-0002"},
		{"?limit=2&after=VAL-0002", []string{"VAL-0003", "VAL-0004"}, "VAL-0004"},
		{"?limit=2&after=val-0004", []string{"VAL-0005"}, ""},
		{"?limit=5", []string{"VAL-0001", "VAL-0002", "VAL-0003", "VAL-0004", "VAL-0005"}, "VAL-0005"},
		{"?limit=5&after=VAL-0005", nil, ""},
		{"?limit=2&online=true", nil, "VAL-0002"},
		{"?limit=2&state=intake&after=VAL-0003", []string{"VAL-0004", "VAL-0005"}, "VAL-0005"},
		{"", []string{"VAL-0001", "VAL-0002", "VAL-0003", "VAL-0004", "VAL-0005"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			tags, next := page(tt.query)
			if diff := cmp.Diff(tt.tags, tags); diff != "" || next != tt.next {
				t.Errorf("next %q, want %q; tags (-want +got):\n%s", next, tt.next, diff)
			}
		})
	}
}

func TestKitPages(t *testing.T) {
	e := newEnv(t)
	for _, l := range []string{"Kit 03", "Kit 01", "Kit Baugé"} {
		e.doJSON(t, "POST", "/api/v1/kits", e.admin, apitype.KitRequest{Label: l}, nil, http.StatusCreated)
	}
	// The label of the last kit of a full page, accents and all, is where
	// the next page starts.
	page := func(limit int) ([]apitype.Kit, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/kits?limit=%d", e.srv.URL, limit), nil)
		req.Header.Set("Authorization", "Bearer "+e.admin)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var kits []apitype.Kit
		if err := json.NewDecoder(resp.Body).Decode(&kits); err != nil {
			t.Fatal(err)
		}
		return kits, resp.Header.Get("X-Next-After")
	}
	if _, next := page(3); next != "Kit Baugé" {
		t.Errorf("X-Next-After of a full page = %q, want Kit Baugé", next)
	}
	kits, next := page(2)
	if len(kits) != 2 || kits[0].Label != "Kit 01" || kits[1].Label != "Kit 03" || next != "Kit 03" {
		t.Fatalf("first page %+v, next %q", kits, next)
	}
	kits = call[[]apitype.Kit](t, e, "GET", "/api/v1/kits?limit=2&after="+url.QueryEscape(next), e.admin, nil, http.StatusOK)
	if len(kits) != 1 || kits[0].Label != "Kit Baugé" || kits[0].Devices == nil {
		t.Errorf("second page %+v", kits)
	}
	code, b := e.do(t, "GET", "/api/v1/kits?limit=1&after="+url.QueryEscape("kit bauge"), e.admin, "")
	if code != http.StatusOK || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("after the last kit: %d %s", code, b)
	}
}

// TestOpsBadRequests sends bad requests to every new route: each gets a
// clear error naming what is wrong, and nothing changes.
func TestOpsBadRequests(t *testing.T) {
	e := newEnv(t)
	lea := e.addUser(t, "Léa Martin", fleet.RoleLogistics)
	e.doJSON(t, "POST", "/api/v1/venues", lea.Token, apitype.VenueRequest{Name: "Mairie de Noyant", Kind: "mairie", Commune: "Noyant-Villages"}, nil, http.StatusCreated)
	e.doJSON(t, "POST", "/api/v1/kits", lea.Token, apitype.KitRequest{Label: "Kit 07"}, nil, http.StatusCreated)
	e.enrolDevice(t, "PF1AAA01")
	due := mustJSON(t, e.clock.Now().Add(24*time.Hour))
	tests := []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"user unknown field", "POST", "/api/v1/users", `{"name":"Zoé","role":"admin","token":"vat_mine"}`, 400, `unknown field "token"`},
		{"user bad role", "POST", "/api/v1/users", `{"name":"Zoé","role":"boss"}`, 400, `role "boss" is not one of mediateur, logistics, technician, admin`},
		{"user no name", "POST", "/api/v1/users", `{"name":" ","role":"admin"}`, 400, "name"},
		{"user trailing data", "POST", "/api/v1/users", `{"name":"Zoé","role":"admin"} {}`, 400, "trailing data"},
		{"disable nobody", "POST", "/api/v1/users/Zoé/disable", "", 404, "Zoé"},
		{"venue empty body", "POST", "/api/v1/venues", "", 400, "body is empty"},
		{"venue bad kind", "POST", "/api/v1/venues", `{"name":"X","kind":"bar","commune":"Y"}`, 400, "bar"},
		{"venue twice", "POST", "/api/v1/venues", `{"name":"mairie de noyant","kind":"mairie","commune":"Noyant"}`, 409, "already exists"},
		{"unknown venue", "GET", "/api/v1/venues/Atlantis", "", 404, "Atlantis"},
		{"kit twice", "POST", "/api/v1/kits", `{"label":"KIT 07"}`, 409, "already exists"},
		{"kit unknown home", "POST", "/api/v1/kits", `{"label":"Kit 08","home":"Atlantis"}`, 404, "Atlantis"},
		{"kit list bad limit", "GET", "/api/v1/kits?limit=lots", "", 400, `limit="lots", want 1 to 2000`},
		{"unknown kit", "GET", "/api/v1/kits/Kit%2099", "", 404, "Kit 99"},
		{"add no devices", "POST", "/api/v1/kits/Kit%2007/devices", `{"devices":[]}`, 400, "give at least one device"},
		{"add unknown device", "POST", "/api/v1/kits/Kit%2007/devices", `{"devices":["VAL-0099"]}`, 404, "VAL-0099"},
		{"remove a device not in it", "POST", "/api/v1/kits/Kit%2007/devices/remove", `{"devices":["VAL-0001"]}`, 0, "VAL-0001"},
		{"restock unknown field", "POST", "/api/v1/kits/Kit%2007/restock", `{"all":true}`, 400, `unknown field "all"`},
		{"checkout without due", "POST", "/api/v1/kits/Kit%2007/checkout", `{"venue":"Mairie de Noyant"}`, 400, "due is required"},
		{"checkout due as a date", "POST", "/api/v1/kits/Kit%2007/checkout", `{"venue":"Mairie de Noyant","due":"2026-12-05"}`, 400, `"2026-12-05" is not an RFC 3339 time`},
		{"checkout due past", "POST", "/api/v1/kits/Kit%2007/checkout", `{"venue":"Mairie de Noyant","due":"2026-11-01T10:00:00Z"}`, 400, "in the past"},
		{"checkout without venue", "POST", "/api/v1/kits/Kit%2007/checkout", `{"due":` + due + `}`, 400, "venue is required"},
		{"checkout of an empty kit", "POST", "/api/v1/kits/Kit%2007/checkout", `{"venue":"Mairie de Noyant","due":` + due + `}`, 409, "no devices"},
		{"checkout unknown kit", "POST", "/api/v1/kits/Kit%2099/checkout", `{"venue":"Mairie de Noyant","due":` + due + `}`, 404, "Kit 99"},
		{"checkin a kit that is in", "POST", "/api/v1/kits/Kit%2007/checkin", `{}`, 409, "Kit 07"},
		{"loans bad open", "GET", "/api/v1/loans?open=yes", "", 400, `open="yes", want true or false`},
		{"loans bad overdue", "GET", "/api/v1/loans?overdue=1x", "", 400, `overdue="1x"`},
		{"loans limit 0", "GET", "/api/v1/loans?limit=0", "", 400, `limit="0", want 1 to 2000`},
		{"loans unknown user", "GET", "/api/v1/loans?user=Zoé", "", 404, "Zoé"},
		{"unknown loan", "GET", "/api/v1/loans/lnope", "", 404, "lnope"},
		{"assign nowhere", "POST", "/api/v1/assignments", `{"devices":["VAL-0001"]}`, 400, "venue is required"},
		{"assign nothing", "POST", "/api/v1/assignments", `{"venue":"Mairie de Noyant"}`, 400, "give devices or a kit"},
		{"assign both", "POST", "/api/v1/assignments", `{"devices":["VAL-0001"],"kit":"Kit 07","venue":"Mairie de Noyant"}`, 400, "not both"},
		{"assign to an unknown venue", "POST", "/api/v1/assignments", `{"devices":["VAL-0001"],"venue":"Atlantis"}`, 404, "Atlantis"},
		{"state bogus", "POST", "/api/v1/devices/VAL-0001/state", `{"state":"sold","reason":"x"}`, 400, `state "sold" is not one of`},
		{"state without reason", "POST", "/api/v1/devices/VAL-0001/state", `{"state":"lost"}`, 400, "reason"},
		{"state by hand to ready", "POST", "/api/v1/devices/VAL-0001/state", `{"state":"ready","reason":"trust me"}`, 0, "ready"},
		{"audit two subjects", "GET", "/api/v1/audit?device=VAL-0001&kit=Kit%2007", "", 400, "give one of device and kit, not both"},
		{"audit bad before", "GET", "/api/v1/audit?before=yesterday", "", 400, `before="yesterday"`},
		{"audit before 0", "GET", "/api/v1/audit?before=0", "", 400, `before="0"`},
		{"audit limit too big", "GET", "/api/v1/audit?limit=1001", "", 400, `limit="1001", want 1 to 1000`},
		{"audit unknown device", "GET", "/api/v1/audit?device=VAL-0099", "", 404, "VAL-0099"},
		{"audit unknown kit", "GET", "/api/v1/audit?kit=Kit%2099", "", 404, "Kit 99"},
		{"devices limit 0", "GET", "/api/v1/devices?limit=0", "", 400, `limit="0", want 1 to 2000`},
		{"devices limit too big", "GET", "/api/v1/devices?limit=2001", "", 400, `limit="2001", want 1 to 2000`},
		{"devices unknown kit", "GET", "/api/v1/devices?kit=Kit%2099", "", 404, "Kit 99"},
		{"devices unknown venue", "GET", "/api/v1/devices?venue=Atlantis", "", 404, "Atlantis"},
		{"devices bad online", "GET", "/api/v1/devices?online=maybe", "", 400, `online="maybe"`},
	}
	head := e.auditHead(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := e.do(t, tt.method, tt.path, e.admin, tt.body)
			d := errorBody(t, b)
			if tt.status == 0 && (code < 400 || code > 499) || tt.status != 0 && code != tt.status || !strings.Contains(d.Message, tt.msg) {
				t.Errorf("%d %q, want %d and a message with %q", code, d.Message, tt.status, tt.msg)
			}
			if strings.Contains(d.Message, "\n") {
				t.Errorf("message %q is not one line", d.Message)
			}
			if now := e.auditHead(t); now != head {
				t.Errorf("the refused request changed the audit log: %s, then %s", head, now)
				head = now
			}
		})
	}
}
