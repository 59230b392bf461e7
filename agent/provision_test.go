package agent

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/provisioning"
)

func provisionResults(t *testing.T, b *broker) []wire.ProvisionResult {
	t.Helper()
	var out []wire.ProvisionResult
	for _, ev := range eventsOf(t, b, wire.EventProvisionResult) {
		var r wire.ProvisionResult
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestProvisionCommand(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	key := newCommandKey(t)
	es := &enrolServer{devices: map[string]string{"4c4c4544-0042-3510-8052-b4c04f4e3332": testDevice},
		key: key.Public().(ed25519.PublicKey), mqtt: "tcp://" + b.addr}
	api := httptest.NewServer(es)
	t.Cleanup(api.Close)

	bundle := func(token, path string) json.RawMessage {
		return json.RawMessage(`{
			"profile": "laptop-linux",
			"agent_config": {"interval": "30s", "inventory_interval": 7200},
			"wifi": [{"ssid": "Valise-Kit", "key": "secret"}],
			"packages": ["firefox-esr"],
			"kiosk": {"start_page": "https://www.service-public.fr"},
			"enroll": {"server": "` + api.URL + `", "token": "` + token + `", "provision_job": "prov-1"},
			"files": [{"path": "` + path + `", "mode": "0640", "content": "[connection]\nid=Valise-Kit\n"}],
			"a_field_of_tomorrow": {"x": 1}
		}`)
	}
	tests := []struct {
		name    string
		token   string
		path    string
		wantOK  bool
		wantErr string
	}{
		{"refused token", "used", "/etc/NetworkManager/system-connections/kit.nmconnection", false, "token used up"},
		{"file outside the dir", "good", "../../etc/passwd", false, "bundle file path"},
		{"applied and enrolled again", "good", "/etc/NetworkManager/system-connections/kit.nmconnection", true, ""},
	}
	dir := writeState(t, b.addr, key)
	devKey := withDeviceKey(t, dir)
	startAgent(t, testConfig(dir, &testSource{}))
	waitFor(t, "online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sendCommand(t, b, key, "p-"+tc.name, wire.CmdProvision, "n-"+tc.name, time.Now(),
				wire.ProvisionArgs{Job: "prov-1", Profile: "laptop-linux", Bundle: bundle(tc.token, tc.path)})
			waitFor(t, "the provisioning result", func() bool { return len(provisionResults(t, b)) > i })
			r := provisionResults(t, b)[i]
			if r.OK != tc.wantOK || r.Job != "prov-1" || !strings.Contains(r.Error, tc.wantErr) {
				t.Fatalf("result = %+v, want ok %v with %q", r, tc.wantOK, tc.wantErr)
			}
			if !tc.wantOK {
				return
			}
			es.mu.Lock()
			req := es.reqs[len(es.reqs)-1]
			es.mu.Unlock()
			if req.ProvisionJob != "prov-1" || req.Token != "good" || req.Fingerprint.UUID == "" ||
				req.DeviceKey != base64.StdEncoding.EncodeToString(devKey.Public().(ed25519.PublicKey)) {
				t.Errorf("enrolment request: job %q token %q uuid %q key %q", req.ProvisionJob, req.Token, req.Fingerprint.UUID, req.DeviceKey)
			}
			st, err := LoadState(dir)
			if err != nil {
				t.Fatal(err)
			}
			if st.Password != "pw-"+testDevice || st.Server != api.URL ||
				time.Duration(st.Config.Interval) != 30*time.Second || time.Duration(st.Config.InventoryInterval) != 2*time.Hour {
				t.Errorf("state after provisioning = %+v", st)
			}
			f := filepath.Join(dir, ProvisionedDir, "etc/NetworkManager/system-connections/kit.nmconnection")
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o640 {
				t.Errorf("%s mode %v, want 0640", f, fi.Mode().Perm())
			}
			if _, err := os.Stat(filepath.Join(dir, ProvisionedDir, "bundle.json")); err != nil {
				t.Errorf("bundle not kept: %v", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "etc", "passwd")); err == nil {
		t.Errorf("a bundle file escaped the state dir")
	}
	// The agent goes on with the new credentials: a collection still answers.
	sendCommand(t, b, key, "after", wire.CmdCollectNow, "n-after", time.Now(), nil)
	waitFor(t, "an answer after provisioning", func() bool {
		for _, ev := range eventsOf(t, b, wire.EventCommandResult) {
			if ev.Command == "after" {
				return ev.OK
			}
		}
		return false
	})
}

func TestBundleValues(t *testing.T) {
	durations := []struct {
		name string
		raw  string
		want time.Duration
		ok   bool
	}{
		{"go duration", `"90s"`, 90 * time.Second, true},
		{"seconds as a number", `300`, 5 * time.Minute, true},
		{"seconds as a string", `"60"`, time.Minute, true},
		{"absent", ``, 0, true},
		{"negative", `-5`, 0, false},
		{"garbage", `"soon"`, 0, false},
	}
	for _, tc := range durations {
		t.Run("duration "+tc.name, func(t *testing.T) {
			cfg := map[string]json.RawMessage{}
			if tc.raw != "" {
				cfg["interval"] = json.RawMessage(tc.raw)
			}
			d, err := bundleDuration(cfg, "interval")
			if (err == nil) != tc.ok || d != tc.want {
				t.Errorf("bundleDuration(%s) = %v, %v; want %v ok %v", tc.raw, d, err, tc.want, tc.ok)
			}
		})
	}
	modes := []struct {
		raw  string
		want os.FileMode
		ok   bool
	}{
		{`"0600"`, 0o600, true}, {`"755"`, 0o755, true}, {`420`, 0o644, true}, {``, 0o644, true},
		{`"4755"`, 0o755, true}, {`"rw-r--r--"`, 0, false},
	}
	for _, tc := range modes {
		t.Run("mode "+tc.raw, func(t *testing.T) {
			m, err := fileMode(json.RawMessage(tc.raw))
			if (err == nil) != tc.ok || m != tc.want {
				t.Errorf("fileMode(%s) = %v, %v; want %v ok %v", tc.raw, m, err, tc.want, tc.ok)
			}
		})
	}
}

// TestProvisionReadsRenderedBundles reads the bundles package provisioning
// renders from the shipped profiles, as the server sends them.
func TestProvisionReadsRenderedBundles(t *testing.T) {
	set, err := provisioning.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range set.Names() {
		t.Run(name, func(t *testing.T) {
			p, err := set.Get(name)
			if err != nil {
				t.Fatal(err)
			}
			in := provisioning.BundleInput{
				DeviceID: testDevice, AssetTag: "VAL-0001", ServerURL: "https://valise.example:8443",
				CAPin: "sha256:" + strings.Repeat("0f", 32), EnrollToken: "tok-1", ProvisionJob: "prov-9",
				WiFiSSID: "Valise-Kit-07", WiFiKey: "correct horse battery", AdminPassword: "admin-pw-1234",
			}
			b, err := provisioning.Render(p, in)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			var got provisionBundle
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("the agent cannot read the bundle: %v", err)
			}
			if got.Enroll.Token != "tok-1" || got.Enroll.Server != in.ServerURL || got.Enroll.CAPin != in.CAPin || got.Enroll.ProvisionJob != "prov-9" {
				t.Errorf("enroll part read as %+v", got.Enroll)
			}
			d, err := bundleDuration(got.AgentConfig, "interval")
			if err != nil || d != time.Duration(b.AgentConfig.Interval) {
				t.Errorf("interval read as %v, %v; bundle says %v", d, err, time.Duration(b.AgentConfig.Interval))
			}
			for _, f := range got.Files {
				if _, err := fileMode(f.Mode); err != nil {
					t.Errorf("file %s: %v", f.Path, err)
				}
			}
		})
	}
}
