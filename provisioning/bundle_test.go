package provisioning

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to make it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-golden +got):\n%s", path, diff)
	}
}

// input is a plain device's input, the same for every golden file.
func input(class string) BundleInput {
	return BundleInput{
		DeviceID:      "dev-3f9a1c",
		AssetTag:      "VAL-0031",
		Class:         class,
		ServerURL:     "https://valise.example:8443",
		CAPin:         "sha256:" + strings.Repeat("ab", 32),
		EnrollToken:   "vet_Zm9yIGEgc2luZ2xlIHVzZQ",
		ProvisionJob:  "prov-0007",
		WiFiSSID:      "Valise-Kit07",
		WiFiKey:       "correct-horse-battery",
		AdminPassword: "S3cret-admin-pw",
		AgentURL:      "https://valise.example:8443/dl/valise-agent-linux-amd64",
		AgentSHA256:   strings.Repeat("0123456789abcdef", 4),
	}
}

func mustLoad(t *testing.T) *Set {
	t.Helper()
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRenderGolden(t *testing.T) {
	s := mustLoad(t)
	for _, name := range s.Names() {
		t.Run(name, func(t *testing.T) {
			p, _ := s.Get(name)
			b, err := Render(p, input(p.Class))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			enc := json.NewEncoder(&out)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(b); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".bundle.json", out.String())

			// What the server sends is the same, and reads back.
			raw, err := b.JSON()
			if err != nil {
				t.Fatal(err)
			}
			var back Bundle
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(b, back); diff != "" {
				t.Errorf("JSON round trip (-rendered +read):\n%s", diff)
			}
			if m := varRe.FindString(out.String()); m != "" {
				t.Errorf("variable %s left unfilled", m)
			}
		})
	}
}

func TestRenderFillsVariables(t *testing.T) {
	s := mustLoad(t)
	p, _ := s.Get("laptop-linux")
	in := input("laptop")
	b, err := Render(p, in)
	if err != nil {
		t.Fatal(err)
	}
	if b.WiFi[0].SSID != in.WiFiSSID || b.WiFi[0].Key != in.WiFiKey || b.System.Hostname != "val-0031" {
		t.Errorf("wifi %+v, hostname %q", b.WiFi[0], b.System.Hostname)
	}
	want := Enroll{Server: in.ServerURL, Token: in.EnrollToken, CAPin: in.CAPin, ProvisionJob: in.ProvisionJob}
	if b.Enroll != want {
		t.Errorf("enroll = %+v, want %+v", b.Enroll, want)
	}
	// The set's profile is untouched.
	again, _ := s.Get("laptop-linux")
	if again.WiFi[0].Key != "${WIFI_KEY}" || again.System.Hostname != "${ASSET_TAG}" {
		t.Errorf("Render changed the set's profile: %+v", again.WiFi[0])
	}
	var paths []string
	for _, f := range b.Files {
		paths = append(paths, f.Path+" "+f.Mode)
	}
	wantPaths := []string{
		NetworkManagerDir + "/valise-wifi-1.nmconnection 0600",
		ChromiumPolicyFile + " 0644",
		SessionResetScript + " 0755",
		LightDMConfFile + " 0644",
		AutoUpgradesFile + " 0644",
	}
	if diff := cmp.Diff(wantPaths, paths); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestRenderEscapedDollar(t *testing.T) {
	p, err := Parse("test.toml", []byte(valid+"\n[[files]]\npath = \"/etc/x\"\nmode = \"0755\"\ncontent = \"echo $${HOME} ${DEVICE_ID} $$x\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(p, input("laptop"))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Files[0].Content; got != "echo ${HOME} dev-3f9a1c $$x" {
		t.Errorf("content = %q", got)
	}
}

func TestRenderErrors(t *testing.T) {
	s := mustLoad(t)
	tests := []struct {
		name    string
		profile string
		edit    func(*BundleInput)
		want    string
	}{
		{"no device", "laptop-linux", func(in *BundleInput) { in.DeviceID = "" }, "DeviceID is required"},
		{"no token", "laptop-linux", func(in *BundleInput) { in.EnrollToken = "" }, "EnrollToken is required"},
		{"other class", "laptop-linux", func(in *BundleInput) { in.Class = "tablet" }, "is for a laptop"},
		{"bad server", "laptop-linux", func(in *BundleInput) { in.ServerURL = "valise.example" }, "ServerURL"},
		{"bad pin", "laptop-linux", func(in *BundleInput) { in.CAPin = "md5:abc" }, "CAPin"},
		{"newline in token", "laptop-linux", func(in *BundleInput) { in.EnrollToken = "a\nd-i preseed/early_command string reboot" }, "control character"},
		{"no Wi-Fi key", "laptop-linux", func(in *BundleInput) { in.WiFiKey = "" }, "${WIFI_KEY} needs BundleInput.WiFiKey"},
		{"short Wi-Fi key", "laptop-linux", func(in *BundleInput) { in.WiFiKey = "short" }, "8 to 63"},
		{"long SSID", "laptop-linux", func(in *BundleInput) { in.WiFiSSID = strings.Repeat("x", 33) }, "1 to 32 bytes"},
		{"no asset tag for the host name", "laptop-linux", func(in *BundleInput) { in.AssetTag = "" }, "${ASSET_TAG} needs BundleInput.AssetTag"},
		{"asset tag that is no host name", "laptop-linux", func(in *BundleInput) { in.AssetTag = "VAL 31;reboot" }, "not a host name"},
		{"checksum without URL", "laptop-linux", func(in *BundleInput) { in.AgentURL = "" }, "go together"},
		{"bad checksum", "laptop-linux", func(in *BundleInput) { in.AgentSHA256 = "abc" }, "64 hex"},
		{"no admin password", "hotspot-hilink", func(in *BundleInput) { in.AdminPassword = "" }, "${ADMIN_PASSWORD} needs"},
		{"short admin password", "hotspot-openwrt", func(in *BundleInput) { in.AdminPassword = "admin" }, "at least 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.Get(tt.profile)
			if err != nil {
				t.Fatal(err)
			}
			in := input(p.Class)
			tt.edit(&in)
			_, err = Render(p, in)
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render = %v\nwant ErrInput with %q", err, tt.want)
			}
		})
	}
}

func TestNMConnectionEscapes(t *testing.T) {
	got := nmConnection("valise-wifi-1", WiFi{SSID: ` Kit\07`, Security: "wpa3-sae", Key: `a\b c`, Autoconnect: true})
	for _, want := range []string{"ssid=\\sKit\\\\07\n", "key-mgmt=sae\n", "psk=a\\\\b c\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("keyfile lacks %q:\n%s", want, got)
		}
	}
}
