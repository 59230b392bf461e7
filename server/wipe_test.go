package server_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server"
)

// client calls the API with a bearer token.
type client struct {
	t     *testing.T
	base  string
	token string
}

// do sends in as JSON (or raw bytes) and decodes the answer into out when
// the status is want.
func (c client) do(method, path string, in, out any, want int) []byte {
	c.t.Helper()
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			c.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("decode %s: %v", b, err)
		}
	}
	return b
}

// testAgent plays a device's agent with paho: it enrols with a device key,
// receives its commands and publishes events.
type testAgent struct {
	t      *testing.T
	inv    wire.Inventory
	key    ed25519.PrivateKey
	en     wire.EnrollResponse
	topics wire.Topics
	cl     paho.Client
	cmds   chan []byte
	seq    uint64
}

func enrolAgent(t *testing.T, base, token, job string, inv wire.Inventory, key ed25519.PrivateKey) wire.EnrollResponse {
	t.Helper()
	var en wire.EnrollResponse
	client{t: t, base: base}.do("POST", wire.EnrollPath, wire.EnrollRequest{
		Token: token, Fingerprint: wire.FingerprintOf(&inv), Inventory: inv, AgentVersion: "test", ProvisionJob: job,
		DeviceKey: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
	}, &en, http.StatusOK)
	return en
}

func newTestAgent(t *testing.T, base, token string, inv wire.Inventory) *testAgent {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &testAgent{t: t, inv: inv, key: key, cmds: make(chan []byte, 8)}
	a.en = enrolAgent(t, base, token, "", inv, key)
	a.topics = wire.Topics{Prefix: a.en.TopicPrefix}
	opts := paho.NewClientOptions().AddBroker(a.en.MQTTURL).SetClientID(a.en.DeviceID).
		SetUsername(a.en.Username).SetPassword(a.en.Password).SetCleanSession(false).SetProtocolVersion(4).
		SetConnectTimeout(wait).SetAutoReconnect(false)
	a.cl = paho.NewClient(opts)
	if tk := a.cl.Connect(); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("connect: %v", tk.Error())
	}
	t.Cleanup(func() { a.cl.Disconnect(100) })
	if tk := a.cl.Subscribe(a.topics.Device(a.en.DeviceID, wire.ChanCmd), 1, func(_ paho.Client, m paho.Message) { a.cmds <- m.Payload() }); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("subscribe: %v", tk.Error())
	}
	return a
}

// command waits for the next command and verifies it with the key the
// agent got at enrolment.
func (a *testAgent) command() wire.Command {
	a.t.Helper()
	select {
	case payload := <-a.cmds:
		key, err := base64.StdEncoding.DecodeString(a.en.CommandKey)
		if err != nil {
			a.t.Fatal(err)
		}
		cmd, err := wire.VerifyCommand(ed25519.PublicKey(key), payload, a.en.DeviceID, time.Now())
		if err != nil {
			a.t.Fatalf("command does not verify: %v", err)
		}
		return cmd
	case <-time.After(wait):
		a.t.Fatal("no command arrived")
	}
	return wire.Command{}
}

// event publishes an event and returns once the broker acknowledged it,
// that is once it is stored.
func (a *testAgent) event(typ string, data any) {
	a.t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		a.t.Fatal(err)
	}
	a.seq++
	env, err := wire.NewEnvelope(a.en.DeviceID, a.seq, time.Now().UTC(), wire.ChanEvent, wire.Event{Type: typ, OK: true, Data: raw, At: time.Now().UTC()})
	if err != nil {
		a.t.Fatal(err)
	}
	payload, err := wire.Encode(env)
	if err != nil {
		a.t.Fatal(err)
	}
	if tk := a.cl.Publish(a.topics.Device(a.en.DeviceID, wire.ChanEvent), 1, false, payload); !tk.WaitTimeout(wait) || tk.Error() != nil {
		a.t.Fatalf("publish: %v", tk.Error())
	}
}

// certificate is what the agent signs after wiping for args.
func (a *testAgent) certificate(args wire.WipeArgs, start time.Time) []byte {
	a.t.Helper()
	d := a.inv.Disks[0]
	m := certificate.Medium{
		Name: d.Name, Type: d.Type, Model: d.Model, Serial: d.Serial, CapacityBytes: int64(d.SizeBytes),
		Method: wire.MethodOverwrite, Category: certificate.CategoryClear, Pattern: "zeros",
		Started: start, Finished: start.Add(time.Second),
		Verification: certificate.Verification{Method: wire.VerifyFull, Result: "passed", BytesChecked: int64(d.SizeBytes)},
		Result:       certificate.ResultSucceeded,
	}
	c := certificate.Certificate{
		Version: certificate.Version, ID: "cert-" + args.Job, JobID: args.Job,
		Asset: certificate.Asset{
			DeviceID: a.en.DeviceID, AssetTag: a.en.AssetTag, Class: a.en.Class,
			Vendor: a.inv.System.Vendor, Model: a.inv.System.Model, Serial: a.inv.System.Serial, UUID: a.inv.System.UUID,
		},
		Media: []certificate.Medium{m}, Operator: args.Operator, SourceVenue: args.SourceVenue, Destination: args.Destination,
		Tool: certificate.Tool{Name: "valise-agent", Version: "test"}, Started: start, Finished: start.Add(time.Second),
		Result: certificate.ResultSucceeded, PrevHash: args.PrevHash,
	}
	f, err := certificate.Sign(c, a.key)
	if err != nil {
		a.t.Fatal(err)
	}
	b, err := f.Marshal()
	if err != nil {
		a.t.Fatal(err)
	}
	return b
}

// waitJob polls a wipe job until it ends, within wait.
func waitJob(t *testing.T, c client, id string) apitype.WipeJob {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var j apitype.WipeJob
		c.do("GET", "/api/v1/wipes/"+id, nil, &j, http.StatusOK)
		if j.State == apitype.JobSucceeded || j.State == apitype.JobFailed || time.Now().After(deadline) {
			return j
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWipeCycle runs the remote wipe of a device through the server and
// its embedded broker: the test plays the agent.
func TestWipeCycle(t *testing.T) {
	dir := t.TempDir()
	s, _ := startServer(t, server.Config{
		DataDir:     dir,
		KitWiFiSSID: "Valise-Kit-07", KitWiFiKey: "correct horse battery",
	})
	base := "http://" + s.HTTPAddr()
	admin := client{t: t, base: base, token: readToken(t, dir)}
	var tok apitype.EnrollToken
	admin.do("POST", "/api/v1/venues", apitype.VenueRequest{Name: "France Services Mauriac", Kind: apitype.VenueFranceServices, Commune: "Mauriac", INSEE: "15120"}, nil, http.StatusCreated)
	admin.do("POST", "/api/v1/enroll-tokens", apitype.EnrollTokenRequest{Class: wire.ClassLaptop, Venue: "france services mauriac"}, &tok, http.StatusCreated)
	a := newTestAgent(t, base, tok.Token, fixtureInventory())

	var jobs []apitype.WipeJob
	admin.do("POST", "/api/v1/wipes", apitype.WipeRequest{Devices: []string{a.en.AssetTag}}, &jobs, http.StatusCreated)
	cmd := a.command()
	var args wire.WipeArgs
	if err := json.Unmarshal(cmd.Args, &args); err != nil || cmd.Type != wire.CmdWipe || args.Job != jobs[0].ID {
		t.Fatalf("command %s %+v %v", cmd.Type, args, err)
	}
	if args.Operator != "admin" || args.SourceVenue != "France Services Mauriac" || args.Destination != "reuse" {
		t.Errorf("args: %+v", args)
	}
	began := time.Now().UTC()
	a.event(wire.EventWipeProgress, wire.WipeProgress{Job: args.Job, Disk: "nvme0n1", Phase: wire.PhaseErasing, DoneBytes: 1 << 20, TotalBytes: 2 << 20})
	a.event(wire.EventWipeResult, wire.WipeResult{Job: args.Job, OK: true, Certificate: a.certificate(args, began)})
	j := waitJob(t, admin, args.Job)
	if j.State != apitype.JobSucceeded || j.Certificate == "" {
		t.Fatalf("job: %+v", j)
	}
	var dev apitype.DeviceDetail
	admin.do("GET", "/api/v1/devices/"+a.en.AssetTag, nil, &dev, http.StatusOK)
	if dev.State != "wiped" {
		t.Fatalf("device: %s", dev.State)
	}

	// The countersigned certificate verifies offline with the server key.
	var sk apitype.ServerKey
	client{t: t, base: base}.do("GET", "/api/v1/server-key", nil, &sk, http.StatusOK)
	key, _ := base64.StdEncoding.DecodeString(sk.Key)
	if sk.Key != a.en.CommandKey {
		t.Errorf("server key %s, command key %s", sk.Key, a.en.CommandKey)
	}
	file := admin.do("GET", "/api/v1/certificates/"+j.Certificate, nil, nil, http.StatusOK)
	c, _, err := certificate.Verify(file, certificate.VerifyOptions{ServerKey: key, DeviceKey: a.key.Public().(ed25519.PublicKey)})
	if err != nil || c.Asset.DeviceID != a.en.DeviceID {
		t.Fatalf("certificate: %v", err)
	}
	bad := bytes.Replace(file, []byte(`"reuse"`), []byte(`"reusE"`), 1)
	if _, _, err := certificate.Verify(bad, certificate.VerifyOptions{ServerKey: key}); err == nil {
		t.Fatal("a changed certificate verifies")
	}

	// A second wipe chains to the first certificate.
	admin.do("POST", "/api/v1/wipes", apitype.WipeRequest{Devices: []string{a.en.DeviceID}}, &jobs, http.StatusCreated)
	cmd = a.command()
	json.Unmarshal(cmd.Args, &args)
	var certs []apitype.CertificateInfo
	admin.do("GET", "/api/v1/devices/"+a.en.DeviceID+"/certificates", nil, &certs, http.StatusOK)
	if args.PrevHash == "" || args.PrevHash != certs[0].Hash {
		t.Fatalf("prev_hash %q, latest certificate %q", args.PrevHash, certs[0].Hash)
	}
	// The agent dies mid-wipe and says so when it is back: failed, and retried.
	a.event(wire.EventWipeProgress, wire.WipeProgress{Job: args.Job, Disk: "nvme0n1", Phase: wire.PhaseErasing, DoneBytes: 1, TotalBytes: 2})
	a.event(wire.EventWipeResult, wire.WipeResult{Job: args.Job, Error: "interrupted: the agent stopped during the wipe"})
	if j := waitJob(t, admin, args.Job); j.State != apitype.JobFailed || !strings.Contains(j.Error, "interrupted") {
		t.Fatalf("interrupted job: %+v", j)
	}
	admin.do("GET", "/api/v1/devices/"+a.en.DeviceID, nil, &dev, http.StatusOK)
	if dev.State != "wipe_failed" {
		t.Fatalf("device after an interrupted wipe: %s", dev.State)
	}
	admin.do("POST", "/api/v1/wipes", apitype.WipeRequest{Devices: []string{a.en.DeviceID}}, &jobs, http.StatusCreated)
	cmd = a.command()
	json.Unmarshal(cmd.Args, &args)
	a.event(wire.EventWipeResult, wire.WipeResult{Job: args.Job, OK: true, Certificate: a.certificate(args, time.Now().UTC())})
	if j := waitJob(t, admin, args.Job); j.State != apitype.JobSucceeded {
		t.Fatalf("retried job: %+v", j)
	}

	// Nothing made it ready: that takes provisioning.
	admin.do("GET", "/api/v1/devices/"+a.en.DeviceID, nil, &dev, http.StatusOK)
	if dev.State != "wiped" {
		t.Fatalf("device: %s", dev.State)
	}
	var pj apitype.ProvisionJob
	admin.do("POST", "/api/v1/provisions", apitype.ProvisionRequest{Device: a.en.AssetTag, Profile: "laptop-linux"}, &pj, http.StatusCreated)
	cmd = a.command()
	var pargs wire.ProvisionArgs
	if err := json.Unmarshal(cmd.Args, &pargs); err != nil || cmd.Type != wire.CmdProvision || pargs.Job != pj.ID {
		t.Fatalf("provision command %s %+v %v", cmd.Type, pargs, err)
	}
	var bundle struct {
		Enroll struct {
			Server, Token string
			ProvisionJob  string `json:"provision_job"`
		}
		WiFi []struct{ SSID string }
	}
	if err := json.Unmarshal(pargs.Bundle, &bundle); err != nil || bundle.Enroll.Token == "" || bundle.Enroll.Server != base {
		t.Fatalf("bundle: %s (%v)", pargs.Bundle, err)
	}
	if len(bundle.WiFi) == 0 || bundle.WiFi[0].SSID != "Valise-Kit-07" {
		t.Errorf("bundle Wi-Fi: %+v", bundle.WiFi)
	}
	// The reinstalled device comes back with the bundle's token.
	_, newKey, _ := ed25519.GenerateKey(nil)
	en := enrolAgent(t, base, bundle.Enroll.Token, bundle.Enroll.ProvisionJob, a.inv, newKey)
	if en.DeviceID != a.en.DeviceID || en.AssetTag != a.en.AssetTag {
		t.Fatalf("re-enrolled as %s %s", en.DeviceID, en.AssetTag)
	}
	admin.do("GET", "/api/v1/provisions/"+pj.ID, nil, &pj, http.StatusOK)
	admin.do("GET", "/api/v1/devices/"+a.en.DeviceID, nil, &dev, http.StatusOK)
	if pj.State != apitype.JobSucceeded || dev.State != "ready" {
		t.Fatalf("after re-enrolment: job %s %q, device %s", pj.State, pj.Error, dev.State)
	}
	var av apitype.AuditVerify
	admin.do("GET", "/api/v1/audit/verify", nil, &av, http.StatusOK)
	if !av.OK {
		t.Fatalf("audit: %+v", av)
	}
	var evs []apitype.Event
	admin.do("GET", "/api/v1/devices/"+a.en.DeviceID+"/events", nil, &evs, http.StatusOK)
	if len(evs) < 10 || evs[0].Action != "enrol" {
		t.Errorf("history: %d events, first %+v", len(evs), evs[0])
	}
}
