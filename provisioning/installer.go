package provisioning

import (
	_ "embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
)

// SystemdUnit is the agent's systemd unit (systemd/valise-agent.service),
// which the Linux installers install.
//
//go:embed systemd/valise-agent.service
var SystemdUnit string

// OpenWrtInit is the agent's procd init script (openwrt/valise-agent).
//
//go:embed openwrt/valise-agent
var OpenWrtInit string

// Where the installers put the agent.
const (
	LinuxAgentPath      = "/usr/local/bin/valise-agent"
	LinuxAgentState     = "/var/lib/valise-agent"
	LinuxUnitPath       = "/etc/systemd/system/valise-agent.service"
	WindowsAgentDir     = `C:\Program Files\Valise`
	WindowsAgentPath    = WindowsAgentDir + `\valise-agent.exe`
	WindowsAgentState   = `C:\ProgramData\Valise\agent`
	WindowsScheduledJob = "Valise agent"
)

// linuxAgentPath is LinuxAgentPath; tests point it at a stand-in.
var linuxAgentPath = LinuxAgentPath

// shellQuote quotes s for a POSIX shell: one single-quoted word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (b Bundle) installer(name string) error {
	if !slices.Contains(b.Installers, name) {
		return fmt.Errorf("%w: profile %s does not list %s", ErrInstaller, b.Profile, name)
	}
	if b.AgentDownload == nil {
		return fmt.Errorf("%w: %s needs the agent's download URL and SHA-256 (BundleInput.AgentURL, AgentSHA256)", ErrInstaller, name)
	}
	if b.Enroll.Token == "" || b.Enroll.Server == "" {
		return fmt.Errorf("%w: the bundle has no enrolment server or token", ErrInstaller)
	}
	return nil
}

// enrollArgs are the arguments of `valise-agent enroll` for b.
func (b Bundle) enrollArgs(state string) []string {
	args := []string{"enroll", "--server", b.Enroll.Server, "--token", b.Enroll.Token}
	if b.Enroll.CAPin != "" {
		args = append(args, "--ca-pin", b.Enroll.CAPin)
	}
	args = append(args, "--state", state)
	if b.AssetTag != "" {
		args = append(args, "--asset-tag", b.AssetTag)
	}
	return args
}

// linuxScript is the shell script, one line, that the Linux installers run
// in the installed system: it installs the agent (checking its SHA-256),
// its unit and the bundle's files, makes the public account, enrols with
// the bundle's token and enables the agent.
func linuxScript(b Bundle) string {
	q := shellQuote
	dl := linuxAgentPath + ".download"
	cmds := []string{
		"set -e",
		"mkdir -p " + q("/usr/local/bin"),
		"if command -v curl >/dev/null 2>&1; then curl -fsSL -o " + q(dl) + " " + q(b.AgentDownload.URL) +
			"; else wget -q -O " + q(dl) + " " + q(b.AgentDownload.URL) + "; fi",
		"echo " + q(b.AgentDownload.SHA256+"  "+dl) + " | sha256sum -c --quiet -",
		"chmod 0755 " + q(dl),
		"mv -f " + q(dl) + " " + q(linuxAgentPath),
		writeFile(LinuxUnitPath, "0644", SystemdUnit),
	}
	if h := b.System.Hostname; h != "" {
		cmds = append(cmds, writeFile("/etc/hostname", "0644", h+"\n"))
	}
	for _, f := range b.Files {
		cmds = append(cmds, writeFile(f.Path, f.Mode, f.Content))
	}
	if len(b.Packages.Remove) > 0 {
		rm := "DEBIAN_FRONTEND=noninteractive apt-get -y purge"
		for _, p := range b.Packages.Remove {
			rm += " " + q(p)
		}
		cmds = append(cmds, rm)
	}
	if u := b.System.PublicUser; u != "" {
		cmds = append(cmds, "id -u "+q(u)+" >/dev/null 2>&1 || { useradd -m -s /bin/bash -c "+q("Session publique")+" "+q(u)+" && passwd -d "+q(u)+"; }")
	}
	enroll := q(linuxAgentPath)
	for _, a := range b.enrollArgs(LinuxAgentState) {
		enroll += " " + q(a)
	}
	cmds = append(cmds, enroll, "systemctl enable valise-agent.service")
	return strings.Join(cmds, "; ")
}

// writeFile is a command that writes content to path with mode, through
// base64 so that any content fits on one line.
func writeFile(path, mode, content string) string {
	return "printf %s " + shellQuote(base64.StdEncoding.EncodeToString([]byte(content))) +
		" | base64 -d | install -D -m " + shellQuote(mode) + " /dev/stdin " + shellQuote(path)
}

// linuxPackages are the packages a Linux installer installs: the
// profile's, with what the late command needs.
func linuxPackages(b Bundle) []string {
	pkgs := []string{"ca-certificates", "wget"}
	for _, p := range b.Packages.Install {
		if !slices.Contains(pkgs, p) {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

// DebianPreseed renders the lines to add to a Debian installer preseed
// file: locale, keyboard, time zone, host name, packages, and a
// preseed/late_command that runs in the installed system (in-target): it
// downloads the agent and checks its SHA-256, installs the systemd unit
// and the bundle's files, makes the public account, enrols with the
// bundle's single-use token and enables the agent. The result holds that
// token: serve it only to the device being installed.
func DebianPreseed(b Bundle) (string, error) {
	if err := b.installer(InstallerDebianPreseed); err != nil {
		return "", err
	}
	var s strings.Builder
	s.WriteString("# Valise: provisioning bundle rendered for the Debian installer.\n")
	s.WriteString("# It holds a single-use enrolment token: do not publish it.\n")
	fmt.Fprintf(&s, "d-i debian-installer/locale string %s\n", b.System.Locale)
	if b.System.Keyboard != "" {
		fmt.Fprintf(&s, "d-i keyboard-configuration/xkb-keymap select %s\n", b.System.Keyboard)
	}
	fmt.Fprintf(&s, "d-i time/zone string %s\n", b.System.Timezone)
	if h := b.System.Hostname; h != "" {
		fmt.Fprintf(&s, "d-i netcfg/get_hostname string %s\nd-i netcfg/hostname string %s\n", h, h)
	}
	fmt.Fprintf(&s, "d-i pkgsel/include string %s\n", strings.Join(linuxPackages(b), " "))
	if b.System.AutomaticUpdates {
		s.WriteString("d-i pkgsel/update-policy select unattended-upgrades\n")
	}
	s.WriteString("d-i preseed/late_command string in-target sh -c " + shellQuote(linuxScript(b)) + "\n")
	return s.String(), nil
}

// UbuntuAutoinstall renders an Ubuntu autoinstall (cloud-config) document
// with the locale, keyboard, time zone, packages and late-commands
// (curtin in-target, the same steps as DebianPreseed). Merge it with the
// site's own (identity, storage…). Every value is a YAML double-quoted
// string or a flow sequence of them.
func UbuntuAutoinstall(b Bundle) (string, error) {
	if err := b.installer(InstallerUbuntuAutoinstall); err != nil {
		return "", err
	}
	var s strings.Builder
	s.WriteString("#cloud-config\n# Valise: provisioning bundle rendered for Ubuntu autoinstall.\n")
	s.WriteString("# It holds a single-use enrolment token: do not publish it.\n")
	s.WriteString("autoinstall:\n  version: 1\n")
	fmt.Fprintf(&s, "  locale: %s\n", yamlString(b.System.Locale))
	if b.System.Keyboard != "" {
		fmt.Fprintf(&s, "  keyboard:\n    layout: %s\n", yamlString(b.System.Keyboard))
	}
	fmt.Fprintf(&s, "  timezone: %s\n", yamlString(b.System.Timezone))
	if b.System.AutomaticUpdates {
		s.WriteString("  updates: security\n")
	}
	s.WriteString("  packages:\n")
	for _, p := range linuxPackages(b) {
		fmt.Fprintf(&s, "    - %s\n", yamlString(p))
	}
	s.WriteString("  late-commands:\n")
	fmt.Fprintf(&s, "    - %s\n", yamlFlow([]string{"curtin", "in-target", "--target=/target", "--", "sh", "-c", linuxScript(b)}))
	return s.String(), nil
}

// yamlString is s as a YAML double-quoted scalar: a JSON string is one.
func yamlString(s string) string {
	var out strings.Builder
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(out.String(), "\n")
}

func yamlFlow(items []string) string {
	quoted := make([]string, len(items))
	for i, it := range items {
		quoted[i] = yamlString(it)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// Windows settings the unattend file needs, by the profile's values.
var (
	windowsTimeZones = map[string]string{
		"Europe/Paris":       "Romance Standard Time",
		"America/Guadeloupe": "SA Western Standard Time",
		"America/Martinique": "SA Western Standard Time",
		"America/Cayenne":    "SA Eastern Standard Time",
		"Indian/Reunion":     "Mauritius Standard Time",
		"Indian/Mayotte":     "E. Africa Standard Time",
		"Pacific/Noumea":     "Central Pacific Standard Time",
		"Pacific/Tahiti":     "Hawaiian Standard Time",
	}
	windowsKeyboards = map[string]string{
		"fr": "040c:0000040c", "be": "080c:0000080c", "ch": "100c:0000100c", "us": "0409:00000409", "de": "0407:00000407",
	}
)

// WindowsUnattend renders an unattend.xml whose oobeSystem pass sets the
// language, keyboard and time zone and whose FirstLogonCommands download
// the agent (checking its SHA-256), add the bundle's Wi-Fi networks,
// install the profile's winget packages, enrol with the bundle's token and
// register the agent as a scheduled task run as SYSTEM at start-up.
// Commands that carry values run as PowerShell -EncodedCommand, so no
// value meets cmd.exe; the enrolment command line quotes its arguments as
// Windows programs parse them and refuses values holding '"', '%' or '^'.
func WindowsUnattend(b Bundle) (string, error) {
	if err := b.installer(InstallerWindowsUnattend); err != nil {
		return "", err
	}
	tz, ok := windowsTimeZones[b.System.Timezone]
	if !ok {
		return "", fmt.Errorf("%w: no Windows time zone known for %s", ErrInstaller, b.System.Timezone)
	}
	lang := strings.ReplaceAll(strings.TrimSuffix(b.System.Locale, ".UTF-8"), "_", "-")
	type command struct{ desc, line string }
	var cmds []command
	psq := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

	cmds = append(cmds, command{"Download the Valise agent and check its SHA-256", powershell(strings.Join([]string{
		"$ErrorActionPreference = 'Stop'",
		"New-Item -ItemType Directory -Force -Path " + psq(WindowsAgentDir) + " | Out-Null",
		"$tmp = " + psq(WindowsAgentPath+".download"),
		"Invoke-WebRequest -UseBasicParsing -Uri " + psq(b.AgentDownload.URL) + " -OutFile $tmp",
		"if ((Get-FileHash -Algorithm SHA256 -Path $tmp).Hash -ne " + psq(strings.ToUpper(b.AgentDownload.SHA256)) +
			") { Remove-Item $tmp; throw 'valise-agent: SHA-256 mismatch' }",
		"Move-Item -Force $tmp " + psq(WindowsAgentPath),
	}, "\n"))})
	for i, w := range b.WiFi {
		file := fmt.Sprintf(`$env:TEMP\valise-wifi-%d.xml`, i+1)
		cmds = append(cmds, command{fmt.Sprintf("Add Wi-Fi network %d", i+1), powershell(strings.Join([]string{
			"$ErrorActionPreference = 'Stop'",
			"$f = \"" + file + "\"",
			"Set-Content -Encoding UTF8 -Path $f -Value " + psq(wlanProfile(w)),
			"netsh.exe wlan add profile filename=\"$f\" user=all",
			"Remove-Item $f",
		}, "\n"))})
	}
	for _, p := range b.Packages.Install {
		cmds = append(cmds, command{"Install " + p, "winget.exe install --exact --id " + p +
			" --silent --scope machine --accept-package-agreements --accept-source-agreements"})
	}
	enroll, err := windowsCommandLine(append([]string{WindowsAgentPath}, b.enrollArgs(WindowsAgentState)...))
	if err != nil {
		return "", err
	}
	run, _ := windowsCommandLine([]string{WindowsAgentPath, "run", "--state", WindowsAgentState})
	cmds = append(cmds,
		command{"Enrol with the Valise server", enroll},
		command{"Start the Valise agent at every boot", `schtasks.exe /Create /F /TN "` + WindowsScheduledJob +
			`" /RU SYSTEM /RL HIGHEST /SC ONSTART /TR "` + strings.ReplaceAll(run, `"`, `\"`) + `"`},
		command{"Start the Valise agent now", `schtasks.exe /Run /TN "` + WindowsScheduledJob + `"`},
	)

	var s strings.Builder
	s.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	s.WriteString("<!-- Valise: provisioning bundle rendered for Windows Setup. It holds a single-use enrolment token: do not publish it. -->\n")
	s.WriteString(`<unattend xmlns="urn:schemas-microsoft-com:unattend" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">` + "\n")
	s.WriteString(`  <settings pass="oobeSystem">` + "\n")
	const attrs = `processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS"`
	s.WriteString(`    <component name="Microsoft-Windows-International-Core" ` + attrs + ">\n")
	if kb, ok := windowsKeyboards[b.System.Keyboard]; ok {
		fmt.Fprintf(&s, "      <InputLocale>%s</InputLocale>\n", kb)
	}
	for _, tag := range []string{"SystemLocale", "UILanguage", "UserLocale"} {
		fmt.Fprintf(&s, "      <%s>%s</%s>\n", tag, xmlText(lang), tag)
	}
	s.WriteString("    </component>\n")
	s.WriteString(`    <component name="Microsoft-Windows-Shell-Setup" ` + attrs + ">\n")
	fmt.Fprintf(&s, "      <TimeZone>%s</TimeZone>\n", xmlText(tz))
	s.WriteString("      <FirstLogonCommands>\n")
	for i, c := range cmds {
		fmt.Fprintf(&s, "        <SynchronousCommand wcm:action=\"add\">\n          <Order>%d</Order>\n", i+1)
		fmt.Fprintf(&s, "          <Description>%s</Description>\n", xmlText(c.desc))
		fmt.Fprintf(&s, "          <CommandLine>%s</CommandLine>\n", xmlText(c.line))
		s.WriteString("          <RequiresUserInput>false</RequiresUserInput>\n        </SynchronousCommand>\n")
	}
	s.WriteString("      </FirstLogonCommands>\n    </component>\n  </settings>\n</unattend>\n")
	return s.String(), nil
}

// powershell is a command line running script through -EncodedCommand
// (base64 of its UTF-16LE), which needs no quoting at all.
func powershell(script string) string {
	u := utf16.Encode([]rune(script))
	raw := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(raw[2*i:], c)
	}
	return "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand " + base64.StdEncoding.EncodeToString(raw)
}

// wlanProfile is a netsh WLAN profile for w.
func wlanProfile(w WiFi) string {
	auth, enc := "WPA2PSK", "AES"
	switch w.Security {
	case "wpa3-sae":
		auth = "WPA3SAE"
	case "open":
		auth, enc = "open", "none"
	}
	mode := "manual"
	if w.Autoconnect {
		mode = "auto"
	}
	var s strings.Builder
	s.WriteString(`<?xml version="1.0"?>` + "\n")
	s.WriteString(`<WLANProfile xmlns="http://www.microsoft.com/networking/WLAN/profile/v1">` + "\n")
	fmt.Fprintf(&s, "<name>%s</name>\n", xmlText(w.SSID))
	fmt.Fprintf(&s, "<SSIDConfig><SSID><name>%s</name></SSID><nonBroadcast>%t</nonBroadcast></SSIDConfig>\n", xmlText(w.SSID), w.Hidden)
	fmt.Fprintf(&s, "<connectionType>ESS</connectionType>\n<connectionMode>%s</connectionMode>\n", mode)
	fmt.Fprintf(&s, "<MSM><security><authEncryption><authentication>%s</authentication><encryption>%s</encryption><useOneX>false</useOneX></authEncryption>", auth, enc)
	if w.Security != "open" {
		fmt.Fprintf(&s, "<sharedKey><keyType>passPhrase</keyType><protected>false</protected><keyMaterial>%s</keyMaterial></sharedKey>", xmlText(w.Key))
	}
	s.WriteString("</security></MSM>\n</WLANProfile>\n")
	return s.String()
}

// xmlText escapes s for XML character data. Render refused control
// characters, so &, < and > are all there is to escape.
var xmlText = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// windowsCommandLine joins args as Windows programs split them
// (CommandLineToArgvW). It refuses '"', '%' and '^', which cmd.exe, if it
// runs the line, would read.
func windowsCommandLine(args []string) (string, error) {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "\"%^") {
			return "", fmt.Errorf("%w: %q holds '\"', '%%' or '^', which a Windows command line cannot carry safely", ErrInput, a)
		}
		if a != "" && !strings.ContainsAny(a, " \t&|<>()") {
			out[i] = a
			continue
		}
		// Inside quotes, backslashes are literal except before the closing
		// quote, where they must be doubled.
		trail := len(a) - len(strings.TrimRight(a, `\`))
		out[i] = `"` + a + strings.Repeat(`\`, trail) + `"`
	}
	return strings.Join(out, " "), nil
}
