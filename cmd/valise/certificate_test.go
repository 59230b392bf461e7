package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// Fixed keys, so that the files and the golden outputs do not change.
var (
	deviceKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'d'}, ed25519.SeedSize))
	serverKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'s'}, ed25519.SeedSize))
	otherKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'o'}, ed25519.SeedSize))
)

// sampleCertificate is a successful overwrite of VAL-0001's SSD.
func sampleCertificate(id, prevHash string) certificate.Certificate {
	start := testNow.Add(-45 * time.Minute)
	return certificate.Certificate{
		ID: id, JobID: "w0001",
		Asset: certificate.Asset{DeviceID: "d0001", AssetTag: "VAL-0001", Class: wire.ClassLaptop, Vendor: "LENOVO",
			Model: "ThinkPad T480", Serial: "PF1ABCDE", UUID: "4c4c4544-0042-3510-8052-b4c04f4b4d32"},
		Media: []certificate.Medium{{
			Name: "sda", Type: wire.DiskSSD, Model: "SAMSUNG MZ7LN256HAJQ", Serial: "S3TBNX0K512345", Firmware: "MVT0403Q",
			CapacityBytes: 256060514304, HPA: "absent", DCO: "absent",
			Method: wire.MethodOverwrite, Category: certificate.CategoryClear, Pattern: "zeros",
			Commands: []certificate.Command{{Command: "overwrite /dev/sda zeros O_DIRECT 4 MiB", ExitCode: 0}},
			Started:  start, Finished: start.Add(44 * time.Minute),
			Verification: certificate.Verification{Method: wire.VerifyFull, Result: "passed", BytesChecked: 256060514304},
			Result:       certificate.ResultSucceeded,
		}},
		Operator: "Jeanne (technicienne)", SourceVenue: "France Services de Riom", Destination: "reuse",
		Tool:    certificate.Tool{Name: "valise-agent", Version: "0.3.0"},
		Started: start, Finished: start.Add(45 * time.Minute), Result: certificate.ResultSucceeded,
		PrevHash: prevHash,
	}
}

// certFile signs c with the device key and, unless server is nil,
// countersigns it: the canonical bytes of the file.
func certFile(t *testing.T, c certificate.Certificate, server ed25519.PrivateKey) []byte {
	t.Helper()
	f, err := certificate.Sign(c, deviceKey)
	if err != nil {
		t.Fatal(err)
	}
	if server != nil {
		if err := f.Countersign(server); err != nil {
			t.Fatal(err)
		}
	}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTemp writes data to name in dir and returns its path.
func writeTemp(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemKey(t *testing.T, pub ed25519.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// checkLines returns verify's lines for the checks: "✓ format", "✗ chain"…
func checkLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		for _, mark := range checkMarks {
			if strings.HasPrefix(l, mark+" ") {
				name, _, _ := strings.Cut(strings.TrimPrefix(l, mark+" "), "  ")
				lines = append(lines, mark+" "+name)
			}
		}
	}
	return lines
}

func TestCertificateVerify(t *testing.T) {
	dir := t.TempDir()
	serverPub := serverKey.Public().(ed25519.PublicKey)
	first := certFile(t, sampleCertificate("c0001", ""), serverKey)
	var firstFile certificate.File
	if err := json.Unmarshal(first, &firstFile); err != nil {
		t.Fatal(err)
	}
	second := certFile(t, sampleCertificate("c0002", firstFile.Hash()), serverKey)

	f := newFakeAPI(t)
	f.serverKey = apitype.ServerKey{Key: base64.StdEncoding.EncodeToString(serverPub), PEM: string(pemKey(t, serverPub))}
	keyJSON, _ := json.Marshal(f.serverKey)

	files := map[string]string{
		"valid":       writeTemp(t, dir, "c0001.json", first),
		"second":      writeTemp(t, dir, "c0002.json", second),
		"unsigned":    writeTemp(t, dir, "unsigned.json", certFile(t, sampleCertificate("c0001", ""), nil)),
		"other":       writeTemp(t, dir, "other.json", certFile(t, sampleCertificate("c0001", ""), otherKey)),
		"serial":      writeTemp(t, dir, "serial.json", bytes.Replace(first, []byte("PF1ABCDE"), []byte("PF1ABCDF"), 1)),
		"reindented":  writeTemp(t, dir, "reindented.json", bytes.Replace(first, []byte("\n  "), []byte("\n   "), 1)),
		"key base64":  writeTemp(t, dir, "server.key", []byte(f.serverKey.Key+"\n")),
		"key pem":     writeTemp(t, dir, "server.pem", pemKey(t, serverPub)),
		"key json":    writeTemp(t, dir, "server-key.json", keyJSON),
		"key other":   writeTemp(t, dir, "other.key", []byte(base64.StdEncoding.EncodeToString(otherKey.Public().(ed25519.PublicKey)))),
		"key garbage": writeTemp(t, dir, "garbage.key", []byte("not a key")),
	}
	all := []string{"format", "device signature", "device key", "server countersignature", "server key", "content", "chain"}
	marks := func(m ...string) []string {
		out := make([]string, len(all))
		for i := range all {
			out[i] = m[i] + " " + all[i]
		}
		return out
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		checks []string
		stderr string // start of it
	}{
		{"valid with the key in base64", []string{files["valid"], "--server-key", files["key base64"]}, 0,
			marks("✓", "✓", "–", "✓", "✓", "✓", "–"), ""},
		{"valid with the key in PEM", []string{files["valid"], "--server-key", files["key pem"]}, 0,
			marks("✓", "✓", "–", "✓", "✓", "✓", "–"), ""},
		{"valid with the key as the API serves it", []string{"--server-key", files["key json"], files["valid"]}, 0,
			marks("✓", "✓", "–", "✓", "✓", "✓", "–"), ""},
		{"valid with the key fetched from the server", []string{files["valid"], "--server", f.URL}, 0,
			marks("✓", "✓", "–", "✓", "✓", "✓", "–"), ""},
		{"valid, no key pinned", []string{files["valid"]}, 0,
			marks("✓", "✓", "–", "✓", "–", "✓", "–"), ""},
		{"chain holds", []string{files["second"], "--server-key", files["key base64"], "--prev", files["valid"]}, 0,
			marks("✓", "✓", "–", "✓", "✓", "✓", "✓"), ""},
		{"chain broken", []string{files["valid"], "--server-key", files["key base64"], "--prev", files["second"]}, 1,
			marks("✓", "✓", "–", "✓", "✓", "✓", "✗"), "valise: certificate " + files["valid"] + " is invalid: chain check failed"},
		{"countersigned by another server", []string{files["other"], "--server-key", files["key base64"]}, 1,
			marks("✓", "✓", "–", "✓", "✗", "·", "·"), "valise: certificate " + files["other"] + " is invalid: server key check failed"},
		{"not countersigned, accepted", []string{files["unsigned"], "--unsigned"}, 0,
			marks("✓", "✓", "–", "–", "–", "✓", "–"), ""},
		{"not countersigned", []string{files["unsigned"], "--server-key", files["key base64"]}, 1,
			marks("✓", "✓", "–", "✗", "·", "·", "·"), "valise: certificate " + files["unsigned"] + " is invalid: server countersignature check failed"},
		{"serial changed", []string{files["serial"], "--server-key", files["key base64"]}, 1,
			marks("✓", "✗", "·", "·", "·", "·", "·"), "valise: certificate " + files["serial"] + " is invalid: device signature check failed"},
		{"spacing changed", []string{files["reindented"]}, 1,
			marks("✗", "·", "·", "·", "·", "·", "·"), "valise: certificate " + files["reindented"] + " is invalid: format check failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, closedURL(t), "", append([]string{"certificate", "verify"}, tt.args...)...)
			if r.code != tt.code || !strings.HasPrefix(r.stderr, tt.stderr) || (tt.stderr == "") != (r.stderr == "") {
				t.Errorf("exit %d, stderr %q; want %d, %q", r.code, r.stderr, tt.code, tt.stderr)
			}
			if diff := cmp.Diff(tt.checks, checkLines(r.stdout)); diff != "" {
				t.Errorf("checks (-want +got):\n%s\n%s", diff, r.stdout)
			}
		})
	}

	out := ok(t, &testServer{}, "certificate", "verify", files["valid"], "--server-key", files["key pem"])
	golden(t, "certificate_verify_valid", strings.ReplaceAll(out, dir, "DIR"))
	r := runCLI(t, closedURL(t), "", "certificate", "verify", files["serial"], "--server-key", files["key pem"])
	golden(t, "certificate_verify_changed", strings.ReplaceAll(r.stdout, dir, "DIR"))

	var report verifyReport
	r = runCLI(t, closedURL(t), "", "certificate", "verify", "--json", files["other"], "--server-key", files["key base64"])
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 1 {
		t.Fatalf("--json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if report.Valid || report.Certificate == nil || report.Certificate.ID != "c0001" || report.Checks[4] != (checkResult{"server key", checkFailed, report.Checks[4].Detail}) {
		t.Errorf("--json report: %+v", report)
	}

	r = runCLI(t, closedURL(t), "", "certificate", "verify", files["valid"], "--server-key", files["key garbage"])
	if want := "valise: server key " + files["key garbage"] + ": not an ed25519 public key (base64, PEM, or the JSON of /api/v1/server-key)\n"; r.code != 1 || r.stderr != want {
		t.Errorf("garbage key: exit %d, stderr %q", r.code, r.stderr)
	}
}

// Any byte of a certificate file changed makes verify fail with one check
// named.
func TestCertificateVerifyEveryByte(t *testing.T) {
	dir := t.TempDir()
	valid := certFile(t, sampleCertificate("c0001", ""), serverKey)
	key := writeTemp(t, dir, "server.key", []byte(base64.StdEncoding.EncodeToString(serverKey.Public().(ed25519.PublicKey))))
	step := 7
	if testing.Short() {
		step = 61
	}
	for i := 0; i < len(valid); i += step {
		changed := bytes.Clone(valid)
		changed[i] ^= 0x01
		path := writeTemp(t, dir, "changed.json", changed)
		r := runCLI(t, "http://127.0.0.1:1", "", "certificate", "verify", path, "--server-key", key)
		failed := strings.Count(strings.Join(checkLines(r.stdout), "\n"), "✗")
		if r.code != 1 || failed != 1 || !strings.Contains(r.stderr, "check failed") {
			t.Fatalf("byte %d (%q) changed: exit %d, %d checks failed, stderr %q", i, valid[i], r.code, failed, r.stderr)
		}
	}
}

// certFake is a fake API holding VAL-0001's two certificates.
func certFake(t *testing.T) (*fakeAPI, []byte, []byte) {
	t.Helper()
	f := newFakeAPI(t, fakeDevices()...)
	first := certFile(t, sampleCertificate("c0001", ""), serverKey)
	var ff certificate.File
	json.Unmarshal(first, &ff)
	second := certFile(t, sampleCertificate("c0002", ff.Hash()), serverKey)
	f.files["c0001"], f.files["c0002"] = first, second
	info := func(id, hash, prev string) apitype.CertificateInfo {
		return apitype.CertificateInfo{ID: id, Device: "d0001", AssetTag: "VAL-0001", Job: "w0001", Result: "succeeded",
			Methods: []string{"overwrite"}, Category: "clear", Finished: testNow.Add(-time.Minute), Hash: hash, PrevHash: prev}
	}
	f.certs["d0001"] = []apitype.CertificateInfo{info("c0002", "h2", ff.Hash()), info("c0001", ff.Hash(), "")}
	f.pdf = []byte("%PDF-1.3\n% a certificate\n%%EOF\n")
	return f, first, second
}

func TestCertificateShow(t *testing.T) {
	f, first, second := certFake(t)
	s := &testServer{URL: f.URL, admin: "tok"}
	out := ok(t, s, "certificate", "show", "VAL-0001")
	golden(t, "certificate_show", out)
	if byID := ok(t, s, "certificate", "show", "c0002"); byID != out {
		t.Errorf("show by certificate id differs from show by device:\n%s", byID)
	}
	if got := ok(t, s, "certificate", "show", "c0001", "--json"); got != string(first) {
		t.Errorf("--json is not the file's bytes:\n%s", got)
	}
	if got := ok(t, s, "--json", "certificate", "show", "d0001"); got != string(second) {
		t.Errorf("--json of the device is not its latest file:\n%s", got)
	}

	pdf := filepath.Join(t.TempDir(), "VAL-0001.pdf")
	if got, want := ok(t, s, "certificate", "show", "VAL-0001", "--pdf", pdf), "Wrote certificate c0002 to "+pdf+" (31 bytes).\n"+out; got != want {
		t.Errorf("--pdf printed:\n%s\nwant:\n%s", got, want)
	}
	if b, err := os.ReadFile(pdf); err != nil || !bytes.Equal(b, f.pdf) {
		t.Errorf("PDF file: %q, %v", b, err)
	}

	tests := []struct{ name, ref, want string }{
		{"no certificate yet", "VAL-0003", "valise: VAL-0003 has no wipe certificate yet: valise wipe VAL-0003\n"},
		{"nothing matches", "VAL-0099", "valise: no device or certificate matches VAL-0099\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, f.URL, "tok", "certificate", "show", tt.ref)
			if r.code != 1 || r.stderr != tt.want || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1, %q", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
}

func TestCertificateList(t *testing.T) {
	f, _, _ := certFake(t)
	s := &testServer{URL: f.URL, admin: "tok"}
	golden(t, "certificate_list", ok(t, s, "certificate", "list", "VAL-0001"))
	if got, want := ok(t, s, "certificate", "list", "VAL-0002"), "VAL-0002 has no wipe certificate yet: valise wipe VAL-0002\n"; got != want {
		t.Errorf("no certificate printed %q, want %q", got, want)
	}
	var certs []apitype.CertificateInfo
	if err := json.Unmarshal([]byte(ok(t, s, "certificate", "list", "VAL-0001", "--json")), &certs); err != nil || len(certs) != 2 || certs[0].ID != "c0002" {
		t.Errorf("--json: %+v, %v", certs, err)
	}
	if r := runCLI(t, f.URL, "tok", "certificate", "list", "VAL-0099"); r.code != 1 || r.stderr != "valise: no device matches VAL-0099\n" {
		t.Errorf("unknown device: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestCertificateImport(t *testing.T) {
	f, _, _ := certFake(t)
	s := &testServer{URL: f.URL, admin: "tok"}
	dir := t.TempDir()
	log := writeTemp(t, dir, "nwipe.log", []byte("[2026/11/23 10:00:00] info: Device /dev/sda has serial number PF1ABCDE\n"))
	want := "Imported as external evidence for VAL-0001: certificate c0002, succeeded (overwrite, clear), finished 2026-11-23 14:29.\n" +
		"Show it with: valise certificate show c0002\n"
	if got := ok(t, s, "certificate", "import", "VAL-0001", log); got != want {
		t.Errorf("import printed:\n%s\nwant:\n%s", got, want)
	}
	if want := "text/plain; charset=utf-8\n[2026/11/23 10:00:00] info: Device /dev/sda has serial number PF1ABCDE\n"; f.imported != want {
		t.Errorf("the server received %q", f.imported)
	}
	r := runCLI(t, f.URL, "tok", "certificate", "import", "VAL-0002", log)
	if want := "valise: the log wiped no disk of VAL-0002\n"; r.code != 1 || r.stderr != want {
		t.Errorf("refused import: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, f.URL, "tok", "certificate", "import", "VAL-0001", filepath.Join(dir, "missing.log"))
	if r.code != 1 || !strings.HasPrefix(r.stderr, "valise: read the nwipe log: open ") {
		t.Errorf("missing log: exit %d, stderr %q", r.code, r.stderr)
	}
}
