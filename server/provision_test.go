package server

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/valise-numerique/valise/server/api"
	"github.com/valise-numerique/valise/server/fleet"
)

func TestProvisioner(t *testing.T) {
	bare, err := newProvisioner(Config{})
	if err != nil {
		t.Fatal(err)
	}
	kit, err := newProvisioner(Config{KitWiFiSSID: "Valise-Kit-07", KitWiFiKey: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		p              *provisioner
		profile, class string
		want           error
		msg            string
	}{
		{"laptop with the kits' Wi-Fi", kit, "laptop-linux", "laptop", nil, ""},
		{"laptop without it", bare, "laptop-linux", "laptop", fleet.ErrInvalid, "--kit-wifi-ssid"},
		{"hotspot makes its own", bare, "hotspot-openwrt", "hotspot", nil, ""},
		{"unknown profile", kit, "laptop-beos", "laptop", fleet.ErrNotFound, "laptop-linux"},
		{"profile of another class", kit, "laptop-linux", "tablet", fleet.ErrInvalid, "tablet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.CheckProfile(tc.profile, tc.class)
			if !errors.Is(err, tc.want) || (err != nil && !strings.Contains(err.Error(), tc.msg)) {
				t.Errorf("CheckProfile: %v, want %v with %q", err, tc.want, tc.msg)
			}
		})
	}
	// Each provisioning of a hotspot rotates its Wi-Fi key.
	in := api.BundleInput{DeviceID: "dhot", AssetTag: "VAL-0042", Class: "hotspot", ServerURL: "http://valise.test", EnrollToken: "vet_x", ProvisionJob: "p1"}
	keys := map[string]bool{}
	for range 2 {
		raw, err := bare.Bundle("hotspot-openwrt", in)
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Hotspot struct {
				SSID string `json:"ssid"`
				Key  string `json:"key"`
			} `json:"hotspot"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		if b.Hotspot.SSID != "Valise-VAL-0042" || len(b.Hotspot.Key) < 16 {
			t.Fatalf("hotspot settings: %s", raw)
		}
		keys[b.Hotspot.Key] = true
	}
	if len(keys) != 2 {
		t.Error("two provisionings gave the same Wi-Fi key")
	}
}
