package provisioning

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var shipped = []string{"hotspot-hilink", "hotspot-openwrt", "laptop-linux", "laptop-windows", "tablet-android"}

func TestLoad(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shipped, s.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	for _, name := range shipped {
		p, err := s.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != name || p.System.Locale == "" || !strings.HasPrefix(p.System.Locale, "fr_FR") {
			t.Errorf("%s: name %q, locale %q", name, p.Name, p.System.Locale)
		}
	}
	linux, _ := s.Get("laptop-linux")
	var sites []string
	for _, b := range linux.Kiosk.Bookmarks {
		sites = append(sites, b.URL)
	}
	for _, want := range []string{"service-public.fr", "impots.gouv.fr", "ameli.fr", "caf.fr", "francetravail.fr"} {
		if !strings.Contains(strings.Join(sites, " "), want) {
			t.Errorf("laptop-linux kiosk lacks %s", want)
		}
	}
	if _, err := s.Get("laptop-macos"); !errors.Is(err, ErrNoProfile) || !strings.Contains(err.Error(), "laptop-linux") {
		t.Errorf("Get(unknown) = %v, want ErrNoProfile listing the known ones", err)
	}
}

// valid is a small valid profile the error cases change.
const valid = `name = "test"
class = "laptop"
os = "linux"
installers = ["debian-preseed"]

[agent]
interval = "60s"
inventory_interval = "1h"

[system]
locale = "fr_FR.UTF-8"
timezone = "Europe/Paris"

[[wifi]]
ssid = "${WIFI_SSID}"
security = "wpa2-psk"
key = "${WIFI_KEY}"

[packages]
manager = "apt"
install = ["chromium"]

[kiosk]
browser = "chromium"
home = "https://www.service-public.fr/"

[[kiosk.bookmarks]]
title = "ameli"
url = "https://www.ameli.fr/"
`

func TestParseErrors(t *testing.T) {
	if _, err := Parse("test.toml", []byte(valid)); err != nil {
		t.Fatalf("the valid profile: %v", err)
	}
	tests := []struct {
		name string
		edit func(string) string
		want string // in the error, after "test.toml"
	}{
		{"unknown top key", func(s string) string {
			return strings.Replace(s, `os = "linux"`, `os = "linux"`+"\ncolour = \"blue\"", 1)
		}, `test.toml:4: unknown key "colour"`},
		{"unknown key in a table", func(s string) string {
			return strings.Replace(s, `timezone = "Europe/Paris"`, `timezone = "Europe/Paris"`+"\nlocal = \"fr\"", 1)
		}, `test.toml:13: unknown key "system.local"`},
		{"unknown key in an array of tables", func(s string) string { return s + "titel = \"x\"\n" }, `test.toml:30: unknown key "kiosk.bookmarks.titel"`},
		{"unknown table", func(s string) string { return s + "\n[printer]\nname = \"hp\"\n" }, `test.toml:31: unknown key "printer"`},
		{"unknown key in an inline table", func(s string) string {
			return strings.Replace(s, `install = ["chromium"]`, `install = ["chromium"]`+"\nextra = {name = \"x\"}", 1)
		}, `test.toml:22: unknown key "packages.extra"`},
		{"syntax", func(s string) string { return strings.Replace(s, `class = "laptop"`, `class = "laptop`, 1) }, "test.toml:2:"},
		{"wrong type", func(s string) string { return strings.Replace(s, `interval = "60s"`, `interval = 60`, 1) }, "test.toml:7:"},
		{"no agent interval", func(s string) string { return strings.Replace(s, `interval = "60s"`+"\n", "", 1) }, "agent: interval"},
		{"bad class", func(s string) string { return strings.Replace(s, `"laptop"`, `"phone"`, 1) }, `class "phone"`},
		{"bad os", func(s string) string { return strings.Replace(s, `os = "linux"`, `os = "macos"`, 1) }, `os "macos"`},
		{"installer of another os", func(s string) string { return strings.Replace(s, `"debian-preseed"`, `"windows-unattend"`, 1) }, "windows-unattend installs windows"},
		{"no locale", func(s string) string { return strings.Replace(s, `locale = "fr_FR.UTF-8"`, `locale = ""`, 1) }, "system.locale"},
		{"literal Wi-Fi key", func(s string) string { return strings.Replace(s, `key = "${WIFI_KEY}"`, `key = "motdepasse"`, 1) }, "never the key itself"},
		{"unknown variable", func(s string) string { return strings.Replace(s, `ssid = "${WIFI_SSID}"`, `ssid = "${KIT_SSID}"`, 1) }, "unknown variable ${KIT_SSID}"},
		{"package like an option", func(s string) string { return strings.Replace(s, `["chromium"]`, `["--allow-unauthenticated"]`, 1) }, "not a package name"},
		{"manager of another os", func(s string) string { return strings.Replace(s, `manager = "apt"`, `manager = "winget"`, 1) }, `uses "apt"`},
		{"plain http kiosk", func(s string) string { return strings.Replace(s, `https://www.ameli.fr/`, `http://www.ameli.fr/`, 1) }, "https://"},
		{"relative file path", func(s string) string { return s + "\n[[files]]\npath = \"etc/x\"\nmode = \"0644\"\ncontent = \"x\"\n" }, "clean absolute path"},
		{"file path with ..", func(s string) string {
			return s + "\n[[files]]\npath = \"/etc/../root/x\"\nmode = \"0644\"\ncontent = \"x\"\n"
		}, "clean absolute path"},
		{"bad mode", func(s string) string { return s + "\n[[files]]\npath = \"/etc/x\"\nmode = \"rw\"\ncontent = \"x\"\n" }, "octal"},
		{"hotspot table on a laptop", func(s string) string {
			return s + "\n[hotspot]\nssid = \"x\"\nsecurity = \"wpa2-psk\"\nkey = \"${WIFI_KEY}\"\nadmin_password = \"${ADMIN_PASSWORD}\"\n"
		}, "[hotspot]"},
		{"reset without public user", func(s string) string {
			return strings.Replace(s, `timezone = "Europe/Paris"`, `timezone = "Europe/Paris"`+"\nreset_session_at_logout = true", 1)
		}, "needs public_user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.toml", []byte(tt.edit(valid)))
			if !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v\nwant ErrProfile with %q", err, tt.want)
			}
		})
	}
}

func TestParseMultilineStrings(t *testing.T) {
	// A key-looking line inside a multi-line string is content, and the
	// unknown key after it is found on its own line.
	s := valid + "\n[[files]]\npath = \"/etc/x\"\nmode = \"0644\"\ncontent = \"\"\"\nmode = 1\n\"\"\"\nowner = \"root\"\n"
	_, err := Parse("test.toml", []byte(s))
	if err == nil || !strings.Contains(err.Error(), `test.toml:37: unknown key "files.owner"`) {
		t.Errorf("Parse = %v", err)
	}
}

func TestLoadDir(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // error; "" for success
	}{
		{"custom profile", map[string]string{"test.toml": valid}, ""},
		{"name is not the file's", map[string]string{"other.toml": valid}, `name "test" must be the file's name, "other"`},
		{"empty dir", map[string]string{"README": "x"}, "no *.toml"},
		{"one bad file", map[string]string{"test.toml": valid, "bad.toml": "name = "}, "bad.toml:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s, err := LoadDir(dir)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{"test"}, s.Names()); diff != "" {
					t.Errorf("Names (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadDir = %v, want ErrProfile with %q", err, tt.want)
			}
		})
	}
}
