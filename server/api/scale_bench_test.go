package api_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/api"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// The Scale benchmarks measure the daily operations of issue 4 against a
// national fleet: 100,000 devices, 20,000 kits of 5 devices, 23,000 loans
// (3,000 open, 300 of them overdue), 1,000,000 hash-chained audit events.
// The fleet is seeded once per process into a file under os.TempDir(),
// written with NoSync, then reopened with fsync on; every request goes
// through the real handler, served by httptest on loopback, over the real
// fleet and bbolt store. Each benchmark reports the p50 and p99 of its
// requests in ms; the targets are p99 <= 20 ms for reads and <= 10 ms for
// a checkout.
//
//	go test -run '^$' -bench Scale -benchtime 200x ./server/api/
const (
	scaleDevices    = 100_000
	scaleKitSize    = 5
	scaleKits       = scaleDevices / scaleKitSize
	scaleAudit      = 1_000_000
	scaleVenues     = 2_000
	scaleMediateurs = 500
	scaleBatch      = 10_000 // records per seeding transaction

	// Kit roles, by rank in a shuffled order of the kits: available
	// (every device ready, with a countersigned certificate), on loan,
	// back from a loan (needs_wipe), and the rest in the other states.
	scaleAvailable = 12_000 // 60 % of the devices ready
	scaleOnLoan    = 3_000  // 15 % on loan: the open loans
	scaleOverdue   = 300    // of the open loans
	scaleReturned  = 2_000  // 10 % needs_wipe
	scaleClosed    = 20_000 // closed loans over the kits that have been out
	// scaleMeasured available kits also have an inventory: the kits whose
	// readiness is read and which are checked out.
	scaleMeasured = 2_000
)

// scaleOtherStates are the states of the devices of the remaining kits.
var scaleOtherStates = []fleet.State{
	fleet.StateIntake, fleet.StateWiping, fleet.StateWipeFailed, fleet.StateWiped,
	fleet.StateProvisioning, fleet.StateMaintenance, fleet.StateLost, fleet.StateRetired,
}

// scaleFleet is the seeded fleet the Scale benchmarks share.
type scaleFleet struct {
	dir    string
	st     *store.Store
	srv    *httptest.Server
	client *http.Client

	logistics  string   // API token of a logistics user
	mediateurs []string // API tokens of médiateurs
	venues     []string // venue ids
	measured   []string // labels of the measured kits, shuffled
	wipePages  []string // after= values that start pages of needs_wipe devices ("" first)
	checkedOut atomic.Int64

	seedTime time.Duration
	phases   []string // how long each part of the seeding took
	size     int64
	counts   string
}

// phase records how long a part of the seeding took since the last one.
func (f *scaleFleet) phase(name string, since *time.Time) {
	now := time.Now()
	f.phases = append(f.phases, fmt.Sprintf("%s %s", name, now.Sub(*since).Round(100*time.Millisecond)))
	*since = now
}

var scale struct {
	once sync.Once
	f    *scaleFleet
	err  error
}

// TestMain removes the seeded fleet, if a benchmark made one.
func TestMain(m *testing.M) {
	code := m.Run()
	if f := scale.f; f != nil {
		f.srv.Close()
		f.st.Close()
		os.RemoveAll(f.dir)
	}
	os.Exit(code)
}

// scaleSetup returns the shared fleet, seeding it on first use.
func scaleSetup(b *testing.B) *scaleFleet {
	b.Helper()
	if testing.Short() {
		b.Skip("the national-scale fleet takes a minute to seed: not with -short")
	}
	scale.once.Do(func() {
		scale.f, scale.err = seedScale()
		if scale.err == nil {
			f := scale.f
			b.Logf("scale fleet: %s; seeded in %s (%s); store file %.0f MiB", f.counts, f.seedTime.Round(time.Second), strings.Join(f.phases, ", "), float64(f.size)/(1<<20))
		}
	})
	if scale.err != nil {
		b.Fatal(scale.err)
	}
	return scale.f
}

var scaleIDs = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// scaleGen makes the fleet's records from one seeded random source, so
// that every run seeds the same fleet.
type scaleGen struct {
	rng *rand.Rand
	now time.Time
}

// id returns an id as the fleet makes them: prefix + 12 base32 characters.
func (g *scaleGen) id(prefix string) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], g.rng.Uint64())
	return prefix + scaleIDs.EncodeToString(b[:])[:12]
}

// ago returns now minus a random duration in [lo, hi).
func (g *scaleGen) ago(lo, hi time.Duration) time.Time {
	return g.now.Add(-lo - time.Duration(g.rng.Int64N(int64(hi-lo)))).Truncate(time.Second)
}

func (g *scaleGen) hexHash() string {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], g.rng.Uint64())
	}
	return hex.EncodeToString(b[:])
}

// scaleDevice is a device being seeded, with what its certificate needs.
type scaleDevice struct {
	d       fleet.Device
	seed    [ed25519.SeedSize]byte // of its device key
	certify time.Time              // when its latest wipe finished; zero: no certificate
	job     string
	rec     fleet.CertRecord
	file    []byte
	inv     *wire.Inventory // sent by the devices of measured kits
}

// scalePerson is a user and the secret of their API token.
type scalePerson struct {
	u      fleet.User
	secret string
}

const scaleDay = 24 * time.Hour

func seedScale() (*scaleFleet, error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "valise-scale-")
	if err != nil {
		return nil, err
	}
	f, err := seedScaleIn(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("seed the scale fleet: %w", err)
	}
	f.seedTime = time.Since(start)
	// The seeding's garbage (a few hundred MB) is not the server's: collect
	// it now rather than during the first measures.
	runtime.GC()
	return f, nil
}

func seedScaleIn(dir string) (*scaleFleet, error) {
	path := filepath.Join(dir, "valise.db")
	st, err := store.Open(path, store.Options{NoSync: true, Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	g := &scaleGen{rng: rand.New(rand.NewPCG(4, 2026)), now: time.Now().UTC().Truncate(time.Second)}
	var serverSeed [ed25519.SeedSize]byte
	for i := range serverSeed {
		serverSeed[i] = byte(g.rng.Uint32())
	}
	serverKey := ed25519.NewKeyFromSeed(serverSeed[:])
	sf := &scaleFleet{dir: dir}
	mark := time.Now()

	// People and places.
	communes := []string{"Baugé-en-Anjou", "Segré", "Saumur", "Cholet", "Châteaubriant", "Mayenne", "Laval", "Craon",
		"Sablé-sur-Sarthe", "La Flèche", "Mamers", "Ancenis", "Clisson", "Pornic", "Challans", "Fontenay-le-Comte"}
	venues := make([]fleet.Venue, scaleVenues)
	for i := range venues {
		kind := fleet.VenueKinds[i%len(fleet.VenueKinds)]
		commune := communes[i%len(communes)]
		venues[i] = fleet.Venue{
			ID: g.id("v"), Name: fmt.Sprintf("%s %s %04d", kind, commune, i+1), Kind: kind, Commune: commune,
			INSEE: fmt.Sprintf("%05d", 49000+i), CreatedAt: g.ago(700*scaleDay, 800*scaleDay),
		}
		venues[i].UpdatedAt = venues[i].CreatedAt
		sf.venues = append(sf.venues, venues[i].ID)
	}
	newPerson := func(name string, role fleet.Role) scalePerson {
		var b [32]byte
		for i := 0; i < 32; i += 8 {
			binary.LittleEndian.PutUint64(b[i:], g.rng.Uint64())
		}
		return scalePerson{fleet.User{ID: g.id("u"), Name: name, Role: role, CreatedAt: g.ago(700*scaleDay, 800*scaleDay)}, "vat_" + base64.RawURLEncoding.EncodeToString(b[:])}
	}
	people := []scalePerson{newPerson("admin", fleet.RoleAdmin), newPerson("Logistique Angers", fleet.RoleLogistics)}
	for i := range scaleMediateurs {
		people = append(people, newPerson(fmt.Sprintf("Médiateur %03d", i+1), fleet.RoleMediateur))
	}
	sf.logistics = people[1].secret
	mediateurs := people[2:]
	for _, p := range mediateurs {
		sf.mediateurs = append(sf.mediateurs, p.secret)
	}
	err = st.Update(func(tx fleet.Tx) error {
		for _, v := range venues {
			if err := tx.PutVenue(v); err != nil {
				return err
			}
		}
		for _, p := range people {
			if err := tx.PutUser(p.u); err != nil {
				return err
			}
			t := fleet.APIToken{ID: g.id("a"), Hash: fleet.HashSecret(p.secret), User: p.u.ID, Name: p.u.Name, Role: p.u.Role, CreatedAt: p.u.CreatedAt}
			if err := tx.PutAPIToken(t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("venues and users: %w", err)
	}

	// Devices, in kits whose devices' asset tags are scattered.
	devs := make([]scaleDevice, scaleDevices)
	for i := range devs {
		devs[i].d = scaleNewDevice(g, i)
		for j := 0; j < ed25519.SeedSize; j += 8 {
			binary.LittleEndian.PutUint64(devs[i].seed[j:], g.rng.Uint64())
		}
	}
	slots := g.rng.Perm(scaleDevices)
	rank := g.rng.Perm(scaleKits)
	kits := make([]fleet.Kit, scaleKits)
	var loans []fleet.Loan
	for i := range kits {
		k := &kits[i]
		k.ID, k.Label = g.id("k"), fmt.Sprintf("Kit %05d", i+1)
		k.Home = venues[g.rng.IntN(len(venues))].ID
		k.Accessories = []string{"chargeur x3", "câble USB-C", "sacoche", "multiprise"}
		k.CreatedAt = g.ago(500*scaleDay, 600*scaleDay)
		k.UpdatedAt = k.CreatedAt
		for s := range scaleKitSize {
			d := &devs[slots[i*scaleKitSize+s]].d
			d.Kit = k.ID
			k.Devices = append(k.Devices, d.ID)
		}
	}
	kitDevs := func(i int) []*scaleDevice {
		out := make([]*scaleDevice, scaleKitSize)
		for s := range out {
			out[s] = &devs[slots[i*scaleKitSize+s]]
		}
		return out
	}
	loanOf := func(i int, out time.Time, p scalePerson) fleet.Loan {
		k := kits[i]
		v := venues[g.rng.IntN(len(venues))]
		l := fleet.Loan{
			ID: g.id("l"), Kit: k.ID, KitLabel: k.Label, Borrower: p.u.ID, BorrowerName: p.u.Name,
			Venue: v.ID, VenueName: v.Name, OutAt: out, DueAt: out.Add(14 * scaleDay), By: p.u.Name,
		}
		for _, sd := range kitDevs(i) {
			l.Devices = append(l.Devices, fleet.LoanDevice{ID: sd.d.ID, AssetTag: sd.d.AssetTag, Class: sd.d.Class})
		}
		return l
	}
	// Closed loans: the kits that have been out, newest loan first; a
	// kit's newest return is its devices' last return.
	var been []int
	for i := range kits {
		if rank[i] < scaleAvailable+scaleOnLoan+scaleReturned {
			been = append(been, i)
		}
	}
	lastReturn := make(map[int]time.Time)
	for j := range scaleClosed {
		i, gen := been[j%len(been)], j/len(been)
		out := g.ago(time.Duration(45+45*gen)*scaleDay, time.Duration(55+45*gen)*scaleDay)
		p := mediateurs[g.rng.IntN(len(mediateurs))]
		l := loanOf(i, out, p)
		l.ReturnedAt = out.Add(time.Duration(3+g.rng.IntN(11)) * scaleDay)
		l.ReturnedBy = p.u.Name
		loans = append(loans, l)
		if gen == 0 {
			lastReturn[i] = l.ReturnedAt
		}
	}
	var measured []int
	opened := 0
	for i := range kits {
		r := rank[i]
		ret := lastReturn[i]
		switch {
		case r < scaleAvailable:
			for _, sd := range kitDevs(i) {
				sd.certify = ret.Add(time.Duration(1+g.rng.IntN(4)) * scaleDay)
				sd.d.State, sd.d.StateChangedAt, sd.d.StateReason = fleet.StateReady, sd.certify.Add(scaleDay), "provisioning job p"+sd.d.ID[1:]+" succeeded"
				sd.d.LastReturnedAt = ret
			}
			if r < scaleMeasured {
				measured = append(measured, i)
			}
		case r < scaleAvailable+scaleOnLoan:
			var out time.Time
			if opened < scaleOverdue {
				out = g.ago(15*scaleDay, 28*scaleDay)
			} else {
				out = g.ago(time.Hour, 13*scaleDay)
			}
			opened++
			l := loanOf(i, out, mediateurs[g.rng.IntN(len(mediateurs))])
			loans = append(loans, l)
			kits[i].Loan, kits[i].UpdatedAt = l.ID, out
			for _, sd := range kitDevs(i) {
				sd.certify = ret.Add(time.Duration(1+g.rng.IntN(4)) * scaleDay)
				sd.d.State, sd.d.StateChangedAt, sd.d.StateReason = fleet.StateOnLoan, out, "checkout "+l.ID
				sd.d.Loan, sd.d.LastReturnedAt = l.ID, ret
			}
		case r < scaleAvailable+scaleOnLoan+scaleReturned:
			for _, sd := range kitDevs(i) {
				sd.d.State, sd.d.StateChangedAt, sd.d.StateReason = fleet.StateNeedsWipe, ret, "check-in"
				sd.d.LastReturnedAt = ret
			}
		default:
			for s, sd := range kitDevs(i) {
				sd.d.State = scaleOtherStates[(i+s)%len(scaleOtherStates)]
				sd.d.StateChangedAt = g.ago(scaleDay, 60*scaleDay)
			}
		}
	}
	for _, i := range measured {
		sf.measured = append(sf.measured, kits[i].Label)
		for _, sd := range kitDevs(i) {
			sd.inv = scaleInventory(sd.d)
		}
	}
	g.rng.Shuffle(len(sf.measured), func(a, b int) { sf.measured[a], sf.measured[b] = sf.measured[b], sf.measured[a] })

	sf.phase("records", &mark)

	// Device keys and countersigned certificates, on every core.
	var wg sync.WaitGroup
	errs := make([]error, runtime.GOMAXPROCS(0))
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(devs); i += len(errs) {
				if err := scaleCertify(&devs[i], serverKey); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	for i := range devs {
		if !devs[i].certify.IsZero() {
			devs[i].job = g.id("w")
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}

	sf.phase("certificates", &mark)

	// Write devices with their certificates, kits, loans.
	for lo := 0; lo < len(devs); lo += scaleBatch / 2 {
		batch := devs[lo:min(lo+scaleBatch/2, len(devs))]
		err := st.Update(func(tx fleet.Tx) error {
			for i := range batch {
				sd := &batch[i]
				if sd.file != nil {
					if err := tx.PutCertificate(sd.rec, sd.file); err != nil {
						return err
					}
				}
				if err := tx.PutDevice(sd.d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("devices: %w", err)
		}
	}
	for lo := 0; lo < len(kits); lo += scaleBatch {
		batch := kits[lo:min(lo+scaleBatch, len(kits))]
		err := st.Update(func(tx fleet.Tx) error {
			for _, k := range batch {
				if err := tx.PutKit(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("kits: %w", err)
		}
	}
	for lo := 0; lo < len(loans); lo += scaleBatch {
		batch := loans[lo:min(lo+scaleBatch, len(loans))]
		err := st.Update(func(tx fleet.Tx) error {
			for _, l := range batch {
				if err := tx.PutLoan(l); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("loans: %w", err)
		}
	}

	sf.phase("devices, kits and loans", &mark)

	// The audit log, hash-chained.
	if err := scaleAuditLog(st, g, devs, kits, loans, venues, people); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}

	sf.phase("audit", &mark)

	// Telemetry: every device reported its health in the last minutes; the
	// devices of the measured kits also sent their inventory, hotspots
	// their SIM.
	var reports []store.Report
	flush := func() error {
		if _, err := st.CommitReports(reports, nil); err != nil {
			return err
		}
		reports = reports[:0]
		return nil
	}
	for i := range devs {
		sd := &devs[i]
		at := g.ago(0, 4*time.Minute)
		charge, health := float64(45+g.rng.IntN(56)), float64(60+g.rng.IntN(41))
		body, err := json.Marshal(wire.Health{
			Batteries:     []wire.Battery{{Name: "BAT0", Status: "Discharging", ChargePercent: &charge, HealthPercent: &health}},
			UptimeSeconds: uint64(g.rng.IntN(86400)),
		})
		if err != nil {
			return nil, err
		}
		reports = append(reports, store.Report{Device: sd.d.ID, Seq: 1, Kind: wire.ChanHealth, At: at, Received: at, Body: body,
			Figures: []store.Figure{{Metric: apitype.MetricBatteryHealth, Value: health}, {Metric: apitype.MetricBatteryCharge, Value: charge}}})
		if sd.inv != nil {
			inv, err := json.Marshal(sd.inv)
			if err != nil {
				return nil, err
			}
			reports = append(reports, store.Report{Device: sd.d.ID, Seq: 2, Kind: wire.ChanInventory, At: at, Received: at, Body: inv})
			if sd.d.Class == wire.ClassHotspot {
				net, err := json.Marshal(wire.Net{Cellular: []wire.Cellular{{IMEI: sd.d.Fingerprint.IMEIs[0], ICCID: "8933150" + sd.d.Fingerprint.IMEIs[0][3:], Operator: "Orange F", AccessTech: "lte"}}})
				if err != nil {
					return nil, err
				}
				reports = append(reports, store.Report{Device: sd.d.ID, Seq: 3, Kind: wire.ChanNet, At: at, Received: at, Body: net})
			}
		}
		if len(reports) >= scaleBatch {
			if err := flush(); err != nil {
				return nil, fmt.Errorf("telemetry: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}

	sf.phase("telemetry", &mark)

	// The needs_wipe pages: the first, and pages after 99 tags spread
	// over the state.
	var wipeTags []string
	for i := range devs {
		if devs[i].d.State == fleet.StateNeedsWipe {
			wipeTags = append(wipeTags, devs[i].d.AssetTag)
		}
	}
	slices.SortFunc(wipeTags, fleet.CompareAssetTags)
	sf.wipePages = []string{""}
	for range 99 {
		sf.wipePages = append(sf.wipePages, wipeTags[g.rng.IntN(len(wipeTags)-500)])
	}
	states := map[fleet.State]int{}
	for i := range devs {
		states[devs[i].d.State]++
	}
	sf.counts = fmt.Sprintf("%d devices (%d ready, %d on_loan, %d needs_wipe), %d kits, %d loans (%d open, %d overdue), %d audit events, %d users, %d venues",
		len(devs), states[fleet.StateReady], states[fleet.StateOnLoan], states[fleet.StateNeedsWipe], len(kits),
		len(loans), scaleOnLoan, scaleOverdue, scaleAudit, len(people), len(venues))

	// Measure with fsync on.
	if err := st.Close(); err != nil {
		return nil, err
	}
	st = nil
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	sf.size = fi.Size()
	sf.phase("close", &mark)
	sf.st, err = store.Open(path, store.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	fl, err := fleet.New(fleet.Config{Store: sf.st, Dedupe: sf.st, Telemetry: sf.st, ServerKey: serverKey})
	if err != nil {
		sf.st.Close()
		return nil, err
	}
	a, err := api.New(api.Config{Fleet: fl, Telemetry: sf.st, Health: sf.st, CommandKey: serverKey,
		PublicURL: "http://127.0.0.1:8080", MQTTURL: "tcp://127.0.0.1:1883"})
	if err != nil {
		sf.st.Close()
		return nil, err
	}
	sf.srv = httptest.NewServer(a)
	sf.client = sf.srv.Client()
	return sf, nil
}

// scaleNewDevice returns device i: three laptops, a tablet and a hotspot
// in every five, enrolled with a fingerprint, asset tag VAL-000001….
func scaleNewDevice(g *scaleGen, i int) fleet.Device {
	enrolled := g.ago(400*scaleDay, 700*scaleDay)
	d := fleet.Device{
		ID: g.id("d"), AssetTag: fmt.Sprintf("VAL-%06d", i+1), State: fleet.StateIntake,
		AgentVersion: "1.4.2", EnrolledAt: enrolled, LastEnrolledAt: enrolled, UpdatedAt: enrolled,
		Supplier: "Ateliers du Bocage", PurchasedOn: enrolled.Add(-30 * scaleDay).Truncate(scaleDay), WarrantyEnd: enrolled.Add(700 * scaleDay).Truncate(scaleDay),
	}
	mac := fmt.Sprintf("8c:16:45:%02x:%02x:%02x", byte(i>>16), byte(i>>8), byte(i))
	imei := wire.NormalizeIMEI(fmt.Sprintf("35%012d", i))
	var fp wire.Fingerprint
	switch i % scaleKitSize {
	case 0, 1, 2:
		d.Class, d.Vendor, d.Model, d.Serial = wire.ClassLaptop, "LENOVO", "ThinkPad T480", fmt.Sprintf("PF%08d", i)
		u := g.rng.Uint64()
		fp = wire.Fingerprint{
			UUID:         fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", uint32(u), uint16(u>>32), uint16(u>>48)&0xfff, i&0xfff, g.rng.Uint64()&0xffffffffffff),
			SystemSerial: d.Serial, BaseboardSerial: fmt.Sprintf("L1HF%08d", i), MACs: []string{mac},
			DiskSerials: []string{fmt.Sprintf("S4EW%08d", i)},
		}
	case 3:
		d.Class, d.Vendor, d.Model, d.Serial = wire.ClassTablet, "SAMSUNG", "Galaxy Tab A8", fmt.Sprintf("R9%08d", i)
		fp = wire.Fingerprint{SystemSerial: d.Serial, DiskSerials: []string{fmt.Sprintf("EMMC%08d", i)}, IMEIs: []string{imei}}
	default:
		d.Class, d.Vendor, d.Model = wire.ClassHotspot, "HUAWEI", "E5576-320"
		fp = wire.Fingerprint{MACs: []string{mac}, IMEIs: []string{imei}}
	}
	d.Hostname = "valise-" + d.AssetTag
	d.Fingerprint = fp.Normalize()
	return d
}

// scaleInventory is the inventory device d sends.
func scaleInventory(d fleet.Device) *wire.Inventory {
	inv := &wire.Inventory{Class: d.Class, Hostname: d.Hostname, System: wire.System{Vendor: d.Vendor, Model: d.Model, Serial: d.Serial}}
	fp := d.Fingerprint
	switch d.Class {
	case wire.ClassLaptop:
		inv.Memory.TotalBytes = 8 << 30
		inv.Disks = []wire.Disk{{Name: "nvme0n1", Serial: fp.DiskSerials[0], Type: wire.DiskNVMe, Bus: "nvme", SizeBytes: 256e9, Model: "SAMSUNG MZVLB256"}}
		inv.NICs = []wire.NIC{{Name: "enp0s31f6", PermanentMAC: fp.MACs[0], Bus: "pci"}}
		inv.Batteries = []wire.BatteryInfo{{Name: "BAT0", Serial: "B" + d.Serial, Model: "01AV427", DesignCapacityWh: 24}}
	case wire.ClassTablet:
		inv.Memory.TotalBytes = 4 << 30
		inv.Disks = []wire.Disk{{Name: "mmcblk0", Serial: fp.DiskSerials[0], Type: wire.DiskEMMC, Bus: "mmc", SizeBytes: 64e9}}
		inv.Modems = []wire.Modem{{Manufacturer: "Samsung", IMEI: fp.IMEIs[0]}}
	default:
		inv.Modems = []wire.Modem{{Manufacturer: "Huawei", Model: "E5576", IMEI: fp.IMEIs[0]}}
	}
	return inv
}

// scaleCertify gives sd its device key and, when it was wiped, the
// certificate its agent signed and the server countersigned, as the wipe
// gate will verify it.
func scaleCertify(sd *scaleDevice, serverKey ed25519.PrivateKey) error {
	key := ed25519.NewKeyFromSeed(sd.seed[:])
	pub := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	d := &sd.d
	d.DeviceKey, d.DeviceKeys = pub, []string{pub}
	if sd.certify.IsZero() {
		return nil
	}
	fp := d.Fingerprint
	started := sd.certify.Add(-40 * time.Minute)
	m := certificate.Medium{
		Started: started, Finished: sd.certify, Result: certificate.ResultSucceeded,
		Verification: certificate.Verification{Method: "device-status", Result: certificate.VerificationPassed},
	}
	switch d.Class {
	case wire.ClassLaptop:
		m.Name, m.Type, m.Serial, m.CapacityBytes = "nvme0n1", wire.DiskNVMe, fp.DiskSerials[0], 256e9
		m.Method, m.Category = wire.MethodNVMeSanitizeCrypto, certificate.CategoryPurge
	case wire.ClassTablet:
		m.Name, m.Type, m.Serial, m.CapacityBytes = "mmcblk0", wire.DiskEMMC, fp.DiskSerials[0], 64e9
		m.Method, m.Category = wire.MethodOverwrite, certificate.CategoryClear
		m.Verification = certificate.Verification{Method: wire.VerifySample, Result: certificate.VerificationPassed, Samples: 1000, Seed: "5eed"}
	default:
		m.Name, m.Type = "hilink", wire.DiskUnknown
		m.Method, m.Category = wire.MethodHotspotReset, certificate.CategoryNone
	}
	c := certificate.Certificate{
		Version: certificate.Version, ID: "cert-" + sd.job, JobID: sd.job,
		Asset: certificate.Asset{
			DeviceID: d.ID, AssetTag: d.AssetTag, Class: d.Class, Vendor: d.Vendor, Model: d.Model,
			Serial: fp.SystemSerial, UUID: fp.UUID,
		},
		Media: []certificate.Medium{m}, Operator: "Technicien atelier", Destination: "reuse",
		Tool: certificate.Tool{Name: "valise-agent", Version: "1.4.2"}, Started: started, Finished: sd.certify,
		Result: certificate.ResultSucceeded,
	}
	if len(fp.IMEIs) > 0 {
		c.Asset.IMEI = fp.IMEIs[0]
	}
	cf, err := certificate.Sign(c, key)
	if err != nil {
		return err
	}
	if err := cf.Countersign(serverKey); err != nil {
		return err
	}
	if sd.file, err = cf.Marshal(); err != nil {
		return err
	}
	sd.rec = fleet.CertRecord{
		ID: c.ID, Device: d.ID, AssetTag: d.AssetTag, Job: sd.job, Result: c.Result, Methods: []string{m.Method},
		Category: m.Category, Started: started, Finished: sd.certify, Hash: cf.Hash(), StoredAt: sd.certify.Add(time.Minute),
	}
	d.LastCertificate, d.LastCertHash = c.ID, sd.rec.Hash
	return nil
}

// scaleAuditLog appends scaleAudit events, hash-chained, over two years:
// mostly devices' lifecycles, then kits' devices, loans, people and
// places.
func scaleAuditLog(st *store.Store, g *scaleGen, devs []scaleDevice, kits []fleet.Kit, loans []fleet.Loan, venues []fleet.Venue, people []scalePerson) error {
	str := func(s string) json.RawMessage { return json.RawMessage(`"` + s + `"`) }
	obj := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	actors := []string{"Technicien atelier", "Logistique Angers", fleet.ActorServer}
	first := g.now.Add(-730 * scaleDay)
	step := 700 * scaleDay / scaleAudit
	prev := ""
	for lo := 1; lo <= scaleAudit; lo += scaleBatch {
		err := st.Update(func(tx fleet.Tx) error {
			for seq := lo; seq < lo+scaleBatch && seq <= scaleAudit; seq++ {
				e := fleet.AuditEvent{Seq: uint64(seq), At: first.Add(time.Duration(seq) * step).Truncate(time.Millisecond), Actor: actors[g.rng.IntN(len(actors))], PrevHash: prev}
				d := &devs[g.rng.IntN(len(devs))].d
				switch r := g.rng.IntN(100); {
				case r < 66:
					from := fleet.States[g.rng.IntN(len(fleet.States))]
					to := fleet.States[g.rng.IntN(len(fleet.States))]
					e.Action, e.Device, e.Before, e.After = fleet.ActionState, d.ID, str(string(from)), str(string(to))
					e.Reason = "wipe job w" + d.ID[1:]
				case r < 74:
					e.Action, e.Device, e.Actor = fleet.ActionCertificate, d.ID, "agent:"+d.ID
					e.After = obj(map[string]string{"certificate": "cert-w" + d.ID[1:], "hash": g.hexHash(), "category": "purge", "result": "succeeded"})
				case r < 80:
					e.Action, e.Device = fleet.ActionWipeRequested, d.ID
					e.After = obj(map[string]string{"job": "w" + d.ID[1:], "method": "auto"})
				case r < 86:
					k := kits[g.rng.IntN(len(kits))]
					e.Action, e.Device, e.Subject, e.Before, e.After = fleet.ActionKitDevices, d.ID, "kit:"+k.ID, str(""), str(k.ID)
				case r < 96:
					l := loans[g.rng.IntN(len(loans))]
					e.Action, e.Subject, e.Actor = fleet.ActionCheckout, "kit:"+l.Kit, l.BorrowerName
					if r >= 91 {
						e.Action = fleet.ActionCheckin
					}
					e.After = obj(map[string]any{"id": l.ID, "kit": l.Kit, "borrower": l.Borrower, "venue": l.Venue, "due_at": l.DueAt})
				case r < 98:
					e.Action, e.Device, e.Actor = fleet.ActionEnrol, d.ID, "agent:"+d.ID
					e.After = obj(map[string]string{"asset_tag": d.AssetTag, "class": d.Class})
				case r < 99:
					v := venues[g.rng.IntN(len(venues))]
					e.Action, e.Subject, e.After = fleet.ActionVenueCreated, "venue:"+v.ID, obj(map[string]string{"name": v.Name})
				default:
					p := people[g.rng.IntN(len(people))]
					e.Action, e.Subject, e.After = fleet.ActionUserCreated, "user:"+p.u.ID, obj(map[string]string{"name": p.u.Name, "role": string(p.u.Role)})
				}
				h, err := e.ComputeHash()
				if err != nil {
					return err
				}
				e.Hash = h
				if err := tx.PutAudit(e); err != nil {
					return err
				}
				prev = h
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// measure sends b.N requests, one after the other, each made by next(i),
// and reports the p50 and p99 of their durations (until the whole answer
// is read) in ms. Each answer must have status want.
func (f *scaleFleet) measure(b *testing.B, want int, next func(i int) *http.Request) {
	b.Helper()
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		req := next(i)
		b.StartTimer()
		t0 := time.Now()
		resp, err := f.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != want {
			b.Fatalf("%s %s = %d %s, want %d", req.Method, req.URL.Path, resp.StatusCode, body, want)
		}
		durs = append(durs, d)
	}
	b.StopTimer()
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	pct := func(p int) float64 {
		i := (len(durs)*p+99)/100 - 1
		return float64(durs[max(i, 0)]) / 1e6
	}
	b.ReportMetric(pct(50), "p50-ms")
	b.ReportMetric(pct(99), "p99-ms")
}

func (f *scaleFleet) get(token, path string) *http.Request {
	req, err := http.NewRequest("GET", f.srv.URL+path, nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// check reads path once, outside the measure, and decodes its answer into
// out: the benchmarks check that they measure what they say.
func (f *scaleFleet) check(b *testing.B, token, path string, out any) {
	b.Helper()
	resp, err := f.client.Do(f.get(token, path))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		b.Fatalf("GET %s: %v", path, err)
	}
}

// BenchmarkScaleNeedsWipe lists a page (of the API's default size, reported
// as devices/page) of the devices that need a wipe, as logistics staff do,
// starting at 100 different places of the 10,000 such devices.
func BenchmarkScaleNeedsWipe(b *testing.B) {
	f := scaleSetup(b)
	var page []apitype.Device
	f.check(b, f.logistics, "/api/v1/devices?state=needs_wipe", &page)
	if len(page) == 0 || page[0].State != string(fleet.StateNeedsWipe) || page[len(page)-1].State != string(fleet.StateNeedsWipe) {
		b.Fatalf("the first page of needs_wipe has %d devices, want a page of devices needing a wipe", len(page))
	}
	f.measure(b, http.StatusOK, func(i int) *http.Request {
		q := url.Values{"state": {string(fleet.StateNeedsWipe)}}
		if after := f.wipePages[i%len(f.wipePages)]; after != "" {
			q.Set("after", after)
		}
		return f.get(f.logistics, "/api/v1/devices?"+q.Encode())
	})
	b.ReportMetric(float64(len(page)), "devices/page")
}

// BenchmarkScaleOverdueLoans lists all the overdue loans (300 of the 3,000
// open ones; the default page may be shorter), each with its possibly lost
// devices, as logistics staff do.
func BenchmarkScaleOverdueLoans(b *testing.B) {
	f := scaleSetup(b)
	const path = "/api/v1/loans?overdue=true&limit=500"
	var loans []apitype.Loan
	f.check(b, f.logistics, path, &loans)
	if len(loans) != scaleOverdue || !loans[0].Overdue || !loans[len(loans)-1].Overdue {
		b.Fatalf("%d overdue loans listed, want %d", len(loans), scaleOverdue)
	}
	f.measure(b, http.StatusOK, func(int) *http.Request { return f.get(f.logistics, path) })
}

// BenchmarkScaleKitReadiness shows a kit with each device's readiness
// (state, wipe gate over its countersigned certificate, live telemetry),
// as a médiateur does before leaving, over 2,000 different kits.
func BenchmarkScaleKitReadiness(b *testing.B) {
	f := scaleSetup(b)
	// The kit checked out last is still available, its devices through
	// the wipe gate, unless this process checked them all out.
	var kit apitype.Kit
	f.check(b, f.mediateurs[0], "/api/v1/kits/"+url.PathEscape(f.measured[len(f.measured)-1]), &kit)
	if kit.State == string(fleet.KitAvailable) {
		for _, d := range kit.Devices {
			if !d.Ready || d.BatteryCharge == nil {
				b.Fatalf("%s of available %s: ready %v (%s), charge %v", d.AssetTag, kit.Label, d.Ready, d.Why, d.BatteryCharge)
			}
		}
	} else if kit.State != string(fleet.KitOnLoan) {
		b.Fatalf("%s is %s, want available", kit.Label, kit.State)
	}
	f.measure(b, http.StatusOK, func(i int) *http.Request {
		return f.get(f.mediateurs[i%len(f.mediateurs)], "/api/v1/kits/"+url.PathEscape(f.measured[i%len(f.measured)]))
	})
}

// BenchmarkScaleCheckout checks out a different available kit at each
// request, through the wipe gate and the pre-flight, committed with fsync.
// The kits stay out: each run uses fresh ones from the 2,000 measured kits.
func BenchmarkScaleCheckout(b *testing.B) {
	f := scaleSetup(b)
	if left := int64(len(f.measured)) - f.checkedOut.Load(); int64(b.N) > left {
		b.Fatalf("only %d kits are left to check out in this process; run fewer iterations (-benchtime %dx)", left, left)
	}
	due := time.Now().Add(14 * scaleDay).UTC()
	f.measure(b, http.StatusCreated, func(i int) *http.Request {
		n := f.checkedOut.Add(1) - 1
		body, err := json.Marshal(apitype.CheckoutRequest{Venue: f.venues[int(n)%len(f.venues)], Due: due})
		if err != nil {
			panic(err)
		}
		req, err := http.NewRequest("POST", f.srv.URL+"/api/v1/kits/"+url.PathEscape(f.measured[n])+"/checkout", bytes.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Authorization", "Bearer "+f.mediateurs[int(n)%len(f.mediateurs)])
		req.Header.Set("Content-Type", "application/json")
		return req
	})
}
