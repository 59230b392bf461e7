package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

// TestListsMatchServer keeps the states and destinations the CLI offers
// equal to the server's, so a new one cannot be left out of completion or
// of --destination.
func TestListsMatchServer(t *testing.T) {
	var states []string
	for _, st := range fleet.States {
		states = append(states, string(st))
	}
	if diff := cmp.Diff(states, lifecycleStates); diff != "" {
		t.Errorf("lifecycleStates differ from fleet.States (-server +cli):\n%s", diff)
	}
	if diff := cmp.Diff(fleet.Destinations, destinations); diff != "" {
		t.Errorf("destinations differ from fleet.Destinations (-server +cli):\n%s", diff)
	}
}

// apiJSON fetches path from the server as the admin and decodes it
// generically, to compare with what the CLI prints.
func apiJSON(t *testing.T, s *testServer, path string) any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return decodeAny(t, string(b))
}

func decodeAny(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

// ok runs the CLI and fails the test unless it exits 0 without a word on
// stderr.
func ok(t *testing.T, s *testServer, args ...string) string {
	t.Helper()
	r := runCLI(t, s.URL, s.admin, args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("valise %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func TestDevicesList(t *testing.T) {
	s := newTestServer(t)
	seedFleet(t, s)
	golden(t, "devices_list", ok(t, s, "devices", "list"))

	// --json prints the API's objects as they are, wherever the flag goes.
	want := apiJSON(t, s, "/api/v1/devices")
	for _, args := range [][]string{{"devices", "list", "--json"}, {"--json", "devices", "list"}, {"devices", "--json", "list"}} {
		out := ok(t, s, args...)
		if diff := cmp.Diff(want, decodeAny(t, out)); diff != "" {
			t.Errorf("valise %s differs from the API (-api +cli):\n%s", strings.Join(args, " "), diff)
		}
	}
	golden(t, "devices_list_json", ok(t, s, "devices", "list", "--json"))
}

func TestDevicesListFilters(t *testing.T) {
	s := newTestServer(t)
	seedFleet(t, s)
	tests := []struct {
		name string
		args []string
		tags []string
	}{
		{"class", []string{"--class", "hotspot"}, []string{"VAL-0003"}},
		{"class in capitals", []string{"--class", "LAPTOP"}, []string{"VAL-0001", "VAL-0002"}},
		{"online", []string{"--online"}, []string{"VAL-0001", "VAL-0003"}},
		{"online laptops", []string{"--online", "--class", "laptop"}, []string{"VAL-0001"}},
		{"state", []string{"--state", "intake"}, []string{"VAL-0001", "VAL-0002", "VAL-0003", "VAL-0004"}},
		{"nothing matches", []string{"--state", "ready"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var devs []apitype.Device
			out := ok(t, s, append([]string{"devices", "list", "--json"}, tt.args...)...)
			if err := json.Unmarshal([]byte(out), &devs); err != nil {
				t.Fatal(err)
			}
			tags := []string{}
			for _, d := range devs {
				tags = append(tags, d.AssetTag)
			}
			if diff := cmp.Diff(tt.tags, tags); diff != "" {
				t.Errorf("asset tags (-want +got):\n%s", diff)
			}
		})
	}
	if got, want := ok(t, s, "devices", "list", "--state", "ready"), "No device matches these filters.\n"; got != want {
		t.Errorf("no match printed %q, want %q", got, want)
	}
}

func TestDevicesListEmptyFleet(t *testing.T) {
	s := newTestServer(t)
	want := "No device is enrolled yet. To enrol one: valise enroll-token create --class laptop\n"
	if got := ok(t, s, "devices", "list"); got != want {
		t.Errorf("empty fleet printed %q, want %q", got, want)
	}
	if got := ok(t, s, "devices", "list", "--json"); got != "[]\n" {
		t.Errorf("empty fleet --json printed %q, want []", got)
	}
}

func TestDevicesShow(t *testing.T) {
	s := newTestServer(t)
	ids := seedFleet(t, s)
	tests := []struct {
		name, ref, golden string
	}{
		{"laptop with history", "VAL-0001", "devices_show_laptop"},
		{"laptop offline with a failing disk", "VAL-0002", "devices_show_offline"},
		{"hotspot", "VAL-0003", "devices_show_hotspot"},
		{"never reported", "VAL-0004", "devices_show_silent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.golden, ok(t, s, "devices", "show", tt.ref))
		})
	}

	// The id and a lower-case tag name the same device.
	if a, b := ok(t, s, "devices", "show", ids.t480), ok(t, s, "devices", "show", "val-0001"); a != b {
		t.Errorf("show by id and by lower-case tag differ:\n%s\n%s", a, b)
	}
	// --json is the API's detail object, with the flag after the argument.
	want := apiJSON(t, s, "/api/v1/devices/VAL-0001")
	if diff := cmp.Diff(want, decodeAny(t, ok(t, s, "devices", "show", "VAL-0001", "--json"))); diff != "" {
		t.Errorf("show --json differs from the API (-api +cli):\n%s", diff)
	}
}

func TestDeviceErrors(t *testing.T) {
	s := newTestServer(t)
	seedFleet(t, s)
	_, mediateur, err := s.fleet.CreateAPIToken("Camille", fleet.RoleMediateur)
	if err != nil {
		t.Fatal(err)
	}
	const hint = "set VALISE_TOKEN, e.g. export VALISE_TOKEN=$(cat valise-data/admin.token)"
	tests := []struct {
		name, token string
		args        []string
		want        string
	}{
		{"unknown device", s.admin, []string{"devices", "show", "VAL-0099"}, "valise: no device matches VAL-0099\n"},
		{"unknown device to collect", s.admin, []string{"devices", "collect", "dzzzzzzzzzzzz"}, "valise: no device matches dzzzzzzzzzzzz\n"},
		{"unknown device history", s.admin, []string{"devices", "history", "VAL-0099", "--metric", "battery_health"}, "valise: no device matches VAL-0099\n"},
		{"no token", "", []string{"devices", "list"}, "valise: no API token: " + hint + "\n"},
		// The last two messages are the server's: only their start is checked.
		{"state the server does not know", s.admin, []string{"devices", "list", "--state", "broken"}, `valise: state "broken" is not one of [intake `},
		{"wrong token", "vat_not-a-token", []string{"devices", "show", "VAL-0001"}, "valise: the server refused the token (401): " + hint + "\n"},
		{"role may not", mediateur, []string{"enroll-token", "create", "--class", "laptop"},
			"valise: not allowed with this token (403): "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, s.URL, tt.token, tt.args...)
			match := r.stderr == tt.want
			if !strings.HasSuffix(tt.want, "\n") {
				match = strings.HasPrefix(r.stderr, tt.want) && strings.Count(r.stderr, "\n") == 1
			}
			if r.code != 1 || !match || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1, stderr:\n%s", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
	// A médiateur may still look at the fleet.
	if r := runCLI(t, s.URL, mediateur, "devices", "list"); r.code != 0 {
		t.Errorf("médiateur devices list: exit %d, %s", r.code, r.stderr)
	}
}

func TestEnrollTokenCreate(t *testing.T) {
	s := newTestServer(t)
	// The kit and the venue of a token must exist.
	ok(t, s, "venues", "add", "--name", "Médiathèque de Riom", "--kind", "mediatheque", "--commune", "Riom")
	ok(t, s, "kits", "create", "--label", "Kit 07")
	out := ok(t, s, "enroll-token", "create", "--class", "laptop", "--uses", "3", "--expires", "2d", "--kit", "Kit 07", "--venue", "Médiathèque de Riom")
	golden(t, "enroll_token_create", out)

	var tok apitype.EnrollToken
	if err := json.Unmarshal([]byte(ok(t, s, "enroll-token", "create", "--class", "hotspot", "--json")), &tok); err != nil {
		t.Fatal(err)
	}
	want := apitype.EnrollToken{Class: "hotspot", Uses: 1, ExpiresAt: testNow.Add(24 * time.Hour),
		Join: "valise-agent enroll --server " + publicURL + " --token " + tok.Token}
	if diff := cmp.Diff(want, tok, cmp.FilterPath(func(p cmp.Path) bool {
		f := p.Last().String()
		return f == ".ID" || f == ".Token"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("--json token (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(tok.Token, "vet_") || tok.ID == "" {
		t.Errorf("token %q, id %q: want a vet_ secret and an id", tok.Token, tok.ID)
	}
}

func TestDevicesCollect(t *testing.T) {
	s := newTestServer(t)
	ids := seedFleet(t, s)
	out := ok(t, s, "devices", "collect", "VAL-0003")
	if want := "Asked VAL-0003 for a fresh report; it arrives as soon as the device is online.\n"; out != want {
		t.Errorf("collect printed %q, want %q", out, want)
	}
	sent := s.pub.sent()
	if len(sent) != 1 {
		t.Fatalf("%d messages published, want 1", len(sent))
	}
	if want := (wire.Topics{}).Device(ids.hotspot, wire.ChanCmd); sent[0].topic != want {
		t.Errorf("published on %s, want %s", sent[0].topic, want)
	}
	cmd, err := wire.VerifyCommand(s.key, sent[0].payload, ids.hotspot, testNow)
	if err != nil {
		t.Fatalf("the command does not verify: %v (payload %s)", err, base64.StdEncoding.EncodeToString(sent[0].payload))
	}
	if cmd.Type != wire.CmdCollectNow {
		t.Errorf("command type %q, want %q", cmd.Type, wire.CmdCollectNow)
	}
}

func TestDevicesHistory(t *testing.T) {
	s := newTestServer(t)
	seedFleet(t, s)
	golden(t, "devices_history", ok(t, s, "devices", "history", "VAL-0001", "--metric", "battery_health", "--since", "1d"))

	var h apitype.History
	if err := json.Unmarshal([]byte(ok(t, s, "devices", "history", "VAL-0001", "--metric", "wifi_signal", "--since", "7d", "--json")), &h); err != nil {
		t.Fatal(err)
	}
	if h.Metric != "wifi_signal" || len(h.Points) != 25 {
		t.Errorf("7 days of wifi_signal: metric %q, %d points; want 25 points", h.Metric, len(h.Points))
	}
	if err := json.Unmarshal([]byte(ok(t, s, "devices", "history", "--limit", "3", "--json", "--metric", "battery_charge", "VAL-0001")), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Points) != 3 {
		t.Errorf("--limit 3 gave %d points", len(h.Points))
	}
	want := "No Battery health sample for VAL-0004 in the last 7 d.\n"
	if got := ok(t, s, "devices", "history", "VAL-0004", "--metric", "battery_health"); got != want {
		t.Errorf("no samples printed %q, want %q", got, want)
	}
}

func TestCompletion(t *testing.T) {
	s := newTestServer(t)
	seedFleet(t, s)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"commands", []string{}, "enroll-token\ndevices\nwipe\ncertificate\nprovision\nusers\nvenues\nkits\nloans\naudit\nimport\nexport\ncompletion\n"},
		{"subcommands", []string{"devices"}, "list\nshow\nhistory\ncollect\nassign\nset-state\n"},
		{"global flags", []string{"--se"}, "--server\n"},
		{"command flags", []string{"devices", "list", "--"}, "--class\n--state\n--online\n--json\n--help\n"},
		{"one command flag", []string{"devices", "list", "--cl"}, "--class\n"},
		{"flags not given yet", []string{"devices", "list", "--online", "--"}, "--class\n--state\n--json\n--help\n"},
		{"flag values", []string{"enroll-token", "create", "--class"}, "laptop\ntablet\nhotspot\nother\n"},
		{"device tags from the server", []string{"devices", "show"}, "VAL-0001\nVAL-0002\nVAL-0003\nVAL-0004\n"},
		{"shells", []string{"completion"}, "bash\nzsh\nfish\n"},
		{"wipe methods", []string{"wipe", "VAL-0001", "--method"}, strings.Join(methodNames(), "\n") + "\n"},
		{"devices to wipe, not given yet", []string{"wipe", "VAL-0002"}, "VAL-0001\nVAL-0003\nVAL-0004\n"},
		{"device of a certificate", []string{"certificate", "show"}, "VAL-0001\nVAL-0002\nVAL-0003\nVAL-0004\n"},
		{"device to import for", []string{"certificate", "import"}, "VAL-0001\nVAL-0002\nVAL-0003\nVAL-0004\n"},
		{"then its log file", []string{"certificate", "import", "VAL-0001"}, ""},
		{"wipe: status or devices", []string{"wipe"}, "status\nVAL-0001\nVAL-0002\nVAL-0003\nVAL-0004\n"},
		{"profiles", []string{"provision", "VAL-0001", "--profile"}, strings.Join(profileNames, "\n") + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, s.URL, s.admin, append(tt.args, "--generate-bash-completion")...)
			if r.code != 0 || r.stdout != tt.want {
				t.Errorf("exit %d, completions %q; want 0, %q (stderr %q)", r.code, r.stdout, tt.want, r.stderr)
			}
		})
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out := ok(t, s, "completion", shell)
		if !strings.Contains(out, "valise") || !strings.Contains(out, "complete") {
			t.Errorf("completion %s does not look like a script for valise:\n%s", shell, out)
		}
	}
}

func TestDevicesShowNotes(t *testing.T) {
	s := newTestServer(t)
	s.enroll(t, "laptop", "t480.inventory.json", testNow.Add(-10*24*time.Hour))
	// The same laptop comes back from the workshop with another SSD.
	inv := fixture[wire.Inventory](t, "t480.inventory.json")
	inv.Disks[0].Serial, inv.Disks[0].Model = "S5GXNF0R998877", "Samsung SSD 970 EVO Plus 500GB"
	s.enrollInventory(t, "laptop", inv, testNow.Add(-2*24*time.Hour))

	out := ok(t, s, "devices", "show", "VAL-0001")
	var d apitype.DeviceDetail
	if err := json.Unmarshal([]byte(ok(t, s, "devices", "show", "VAL-0001", "--json")), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Notes) == 0 || !d.HardwareChanged {
		t.Fatalf("the API gave no hardware change for a disk swap: %+v", d)
	}
	for _, n := range d.Notes {
		want := e2eClock(n.At) + "  " + noteKinds[n.Kind] + ": " + n.Text
		if noteKinds[n.Kind] == "" || !strings.Contains(out, want) {
			t.Errorf("show does not print the note %+v as %q:\n%s", n, want, out)
		}
	}
	if !strings.Contains(out, "Hardware       changed since an earlier enrolment (see Notes)") {
		t.Errorf("show does not flag the hardware change:\n%s", out)
	}
}

// e2eClock formats t as the CLI does in tests (UTC).
func e2eClock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

func TestColourOnlyWhenAsked(t *testing.T) {
	s := newTestServer(t)
	seedFleet(t, s)
	t.Setenv(envServer, s.URL)
	t.Setenv(envToken, s.admin)
	for _, colour := range []bool{false, true} {
		var stdout, stderr strings.Builder
		e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
			now: func() time.Time { return testNow }, loc: time.UTC, color: colour}
		if code := e.run(t.Context(), []string{"valise", "devices", "show", "VAL-0001"}); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		out := stdout.String()
		bold, red := strings.Contains(out, "\x1b[1mHardware\x1b[0m"), strings.Contains(out, "\x1b[31mhealth 64 % (worn)\x1b[0m")
		if bold != colour || red != colour || strings.Contains(out, "\x1b[") != colour {
			t.Errorf("colour %v: bold headings %v, red worn battery %v in\n%s", colour, bold, red, out)
		}
	}
}

func TestDevicesShowHealthWithoutInventory(t *testing.T) {
	s := newTestServer(t)
	id := s.enroll(t, "tablet", "tab.inventory.json", testNow.Add(-time.Hour))
	s.report(t, id, wire.ChanHealth, fixture[wire.Health](t, "elitebook.health.json"), testNow.Add(-time.Minute))
	s.clock.Set(testNow)
	out := ok(t, s, "devices", "show", "VAL-0001")
	for _, want := range []string{
		"Hardware\n  (no inventory received yet)\n",
		"  Battery BAT0   health 91 % · charge 100 % (full) · 88 cycles\n",
		"  Disk sda       SMART passed · reallocated 12 · pending 0 · 14212 h on · 31 °C\n",
		"  Disk sdb       SMART unavailable: smartctl: Unknown USB bridge\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
}
