package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/agent/spool"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/internal/wire"
)

// diskFile makes a file of pseudo-random "user data" to wipe.
func diskFile(t *testing.T) (string, []byte) {
	t.Helper()
	data := make([]byte, 3<<20+100)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// withTerminal makes the wipe command read its confirmation from input,
// as if typed on a terminal (or not, when terminal is false).
func withTerminal(t *testing.T, input string, terminal bool) {
	t.Helper()
	oldIn, oldTTY := wipeStdin, wipeStdinIsTerminal
	wipeStdin = strings.NewReader(input)
	wipeStdinIsTerminal = func() bool { return terminal }
	t.Cleanup(func() { wipeStdin, wipeStdinIsTerminal = oldIn, oldTTY })
}

// enrolledState writes a state dir as enrolment leaves it: state.json and
// device.key.
func enrolledState(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	cmdKey, _, _ := ed25519.GenerateKey(rand.Reader)
	st := agent.State{Server: "https://valise.example", DeviceID: "dev-0031", AssetTag: "VAL-0031", Class: "laptop",
		MQTTURL: "ssl://valise.example:8883", TopicPrefix: "valise/v1", Username: "dev-0031", Password: "secret",
		CommandKey: base64.StdEncoding.EncodeToString(cmdKey), EnrolledAt: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
	if err := agent.SaveState(dir, st); err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	if err := os.WriteFile(filepath.Join(dir, agent.DeviceKeyFile), []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, key
}

func zeroed(t *testing.T, path string, size int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != size || !bytes.Equal(b, make([]byte, size)) {
		t.Fatalf("%s is not %d zero bytes after the wipe", path, size)
	}
}

func unchanged(t *testing.T, path string, want []byte) {
	t.Helper()
	b, _ := os.ReadFile(path)
	if !bytes.Equal(b, want) {
		t.Fatalf("%s changed although nothing was to be erased", path)
	}
}

// verifyCert checks a certificate file; key, when set, must have signed it.
func verifyCert(t *testing.T, data []byte, key ed25519.PrivateKey) certificate.Certificate {
	t.Helper()
	opts := certificate.VerifyOptions{Unsigned: true}
	if key != nil {
		opts.DeviceKey = key.Public().(ed25519.PublicKey)
	}
	c, _, err := certificate.Verify(data, opts)
	if err != nil {
		t.Fatalf("certificate does not verify: %v\n%s", err, data)
	}
	if c.Result != certificate.ResultSucceeded || len(c.Media) != 1 || c.Media[0].Verification.Result != "passed" {
		t.Fatalf("certificate %+v", c)
	}
	return c
}

func TestWipeConfirmed(t *testing.T) {
	disk, data := diskFile(t)
	withTerminal(t, disk+"\n", true)
	out := filepath.Join(t.TempDir(), "cert.json")
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"valise-agent", "wipe", "--disk", disk, "--certificate-out", out, "--operator", "camille", "--asset-tag", "VAL-0007"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("wipe: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	zeroed(t, disk, len(data))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	c := verifyCert(t, b, nil)
	if c.Operator != "camille" || c.Asset.AssetTag != "VAL-0007" || c.JobID != "" || c.Media[0].Method != wire.MethodOverwrite {
		t.Errorf("certificate %+v", c)
	}
	for _, want := range []string{"method:      overwrite (clear)", "result:      succeeded", "one-time key"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	for _, want := range []string{"Type its name", "erasing", "verifying", "(100%)"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestWipeNotConfirmed(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		terminal bool
		exit     int
		want     string
	}{
		{"wrong name", "sda\n", true, 1, "not confirmed"},
		{"nothing typed", "", true, 1, "not confirmed"},
		{"no terminal", "whatever\n", false, 2, "--yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk, data := diskFile(t)
			withTerminal(t, tt.input, tt.terminal)
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), []string{"valise-agent", "wipe", "--disk", disk}, &stdout, &stderr)
			if err == nil || cmdmain.ExitCode(err) != tt.exit || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("wipe = %v (exit %d), want exit %d about %q", err, cmdmain.ExitCode(err), tt.exit, tt.want)
			}
			unchanged(t, disk, data)
		})
	}
}

func TestWipeYesWithoutState(t *testing.T) {
	disk, data := diskFile(t)
	withTerminal(t, "", false)
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"valise-agent", "wipe", "--disk", disk, "--yes", "--verify", "sample", "--pattern", "random"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("wipe: %v\n%s", err, stderr.String())
	}
	i := strings.Index(stdout.String(), "{\n")
	if i < 0 {
		t.Fatalf("no certificate on stdout:\n%s", stdout.String())
	}
	c := verifyCert(t, stdout.Bytes()[i:], nil)
	if v := c.Media[0].Verification; v.Method != wire.VerifySample || v.Samples < 1002 || v.Seed == "" {
		t.Errorf("verification %+v", v)
	}
	if c.Asset.AssetTag != "untagged" {
		t.Errorf("asset %+v", c.Asset)
	}
	if b, _ := os.ReadFile(disk); bytes.Equal(b, data) {
		t.Error("the disk was not overwritten")
	}
	if strings.Contains(stderr.String(), "\r") {
		t.Error("progress refreshed with \\r although stderr is not a terminal")
	}
}

func TestWipeQueuesCertificate(t *testing.T) {
	disk, data := diskFile(t)
	state, key := enrolledState(t)
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"valise-agent", "wipe", "--disk", disk, "--yes", "--state", state}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("wipe: %v\n%s", err, stderr.String())
	}
	zeroed(t, disk, len(data))
	sp, err := spool.Open(filepath.Join(state, agent.SpoolFile), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	msgs, err := sp.Next(0, 10)
	if err != nil || len(msgs) != 1 || msgs[0].Kind != wire.ChanEvent {
		t.Fatalf("spool holds %+v (%v), want one event", msgs, err)
	}
	env, body, err := wire.DecodeFull(msgs[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	ev, ok := body.(*wire.Event)
	if !ok {
		t.Fatalf("body %T", body)
	}
	var res wire.WipeResult
	if err := json.Unmarshal(ev.Data, &res); err != nil {
		t.Fatal(err)
	}
	if env.Device != "dev-0031" || ev.Type != wire.EventWipeResult || !ev.OK || !res.OK || res.Job != "" {
		t.Fatalf("envelope %+v event %+v result %+v", env, ev, res)
	}
	// The event carries the file compacted inside JSON: re-encode it
	// canonically before verifying, as the server does.
	var f certificate.File
	if err := json.Unmarshal(res.Certificate, &f); err != nil {
		t.Fatal(err)
	}
	canon, _ := f.Marshal()
	c := verifyCert(t, canon, key)
	if c.Asset.DeviceID != "dev-0031" || c.Asset.AssetTag != "VAL-0031" || c.Asset.Class != "laptop" {
		t.Errorf("asset %+v", c.Asset)
	}
	if !strings.Contains(stdout.String(), "signed with the device key") || !strings.Contains(stdout.String(), "queued:") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}

func TestWipeSpoolLocked(t *testing.T) {
	disk, _ := diskFile(t)
	state, _ := enrolledState(t)
	sp, err := spool.Open(filepath.Join(state, agent.SpoolFile), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	old := spoolWait
	spoolWait = 50 * time.Millisecond
	t.Cleanup(func() { spoolWait = old })
	var stdout, stderr bytes.Buffer
	err = run(t.Context(), []string{"valise-agent", "wipe", "--disk", disk, "--yes", "--state", state}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "stop `valise-agent run`") {
		t.Fatalf("wipe = %v, want the spool-locked advice", err)
	}
	kept, _ := filepath.Glob(filepath.Join(state, "certificates", "cert-m-*.json"))
	if len(kept) != 1 {
		t.Fatalf("certificates kept: %v\n%s", kept, stdout.String())
	}
	b, _ := os.ReadFile(kept[0])
	verifyCert(t, b, nil)
}

func TestWipeRefused(t *testing.T) {
	tests := []struct {
		name string
		args []string
		exit int
		want string
	}{
		{"char device", []string{"--disk", os.DevNull, "--yes"}, 1, "neither a block device nor a regular file"},
		{"bad verify", []string{"--disk", "x", "--verify", "quick"}, 2, "verify"},
		{"bad method", []string{"--disk", "x", "--method", "shred"}, 2, "method"},
		{"no disk", []string{"--yes"}, 2, "disk"},
		{"unsupported method", []string{"--disk", "FILE", "--method", "nvme-format", "--yes"}, 1, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk, data := diskFile(t)
			args := []string{"valise-agent", "wipe"}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "FILE", disk))
			}
			err := run(t.Context(), args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || cmdmain.ExitCode(err) != tt.exit || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("wipe = %v (exit %d), want exit %d about %q", err, cmdmain.ExitCode(err), tt.exit, tt.want)
			}
			unchanged(t, disk, data)
		})
	}
}
