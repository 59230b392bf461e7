package api_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/api"
	"github.com/valise-numerique/valise/server/fleet"
)

// bundler is a provisioner with one profile, laptop-linux, whose bundle
// is the input as JSON: enough to carry the token to the test's agent.
type bundler struct{}

func (bundler) CheckProfile(name, class string) error {
	if name != "laptop-linux" {
		return fmt.Errorf("%w: no profile %q", fleet.ErrNotFound, name)
	}
	if class != wire.ClassLaptop {
		return fmt.Errorf("%w: profile %s is for laptops", fleet.ErrInvalid, name)
	}
	return nil
}

func (bundler) Bundle(profile string, in api.BundleInput) (json.RawMessage, error) {
	return json.Marshal(map[string]string{"profile": profile, "token": in.EnrollToken, "provision_job": in.ProvisionJob, "server": in.ServerURL})
}

// device is a test agent: its inventory and device key.
type device struct {
	inv wire.Inventory
	key ed25519.PrivateKey
	id  string
}

func (e *env) enrolDevice(t *testing.T, serial string) *device {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	d := &device{inv: thinkpad(serial), key: key}
	tok := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassLaptop})
	d.id = e.enrollWith(t, d, tok.Token, "", http.StatusOK).DeviceID
	return d
}

func (e *env) enrollWith(t *testing.T, d *device, token, job string, want int) wire.EnrollResponse {
	t.Helper()
	var resp wire.EnrollResponse
	req := wire.EnrollRequest{
		Token: token, Fingerprint: wire.FingerprintOf(&d.inv), Inventory: d.inv, ProvisionJob: job,
		DeviceKey: base64.StdEncoding.EncodeToString(d.key.Public().(ed25519.PublicKey)),
	}
	var out any
	if want == http.StatusOK {
		out = &resp
	}
	e.doJSON(t, "POST", wire.EnrollPath, "", req, out, want)
	return resp
}

// lastCommand returns the last command published, verified with the
// API's key for device id.
func (e *env) lastCommand(t *testing.T, id string) wire.Command {
	t.Helper()
	e.pub.mu.Lock()
	defer e.pub.mu.Unlock()
	if len(e.pub.msgs) == 0 {
		t.Fatal("nothing published")
	}
	m := e.pub.msgs[len(e.pub.msgs)-1]
	if want := "valise/v1/dev/" + id + "/cmd"; m.topic != want {
		t.Fatalf("published on %s, want %s", m.topic, want)
	}
	cmd, err := wire.VerifyCommand(e.key.Public().(ed25519.PublicKey), m.payload, id, e.clock.Now())
	if err != nil {
		t.Fatalf("command does not verify: %v", err)
	}
	return cmd
}

// certify answers a wipe command as the agent would, through the fleet
// (ingest's OnEvent calls HandleEvent the same way).
func (e *env) certify(t *testing.T, d *device, cmd wire.Command) string {
	t.Helper()
	var args wire.WipeArgs
	if err := json.Unmarshal(cmd.Args, &args); err != nil {
		t.Fatal(err)
	}
	start := e.clock.Now()
	m := certificate.Medium{
		Name: "nvme0n1", Type: wire.DiskNVMe, Serial: d.inv.Disks[0].Serial, CapacityBytes: int64(d.inv.Disks[0].SizeBytes),
		Method: wire.MethodOverwrite, Category: certificate.CategoryClear, Started: start, Finished: start.Add(time.Minute),
		Verification: certificate.Verification{Method: wire.VerifyFull, Result: "passed"}, Result: certificate.ResultSucceeded,
	}
	c := certificate.Certificate{
		Version: certificate.Version, ID: "cert-" + args.Job, JobID: args.Job,
		Asset: certificate.Asset{DeviceID: d.id, Class: "laptop", Serial: d.inv.System.Serial},
		Media: []certificate.Medium{m}, Operator: args.Operator, Destination: args.Destination,
		Tool: certificate.Tool{Name: "valise-agent", Version: "test"}, Started: start, Finished: start.Add(time.Minute),
		Result: certificate.ResultSucceeded, PrevHash: args.PrevHash,
	}
	f, err := certificate.Sign(c, d.key)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := f.Marshal()
	data, _ := json.Marshal(wire.WipeResult{Job: args.Job, OK: true, Certificate: file})
	e.clock.Add(2 * time.Minute)
	if err := e.fleet.HandleEvent(d.id, wire.Event{Type: wire.EventWipeResult, OK: true, Command: cmd.ID, Data: data}); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func TestWipeCycleOverHTTP(t *testing.T) {
	e := newEnv(t)
	d := e.enrolDevice(t, "PF1AAA01")
	_, tech, _ := e.fleet.CreateAPIToken("Camille", fleet.RoleTechnician)

	var jobs []apitype.WipeJob
	e.doJSON(t, "POST", "/api/v1/wipes", tech, apitype.WipeRequest{Devices: []string{"val-0001"}, Verify: wire.VerifySample, Destination: "donation"}, &jobs, http.StatusCreated)
	if len(jobs) != 1 || jobs[0].State != apitype.JobSent || jobs[0].Device != d.id || jobs[0].RequestedBy != "Camille" {
		t.Fatalf("jobs: %+v", jobs)
	}
	cmd := e.lastCommand(t, d.id)
	var args wire.WipeArgs
	json.Unmarshal(cmd.Args, &args)
	want := wire.WipeArgs{Job: jobs[0].ID, Method: wire.MethodAuto, Verify: wire.VerifySample, Operator: "Camille", Destination: "donation"}
	if diff := cmp.Diff(want, args); diff != "" || cmd.Type != wire.CmdWipe || cmd.ID != jobs[0].ID {
		t.Errorf("command %s %s, args (-want +got):\n%s", cmd.Type, cmd.ID, diff)
	}
	if ttl := cmd.ExpiresAt.Sub(cmd.IssuedAt); ttl < 24*time.Hour {
		t.Errorf("a wipe command lives %s; an offline device needs days", ttl)
	}
	var active []apitype.WipeJob
	e.doJSON(t, "GET", "/api/v1/wipes?active=true", tech, nil, &active, http.StatusOK)
	if len(active) != 1 {
		t.Fatalf("active jobs: %+v", active)
	}
	// Wiping twice at once is refused with a clear message.
	code, b := e.do(t, "POST", "/api/v1/wipes", tech, `{"devices":["VAL-0001"]}`)
	if code != http.StatusConflict || !strings.Contains(errorBody(t, b).Message, "VAL-0001 is already being wiped") {
		t.Errorf("second wipe: %d %s", code, b)
	}

	certID := e.certify(t, d, cmd)
	var job apitype.WipeJob
	e.doJSON(t, "GET", "/api/v1/wipes/"+jobs[0].ID, tech, nil, &job, http.StatusOK)
	if job.State != apitype.JobSucceeded || job.Certificate != certID || job.FinishedAt == nil {
		t.Fatalf("job: %+v", job)
	}
	var certs []apitype.CertificateInfo
	e.doJSON(t, "GET", "/api/v1/devices/VAL-0001/certificates", tech, nil, &certs, http.StatusOK)
	if len(certs) != 1 || certs[0].ID != certID || certs[0].Category != certificate.CategoryClear {
		t.Fatalf("certificates: %+v", certs)
	}
	var sk apitype.ServerKey
	e.doJSON(t, "GET", "/api/v1/server-key", "", nil, &sk, http.StatusOK)
	key, _ := base64.StdEncoding.DecodeString(sk.Key)
	code, file := e.do(t, "GET", "/api/v1/certificates/"+certID, tech, "")
	if code != http.StatusOK {
		t.Fatalf("download: %d %s", code, file)
	}
	if _, f, err := certificate.Verify(file, certificate.VerifyOptions{ServerKey: key}); err != nil || f.Hash() != certs[0].Hash {
		t.Fatalf("downloaded certificate: %v", err)
	}
	if !strings.Contains(sk.PEM, "BEGIN PUBLIC KEY") {
		t.Errorf("server key PEM: %q", sk.PEM)
	}
	if code, b := e.do(t, "GET", "/api/v1/certificates/"+certID+"/pdf", tech, ""); code != http.StatusOK || !strings.HasPrefix(string(b), "%PDF-") {
		t.Errorf("pdf: %d %.40q", code, b)
	}

	var pj apitype.ProvisionJob
	e.doJSON(t, "POST", "/api/v1/provisions", tech, apitype.ProvisionRequest{Device: "VAL-0001", Profile: "laptop-linux"}, &pj, http.StatusCreated)
	if pj.State != apitype.JobSent {
		t.Fatalf("provisioning job: %+v", pj)
	}
	cmd = e.lastCommand(t, d.id)
	var pargs wire.ProvisionArgs
	json.Unmarshal(cmd.Args, &pargs)
	var bundle map[string]string
	json.Unmarshal(pargs.Bundle, &bundle)
	if cmd.Type != wire.CmdProvision || pargs.Job != pj.ID || bundle["token"] == "" || bundle["provision_job"] != pj.ID {
		t.Fatalf("provision command %s %+v %v", cmd.Type, pargs, bundle)
	}
	resp := e.enrollWith(t, d, bundle["token"], pj.ID, http.StatusOK)
	if resp.DeviceID != d.id {
		t.Fatalf("re-enrolled as %s", resp.DeviceID)
	}
	e.doJSON(t, "GET", "/api/v1/provisions/"+pj.ID, tech, nil, &pj, http.StatusOK)
	var dev apitype.DeviceDetail
	e.doJSON(t, "GET", "/api/v1/devices/VAL-0001", tech, nil, &dev, http.StatusOK)
	if pj.State != apitype.JobSucceeded || dev.State != string(fleet.StateReady) {
		t.Fatalf("after re-enrolment: job %s %q, device %s", pj.State, pj.Error, dev.State)
	}
	// The token is single-use.
	e.enrollWith(t, d, bundle["token"], pj.ID, http.StatusGone)

	var evs []apitype.Event
	e.doJSON(t, "GET", "/api/v1/devices/VAL-0001/events", tech, nil, &evs, http.StatusOK)
	var actors []string
	for _, ev := range evs {
		actors = append(actors, ev.Action+" by "+ev.Actor)
	}
	for _, want := range []string{"wipe_requested by Camille", "certificate by agent:" + d.id, "provision_requested by Camille", "state by agent:" + d.id} {
		if !slices.Contains(actors, want) {
			t.Errorf("history lacks %q: %v", want, actors)
		}
	}
	var av apitype.AuditVerify
	e.doJSON(t, "GET", "/api/v1/audit/verify", tech, nil, &av, http.StatusOK)
	if !av.OK || av.Events < uint64(len(evs)) {
		t.Errorf("audit verify: %+v", av)
	}
	var all []apitype.Event
	e.doJSON(t, "GET", "/api/v1/audit?device=VAL-0001", tech, nil, &all, http.StatusOK)
	if len(all) != len(evs) {
		t.Errorf("audit?device gave %d events, history %d", len(all), len(evs))
	}
}

// TestNoRouteMakesUnwipedDeviceReady calls every route that changes
// something, as an admin, on a device that was never wiped, in every
// state but ready, and checks it never comes out ready.
func TestNoRouteMakesUnwipedDeviceReady(t *testing.T) {
	for _, s := range fleet.States {
		if s == fleet.StateReady {
			continue
		}
		t.Run(string(s), func(t *testing.T) {
			e := newEnv(t)
			d := e.enrolDevice(t, "PF1AAA01")
			forceState(t, e, d.id, s)
			tok := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassLaptop})
			calls := []struct{ method, path, body string }{
				{"POST", "/api/v1/provisions", `{"device":"VAL-0001","profile":"laptop-linux"}`},
				{"POST", "/api/v1/devices/VAL-0001/certificates/import", "nwipe log"},
				{"POST", "/api/v1/devices/VAL-0001/collect", ""},
				{"POST", "/api/v1/wipes", `{"devices":["VAL-0001"]}`},
			}
			for _, c := range calls {
				e.do(t, c.method, c.path, e.admin, c.body)
			}
			e.enrollWith(t, d, tok.Token, "", http.StatusOK)
			// An agent claiming success without a certificate, or with
			// someone else's, gets nowhere either.
			for _, j := range e.jobs(t) {
				data, _ := json.Marshal(wire.WipeResult{Job: j.ID, OK: true})
				e.fleet.HandleEvent(d.id, wire.Event{Type: wire.EventWipeResult, OK: true, Data: data})
			}
			var dev apitype.DeviceDetail
			e.doJSON(t, "GET", "/api/v1/devices/VAL-0001", e.admin, nil, &dev, http.StatusOK)
			if dev.State == string(fleet.StateReady) || dev.State == string(fleet.StateWiped) {
				t.Fatalf("a device never wiped is %s", dev.State)
			}
			if err := e.fleet.Gate(d.id); err == nil {
				t.Fatal("the gate holds for a device never wiped")
			}
		})
	}
}

func (e *env) jobs(t *testing.T) []apitype.WipeJob {
	t.Helper()
	var jobs []apitype.WipeJob
	e.doJSON(t, "GET", "/api/v1/wipes", e.admin, nil, &jobs, http.StatusOK)
	return jobs
}

func forceState(t *testing.T, e *env, id string, s fleet.State) {
	t.Helper()
	err := e.st.Update(func(tx fleet.Tx) error {
		d, err := tx.Device(id)
		if err != nil {
			return err
		}
		d.State = s
		return tx.PutDevice(d)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWipeRoles(t *testing.T) {
	e := newEnv(t)
	e.enrolDevice(t, "PF1AAA01")
	tokens := map[fleet.Role]string{fleet.RoleAdmin: e.admin}
	for _, r := range []fleet.Role{fleet.RoleMediateur, fleet.RoleLogistics, fleet.RoleTechnician} {
		_, secret, err := e.fleet.CreateAPIToken(string(r), r)
		if err != nil {
			t.Fatal(err)
		}
		tokens[r] = secret
	}
	tech := []fleet.Role{fleet.RoleTechnician, fleet.RoleAdmin}
	staff := []fleet.Role{fleet.RoleLogistics, fleet.RoleTechnician, fleet.RoleAdmin}
	routes := []struct {
		method, path, body string
		allowed            []fleet.Role
	}{
		{"POST", "/api/v1/wipes", `{"devices":["VAL-0001"]}`, tech},
		{"GET", "/api/v1/wipes", "", staff},
		{"GET", "/api/v1/wipes/wnone", "", staff},
		{"GET", "/api/v1/devices/VAL-0001/certificates", "", fleet.Roles},
		{"POST", "/api/v1/devices/VAL-0001/certificates/import", "log", tech},
		{"GET", "/api/v1/certificates/cnone", "", fleet.Roles},
		{"POST", "/api/v1/provisions", `{"device":"VAL-0001","profile":"laptop-linux"}`, tech},
		{"GET", "/api/v1/provisions/pnone", "", staff},
		{"GET", "/api/v1/devices/VAL-0001/events", "", fleet.Roles},
		{"GET", "/api/v1/audit", "", staff},
		{"GET", "/api/v1/audit/verify", "", staff},
	}
	for _, rt := range routes {
		for _, role := range fleet.Roles {
			t.Run(fmt.Sprintf("%s %s as %s", rt.method, rt.path, role), func(t *testing.T) {
				code, b := e.do(t, rt.method, rt.path, tokens[role], rt.body)
				if allowed := slices.Contains(rt.allowed, role); allowed == (code == http.StatusForbidden) {
					t.Errorf("%s got %d %s (allowed: %v)", role, code, b, allowed)
				}
			})
		}
	}
	if code, _ := e.do(t, "GET", "/api/v1/wipes", "", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
}

func TestWipeRequestErrors(t *testing.T) {
	e := newEnv(t)
	e.enrolDevice(t, "PF1AAA01")
	tests := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"no device", `{"devices":[]}`, http.StatusBadRequest, "give 1 to"},
		{"unknown device", `{"devices":["VAL-0099"]}`, http.StatusNotFound, "VAL-0099"},
		{"bad method", `{"devices":["VAL-0001"],"method":"shred"}`, http.StatusBadRequest, "method \"shred\""},
		{"bad verify", `{"devices":["VAL-0001"],"verify":"none"}`, http.StatusBadRequest, "verify"},
		{"bad destination", `{"devices":["VAL-0001"],"destination":"bin"}`, http.StatusBadRequest, "destination"},
		{"unknown field", `{"devices":["VAL-0001"],"force":true}`, http.StatusBadRequest, "force"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, b := e.do(t, "POST", "/api/v1/wipes", e.admin, tc.body)
			if code != tc.code || !strings.Contains(errorBody(t, b).Message, tc.msg) {
				t.Errorf("%d %s, want %d with %q", code, b, tc.code, tc.msg)
			}
		})
	}
	if len(e.jobs(t)) != 0 {
		t.Error("a refused request made a job")
	}
}

func TestImportOverHTTP(t *testing.T) {
	e := newEnv(t)
	_, key, _ := ed25519.GenerateKey(nil)
	inv := thinkpad("PF1AAA02")
	inv.Disks[0].Serial = "VALTEST-LOOP0" // the loop device of the recorded log
	d := &device{inv: inv, key: key}
	tok := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassLaptop})
	d.id = e.enrollWith(t, d, tok.Token, "", http.StatusOK).DeviceID
	raw, err := os.ReadFile("../../internal/certificate/testdata/nwipe-zero.log")
	if err != nil {
		t.Fatal(err)
	}
	code, b := e.do(t, "POST", "/api/v1/devices/VAL-0001/certificates/import", e.admin, string(raw))
	if code != http.StatusCreated {
		t.Fatalf("import: %d %s", code, b)
	}
	var info apitype.CertificateInfo
	if err := json.Unmarshal(b, &info); err != nil || !info.External || info.Device != d.id {
		t.Fatalf("import: %s (%v)", b, err)
	}
	var dev apitype.DeviceDetail
	e.doJSON(t, "GET", "/api/v1/devices/VAL-0001", e.admin, nil, &dev, http.StatusOK)
	if dev.State != string(fleet.StateWiped) {
		t.Errorf("after import: %s", dev.State)
	}
	// A log of another disk is refused, saying which serials.
	other := e.enrolDevice(t, "PF1AAA03")
	code, b = e.do(t, "POST", "/api/v1/devices/"+other.id+"/certificates/import", e.admin, string(raw))
	if code != http.StatusBadRequest || !strings.Contains(errorBody(t, b).Message, "VALTEST-LOOP0") {
		t.Errorf("import for another disk: %d %s", code, b)
	}
}
