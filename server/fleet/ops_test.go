package fleet_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

var (
	admin     = fleet.Principal{ID: "u-admin", Name: "admin", Role: fleet.RoleAdmin}
	logistics = fleet.Principal{ID: "u-logistics", Name: "Léa Logistique", Role: fleet.RoleLogistics}
)

// opsEnv is a fleet with a server key and the store's telemetry, a venue,
// a médiateur and a kit of two ready laptops.
type opsEnv struct {
	*env
	seq   map[string]uint64
	awa   fleet.Principal
	venue fleet.Venue
	kit   fleet.Kit
	a, b  *agent
}

func newOpsEnv(t *testing.T) *opsEnv {
	t.Helper()
	e, key := newWipeEnv(t)
	f, err := fleet.New(fleet.Config{Store: e.st, Dedupe: e.st, Now: e.clock.Now, ServerKey: key, Telemetry: e.st, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	e.fleet = f
	o := &opsEnv{env: e, seq: map[string]uint64{}}
	u, _, err := f.CreateUser(admin, "Awa Diallo", fleet.RoleMediateur)
	if err != nil {
		t.Fatal(err)
	}
	o.awa = fleet.Principal{ID: u.ID, Name: u.Name, Role: u.Role}
	o.venue, err = f.CreateVenue(logistics, fleet.Venue{Name: "France Services Baugé", Kind: fleet.VenueFranceServices, Commune: "Baugé-en-Anjou", INSEE: "49018"})
	if err != nil {
		t.Fatal(err)
	}
	o.a, o.b = newAgent(t, "0a01", "S4EVNF0M1"), newAgent(t, "0a02", "S4EVNF0M2")
	o.ready(t, o.a)
	o.ready(t, o.b)
	if o.kit, err = f.CreateKit(logistics, "Kit 07", o.venue.Name, []string{"chargeur x2", "sacoche"}); err != nil {
		t.Fatal(err)
	}
	if o.kit, err = f.AddToKit(logistics, "kit 07", []string{o.a.id, "val-0002"}); err != nil {
		t.Fatal(err)
	}
	return o
}

// ready takes a through a wipe and provisioning to ready.
func (o *opsEnv) ready(t *testing.T, a *agent) {
	t.Helper()
	o.wiped(t, a)
	forceState(t, o.st, a.id, fleet.StateProvisioning)
	if _, err := o.fleet.SetState(admin, a.id, fleet.StateReady, "provisioned"); err != nil {
		t.Fatal(err)
	}
}

// report stores a report of a's agent as ingest would, received now.
func (o *opsEnv) report(t *testing.T, a *agent, kind wire.Channel, body any, figures ...store.Figure) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	o.seq[a.id]++
	now := o.clock.Now()
	r := store.Report{Device: a.id, Seq: o.seq[a.id], Kind: kind, At: now, Received: now, Body: b, Figures: figures}
	if _, err := o.st.CommitReports([]store.Report{r}, nil); err != nil {
		t.Fatal(err)
	}
}

func (o *opsEnv) checkout(t *testing.T, by fleet.Principal, override string) (fleet.Loan, error) {
	t.Helper()
	return o.fleet.Checkout(by, fleet.CheckoutRequest{
		Kit: "Kit 07", Venue: "france services bauge", Due: o.clock.Now().Add(7 * 24 * time.Hour), Override: override,
	})
}

func TestLoanCycle(t *testing.T) {
	o := newOpsEnv(t)
	st, err := o.fleet.KitStatus("KIT 07")
	if err != nil || st.State != fleet.KitAvailable {
		t.Fatalf("kit status: %v, %+v", err, st)
	}
	if st.HomeName != "France Services Baugé" || len(st.Devices) != 2 || !st.Devices[0].Ready {
		t.Fatalf("kit status: %+v", st)
	}
	// a reports, fresh and charged; b never reported.
	o.report(t, o.a, wire.ChanInventory, o.a.inv)
	o.report(t, o.a, wire.ChanHealth, wire.Health{}, store.Figure{Metric: "battery_charge", Value: 35})
	loan, err := o.checkout(t, o.awa, "")
	if err != nil {
		t.Fatal(err)
	}
	if loan.Borrower != o.awa.ID || loan.VenueName != "France Services Baugé" || len(loan.Devices) != 2 {
		t.Fatalf("loan: %+v", loan)
	}
	if loan.Devices[0].Hardware == nil || loan.Devices[1].Hardware != nil {
		t.Errorf("hardware at checkout: %+v", loan.Devices)
	}
	want := []string{"VAL-0001: battery at 35 %; charge it before it goes", "VAL-0002: has never reported; switch it on and check it connects"}
	if strings.Join(loan.Warnings(), "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(loan.Warnings(), "\n"), strings.Join(want, "\n"))
	}
	if sf := loan.Preflight[0]; sf.Kind != fleet.FlagLowCharge || sf.AssetTag != "VAL-0001" || sf.Charge != 35 {
		t.Errorf("first shortfall %+v", sf)
	}
	for _, id := range []string{o.a.id, o.b.id} {
		if s := o.state(t, id); s != fleet.StateOnLoan {
			t.Errorf("%s is %s, want on_loan", id, s)
		}
	}
	if st, _ := o.fleet.KitStatus("Kit 07"); st.State != fleet.KitOnLoan || st.Loan == nil || st.Loan.ID != loan.ID {
		t.Errorf("kit after checkout: %s %+v", st.State, st.Loan)
	}

	// Out once only.
	_, err = o.checkout(t, logistics, "")
	if !errors.Is(err, fleet.ErrConflict) || !strings.Contains(err.Error(), "already out since 23 Nov 14:") || !strings.Contains(err.Error(), "to Awa Diallo") {
		t.Fatalf("second checkout: %v", err)
	}

	// Back, without a charger.
	o.clock.Add(48 * time.Hour)
	back, err := o.fleet.Checkin(o.awa, fleet.CheckinRequest{Kit: "Kit 07", Missing: []string{"Chargeur X2"}})
	if err != nil {
		t.Fatal(err)
	}
	if back.Open() || back.ReturnedBy != "Awa Diallo" || len(back.MissingAccessories) != 1 {
		t.Fatalf("loan after check-in: %+v", back.Loan)
	}
	for _, id := range []string{o.a.id, o.b.id} {
		if s := o.state(t, id); s != fleet.StateNeedsWipe {
			t.Errorf("%s is %s after check-in, want needs_wipe", id, s)
		}
	}
	st, _ = o.fleet.KitStatus("Kit 07")
	if st.State != fleet.KitIncomplete || len(st.Kit.Missing) != 1 {
		t.Errorf("kit after check-in: %s, missing %v", st.State, st.Kit.Missing)
	}
	if _, err := o.fleet.Restock(o.awa, "Kit 07", nil); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("restock by a médiateur: %v", err)
	}
	if _, err := o.fleet.Restock(logistics, "Kit 07", []string{"chargeur x2"}); err != nil {
		t.Fatal(err)
	}
	if st, _ = o.fleet.KitStatus("Kit 07"); st.State != fleet.KitMaintenance || st.Devices[0].Why != "needs_wipe since return on 25 Nov" {
		t.Errorf("kit after restock: %s, %q", st.State, st.Devices[0].Why)
	}

	// Not ready: refused, each device named with why.
	_, err = o.checkout(t, o.awa, "")
	var refused *fleet.RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, fleet.ErrConflict) {
		t.Fatalf("checkout of returned kit: %v", err)
	}
	wantLines := []string{"VAL-0001: needs_wipe since return on 25 Nov", "VAL-0002: needs_wipe since return on 25 Nov"}
	if strings.Join(refused.Details(), "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("refusal details:\n%s", strings.Join(refused.Details(), "\n"))
	}
	// A médiateur may not override; logistics may, and it is kept.
	if _, err := o.checkout(t, o.awa, "urgent"); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("override by a médiateur: %v", err)
	}
	loan, err = o.fleet.Checkout(logistics, fleet.CheckoutRequest{Kit: "Kit 07", To: "awa diallo", Venue: o.venue.ID, Due: o.clock.Now().Add(time.Hour), Override: "salon du numérique, wiped by hand"})
	if err != nil {
		t.Fatal(err)
	}
	if loan.Override == "" || loan.Borrower != o.awa.ID {
		t.Errorf("overridden loan: %+v", loan)
	}
	events, err := o.fleet.AuditPage("kit:Kit 07", 0, 0)
	if err != nil || len(events) == 0 || events[0].Action != fleet.ActionCheckout || events[0].Reason != "salon du numérique, wiped by hand" {
		t.Fatalf("kit audit: %v %+v", err, events)
	}
	dev, err := o.fleet.AuditPage(o.a.id, 0, 1)
	if err != nil || len(dev) != 1 || !strings.Contains(dev[0].Reason, "by override: salon du numérique") {
		t.Errorf("device audit: %v %+v", err, dev)
	}
	if _, err := o.fleet.VerifyAudit(); err != nil {
		t.Error(err)
	}
}

func TestCheckoutRefusals(t *testing.T) {
	o := newOpsEnv(t)
	due := o.clock.Now().Add(24 * time.Hour)
	tests := []struct {
		name string
		by   fleet.Principal
		req  fleet.CheckoutRequest
		want error
		msg  string
	}{
		{"technician", technician, fleet.CheckoutRequest{Kit: "Kit 07", Venue: o.venue.ID, Due: due}, fleet.ErrForbidden, "may not check kits out"},
		{"past due", o.awa, fleet.CheckoutRequest{Kit: "Kit 07", Venue: o.venue.ID, Due: o.clock.Now().Add(-time.Hour)}, fleet.ErrInvalid, "in the past"},
		{"no due", o.awa, fleet.CheckoutRequest{Kit: "Kit 07", Venue: o.venue.ID}, fleet.ErrInvalid, "due date is required"},
		{"far due", o.awa, fleet.CheckoutRequest{Kit: "Kit 07", Venue: o.venue.ID, Due: o.clock.Now().Add(400 * 24 * time.Hour)}, fleet.ErrInvalid, "days ahead"},
		{"unknown kit", o.awa, fleet.CheckoutRequest{Kit: "Kit 99", Venue: o.venue.ID, Due: due}, fleet.ErrNotFound, "no kit matches Kit 99"},
		{"unknown venue", o.awa, fleet.CheckoutRequest{Kit: "Kit 07", Venue: "Mairie de Nulle Part", Due: due}, fleet.ErrNotFound, "no venue matches"},
		{"for someone else", o.awa, fleet.CheckoutRequest{Kit: "Kit 07", To: "admin", Venue: o.venue.ID, Due: due}, fleet.ErrNotFound, "no user matches admin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := o.fleet.Checkout(tc.by, tc.req)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Checkout = %v, want %v with %q", err, tc.want, tc.msg)
			}
		})
	}
	// Another médiateur cannot borrow in Awa's name.
	u, _, err := o.fleet.CreateUser(admin, "Karim Benali", fleet.RoleMediateur)
	if err != nil {
		t.Fatal(err)
	}
	karim := fleet.Principal{ID: u.ID, Name: u.Name, Role: u.Role}
	if _, err := o.fleet.Checkout(karim, fleet.CheckoutRequest{Kit: "Kit 07", To: "Awa Diallo", Venue: o.venue.ID, Due: due}); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("checkout to another médiateur: %v", err)
	}
	// Nothing changed.
	if st, _ := o.fleet.KitStatus("Kit 07"); st.State != fleet.KitAvailable {
		t.Errorf("kit after refusals: %s", st.State)
	}
	// Karim cannot check in Awa's kit.
	if _, err := o.checkout(t, o.awa, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := o.fleet.Checkin(karim, fleet.CheckinRequest{Kit: "Kit 07"}); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("check-in of another's loan: %v", err)
	}
	if _, err := o.fleet.Checkin(o.awa, fleet.CheckinRequest{Kit: "Kit 07", Missing: []string{"parapluie"}}); !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), "accessories: chargeur x2, sacoche") {
		t.Errorf("check-in with an unknown item: %v", err)
	}
	if s := o.state(t, o.a.id); s != fleet.StateOnLoan {
		t.Errorf("refused check-in changed the device to %s", s)
	}
}

func TestConcurrentCheckout(t *testing.T) {
	o := newOpsEnv(t)
	const n = 50
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  int
		other []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := o.checkout(t, o.awa, "")
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else {
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d checkouts succeeded, want exactly 1", wins)
	}
	for _, err := range other {
		if !errors.Is(err, fleet.ErrConflict) || !strings.Contains(err.Error(), "is already out since") {
			t.Fatalf("losing checkout: %v", err)
		}
	}
	loans, err := o.fleet.Loans(admin, fleet.LoanFilter{Open: true})
	if err != nil || len(loans) != 1 {
		t.Fatalf("open loans: %v %d", err, len(loans))
	}
}

func TestCheckinFindings(t *testing.T) {
	o := newOpsEnv(t)
	o.report(t, o.a, wire.ChanInventory, o.a.inv)
	o.report(t, o.b, wire.ChanInventory, o.b.inv)
	loan, err := o.checkout(t, o.awa, "")
	if err != nil {
		t.Fatal(err)
	}
	// During the loan someone swapped a's disk and memory.
	inv := o.a.inv
	inv.Disks = []wire.Disk{{Name: "nvme0n1", Serial: "WD-NEW123", Type: wire.DiskNVMe, SizeBytes: 256e9}}
	inv.Memory.TotalBytes = 4 << 30
	o.a.inv.Memory.TotalBytes = 8 << 30
	o.clock.Add(time.Hour)
	o.report(t, o.a, wire.ChanInventory, inv)
	back, err := o.fleet.Checkin(logistics, fleet.CheckinRequest{
		Kit: "Kit 07", Missing: []string{"VAL-0002"}, Damaged: []fleet.Damage{{Device: "val-0001", Note: "écran fissuré"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != loan.ID || len(back.MissingDevices) != 1 || back.MissingDevices[0] != o.b.id || len(back.Damaged) != 1 {
		t.Fatalf("check-in: %+v", back.Loan)
	}
	var whats []string
	for _, c := range back.HardwareChanges {
		whats = append(whats, c.AssetTag+" "+c.What)
	}
	if len(whats) != 2 || !strings.Contains(whats[0], "S4EVNF0M1") || !strings.Contains(whats[1], "WD-NEW123") {
		t.Errorf("hardware changes: %q", whats)
	}
	a, _ := o.fleet.Device(o.a.id)
	if a.State != fleet.StateMaintenance || !a.HardwareChanged || a.StateReason != "damaged: écran fissuré" {
		t.Errorf("damaged device: %s %v %q", a.State, a.HardwareChanged, a.StateReason)
	}
	// b did not come back: still out, flagged missing, kit incomplete.
	st, err := o.fleet.KitStatus("Kit 07")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != fleet.KitIncomplete || !contains(st.Devices[1].Flags, fleet.FlagMissing) || !contains(st.Devices[0].Flags, fleet.FlagHardwareChanged) {
		t.Errorf("kit after check-in: %s %+v", st.State, st.Devices)
	}
	if len(st.Kit.Notes) == 0 {
		t.Error("no note on the kit")
	}
	if s := o.state(t, o.b.id); s != fleet.StateOnLoan {
		t.Errorf("missing device is %s, want on_loan until someone says", s)
	}
	// Found later: a return, which closes its wipe gate.
	o.clock.Add(time.Hour)
	b, err := o.fleet.SetState(logistics, o.b.id, fleet.StateNeedsWipe, "found in the car")
	if err != nil {
		t.Fatal(err)
	}
	if b.State != fleet.StateNeedsWipe || b.Loan != "" || !b.LastReturnedAt.Equal(o.clock.Now()) {
		t.Errorf("found device: %+v", b)
	}
}

func TestCheckinLost(t *testing.T) {
	o := newOpsEnv(t)
	if _, err := o.checkout(t, o.awa, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := o.fleet.Checkin(o.awa, fleet.CheckinRequest{Kit: "Kit 07", Lost: []string{"VAL-0002"}}); err != nil {
		t.Fatal(err)
	}
	if s := o.state(t, o.b.id); s != fleet.StateLost {
		t.Errorf("declared lost: %s", s)
	}
	if st, _ := o.fleet.KitStatus("Kit 07"); st.State != fleet.KitIncomplete {
		t.Errorf("kit with a lost device: %s", st.State)
	}
}

func TestOverdueAndPossiblyLost(t *testing.T) {
	o := newOpsEnv(t)
	o.report(t, o.a, wire.ChanHealth, wire.Health{})
	if _, err := o.checkout(t, o.awa, ""); err != nil {
		t.Fatal(err)
	}
	loans, err := o.fleet.Loans(logistics, fleet.LoanFilter{Overdue: true})
	if err != nil || len(loans) != 0 {
		t.Fatalf("overdue before due: %v %d", err, len(loans))
	}
	o.clock.Add(8 * 24 * time.Hour)
	o.report(t, o.a, wire.ChanHealth, wire.Health{})
	loans, err = o.fleet.Loans(logistics, fleet.LoanFilter{Overdue: true})
	if err != nil || len(loans) != 1 || !loans[0].Overdue {
		t.Fatalf("overdue: %v %+v", err, loans)
	}
	if strings.Join(loans[0].PossiblyLost, ",") != "VAL-0002" {
		t.Errorf("possibly lost: %v, want VAL-0002 (silent since checkout)", loans[0].PossiblyLost)
	}
	st, _ := o.fleet.KitStatus("Kit 07")
	if !contains(st.Devices[1].Flags, fleet.FlagPossiblyLost) || contains(st.Devices[0].Flags, fleet.FlagPossiblyLost) {
		t.Errorf("kit flags: %v / %v", st.Devices[0].Flags, st.Devices[1].Flags)
	}
	// A médiateur sees only their own loans.
	u, _, _ := o.fleet.CreateUser(admin, "Karim Benali", fleet.RoleMediateur)
	karim := fleet.Principal{ID: u.ID, Name: u.Name, Role: u.Role}
	if mine, err := o.fleet.Loans(karim, fleet.LoanFilter{}); err != nil || len(mine) != 0 {
		t.Errorf("another médiateur's loans: %v %d", err, len(mine))
	}
	if _, err := o.fleet.LoanStatus(karim, loans[0].ID); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("another médiateur's loan: %v", err)
	}
	if mine, err := o.fleet.Loans(o.awa, fleet.LoanFilter{Venue: o.venue.Name}); err != nil || len(mine) != 1 {
		t.Errorf("own loans by venue: %v %d", err, len(mine))
	}
}

func TestKitMembership(t *testing.T) {
	o := newOpsEnv(t)
	if _, err := o.fleet.CreateKit(logistics, "kit-07", "", nil); !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("duplicate label: %v", err)
	}
	other, err := o.fleet.CreateKit(logistics, "Kit 08", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.fleet.AddToKit(logistics, other.ID, []string{"VAL-0001"}); !errors.Is(err, fleet.ErrConflict) || !strings.Contains(err.Error(), "already in Kit 07") {
		t.Errorf("device in two kits: %v", err)
	}
	if _, err := o.fleet.AddToKit(o.awa, other.ID, []string{"VAL-0001"}); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("médiateur changes a kit: %v", err)
	}
	if _, err := o.checkout(t, o.awa, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := o.fleet.RemoveFromKit(logistics, "Kit 07", []string{"VAL-0001"}); !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("change a kit on loan: %v", err)
	}
	kits, err := o.fleet.Kits("", 0)
	if err != nil || len(kits) != 2 || kits[0].Kit.Label != "Kit 07" || kits[0].State != fleet.KitOnLoan || kits[1].State != fleet.KitIncomplete {
		t.Errorf("kits: %v %+v", err, kits)
	}
	page, err := o.fleet.Kits("Kit 07", 10)
	if err != nil || len(page) != 1 || page[0].Kit.Label != "Kit 08" {
		t.Errorf("kits after Kit 07: %v %+v", err, page)
	}
}

func TestUsersAndAssign(t *testing.T) {
	o := newOpsEnv(t)
	if _, _, err := o.fleet.CreateUser(logistics, "Sam", fleet.RoleAdmin); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("logistics adds a user: %v", err)
	}
	u, secret, err := o.fleet.CreateUser(admin, "  Camille   Roux ", fleet.RoleTechnician)
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.fleet.Authenticate(secret)
	if err != nil || p.ID != u.ID || p.Name != "Camille Roux" || p.Role != fleet.RoleTechnician {
		t.Fatalf("authenticate: %v %+v", err, p)
	}
	if _, err := o.fleet.DisableUser(admin, "camille roux"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.fleet.Authenticate(secret); !errors.Is(err, fleet.ErrUnauthorized) {
		t.Errorf("disabled user's token: %v", err)
	}
	if _, err := o.fleet.CreateVenue(logistics, fleet.Venue{Name: "france-services BAUGE", Kind: fleet.VenueMairie, Commune: "Baugé"}); !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("same venue twice: %v", err)
	}
	for _, v := range []fleet.Venue{
		{Name: "Mairie", Kind: "castle", Commune: "X"},
		{Name: "Mairie", Kind: fleet.VenueMairie, Commune: "X", INSEE: "4901"},
		{Name: "Mairie", Kind: fleet.VenueMairie, Commune: "X", Lat: ptr(47.4)},
		{Name: "Mairie", Kind: fleet.VenueMairie, Commune: "X", Lat: ptr(147.4), Lon: ptr(0.1)},
		{Name: "", Kind: fleet.VenueMairie, Commune: "X"},
	} {
		if _, err := o.fleet.CreateVenue(logistics, v); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("bad venue %+v: %v", v, err)
		}
	}
	if _, err := o.fleet.CreateVenue(logistics, fleet.Venue{Name: "Médiathèque d'Ajaccio", Kind: fleet.VenueMediatheque, Commune: "Ajaccio", INSEE: "2a004"}); err != nil {
		t.Errorf("Corsican venue: %v", err)
	}
	mairie, err := o.fleet.CreateVenue(logistics, fleet.Venue{Name: "Mairie de Seiches", Kind: fleet.VenueMairie, Commune: "Seiches-sur-le-Loir", Lat: ptr(47.58), Lon: ptr(-0.36)})
	if err != nil {
		t.Fatal(err)
	}
	devs, err := o.fleet.Assign(logistics, nil, "Kit 07", "mairie de seiches")
	if err != nil || len(devs) != 2 || devs[0].Venue != mairie.ID {
		t.Fatalf("assign kit: %v %+v", err, devs)
	}
	if k, _ := o.fleet.Kit("Kit 07"); k.Home != mairie.ID {
		t.Errorf("kit home after assignment: %s", k.Home)
	}
	if _, err := o.fleet.Assign(o.awa, []string{"VAL-0001"}, "", mairie.ID); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("médiateur assigns: %v", err)
	}
	list, err := o.fleet.Devices(fleet.Filter{Venue: mairie.ID})
	if err != nil || len(list) != 2 {
		t.Errorf("devices of the venue: %v %d", err, len(list))
	}
	if _, err := o.fleet.SetState(logistics, "VAL-0001", fleet.StateLost, ""); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("set-state without a reason: %v", err)
	}
}

func TestNameKey(t *testing.T) {
	for in, want := range map[string]string{
		"France Services Baugé":      "france services bauge",
		"  france-services   BAUGÉ ": "france services bauge",
		"Médiathèque d’Œuvre":        "mediatheque d oeuvre",
		"Kit_07":                     "kit 07",
	} {
		if got := fleet.NameKey(in); got != want {
			t.Errorf("NameKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHardwareChanges(t *testing.T) {
	inv := laptop("0b01", "S4EV1")
	inv.Disks[0].SizeBytes = 512e9
	inv.Memory.TotalBytes = 8 << 30
	inv.Batteries = []wire.BatteryInfo{{Name: "BAT0", Serial: "SMP12345", Model: "01AV430", DesignCapacityWh: 50}}
	before := fleet.HardwareOf(inv)
	same := inv
	same.Memory.TotalBytes = 8<<30 - 100<<20 // the kernel reserves a little more
	if c := before.Changes(fleet.HardwareOf(same)); len(c) != 0 {
		t.Errorf("same hardware: %q", c)
	}
	swapped := inv
	swapped.Batteries = []wire.BatteryInfo{{Name: "BAT0", Serial: "SMP99999", Model: "01AV430", DesignCapacityWh: 50}}
	swapped.Disks = nil // not read this time: not a removal
	c := before.Changes(fleet.HardwareOf(swapped))
	if len(c) != 2 || c[0] != "battery SMP12345 01AV430 50Wh removed" || c[1] != "battery SMP99999 01AV430 50Wh added" {
		t.Errorf("battery swap: %q", c)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func TestEnrolTokenPlacesDevice(t *testing.T) {
	o := newOpsEnv(t)
	if _, _, err := o.fleet.CreateEnrollToken(technician, fleet.TokenSpec{Class: wire.ClassTablet, Kit: "Kit 99"}); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("token for an unknown kit: %v", err)
	}
	_, tok, err := o.fleet.CreateEnrollToken(technician, fleet.TokenSpec{Class: wire.ClassTablet, Uses: 2, Kit: "kit 07", Venue: "France Services Baugé"})
	if err != nil {
		t.Fatal(err)
	}
	en := o.enroll(t, tok, laptop("0c01", "EMMC0C01"))
	if en.Device.Kit != o.kit.ID || en.Device.Venue != o.venue.ID {
		t.Errorf("enrolled device: kit %q venue %q", en.Device.Kit, en.Device.Venue)
	}
	k, _ := o.fleet.Kit("Kit 07")
	if len(k.Devices) != 3 || k.Devices[2] != en.Device.ID {
		t.Errorf("kit devices: %v", k.Devices)
	}
	// Out on loan: the next device is not added, and says so.
	if _, err := o.fleet.RemoveFromKit(logistics, "Kit 07", []string{en.Device.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.checkout(t, o.awa, ""); err != nil {
		t.Fatal(err)
	}
	en2 := o.enroll(t, tok, laptop("0c03", "EMMC0C03"))
	if en2.Device.Kit != "" || len(en2.Device.Notes) == 0 || !strings.Contains(en2.Device.Notes[len(en2.Device.Notes)-1].Text, "out or full") {
		t.Errorf("device enrolled for a kit on loan: kit %q notes %+v", en2.Device.Kit, en2.Device.Notes)
	}
}

func TestReadyDeviceFailingTheGate(t *testing.T) {
	o := newOpsEnv(t)
	// Back from somewhere after its last wipe, still marked ready.
	o.clock.Add(time.Hour)
	setDevice(t, o.st, o.a.id, func(d *fleet.Device) { d.LastReturnedAt = o.clock.Now() })
	st, err := o.fleet.KitStatus("Kit 07")
	if err != nil {
		t.Fatal(err)
	}
	kd := st.Devices[0]
	if kd.Ready || !strings.HasPrefix(kd.GateClosed, "has not been wiped since its return on") || kd.Why != "ready, but "+kd.GateClosed {
		t.Errorf("ready device past its return: ready %v, gate %q, why %q", kd.Ready, kd.GateClosed, kd.Why)
	}
	if closed, err := o.fleet.GateClosed("VAL-0001"); err != nil || closed != kd.GateClosed {
		t.Errorf("GateClosed = %q, %v; want %q", closed, err, kd.GateClosed)
	}
	if closed, err := o.fleet.GateClosed("VAL-0002"); err != nil || closed != "" {
		t.Errorf("GateClosed of a wiped device = %q, %v", closed, err)
	}
	_, err = o.checkout(t, o.awa, "")
	var refused *fleet.RefusedError
	if !errors.As(err, &refused) || len(refused.Details()) != 1 || refused.Details()[0] != "VAL-0001: "+kd.Why {
		t.Errorf("checkout: %v %v", err, refused)
	}
}
