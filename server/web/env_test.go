package web_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
	"github.com/valise-numerique/valise/server/web"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var (
	paris        = mustLocation("Europe/Paris")
	adminP       = fleet.Principal{ID: "u-admin", Name: "admin", Role: fleet.RoleAdmin}
	technicianP  = fleet.Principal{ID: "u-tech", Name: "tech", Role: fleet.RoleTechnician}
	csrfField    = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	templateLeak = regexp.MustCompile(`\{\{|<no value>|%!`)
	regexpCSS    = regexp.MustCompile(`<link rel="stylesheet" href="([^"]+)">`)
)

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// env is a dashboard over a real store and fleet, served on loopback.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	st     *store.Store
	fleet  *fleet.Fleet
	clock  *clock
	tokens map[fleet.Role]string
	users  map[fleet.Role]fleet.User
	seq    map[string]uint64
}

func newEnv(t *testing.T) *env { return newEnvTLS(t, false) }

func newEnvTLS(t *testing.T, tls bool) *env { return newEnvWith(t, tls, false) }

// newEnvWith serves the dashboard over TLS or not, with SecureCookies or
// not.
func newEnvWith(t *testing.T, tls, secureCookies bool) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "valise.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 11, 12, 13, 3, 0, 0, time.UTC)}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleet.New(fleet.Config{Store: st, Dedupe: st, Telemetry: st, Now: c.Now, ServerKey: key, Location: paris})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, fleet: f, clock: c, tokens: map[fleet.Role]string{}, users: map[fleet.Role]fleet.User{}, seq: map[string]uint64{}}
	if _, err := f.BootstrapAdmin(func(s string) error { e.tokens[fleet.RoleAdmin] = s; return nil }); err != nil {
		t.Fatal(err)
	}
	names := map[fleet.Role]string{fleet.RoleMediateur: "Awa Diallo", fleet.RoleLogistics: "Léa Martin", fleet.RoleTechnician: "Tom Petit"}
	for role, name := range names {
		u, secret, err := f.CreateUser(adminP, name, role)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[role], e.users[role] = secret, u
	}
	w, err := web.New(web.Config{Fleet: f, Telemetry: st, Now: c.Now, Location: paris, SecureCookies: secureCookies})
	if err != nil {
		t.Fatal(err)
	}
	if tls {
		e.srv = httptest.NewTLSServer(w)
	} else {
		e.srv = httptest.NewServer(w)
	}
	t.Cleanup(e.srv.Close)
	return e
}

// browser is a client with its own cookies that does not follow redirects.
type browser struct {
	e      *env
	c      *http.Client
	gzip   bool
	header http.Header // of the last answer
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := *e.srv.Client() // each browser its own cookies
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{e: e, c: &c}
}

// signIn returns a browser signed in as role.
func (e *env) signIn(role fleet.Role) *browser {
	e.t.Helper()
	b := e.browser()
	code, _ := b.post("/login", url.Values{"token": {e.tokens[role]}, "next": {"/"}})
	if code != http.StatusSeeOther {
		e.t.Fatalf("sign in as %s: %d", role, code)
	}
	return b
}

func (b *browser) do(req *http.Request) (int, string) {
	b.e.t.Helper()
	if b.gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	b.header = resp.Header
	return resp.StatusCode, string(body)
}

func (b *browser) get(path string) (int, string) {
	b.e.t.Helper()
	req, err := http.NewRequest("GET", b.e.srv.URL+path, nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.e.t.Helper()
	req, err := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// csrf reads the CSRF token of the forms of a page.
func (b *browser) csrf(path string) string {
	b.e.t.Helper()
	code, body := b.get(path)
	m := csrfField.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		b.e.t.Fatalf("GET %s = %d without a CSRF token:\n%s", path, code, body)
	}
	return m[1]
}

// agent is a device as the tests play it: its inventory and device key.
type agent struct {
	inv wire.Inventory
	key ed25519.PrivateKey
	id  string
	tag string
}

func laptop(n string) wire.Inventory {
	return wire.Inventory{
		Class:     wire.ClassLaptop,
		Hostname:  "kit-" + n,
		System:    wire.System{Vendor: "LENOVO", Model: "20L7S0XY00", Serial: "PF1" + n, UUID: "4c4c4544-0042-3510-8056-b4c04f4b" + n},
		Baseboard: wire.Baseboard{Serial: "L1HF" + n},
		NICs:      []wire.NIC{{Name: "enp0s31f6", PermanentMAC: "8c:16:45:00:" + n[:2] + ":" + n[2:], Bus: "pci"}},
		Disks:     []wire.Disk{{Name: "nvme0n1", Serial: "S4EVNF0M" + n, Type: wire.DiskNVMe, Bus: "nvme"}},
	}
}

// enrol enrols a new laptop whose identifiers derive from n (four hex
// digits).
func (e *env) enrol(n string) *agent {
	e.t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	a := &agent{inv: laptop(n), key: key}
	_, token, err := e.fleet.CreateEnrollToken(technicianP, fleet.TokenSpec{Class: "laptop", Uses: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	en, err := e.fleet.Enroll(wire.EnrollRequest{
		Token: token, Fingerprint: wire.FingerprintOf(&a.inv), Inventory: a.inv,
		DeviceKey: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	a.id, a.tag = en.Device.ID, en.Device.AssetTag
	return a
}

// ready takes a through a certified wipe and provisioning to ready.
func (e *env) ready(a *agent) {
	e.t.Helper()
	jobs, err := e.fleet.RequestWipes(technicianP, fleet.WipeSpec{Devices: []string{a.id}})
	if err != nil {
		e.t.Fatal(err)
	}
	j := jobs[0]
	e.clock.Add(time.Minute)
	start := e.clock.Now()
	m := certificate.Medium{
		Name: a.inv.Disks[0].Name, Type: a.inv.Disks[0].Type, Serial: a.inv.Disks[0].Serial, CapacityBytes: 1 << 30,
		Method: wire.MethodOverwrite, Category: certificate.CategoryClear, Pattern: "zeros",
		Started: start, Finished: start.Add(time.Minute),
		Verification: certificate.Verification{Method: wire.VerifyFull, Result: "passed", BytesChecked: 1 << 30},
		Result:       certificate.ResultSucceeded,
	}
	c := certificate.Certificate{
		Version: certificate.Version, ID: "cert-" + j.ID, JobID: j.ID,
		Asset: certificate.Asset{
			DeviceID: a.id, Class: "laptop", Vendor: a.inv.System.Vendor, Model: a.inv.System.Model,
			Serial: a.inv.System.Serial, UUID: a.inv.System.UUID,
		},
		Media: []certificate.Medium{m}, Operator: "tech", Destination: "reuse",
		Tool: certificate.Tool{Name: "valise-agent", Version: "test"}, Started: start, Finished: start.Add(time.Minute),
		Result: certificate.ResultSucceeded, PrevHash: j.Args.PrevHash,
	}
	e.clock.Add(2 * time.Minute)
	file, err := certificate.Sign(c, a.key)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := file.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	data, err := json.Marshal(wire.WipeResult{Job: j.ID, OK: true, Certificate: raw})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.fleet.HandleEvent(a.id, wire.Event{Type: wire.EventWipeResult, OK: true, Data: data}); err != nil {
		e.t.Fatal(err)
	}
	// Provisioning is another tool's business: the fixture jumps to it.
	err = e.st.Update(func(tx fleet.Tx) error {
		d, err := tx.Device(a.id)
		if err != nil {
			return err
		}
		d.State = fleet.StateProvisioning
		return tx.PutDevice(d)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.fleet.SetState(adminP, a.id, fleet.StateReady, "provisioned"); err != nil {
		e.t.Fatal(err)
	}
}

// report stores a report of a's agent as ingest would, received now.
func (e *env) report(a *agent, kind wire.Channel, body any, figures ...store.Figure) {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.seq[a.id]++
	now := e.clock.Now()
	r := store.Report{Device: a.id, Seq: e.seq[a.id], Kind: kind, At: now, Received: now, Body: b, Figures: figures}
	if _, err := e.st.CommitReports([]store.Report{r}, []store.Presence{{Device: a.id, Online: true, At: now}}); err != nil {
		e.t.Fatal(err)
	}
}

// kitEnv is an env with a venue, and Kit 07 of two ready laptops.
type kitEnv struct {
	*env
	venue fleet.Venue
	kit   fleet.Kit
	a, b  *agent
}

func newKitEnv(t *testing.T) *kitEnv {
	t.Helper()
	e := newEnv(t)
	k := &kitEnv{env: e}
	var err error
	k.venue, err = e.fleet.CreateVenue(adminP, fleet.Venue{Name: "France Services Baugé", Kind: fleet.VenueFranceServices, Commune: "Baugé-en-Anjou", INSEE: "49018"})
	if err != nil {
		t.Fatal(err)
	}
	k.a, k.b = e.enrol("0a01"), e.enrol("0a02")
	e.ready(k.a)
	e.ready(k.b)
	if k.kit, err = e.fleet.CreateKit(adminP, "Kit 07", k.venue.ID, []string{"chargeur x2", "sacoche"}); err != nil {
		t.Fatal(err)
	}
	if k.kit, err = e.fleet.AddToKit(adminP, k.kit.ID, []string{k.a.id, k.b.id}); err != nil {
		t.Fatal(err)
	}
	return k
}

func (e *env) state(id string) fleet.State {
	e.t.Helper()
	d, err := e.fleet.Device(id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d.State
}

func (e *env) auditHead() uint64 {
	e.t.Helper()
	seq, _, err := e.st.AuditHead()
	if err != nil {
		e.t.Fatal(err)
	}
	return seq
}

func f64(v float64) *float64 { return &v }
