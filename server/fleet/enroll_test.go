package fleet_test

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	st    *store.Store
	fleet *fleet.Fleet
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "valise.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)}
	f, err := fleet.New(fleet.Config{Store: st, Dedupe: st, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, fleet: f, clock: c}
}

var technician = fleet.Principal{Name: "tech", Role: fleet.RoleTechnician}

func (e *env) token(t *testing.T, class string, uses int) string {
	t.Helper()
	_, secret, err := e.fleet.CreateEnrollToken(technician, fleet.TokenSpec{Class: class, Uses: uses})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func (e *env) enroll(t *testing.T, token string, inv wire.Inventory) fleet.Enrolment {
	t.Helper()
	en, err := e.fleet.Enroll(wire.EnrollRequest{Token: token, Fingerprint: wire.FingerprintOf(&inv), Inventory: inv})
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	return en
}

// laptop returns the inventory of a laptop whose identifiers all derive
// from n, with the given disk serial.
func laptop(n, disk string) wire.Inventory {
	return wire.Inventory{
		Class:     wire.ClassLaptop,
		Hostname:  "kit-" + n,
		System:    wire.System{Vendor: "LENOVO", Model: "20L7S0XY00", Serial: "PF1" + n, UUID: "4c4c4544-0042-3510-8056-b4c04f4b" + n},
		Baseboard: wire.Baseboard{Serial: "L1HF" + n},
		NICs:      []wire.NIC{{Name: "enp0s31f6", PermanentMAC: "8c:16:45:00:" + n[:2] + ":" + n[2:], Bus: "pci"}},
		Disks:     []wire.Disk{{Name: "nvme0n1", Serial: disk, Type: wire.DiskNVMe, Bus: "nvme"}},
	}
}

// placeholderBox is a white-box PC whose firmware was never filled in: the
// AMI placeholder UUID and "To be filled by O.E.M." serials.
func placeholderBox(mac, disk string) wire.Inventory {
	return wire.Inventory{
		Class:     wire.ClassOther,
		System:    wire.System{Vendor: "To be filled by O.E.M.", Serial: "To be filled by O.E.M.", UUID: "03000200-0400-0500-0006-000700080009"},
		Baseboard: wire.Baseboard{Serial: "Default string"},
		NICs:      []wire.NIC{{Name: "eth0", PermanentMAC: mac, Bus: "pci"}},
		Disks:     []wire.Disk{{Name: "sda", Serial: disk, Type: wire.DiskSSD, Bus: "sata"}},
	}
}

func TestEnrollSequence(t *testing.T) {
	// Each case enrols a sequence of machines with one many-use token and
	// says which of them must come out as the same device.
	tests := []struct {
		name     string
		machines []wire.Inventory
		// same[i] is the index of the earlier machine that enrolment i must
		// be, or -1 for a new device.
		same    []int
		changed []bool
	}{
		{
			name:     "same machine re-enrolled with a fresh state keeps its id",
			machines: []wire.Inventory{laptop("1234", "DISK1"), laptop("1234", "DISK1")},
			same:     []int{-1, 0},
			changed:  []bool{false, false},
		},
		{
			name:     "two different laptops",
			machines: []wire.Inventory{laptop("1234", "DISK1"), laptop("5678", "DISK2")},
			same:     []int{-1, -1},
			changed:  []bool{false, false},
		},
		{
			name:     "disk swap: same device, hardware changed",
			machines: []wire.Inventory{laptop("1234", "DISK1"), laptop("1234", "DISK9")},
			same:     []int{-1, 0},
			changed:  []bool{false, true},
		},
		{
			name: "placeholder serials and UUID never merge two machines",
			machines: []wire.Inventory{
				placeholderBox("00:1e:06:00:00:01", "SSD00001"),
				placeholderBox("00:1e:06:00:00:02", "SSD00002"),
				placeholderBox("00:1e:06:00:00:01", "SSD00001"),
			},
			same:    []int{-1, -1, 0},
			changed: []bool{false, false, false},
		},
		{
			name: "placeholder machine matched by its other identifiers after a disk swap",
			machines: []wire.Inventory{
				placeholderBox("00:1e:06:00:00:01", "SSD00001"),
				placeholderBox("00:1e:06:00:00:01", "SSD00099"),
			},
			same:    []int{-1, 0},
			changed: []bool{false, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tok := e.token(t, wire.ClassLaptop, 10)
			var got []fleet.Enrolment
			for i, inv := range tt.machines {
				en := e.enroll(t, tok, inv)
				if want := tt.same[i]; want >= 0 {
					if en.Device.ID != got[want].Device.ID || en.Device.AssetTag != got[want].Device.AssetTag || !en.Known {
						t.Errorf("enrolment %d: got %s %s known=%v, want %s %s", i, en.Device.ID, en.Device.AssetTag, en.Known, got[want].Device.ID, got[want].Device.AssetTag)
					}
				} else {
					for j, g := range got {
						if g.Device.ID == en.Device.ID {
							t.Errorf("enrolment %d merged with %d (%s)", i, j, en.Device.ID)
						}
					}
					if en.Known || en.Device.State != fleet.StateIntake {
						t.Errorf("enrolment %d: known=%v state=%s, want a new device in intake", i, en.Known, en.Device.State)
					}
				}
				if en.Device.HardwareChanged != tt.changed[i] {
					t.Errorf("enrolment %d: HardwareChanged = %v, want %v (notes %v)", i, en.Device.HardwareChanged, tt.changed[i], en.Device.Notes)
				}
				if !wire.ValidDeviceID(en.Device.ID) {
					t.Errorf("enrolment %d: invalid device id %q", i, en.Device.ID)
				}
				got = append(got, en)
			}
			devs, err := e.fleet.Devices(fleet.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var tags []string
			for _, d := range devs {
				tags = append(tags, d.AssetTag)
			}
			var want []string
			n := 0
			for _, s := range tt.same {
				if s < 0 {
					n++
					want = append(want, []string{"VAL-0001", "VAL-0002", "VAL-0003"}[n-1])
				}
			}
			if diff := cmp.Diff(want, tags); diff != "" {
				t.Errorf("asset tags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReenrolRotatesCredentialsAndResetsDedupe(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, wire.ClassLaptop, 2)
	first := e.enroll(t, tok, laptop("1234", "DISK1"))
	if id, ok := e.fleet.AuthenticateDevice(first.Username, first.Password); !ok || id != first.Device.ID {
		t.Fatalf("AuthenticateDevice(first) = %q, %v", id, ok)
	}
	report := func(seq uint64) bool {
		t.Helper()
		stored, err := e.st.CommitReports([]store.Report{{
			Device: first.Device.ID, Seq: seq, Kind: wire.ChanEvent, At: e.clock.Now(), Received: e.clock.Now(),
			Body: []byte(`{"type":"agent_started","ok":true}`),
		}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return stored[0]
	}
	if !report(1) || !report(2) || report(1) {
		t.Fatal("dedupe does not behave before re-enrolment")
	}

	second := e.enroll(t, tok, laptop("1234", "DISK1"))
	if second.Device.ID != first.Device.ID || second.Password == first.Password {
		t.Fatalf("re-enrolment: id %s -> %s, password rotated %v", first.Device.ID, second.Device.ID, second.Password != first.Password)
	}
	if _, ok := e.fleet.AuthenticateDevice(first.Username, first.Password); ok {
		t.Error("the old password still works after re-enrolment")
	}
	if _, ok := e.fleet.AuthenticateDevice(second.Username, second.Password); !ok {
		t.Error("the new password does not work")
	}
	if !report(1) {
		t.Error("seq 1 of the re-enrolled agent was taken for a duplicate")
	}
}

func TestEnrollTokenRules(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name    string
		prepare func(t *testing.T) string // returns the token to enrol with
		wantErr error
	}{
		{"unknown token", func(t *testing.T) string { return "vet_nosuchtoken" }, fleet.ErrUnauthorized},
		{"missing token", func(t *testing.T) string { return "" }, fleet.ErrInvalid},
		{"used up", func(t *testing.T) string {
			tok := e.token(t, wire.ClassLaptop, 1)
			e.enroll(t, tok, laptop("9001", "DISKA"))
			return tok
		}, fleet.ErrTokenGone},
		{"expired", func(t *testing.T) string {
			tok := e.token(t, wire.ClassLaptop, 1)
			e.clock.Add(fleet.DefaultTokenTTL)
			return tok
		}, fleet.ErrTokenGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.prepare(t)
			inv := laptop("9999", "DISKZ")
			_, err := e.fleet.Enroll(wire.EnrollRequest{Token: tok, Inventory: inv})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Enroll = %v, want %v", err, tt.wantErr)
			}
		})
	}
	devs, err := e.fleet.Devices(fleet.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 {
		t.Errorf("%d devices after refused enrolments, want only the one of the used-up case", len(devs))
	}
}

func TestTokenDecidesClass(t *testing.T) {
	e := newEnv(t)
	inv := laptop("1234", "DISK1") // the inventory says laptop
	en := e.enroll(t, e.token(t, wire.ClassTablet, 1), inv)
	if en.Device.Class != wire.ClassTablet {
		t.Errorf("class = %s, want the token's tablet", en.Device.Class)
	}
}

func TestConcurrentOneUseToken(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, wire.ClassLaptop, 1)
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inv := laptop(string(rune('a'+i))+"234", "DISK"+string(rune('A'+i)))
			_, errs[i] = e.fleet.Enroll(wire.EnrollRequest{Token: tok, Inventory: inv})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, fleet.ErrTokenGone):
			t.Errorf("unexpected error: %v", err)
		}
	}
	devs, err := e.fleet.Devices(fleet.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || len(devs) != 1 {
		t.Errorf("%d enrolments succeeded and %d devices exist, want exactly 1 and 1", ok, len(devs))
	}
}

func TestDeviceByRef(t *testing.T) {
	e := newEnv(t)
	en := e.enroll(t, e.token(t, wire.ClassLaptop, 1), laptop("1234", "DISK1"))
	for _, ref := range []string{en.Device.ID, "VAL-0001", "val-0001", " VAL-0001 "} {
		d, err := e.fleet.Device(ref)
		if err != nil || d.ID != en.Device.ID {
			t.Errorf("Device(%q) = %s, %v", ref, d.ID, err)
		}
	}
	_, err := e.fleet.Device("VAL-0099")
	if !errors.Is(err, fleet.ErrNotFound) || err.Error() != "not found: no device matches VAL-0099" {
		t.Errorf("Device(VAL-0099) = %v", err)
	}
}

func TestAPITokens(t *testing.T) {
	e := newEnv(t)
	var saved string
	made, err := e.fleet.BootstrapAdmin(func(s string) error { saved = s; return nil })
	if err != nil || !made {
		t.Fatalf("BootstrapAdmin = %v, %v", made, err)
	}
	p, err := e.fleet.Authenticate(saved)
	if err != nil || p.Role != fleet.RoleAdmin {
		t.Fatalf("Authenticate(admin) = %+v, %v", p, err)
	}
	made, err = e.fleet.BootstrapAdmin(func(string) error { t.Error("second bootstrap saved a token"); return nil })
	if err != nil || made {
		t.Errorf("second BootstrapAdmin = %v, %v", made, err)
	}
	for _, bad := range []string{"", "vat_", saved + "x", "Bearer " + saved} {
		if _, err := e.fleet.Authenticate(bad); !errors.Is(err, fleet.ErrUnauthorized) {
			t.Errorf("Authenticate(%q) = %v, want ErrUnauthorized", bad, err)
		}
	}
	tok, secret, err := e.fleet.CreateAPIToken("Awa Diallo", fleet.RoleMediateur)
	if err != nil {
		t.Fatal(err)
	}
	p, err = e.fleet.Authenticate(secret)
	if diff := cmp.Diff(fleet.Principal{ID: tok.User, Name: "Awa Diallo", Role: fleet.RoleMediateur}, p); diff != "" || err != nil {
		t.Errorf("Authenticate(mediateur) %v (-want +got):\n%s", err, diff)
	}
	if _, _, err := e.fleet.CreateEnrollToken(p, fleet.TokenSpec{Class: wire.ClassLaptop}); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("a mediateur created an enrolment token: %v", err)
	}
}

func TestAuthenticateDevice(t *testing.T) {
	e := newEnv(t)
	en := e.enroll(t, e.token(t, wire.ClassLaptop, 1), laptop("1234", "DISK1"))
	tests := []struct {
		name, user, pass string
		ok               bool
	}{
		{"good", en.Username, en.Password, true},
		{"wrong password", en.Username, en.Password + "x", false},
		{"unknown user", "dnosuchdevice", en.Password, false},
		{"anonymous", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := e.fleet.AuthenticateDevice(tt.user, tt.pass)
			if ok != tt.ok || (ok && id != en.Device.ID) {
				t.Errorf("AuthenticateDevice = %q, %v, want ok=%v", id, ok, tt.ok)
			}
		})
	}
}

func TestEnrollWithAssetTag(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, wire.ClassLaptop, 10)
	enrollTagged := func(inv wire.Inventory, tag string) fleet.Enrolment {
		t.Helper()
		fp := wire.FingerprintOf(&inv)
		fp.AssetTag = tag
		en, err := e.fleet.Enroll(wire.EnrollRequest{Token: tok, Fingerprint: fp, Inventory: inv})
		if err != nil {
			t.Fatal(err)
		}
		return en
	}
	// A label printed before Valise is kept.
	first := enrollTagged(laptop("1234", "DISK1"), "mairie-12")
	if first.Device.AssetTag != "MAIRIE-12" {
		t.Fatalf("asset tag = %s, want the technician's MAIRIE-12", first.Device.AssetTag)
	}
	// Same machine, disk replaced, identifiers unreadable but the label:
	// serial + label match.
	again := enrollTagged(wire.Inventory{System: wire.System{Serial: "PF11234"}, Disks: []wire.Disk{{Name: "sda", Serial: "NEWDISK", Type: wire.DiskSSD}}}, "MAIRIE-12")
	if again.Device.ID != first.Device.ID || !again.Device.HardwareChanged {
		t.Errorf("re-enrolment with the label = %s changed=%v, want %s changed", again.Device.ID, again.Device.HardwareChanged, first.Device.ID)
	}
	// Another machine given the same label by mistake: its serial says it
	// is another machine; it gets a tag of its own and the label stays
	// with the first.
	other := enrollTagged(laptop("5678", "DISK5"), "MAIRIE-12")
	if other.Device.ID == first.Device.ID || other.Device.AssetTag != "VAL-0001" {
		t.Errorf("mislabelled machine = %s %s, want a new device VAL-0001", other.Device.ID, other.Device.AssetTag)
	}
	if id, err := e.st.DeviceByIdent("tag:MAIRIE-12"); err != nil || id != first.Device.ID {
		t.Errorf("tag:MAIRIE-12 -> %s, %v; want %s", id, err, first.Device.ID)
	}
	if d, err := e.fleet.Device("mairie-12"); err != nil || d.ID != first.Device.ID {
		t.Errorf("Device(mairie-12) = %s, %v", d.ID, err)
	}
}
