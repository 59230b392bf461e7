package provisioning

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/valise-numerique/valise/internal/wire"
)

// BundleInput is what makes a profile one device's bundle.
type BundleInput struct {
	// DeviceID is the device being provisioned. Required.
	DeviceID string
	// AssetTag is its printed label; required when the profile uses
	// ${ASSET_TAG} (the shipped laptop profiles name the host after it).
	AssetTag string
	// Class is the device's class; when set it must be the profile's.
	Class string
	// ServerURL is the server's API as the device reaches it. Required.
	ServerURL string
	// CAPin is the join command's --ca-pin ("sha256:<hex>") when the
	// server speaks TLS.
	CAPin string
	// EnrollToken is the single-use enrolment token bound to the device.
	// Required.
	EnrollToken string
	// ProvisionJob is the provisioning job the bundle belongs to.
	ProvisionJob string
	// WiFiSSID, WiFiKey and AdminPassword fill ${WIFI_SSID}, ${WIFI_KEY}
	// and ${ADMIN_PASSWORD}: the kit hotspot's network, its WPA
	// passphrase (8 to 63 characters) and the hotspot's admin password.
	// Each is required when the profile uses it.
	WiFiSSID, WiFiKey, AdminPassword string
	// AgentURL and AgentSHA256 are where the unattended installers
	// download the agent binary for the device and its hex SHA-256, which
	// they check before running it. Both or neither; the installer
	// renderers need them.
	AgentURL, AgentSHA256 string
}

// variables are the ${NAME}s profiles may use, with the BundleInput field
// that fills each.
var variables = map[string]struct {
	field string
	value func(BundleInput) string
}{
	"DEVICE_ID":      {"DeviceID", func(in BundleInput) string { return in.DeviceID }},
	"ASSET_TAG":      {"AssetTag", func(in BundleInput) string { return in.AssetTag }},
	"CLASS":          {"Class", func(in BundleInput) string { return in.Class }},
	"SERVER_URL":     {"ServerURL", func(in BundleInput) string { return in.ServerURL }},
	"WIFI_SSID":      {"WiFiSSID", func(in BundleInput) string { return in.WiFiSSID }},
	"WIFI_KEY":       {"WiFiKey", func(in BundleInput) string { return in.WiFiKey }},
	"ADMIN_PASSWORD": {"AdminPassword", func(in BundleInput) string { return in.AdminPassword }},
}

func variableNames() []string {
	names := make([]string, 0, len(variables))
	for n := range variables {
		names = append(names, "${"+n+"}")
	}
	slices.Sort(names)
	return names
}

// Bundle is one device's provisioning: everything it must have, with the
// single-use enrolment token it re-enrols with at the end. It holds
// secrets (token, Wi-Fi key, admin password): keep it out of logs and
// store it 0600. Its JSON shape is described in the package doc.
type Bundle struct {
	Profile       string           `json:"profile"`
	Class         string           `json:"class"`
	OS            string           `json:"os"`
	Installers    []string         `json:"installers,omitempty"`
	DeviceID      string           `json:"device_id"`
	AssetTag      string           `json:"asset_tag,omitempty"`
	AgentConfig   wire.AgentConfig `json:"agent_config"`
	System        System           `json:"system"`
	WiFi          []WiFi           `json:"wifi,omitempty"`
	Packages      Packages         `json:"packages"`
	Kiosk         *Kiosk           `json:"kiosk,omitempty"`
	Hotspot       *Hotspot         `json:"hotspot,omitempty"`
	Enroll        Enroll           `json:"enroll"`
	AgentDownload *AgentDownload   `json:"agent_download,omitempty"`
	Files         []File           `json:"files,omitempty"`
}

// Enroll is how the device enrols again at the end of its provisioning.
type Enroll struct {
	Server       string `json:"server"`
	Token        string `json:"token"`
	CAPin        string `json:"ca_pin,omitempty"`
	ProvisionJob string `json:"provision_job,omitempty"`
}

// AgentDownload is where installers fetch the agent binary.
type AgentDownload struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
}

// Render makes p into the bundle of the device in: it fills the
// variables, checks the result (Wi-Fi passphrases, host name) and adds
// the files the profile's settings need on its operating system (see the
// package doc). Errors wrap ErrInput.
func Render(p Profile, in BundleInput) (Bundle, error) {
	if err := in.check(p); err != nil {
		return Bundle{}, err
	}
	q := p.clone()
	var err error
	q.eachString(func(where string, s *string) {
		v, e := expand(*s, in)
		if e != nil && err == nil {
			err = fmt.Errorf("%w: profile %s, %s: %v", ErrInput, p.Name, where, e)
		}
		*s = v
	})
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{
		Profile:    q.Name,
		Class:      q.Class,
		OS:         q.OS,
		Installers: q.Installers,
		DeviceID:   in.DeviceID,
		AssetTag:   in.AssetTag,
		AgentConfig: wire.AgentConfig{
			Interval: q.Agent.Interval, InventoryInterval: q.Agent.InventoryInterval,
		},
		System:   q.System,
		WiFi:     q.WiFi,
		Packages: q.Packages,
		Kiosk:    q.Kiosk,
		Hotspot:  q.Hotspot,
		Enroll:   Enroll{Server: in.ServerURL, Token: in.EnrollToken, CAPin: in.CAPin, ProvisionJob: in.ProvisionJob},
		Files:    q.Files,
	}
	if in.AgentURL != "" {
		b.AgentDownload = &AgentDownload{URL: in.AgentURL, SHA256: strings.ToLower(in.AgentSHA256)}
	}
	if err := b.checkRendered(); err != nil {
		return Bundle{}, fmt.Errorf("%w: profile %s: %v", ErrInput, p.Name, err)
	}
	gen, err := generatedFiles(b)
	if err != nil {
		return Bundle{}, err
	}
	b.Files = append(b.Files, gen...)
	return b, nil
}

// JSON returns the bundle as the provision command carries it
// (wire.ProvisionArgs.Bundle).
func (b Bundle) JSON() (json.RawMessage, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	return data, nil
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func (in BundleInput) check(p Profile) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInput, fmt.Sprintf(format, args...))
	}
	for name, v := range map[string]string{
		"DeviceID": in.DeviceID, "AssetTag": in.AssetTag, "Class": in.Class, "ServerURL": in.ServerURL,
		"CAPin": in.CAPin, "EnrollToken": in.EnrollToken, "ProvisionJob": in.ProvisionJob, "WiFiSSID": in.WiFiSSID,
		"WiFiKey": in.WiFiKey, "AdminPassword": in.AdminPassword, "AgentURL": in.AgentURL, "AgentSHA256": in.AgentSHA256,
	} {
		if strings.ContainsFunc(v, unicode.IsControl) {
			return bad("%s holds a control character", name)
		}
	}
	switch {
	case in.DeviceID == "":
		return bad("DeviceID is required")
	case in.EnrollToken == "":
		return bad("EnrollToken is required")
	case in.Class != "" && in.Class != p.Class:
		return bad("profile %s is for a %s, device %s is a %s", p.Name, p.Class, in.DeviceID, in.Class)
	}
	if !isHTTPURL(in.ServerURL) {
		return bad("ServerURL %q is not an http:// or https:// URL", in.ServerURL)
	}
	if in.CAPin != "" {
		if _, err := wire.MatchPin(in.CAPin, nil); err != nil {
			return bad("CAPin %q is not sha256:<64 hex digits>", in.CAPin)
		}
	}
	if (in.AgentURL == "") != (in.AgentSHA256 == "") {
		return bad("AgentURL and AgentSHA256 go together")
	}
	if in.AgentURL != "" {
		if !isHTTPURL(in.AgentURL) {
			return bad("AgentURL %q is not an http:// or https:// URL", in.AgentURL)
		}
		if !hexSHA256.MatchString(in.AgentSHA256) {
			return bad("AgentSHA256 %q is not 64 hex digits", in.AgentSHA256)
		}
	}
	return nil
}

// isHTTPURL reports whether s is an http:// or https:// URL with a host.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// expand fills the variables of s; "$${" stands for a literal "${".
func expand(s string, in BundleInput) (string, error) {
	var err error
	parts := strings.Split(s, "$${")
	for i, part := range parts {
		parts[i] = varRe.ReplaceAllStringFunc(part, func(ref string) string {
			name := ref[2 : len(ref)-1]
			v, ok := variables[name]
			if !ok {
				if err == nil {
					err = fmt.Errorf("unknown variable %s", ref)
				}
				return ref
			}
			val := v.value(in)
			if val == "" && err == nil {
				err = fmt.Errorf("%s needs BundleInput.%s", ref, v.field)
			}
			return val
		})
	}
	return strings.Join(parts, "${"), err
}

var hostnameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// checkRendered checks the values that came from variables.
func (b *Bundle) checkRendered() error {
	if h := strings.ToLower(b.System.Hostname); h != "" {
		if !hostnameRe.MatchString(h) {
			return fmt.Errorf("system.hostname %q is not a host name (letters, digits, dashes)", b.System.Hostname)
		}
		b.System.Hostname = h
	}
	for i, w := range b.WiFi {
		if err := checkPassphrase(fmt.Sprintf("wifi[%d]", i), w.SSID, w.Security, w.Key); err != nil {
			return err
		}
	}
	if h := b.Hotspot; h != nil {
		if err := checkPassphrase("hotspot", h.SSID, h.Security, h.Key); err != nil {
			return err
		}
		if len(h.AdminPassword) < 8 {
			return fmt.Errorf("hotspot admin password: want at least 8 characters")
		}
	}
	return nil
}

func checkPassphrase(where, ssid, security, key string) error {
	if ssid == "" || len(ssid) > 32 {
		return fmt.Errorf("%s: SSID %q: want 1 to 32 bytes", where, ssid)
	}
	if security == "open" {
		return nil
	}
	if len(key) < 8 || len(key) > 63 {
		return fmt.Errorf("%s: the WPA passphrase must be 8 to 63 characters", where)
	}
	for _, r := range key {
		if r < 0x20 || r > 0x7e {
			return fmt.Errorf("%s: the WPA passphrase must be printable ASCII", where)
		}
	}
	return nil
}

// clone copies p deeply enough for expand to write into the copy.
func (p Profile) clone() Profile {
	p.Installers = slices.Clone(p.Installers)
	p.WiFi = slices.Clone(p.WiFi)
	p.Packages.Install = slices.Clone(p.Packages.Install)
	p.Packages.Remove = slices.Clone(p.Packages.Remove)
	p.Files = slices.Clone(p.Files)
	if p.Kiosk != nil {
		k := *p.Kiosk
		k.Bookmarks = slices.Clone(k.Bookmarks)
		p.Kiosk = &k
	}
	if p.Hotspot != nil {
		h := *p.Hotspot
		p.Hotspot = &h
	}
	return p
}

// Paths of the files Render adds on Linux and OpenWrt.
const (
	NetworkManagerDir     = "/etc/NetworkManager/system-connections"
	ChromiumPolicyFile    = "/etc/chromium/policies/managed/valise-kiosk.json"
	FirefoxESRPolicyFile  = "/etc/firefox-esr/policies/policies.json"
	SessionResetScript    = "/usr/local/lib/valise/reset-public-session"
	LightDMConfFile       = "/etc/lightdm/lightdm.conf.d/50-valise-public-session.conf"
	AutoUpgradesFile      = "/etc/apt/apt.conf.d/20auto-upgrades"
	OpenWrtUCIDefaultFile = "/etc/uci-defaults/90-valise"
)

// generatedFiles are the files b's settings need on its operating system.
func generatedFiles(b Bundle) ([]File, error) {
	var files []File
	switch b.OS {
	case OSLinux:
		for i, w := range b.WiFi {
			files = append(files, File{
				Path: fmt.Sprintf("%s/valise-wifi-%d.nmconnection", NetworkManagerDir, i+1), Mode: "0600",
				Content: nmConnection(fmt.Sprintf("valise-wifi-%d", i+1), w),
			})
		}
		if k := b.Kiosk; k != nil {
			f, err := browserPolicy(k)
			if err != nil {
				return nil, err
			}
			if f.Path != "" {
				files = append(files, f)
			}
		}
		if s := b.System; s.ResetSessionAtLogout {
			files = append(files,
				File{Path: SessionResetScript, Mode: "0755", Content: resetScript(s.PublicUser)},
				File{Path: LightDMConfFile, Mode: "0644", Content: "# Written by Valise: the public account logs in by itself and gets a\n" +
					"# fresh home when it logs out.\n[Seat:*]\nautologin-user=" + s.PublicUser +
					"\nautologin-user-timeout=0\nsession-cleanup-script=" + SessionResetScript + "\n"},
			)
		}
		if b.System.AutomaticUpdates {
			files = append(files, File{Path: AutoUpgradesFile, Mode: "0644",
				Content: "// Written by Valise: security updates install by themselves.\nAPT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n"})
		}
	case OSOpenWrt:
		if h := b.Hotspot; h != nil {
			files = append(files, File{Path: OpenWrtUCIDefaultFile, Mode: "0700", Content: uciDefaults(b)})
		}
	}
	return files, nil
}

// nmConnection is a NetworkManager keyfile for w.
func nmConnection(id string, w WiFi) string {
	var s strings.Builder
	s.WriteString("# Written by Valise.\n[connection]\nid=" + id + "\ntype=wifi\n")
	fmt.Fprintf(&s, "autoconnect=%t\n", w.Autoconnect)
	if w.Priority != 0 {
		fmt.Fprintf(&s, "autoconnect-priority=%d\n", w.Priority)
	}
	fmt.Fprintf(&s, "\n[wifi]\nmode=infrastructure\nssid=%s\nhidden=%t\n", keyfileEscape(w.SSID), w.Hidden)
	switch w.Security {
	case "wpa2-psk":
		s.WriteString("\n[wifi-security]\nkey-mgmt=wpa-psk\npsk=" + keyfileEscape(w.Key) + "\n")
	case "wpa3-sae":
		s.WriteString("\n[wifi-security]\nkey-mgmt=sae\npsk=" + keyfileEscape(w.Key) + "\n")
	}
	s.WriteString("\n[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n")
	return s.String()
}

// keyfileEscape escapes a GKeyFile string value: backslashes and a
// leading space (values have no control characters: Render refused them).
func keyfileEscape(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	if strings.HasPrefix(v, " ") {
		v = `\s` + v[1:]
	}
	return v
}

// browserPolicy is the managed policy of the kiosk browser, for the
// browsers whose Linux policy file Valise knows.
func browserPolicy(k *Kiosk) (File, error) {
	var policy any
	var path string
	switch k.Browser {
	case "chromium":
		bookmarks := []map[string]string{{"toplevel_name": "Démarches en ligne"}}
		for _, bm := range k.Bookmarks {
			bookmarks = append(bookmarks, map[string]string{"name": bm.Title, "url": bm.URL})
		}
		p := map[string]any{
			"HomepageLocation":          k.Home,
			"HomepageIsNewTabPage":      false,
			"ShowHomeButton":            true,
			"RestoreOnStartup":          4,
			"RestoreOnStartupURLs":      []string{k.Home},
			"ManagedBookmarks":          bookmarks,
			"BookmarkBarEnabled":        true,
			"PasswordManagerEnabled":    false,
			"AutofillAddressEnabled":    false,
			"AutofillCreditCardEnabled": false,
			"BrowserSignin":             0,
			"SyncDisabled":              true,
		}
		if k.PrivateBrowsing {
			p["IncognitoModeAvailability"] = 2 // forced
		}
		policy, path = p, ChromiumPolicyFile
	case "firefox-esr":
		bookmarks := make([]map[string]string, 0, len(k.Bookmarks))
		for _, bm := range k.Bookmarks {
			bookmarks = append(bookmarks, map[string]string{"Title": bm.Title, "URL": bm.URL, "Placement": "toolbar"})
		}
		p := map[string]any{
			"Homepage":               map[string]any{"URL": k.Home, "Locked": true, "StartPage": "homepage"},
			"Bookmarks":              bookmarks,
			"DisableFirefoxAccounts": true,
			"PasswordManagerEnabled": false,
			"OfferToSaveLogins":      false,
		}
		if k.PrivateBrowsing {
			p["SanitizeOnShutdown"] = true
		}
		policy, path = map[string]any{"policies": p}, FirefoxESRPolicyFile
	default:
		return File{}, nil
	}
	data, err := json.MarshalIndent(policy, "", "  ")
	if err != nil {
		return File{}, fmt.Errorf("encode %s policy: %w", k.Browser, err)
	}
	return File{Path: path, Mode: "0644", Content: string(data) + "\n"}, nil
}

// resetScript gives user a fresh home from /etc/skel; LightDM runs it as
// root when a session ends.
func resetScript(user string) string {
	return `#!/bin/sh
# Written by Valise. LightDM runs this as root when a session ends: the
# public account gets a fresh home, so nothing a member of the public did
# is left for the next one.
set -eu
user=` + shellQuote(user) + `
[ "${USER:-}" = "$user" ] || exit 0
home=$(getent passwd "$user" | cut -d: -f6)
case "$home" in
/home/?*) ;;
*) echo "reset-public-session: refusing home $home" >&2; exit 1 ;;
esac
pkill -KILL -u "$user" || true
rm -rf --one-file-system "$home"
mkdir -m 0700 "$home"
cp -a /etc/skel/. "$home"/
chown -R "$user:" "$home"
`
}

// uciDefaults is an OpenWrt first-boot script that sets the hotspot's
// Wi-Fi and root password; OpenWrt runs it once and deletes it.
func uciDefaults(b Bundle) string {
	h := b.Hotspot
	enc := map[string]string{"wpa2-psk": "psk2", "wpa3-sae": "sae"}[h.Security]
	var s strings.Builder
	s.WriteString("#!/bin/sh\n# Written by Valise: the kit hotspot's Wi-Fi and admin password.\n")
	s.WriteString("for iface in $(uci -q show wireless | sed -n 's/^wireless\\.\\([^.=]*\\)=wifi-iface$/\\1/p'); do\n")
	fmt.Fprintf(&s, "\tuci set wireless.\"$iface\".ssid=%s\n", shellQuote(h.SSID))
	fmt.Fprintf(&s, "\tuci set wireless.\"$iface\".encryption=%s\n", enc)
	fmt.Fprintf(&s, "\tuci set wireless.\"$iface\".key=%s\n", shellQuote(h.Key))
	if h.MaxClients > 0 {
		fmt.Fprintf(&s, "\tuci set wireless.\"$iface\".maxassoc=%s\n", strconv.Itoa(h.MaxClients))
	}
	s.WriteString("done\nuci commit wireless\n")
	fmt.Fprintf(&s, "printf '%%s\\n%%s\\n' %s %s | passwd root >/dev/null\n", shellQuote(h.AdminPassword), shellQuote(h.AdminPassword))
	if b.System.Hostname != "" {
		fmt.Fprintf(&s, "uci set system.@system[0].hostname=%s\nuci commit system\n", shellQuote(b.System.Hostname))
	}
	fmt.Fprintf(&s, "uci set system.@system[0].zonename=%s\nuci commit system\n", shellQuote(b.System.Timezone))
	s.WriteString("exit 0\n")
	return s.String()
}
