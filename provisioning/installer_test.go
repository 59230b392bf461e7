package provisioning

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func render(t *testing.T, profile string, in BundleInput) Bundle {
	t.Helper()
	p, err := mustLoad(t).Get(profile)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(p, in)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInstallersGolden(t *testing.T) {
	renderers := map[string]func(Bundle) (string, error){
		InstallerDebianPreseed:     DebianPreseed,
		InstallerUbuntuAutoinstall: UbuntuAutoinstall,
		InstallerWindowsUnattend:   WindowsUnattend,
	}
	ext := map[string]string{InstallerDebianPreseed: "preseed.cfg", InstallerUbuntuAutoinstall: "autoinstall.yaml", InstallerWindowsUnattend: "unattend.xml"}
	s := mustLoad(t)
	for _, name := range s.Names() {
		p, _ := s.Get(name)
		b := render(t, name, input(p.Class))
		for inst, fn := range renderers {
			t.Run(name+"/"+inst, func(t *testing.T) {
				out, err := fn(b)
				if !contains(p.Installers, inst) {
					if !errors.Is(err, ErrInstaller) {
						t.Errorf("%s for %s = %v, want ErrInstaller", inst, name, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				golden(t, name+"."+ext[inst], out)
			})
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestInstallerNeedsDownload(t *testing.T) {
	in := input("laptop")
	in.AgentURL, in.AgentSHA256 = "", ""
	b := render(t, "laptop-linux", in)
	if _, err := DebianPreseed(b); !errors.Is(err, ErrInstaller) || !strings.Contains(err.Error(), "AgentURL") {
		t.Errorf("DebianPreseed without a download = %v, want ErrInstaller", err)
	}
}

// hostile is an input whose values hold what shells, YAML and XML read.
func hostile(class string) BundleInput {
	in := input(class)
	in.DeviceID = `dev-'$(touch pwned)';<x>&"y"`
	in.ServerURL = "https://valise.example:8443/a'b\"c;$(touch pwned)&`touch pwned2`<d>e\\f"
	in.EnrollToken = "vet_'\"';$(touch pwned) `touch pwned2` & <x> | y \\ $HOME \\'"
	in.WiFiSSID = `K'7"$x;<&>\`
	in.WiFiKey = `p'a"s$s;w<o>r&d\ $(touch pwned)`
	in.AgentURL = "https://dl.example/agent?a='1'&b=$(touch pwned)#\"x\""
	return in
}

// stubs makes a directory of stand-in commands that record their
// arguments and standard input; those in fail exit 1.
func stubs(t *testing.T, fail []string, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		code := "0"
		if contains(fail, n) {
			code = "1"
		}
		script := "#!/bin/sh\n{ printf '%s' \"${0##*/}\"; for a; do printf '\\037%s' \"$a\"; done; printf '\\036'; cat; printf '\\035'; } >> \"$STUB_LOG\"\nexit " + code + "\n"
		if err := os.WriteFile(filepath.Join(dir, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type call struct {
	argv  []string
	stdin string
}

// runShell runs script with sh in an empty directory, the stubs first in
// PATH, and returns the stubs' calls; it fails the test if the script
// created any file there (an injected command would).
func runShell(t *testing.T, stubDir, script string) []call {
	t.Helper()
	work := t.TempDir()
	logFile := filepath.Join(t.TempDir(), "log")
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = work
	cmd.Env = []string{"PATH=" + stubDir + ":/usr/bin:/bin", "STUB_LOG=" + logFile, "HOME=" + work}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sh: %v: %s\nscript: %s", err, stderr.String(), script)
	}
	if entries, _ := os.ReadDir(work); len(entries) > 0 {
		t.Fatalf("the script created %s: a value was run as a command", entries[0].Name())
	}
	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	var calls []call
	for _, rec := range strings.Split(string(raw), "\035") {
		if rec == "" {
			continue
		}
		head, stdin, _ := strings.Cut(rec, "\036")
		calls = append(calls, call{argv: strings.Split(head, "\037"), stdin: stdin})
	}
	return calls
}

// checkLinuxScript runs the installers' script with stand-ins and checks
// that every value reached its command byte for byte.
func checkLinuxScript(t *testing.T, b Bundle, script, stubDir string) {
	t.Helper()
	calls := runShell(t, stubDir, script)
	dl := linuxAgentPath + ".download"
	installs := map[string]call{}
	var got [][]string
	for _, c := range calls {
		switch c.argv[0] {
		case "install":
			installs[c.argv[len(c.argv)-1]] = c
		case "sha256sum":
			if want := b.AgentDownload.SHA256 + "  " + dl + "\n"; c.stdin != want {
				t.Errorf("sha256sum read %q, want %q", c.stdin, want)
			}
		default:
			got = append(got, c.argv)
		}
	}
	want := [][]string{
		{"mkdir", "-p", "/usr/local/bin"},
		{"curl", "-fsSL", "-o", dl, b.AgentDownload.URL},
		{"chmod", "0755", dl},
		{"mv", "-f", dl, linuxAgentPath},
		{"apt-get", "-y", "purge", "popularity-contest"},
		{"id", "-u", "usager"},
		{"useradd", "-m", "-s", "/bin/bash", "-c", "Session publique", "usager"},
		{"passwd", "-d", "usager"},
		append([]string{"valise-agent"}, b.enrollArgs(LinuxAgentState)...),
		{"systemctl", "enable", "valise-agent.service"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	wantFiles := map[string][2]string{LinuxUnitPath: {"0644", SystemdUnit}, "/etc/hostname": {"0644", b.System.Hostname + "\n"}}
	for _, f := range b.Files {
		wantFiles[f.Path] = [2]string{f.Mode, f.Content}
	}
	if len(installs) != len(wantFiles) {
		t.Errorf("%d files written, want %d", len(installs), len(wantFiles))
	}
	for path, w := range wantFiles {
		c, ok := installs[path]
		if !ok {
			t.Errorf("%s not written", path)
			continue
		}
		if diff := cmp.Diff([]string{"install", "-D", "-m", w[0], "/dev/stdin", path}, c.argv); diff != "" {
			t.Errorf("install %s (-want +got):\n%s", path, diff)
		}
		if c.stdin != w[1] {
			t.Errorf("%s content = %q, want %q", path, c.stdin, w[1])
		}
	}
}

var linuxStubs = []string{"in-target", "curtin", "curl", "wget", "sha256sum", "chmod", "mv", "mkdir", "install", "id", "useradd", "passwd", "apt-get", "systemctl", "valise-agent"}

func TestDebianPreseedHostile(t *testing.T) {
	dir := stubs(t, []string{"id"}, linuxStubs...)
	linuxAgentPath = filepath.Join(dir, "valise-agent")
	t.Cleanup(func() { linuxAgentPath = LinuxAgentPath })
	b := render(t, "laptop-linux", hostile("laptop"))
	out, err := DebianPreseed(b)
	if err != nil {
		t.Fatal(err)
	}
	var late string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if strings.ContainsAny(line, "\r") {
			t.Errorf("line with a carriage return: %q", line)
		}
		if v, ok := strings.CutPrefix(line, "d-i preseed/late_command string "); ok {
			late = v
		}
	}
	if late == "" {
		t.Fatalf("no late_command in:\n%s", out)
	}
	// The installer runs the value with sh -c: in-target gets sh -c SCRIPT.
	calls := runShell(t, dir, late)
	if len(calls) != 1 || len(calls[0].argv) != 4 || calls[0].argv[0] != "in-target" || calls[0].argv[1] != "sh" || calls[0].argv[2] != "-c" {
		t.Fatalf("late_command calls = %q, want one in-target sh -c SCRIPT", calls)
	}
	checkLinuxScript(t, b, calls[0].argv[3], dir)
}

func TestUbuntuAutoinstallHostile(t *testing.T) {
	dir := stubs(t, []string{"id"}, linuxStubs...)
	linuxAgentPath = filepath.Join(dir, "valise-agent")
	t.Cleanup(func() { linuxAgentPath = LinuxAgentPath })
	b := render(t, "laptop-linux", hostile("laptop"))
	out, err := UbuntuAutoinstall(b)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Autoinstall struct {
			Version  int
			Locale   string
			Keyboard struct{ Layout string }
			Timezone string
			Packages []string
			Late     [][]string `yaml:"late-commands"`
		}
	}
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, out)
	}
	a := doc.Autoinstall
	if a.Version != 1 || a.Locale != "fr_FR.UTF-8" || a.Keyboard.Layout != "fr" || a.Timezone != "Europe/Paris" || !contains(a.Packages, "chromium") {
		t.Errorf("autoinstall = %+v", a)
	}
	if len(a.Late) != 1 || len(a.Late[0]) != 7 {
		t.Fatalf("late-commands = %q", a.Late)
	}
	if diff := cmp.Diff([]string{"curtin", "in-target", "--target=/target", "--", "sh", "-c"}, a.Late[0][:6]); diff != "" {
		t.Errorf("late command (-want +got):\n%s", diff)
	}
	checkLinuxScript(t, b, a.Late[0][6], dir)
}

// unattend is what the test reads of an unattend.xml.
type unattend struct {
	Settings struct {
		Pass       string `xml:"pass,attr"`
		Components []struct {
			Name        string `xml:"name,attr"`
			InputLocale string
			UILanguage  string
			TimeZone    string
			Commands    []struct {
				Order       int
				Description string
				CommandLine string
			} `xml:"FirstLogonCommands>SynchronousCommand"`
		} `xml:"component"`
	} `xml:"settings"`
}

func TestWindowsUnattendHostile(t *testing.T) {
	in := hostile("laptop")
	// What a Windows command line cannot carry is refused, not mangled.
	if _, err := WindowsUnattend(render(t, "laptop-windows", in)); !errors.Is(err, ErrInput) {
		t.Errorf("WindowsUnattend with a '\"' in the token = %v, want ErrInput", err)
	}
	in.ServerURL = "https://valise.example:8443/a b&c<d>'e;$(x)\\"
	in.EnrollToken = "vet_';$(touch pwned)&<x>|y \\ 'z'\\"
	b := render(t, "laptop-windows", in)
	out, err := WindowsUnattend(b)
	if err != nil {
		t.Fatal(err)
	}
	var u unattend
	if err := xml.Unmarshal([]byte(out), &u); err != nil {
		t.Fatalf("not XML: %v\n%s", err, out)
	}
	if u.Settings.Pass != "oobeSystem" || len(u.Settings.Components) != 2 {
		t.Fatalf("settings = %+v", u.Settings)
	}
	intl, shell := u.Settings.Components[0], u.Settings.Components[1]
	if intl.UILanguage != "fr-FR" || intl.InputLocale != "040c:0000040c" || shell.TimeZone != "Romance Standard Time" {
		t.Errorf("language %q, keyboard %q, time zone %q", intl.UILanguage, intl.InputLocale, shell.TimeZone)
	}
	byDesc := map[string]string{}
	for i, c := range shell.Commands {
		if c.Order != i+1 {
			t.Errorf("command %d has order %d", i+1, c.Order)
		}
		byDesc[c.Description] = c.CommandLine
	}
	download := decodePowerShell(t, byDesc["Download the Valise agent and check its SHA-256"])
	if !strings.Contains(download, "-Uri 'https://dl.example/agent?a=''1''&b=$(touch pwned)#\"x\"' -OutFile") ||
		!strings.Contains(download, strings.ToUpper(b.AgentDownload.SHA256)) {
		t.Errorf("download script:\n%s", download)
	}
	wifi := decodePowerShell(t, byDesc["Add Wi-Fi network 1"])
	_, value, _ := strings.Cut(wifi, "-Value '")
	value, _, _ = strings.Cut(value, "'\nnetsh.exe")
	var profile struct {
		Name string `xml:"name"`
		Key  string `xml:"MSM>security>sharedKey>keyMaterial"`
	}
	if err := xml.Unmarshal([]byte(strings.ReplaceAll(value, "''", "'")), &profile); err != nil {
		t.Fatalf("WLAN profile: %v\n%s", err, wifi)
	}
	if profile.Name != in.WiFiSSID || profile.Key != in.WiFiKey {
		t.Errorf("WLAN profile SSID %q key %q, want %q %q", profile.Name, profile.Key, in.WiFiSSID, in.WiFiKey)
	}
	enroll := splitWindows(byDesc["Enrol with the Valise server"])
	if diff := cmp.Diff(append([]string{WindowsAgentPath}, b.enrollArgs(WindowsAgentState)...), enroll); diff != "" {
		t.Errorf("enrol command (-want +got):\n%s", diff)
	}
	if !strings.Contains(byDesc["Start the Valise agent at every boot"], `/TR "\"C:\Program Files\Valise\valise-agent.exe\" run --state C:\ProgramData\Valise\agent"`) {
		t.Errorf("scheduled task: %s", byDesc["Start the Valise agent at every boot"])
	}
}

func decodePowerShell(t *testing.T, line string) string {
	t.Helper()
	_, enc, ok := strings.Cut(line, "-EncodedCommand ")
	if !ok {
		t.Fatalf("not an encoded PowerShell command: %q", line)
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(raw)%2 != 0 {
		t.Fatalf("encoded command: %v", err)
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return string(utf16.Decode(u))
}

// splitWindows splits a command line as CommandLineToArgvW does (without
// its special case for the program name, which holds no quote here).
func splitWindows(s string) []string {
	var args []string
	var cur strings.Builder
	inQuotes, have := false, false
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '\\':
			n := 0
			for i < len(s) && s[i] == '\\' {
				n++
				i++
			}
			if i < len(s) && s[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
					i++
				}
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
			}
			have = true
		case c == '"':
			inQuotes, have = !inQuotes, true
			i++
		case (c == ' ' || c == '\t') && !inQuotes:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
			i++
		default:
			cur.WriteByte(c)
			have = true
			i++
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

func TestWindowsCommandLine(t *testing.T) {
	tests := [][]string{
		{`C:\Program Files\Valise\valise-agent.exe`, "enroll", "--token", "a b"},
		{"x", `ends with \`, `two \\`, `C:\dir\`, "", "a&b|c<d>e(f)"},
	}
	for _, args := range tests {
		line, err := windowsCommandLine(args)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(args, splitWindows(line)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", line, diff)
		}
	}
	for _, bad := range []string{`a"b`, "100%", "a^b"} {
		if _, err := windowsCommandLine([]string{"x", bad}); !errors.Is(err, ErrInput) {
			t.Errorf("windowsCommandLine(%q) = %v, want ErrInput", bad, err)
		}
	}
}

// TestUCIDefaultsHostile runs the OpenWrt first-boot script with uci and
// passwd stand-ins.
func TestUCIDefaultsHostile(t *testing.T) {
	in := hostile("hotspot")
	in.AdminPassword = `a'd"m$(touch pwned)n;<&>`
	b := render(t, "hotspot-openwrt", in)
	var script string
	for _, f := range b.Files {
		if f.Path == OpenWrtUCIDefaultFile {
			script = f.Content
		}
	}
	dir := stubs(t, nil, "uci", "passwd")
	// uci -q show wireless lists one interface, from a stand-in of its own.
	show := "#!/bin/sh\n[ \"$1 $2 $3\" = \"-q show wireless\" ] && { echo \"wireless.default_radio0=wifi-iface\"; exit 0; }\n" +
		"{ printf '%s' uci; for a; do printf '\\037%s' \"$a\"; done; printf '\\036\\035'; } >> \"$STUB_LOG\"\n"
	if err := os.WriteFile(filepath.Join(dir, "uci"), []byte(show), 0o755); err != nil {
		t.Fatal(err)
	}
	calls := runShell(t, dir, script)
	var got []string
	for _, c := range calls {
		got = append(got, strings.Join(c.argv, "|"))
		if c.argv[0] == "passwd" {
			if want := in.AdminPassword + "\n" + in.AdminPassword + "\n"; c.stdin != want {
				t.Errorf("passwd read %q, want %q", c.stdin, want)
			}
		}
	}
	want := []string{
		"uci|set|wireless.default_radio0.ssid=" + in.WiFiSSID,
		"uci|set|wireless.default_radio0.encryption=psk2",
		"uci|set|wireless.default_radio0.key=" + in.WiFiKey,
		"uci|set|wireless.default_radio0.maxassoc=10",
		"uci|commit|wireless",
		"passwd|root",
		"uci|set|system.@system[0].hostname=val-0031",
		"uci|commit|system",
		"uci|set|system.@system[0].zonename=Europe/Paris",
		"uci|commit|system",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestResetScript(t *testing.T) {
	// The script must parse; running it needs root and a real account.
	cmd := exec.Command("sh", "-n")
	cmd.Stdin = strings.NewReader(resetScript("usager"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v: %s", err, out)
	}
}

func TestSystemdUnit(t *testing.T) {
	for _, want := range []string{
		"ExecStart=" + LinuxAgentPath + " run --state " + LinuxAgentState + "\n",
		"Restart=always\n", "DynamicUser=no\n", "ProtectSystem=strict\n", "PrivateTmp=yes\n",
		"ReadWritePaths=" + LinuxAgentState + "\n", "WantedBy=multi-user.target\n",
	} {
		if !strings.Contains(SystemdUnit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// systemd's own check, where it is installed, with a stand-in binary.
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		dir := t.TempDir()
		unit := strings.ReplaceAll(SystemdUnit, "ExecStart="+LinuxAgentPath, "ExecStart=/bin/true")
		path := filepath.Join(dir, "valise-agent.service")
		if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
	if !strings.HasPrefix(OpenWrtInit, "#!/bin/sh /etc/rc.common\n") || !strings.Contains(OpenWrtInit, "USE_PROCD=1") {
		t.Error("the OpenWrt init script is not a procd script")
	}
	for _, script := range []string{"openwrt/valise-agent", "install.sh"} {
		if out, err := exec.Command("sh", "-n", script).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", script, err, out)
		}
	}
}

func TestInstallScript(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "valise-agent")
	if err := os.WriteFile(bin, []byte("agent v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command("sh", append([]string{"install.sh"}, args...)...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	tests := []struct {
		init, bin, service, mode string
	}{
		{"systemd", "/usr/local/bin/valise-agent", "/etc/systemd/system/valise-agent.service", "-rw-r--r--"},
		{"openwrt", "/usr/bin/valise-agent", "/etc/init.d/valise-agent", "-rwxr-xr-x"},
	}
	for _, tt := range tests {
		t.Run(tt.init, func(t *testing.T) {
			root := t.TempDir()
			out, code := run(t, "--root", root, "--init", tt.init, bin)
			if code != 0 || !strings.Contains(out, "installed: "+tt.bin) || !strings.Contains(out, "installed: "+tt.service) {
				t.Fatalf("first run (%d):\n%s", code, out)
			}
			out, code = run(t, "--root", root, "--init", tt.init, bin)
			if code != 0 || !strings.Contains(out, "unchanged: "+tt.bin) || !strings.Contains(out, "unchanged: "+tt.service) {
				t.Errorf("second run (%d) changed something:\n%s", code, out)
			}
			if err := os.WriteFile(bin, []byte("agent v2"), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.WriteFile(bin, []byte("agent v1"), 0o755) })
			out, _ = run(t, "--root", root, "--init", tt.init, bin)
			if !strings.Contains(out, "installed: "+tt.bin) || !strings.Contains(out, "unchanged: "+tt.service) {
				t.Errorf("run with a new binary:\n%s", out)
			}
			if b, _ := os.ReadFile(filepath.Join(root, tt.bin)); string(b) != "agent v2" {
				t.Errorf("binary = %q", b)
			}
			if fi, err := os.Stat(filepath.Join(root, tt.bin)); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("binary mode: %v %v", fi, err)
			}
			if fi, err := os.Stat(filepath.Join(root, tt.service)); err != nil || fi.Mode().String() != tt.mode {
				t.Errorf("service mode: %v %v, want %s", fi, err, tt.mode)
			}
		})
	}
	for _, args := range [][]string{{}, {"--server", "https://x", bin}, {"--init", "upstart", bin}, {"--bogus", bin}} {
		if out, code := run(t, args...); code != 2 {
			t.Errorf("install.sh %q = %d, want 2:\n%s", args, code, out)
		}
	}
}
