package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testNow is the clock of every test run: relative times are stable.
var testNow = time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)

// result is what one run of the CLI printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the CLI against server with token (both as the environment
// gives them), a fixed clock and UTC times.
func runCLI(t *testing.T, server, token string, args ...string) result {
	t.Helper()
	return runTyped(t, server, token, nil, args...)
}

// runTyped is runCLI with a person at a terminal typing the lines of typed
// (nil: stdin is not a terminal and gives nothing). Jobs are polled every
// millisecond.
func runTyped(t *testing.T, server, token string, typed []string, args ...string) result {
	t.Helper()
	t.Setenv(envServer, server)
	t.Setenv(envToken, token)
	var stdout, stderr bytes.Buffer
	e := &env{
		stdin:     strings.NewReader(strings.Join(typed, "")),
		stdinTTY:  typed != nil,
		stdout:    &stdout,
		stderr:    &stderr,
		now:       func() time.Time { return testNow },
		loc:       time.UTC,
		pollEvery: time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := e.run(ctx, append([]string{"valise"}, args...))
	return result{stdout.String(), stderr.String(), code}
}

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// closedURL returns the URL of a loopback port where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestUsageErrors(t *testing.T) {
	// Nothing listens there: a command that reached the server would fail
	// with exit code 1, not 2.
	server := closedURL(t)
	tests := []struct {
		name string
		args []string
		want string // first line of stderr
		help string // command whose help the second line suggests
	}{
		{"unknown command", []string{"frobnicate"}, `valise: unknown command "frobnicate" for "valise"`, "valise"},
		{"unknown subcommand", []string{"devices", "frob"}, `valise: unknown command "frob" for "valise devices"`, "valise devices"},
		{"unknown flag", []string{"devices", "list", "--bogus"}, "valise: flag provided but not defined: -bogus", "valise devices list"},
		{"unknown global flag", []string{"--bogus", "devices", "list"}, "valise: flag provided but not defined: -bogus", "valise"},
		{"unknown flag after the argument", []string{"devices", "show", "VAL-0001", "--bogus"}, "valise: flag provided but not defined: --bogus", "valise devices show"},
		{"global flag after the command", []string{"devices", "list", "--server", "http://x"}, "valise: --server is a global flag: put it before the command (valise --server … devices list) or set VALISE_SERVER", "valise devices list"},
		{"global flag after the argument", []string{"devices", "show", "VAL-0001", "--token=t"}, "valise: --token is a global flag: put it before the command (valise --token … devices show) or set VALISE_TOKEN", "valise devices show"},
		{"missing device", []string{"devices", "show"}, "valise: missing argument ID|TAG", "valise devices show"},
		{"two devices", []string{"devices", "collect", "VAL-0001", "VAL-0002"}, `valise: unexpected argument "VAL-0002"`, "valise devices collect"},
		{"list takes no argument", []string{"devices", "list", "laptop"}, `valise: unexpected argument "laptop"`, "valise devices list"},
		{"list with a bad class", []string{"devices", "list", "--class", "phone"}, `valise: --class "phone" is not a device class: use laptop, tablet, hotspot, other`, "valise devices list"},
		{"token without class", []string{"enroll-token", "create"}, "valise: --class is required: laptop, tablet, hotspot, other", "valise enroll-token create"},
		{"token with a bad class", []string{"enroll-token", "create", "--class", "phone"}, `valise: --class "phone" is not a device class: use laptop, tablet, hotspot, other`, "valise enroll-token create"},
		{"token with no use", []string{"enroll-token", "create", "--class", "laptop", "--uses", "0"}, "valise: --uses 0: a token must allow at least 1 enrolment", "valise enroll-token create"},
		{"token with a bad expiry", []string{"enroll-token", "create", "--class", "laptop", "--expires", "soon"}, `valise: --expires "soon": give a positive duration such as 30m, 24h or 7d`, "valise enroll-token create"},
		{"uses not a number", []string{"enroll-token", "create", "--uses", "many"}, `valise: invalid value "many" for flag -uses: parse error`, "valise enroll-token create"},
		{"history of an unknown metric", []string{"devices", "history", "VAL-0001", "--metric", "mood"}, `valise: --metric "mood" is not a figure the server keeps: use battery_health, battery_charge, disk_wear, storage_free, wifi_signal, cell_signal, cell_rsrp, data_used`, "valise devices history"},
		{"history with a bad window", []string{"devices", "history", "--since", "-2d", "--metric", "battery_health", "VAL-0001"}, `valise: --since "-2d": give a positive duration such as 30m, 24h or 7d`, "valise devices history"},
		{"wipe without device", []string{"wipe", "--yes"}, "valise: missing argument ID|TAG (or --kit)", "valise wipe"},
		{"wipe with an unknown method", []string{"wipe", "VAL-0001", "--method", "shred"}, `valise: --method "shred" is not a wipe method: use auto, overwrite, luks, discard, nvme-sanitize, nvme-sanitize-block, nvme-format, ata-erase, ata-sanitize`, "valise wipe"},
		{"wipe with a bad verification", []string{"wipe", "VAL-0001", "--verify", "none"}, `valise: --verify "none": use full or sample`, "valise wipe"},
		{"wipe with a bad destination", []string{"wipe", "--destination", "landfill", "VAL-0001"}, `valise: --destination "landfill": use reuse, donation, recycling`, "valise wipe"},
		{"wipe status takes no argument", []string{"wipe", "status", "VAL-0001"}, `valise: unexpected argument "VAL-0001"`, "valise wipe status"},
		{"provision without profile", []string{"provision", "VAL-0001"}, "valise: --profile is required: laptop-linux, laptop-windows, tablet-android, hotspot-hilink, hotspot-openwrt…", "valise provision"},
		{"verify without file", []string{"certificate", "verify"}, "valise: missing argument FILE", "valise certificate verify"},
		{"verify with two keys", []string{"certificate", "verify", "c.json", "--server-key", "k", "--server", "http://x"}, "valise: give --server-key or --server, not both", "valise certificate verify"},
		{"import without log", []string{"certificate", "import", "VAL-0001"}, "valise: missing argument LOG", "valise certificate import"},
		{"lifecycle with a bad window", []string{"devices", "history", "VAL-0001", "--since", "yesterday"}, `valise: --since "yesterday": give a positive duration such as 30m, 24h or 7d`, "valise devices history"},
		{"completion of an unknown shell", []string{"completion", "tcsh"}, `valise: no completion for shell "tcsh": use bash, zsh or fish`, "valise completion"},
		{"completion without shell", []string{"completion"}, "valise: missing argument shell (bash, zsh or fish)", "valise completion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, server, "tok", tt.args...)
			want := tt.want + "\nRun '" + tt.help + " --help' for usage.\n"
			if r.code != 2 || r.stderr != want {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2, stderr:\n%s", r.code, r.stderr, want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{nil, {"--help"}, {"devices"}, {"devices", "show", "--help"}, {"devices", "show", "VAL-0001", "--help"}, {"--version"},
		{"wipe", "--help"}, {"wipe", "status", "--help"}, {"certificate"}, {"certificate", "verify", "--help"}, {"provision", "--help"}} {
		r := runCLI(t, closedURL(t), "", args...)
		if r.code != 0 || r.stderr != "" || r.stdout == "" {
			t.Errorf("valise %s: exit %d, stderr %q, stdout %d bytes; want 0, nothing, some help",
				strings.Join(args, " "), r.code, r.stderr, len(r.stdout))
		}
	}
}

func TestServerFailures(t *testing.T) {
	closed := closedURL(t)
	answer := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	internal := answer(500, `{"error":{"code":"internal","message":"the store did not answer"}}`)
	proxy := answer(502, `<html><body>Bad Gateway</body></html>`)
	forbidden := answer(403, `{"error":{"code":"forbidden","message":"a médiateur token cannot create enrolment tokens"}}`)
	notJSON := answer(200, `<html>captive portal</html>`)

	tests := []struct {
		name, server string
		args         []string
		want         string
	}{
		{"nothing listens", closed, []string{"devices", "list"},
			"valise: cannot reach the server at " + closed + ": connection refused — is valise-server running? (VALISE_SERVER)\n"},
		{"nothing listens, flag wins over environment", "http://127.0.0.1:1", []string{"--server", closed, "devices", "show", "VAL-0001"},
			"valise: cannot reach the server at " + closed + ": connection refused — is valise-server running? (VALISE_SERVER)\n"},
		{"server error", internal, []string{"devices", "show", "VAL-0001"},
			"valise: server error (500): the store did not answer\n"},
		{"proxy error page", proxy, []string{"devices", "list", "--json"},
			"valise: server error (502): bad gateway\n"},
		{"forbidden", forbidden, []string{"enroll-token", "create", "--class", "tablet"},
			"valise: not allowed with this token (403): a médiateur token cannot create enrolment tokens\n"},
		{"not the API", notJSON, []string{"devices", "list"},
			"valise: GET /api/v1/devices: unexpected answer from the server: invalid character '<' looking for beginning of value (is " + notJSON + " a valise-server?)\n"},
		{"bad server URL", "127.0.0.1:8080", []string{"devices", "list"},
			`valise: invalid server URL "127.0.0.1:8080": no scheme, try http://127.0.0.1:8080 (--server or VALISE_SERVER)` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.server, "tok", tt.args...)
			if r.code != 1 || r.stderr != tt.want || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1, no stdout, stderr:\n%s", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
}

func TestRunWritesNoColourToAPipe(t *testing.T) {
	var stdout, stderr bytes.Buffer
	t.Setenv(envServer, closedURL(t))
	code := run(context.Background(), []string{"valise", "devices", "show", "VAL-0001"}, strings.NewReader(""), &stdout, &stderr)
	if code != 1 || strings.Contains(stderr.String(), "\x1b[") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("exit %d, stderr %q: want 1 and one plain line", code, stderr.String())
	}
}
