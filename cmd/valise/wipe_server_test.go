package main

// The wipe cycle against the real server: the CLI asks, the test plays the
// agent (it reads the signed commands the API publishes and answers with
// events through the real ingest, and re-enrols over HTTP).

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// waitBound bounds every wait of these tests.
const waitBound = 20 * time.Second

// command waits for the n-th command (from 1) the API published to device
// and returns it verified.
func (s *testServer) command(t *testing.T, device string, n int) wire.Command {
	t.Helper()
	topic := wire.Topics{}.Device(device, wire.ChanCmd)
	deadline := time.Now().Add(waitBound)
	for {
		var mine []message
		for _, m := range s.pub.sent() {
			if m.topic == topic {
				mine = append(mine, m)
			}
		}
		if len(mine) >= n {
			cmd, err := wire.VerifyCommand(s.key, mine[n-1].payload, device, s.clock.Now())
			if err != nil {
				t.Fatalf("command %d to %s does not verify: %v", n, device, err)
			}
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("no command %d for %s within %s", n, device, waitBound)
		}
		time.Sleep(time.Millisecond)
	}
}

// event sends a device event through the real ingest at time at.
func (s *testServer) event(t *testing.T, device string, typ, cmd string, data any, at time.Time) {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	s.report(t, device, wire.ChanEvent, &wire.Event{Type: typ, Command: cmd, OK: true, Data: b, At: at}, at)
}

// settled waits until the fleet has acted on every event sent so far: the
// wipe job of id is in state.
func (s *testServer) settled(t *testing.T, job, state string) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for {
		j, err := s.fleet.WipeJob(job)
		if err == nil && j.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: state %q (%v) after %s, want %s; fleet errors: %v", job, j.State, err, waitBound, state, s.eventErrs)
		}
		time.Sleep(time.Millisecond)
	}
}

// t480Certificate is the certificate the T480's agent makes for a job.
func t480Certificate(device string, args wire.WipeArgs, id string, at time.Time) certificate.Certificate {
	c := sampleCertificate(id, args.PrevHash)
	c.JobID, c.Operator, c.SourceVenue, c.Destination = args.Job, args.Operator, args.SourceVenue, args.Destination
	c.Asset.DeviceID, c.Asset.Serial, c.Asset.UUID = device, "PF1K2M3X", "4c4c4544-0042-3510-8052-b4c04f4e3332"
	m := &c.Media[0]
	m.Name, m.Type, m.Model, m.Serial, m.Firmware = "nvme0n1", wire.DiskNVMe, "SAMSUNG MZVLB256HAHQ-000L7", "S41GNX0M512345", "4L7QCXB7"
	c.Started, c.Finished = at.Add(-20*time.Minute), at
	m.Started, m.Finished = c.Started, c.Finished
	return c
}

// runAsync runs the CLI on a goroutine; the result comes on the channel.
func runAsync(t *testing.T, s *testServer, args ...string) <-chan result {
	t.Helper()
	done := make(chan result, 1)
	go func() { done <- runTyped(t, s.URL, s.admin, nil, args...) }()
	return done
}

func await(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(waitBound):
		t.Fatalf("the CLI did not end within %s", waitBound)
		return result{}
	}
}

func TestWipeCycleOnTheServer(t *testing.T) {
	s := newTestServer(t)
	id := s.enroll(t, "laptop", "t480.inventory.json", testNow.Add(-3*24*time.Hour))
	s.clock.Set(testNow)

	// A device never wiped cannot be provisioned.
	r := runCLI(t, s.URL, s.admin, "provision", "VAL-0001", "--profile", "laptop-linux")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "valise: ") {
		t.Fatalf("provision before a wipe: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}

	// wipe --wait while the agent works.
	done := runAsync(t, s, "wipe", "VAL-0001", "--yes", "--wait", "--method", "overwrite", "--destination", "donation")
	cmd := s.command(t, id, 1)
	var args wire.WipeArgs
	if cmd.Type != wire.CmdWipe || json.Unmarshal(cmd.Args, &args) != nil {
		t.Fatalf("command %s %s, want a wipe", cmd.Type, cmd.Args)
	}
	if args.Method != wire.MethodOverwrite || args.Destination != "donation" || args.Operator == "" {
		t.Errorf("wipe args %+v: want overwrite, donation, an operator", args)
	}
	const total = 256060514304
	s.event(t, id, wire.EventWipeProgress, cmd.ID, wire.WipeProgress{Job: args.Job, Disk: "nvme0n1", Phase: wire.PhaseErasing,
		DoneBytes: total / 2, TotalBytes: total, RateBps: 1.5e9}, testNow.Add(90*time.Second))
	s.settled(t, args.Job, apitype.JobRunning)
	golden(t, "server_wipe_status_running", ok(t, s, "wipe", "status", "--active"))

	certAt := testNow.Add(20 * time.Minute)
	file, err := certificate.Sign(t480Certificate(id, args, "c-t480-1", certAt), deviceKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := file.Marshal()
	s.event(t, id, wire.EventWipeResult, cmd.ID, wire.WipeResult{Job: args.Job, OK: true, Certificate: raw}, certAt)
	r = await(t, done)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || r.stderr != "" || lines[0] != "VAL-0001  waiting for the device to start (sent)" ||
		lines[len(lines)-1] != "Wiped and certified: VAL-0001 (certificate c-t480-1)." {
		t.Fatalf("wipe --wait: exit %d, stderr %q, stdout:\n%s", r.code, r.stderr, r.stdout)
	}
	golden(t, "server_wipe_status", ok(t, s, "wipe", "status"))
	golden(t, "server_certificate_show", ok(t, s, "certificate", "show", "VAL-0001"))
	if list := strings.Fields(ok(t, s, "certificate", "list", "VAL-0001")); len(list) < 15 || strings.Join(list[8:15], " ") != "c-t480-1 2026-11-23 14:50 succeeded overwrite clear "+args.Job {
		t.Errorf("certificate list:\n%s", list)
	}

	// The stored file verifies offline with the key the server serves.
	dir := t.TempDir()
	certPath := filepath.Join(dir, "VAL-0001.json")
	if err := os.WriteFile(certPath, []byte(ok(t, s, "certificate", "show", "c-t480-1", "--json")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := ok(t, s, "certificate", "show", "VAL-0001", "--pdf", filepath.Join(dir, "c.pdf")); !strings.HasPrefix(out, "Wrote certificate c-t480-1 to ") {
		t.Errorf("--pdf printed:\n%s", out)
	}
	for _, verify := range [][]string{{"--server", s.URL}, {"--server-key", writeTemp(t, dir, "server.pem", pemKey(t, s.key))}} {
		out := ok(t, s, append([]string{"certificate", "verify", certPath}, verify...)...)
		if !strings.HasSuffix(out, "Valid.\n") || strings.Count(out, "✓") != 5 {
			t.Errorf("verify %v:\n%s", verify, out)
		}
	}
	if pdf, err := os.ReadFile(filepath.Join(dir, "c.pdf")); err != nil || !strings.HasPrefix(string(pdf), "%PDF-") || !strings.HasSuffix(strings.TrimSpace(string(pdf)), "%%EOF") {
		t.Errorf("--pdf wrote %d bytes that are not a PDF (%v)", len(pdf), err)
	}

	// Provisioning: the device re-enrols with the token of its bundle and
	// becomes ready.
	done = runAsync(t, s, "provision", "VAL-0001", "--profile", "laptop-linux", "--wait")
	cmd = s.command(t, id, 2)
	var pargs wire.ProvisionArgs
	var bundle struct{ Token, Job string }
	if cmd.Type != wire.CmdProvision || json.Unmarshal(cmd.Args, &pargs) != nil || json.Unmarshal(pargs.Bundle, &bundle) != nil {
		t.Fatalf("command %s %s, want a provision with a bundle", cmd.Type, cmd.Args)
	}
	inv := fixture[wire.Inventory](t, "t480.inventory.json")
	s.clock.Set(testNow.Add(time.Hour))
	if got := s.enrollWith(t, wire.EnrollRequest{Token: bundle.Token, ProvisionJob: bundle.Job, Fingerprint: wire.FingerprintOf(inv),
		Inventory: *inv, AgentVersion: "test"}); got != id {
		t.Fatalf("re-enrolled as %s, want %s", got, id)
	}
	r = await(t, done)
	if r.code != 0 || !strings.HasSuffix(r.stdout, "VAL-0001  re-enrolled: ready\nVAL-0001 is provisioned with laptop-linux and ready.\n") {
		t.Fatalf("provision --wait: exit %d, stderr %q, stdout:\n%s", r.code, r.stderr, r.stdout)
	}
	var d apitype.DeviceDetail
	if err := json.Unmarshal([]byte(ok(t, s, "devices", "show", "VAL-0001", "--json")), &d); err != nil || d.State != "ready" {
		t.Errorf("device state %q (%v), want ready", d.State, err)
	}
	golden(t, "server_devices_lifecycle", ok(t, s, "devices", "history", "VAL-0001"))
	if len(s.eventErrs) > 0 {
		t.Errorf("the fleet refused events: %v", s.eventErrs)
	}
}

func TestWipeFailureOnTheServer(t *testing.T) {
	s := newTestServer(t)
	id := s.enroll(t, "laptop", "t480.inventory.json", testNow.Add(-3*24*time.Hour))
	s.clock.Set(testNow)
	done := runAsync(t, s, "wipe", "VAL-0001", "--yes", "--wait")
	cmd := s.command(t, id, 1)
	var args wire.WipeArgs
	json.Unmarshal(cmd.Args, &args)
	s.event(t, id, wire.EventWipeResult, cmd.ID, wire.WipeResult{Job: args.Job, Error: "nvme0n1: write at 1048576: input/output error"}, testNow.Add(time.Minute))
	r := await(t, done)
	if want := "valise: VAL-0001: wipe failed: nvme0n1: write at 1048576: input/output error\n"; r.code != 1 || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", r.code, r.stderr, want)
	}
	if !strings.HasSuffix(r.stdout, "VAL-0001  failed: nvme0n1: write at 1048576: input/output error\n1 of 1 wipe failed.\n") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	// A failed wipe can be retried; the device cannot be provisioned.
	r = runCLI(t, s.URL, s.admin, "provision", "VAL-0001", "--profile", "laptop-linux")
	if r.code != 1 {
		t.Errorf("provision after a failed wipe: exit %d", r.code)
	}
	if r := runCLI(t, s.URL, s.admin, "wipe", "VAL-0001", "--yes"); r.code != 0 {
		t.Errorf("retry: exit %d, %s", r.code, r.stderr)
	}
}

func TestCertificateImportOnTheServer(t *testing.T) {
	s := newTestServer(t)
	// The laptop's disk is the loop device the recorded nwipe run wiped.
	inv := fixture[wire.Inventory](t, "t480.inventory.json")
	inv.Disks[0].Serial = "VALTEST-LOOP0"
	s.enrollInventory(t, "laptop", inv, testNow.Add(-3*24*time.Hour))
	s.enroll(t, "laptop", "elitebook.inventory.json", testNow.Add(-3*24*time.Hour))
	s.clock.Set(testNow)
	logs := filepath.Join("..", "..", "internal", "certificate", "testdata")

	out := ok(t, s, "certificate", "import", "VAL-0001", filepath.Join(logs, "nwipe-zero.log"))
	golden(t, "server_certificate_import", out)
	show := ok(t, s, "certificate", "show", "VAL-0001")
	if flat := strings.Join(strings.Fields(show), " "); !strings.Contains(flat, "Evidence external: nwipe 0.33 log") ||
		!strings.Contains(flat, "serial VALTEST-LOOP0") || !strings.Contains(flat, "(the server's: no device signed imported evidence)") {
		t.Errorf("show does not present the external evidence:\n%s", show)
	}
	var d apitype.DeviceDetail
	if err := json.Unmarshal([]byte(ok(t, s, "devices", "show", "VAL-0001", "--json")), &d); err != nil || d.State != "wiped" {
		t.Errorf("state %q (%v) after the import, want wiped", d.State, err)
	}

	// The log wiped no disk of the EliteBook.
	r := runCLI(t, s.URL, s.admin, "certificate", "import", "VAL-0002", filepath.Join(logs, "nwipe-zero.log"))
	if r.code != 1 || !strings.Contains(r.stderr, "VALTEST-LOOP0") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("import for another device: exit %d, stderr %q; want 1 and a line naming the serial", r.code, r.stderr)
	}
}
