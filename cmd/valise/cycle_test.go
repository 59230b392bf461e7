package main

// The loan cycle against the real server, through the CLI: the test plays
// the agent of a simulated laptop through its wipes and provisionings, as
// in wipe_server_test.go, while people check its kit out and in.

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// cli runs the CLI with token against s, its clock at the server's, so
// that what it checks (a due date in the past) and prints (ages) agrees
// with what the server sees.
func (s *testServer) cli(t *testing.T, token string, args ...string) result {
	t.Helper()
	t.Setenv(envServer, s.URL)
	t.Setenv(envToken, token)
	now := s.clock.Now()
	var stdout, stderr bytes.Buffer
	e := &env{
		stdin:     strings.NewReader(""),
		stdout:    &stdout,
		stderr:    &stderr,
		now:       func() time.Time { return now },
		loc:       time.UTC,
		pollEvery: time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	code := e.run(ctx, append([]string{"valise"}, args...))
	return result{stdout.String(), stderr.String(), code}
}

// okAs is s.cli that fails the test unless the command exits 0 without a
// word on stderr.
func (s *testServer) okAs(t *testing.T, token string, args ...string) string {
	t.Helper()
	r := s.cli(t, token, args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("valise %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// decode reads the JSON a command printed.
func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not the JSON of a %T: %v\n%s", v, err, out)
	}
	return v
}

// commands counts the commands the API published to device so far.
func (s *testServer) commands(device string) int {
	topic := wire.Topics{}.Device(device, wire.ChanCmd)
	n := 0
	for _, m := range s.pub.sent() {
		if m.topic == topic {
			n++
		}
	}
	return n
}

// wipeAndProvision runs valise wipe --wait and valise provision --wait on
// the T480 enrolled as id (asset tag tag), from the server's clock on,
// playing its agent: the wipe succeeds with certificate certID 20 minutes
// later, and the laptop re-enrols as itself 10 minutes after that. It
// ends ready.
func (s *testServer) wipeAndProvision(t *testing.T, id, tag, certID string) {
	t.Helper()
	start := s.clock.Now()
	n := s.commands(id)
	done := runAsync(t, s, "wipe", "--yes", "--wait", "--method", "overwrite", tag)
	cmd := s.command(t, id, n+1)
	var args wire.WipeArgs
	if cmd.Type != wire.CmdWipe || json.Unmarshal(cmd.Args, &args) != nil {
		t.Fatalf("command %s %s, want a wipe", cmd.Type, cmd.Args)
	}
	certAt := start.Add(20 * time.Minute)
	file, err := certificate.Sign(t480Certificate(id, args, certID, certAt), deviceKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := file.Marshal()
	s.event(t, id, wire.EventWipeResult, cmd.ID, wire.WipeResult{Job: args.Job, OK: true, Certificate: raw}, certAt)
	if r := await(t, done); r.code != 0 {
		t.Fatalf("wipe --wait of %s: exit %d, stderr %q; fleet errors: %v", tag, r.code, r.stderr, s.eventErrs)
	}

	done = runAsync(t, s, "provision", tag, "--profile", "laptop-linux", "--wait")
	cmd = s.command(t, id, n+2)
	var pargs wire.ProvisionArgs
	var bundle struct{ Token, Job string }
	if cmd.Type != wire.CmdProvision || json.Unmarshal(cmd.Args, &pargs) != nil || json.Unmarshal(pargs.Bundle, &bundle) != nil {
		t.Fatalf("command %s %s, want a provision with a bundle", cmd.Type, cmd.Args)
	}
	inv := fixture[wire.Inventory](t, "t480.inventory.json")
	s.clock.Set(certAt.Add(10 * time.Minute))
	if got := s.enrollWith(t, wire.EnrollRequest{Token: bundle.Token, ProvisionJob: bundle.Job, Fingerprint: wire.FingerprintOf(inv),
		Inventory: *inv, AgentVersion: "test"}); got != id {
		t.Fatalf("re-enrolled as %s, want %s", got, id)
	}
	if r := await(t, done); r.code != 0 {
		t.Fatalf("provision --wait of %s: exit %d, stderr %q", tag, r.code, r.stderr)
	}
	if st := s.deviceState(t, tag); st != "ready" {
		t.Fatalf("%s is %s after its wipe and provisioning, want ready", tag, st)
	}
}

// deviceState asks the CLI for a device's state.
func (s *testServer) deviceState(t *testing.T, tag string) string {
	t.Helper()
	return decode[apitype.DeviceDetail](t, s.okAs(t, s.admin, "devices", "show", tag, "--json")).State
}

// online makes the T480 id connect and report its health at the server's
// clock, charged at charge %.
func (s *testServer) online(t *testing.T, id string, charge float64) {
	t.Helper()
	at := s.clock.Now()
	s.presence(t, id, true, at)
	h := fixture[wire.Health](t, "t480.health.json")
	h.Batteries[0].ChargePercent = &charge
	s.report(t, id, wire.ChanHealth, h, at)
}

func TestLoanCycleOnTheServer(t *testing.T) {
	s := newTestServer(t)
	day := 24 * time.Hour
	id := s.enroll(t, "laptop", "t480.inventory.json", testNow.Add(-3*day))

	// Enrolled, wiped, provisioned: ready.
	s.clock.Set(testNow.Add(-2 * time.Hour))
	s.wipeAndProvision(t, id, "VAL-0001", "c-t480-1")
	s.clock.Set(testNow)
	s.online(t, id, 90)

	// Logistics sets up a venue, a médiateur and a kit.
	s.okAs(t, s.admin, "venues", "add", "--name", "France Services Baugé", "--kind", "france_services", "--commune", "Baugé-en-Anjou", "--insee", "49018")
	awa := decode[apitype.User](t, s.okAs(t, s.admin, "users", "add", "--name", "Awa Diallo", "--role", "mediateur", "--json"))
	if awa.ID == "" || awa.Token == "" {
		t.Fatalf("users add --json gave no id or token: %+v", awa)
	}
	kit := decode[apitype.Kit](t, s.okAs(t, s.admin, "kits", "create", "--label", "Kit 07", "--accessory", "chargeur USB-C, 65 W", "--accessory", "sacoche", "--json"))
	if kit.ID == "" || len(kit.Accessories) != 2 || kit.Accessories[0] != "chargeur USB-C, 65 W" {
		t.Fatalf("kits create --json: %+v; want an id and the two accessories, the first with its comma", kit)
	}
	s.okAs(t, s.admin, "kits", "add", "Kit 07", "VAL-0001")
	if k := decode[apitype.Kit](t, s.okAs(t, s.admin, "kits", "show", "Kit 07", "--json")); k.State != apitype.KitAvailable || len(k.Devices) != 1 || !k.Devices[0].Ready {
		t.Fatalf("kit before the first loan: %+v; want available with VAL-0001 ready", k)
	}

	// Awa checks the kit out for herself: no --to.
	due := testNow.Add(7 * day).Format(dateLayout)
	out := s.okAs(t, awa.Token, "loans", "checkout", "Kit 07", "--venue", "France Services Baugé", "--due", due)
	if want := ": Kit 07 is out to Awa Diallo at France Services Baugé, due " + due + " 23:59 (in 7 d).\n"; !strings.HasPrefix(out, "Loan l") || !strings.Contains(out, want) {
		t.Errorf("checkout printed:\n%s\nwant the loan and %q", out, want)
	}
	if st := s.deviceState(t, "VAL-0001"); st != "on_loan" {
		t.Errorf("VAL-0001 is %s after the checkout, want on_loan", st)
	}
	// A second checkout of the kit says who has it.
	r := s.cli(t, s.admin, "loans", "checkout", "Kit 07", "--to", "Awa Diallo", "--venue", "France Services Baugé", "--due", due)
	if r.code != 1 || !strings.Contains(r.stderr, "already out since") || !strings.Contains(r.stderr, "Awa Diallo") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("checkout of a kit out: exit %d, stderr %q; want 1 and one line saying since when and to whom", r.code, r.stderr)
	}

	// Two days later she brings it back without its bag.
	s.clock.Set(testNow.Add(2 * day))
	s.online(t, id, 40)
	out = s.okAs(t, awa.Token, "loans", "checkin", "Kit 07", "--missing", "sacoche")
	for _, want := range []string{"Kit 07 is back from Awa Diallo at France Services Baugé", "To wipe before the next loan: VAL-0001 (valise wipe VAL-0001).", "Missing accessories: sacoche"} {
		if !strings.Contains(out, want) {
			t.Errorf("checkin printed:\n%s\nwant %q in it", out, want)
		}
	}
	if st := s.deviceState(t, "VAL-0001"); st != "needs_wipe" {
		t.Errorf("VAL-0001 is %s after the check-in, want needs_wipe", st)
	}

	// The wipe gate: it cannot go out again before a wipe.
	s.okAs(t, s.admin, "kits", "restock", "Kit 07")
	r = s.cli(t, awa.Token, "loans", "checkout", "Kit 07", "--venue", "France Services Baugé", "--due", testNow.Add(9*day).Format(dateLayout))
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.code != 1 || r.stdout != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "valise: Kit 07 cannot go out") ||
		!strings.HasPrefix(lines[1], "  VAL-0001: ") || !strings.Contains(lines[1], "needs_wipe") {
		t.Fatalf("checkout before a wipe: exit %d, stdout %q, stderr:\n%s\nwant 1, the refusal and a line naming VAL-0001 and why", r.code, r.stdout, r.stderr)
	}

	// Wiped and provisioned again, it goes out.
	s.wipeAndProvision(t, id, "VAL-0001", "c-t480-2")
	s.online(t, id, 95)
	loan := decode[apitype.Loan](t, s.okAs(t, awa.Token, "loans", "checkout", "Kit 07", "--venue", "France Services Baugé",
		"--due", testNow.Add(9*day).Format(dateLayout), "--json"))
	if loan.ID == "" || loan.BorrowerName != "Awa Diallo" || len(loan.Devices) != 1 || loan.Devices[0] != "VAL-0001" {
		t.Errorf("second checkout --json: %+v", loan)
	}
	loans := decode[[]apitype.Loan](t, s.okAs(t, s.admin, "loans", "list", "--kit", "Kit 07", "--json"))
	if len(loans) != 2 || loans[0].ID != loan.ID || loans[1].ReturnedAt == nil || len(loans[1].MissingAccessories) != 1 {
		t.Errorf("loans of Kit 07: %+v; want the open one, then the returned one with its missing bag", loans)
	}

	// Every step is in the audit log, whose chain holds.
	if out := s.okAs(t, s.admin, "audit", "verify"); !strings.HasPrefix(out, "The audit log is intact: ") {
		t.Errorf("audit verify printed %q", out)
	}
	evs := decode[[]apitype.Event](t, s.okAs(t, s.admin, "audit", "list", "--kit", "Kit 07", "--json"))
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	if got := strings.Join(actions, " "); !strings.Contains(got, "checkout") || !strings.Contains(got, "checkin") {
		t.Errorf("audit list --kit: actions %q, want its checkouts and check-in", got)
	}
	if len(s.eventErrs) > 0 {
		t.Errorf("the fleet refused events: %v", s.eventErrs)
	}
}
