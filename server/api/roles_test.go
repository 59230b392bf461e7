package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/server/fleet"
)

// roleTokens makes one user per role through the fleet, as an admin
// would, and returns their tokens.
func roleTokens(t *testing.T, e *env) map[fleet.Role]string {
	t.Helper()
	admin := fleet.Principal{Name: "admin", Role: fleet.RoleAdmin}
	tokens := map[fleet.Role]string{}
	for _, r := range fleet.Roles {
		_, tok, err := e.fleet.CreateUser(admin, "The "+string(r), r)
		if err != nil {
			t.Fatal(err)
		}
		tokens[r] = tok
	}
	return tokens
}

// published counts the commands the API sent.
func (e *env) published() int {
	e.pub.mu.Lock()
	defer e.pub.mu.Unlock()
	return len(e.pub.msgs)
}

// TestRoleMatrix calls every route that takes a bearer token as every
// role: the answer is 403 exactly when the route's roles leave the role
// out, and a 403 changes nothing (the audit log's head, the commands sent).
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	tokens := roleTokens(t, e)
	admin := fleet.Principal{Name: "admin", Role: fleet.RoleAdmin}
	if _, _, err := e.fleet.CreateUser(admin, "Bob", fleet.RoleMediateur); err != nil {
		t.Fatal(err)
	}
	notReady, ready := e.enrolDevice(t, "PF1AAA01"), e.enrolDevice(t, "PF1BBB02")
	e.enrolDevice(t, "PF1CCC03")
	e.makeReady(t, ready)
	e.doJSON(t, "POST", "/api/v1/venues", e.admin, apitype.VenueRequest{Name: "Mairie de Noyant", Kind: "mairie", Commune: "Noyant-Villages"}, nil, http.StatusCreated)
	for kit, dev := range map[string]string{"Kit 07": notReady.id, "Kit 09": ready.id} {
		e.doJSON(t, "POST", "/api/v1/kits", e.admin, apitype.KitRequest{Label: kit}, nil, http.StatusCreated)
		e.doJSON(t, "POST", "/api/v1/kits/"+kit+"/devices", e.admin, apitype.KitDevicesRequest{Devices: []string{dev}}, nil, http.StatusOK)
	}
	due := mustJSON(t, e.clock.Now().Add(7*24*time.Hour))
	// The médiateur's own loan, which every role may read.
	var loan apitype.Loan
	e.doJSON(t, "POST", "/api/v1/kits/Kit%2009/checkout", tokens[fleet.RoleMediateur], map[string]any{"venue": "Mairie de Noyant", "due": e.clock.Now().Add(time.Hour)}, &loan, http.StatusCreated)

	every := fleet.Roles
	mediateur := []fleet.Role{fleet.RoleMediateur, fleet.RoleLogistics}
	logistics := []fleet.Role{fleet.RoleLogistics}
	tech := []fleet.Role{fleet.RoleTechnician}
	staff := []fleet.Role{fleet.RoleLogistics, fleet.RoleTechnician}
	adminOnly := []fleet.Role{}
	routes := []struct {
		method, path, body string
		allowed            []fleet.Role // admin is always allowed
	}{
		// Daily operations.
		{"POST", "/api/v1/users", `{"name":"Zoé","role":"mediateur"}`, adminOnly},
		{"GET", "/api/v1/users", "", logistics},
		{"POST", "/api/v1/users/Bob/disable", "", adminOnly},
		{"POST", "/api/v1/venues", `{"name":"Médiathèque d'Angers","kind":"mediatheque","commune":"Angers"}`, logistics},
		{"GET", "/api/v1/venues", "", every},
		{"GET", "/api/v1/venues/Mairie%20de%20Noyant", "", every},
		{"POST", "/api/v1/kits", `{"label":"Kit 08"}`, logistics},
		{"GET", "/api/v1/kits", "", every},
		{"GET", "/api/v1/kits/Kit%2007", "", every},
		{"POST", "/api/v1/kits/Kit%2007/devices", `{"devices":["VAL-0003"]}`, logistics},
		{"POST", "/api/v1/kits/Kit%2007/devices/remove", `{"devices":["VAL-0003"]}`, logistics},
		{"POST", "/api/v1/kits/Kit%2007/restock", `{}`, logistics},
		{"POST", "/api/v1/kits/Kit%2007/checkout", `{"venue":"Mairie de Noyant","due":` + due + `}`, mediateur},
		{"POST", "/api/v1/kits/Kit%2007/checkin", `{}`, mediateur},
		{"GET", "/api/v1/loans", "", every},
		{"GET", "/api/v1/loans/" + loan.ID, "", every},
		{"POST", "/api/v1/assignments", `{"devices":["VAL-0003"],"venue":"Mairie de Noyant"}`, logistics},
		{"POST", "/api/v1/devices/VAL-0003/state", `{"state":"lost","reason":"left at the market"}`, staff},
		{"POST", "/api/v1/import/venues?dry_run=true", "name,kind,commune\nMairie de Baugé,mairie,Baugé-en-Anjou\n", logistics},
		{"GET", "/api/v1/export/venues", "", logistics},
		{"GET", "/api/v1/audit?kit=Kit%2007", "", staff},
		// Enrolment, telemetry, wipes and provisioning.
		{"POST", "/api/v1/enroll-tokens", `{"class":"laptop"}`, tech},
		{"GET", "/api/v1/devices", "", every},
		{"GET", "/api/v1/devices/VAL-0001", "", every},
		{"GET", "/api/v1/devices/VAL-0001/history?metric=battery_health", "", every},
		{"GET", "/api/v1/devices/VAL-0001/events", "", every},
		{"POST", "/api/v1/devices/VAL-0001/collect", "", staff},
		{"GET", "/api/v1/devices/VAL-0001/certificates", "", every},
		{"POST", "/api/v1/devices/VAL-0001/certificates/import", "nwipe log", tech},
		{"GET", "/api/v1/certificates/cnone", "", every},
		{"GET", "/api/v1/certificates/cnone/pdf", "", every},
		{"POST", "/api/v1/wipes", `{"devices":["VAL-0001"]}`, tech},
		{"GET", "/api/v1/wipes", "", staff},
		{"GET", "/api/v1/wipes/wnone", "", staff},
		{"POST", "/api/v1/provisions", `{"device":"VAL-0002","profile":"laptop-linux"}`, tech},
		{"GET", "/api/v1/provisions/pnone", "", staff},
		{"GET", "/api/v1/audit", "", staff},
		{"GET", "/api/v1/audit/verify", "", staff},
	}
	for _, rt := range routes {
		for _, role := range fleet.Roles {
			t.Run(fmt.Sprintf("%s %s as %s", rt.method, rt.path, role), func(t *testing.T) {
				head, sent := e.auditHead(t), e.published()
				code, b := e.do(t, rt.method, rt.path, tokens[role], rt.body)
				allowed := role == fleet.RoleAdmin || slices.Contains(rt.allowed, role)
				switch {
				case allowed && (code == http.StatusForbidden || code == http.StatusUnauthorized):
					t.Errorf("%s was refused: %d %s", role, code, b)
				case !allowed && code != http.StatusForbidden:
					t.Errorf("%s got %d %s, want 403", role, code, b)
				case !allowed:
					if d := errorBody(t, b); d.Code != apitype.CodeForbidden {
						t.Errorf("403 with code %q", d.Code)
					}
					if now := e.auditHead(t); now != head {
						t.Errorf("a 403 changed the audit log: %s, then %s", head, now)
					}
					if e.published() != sent {
						t.Error("a 403 sent a command")
					}
				}
			})
		}
	}
}

// TestMediateurSeesOwnLoans checks what a médiateur may see and do of
// loans: their own only. Another's loan by id is answered 404, as if it
// did not exist, so that its id reveals nothing; asking for another's
// loans by user is 403.
func TestMediateurSeesOwnLoans(t *testing.T) {
	e := newEnv(t)
	awa := e.addUser(t, "Awa Diallo", fleet.RoleMediateur)
	bob := e.addUser(t, "Bob Martin", fleet.RoleMediateur)
	lea := e.addUser(t, "Léa", fleet.RoleLogistics)
	e.doJSON(t, "POST", "/api/v1/venues", lea.Token, apitype.VenueRequest{Name: "Mairie de Noyant", Kind: "mairie", Commune: "Noyant-Villages"}, nil, http.StatusCreated)
	// Kit 01 goes to Awa, Kit 02 to Bob; Kit 03 is ready and in.
	for i := range 3 {
		d := e.enrolDevice(t, fmt.Sprintf("PF1AAA0%d", i+1))
		e.makeReady(t, d)
		kit := fmt.Sprintf("Kit 0%d", i+1)
		e.doJSON(t, "POST", "/api/v1/kits", lea.Token, apitype.KitRequest{Label: kit}, nil, http.StatusCreated)
		e.doJSON(t, "POST", "/api/v1/kits/"+kit+"/devices", lea.Token, apitype.KitDevicesRequest{Devices: []string{d.id}}, nil, http.StatusOK)
	}
	loans := map[string]apitype.Loan{}
	for i, u := range []apitype.User{awa, bob} {
		loans[u.Name] = call[apitype.Loan](t, e, "POST", fmt.Sprintf("/api/v1/kits/Kit%%200%d/checkout", i+1), u.Token,
			apitype.CheckoutRequest{Venue: "Mairie de Noyant", Due: e.clock.Now().Add(48 * time.Hour)}, http.StatusCreated)
	}
	if all := call[[]apitype.Loan](t, e, "GET", "/api/v1/loans", lea.Token, nil, http.StatusOK); len(all) != 2 {
		t.Fatalf("logistics sees %d loans, want 2", len(all))
	}
	mine := call[[]apitype.Loan](t, e, "GET", "/api/v1/loans", awa.Token, nil, http.StatusOK)
	if len(mine) != 1 || mine[0].ID != loans[awa.Name].ID || mine[0].Borrower != awa.ID {
		t.Errorf("Awa's list %+v", mine)
	}
	e.doJSON(t, "GET", "/api/v1/loans/"+loans[awa.Name].ID, awa.Token, nil, nil, http.StatusOK)

	head := e.auditHead(t)
	refusals := []struct {
		name, method, path, body string
		status                   int
	}{
		{"another's loan by id", "GET", "/api/v1/loans/" + loans[bob.Name].ID, "", http.StatusNotFound},
		{"another's loans by user", "GET", "/api/v1/loans?user=Bob%20Martin", "", http.StatusForbidden},
		{"check in another's kit", "POST", "/api/v1/kits/Kit%2002/checkin", `{}`, http.StatusForbidden},
		{"check out to another", "POST", "/api/v1/kits/Kit%2003/checkout", `{"to":"Bob Martin","venue":"Mairie de Noyant","due":` + mustJSON(t, e.clock.Now().Add(time.Hour)) + `}`, http.StatusForbidden},
		{"override the gate", "POST", "/api/v1/kits/Kit%2003/checkout", `{"venue":"Mairie de Noyant","override":"urgent","due":` + mustJSON(t, e.clock.Now().Add(time.Hour)) + `}`, http.StatusForbidden},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			code, b := e.do(t, r.method, r.path, awa.Token, r.body)
			if code != r.status {
				t.Errorf("%d %s, want %d", code, b, r.status)
			}
			if msg := errorBody(t, b).Message; code == http.StatusNotFound && (strings.Contains(msg, bob.Name) || strings.Contains(msg, bob.ID)) {
				t.Errorf("the 404 names the borrower: %s", b)
			}
			if now := e.auditHead(t); now != head {
				t.Errorf("the refusal changed the audit log: %s, then %s", head, now)
			}
		})
	}
}
