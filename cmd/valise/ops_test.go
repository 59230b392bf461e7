package main

// The commands of daily operations against the real server: golden
// outputs of users, venues, kits, loans and the audit log, and the usage
// errors that never reach a server.

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
)

func TestOpsUsageErrors(t *testing.T) {
	// Nothing listens there: a command that reached the server would fail
	// with exit code 1, not 2.
	server := closedURL(t)
	checkout := []string{"loans", "checkout", "Kit 07", "--venue", "Mairie"}
	tests := []struct {
		name string
		args []string
		want string // first line of stderr
		help string // command whose help the second line suggests
	}{
		{"user without name", []string{"users", "add", "--role", "mediateur"}, `valise: --name is required: the person's name, e.g. --name "Awa Diallo"`, "valise users add"},
		{"user without role", []string{"users", "add", "--name", "Awa Diallo"}, "valise: --role is required: mediateur, logistics, technician, admin", "valise users add"},
		{"user with a bad role", []string{"users", "add", "--name", "Awa Diallo", "--role", "boss"}, `valise: --role "boss" is not a role: use mediateur, logistics, technician, admin`, "valise users add"},
		{"disable nobody", []string{"users", "disable"}, "valise: missing argument USER", "valise users disable"},
		{"venue without kind", []string{"venues", "add", "--name", "Mairie", "--commune", "Riom"}, "valise: --kind is required: france_services, mairie, mediatheque, epn, association, other", "valise venues add"},
		{"venue of a bad kind", []string{"venues", "add", "--name", "Mairie", "--kind", "bar", "--commune", "Riom"}, `valise: --kind "bar" is not a kind of venue: use france_services, mairie, mediatheque, epn, association, other`, "valise venues add"},
		{"venue without commune", []string{"venues", "add", "--name", "Mairie", "--kind", "mairie"}, `valise: --commune is required: the commune it is in, e.g. --commune "Baugé-en-Anjou"`, "valise venues add"},
		{"venue with a bad INSEE code", []string{"venues", "add", "--name", "Mairie", "--kind", "mairie", "--commune", "Riom", "--insee", "6319"}, `valise: --insee "6319" is not an INSEE code: 5 digits (49018), or 2A/2B and 3 digits in Corsica`, "valise venues add"},
		{"venue with a latitude alone", []string{"venues", "add", "--name", "Mairie", "--kind", "mairie", "--commune", "Riom", "--lat", "45.9"}, "valise: --lat and --lon go together: give both or neither", "valise venues add"},
		{"venue off the globe", []string{"venues", "add", "--name", "Mairie", "--kind", "mairie", "--commune", "Riom", "--lat", "95", "--lon", "3.1"}, "valise: --lat 95 is not a latitude: give degrees between -90 and 90", "valise venues add"},
		{"show no venue", []string{"venues", "show"}, "valise: missing argument VENUE", "valise venues show"},
		{"kit without label", []string{"kits", "create"}, `valise: --label is required: the kit's label, e.g. --label "Kit 07"`, "valise kits create"},
		{"kit with an empty accessory", []string{"kits", "create", "--label", "Kit 07", "--accessory", " "}, "valise: --accessory is empty: give a value", "valise kits create"},
		{"add to no kit", []string{"kits", "add"}, "valise: missing argument KIT", "valise kits add"},
		{"add nothing", []string{"kits", "add", "Kit 07"}, "valise: missing argument ID|TAG", "valise kits add"},
		{"remove nothing", []string{"kits", "remove", "Kit 07"}, "valise: missing argument ID|TAG", "valise kits remove"},
		{"show no kit", []string{"kits", "show"}, "valise: missing argument KIT", "valise kits show"},
		{"restock no kit", []string{"kits", "restock"}, "valise: missing argument KIT", "valise kits restock"},
		{"checkout no kit", []string{"loans", "checkout", "--venue", "Mairie", "--due", "2026-12-05"}, "valise: missing argument KIT", "valise loans checkout"},
		{"checkout without venue", []string{"loans", "checkout", "Kit 07", "--due", "2026-12-05"}, "valise: --venue is required: the venue where the kit goes", "valise loans checkout"},
		{"checkout without due date", checkout, "valise: --due is required: the date the kit comes back, e.g. --due 2026-12-07", "valise loans checkout"},
		{"checkout due in the past", append(checkout, "--due", "2026-11-22"), "valise: --due 2026-11-22 is in the past: give the date the kit comes back", "valise loans checkout"},
		{"checkout due earlier today", append(checkout, "--due", "2026-11-23T09:00:00Z"), "valise: --due 2026-11-23T09:00:00Z is in the past: give the date the kit comes back", "valise loans checkout"},
		{"checkout due on no date", append(checkout, "--due", "05/12/2026"), `valise: --due "05/12/2026": give a date (2026-12-05) or a time (2026-12-05T17:00:00+01:00)`, "valise loans checkout"},
		{"override without reason", append(checkout, "--due", "2026-12-05", "--override", " "), "valise: --override needs a reason: say why the kit may go out anyway", "valise loans checkout"},
		{"checkin no kit", []string{"loans", "checkin"}, "valise: missing argument KIT", "valise loans checkin"},
		{"damage without note", []string{"loans", "checkin", "Kit 07", "--damaged", "VAL-0001"}, "valise: --damaged and --note go in pairs: 1 --damaged, 0 --note", "valise loans checkin"},
		{"notes without damage", []string{"loans", "checkin", "Kit 07", "--damaged", "VAL-0001", "--note", "écran fêlé", "--note", "clavier"}, "valise: --damaged and --note go in pairs: 1 --damaged, 2 --note", "valise loans checkin"},
		{"empty note", []string{"loans", "checkin", "Kit 07", "--damaged", "VAL-0001", "--note", ""}, "valise: --note for VAL-0001 is empty: say what is damaged", "valise loans checkin"},
		{"loans with a negative limit", []string{"loans", "list", "--limit", "-1"}, "valise: --limit -1 must not be negative", "valise loans list"},
		{"show no loan", []string{"loans", "show"}, "valise: missing argument LOAN", "valise loans show"},
		{"assign nothing", []string{"devices", "assign", "--venue", "Mairie"}, "valise: missing argument ID|TAG (or --kit KIT)", "valise devices assign"},
		{"assign devices and a kit", []string{"devices", "assign", "VAL-0001", "--kit", "Kit 07", "--venue", "Mairie"}, "valise: give devices or --kit, not both", "valise devices assign"},
		{"assign nowhere", []string{"devices", "assign", "VAL-0001"}, "valise: --venue is required: the venue the devices go to", "valise devices assign"},
		{"set no state", []string{"devices", "set-state", "VAL-0001"}, "valise: missing argument STATE", "valise devices set-state"},
		{"set a state by hand that a job sets", []string{"devices", "set-state", "VAL-0001", "ready", "--reason", "x"}, `valise: cannot set a device "ready" by hand: use maintenance, lost, retired, needs_wipe (the other states come from wipes, provisioning and loans)`, "valise devices set-state"},
		{"set a state without reason", []string{"devices", "set-state", "VAL-0001", "lost"}, `valise: --reason is required: say why, for the audit log, e.g. --reason "écran cassé"`, "valise devices set-state"},
		{"audit of a device and a kit", []string{"audit", "list", "--device", "VAL-0001", "--kit", "Kit 07"}, "valise: give --device or --kit, not both", "valise audit list"},
		{"audit with a negative limit", []string{"audit", "list", "--limit", "-5"}, "valise: --limit -5 must not be negative", "valise audit list"},
		{"verify takes no argument", []string{"audit", "verify", "now"}, `valise: unexpected argument "now"`, "valise audit verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, server, "tok", tt.args...)
			want := tt.want + "\nRun '" + tt.help + " --help' for usage.\n"
			if r.code != 2 || r.stderr != want {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2, stderr:\n%s", r.code, r.stderr, want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestOpsHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"users"}, {"venues", "add", "--help"}, {"kits"}, {"kits", "show", "--help"}, {"loans"},
		{"loans", "checkin", "--help"}, {"audit"}, {"devices", "set-state", "--help"}, {"devices", "assign", "--help"}} {
		r := runCLI(t, closedURL(t), "", args...)
		if r.code != 0 || r.stderr != "" || r.stdout == "" {
			t.Errorf("valise %s: exit %d, stderr %q, stdout %d bytes; want 0, nothing, some help",
				strings.Join(args, " "), r.code, r.stderr, len(r.stdout))
		}
	}
}

func TestUsers(t *testing.T) {
	s := newTestServer(t)
	out := ok(t, s, "users", "add", "--name", "Awa Diallo", "--role", "mediateur")
	golden(t, "users_add", strings.ReplaceAll(out, s.URL, "http://valise.test"))

	// The token printed once works, until the user is disabled.
	token := strings.TrimPrefix(strings.Split(out, "\n")[3], "  ")
	if !strings.HasPrefix(token, "vat_") || !strings.Contains(out, "export VALISE_TOKEN="+token+"\n") {
		t.Fatalf("users add printed no token to use:\n%s", out)
	}
	if r := runCLI(t, s.URL, token, "kits", "list"); r.code != 0 {
		t.Errorf("the new user's token: exit %d, %s", r.code, r.stderr)
	}
	u := decode[apitype.User](t, ok(t, s, "users", "add", "--name", "Jeanne Martin", "--role", "technician", "--json"))
	if u.ID == "" || u.Role != "technician" || !strings.HasPrefix(u.Token, "vat_") {
		t.Errorf("users add --json: %+v; want an id, the role and the token", u)
	}
	if out := ok(t, s, "users", "disable", "Awa Diallo"); !strings.HasPrefix(out, "Disabled Awa Diallo (mediateur, user ") {
		t.Errorf("disable printed %q", out)
	}
	if r := runCLI(t, s.URL, token, "kits", "list"); r.code != 1 || !strings.Contains(r.stderr, "(401)") {
		t.Errorf("a disabled user's token: exit %d, stderr %q; want refused", r.code, r.stderr)
	}
	users := decode[[]apitype.User](t, ok(t, s, "users", "list", "--json"))
	var names []string
	for _, u := range users {
		if u.Token != "" {
			t.Errorf("users list shows the token of %s", u.Name)
		}
		names = append(names, u.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "Awa Diallo,Jeanne Martin") {
		t.Errorf("users list: %v, want them by name", names)
	}
	if out := ok(t, s, "users", "list"); !strings.Contains(out, "disabled since 2026-11-23 14:30") {
		t.Errorf("users list does not show Awa disabled:\n%s", out)
	}
	if r := runCLI(t, s.URL, s.admin, "users", "disable", "Personne"); r.code != 1 || r.stderr != "valise: no user matches Personne\n" {
		t.Errorf("disable an unknown user: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestVenues(t *testing.T) {
	s := newTestServer(t)
	v := decode[apitype.Venue](t, ok(t, s, "venues", "add", "--name", "France Services Baugé", "--kind", "france_services",
		"--commune", "Baugé-en-Anjou", "--insee", "49018", "--lat", "47.5411", "--lon", "-0.1036", "--contact", "Claire, 02 41 89 00 00", "--json"))
	if v.ID == "" || v.Lat == nil || *v.Lon != -0.1036 {
		t.Fatalf("venues add --json: %+v", v)
	}
	if out := ok(t, s, "venues", "add", "--name", "Médiathèque de Riom", "--kind", "mediatheque", "--commune", "Riom"); !strings.HasPrefix(out, "Added venue Médiathèque de Riom, mediatheque in Riom (venue ") {
		t.Errorf("venues add printed %q", out)
	}
	ok(t, s, "venues", "add", "--name", "Mairie d'Ajaccio", "--kind", "mairie", "--commune", "Ajaccio", "--insee", "2a004")
	golden(t, "venues_list", ok(t, s, "venues", "list"))
	golden(t, "venues_show", ok(t, s, "venues", "show", "france services bauge"))
	if a, b := ok(t, s, "venues", "show", v.ID), ok(t, s, "venues", "show", "France Services Baugé"); a != b {
		t.Errorf("show by id and by name differ:\n%s\n%s", a, b)
	}
	r := runCLI(t, s.URL, s.admin, "venues", "add", "--name", "France  services baugé", "--kind", "epn", "--commune", "Baugé")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("a second venue of the same name: exit %d, stderr %q; want one line", r.code, r.stderr)
	}
	if r := runCLI(t, s.URL, s.admin, "venues", "show", "Nulle Part"); r.code != 1 || r.stderr != "valise: no venue matches Nulle Part\n" {
		t.Errorf("show an unknown venue: exit %d, stderr %q", r.code, r.stderr)
	}
}

// kitFleet enrols a T480, an EliteBook and a tablet and puts them in Kit
// 07: the T480 wiped, provisioned and ready, online; the EliteBook to wipe,
// silent for three days; the tablet never reported. The clock ends at
// testNow.
func kitFleet(t *testing.T, s *testServer) {
	t.Helper()
	day := 24 * time.Hour
	t480 := s.enroll(t, "laptop", "t480.inventory.json", testNow.Add(-20*day))
	elitebook := s.enroll(t, "laptop", "elitebook.inventory.json", testNow.Add(-19*day))
	s.enroll(t, "tablet", "tab.inventory.json", testNow.Add(-day))

	s.clock.Set(testNow.Add(-3 * time.Hour))
	s.wipeAndProvision(t, t480, "VAL-0001", "c-t480-1")
	s.clock.Set(testNow.Add(-2 * time.Minute))
	s.online(t, t480, 82)

	s.presence(t, elitebook, true, testNow.Add(-4*day))
	s.report(t, elitebook, wire.ChanInventory, fixture[wire.Inventory](t, "elitebook.inventory.json"), testNow.Add(-4*day))
	s.report(t, elitebook, wire.ChanHealth, fixture[wire.Health](t, "elitebook.health.json"), testNow.Add(-3*day-5*time.Hour))
	s.presence(t, elitebook, false, testNow.Add(-3*day-5*time.Hour))

	s.clock.Set(testNow.Add(-time.Hour))
	s.okAs(t, s.admin, "devices", "set-state", "VAL-0002", "needs_wipe", "--reason", "retour de l'atelier")
	s.okAs(t, s.admin, "venues", "add", "--name", "France Services Baugé", "--kind", "france_services", "--commune", "Baugé-en-Anjou")
	s.okAs(t, s.admin, "kits", "create", "--label", "Kit 07", "--home", "France Services Baugé", "--accessory", "chargeur x2", "--accessory", "sacoche")
	s.okAs(t, s.admin, "kits", "add", "Kit 07", "VAL-0001", "VAL-0002", "VAL-0003")
	s.clock.Set(testNow)
}

func TestKitsShow(t *testing.T) {
	s := newTestServer(t)
	kitFleet(t, s)
	golden(t, "kits_show", ok(t, s, "kits", "show", "Kit 07"))
	golden(t, "kits_list", ok(t, s, "kits", "list"))

	k := decode[apitype.Kit](t, ok(t, s, "kits", "show", "kit 07", "--json"))
	if diff := cmp.Diff(apiJSON(t, s, "/api/v1/kits/"+k.ID), decodeAny(t, ok(t, s, "kits", "show", k.ID, "--json"))); diff != "" {
		t.Errorf("kits show --json differs from the API (-api +cli):\n%s", diff)
	}
	if r := runCLI(t, s.URL, s.admin, "kits", "show", "Kit 99"); r.code != 1 || r.stderr != "valise: no kit matches Kit 99\n" {
		t.Errorf("show an unknown kit: exit %d, stderr %q", r.code, r.stderr)
	}

	// The checkout is refused, one line per device that is not ready.
	r := runCLI(t, s.URL, s.admin, "loans", "checkout", "Kit 07", "--venue", "France Services Baugé", "--due", "2026-12-05")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("refused checkout: exit %d, stdout %q; want 1 and nothing", r.code, r.stdout)
	}
	golden(t, "loans_checkout_refused", r.stderr)

	// Out of the kit, the tablet and the EliteBook go to their venue.
	out := ok(t, s, "kits", "remove", "Kit 07", "VAL-0003", "VAL-0002")
	if want := "Removed VAL-0003, VAL-0002 from Kit 07: it holds 1 device (VAL-0001).\n"; out != want {
		t.Errorf("kits remove printed %q, want %q", out, want)
	}
	out = ok(t, s, "devices", "assign", "VAL-0002", "VAL-0003", "--venue", "France Services Baugé")
	if want := "Assigned 2 devices to France Services Baugé: VAL-0002, VAL-0003.\n"; out != want {
		t.Errorf("devices assign printed %q, want %q", out, want)
	}
	out = ok(t, s, "devices", "set-state", "VAL-0002", "lost", "--reason", "oublié dans le train")
	if want := "VAL-0002 is now lost.\n"; out != want {
		t.Errorf("set-state printed %q, want %q", out, want)
	}
	r = runCLI(t, s.URL, s.admin, "devices", "set-state", "VAL-0002", "retired", "--reason", "réformé")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "valise: ") {
		t.Errorf("retire a lost device: exit %d, stderr %q; want one line refusing it", r.code, r.stderr)
	}
}

func TestCompletionOfOps(t *testing.T) {
	s := newTestServer(t)
	seedFleet(t, s)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"roles", []string{"users", "add", "--role"}, "mediateur\nlogistics\ntechnician\nadmin\n"},
		{"venue kinds", []string{"venues", "add", "--kind"}, strings.Join(venueKinds, "\n") + "\n"},
		{"devices to put in a kit", []string{"kits", "add", "K7", "VAL-0002"}, "VAL-0001\nVAL-0003\nVAL-0004\n"},
		{"devices to assign", []string{"devices", "assign"}, "VAL-0001\nVAL-0002\nVAL-0003\nVAL-0004\n"},
		{"device of set-state", []string{"devices", "set-state"}, "VAL-0001\nVAL-0002\nVAL-0003\nVAL-0004\n"},
		{"then its state", []string{"devices", "set-state", "VAL-0001"}, "maintenance\nlost\nretired\nneeds_wipe\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, s.URL, s.admin, append(tt.args, "--generate-bash-completion")...)
			if r.code != 0 || r.stdout != tt.want {
				t.Errorf("exit %d, completions %q; want 0, %q (stderr %q)", r.code, r.stdout, tt.want, r.stderr)
			}
		})
	}
}

// loanHistory lends Kit 01 (the T480) twice: to Awa from 12 to 8 days ago,
// back without its bag; then, by override before its wipe, to Karim,
// due 2 days ago and still out. The clock ends at testNow.
func loanHistory(t *testing.T, s *testServer) {
	t.Helper()
	day := 24 * time.Hour
	t480 := s.enroll(t, "laptop", "t480.inventory.json", testNow.Add(-20*day))
	s.clock.Set(testNow.Add(-13 * day))
	s.wipeAndProvision(t, t480, "VAL-0001", "c-t480-1")
	s.clock.Set(testNow.Add(-12 * day))
	s.online(t, t480, 88)
	s.okAs(t, s.admin, "venues", "add", "--name", "Médiathèque de Riom", "--kind", "mediatheque", "--commune", "Riom", "--insee", "63300")
	s.okAs(t, s.admin, "venues", "add", "--name", "Mairie de Volvic", "--kind", "mairie", "--commune", "Volvic")
	s.okAs(t, s.admin, "users", "add", "--name", "Awa Diallo", "--role", "mediateur")
	s.okAs(t, s.admin, "users", "add", "--name", "Karim Benali", "--role", "mediateur")
	s.okAs(t, s.admin, "kits", "create", "--label", "Kit 01", "--accessory", "chargeur", "--accessory", "sacoche")
	s.okAs(t, s.admin, "kits", "add", "Kit 01", "VAL-0001")
	s.okAs(t, s.admin, "loans", "checkout", "Kit 01", "--to", "Awa Diallo", "--venue", "Médiathèque de Riom", "--due", s.clock.Now().Add(5*day).Format(dateLayout))

	s.clock.Set(testNow.Add(-8 * day))
	s.okAs(t, s.admin, "loans", "checkin", "Kit 01", "--missing", "sacoche")

	s.clock.Set(testNow.Add(-7 * day))
	s.online(t, t480, 35)
	out := s.okAs(t, s.admin, "loans", "checkout", "Kit 01", "--to", "Karim Benali", "--venue", "Mairie de Volvic",
		"--due", s.clock.Now().Add(5*day).Format(dateLayout), "--override", "permanence exceptionnelle, pas le temps d'effacer")
	golden(t, "loans_checkout_override", out)
	s.clock.Set(testNow)
}

func TestLoansList(t *testing.T) {
	s := newTestServer(t)
	loanHistory(t, s)
	golden(t, "loans_list", ok(t, s, "loans", "list"))

	loans := decode[[]apitype.Loan](t, ok(t, s, "loans", "list", "--overdue", "--json"))
	if len(loans) != 1 || !loans[0].Overdue || loans[0].BorrowerName != "Karim Benali" {
		t.Fatalf("loans list --overdue: %+v; want Karim's loan", loans)
	}
	golden(t, "loans_show", ok(t, s, "loans", "show", loans[0].ID))
	for _, tt := range []struct {
		name    string
		filter  []string
		borrows string
	}{
		{"open", []string{"--open"}, "Karim Benali"},
		{"by user", []string{"--user", "awa diallo"}, "Awa Diallo"},
		{"by venue", []string{"--venue", "Médiathèque de Riom"}, "Awa Diallo"},
		{"by kit", []string{"--kit", "Kit 01", "--limit", "1"}, "Karim Benali"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			loans := decode[[]apitype.Loan](t, ok(t, s, append([]string{"loans", "list", "--json"}, tt.filter...)...))
			if len(loans) != 1 || loans[0].BorrowerName != tt.borrows {
				t.Errorf("loans list %v: %+v; want the loan of %s", tt.filter, loans, tt.borrows)
			}
		})
	}
	if out := ok(t, s, "loans", "list", "--user", "Karim Benali", "--venue", "Médiathèque de Riom"); out != "No loan matches these filters.\n" {
		t.Errorf("no match printed %q", out)
	}
	if r := runCLI(t, s.URL, s.admin, "loans", "show", "l-nope"); r.code != 1 || r.stderr != "valise: no loan matches l-nope\n" {
		t.Errorf("show an unknown loan: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestAuditList(t *testing.T) {
	s := newTestServer(t)
	loanHistory(t, s)
	golden(t, "audit_list_kit", ok(t, s, "audit", "list", "--kit", "Kit 01"))
	golden(t, "audit_list", ok(t, s, "audit", "list", "--limit", "8"))

	evs := decode[[]apitype.Event](t, ok(t, s, "audit", "list", "--device", "VAL-0001", "--limit", "3", "--json"))
	if len(evs) != 3 || evs[0].Seq >= evs[2].Seq {
		t.Errorf("audit list --device --limit 3: %+v; want the 3 latest, oldest first", evs)
	}
	if out := ok(t, s, "audit", "verify"); !strings.HasPrefix(out, "The audit log is intact: ") {
		t.Errorf("audit verify printed %q", out)
	}
	v := decode[apitype.AuditVerify](t, ok(t, s, "audit", "verify", "--json"))
	if !v.OK || v.Events == 0 || v.Head == "" {
		t.Errorf("audit verify --json: %+v", v)
	}
}

func TestCheckinFindings(t *testing.T) {
	s := newTestServer(t)
	kitFleet(t, s)
	awa := decode[apitype.User](t, ok(t, s, "users", "add", "--name", "Awa Diallo", "--role", "mediateur", "--json"))
	ok(t, s, "users", "add", "--name", "Karim Benali", "--role", "mediateur")

	// A médiateur may neither override the wipe gate nor borrow for
	// someone else; nothing changes.
	due := testNow.Add(3 * 24 * time.Hour).Format(dateLayout)
	for _, args := range [][]string{
		{"loans", "checkout", "Kit 07", "--venue", "France Services Baugé", "--due", due, "--override", "urgence"},
		{"loans", "checkout", "Kit 07", "--to", "Karim Benali", "--venue", "France Services Baugé", "--due", due},
		{"users", "add", "--name", "Moi", "--role", "admin"},
	} {
		r := runCLI(t, s.URL, awa.Token, args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "valise: not allowed with this token (403): ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("médiateur: valise %s: exit %d, stderr %q; want a 403 on one line", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if k := decode[apitype.Kit](t, ok(t, s, "kits", "show", "Kit 07", "--json")); k.Loan != nil {
		t.Fatalf("a refused checkout lent the kit: %+v", k.Loan)
	}

	// Logistics lets the kit out as it is; it comes back short.
	out := ok(t, s, "loans", "checkout", "Kit 07", "--to", "Awa Diallo", "--venue", "France Services Baugé", "--due", due,
		"--override", "remplacement au pied levé")
	if !strings.Contains(out, "Let out with devices not ready: remplacement au pied levé\n") {
		t.Errorf("override checkout printed:\n%s", out)
	}
	s.clock.Set(testNow.Add(24 * time.Hour))
	out = s.okAs(t, awa.Token, "loans", "checkin", "Kit 07", "--missing", "chargeur x2", "--missing", "VAL-0003",
		"--damaged", "VAL-0002", "--note", "écran fêlé, charnière cassée")
	golden(t, "loans_checkin", out)
	for tag, want := range map[string]string{"VAL-0001": "needs_wipe", "VAL-0002": "maintenance", "VAL-0003": "on_loan"} {
		if st := s.deviceState(t, tag); st != want {
			t.Errorf("%s is %s after the check-in, want %s", tag, st, want)
		}
	}
	// The charger turns up; the kit goes to another venue for good.
	if out := ok(t, s, "kits", "restock", "Kit 07", "chargeur x2"); out != "Kit 07 is complete again: chargeur x2, sacoche.\n" {
		t.Errorf("restock printed %q", out)
	}
	if r := runCLI(t, s.URL, s.admin, "kits", "restock", "Kit 07", "parapluie"); r.code != 1 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("restock of an item not on the checklist: exit %d, stderr %q; want one line", r.code, r.stderr)
	}
	ok(t, s, "venues", "add", "--name", "Mairie de Durtal", "--kind", "mairie", "--commune", "Durtal")
	devs := decode[[]apitype.Device](t, ok(t, s, "devices", "assign", "--kit", "Kit 07", "--venue", "Mairie de Durtal", "--json"))
	if len(devs) != 3 || devs[0].VenueName != "Mairie de Durtal" {
		t.Errorf("assign --kit --json: %+v; want the kit's 3 devices at Mairie de Durtal", devs)
	}
	if k := decode[apitype.Kit](t, ok(t, s, "kits", "show", "Kit 07", "--json")); k.HomeName != "Mairie de Durtal" {
		t.Errorf("the kit's home is %q after assign --kit, want Mairie de Durtal", k.HomeName)
	}

	// The missing tablet is declared lost later.
	if out := s.okAs(t, s.admin, "devices", "set-state", "VAL-0003", "lost", "--reason", "pas retrouvée à Baugé"); out != "VAL-0003 is now lost.\n" {
		t.Errorf("set-state printed %q", out)
	}
}

func TestAuditVerifyBroken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/audit/verify" {
			http.NotFound(w, r)
			return
		}
		answer(w, http.StatusOK, apitype.AuditVerify{Events: 6, Error: "event 7 was altered: its content does not match its hash"})
	}))
	t.Cleanup(srv.Close)
	want := "valise: the audit log is broken: event 7 was altered: its content does not match its hash\n"
	for _, args := range [][]string{{"audit", "verify"}, {"audit", "verify", "--json"}} {
		r := runCLI(t, srv.URL, "tok", args...)
		if r.code != 1 || r.stderr != want {
			t.Errorf("valise %s: exit %d, stderr %q; want 1, %q", strings.Join(args, " "), r.code, r.stderr, want)
		}
		if json := slices.Contains(args, "--json"); json != strings.Contains(r.stdout, `"ok": false`) || !json && r.stdout != "" {
			t.Errorf("valise %s printed %q", strings.Join(args, " "), r.stdout)
		}
	}
}
