package fleet_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// newWipeEnv is newEnv with a server key, as the server runs it.
func newWipeEnv(t testing.TB) (*env, ed25519.PrivateKey) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valise.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)}
	f, err := fleet.New(fleet.Config{Store: st, Dedupe: st, Now: c.Now, ServerKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, fleet: f, clock: c}, key
}

// agent is a device as the tests play it: its inventory and device key.
type agent struct {
	inv wire.Inventory
	key ed25519.PrivateKey
	id  string
}

func newAgent(t testing.TB, n, disk string) *agent {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &agent{inv: laptop(n, disk), key: key}
}

func (a *agent) pub() string {
	return base64.StdEncoding.EncodeToString(a.key.Public().(ed25519.PublicKey))
}

// enrol enrols a with token, sending its device key.
func (e *env) enrolAgent(t testing.TB, a *agent, token, job string) (fleet.Enrolment, error) {
	t.Helper()
	en, err := e.fleet.Enroll(wire.EnrollRequest{
		Token: token, Fingerprint: wire.FingerprintOf(&a.inv), Inventory: a.inv, DeviceKey: a.pub(), ProvisionJob: job,
	})
	if err == nil {
		a.id = en.Device.ID
	}
	return en, err
}

// cert is the certificate a's agent makes for a wipe job.
func (a *agent) cert(job, prevHash string, start time.Time) certificate.Certificate {
	m := certificate.Medium{
		Name: a.inv.Disks[0].Name, Type: a.inv.Disks[0].Type, Serial: a.inv.Disks[0].Serial, CapacityBytes: 1 << 30,
		Method: wire.MethodOverwrite, Category: certificate.CategoryClear, Pattern: "zeros",
		Started: start, Finished: start.Add(time.Minute),
		Verification: certificate.Verification{Method: wire.VerifyFull, Result: "passed", BytesChecked: 1 << 30},
		Result:       certificate.ResultSucceeded,
	}
	return certificate.Certificate{
		Version: certificate.Version, ID: "cert-" + job, JobID: job,
		Asset: certificate.Asset{
			DeviceID: a.id, Class: "laptop", Vendor: a.inv.System.Vendor, Model: a.inv.System.Model,
			Serial: a.inv.System.Serial, UUID: a.inv.System.UUID,
		},
		Media: []certificate.Medium{m}, Operator: "tech", Destination: "reuse",
		Tool: certificate.Tool{Name: "valise-agent", Version: "test"}, Started: start, Finished: start.Add(time.Minute),
		Result: certificate.ResultSucceeded, PrevHash: prevHash,
	}
}

// signed returns the device-signed file of c, canonical.
func signed(t *testing.T, c certificate.Certificate, key ed25519.PrivateKey) []byte {
	t.Helper()
	f, err := certificate.Sign(c, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func resultEvent(t *testing.T, r wire.WipeResult) wire.Event {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return wire.Event{Type: wire.EventWipeResult, OK: r.OK, Data: b}
}

func progressEvent(t testing.TB, p wire.WipeProgress) wire.Event {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return wire.Event{Type: wire.EventWipeProgress, OK: true, Data: b}
}

func (e *env) state(t *testing.T, id string) fleet.State {
	t.Helper()
	d, err := e.fleet.Device(id)
	if err != nil {
		t.Fatal(err)
	}
	return d.State
}

// wiped enrols a and runs a successful wipe job; it returns the job.
func (e *env) wiped(t *testing.T, a *agent) fleet.WipeJob {
	t.Helper()
	if a.id == "" {
		if _, err := e.enrolAgent(t, a, e.token(t, "laptop", 1), ""); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := e.fleet.RequestWipes(technician, fleet.WipeSpec{Devices: []string{a.id}})
	if err != nil {
		t.Fatal(err)
	}
	j := jobs[0]
	e.clock.Add(time.Minute)
	c := a.cert(j.ID, j.Args.PrevHash, e.clock.Now())
	e.clock.Add(2 * time.Minute)
	if err := e.fleet.HandleEvent(a.id, resultEvent(t, wire.WipeResult{Job: j.ID, OK: true, Certificate: signed(t, c, a.key)})); err != nil {
		t.Fatal(err)
	}
	j, err = e.fleet.WipeJob(j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != fleet.JobSucceeded {
		t.Fatalf("job %s: %s (%s), want succeeded", j.ID, j.State, j.Error)
	}
	return j
}

func TestWipeAndProvisionCycle(t *testing.T) {
	e, key := newWipeEnv(t)
	a := newAgent(t, "0a01", "S4EVNF0M1")
	if _, err := e.enrolAgent(t, a, e.token(t, "laptop", 1), ""); err != nil {
		t.Fatal(err)
	}
	if got := e.state(t, a.id); got != fleet.StateIntake {
		t.Fatalf("after enrolment: %s, want intake", got)
	}
	jobs, err := e.fleet.RequestWipes(technician, fleet.WipeSpec{Devices: []string{a.id}, Method: wire.MethodOverwrite})
	if err != nil {
		t.Fatal(err)
	}
	j := jobs[0]
	want := wire.WipeArgs{Job: j.ID, Method: wire.MethodOverwrite, Verify: wire.VerifyFull, Operator: "tech", Destination: "reuse"}
	if diff := cmp.Diff(want, j.Args); diff != "" {
		t.Errorf("wipe args (-want +got):\n%s", diff)
	}
	if got := e.state(t, a.id); got != fleet.StateWiping {
		t.Fatalf("after the request: %s, want wiping", got)
	}
	if j, err = e.fleet.MarkWipeSent(j.ID); err != nil || j.State != fleet.JobSent {
		t.Fatalf("sent: %v %s", err, j.State)
	}
	for _, p := range []wire.WipeProgress{
		{Job: j.ID, Disk: "nvme0n1", Phase: wire.PhaseErasing, DoneBytes: 1 << 29, TotalBytes: 1 << 30},
		{Job: j.ID, Disk: "nvme0n1", Phase: wire.PhaseVerifying, DoneBytes: 1 << 28, TotalBytes: 1 << 30},
	} {
		if err := e.fleet.HandleEvent(a.id, progressEvent(t, p)); err != nil {
			t.Fatal(err)
		}
	}
	if j, _ = e.fleet.WipeJob(j.ID); j.State != fleet.JobVerifying || len(j.Progress) != 1 || j.Progress[0].Phase != wire.PhaseVerifying {
		t.Fatalf("after progress: %s %+v", j.State, j.Progress)
	}
	e.clock.Add(time.Minute)
	c := a.cert(j.ID, "", e.clock.Now().Add(-time.Minute))
	if err := e.fleet.HandleEvent(a.id, resultEvent(t, wire.WipeResult{Job: j.ID, OK: true, Certificate: signed(t, c, a.key)})); err != nil {
		t.Fatal(err)
	}
	if j, _ = e.fleet.WipeJob(j.ID); j.State != fleet.JobSucceeded || j.Certificate != c.ID {
		t.Fatalf("after the result: %s %q (%s)", j.State, j.Certificate, j.Error)
	}
	if got := e.state(t, a.id); got != fleet.StateWiped {
		t.Fatalf("after the result: %s, want wiped", got)
	}
	rec, file, err := e.fleet.Certificate(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := certificate.Verify(file, certificate.VerifyOptions{ServerKey: key.Public().(ed25519.PublicKey), DeviceKey: a.key.Public().(ed25519.PublicKey)}); err != nil {
		t.Fatalf("stored certificate does not verify offline: %v", err)
	}
	if rec.Category != certificate.CategoryClear || rec.Hash == "" {
		t.Errorf("record: %+v", rec)
	}

	// Provisioning: only the device's own re-enrolment with the bound token ends it.
	pj, secret, err := e.fleet.StartProvision(technician, a.id, "laptop-linux")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.state(t, a.id); got != fleet.StateProvisioning {
		t.Fatalf("after provision: %s", got)
	}
	other := newAgent(t, "0b02", "OTHERDISK")
	if _, err := e.enrolAgent(t, other, secret, pj.ID); !errors.Is(err, fleet.ErrForbidden) {
		t.Fatalf("another machine with the bound token: %v, want forbidden", err)
	}
	reinstalled := &agent{inv: a.inv, id: a.id}
	_, reinstalled.key, _ = ed25519.GenerateKey(nil) // a reinstall makes a new device key
	en, err := e.enrolAgent(t, reinstalled, secret, pj.ID)
	if err != nil {
		t.Fatal(err)
	}
	if en.Device.ID != a.id || en.Device.State != fleet.StateReady {
		t.Fatalf("re-enrolment: device %s state %s, want %s ready", en.Device.ID, en.Device.State, a.id)
	}
	if pj, _ = e.fleet.ProvisionJob(pj.ID); pj.State != fleet.JobSucceeded {
		t.Fatalf("provisioning job: %s (%s)", pj.State, pj.Error)
	}
	if err := e.fleet.Gate(a.id); err != nil {
		t.Fatalf("gate after provisioning: %v", err)
	}

	evs, err := e.fleet.DeviceEvents(a.id)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		s := ev.Action
		if ev.Action == fleet.ActionState {
			var to string
			json.Unmarshal(ev.After, &to)
			s += ":" + to
		}
		actions = append(actions, s)
	}
	wantActions := []string{
		"enrol", "wipe_requested", "state:wiping", "wipe_started", "certificate", "wipe_succeeded", "state:wiped",
		"provision_requested", "state:provisioning", "enrol", "provision_succeeded", "state:ready",
	}
	if diff := cmp.Diff(wantActions, actions); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if _, err := e.fleet.VerifyAudit(); err != nil {
		t.Errorf("audit: %v", err)
	}
}

func TestWipeResultRefused(t *testing.T) {
	tests := []struct {
		name string
		// result builds the agent's result for job j of a.
		result func(t *testing.T, e *env, a *agent, j fleet.WipeJob) wire.WipeResult
		want   string // in the job's error
	}{
		{"agent interrupted", func(t *testing.T, e *env, a *agent, j fleet.WipeJob) wire.WipeResult {
			return wire.WipeResult{Job: j.ID, Error: "interrupted: the agent stopped during the wipe"}
		}, "interrupted"},
		{"signed by another key", func(t *testing.T, e *env, a *agent, j fleet.WipeJob) wire.WipeResult {
			_, k, _ := ed25519.GenerateKey(nil)
			return wire.WipeResult{Job: j.ID, OK: true, Certificate: signed(t, a.cert(j.ID, "", e.clock.Now()), k)}
		}, "device key check failed"},
		{"broken chain", func(t *testing.T, e *env, a *agent, j fleet.WipeJob) wire.WipeResult {
			return wire.WipeResult{Job: j.ID, OK: true, Certificate: signed(t, a.cert(j.ID, strings.Repeat("ab", 32), e.clock.Now()), a.key)}
		}, "chain check failed"},
		{"other hardware", func(t *testing.T, e *env, a *agent, j fleet.WipeJob) wire.WipeResult {
			c := a.cert(j.ID, "", e.clock.Now())
			c.Media[0].Serial = "NOTMINE"
			return wire.WipeResult{Job: j.ID, OK: true, Certificate: signed(t, c, a.key)}
		}, "not one of the device's disks"},
		{"other device", func(t *testing.T, e *env, a *agent, j fleet.WipeJob) wire.WipeResult {
			c := a.cert(j.ID, "", e.clock.Now())
			c.Asset.DeviceID = "dother"
			return wire.WipeResult{Job: j.ID, OK: true, Certificate: signed(t, c, a.key)}
		}, "not " + a0id},
		{"changed after signing", func(t *testing.T, e *env, a *agent, j fleet.WipeJob) wire.WipeResult {
			b := signed(t, a.cert(j.ID, "", e.clock.Now()), a.key)
			return wire.WipeResult{Job: j.ID, OK: true, Certificate: []byte(strings.Replace(string(b), `"tech"`, `"TECH"`, 1))}
		}, "device signature check failed"},
		{"no certificate", func(t *testing.T, e *env, a *agent, j fleet.WipeJob) wire.WipeResult {
			return wire.WipeResult{Job: j.ID, OK: true}
		}, "no certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newWipeEnv(t)
			a := newAgent(t, "0a01", "S4EVNF0M1")
			if _, err := e.enrolAgent(t, a, e.token(t, "laptop", 1), ""); err != nil {
				t.Fatal(err)
			}
			jobs, err := e.fleet.RequestWipes(technician, fleet.WipeSpec{Devices: []string{a.id}})
			if err != nil {
				t.Fatal(err)
			}
			r := tc.result(t, e, a, jobs[0])
			if err := e.fleet.HandleEvent(a.id, resultEvent(t, r)); err != nil {
				t.Fatal(err)
			}
			j, err := e.fleet.WipeJob(jobs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tc.want, a0id, a.id)
			if j.State != fleet.JobFailed || !strings.Contains(j.Error, want) {
				t.Errorf("job: %s %q, want failed with %q", j.State, j.Error, want)
			}
			if got := e.state(t, a.id); got != fleet.StateWipeFailed {
				t.Errorf("device: %s, want wipe_failed", got)
			}
			if certs, _ := e.fleet.Certificates(a.id); len(certs) != 0 {
				t.Errorf("%d certificates stored, want none", len(certs))
			}
			// A failed wipe can be retried.
			e.wiped(t, a)
			if got := e.state(t, a.id); got != fleet.StateWiped {
				t.Errorf("after a retry: %s, want wiped", got)
			}
		})
	}
}

// a0id stands for the agent's device id in expected messages.
const a0id = "<device>"

func TestWipeRequestRefused(t *testing.T) {
	tests := []struct {
		name  string
		by    fleet.Principal
		state fleet.State
		want  error
	}{
		{"mediateur", fleet.Principal{Name: "m", Role: fleet.RoleMediateur}, fleet.StateNeedsWipe, fleet.ErrForbidden},
		{"logistics", fleet.Principal{Name: "l", Role: fleet.RoleLogistics}, fleet.StateNeedsWipe, fleet.ErrForbidden},
		{"on loan", technician, fleet.StateOnLoan, fleet.ErrConflict},
		{"lost", technician, fleet.StateLost, fleet.ErrConflict},
		{"retired", technician, fleet.StateRetired, fleet.ErrConflict},
		{"already wiping", technician, fleet.StateWiping, fleet.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newWipeEnv(t)
			a := newAgent(t, "0a01", "S4EVNF0M1")
			if _, err := e.enrolAgent(t, a, e.token(t, "laptop", 1), ""); err != nil {
				t.Fatal(err)
			}
			forceState(t, e.st, a.id, tc.state)
			before, _, _ := e.st.AuditHead()
			_, err := e.fleet.RequestWipes(tc.by, fleet.WipeSpec{Devices: []string{a.id}})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if got := e.state(t, a.id); got != tc.state {
				t.Errorf("state changed to %s", got)
			}
			if after, _, _ := e.st.AuditHead(); after != before {
				t.Errorf("audit log grew from %d to %d on a refused request", before, after)
			}
		})
	}
}

// forceState writes a device's state straight into the store, as a
// fixture: the fleet would refuse most of these jumps.
func forceState(t *testing.T, st *store.Store, id string, s fleet.State) {
	t.Helper()
	setDevice(t, st, id, func(d *fleet.Device) { d.State = s })
}

func TestSilentWipeExpires(t *testing.T) {
	e, _ := newWipeEnv(t)
	a := newAgent(t, "0a01", "S4EVNF0M1")
	if _, err := e.enrolAgent(t, a, e.token(t, "laptop", 1), ""); err != nil {
		t.Fatal(err)
	}
	jobs, err := e.fleet.RequestWipes(technician, fleet.WipeSpec{Devices: []string{a.id}})
	if err != nil {
		t.Fatal(err)
	}
	id := jobs[0].ID
	if err := e.fleet.HandleEvent(a.id, progressEvent(t, wire.WipeProgress{Job: id, Disk: "nvme0n1", Phase: wire.PhaseErasing, DoneBytes: 1, TotalBytes: 2})); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(59 * time.Minute)
	if j, _ := e.fleet.WipeJob(id); j.State != fleet.JobRunning {
		t.Fatalf("after 59 min: %s, want running", j.State)
	}
	e.clock.Add(time.Minute)
	j, err := e.fleet.WipeJob(id)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != fleet.JobFailed || !strings.Contains(j.Error, "interrupted") {
		t.Fatalf("after an hour of silence: %s %q", j.State, j.Error)
	}
	if got := e.state(t, a.id); got != fleet.StateWipeFailed {
		t.Fatalf("device: %s", got)
	}
	// The agent's own late "interrupted" changes nothing, and success is
	// never recorded for it.
	if err := e.fleet.HandleEvent(a.id, resultEvent(t, wire.WipeResult{Job: id, Error: "interrupted"})); err != nil {
		t.Fatal(err)
	}
	if j, _ := e.fleet.WipeJob(id); j.State != fleet.JobFailed {
		t.Fatalf("after the late result: %s", j.State)
	}
	if active, _ := e.fleet.WipeJobs(true); len(active) != 0 {
		t.Errorf("%d active jobs, want 0", len(active))
	}
}

func TestCommandRefusalFailsJob(t *testing.T) {
	e, _ := newWipeEnv(t)
	a := newAgent(t, "0a01", "S4EVNF0M1")
	if _, err := e.enrolAgent(t, a, e.token(t, "laptop", 1), ""); err != nil {
		t.Fatal(err)
	}
	jobs, err := e.fleet.RequestWipes(technician, fleet.WipeSpec{Devices: []string{a.id}})
	if err != nil {
		t.Fatal(err)
	}
	ev := wire.Event{Type: wire.EventCommandResult, Command: jobs[0].ID, OK: false, Message: "signature: command is not signed by the server's key"}
	if err := e.fleet.HandleEvent(a.id, ev); err != nil {
		t.Fatal(err)
	}
	j, _ := e.fleet.WipeJob(jobs[0].ID)
	if j.State != fleet.JobFailed || !strings.Contains(j.Error, "refused") {
		t.Fatalf("job: %s %q", j.State, j.Error)
	}
	// Once the agent runs a job, a refusal of the same command delivered
	// again (replay protection) does not fail it.
	jobs, _ = e.fleet.RequestWipes(technician, fleet.WipeSpec{Devices: []string{a.id}})
	if err := e.fleet.HandleEvent(a.id, progressEvent(t, wire.WipeProgress{Job: jobs[0].ID, Disk: "nvme0n1", Phase: wire.PhaseErasing, DoneBytes: 1, TotalBytes: 2})); err != nil {
		t.Fatal(err)
	}
	ev.Command, ev.Message = jobs[0].ID, "command refused: command "+jobs[0].ID+" replayed (nonce already used)"
	if err := e.fleet.HandleEvent(a.id, ev); err != nil {
		t.Fatal(err)
	}
	if j, _ := e.fleet.WipeJob(jobs[0].ID); j.State != fleet.JobRunning {
		t.Fatalf("running job after a refused redelivery: %s %q", j.State, j.Error)
	}
	ev.Message = "expired: command expired"
	if err := e.fleet.HandleEvent(a.id, ev); err != nil {
		t.Fatal(err)
	}
	if j, _ := e.fleet.WipeJob(jobs[0].ID); j.State != fleet.JobRunning {
		t.Fatalf("running job after a refusal of a later delivery: %s %q", j.State, j.Error)
	}
	e.fleet.FailWipe(jobs[0].ID, "test", "done with it")
	// Another device cannot answer for it.
	b := newAgent(t, "0b02", "DISKB")
	if _, err := e.enrolAgent(t, b, e.token(t, "laptop", 1), ""); err != nil {
		t.Fatal(err)
	}
	jobs, _ = e.fleet.RequestWipes(technician, fleet.WipeSpec{Devices: []string{a.id}})
	ev.Command, ev.Message = jobs[0].ID, "signature: command is not signed by the server's key"
	if err := e.fleet.HandleEvent(b.id, ev); !errors.Is(err, fleet.ErrForbidden) {
		t.Fatalf("foreign refusal: %v, want forbidden", err)
	}
}

func TestMaintenanceWipeResult(t *testing.T) {
	e, _ := newWipeEnv(t)
	a := newAgent(t, "0a01", "S4EVNF0M1")
	if _, err := e.enrolAgent(t, a, e.token(t, "laptop", 1), ""); err != nil {
		t.Fatal(err)
	}
	c := a.cert("", "", e.clock.Now())
	c.ID = "cert-maint-1"
	if err := e.fleet.HandleEvent(a.id, resultEvent(t, wire.WipeResult{OK: true, Certificate: signed(t, c, a.key)})); err != nil {
		t.Fatal(err)
	}
	if got := e.state(t, a.id); got != fleet.StateWiped {
		t.Fatalf("device: %s, want wiped", got)
	}
	jobs, err := e.fleet.WipeJobs(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].State != fleet.JobSucceeded || jobs[0].Certificate != c.ID || jobs[0].RequestedBy != "tech" {
		t.Fatalf("jobs: %+v", jobs)
	}
	// Handled again (a redelivery, or a replay after a crash): nothing changes.
	head, _, _ := e.st.AuditHead()
	if err := e.fleet.HandleEvent(a.id, resultEvent(t, wire.WipeResult{OK: true, Certificate: signed(t, c, a.key)})); err != nil {
		t.Fatal(err)
	}
	if again, _ := e.fleet.WipeJobs(false); len(again) != 1 {
		t.Errorf("%d jobs after the same result twice", len(again))
	}
	if after, _, _ := e.st.AuditHead(); after != head {
		t.Errorf("the audit log grew from %d to %d on a repeated result", head, after)
	}
	// A second maintenance wipe, offline, cannot know the first's hash:
	// accepted all the same, the link kept in the audit log.
	e.clock.Add(time.Hour)
	c2 := a.cert("", "", e.clock.Now())
	c2.ID = "cert-maint-2"
	if err := e.fleet.HandleEvent(a.id, resultEvent(t, wire.WipeResult{OK: true, Certificate: signed(t, c2, a.key)})); err != nil {
		t.Fatal(err)
	}
	certs, _ := e.fleet.Certificates(a.id)
	if len(certs) != 2 || certs[0].ID != c2.ID {
		t.Fatalf("certificates: %+v", certs)
	}
	evs, _ := e.fleet.DeviceEvents(a.id)
	last := ""
	for _, ev := range evs {
		if ev.Action == fleet.ActionCertificate {
			last = string(ev.After)
		}
	}
	if !strings.Contains(last, certs[1].Hash) {
		t.Errorf("the certificate event %s does not link to the previous certificate %s", last, certs[1].Hash)
	}
}

func TestBoundTokenForOtherDevice(t *testing.T) {
	e, _ := newWipeEnv(t)
	a := newAgent(t, "0a01", "S4EVNF0M1")
	b := newAgent(t, "0b02", "DISKB")
	e.wiped(t, a)
	if _, err := e.enrolAgent(t, b, e.token(t, "laptop", 1), ""); err != nil {
		t.Fatal(err)
	}
	pj, secret, err := e.fleet.StartProvision(technician, a.id, "laptop-linux")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.enrolAgent(t, b, secret, pj.ID); !errors.Is(err, fleet.ErrForbidden) {
		t.Fatalf("b with a's token: %v, want forbidden", err)
	}
	if got := e.state(t, b.id); got != fleet.StateIntake {
		t.Errorf("b: %s, want intake", got)
	}
	if got := e.state(t, a.id); got != fleet.StateProvisioning {
		t.Errorf("a: %s, want provisioning", got)
	}
	// The token was not used up by the refusal: a can still come back.
	if en, err := e.enrolAgent(t, a, secret, pj.ID); err != nil || en.Device.State != fleet.StateReady {
		t.Fatalf("a with its token: %v %s", err, en.Device.State)
	}
}

func TestProvisionRefusedUnlessWiped(t *testing.T) {
	e, _ := newWipeEnv(t)
	a := newAgent(t, "0a01", "S4EVNF0M1")
	if _, err := e.enrolAgent(t, a, e.token(t, "laptop", 1), ""); err != nil {
		t.Fatal(err)
	}
	for _, s := range []fleet.State{fleet.StateIntake, fleet.StateNeedsWipe, fleet.StateWipeFailed} {
		forceState(t, e.st, a.id, s)
		if _, _, err := e.fleet.StartProvision(technician, a.id, "laptop-linux"); !errors.Is(err, fleet.ErrConflict) {
			t.Errorf("from %s: %v, want conflict", s, err)
		}
	}
	// Forced to wiped without a certificate, the gate still refuses.
	forceState(t, e.st, a.id, fleet.StateWiped)
	if _, _, err := e.fleet.StartProvision(technician, a.id, "laptop-linux"); !errors.Is(err, fleet.ErrNotWiped) {
		t.Errorf("wiped without certificate: %v, want the gate closed", err)
	}
}

func TestProvisionResultFailure(t *testing.T) {
	e, _ := newWipeEnv(t)
	a := newAgent(t, "0a01", "S4EVNF0M1")
	e.wiped(t, a)
	pj, _, err := e.fleet.StartProvision(technician, a.id, "laptop-linux")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(wire.ProvisionResult{Job: pj.ID, Error: "apt-get install firefox-esr: exit status 100"})
	if err := e.fleet.HandleEvent(a.id, wire.Event{Type: wire.EventProvisionResult, Data: data}); err != nil {
		t.Fatal(err)
	}
	pj, err = e.fleet.ProvisionJob(pj.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pj.State != fleet.JobFailed || !strings.Contains(pj.Error, "exit status 100") {
		t.Fatalf("job: %s %q", pj.State, pj.Error)
	}
	// The wipe still holds: back to wiped, ready to be provisioned again.
	if got := e.state(t, a.id); got != fleet.StateWiped {
		t.Fatalf("device: %s, want wiped", got)
	}
	if _, _, err := e.fleet.StartProvision(technician, a.id, "laptop-linux"); err != nil {
		t.Fatalf("provision again: %v", err)
	}
}

func TestProgressWrittenEveryFewSeconds(t *testing.T) {
	e, _ := newWipeEnv(t)
	a := newAgent(t, "0a01", "S4EVNF0M1")
	if _, err := e.enrolAgent(t, a, e.token(t, "laptop", 1), ""); err != nil {
		t.Fatal(err)
	}
	jobs, err := e.fleet.RequestWipes(technician, fleet.WipeSpec{Devices: []string{a.id}})
	if err != nil {
		t.Fatal(err)
	}
	id := jobs[0].ID
	send := func(done int64) {
		t.Helper()
		if err := e.fleet.HandleEvent(a.id, progressEvent(t, wire.WipeProgress{Job: id, Disk: "nvme0n1", Phase: wire.PhaseErasing, DoneBytes: done, TotalBytes: 100})); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() int64 {
		t.Helper()
		j, err := e.st.WipeJob(id)
		if err != nil || len(j.Progress) != 1 {
			t.Fatalf("stored job: %+v %v", j, err)
		}
		return j.Progress[0].DoneBytes
	}
	shown := func() int64 {
		t.Helper()
		j, err := e.fleet.WipeJob(id)
		if err != nil || len(j.Progress) != 1 {
			t.Fatalf("job: %+v %v", j, err)
		}
		return j.Progress[0].DoneBytes
	}
	for i := int64(1); i <= 5; i++ {
		send(i)
		e.clock.Add(time.Second)
	}
	if got, want := [2]int64{stored(), shown()}, [2]int64{1, 5}; got != want {
		t.Errorf("stored, shown = %v, want %v", got, want)
	}
	e.clock.Add(10 * time.Second)
	send(20)
	if got, want := [2]int64{stored(), shown()}, [2]int64{20, 20}; got != want {
		t.Errorf("after 10 s: stored, shown = %v, want %v", got, want)
	}
	// A change of phase is written at once.
	if err := e.fleet.HandleEvent(a.id, progressEvent(t, wire.WipeProgress{Job: id, Disk: "nvme0n1", Phase: wire.PhaseVerifying, DoneBytes: 1, TotalBytes: 100})); err != nil {
		t.Fatal(err)
	}
	if j, _ := e.st.WipeJob(id); j.State != fleet.JobVerifying {
		t.Errorf("stored state %s, want verifying", j.State)
	}
	// Another device's progress for this job is refused, even in memory.
	b := newAgent(t, "0b02", "DISKB")
	if _, err := e.enrolAgent(t, b, e.token(t, "laptop", 1), ""); err != nil {
		t.Fatal(err)
	}
	err = e.fleet.HandleEvent(b.id, progressEvent(t, wire.WipeProgress{Job: id, Disk: "nvme0n1", Phase: wire.PhaseVerifying, DoneBytes: 99, TotalBytes: 100}))
	if !errors.Is(err, fleet.ErrForbidden) || shown() != 1 {
		t.Errorf("foreign progress: %v, shown %d", err, shown())
	}
}

func TestProvisionExpires(t *testing.T) {
	e, _ := newWipeEnv(t)
	a := newAgent(t, "0a01", "S4EVNF0M1")
	e.wiped(t, a)
	pj, secret, err := e.fleet.StartProvision(technician, a.id, "laptop-linux")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(7*24*time.Hour - time.Minute)
	if err := e.fleet.ExpireJobs(); err != nil {
		t.Fatal(err)
	}
	if got := e.state(t, a.id); got != fleet.StateProvisioning {
		t.Fatalf("before the token expires: %s", got)
	}
	e.clock.Add(time.Minute)
	if err := e.fleet.ExpireJobs(); err != nil {
		t.Fatal(err)
	}
	if got := e.state(t, a.id); got != fleet.StateWiped {
		t.Fatalf("after the token expired: %s, want wiped", got)
	}
	if pj, _ = e.fleet.ProvisionJob(pj.ID); pj.State != fleet.JobFailed || !strings.Contains(pj.Error, "did not re-enrol") {
		t.Fatalf("job: %s %q", pj.State, pj.Error)
	}
	if _, err := e.enrolAgent(t, a, secret, pj.ID); !errors.Is(err, fleet.ErrTokenGone) {
		t.Fatalf("the expired token: %v", err)
	}
}
