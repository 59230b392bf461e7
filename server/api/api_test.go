package api_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/api"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// publisher records what the API publishes.
type publisher struct {
	mu   sync.Mutex
	msgs []published
}

type published struct {
	topic   string
	payload []byte
}

func (p *publisher) Publish(topic string, payload []byte, retain bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, published{topic, bytes.Clone(payload)})
	return nil
}

type env struct {
	srv   *httptest.Server
	st    *store.Store
	fleet *fleet.Fleet
	clock *clock
	pub   *publisher
	key   ed25519.PrivateKey
	admin string
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with tune changing the API's configuration first.
func newEnvWith(t *testing.T, tune func(cfg *api.Config, st *store.Store)) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "valise.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleet.New(fleet.Config{Store: st, Dedupe: st, Telemetry: st, Now: c.Now, ServerKey: key})
	if err != nil {
		t.Fatal(err)
	}
	var admin string
	if _, err := f.BootstrapAdmin(func(s string) error { admin = s; return nil }); err != nil {
		t.Fatal(err)
	}
	pub := &publisher{}
	cfg := api.Config{
		Fleet: f, Telemetry: st, Health: st, Publisher: pub, CommandKey: key, Provisioner: bundler{},
		PublicURL: "http://valise.test:8080", MQTTURL: "tcp://valise.test:1883", Now: c.Now,
	}
	if tune != nil {
		tune(&cfg, st)
	}
	a, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &env{srv: srv, st: st, fleet: f, clock: c, pub: pub, key: key, admin: admin}
}

// do sends a request and returns the status and body.
func (e *env) do(t *testing.T, method, path, token string, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if raw, ok := strings.CutPrefix(token, "raw:"); ok {
		req.Header.Set("Authorization", raw)
	} else if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// doJSON sends v as JSON and decodes a 2xx answer into out.
func (e *env) doJSON(t *testing.T, method, path, token string, in, out any, want int) {
	t.Helper()
	body := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	code, b := e.do(t, method, path, token, body)
	if code != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
	}
}

func (e *env) enrollToken(t *testing.T, req apitype.EnrollTokenRequest) apitype.EnrollToken {
	t.Helper()
	var tok apitype.EnrollToken
	e.doJSON(t, "POST", "/api/v1/enroll-tokens", e.admin, req, &tok, http.StatusCreated)
	return tok
}

func (e *env) enroll(t *testing.T, token string, inv wire.Inventory) wire.EnrollResponse {
	t.Helper()
	var resp wire.EnrollResponse
	e.doJSON(t, "POST", wire.EnrollPath, "", wire.EnrollRequest{Token: token, Fingerprint: wire.FingerprintOf(&inv), Inventory: inv}, &resp, http.StatusOK)
	return resp
}

func thinkpad(serial string) wire.Inventory {
	return wire.Inventory{
		Class:    wire.ClassLaptop,
		Hostname: "kit07-" + strings.ToLower(serial),
		System:   wire.System{Vendor: "LENOVO", Model: "ThinkPad T480", Serial: serial},
		NICs:     []wire.NIC{{Name: "enp0s31f6", PermanentMAC: "8c:16:45:12:34:" + strings.ToLower(serial[len(serial)-2:]), Bus: "pci"}},
		Disks:    []wire.Disk{{Name: "nvme0n1", Serial: "S4EW" + serial, Type: wire.DiskNVMe, Bus: "nvme", SizeBytes: 256e9}},
	}
}

// errorBody decodes an error answer, failing if it has not the shape.
func errorBody(t *testing.T, b []byte) apitype.ErrorDetail {
	t.Helper()
	var eb apitype.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
		t.Fatalf("error body %s does not have the error shape (%v)", b, err)
	}
	return eb.Error
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	_, mediateur, err := e.fleet.CreateAPIToken("Awa", fleet.RoleMediateur)
	if err != nil {
		t.Fatal(err)
	}
	big := `{"class":"laptop","kit":"` + strings.Repeat("x", 2<<20) + `"}`
	tests := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
		message                         string // substring
	}{
		{"no token", "GET", "/api/v1/devices", "", "", 401, apitype.CodeUnauthorized, "missing bearer token"},
		{"bad token", "GET", "/api/v1/devices", "vat_wrong", "", 401, apitype.CodeUnauthorized, "unknown API token"},
		{"not a bearer", "GET", "/api/v1/devices", "raw:Basic YWRtaW46YWRtaW4=", "", 401, apitype.CodeUnauthorized, "missing bearer token"},
		{"role may not", "POST", "/api/v1/enroll-tokens", mediateur, `{"class":"laptop"}`, 403, apitype.CodeForbidden, "mediateur"},
		{"unknown device", "GET", "/api/v1/devices/VAL-0099", e.admin, "", 404, apitype.CodeNotFound, "no device matches VAL-0099"},
		{"unknown device history", "GET", "/api/v1/devices/VAL-0099/history?metric=battery_health", e.admin, "", 404, apitype.CodeNotFound, "VAL-0099"},
		{"unknown route", "GET", "/api/v1/nothing", e.admin, "", 404, apitype.CodeNotFound, "no route"},
		{"malformed JSON", "POST", "/api/v1/enroll-tokens", e.admin, `{"class":`, 400, apitype.CodeBadRequest, "body"},
		{"unknown field", "POST", "/api/v1/enroll-tokens", e.admin, `{"class":"laptop","colour":"red"}`, 400, apitype.CodeBadRequest, "colour"},
		{"trailing data", "POST", "/api/v1/enroll-tokens", e.admin, `{"class":"laptop"} {}`, 400, apitype.CodeBadRequest, "trailing"},
		{"empty body", "POST", "/api/v1/enroll-tokens", e.admin, ``, 400, apitype.CodeBadRequest, "empty"},
		{"too large", "POST", "/api/v1/enroll-tokens", e.admin, big, 413, apitype.CodeTooLarge, "limit"},
		{"bad class", "POST", "/api/v1/enroll-tokens", e.admin, `{"class":"phone"}`, 400, apitype.CodeBadRequest, "phone"},
		{"bad expiry", "POST", "/api/v1/enroll-tokens", e.admin, `{"class":"laptop","expires":"soon"}`, 400, apitype.CodeBadRequest, "expires"},
		{"bad filter", "GET", "/api/v1/devices?state=broken", e.admin, "", 400, apitype.CodeBadRequest, "broken"},
		{"unknown enrolment token", "POST", wire.EnrollPath, "", `{"token":"vet_nope","fingerprint":{},"inventory":{"class":"laptop"}}`, 401, apitype.CodeUnauthorized, "unknown enrolment token"},
		{"enrolment too large", "POST", wire.EnrollPath, "", `{"token":"vet_x","inventory":{"hostname":"` + strings.Repeat("h", 600<<10) + `"}}`, 413, apitype.CodeTooLarge, "512 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := e.do(t, tt.method, tt.path, tt.token, tt.body)
			if code != tt.status {
				t.Fatalf("status = %d (%s), want %d", code, b, tt.status)
			}
			got := errorBody(t, b)
			if got.Code != tt.code || !strings.Contains(got.Message, tt.message) {
				t.Errorf("error = %+v, want code %s and a message with %q", got, tt.code, tt.message)
			}
		})
	}
}

func TestEnrol(t *testing.T) {
	e := newEnv(t)
	tok := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassLaptop, Uses: 2, Expires: "1h"})
	if want := "valise-agent enroll --server http://valise.test:8080 --token " + tok.Token; tok.Join != want {
		t.Errorf("join = %q, want %q", tok.Join, want)
	}
	if !tok.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) || tok.Uses != 2 {
		t.Errorf("token = %+v", tok)
	}

	first := e.enroll(t, tok.Token, thinkpad("PF1ABC12"))
	pub := base64.StdEncoding.EncodeToString(e.key.Public().(ed25519.PublicKey))
	want := wire.EnrollResponse{
		DeviceID: first.DeviceID, AssetTag: "VAL-0001", Class: wire.ClassLaptop, MQTTURL: "tcp://valise.test:1883",
		TopicPrefix: wire.DefaultPrefix, Username: first.DeviceID, Password: first.Password, CommandKey: pub,
		Config: wire.AgentConfig{Interval: wire.Duration(time.Minute), InventoryInterval: wire.Duration(time.Hour)},
	}
	if diff := cmp.Diff(want, first); diff != "" || len(first.Password) < 40 || !wire.ValidDeviceID(first.DeviceID) {
		t.Errorf("first enrolment (-want +got):\n%s", diff)
	}

	// Same machine, fresh agent state: same device and asset tag.
	second := e.enroll(t, tok.Token, thinkpad("PF1ABC12"))
	if second.DeviceID != first.DeviceID || second.AssetTag != "VAL-0001" || !second.Known || second.Password == first.Password {
		t.Errorf("re-enrolment = %+v, want the same device, known, new password", second)
	}

	// Used up: 410.
	code, b := e.do(t, "POST", wire.EnrollPath, "", mustJSON(t, wire.EnrollRequest{Token: tok.Token, Inventory: thinkpad("PF1XYZ34")}))
	if code != http.StatusGone || errorBody(t, b).Code != apitype.CodeGone {
		t.Errorf("enrol with a used-up token = %d %s", code, b)
	}
	// Expired: 410.
	tok2 := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassHotspot})
	e.clock.Add(25 * time.Hour)
	code, b = e.do(t, "POST", wire.EnrollPath, "", mustJSON(t, wire.EnrollRequest{Token: tok2.Token, Inventory: thinkpad("PF1XYZ34")}))
	if code != http.StatusGone || !strings.Contains(errorBody(t, b).Message, "expired") {
		t.Errorf("enrol with an expired token = %d %s", code, b)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func f64(v float64) *float64 { return &v }

// report stores a report as ingest would.
func (e *env) report(t *testing.T, dev string, seq uint64, kind wire.Channel, body any, figures ...store.Figure) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if _, err := e.st.CommitReports([]store.Report{{Device: dev, Seq: seq, Kind: kind, At: now, Received: now, Body: b, Figures: figures}}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDevices(t *testing.T) {
	e := newEnv(t)
	laptops := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassLaptop, Uses: 10})
	hotspots := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassHotspot, Uses: 10})
	a := e.enroll(t, laptops.Token, thinkpad("PF1AAA01"))
	b := e.enroll(t, laptops.Token, thinkpad("PF1BBB02"))
	h := e.enroll(t, hotspots.Token, wire.Inventory{Modems: []wire.Modem{{Manufacturer: "Huawei", Model: "E5576", IMEI: "867123456789014"}}})

	inv := thinkpad("PF1AAA01")
	e.report(t, a.DeviceID, 1, wire.ChanInventory, inv)
	e.report(t, a.DeviceID, 2, wire.ChanHealth, wire.Health{Batteries: []wire.Battery{{Name: "BAT0", HealthPercent: f64(64), ChargePercent: f64(80)}}},
		store.Figure{Metric: apitype.MetricBatteryHealth, Value: 64}, store.Figure{Metric: apitype.MetricBatteryCharge, Value: 80})
	e.report(t, a.DeviceID, 3, wire.ChanNet, wire.Net{DefaultRoute: "wlp3s0", WiFi: &wire.WiFi{Interface: "wlp3s0", SSID: "mairie", SignalDBm: f64(-61)}},
		store.Figure{Metric: apitype.MetricWiFiSignal, Value: -61})
	if _, err := e.st.CommitReports(nil, []store.Presence{{Device: a.DeviceID, Online: true, At: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}

	list := func(query string) []string {
		t.Helper()
		var devs []apitype.Device
		e.doJSON(t, "GET", "/api/v1/devices"+query, e.admin, nil, &devs, http.StatusOK)
		var tags []string
		for _, d := range devs {
			tags = append(tags, d.AssetTag)
		}
		return tags
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"VAL-0001", "VAL-0002", "VAL-0003"}},
		{"?online=true", []string{"VAL-0001"}},
		{"?online=false", []string{"VAL-0002", "VAL-0003"}},
		{"?class=hotspot", []string{"VAL-0003"}},
		{"?state=intake&class=laptop", []string{"VAL-0001", "VAL-0002"}},
		{"?state=ready", nil},
	}
	for _, tt := range tests {
		t.Run("list"+tt.query, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, list(tt.query)); diff != "" {
				t.Errorf("asset tags (-want +got):\n%s", diff)
			}
		})
	}

	var devs []apitype.Device
	e.doJSON(t, "GET", "/api/v1/devices", e.admin, nil, &devs, http.StatusOK)
	now := e.clock.Now()
	wantA := apitype.Device{
		ID: a.DeviceID, AssetTag: "VAL-0001", Class: "laptop", State: "intake", Vendor: "LENOVO", Model: "ThinkPad T480",
		Serial: "PF1AAA01", Hostname: "kit07-pf1aaa01", Online: true, LastSeen: &now, EnrolledAt: now,
		BatteryHealth: f64(64), BatteryCharge: f64(80),
	}
	if diff := cmp.Diff(wantA, devs[0]); diff != "" {
		t.Errorf("device VAL-0001 (-want +got):\n%s", diff)
	}
	if devs[2].Vendor != "Huawei" || devs[2].Class != "hotspot" || devs[2].Serial != "867123456789014" || devs[1].ID != b.DeviceID || devs[2].ID != h.DeviceID {
		t.Errorf("devices = %+v", devs)
	}

	// The detail by asset tag in lower case.
	var d apitype.DeviceDetail
	e.doJSON(t, "GET", "/api/v1/devices/val-0001", e.admin, nil, &d, http.StatusOK)
	if d.Inventory == nil || d.Inventory.System.Serial != "PF1AAA01" || d.Health == nil || *d.Health.Batteries[0].HealthPercent != 64 ||
		d.Net == nil || d.Net.WiFi.SSID != "mairie" {
		t.Errorf("detail lacks inventory, health or net: %+v", d)
	}
	wantHist := map[string][]apitype.Point{
		apitype.MetricBatteryHealth: {{At: now, Value: 64}},
		apitype.MetricBatteryCharge: {{At: now, Value: 80}},
		apitype.MetricWiFiSignal:    {{At: now, Value: -61}},
	}
	if diff := cmp.Diff(wantHist, d.History); diff != "" {
		t.Errorf("detail history (-want +got):\n%s", diff)
	}
	if len(d.Reported) != 3 {
		t.Errorf("reported = %v, want inventory, health and net", d.Reported)
	}

	// A disk swap shows on the device and in its notes.
	swapped := thinkpad("PF1BBB02")
	swapped.Disks[0].Serial = "S4EWNEWDISK"
	if again := e.enroll(t, laptops.Token, swapped); again.DeviceID != b.DeviceID {
		t.Fatalf("the disk swap made a new device %s", again.DeviceID)
	}
	var dc apitype.DeviceDetail
	e.doJSON(t, "GET", "/api/v1/devices/VAL-0002", e.admin, nil, &dc, http.StatusOK)
	wantNotes := []apitype.Note{{At: now, Kind: apitype.NoteHardwareChanged, Text: "disk serials: -S4EWPF1BBB02 +S4EWNEWDISK"}}
	if diff := cmp.Diff(wantNotes, dc.Notes); diff != "" || !dc.HardwareChanged {
		t.Errorf("notes after a disk swap, hardware_changed=%v (-want +got):\n%s", dc.HardwareChanged, diff)
	}

	// A device that never reported has a detail without reports.
	var db apitype.DeviceDetail
	e.doJSON(t, "GET", "/api/v1/devices/"+b.DeviceID, e.admin, nil, &db, http.StatusOK)
	if db.Inventory != nil || db.Online || db.LastSeen != nil {
		t.Errorf("silent device detail = %+v", db)
	}
}

func TestHistory(t *testing.T) {
	e := newEnv(t)
	tok := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassLaptop})
	a := e.enroll(t, tok.Token, thinkpad("PF1AAA01"))
	var want []apitype.Point
	for i := range 5 {
		if i > 0 {
			e.clock.Add(time.Hour)
		}
		v := float64(90 - i)
		e.report(t, a.DeviceID, uint64(i+1), wire.ChanHealth, wire.Health{Batteries: []wire.Battery{{Name: "BAT0", ChargePercent: f64(v)}}},
			store.Figure{Metric: apitype.MetricBatteryCharge, Value: v})
		want = append(want, apitype.Point{At: e.clock.Now(), Value: v})
	}
	tests := []struct {
		query string
		want  []apitype.Point
	}{
		{"metric=battery_charge", want},
		{"metric=battery_charge&limit=2", want[3:]},
		{"metric=battery_charge&since=90m", want[3:]},
		{"metric=battery_charge&since=" + want[1].At.Format(time.RFC3339), want[1:]},
		{"metric=battery_charge&since=7d", want},
		{"metric=battery_health", []apitype.Point{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var h apitype.History
			e.doJSON(t, "GET", "/api/v1/devices/VAL-0001/history?"+tt.query, e.admin, nil, &h, http.StatusOK)
			if h.Device != a.DeviceID {
				t.Errorf("device = %s", h.Device)
			}
			if diff := cmp.Diff(tt.want, h.Points); diff != "" {
				t.Errorf("points (-want +got):\n%s", diff)
			}
		})
	}
	for _, q := range []string{"metric=colour", "", "metric=battery_charge&limit=0", "metric=battery_charge&since=yesterday"} {
		code, b := e.do(t, "GET", "/api/v1/devices/VAL-0001/history?"+q, e.admin, "")
		if code != http.StatusBadRequest {
			t.Errorf("history?%s = %d %s, want 400", q, code, b)
		}
		if q == "metric=colour" && !strings.Contains(errorBody(t, b).Message, strings.Join(apitype.Metrics, ", ")) {
			t.Errorf("unknown metric answer does not list the valid ones: %s", b)
		}
	}
}

func TestCollect(t *testing.T) {
	e := newEnv(t)
	tok := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassLaptop})
	a := e.enroll(t, tok.Token, thinkpad("PF1AAA01"))
	code, b := e.do(t, "POST", "/api/v1/devices/VAL-0001/collect", e.admin, "")
	if code != http.StatusAccepted {
		t.Fatalf("collect = %d %s", code, b)
	}
	if len(e.pub.msgs) != 1 {
		t.Fatalf("%d messages published, want 1", len(e.pub.msgs))
	}
	m := e.pub.msgs[0]
	if want := "valise/v1/dev/" + a.DeviceID + "/cmd"; m.topic != want {
		t.Errorf("topic = %s, want %s", m.topic, want)
	}
	pub, err := base64.StdEncoding.DecodeString(a.CommandKey)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := wire.VerifyCommand(ed25519.PublicKey(pub), m.payload, a.DeviceID, e.clock.Now())
	if err != nil {
		t.Fatalf("the agent would refuse the command: %v", err)
	}
	if cmd.Type != wire.CmdCollectNow || cmd.ExpiresAt.Sub(cmd.IssuedAt) != api.CommandTTL || cmd.Nonce == "" {
		t.Errorf("command = %+v", cmd)
	}
	if _, err := wire.VerifyCommand(ed25519.PublicKey(pub), m.payload, a.DeviceID, e.clock.Now().Add(api.CommandTTL)); err == nil {
		t.Error("the command is still valid after its TTL")
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	e := newEnv(t)
	code, b := e.do(t, "GET", "/healthz", "", "")
	if code != 200 || string(b) != "ok\n" {
		t.Errorf("healthz = %d %q", code, b)
	}
	e.do(t, "GET", "/api/v1/devices", "", "")
	code, b = e.do(t, "GET", "/metrics", "", "")
	if code != 200 || !strings.Contains(string(b), `valise_http_requests_total{code="401",route="GET /api/v1/devices"} 1`) ||
		!strings.Contains(string(b), "valise_http_request_seconds_bucket") {
		t.Errorf("metrics = %d\n%s", code, b)
	}
	e.st.Close()
	code, b = e.do(t, "GET", "/healthz", "", "")
	if code != http.StatusServiceUnavailable || errorBody(t, b).Code != apitype.CodeUnavailable {
		t.Errorf("healthz on a closed store = %d %s", code, b)
	}
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	tok := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassLaptop})
	e.enroll(t, tok.Token, thinkpad("PF1AAA01"))
	tokens := map[fleet.Role]string{fleet.RoleAdmin: e.admin}
	for _, r := range []fleet.Role{fleet.RoleMediateur, fleet.RoleLogistics, fleet.RoleTechnician} {
		_, secret, err := e.fleet.CreateAPIToken(string(r), r)
		if err != nil {
			t.Fatal(err)
		}
		tokens[r] = secret
	}
	routes := []struct {
		method, path, body string
		allowed            []fleet.Role
	}{
		{"POST", "/api/v1/enroll-tokens", `{"class":"laptop"}`, []fleet.Role{fleet.RoleTechnician, fleet.RoleAdmin}},
		{"GET", "/api/v1/devices", "", fleet.Roles},
		{"GET", "/api/v1/devices/VAL-0001", "", fleet.Roles},
		{"GET", "/api/v1/devices/VAL-0001/history?metric=battery_health", "", fleet.Roles},
		{"POST", "/api/v1/devices/VAL-0001/collect", "", []fleet.Role{fleet.RoleLogistics, fleet.RoleTechnician, fleet.RoleAdmin}},
	}
	for _, rt := range routes {
		for _, role := range fleet.Roles {
			t.Run(fmt.Sprintf("%s %s as %s", rt.method, rt.path, role), func(t *testing.T) {
				code, b := e.do(t, rt.method, rt.path, tokens[role], rt.body)
				allowed := slices.Contains(rt.allowed, role)
				switch {
				case allowed && code >= 300:
					t.Errorf("%s was refused: %d %s", role, code, b)
				case !allowed && code != http.StatusForbidden:
					t.Errorf("%s got %d %s, want 403", role, code, b)
				}
			})
		}
	}
}
