package provisioning

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/valise-numerique/valise/internal/wire"
)

//go:embed profiles/*.toml
var embedded embed.FS

// Operating systems a profile targets.
const (
	OSLinux   = "linux"   // Debian or Ubuntu
	OSWindows = "windows" // Windows 10/11
	OSAndroid = "android" // Android tablet; the agent runs under Termux
	OSHiLink  = "hilink"  // Huawei HiLink hotspot: no agent, driven by a kit laptop's agent
	OSOpenWrt = "openwrt" // OpenWrt hotspot (GL.iNet): runs the agent
)

// Unattended installers a profile may list, each with its renderer.
const (
	InstallerDebianPreseed     = "debian-preseed"     // DebianPreseed
	InstallerUbuntuAutoinstall = "ubuntu-autoinstall" // UbuntuAutoinstall
	InstallerWindowsUnattend   = "windows-unattend"   // WindowsUnattend
)

// Package managers, by operating system.
var managers = map[string]string{
	OSLinux: "apt", OSWindows: "winget", OSAndroid: "android", OSOpenWrt: "opkg", OSHiLink: "none",
}

// installerOS is the operating system each installer installs.
var installerOS = map[string]string{
	InstallerDebianPreseed: OSLinux, InstallerUbuntuAutoinstall: OSLinux, InstallerWindowsUnattend: OSWindows,
}

// Profile is what a device must have after provisioning. Profiles are
// TOML files; see the files under profiles/ and README.md for every key.
// String values may use the variables of Render ("${WIFI_KEY}"). A
// Profile from a Set is shared: treat it as read-only.
type Profile struct {
	Name        string `toml:"name"`
	Description string `toml:"description"`
	Class       string `toml:"class"` // wire.Class*
	OS          string `toml:"os"`    // OS*
	// Installers are the unattended installers the profile supports
	// (Installer*); empty for devices provisioned by the agent alone.
	Installers []string      `toml:"installers"`
	Agent      AgentSettings `toml:"agent"`
	System     System        `toml:"system"`
	WiFi       []WiFi        `toml:"wifi"`
	Packages   Packages      `toml:"packages"`
	Kiosk      *Kiosk        `toml:"kiosk"`
	Hotspot    *Hotspot      `toml:"hotspot"`
	Files      []File        `toml:"files"`
}

// AgentSettings is the agent configuration the profile asks for; it
// becomes the bundle's agent_config (wire.AgentConfig).
type AgentSettings struct {
	Interval          wire.Duration `toml:"interval"`
	InventoryInterval wire.Duration `toml:"inventory_interval"`
}

// System holds the device-wide settings.
type System struct {
	Locale   string `toml:"locale" json:"locale"`               // fr_FR.UTF-8
	Timezone string `toml:"timezone" json:"timezone"`           // Europe/Paris
	Keyboard string `toml:"keyboard" json:"keyboard,omitempty"` // xkb layout: fr
	Hostname string `toml:"hostname" json:"hostname,omitempty"` // after rendering: lowercase letters, digits, dashes
	// PublicUser is the account members of the public use: no password,
	// no data kept.
	PublicUser string `toml:"public_user" json:"public_user,omitempty"`
	// ResetSessionAtLogout gives PublicUser a fresh home at each logout.
	ResetSessionAtLogout bool `toml:"reset_session_at_logout" json:"reset_session_at_logout"`
	AutomaticUpdates     bool `toml:"automatic_updates" json:"automatic_updates"`
}

// WiFi is a network the device joins.
type WiFi struct {
	SSID     string `toml:"ssid" json:"ssid"`
	Security string `toml:"security" json:"security"` // wpa2-psk, wpa3-sae, open
	// Key is the passphrase; in a profile it must be a variable
	// ("${WIFI_KEY}"): secrets are never written in profile files.
	Key         string `toml:"key" json:"key,omitempty"`
	Hidden      bool   `toml:"hidden" json:"hidden"`
	Autoconnect bool   `toml:"autoconnect" json:"autoconnect"`
	Priority    int    `toml:"priority" json:"priority,omitempty"`
}

// Packages are what the device's package manager installs and removes.
type Packages struct {
	Manager string   `toml:"manager" json:"manager"` // apt, winget, android, opkg, none
	Install []string `toml:"install" json:"install,omitempty"`
	Remove  []string `toml:"remove" json:"remove,omitempty"`
}

// Kiosk is the browser set up for the public's online procedures.
type Kiosk struct {
	Browser   string     `toml:"browser" json:"browser"` // chromium, firefox-esr, msedge, chrome, firefox
	Home      string     `toml:"home" json:"home"`       // https:// start page
	Bookmarks []Bookmark `toml:"bookmarks" json:"bookmarks,omitempty"`
	// PrivateBrowsing keeps no history, cookies or forms between sessions.
	PrivateBrowsing bool `toml:"private_browsing" json:"private_browsing"`
	// IdleReset ends the session after this long without input; 0 never.
	IdleReset wire.Duration `toml:"idle_reset" json:"idle_reset,omitempty"`
}

// Bookmark is one site of the kiosk's bookmark bar.
type Bookmark struct {
	Title string `toml:"title" json:"title"`
	URL   string `toml:"url" json:"url"`
}

// Hotspot holds the settings of a kit's 4G hotspot, applied at its
// factory reset: its Wi-Fi network and a new admin password.
type Hotspot struct {
	SSID     string `toml:"ssid" json:"ssid"`
	Security string `toml:"security" json:"security"` // wpa2-psk, wpa3-sae
	// Key and AdminPassword must be variables in a profile.
	Key           string `toml:"key" json:"key"`
	AdminPassword string `toml:"admin_password" json:"admin_password"`
	MaxClients    int    `toml:"max_clients" json:"max_clients,omitempty"`
	// DeleteSMS empties the SMS boxes of the device and of the SIM.
	DeleteSMS    bool `toml:"delete_sms" json:"delete_sms"`
	FactoryReset bool `toml:"factory_reset" json:"factory_reset"`
	DataRoaming  bool `toml:"data_roaming" json:"data_roaming"`
}

// File is a file the device must hold.
type File struct {
	Path    string `toml:"path" json:"path"`       // absolute
	Mode    string `toml:"mode" json:"mode"`       // octal: "0644"
	Content string `toml:"content" json:"content"` // text
}

// Set is a validated set of profiles, safe for concurrent reads.
type Set struct {
	profiles map[string]Profile
}

// Load returns the profiles shipped with Valise (profiles/*.toml).
func Load() (*Set, error) {
	sub, err := fs.Sub(embedded, "profiles")
	if err != nil {
		return nil, fmt.Errorf("load profiles: %w", err)
	}
	return loadFS(sub, "profiles")
}

// LoadDir returns the profiles of dir's *.toml files, instead of the
// shipped ones (copy those to start from them). Each file holds one
// profile whose name is the file's name without .toml.
func LoadDir(dir string) (*Set, error) {
	return loadFS(os.DirFS(dir), dir)
}

func loadFS(fsys fs.FS, dir string) (*Set, error) {
	names, err := fs.Glob(fsys, "*.toml")
	if err != nil {
		return nil, fmt.Errorf("load profiles from %s: %w", dir, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no *.toml file in %s", ErrProfile, dir)
	}
	s := &Set{profiles: make(map[string]Profile, len(names))}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("load profile %s: %w", path.Join(dir, name), err)
		}
		p, err := Parse(path.Join(dir, name), data)
		if err != nil {
			return nil, err
		}
		if want := strings.TrimSuffix(name, ".toml"); p.Name != want {
			return nil, fmt.Errorf("%w: %s: name %q must be the file's name, %q", ErrProfile, path.Join(dir, name), p.Name, want)
		}
		s.profiles[p.Name] = p
	}
	return s, nil
}

// Get returns the profile called name.
func (s *Set) Get(name string) (Profile, error) {
	p, ok := s.profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("%w %q; known: %s", ErrNoProfile, name, strings.Join(s.Names(), ", "))
	}
	return p, nil
}

// Names returns the profiles' names, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.profiles))
	for n := range s.profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Parse reads and validates one profile; file names it in errors, which
// give the line of the faulty key when it is known.
func Parse(file string, data []byte) (Profile, error) {
	var p Profile
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&p)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Profile{}, fmt.Errorf("%w: %s:%d: %s", ErrProfile, file, pe.Position.Line, pe.Message)
		}
		return Profile{}, fmt.Errorf("%w: %s: %v", ErrProfile, file, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		first, line := und[0], 0
		for _, k := range und {
			if l := keyLine(data, k); l > 0 && (line == 0 || l < line) {
				first, line = k, l
			}
		}
		where := file
		if line > 0 {
			where = fmt.Sprintf("%s:%d", file, line)
		}
		return Profile{}, fmt.Errorf("%w: %s: unknown key %q", ErrProfile, where, first.String())
	}
	if err := p.validate(); err != nil {
		return Profile{}, fmt.Errorf("%w: %s: %v", ErrProfile, file, err)
	}
	return p, nil
}

// keyLine finds the line where key is set or its table opens; 0 if it
// cannot tell. It reads the file line by line, which is enough for
// profiles: tables, arrays of tables, key = value and multi-line strings.
func keyLine(data []byte, key toml.Key) int {
	var table []string
	inString := ""
	for i, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if inString != "" {
			if strings.Count(t, inString)%2 == 1 {
				inString = ""
			}
			continue
		}
		switch {
		case t == "" || strings.HasPrefix(t, "#"):
			continue
		case strings.HasPrefix(t, "["):
			name := strings.Trim(strings.SplitN(t, "#", 2)[0], " \t[]")
			table = splitKey(name)
			if slices.Equal(table, key) {
				return i + 1
			}
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		full := append(slices.Clone(table), splitKey(k)...)
		if slices.Equal(full, key) {
			return i + 1
		}
		for _, q := range []string{`"""`, `'''`} {
			if strings.Count(v, q)%2 == 1 {
				inString = q
			}
		}
	}
	return 0
}

func splitKey(k string) []string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return parts
}

var (
	nameRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	localeRe   = regexp.MustCompile(`^[a-z]{2,3}_[A-Z]{2}(\.UTF-8)?$`)
	timezoneRe = regexp.MustCompile(`^[A-Z][A-Za-z_]+(/[A-Za-z_+-]+)+$`)
	modeRe     = regexp.MustCompile(`^0?[0-7]{3}$`)
	keyboardRe = regexp.MustCompile(`^[a-z]{2,8}$`)
	varRe      = regexp.MustCompile(`\$\{([A-Za-z0-9_]*)\}`)
	// packageRe refuses what a package manager would read as an option.
	packageRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+:~-]*$`)
)

var securities = []string{"wpa2-psk", "wpa3-sae", "open"}
var browsers = []string{"chromium", "firefox-esr", "firefox", "msedge", "chrome"}

func (p *Profile) validate() error {
	switch {
	case !nameRe.MatchString(p.Name):
		return fmt.Errorf("name %q: want lowercase letters, digits and dashes", p.Name)
	case !wire.ValidClass(p.Class):
		return fmt.Errorf("class %q: want laptop, tablet, hotspot or other", p.Class)
	case managers[p.OS] == "":
		return fmt.Errorf("os %q: want linux, windows, android, hilink or openwrt", p.OS)
	}
	for _, in := range p.Installers {
		os, ok := installerOS[in]
		if !ok {
			return fmt.Errorf("installers: %q: want debian-preseed, ubuntu-autoinstall or windows-unattend", in)
		}
		if os != p.OS {
			return fmt.Errorf("installers: %s installs %s, not %s", in, os, p.OS)
		}
	}
	if p.Agent.Interval < wire.Duration(time.Second) || p.Agent.InventoryInterval < wire.Duration(time.Second) {
		return errors.New("agent: interval and inventory_interval are required, at least 1s")
	}
	if !localeRe.MatchString(p.System.Locale) {
		return fmt.Errorf("system.locale %q: want a locale such as fr_FR.UTF-8", p.System.Locale)
	}
	if !timezoneRe.MatchString(p.System.Timezone) {
		return fmt.Errorf("system.timezone %q: want a zone such as Europe/Paris", p.System.Timezone)
	}
	if k := p.System.Keyboard; k != "" && !keyboardRe.MatchString(k) {
		return fmt.Errorf("system.keyboard %q: want an xkb layout such as fr", k)
	}
	if p.System.ResetSessionAtLogout && p.System.PublicUser == "" {
		return errors.New("system: reset_session_at_logout needs public_user")
	}
	if u := p.System.PublicUser; u != "" && !nameRe.MatchString(u) {
		return fmt.Errorf("system.public_user %q: want lowercase letters, digits and dashes", u)
	}
	for i, w := range p.WiFi {
		if err := checkNetwork(fmt.Sprintf("wifi[%d]", i), w.SSID, w.Security, w.Key, true); err != nil {
			return err
		}
	}
	if want := managers[p.OS]; p.Packages.Manager != want {
		return fmt.Errorf("packages.manager %q: an %s device uses %q", p.Packages.Manager, p.OS, want)
	}
	for _, name := range slices.Concat(p.Packages.Install, p.Packages.Remove) {
		if !packageRe.MatchString(name) {
			return fmt.Errorf("packages: %q is not a package name", name)
		}
	}
	if p.Packages.Manager == "none" && len(p.Packages.Install)+len(p.Packages.Remove) > 0 {
		return errors.New("packages: a device without a package manager installs nothing")
	}
	if k := p.Kiosk; k != nil {
		if !slices.Contains(browsers, k.Browser) {
			return fmt.Errorf("kiosk.browser %q: want one of %s", k.Browser, strings.Join(browsers, ", "))
		}
		if err := checkHTTPS("kiosk.home", k.Home); err != nil {
			return err
		}
		for i, b := range k.Bookmarks {
			if strings.TrimSpace(b.Title) == "" {
				return fmt.Errorf("kiosk.bookmarks[%d]: title is required", i)
			}
			if err := checkHTTPS(fmt.Sprintf("kiosk.bookmarks[%d].url", i), b.URL); err != nil {
				return err
			}
		}
		if k.IdleReset < 0 {
			return errors.New("kiosk.idle_reset must not be negative")
		}
	}
	if (p.Class == wire.ClassHotspot) != (p.Hotspot != nil) {
		return errors.New("hotspot: a [hotspot] table is required for class hotspot and only there")
	}
	if h := p.Hotspot; h != nil {
		if err := checkNetwork("hotspot", h.SSID, h.Security, h.Key, false); err != nil {
			return err
		}
		if !isVariable(h.AdminPassword) {
			return fmt.Errorf("hotspot.admin_password must be a variable such as ${ADMIN_PASSWORD}, never the password itself")
		}
		if h.MaxClients < 0 || h.MaxClients > 64 {
			return fmt.Errorf("hotspot.max_clients %d: want 0 to 64", h.MaxClients)
		}
	}
	for i, f := range p.Files {
		if err := checkFile(f); err != nil {
			return fmt.Errorf("files[%d]: %v", i, err)
		}
	}
	return p.checkVariables()
}

func checkNetwork(where, ssid, security, key string, openAllowed bool) error {
	if ssid == "" || len(ssid) > 32 {
		return fmt.Errorf("%s.ssid %q: want 1 to 32 bytes", where, ssid)
	}
	if !slices.Contains(securities, security) || (security == "open" && !openAllowed) {
		return fmt.Errorf("%s.security %q: want wpa2-psk or wpa3-sae", where, security)
	}
	if security == "open" {
		if key != "" {
			return fmt.Errorf("%s: an open network has no key", where)
		}
		return nil
	}
	if !isVariable(key) {
		return fmt.Errorf("%s.key must be a variable such as ${WIFI_KEY}, never the key itself", where)
	}
	return nil
}

func checkHTTPS(where, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%s %q: want an https:// URL", where, s)
	}
	return nil
}

func checkFile(f File) error {
	p := f.Path
	windows := len(p) > 3 && p[1] == ':' && p[2] == '\\'
	if !windows && (!strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/") {
		return fmt.Errorf("path %q: want a clean absolute path", p)
	}
	if strings.Contains(p, "..") || strings.ContainsAny(p, "\x00\n\r") {
		return fmt.Errorf("path %q: want a clean absolute path", p)
	}
	if !modeRe.MatchString(f.Mode) {
		return fmt.Errorf("mode %q: want octal such as 0644", f.Mode)
	}
	return nil
}

// isVariable reports whether s is exactly one variable reference.
func isVariable(s string) bool {
	m := varRe.FindStringSubmatchIndex(s)
	return m != nil && m[0] == 0 && m[1] == len(s)
}

// checkVariables refuses unknown variables anywhere in the profile.
func (p *Profile) checkVariables() error {
	var err error
	p.eachString(func(where string, s *string) {
		for _, m := range varRe.FindAllStringSubmatch(unescapeDollars(*s), -1) {
			if _, ok := variables[m[1]]; !ok && err == nil {
				err = fmt.Errorf("%s: unknown variable ${%s}; known: %s", where, m[1], strings.Join(variableNames(), ", "))
			}
		}
	})
	return err
}

// unescapeDollars drops the "$${" escapes before looking for variables.
func unescapeDollars(s string) string { return strings.ReplaceAll(s, "$${", "") }

// eachString calls f on every string of p that variables may appear in.
func (p *Profile) eachString(f func(where string, s *string)) {
	f("system.hostname", &p.System.Hostname)
	for i := range p.WiFi {
		f(fmt.Sprintf("wifi[%d].ssid", i), &p.WiFi[i].SSID)
		f(fmt.Sprintf("wifi[%d].key", i), &p.WiFi[i].Key)
	}
	if k := p.Kiosk; k != nil {
		f("kiosk.home", &k.Home)
		for i := range k.Bookmarks {
			f(fmt.Sprintf("kiosk.bookmarks[%d].url", i), &k.Bookmarks[i].URL)
		}
	}
	if h := p.Hotspot; h != nil {
		f("hotspot.ssid", &h.SSID)
		f("hotspot.key", &h.Key)
		f("hotspot.admin_password", &h.AdminPassword)
	}
	for i := range p.Files {
		f(fmt.Sprintf("files[%d].content", i), &p.Files[i].Content)
	}
}
