package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
	"github.com/valise-numerique/valise/server/web"
)

// sessionCookie returns the Set-Cookie of the session in h, parsed.
func sessionCookie(t *testing.T, h http.Header) *http.Cookie {
	t.Helper()
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		if c.Name == web.CookieName {
			return c
		}
	}
	return nil
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()

	code, _ := b.get("/kits/k7?x=1")
	if loc := b.header.Get("Location"); code != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape("/kits/k7?x=1") {
		t.Fatalf("signed-out GET = %d to %q, want 303 to the sign-in page", code, loc)
	}
	code, body := b.get("/login?next=%2Fkits%2Fk7")
	if code != http.StatusOK || !strings.Contains(body, `<html lang="fr">`) || !strings.Contains(body, `<label for="token">`) || !strings.Contains(body, `value="/kits/k7"`) {
		t.Fatalf("sign-in page = %d:\n%s", code, body)
	}

	for name, token := range map[string]string{
		"unknown":   "vat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"no prefix": "nothing",
		"empty":     "",
	} {
		t.Run(name, func(t *testing.T) {
			code, body := b.post("/login", url.Values{"token": {token}})
			if code != http.StatusUnauthorized || !strings.Contains(body, `role="alert"`) {
				t.Errorf("bad token = %d:\n%s", code, body)
			}
			if c := sessionCookie(t, b.header); c != nil {
				t.Errorf("a bad token got a cookie: %v", c)
			}
		})
	}

	token := e.tokens[fleet.RoleMediateur]
	// A sign-in posted from another site is refused (login CSRF).
	req, err := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if code, _ := b.do(req); code != http.StatusForbidden || sessionCookie(t, b.header) != nil {
		t.Errorf("cross-site sign-in = %d, want 403 and no cookie", code)
	}
	code, _ = b.post("/login", url.Values{"token": {token}, "next": {"/kits/k7"}})
	if loc := b.header.Get("Location"); code != http.StatusSeeOther || loc != "/kits/k7" {
		t.Fatalf("good token = %d to %q, want 303 to /kits/k7", code, loc)
	}
	c := sessionCookie(t, b.header)
	switch {
	case c == nil:
		t.Fatal("no session cookie")
	case !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure:
		t.Errorf("cookie over plain HTTP: %+v, want HttpOnly, SameSite=Strict, Path=/, not Secure", c)
	case strings.Contains(c.Value, token) || strings.Contains(c.Value, fleet.HashSecret(token)) || len(c.Value) < 40:
		t.Errorf("cookie value %q holds the token or is too short", c.Value)
	}
	code, body = b.get("/")
	if code != http.StatusOK || !strings.Contains(body, "Awa Diallo (médiateur)") {
		t.Fatalf("dashboard once signed in = %d:\n%s", code, body)
	}

	// Sign-out needs the CSRF token too.
	if code, _ := b.post("/logout", nil); code != http.StatusForbidden {
		t.Errorf("sign-out without CSRF = %d, want 403", code)
	}
	csrf := b.csrf("/")
	if code, _ := b.post("/logout", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther {
		t.Errorf("sign-out = %d, want 303", code)
	}
	if code, _ := b.get("/"); code != http.StatusSeeOther {
		t.Errorf("after sign-out GET / = %d, want 303 to the sign-in page", code)
	}
	// The old cookie is dead on the server too.
	replay := e.browser()
	u, _ := url.Parse(e.srv.URL)
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: web.CookieName, Value: c.Value}})
	if code, _ := replay.get("/"); code != http.StatusSeeOther {
		t.Errorf("old session cookie after sign-out: GET / = %d, want 303", code)
	}
}

func TestSignInNextStaysOnSite(t *testing.T) {
	e := newEnv(t)
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "kits"} {
		b := e.browser()
		code, _ := b.post("/login", url.Values{"token": {e.tokens[fleet.RoleAdmin]}, "next": {next}})
		if loc := b.header.Get("Location"); code != http.StatusSeeOther || loc != "/" {
			t.Errorf("next=%q: %d to %q, want 303 to /", next, code, loc)
		}
	}
}

func TestSecureCookieOverHTTPS(t *testing.T) {
	e := newEnvTLS(t, true)
	b := e.browser()
	code, _ := b.post("/login", url.Values{"token": {e.tokens[fleet.RoleLogistics]}})
	c := sessionCookie(t, b.header)
	if code != http.StatusSeeOther || c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign-in over HTTPS = %d, cookie %+v, want Secure, HttpOnly, SameSite=Strict", code, c)
	}
	if code, _ := b.get("/"); code != http.StatusOK {
		t.Errorf("dashboard over HTTPS = %d", code)
	}
}

func TestSecureCookieBehindAProxy(t *testing.T) {
	// Plain HTTP here, HTTPS in the browser: a proxy ends TLS.
	e := newEnvWith(t, false, true)
	b := e.browser()
	code, _ := b.post("/login", url.Values{"token": {e.tokens[fleet.RoleLogistics]}})
	if c := sessionCookie(t, b.header); code != http.StatusSeeOther || c == nil || !c.Secure {
		t.Fatalf("sign-in behind an HTTPS proxy = %d, cookie %+v, want Secure", code, c)
	}
}

func TestDisabledUserIsOutAtOnce(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(fleet.RoleLogistics)
	if code, _ := b.get("/kits"); code != http.StatusOK {
		t.Fatalf("kits = %d", code)
	}
	if _, err := e.fleet.DisableUser(adminP, e.users[fleet.RoleLogistics].ID); err != nil {
		t.Fatal(err)
	}
	code, body := b.get("/kits")
	if code != http.StatusUnauthorized || !strings.Contains(body, "plus valable") {
		t.Fatalf("disabled user's next page = %d:\n%s", code, body)
	}
	if c := sessionCookie(t, b.header); c == nil || c.MaxAge >= 0 {
		t.Errorf("the cookie of a disabled user is not cleared: %+v", c)
	}
}

func TestSessionsExpireWhenIdle(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(fleet.RoleAdmin)
	e.clock.Add(web.SessionIdle - time.Minute)
	if code, _ := b.get("/"); code != http.StatusOK {
		t.Fatalf("after 11h59 idle = %d, want 200", code)
	}
	e.clock.Add(web.SessionIdle + time.Second)
	if code, _ := b.get("/"); code != http.StatusSeeOther {
		t.Fatalf("after 12h idle = %d, want 303 to the sign-in page", code)
	}
}

func TestCSRFRefusal(t *testing.T) {
	k := newKitEnv(t)
	b := k.signIn(fleet.RoleMediateur)
	good := b.csrf("/kits/" + k.kit.ID)
	other := k.signIn(fleet.RoleMediateur).csrf("/")
	if other == good {
		t.Fatal("two sessions share a CSRF token")
	}
	form := url.Values{"venue": {k.venue.ID}, "due": {"2026-11-20"}}
	before := k.auditHead()
	for name, csrf := range map[string][]string{"none": nil, "empty": {""}, "wrong": {good[:len(good)-2] + "xx"}, "another session's": {other}} {
		t.Run(name, func(t *testing.T) {
			f := url.Values{}
			for key, v := range form {
				f[key] = v
			}
			if csrf != nil {
				f["csrf"] = csrf
			}
			code, body := b.post("/kits/"+k.kit.ID+"/checkout", f)
			if code != http.StatusForbidden || !strings.Contains(body, "Rien n’a été modifié") {
				t.Errorf("checkout with %s CSRF token = %d:\n%s", name, code, body)
			}
		})
	}
	if got := k.state(k.a.id); got != fleet.StateReady {
		t.Errorf("device %s after refused posts, want ready", got)
	}
	if after := k.auditHead(); after != before {
		t.Errorf("audit log grew from %d to %d on refused posts", before, after)
	}
	// A POST without any session changes nothing either.
	if code, _ := k.browser().post("/kits/"+k.kit.ID+"/checkout", form); code != http.StatusForbidden {
		t.Errorf("checkout without a session = %d, want 403", code)
	}
}

func TestCheckoutAndCheckinThroughForms(t *testing.T) {
	k := newKitEnv(t)
	k.report(k.a, wire.ChanHealth, wire.Health{}, store.Figure{Metric: "battery_charge", Value: 35}, store.Figure{Metric: "battery_health", Value: 92})
	b := k.signIn(fleet.RoleMediateur)

	code, body := b.get("/kits/" + k.kit.ID)
	for _, want := range []string{
		`action="/kits/` + k.kit.ID + `/checkout"`, "Emprunter le kit", `<option value="` + k.venue.ID + `" selected>`,
		`type="date" id="due" name="due" value="2026-11-19"`, "VAL-0001", "35 %", "92 %", "prête",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("kit page lacks %q", want)
		}
	}
	if code != http.StatusOK || strings.Contains(body, `name="to"`) || strings.Contains(body, `name="override"`) || strings.Contains(body, "/checkin") {
		t.Fatalf("a médiateur's kit page = %d, with a borrower, override or check-in field:\n%s", code, body)
	}
	csrf := csrfField.FindStringSubmatch(body)[1]

	code, _ = b.post("/kits/"+k.kit.ID+"/checkout", url.Values{"csrf": {csrf}, "venue": {k.venue.ID}, "due": {"2026-11-19"}})
	if loc := b.header.Get("Location"); code != http.StatusSeeOther || loc != "/kits/"+k.kit.ID+"?fait=sortie" {
		t.Fatalf("checkout = %d to %q", code, loc)
	}
	for _, a := range []*agent{k.a, k.b} {
		if got := k.state(a.id); got != fleet.StateOnLoan {
			t.Errorf("%s after checkout: %s, want on_loan", a.tag, got)
		}
	}
	loans, err := k.fleet.Loans(adminP, fleet.LoanFilter{Open: true})
	if err != nil || len(loans) != 1 {
		t.Fatalf("open loans: %v %+v", err, loans)
	}
	if l := loans[0]; l.Borrower != k.users[fleet.RoleMediateur].ID || l.Venue != k.venue.ID || !l.DueAt.Equal(time.Date(2026, 11, 19, 23, 59, 59, 0, paris)) {
		t.Errorf("loan %+v", l.Loan)
	}
	code, body = b.get("/kits/" + k.kit.ID + "?fait=sortie")
	for _, want := range []string{
		"Le kit est sorti", "Prêt en cours", "Awa Diallo", "19 nov. 23:59", "VAL-0001 : batterie à 35 % ; chargez-le avant le départ",
		"VAL-0002 : n’a jamais donné de nouvelles", `action="/kits/` + k.kit.ID + `/checkin"`, "Rendre ce kit",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("kit page on loan lacks %q", want)
		}
	}
	if code != http.StatusOK || strings.Contains(body, "/checkout") {
		t.Fatalf("kit page on loan = %d, still with a checkout form:\n%s", code, body)
	}
	code, body = b.get("/loans")
	if code != http.StatusOK || !strings.Contains(body, "Kit 07") || !strings.Contains(body, "France Services Baugé") {
		t.Errorf("loans page = %d:\n%s", code, body)
	}

	// Two days later, the session has ended: the médiateur signs in again.
	k.clock.Add(48 * time.Hour)
	if code, _ := b.get("/kits/" + k.kit.ID); code != http.StatusSeeOther {
		t.Errorf("kit page after two idle days = %d, want 303 to the sign-in page", code)
	}
	b = k.signIn(fleet.RoleMediateur)
	csrf = b.csrf("/kits/" + k.kit.ID)
	code, body = b.post("/kits/"+k.kit.ID+"/checkin", url.Values{
		"csrf": {csrf}, "missing": {"sacoche"}, "damage_" + k.b.id: {"écran fissuré"}, "damage_" + k.a.id: {" "},
	})
	if loc := b.header.Get("Location"); code != http.StatusSeeOther || loc != "/kits/"+k.kit.ID+"?fait=retour" {
		t.Fatalf("checkin = %d to %q:\n%s", code, loc, body)
	}
	if got := k.state(k.a.id); got != fleet.StateNeedsWipe {
		t.Errorf("%s after checkin: %s, want needs_wipe", k.a.tag, got)
	}
	if got := k.state(k.b.id); got != fleet.StateMaintenance {
		t.Errorf("%s after checkin with damage: %s, want maintenance", k.b.tag, got)
	}
	kit, err := k.fleet.Kit(k.kit.ID)
	if err != nil || kit.Loan != "" || !slices.Equal(kit.Missing, []string{"sacoche"}) {
		t.Errorf("kit after checkin: %v %+v", err, kit)
	}
	code, body = b.get("/kits/" + k.kit.ID + "?fait=retour")
	for _, want := range []string{"Le retour du kit est enregistré", "sacoche", "écran fissuré", "à effacer depuis son retour le 14 nov.", "Emprunter le kit"} {
		if !strings.Contains(body, want) {
			t.Errorf("kit page after checkin lacks %q", want)
		}
	}
	if code != http.StatusOK {
		t.Errorf("kit page after checkin = %d", code)
	}
}

func TestRefusedCheckoutShowsBlockingDevices(t *testing.T) {
	k := newKitEnv(t)
	if _, err := k.fleet.Checkout(k.principal(fleet.RoleMediateur), fleet.CheckoutRequest{Kit: k.kit.ID, Venue: k.venue.ID, Due: k.clock.Now().Add(72 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	k.clock.Add(24 * time.Hour)
	if _, err := k.fleet.Checkin(k.principal(fleet.RoleMediateur), fleet.CheckinRequest{Kit: k.kit.ID}); err != nil {
		t.Fatal(err)
	}
	b := k.signIn(fleet.RoleMediateur)
	csrf := b.csrf("/kits/" + k.kit.ID)
	before := k.auditHead()
	code, body := b.post("/kits/"+k.kit.ID+"/checkout", url.Values{"csrf": {csrf}, "venue": {k.venue.ID}, "due": {"2026-11-25"}})
	if code != http.StatusConflict {
		t.Fatalf("checkout of a kit that needs a wipe = %d, want 409:\n%s", code, body)
	}
	for _, want := range []string{
		"Kit 07 ne peut pas sortir : 2 appareil(s) sur 2 ne sont pas prêts", "Appareils qui bloquent la sortie",
		"<li>VAL-0001 : à effacer depuis son retour le 13 nov.</li>", "<li>VAL-0002 : à effacer depuis son retour le 13 nov.</li>",
		`value="2026-11-25"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("refused checkout page lacks %q:\n%s", want, body)
		}
	}
	if after := k.auditHead(); after != before {
		t.Errorf("a refused checkout grew the audit log from %d to %d", before, after)
	}
	if got := k.state(k.a.id); got != fleet.StateNeedsWipe {
		t.Errorf("device after a refused checkout: %s", got)
	}
}

func TestBadCheckoutForms(t *testing.T) {
	k := newKitEnv(t)
	b := k.signIn(fleet.RoleMediateur)
	csrf := b.csrf("/kits/" + k.kit.ID)
	tests := []struct {
		name string
		form url.Values
		code int
		want string
	}{
		{"no due date", url.Values{"venue": {k.venue.ID}}, http.StatusBadRequest, "indiquez la date de retour"},
		{"not a date", url.Values{"venue": {k.venue.ID}, "due": {"demain"}}, http.StatusBadRequest, "n’est pas une date"},
		{"past date", url.Values{"venue": {k.venue.ID}, "due": {"2026-11-01"}}, http.StatusBadRequest, "est passée"},
		{"no venue", url.Values{"due": {"2026-11-20"}}, http.StatusBadRequest, "choisissez le lieu de destination"},
		{"unknown venue", url.Values{"due": {"2026-11-20"}, "venue": {"Mairie de Nulle-Part"}}, http.StatusNotFound, "Introuvable"},
		{"another borrower", url.Values{"venue": {k.venue.ID}, "due": {"2026-11-20"}, "to": {"Léa Martin"}}, http.StatusForbidden, "Votre rôle ne permet pas"},
		{"override", url.Values{"venue": {k.venue.ID}, "due": {"2026-11-20"}, "override": {"urgent"}}, http.StatusForbidden, "Votre rôle ne permet pas"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := k.auditHead()
			tc.form.Set("csrf", csrf)
			code, body := b.post("/kits/"+k.kit.ID+"/checkout", tc.form)
			if code != tc.code || !strings.Contains(body, tc.want) || !strings.Contains(body, "Rien n’a été modifié") {
				t.Errorf("= %d, want %d with %q:\n%s", code, tc.code, tc.want, body)
			}
			if after := k.auditHead(); after != before || k.state(k.a.id) != fleet.StateReady {
				t.Errorf("a refused form changed something")
			}
		})
	}
}

func TestTechnicianCannotCheckOut(t *testing.T) {
	k := newKitEnv(t)
	b := k.signIn(fleet.RoleTechnician)
	code, body := b.get("/kits/" + k.kit.ID)
	if code != http.StatusOK || strings.Contains(body, "/checkout") || strings.Contains(body, "/checkin") {
		t.Fatalf("technician's kit page = %d, with a checkout or check-in form:\n%s", code, body)
	}
	csrf := csrfField.FindStringSubmatch(body)[1] // of the sign-out form
	before := k.auditHead()
	code, body = b.post("/kits/"+k.kit.ID+"/checkout", url.Values{"csrf": {csrf}, "venue": {k.venue.ID}, "due": {"2026-11-20"}})
	if code != http.StatusForbidden || !strings.Contains(body, "Votre rôle ne permet pas cette action") {
		t.Fatalf("technician's checkout = %d:\n%s", code, body)
	}
	code, body = b.post("/kits/"+k.kit.ID+"/checkin", url.Values{"csrf": {csrf}})
	if code != http.StatusForbidden {
		t.Errorf("technician's check-in = %d, want 403", code)
	}
	if after := k.auditHead(); after != before {
		t.Errorf("the technician's posts grew the audit log from %d to %d", before, after)
	}
	for _, a := range []*agent{k.a, k.b} {
		if got := k.state(a.id); got != fleet.StateReady {
			t.Errorf("%s after the technician's posts: %s, want ready", a.tag, got)
		}
	}
}

func TestLogisticsLendsToAMediateur(t *testing.T) {
	k := newKitEnv(t)
	b := k.signIn(fleet.RoleLogistics)
	code, body := b.get("/kits/" + k.kit.ID)
	awa := k.users[fleet.RoleMediateur]
	if code != http.StatusOK || !strings.Contains(body, `<option value="`+awa.ID+`">Awa Diallo (médiateur)</option>`) || !strings.Contains(body, `name="override"`) {
		t.Fatalf("logistics' kit page = %d:\n%s", code, body)
	}
	csrf := csrfField.FindStringSubmatch(body)[1]
	code, _ = b.post("/kits/"+k.kit.ID+"/checkout", url.Values{"csrf": {csrf}, "to": {awa.ID}, "venue": {k.venue.ID}, "due": {"2026-11-20"}})
	if code != http.StatusSeeOther {
		t.Fatalf("logistics' checkout = %d", code)
	}
	loans, err := k.fleet.Loans(adminP, fleet.LoanFilter{Open: true})
	if err != nil || len(loans) != 1 || loans[0].Borrower != awa.ID || loans[0].By != "Léa Martin" {
		t.Fatalf("loans: %v %+v", err, loans)
	}
	// Another médiateur sees neither the loan nor a check-in form.
	u, secret, err := k.fleet.CreateUser(adminP, "Jean Dupont", fleet.RoleMediateur)
	if err != nil {
		t.Fatal(err)
	}
	jean := k.browser()
	if code, _ := jean.post("/login", url.Values{"token": {secret}}); code != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %d", u.Name, code)
	}
	code, body = jean.get("/kits/" + k.kit.ID)
	if code != http.StatusOK || strings.Contains(body, "/checkin") {
		t.Errorf("another médiateur's kit page = %d, with a check-in form", code)
	}
	code, body = jean.get("/loans")
	if code != http.StatusOK || strings.Contains(body, "Kit 07") {
		t.Errorf("another médiateur sees Awa's loan (%d)", code)
	}
	code, _ = jean.post("/kits/"+k.kit.ID+"/checkin", url.Values{"csrf": {csrfField.FindStringSubmatch(body)[1]}})
	if code != http.StatusForbidden || k.state(k.a.id) != fleet.StateOnLoan {
		t.Errorf("another médiateur's check-in = %d, want 403 and nothing changed", code)
	}
}

func TestPagesRenderForEveryRole(t *testing.T) {
	k := newKitEnv(t)
	k.report(k.a, wire.ChanHealth, wire.Health{
		Batteries: []wire.Battery{{Name: "BAT0", ChargePercent: f64(80), HealthPercent: f64(55)}},
		Disks: []wire.DiskHealth{
			{Name: "nvme0n1", Model: "Samsung PM981", SmartAvailable: true, Passed: boolp(true)},
			{Name: "sda", Model: "WDC WD5000", SmartAvailable: true, Passed: boolp(false), ReallocatedSectors: int64p(12)},
		},
		Filesystems:  []wire.Filesystem{{Mountpoint: "/", TotalBytes: 256e9, FreeBytes: 100e9, UsedPercent: 61}},
		Temperatures: []wire.Temperature{{Sensor: "cpu", Celsius: 48}},
	}, store.Figure{Metric: "battery_health", Value: 55}, store.Figure{Metric: "battery_charge", Value: 80})
	k.report(k.a, wire.ChanNet, wire.Net{
		WiFi:     &wire.WiFi{Interface: "wlan0", SSID: "Valise-07", SignalDBm: f64(-61)},
		Cellular: []wire.Cellular{{Operator: "Orange F", AccessTech: "lte", SignalPercent: f64(70), ICCID: "8933"}},
	})
	pages := map[string][]string{
		"/":                    {"Tableau de bord", "prête", "batterie à 55 %"},
		"/kits":                {"Kit 07", "disponible"},
		"/kits/" + k.kit.ID:    {"Kit 07", "VAL-0001", "France Services Baugé"},
		"/kits/kit%2007":       {"Kit 07"},
		"/loans":               {"Aucun prêt en cours"},
		"/devices":             {"VAL-0001", "VAL-0002", "Kit 07"},
		"/devices?state=ready": {"VAL-0001"},
		"/devices?state=lost":  {"Aucun appareil dans l’état « perdue »"},
		"/devices/val-0001":    {"VAL-0001", "Valise-07", "Orange F", "55 %", "SMART <span class=\"ok\">bon</span>", "SMART <span class=\"bad\">en échec</span>, 12 secteurs réalloués", "signal -61 dBm", "48 °C", "Historique récent", "effacement réussi"},
		"/devices/" + k.b.id:   {"VAL-0002", "n’a jamais donné de nouvelles"},
		"/venues":              {"France Services Baugé", "Baugé-en-Anjou"},
	}
	for _, role := range fleet.Roles {
		b := k.signIn(role)
		for path, wants := range pages {
			t.Run(string(role)+path, func(t *testing.T) {
				code, body := b.get(path)
				if code != http.StatusOK {
					t.Fatalf("= %d:\n%s", code, body)
				}
				for _, want := range append(wants, `<html lang="fr">`) {
					if !strings.Contains(body, want) {
						t.Errorf("lacks %q", want)
					}
				}
				if m := templateLeak.FindString(body); m != "" {
					t.Errorf("template leak %q in:\n%s", m, body)
				}
			})
		}
	}
}

func TestErrorPages(t *testing.T) {
	k := newKitEnv(t)
	b := k.signIn(fleet.RoleLogistics)
	tests := []struct {
		path string
		code int
		want string
	}{
		{"/nope", http.StatusNotFound, "Cette page n’existe pas"},
		{"/devices/VAL-9999", http.StatusNotFound, "Introuvable"},
		{"/kits/Kit%2099", http.StatusNotFound, "Introuvable"},
		{"/devices?state=broken", http.StatusBadRequest, "l’état &#34;broken&#34; n’existe pas"},
	}
	for _, tc := range tests {
		code, body := b.get(tc.path)
		if code != tc.code || !strings.Contains(body, tc.want) || !strings.Contains(body, `<html lang="fr">`) {
			t.Errorf("GET %s = %d, want %d with %q:\n%s", tc.path, code, tc.code, tc.want, body)
		}
		if strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") {
			t.Errorf("GET %s shows a stack trace", tc.path)
		}
	}
}

func TestDashboard(t *testing.T) {
	t.Run("empty store", func(t *testing.T) {
		e := newEnv(t)
		code, body := e.signIn(fleet.RoleAdmin).get("/")
		for _, want := range []string{"Appareils (0)", "Aucun appareil enrôlé", "Aucun kit", "Aucun appareil n’attend d’effacement"} {
			if !strings.Contains(body, want) {
				t.Errorf("empty dashboard lacks %q", want)
			}
		}
		if code != http.StatusOK {
			t.Fatalf("empty dashboard = %d:\n%s", code, body)
		}
	})
	t.Run("populated", func(t *testing.T) {
		k := newKitEnv(t)
		c := k.enrol("0a03")
		k.report(c, wire.ChanHealth, wire.Health{}, store.Figure{Metric: "battery_health", Value: 41})
		if _, err := k.fleet.Checkout(k.principal(fleet.RoleMediateur), fleet.CheckoutRequest{Kit: k.kit.ID, Venue: k.venue.ID, Due: k.clock.Now().Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		k.report(k.a, wire.ChanHealth, wire.Health{}, store.Figure{Metric: "battery_health", Value: 52})
		k.clock.Add(4 * 24 * time.Hour)
		code, body := k.signIn(fleet.RoleLogistics).get("/")
		for _, want := range []string{
			"Appareils (3)", `class="s-on_loan">en prêt</a></dt><dd>2</dd>`, `class="s-intake">arrivée</a></dt><dd>1</dd>`,
			"Kits (1)", "en retard</span></dt><dd>1</dd>", "Prêts en retard", "13 nov. 14:09",
			"VAL-0001</a> — batterie à 52 %",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("dashboard lacks %q", want)
			}
		}
		if code != http.StatusOK {
			t.Fatalf("dashboard = %d:\n%s", code, body)
		}
		code, body = k.signIn(fleet.RoleMediateur).get("/kits/" + k.kit.ID)
		if code != http.StatusOK || !strings.Contains(body, "<strong>en retard</strong>") || !strings.Contains(body, "peut-être perdu") {
			t.Errorf("overdue kit page = %d:\n%s", code, body)
		}
		code, body = k.signIn(fleet.RoleMediateur).get("/loans")
		if code != http.StatusOK || !strings.Contains(body, "en retard") || !strings.Contains(body, "Peut-être perdus") || !strings.Contains(body, "VAL-0002") {
			t.Errorf("overdue loans page = %d:\n%s", code, body)
		}
	})
}

func TestDevicePages(t *testing.T) {
	e := newEnv(t)
	for i := range 105 {
		e.enrol(string("0123456789abcdef"[i/16]) + string("0123456789abcdef"[i%16]) + "00")
	}
	b := e.signIn(fleet.RoleTechnician)
	code, body := b.get("/devices?state=intake")
	if code != http.StatusOK || !strings.Contains(body, "VAL-0100") || strings.Contains(body, "VAL-0101") || !strings.Contains(body, "after=VAL-0100") {
		t.Fatalf("first page = %d:\n%s", code, body)
	}
	code, body = b.get("/devices?state=intake&after=VAL-0100")
	if code != http.StatusOK || !strings.Contains(body, "VAL-0105") || strings.Contains(body, "VAL-0100<") || strings.Contains(body, "Appareils suivants") {
		t.Fatalf("second page = %d:\n%s", code, body)
	}
	code, body = b.get("/")
	if code != http.StatusOK || !strings.Contains(body, "Appareils (105)") {
		t.Errorf("dashboard over 105 devices = %d", code)
	}
}

func TestGzipAndStyle(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(fleet.RoleAdmin)
	b.gzip = true
	code, body := b.get("/")
	if code != http.StatusOK || b.header.Get("Content-Encoding") != "gzip" || strings.Contains(body, "<html") {
		t.Errorf("dashboard with Accept-Encoding: gzip = %d, %q", code, b.header.Get("Content-Encoding"))
	}
	b.gzip = false
	code, body = b.get("/")
	m := regexpCSS.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("no stylesheet link in:\n%s", body)
	}
	code, css := b.get(m[1])
	if code != http.StatusOK || !strings.HasPrefix(b.header.Get("Content-Type"), "text/css") || !strings.Contains(b.header.Get("Cache-Control"), "immutable") || !strings.Contains(css, "@media") {
		t.Errorf("stylesheet = %d %v", code, b.header)
	}
	if len(css) > 8<<10 {
		t.Errorf("stylesheet is %d bytes; keep it small for weak 4G", len(css))
	}
	// The stylesheet is public: the sign-in page needs it.
	if code, _ := e.browser().get(m[1]); code != http.StatusOK {
		t.Errorf("stylesheet signed out = %d", code)
	}
}

// principal returns the fleet principal of a role's user.
func (e *env) principal(role fleet.Role) fleet.Principal {
	u := e.users[role]
	return fleet.Principal{ID: u.ID, Name: u.Name, Role: u.Role}
}

func boolp(v bool) *bool { return &v }

func int64p(v int64) *int64 { return &v }

func TestLogisticsOverride(t *testing.T) {
	k := newKitEnv(t)
	if _, err := k.fleet.SetState(adminP, k.a.id, fleet.StateLost, "left on a train"); err != nil {
		t.Fatal(err)
	}
	b := k.signIn(fleet.RoleLogistics)
	csrf := b.csrf("/kits/" + k.kit.ID)
	form := url.Values{"csrf": {csrf}, "venue": {k.venue.ID}, "due": {"2026-11-20"}, "override": {"atelier demain"}}
	code, body := b.post("/kits/"+k.kit.ID+"/checkout", form)
	if code != http.StatusConflict || !strings.Contains(body, "même par dérogation") || !strings.Contains(body, "<li>VAL-0001 : perdue depuis le 12 nov. : left on a train</li>") {
		t.Fatalf("override of a lost device = %d:\n%s", code, body)
	}
	if _, err := k.fleet.SetState(adminP, k.a.id, fleet.StateNeedsWipe, "found"); err != nil {
		t.Fatal(err)
	}
	if code, body := b.post("/kits/"+k.kit.ID+"/checkout", form); code != http.StatusSeeOther {
		t.Fatalf("override of a device that needs a wipe = %d:\n%s", code, body)
	}
	code, body = b.get("/kits/" + k.kit.ID)
	if code != http.StatusOK || !strings.Contains(body, "Dérogation</dt><dd class=\"warn\">atelier demain") {
		t.Errorf("kit page after an override = %d:\n%s", code, body)
	}
}

func TestLoginPageWhenSignedIn(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(fleet.RoleTechnician)
	code, _ := b.get("/login?next=%2Fdevices")
	if loc := b.header.Get("Location"); code != http.StatusSeeOther || loc != "/devices" {
		t.Errorf("sign-in page when signed in = %d to %q, want 303 to /devices", code, loc)
	}
}

func TestManyVenuesAskForAName(t *testing.T) {
	k := newKitEnv(t)
	for i := range 200 {
		if _, err := k.fleet.CreateVenue(adminP, fleet.Venue{Name: fmt.Sprintf("Mairie %03d", i), Kind: fleet.VenueMairie, Commune: "Baugé-en-Anjou"}); err != nil {
			t.Fatal(err)
		}
	}
	b := k.signIn(fleet.RoleMediateur)
	code, body := b.get("/kits/" + k.kit.ID)
	if code != http.StatusOK || strings.Contains(body, "Mairie 007") || !strings.Contains(body, `<input type="text" id="venue" name="venue" value="France Services Baugé"`) {
		t.Fatalf("kit page with 201 venues = %d, %d bytes:\n%s", code, len(body), body)
	}
	csrf := csrfField.FindStringSubmatch(body)[1]
	code, _ = b.post("/kits/"+k.kit.ID+"/checkout", url.Values{"csrf": {csrf}, "venue": {"mairie 007"}, "due": {"2026-11-20"}})
	if code != http.StatusSeeOther {
		t.Fatalf("checkout to a venue by name = %d", code)
	}
	loans, err := k.fleet.Loans(adminP, fleet.LoanFilter{Open: true})
	if err != nil || len(loans) != 1 || loans[0].VenueName != "Mairie 007" {
		t.Fatalf("loans: %v %+v", err, loans)
	}
}
