package certificate

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testKey makes a deterministic ed25519 key from a one-byte seed.
func testKey(t *testing.T, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

var t0 = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// sampleCertificate is a certificate with every field set, accents, HTML
// characters and multi-line raw answers.
func sampleCertificate() Certificate {
	return Certificate{
		Version: Version,
		ID:      "cert-job-0042",
		JobID:   "job-0042",
		Asset: Asset{
			DeviceID: "dev-7f3a", AssetTag: "VAL-0031", Class: "laptop",
			Vendor: "LENOVO", Model: "ThinkPad T480", Serial: "PF1ABCDE",
			UUID: "4c4c4544-0051-3010-8052-b4c04f565a32",
		},
		Media: []Medium{{
			Name: "nvme0n1", Type: "nvme", Model: "SAMSUNG MZVLB256HAHQ", Serial: "S4DXNX0M123456",
			Firmware: "EXA7301Q", CapacityBytes: 256060514304, HPA: "absent", DCO: "absent",
			Method: "nvme-sanitize-crypto", Category: CategoryPurge,
			Commands: []Command{
				{Command: "nvme sanitize /dev/nvme0n1 --sanact=4", ExitCode: 0, Output: "Sanitize started <ok> & waiting\n"},
				{Command: "nvme sanitize-log /dev/nvme0n1 -o json", Output: "{\"sprog\": 65535, \"sstat\": 257}\n"},
			},
			Started: t0, Finished: t0.Add(3 * time.Minute),
			Verification: Verification{Method: "device-status", Result: VerificationPassed, Detail: "sanitize log: completed, no error"},
			Result:       ResultSucceeded,
		}, {
			Name: "sda", Type: "ssd", Model: "Crucial CT240", Serial: "1234ABCD5678",
			CapacityBytes: 240057409536, HPA: "absent", DCO: "unknown",
			Method: "overwrite", Category: CategoryClear, Pattern: "zeros",
			Started: t0.Add(3 * time.Minute), Finished: t0.Add(40 * time.Minute),
			Verification: Verification{Method: "sample", Result: VerificationPassed, BytesChecked: 1 << 30, Samples: 1024, Seed: "9f86d081884c7d65"},
			Result:       ResultSucceeded,
		}},
		Operator:    "Élodie Martin",
		SourceVenue: "Médiathèque François-Mitterrand, Évry",
		Destination: "réemploi",
		Tool:        Tool{Name: "valise-agent", Version: "0.3.0"},
		Started:     t0,
		Finished:    t0.Add(40 * time.Minute),
		Result:      ResultSucceeded,
		PrevHash:    strings.Repeat("ab", 32),
	}
}

// signedFile signs and countersigns c and returns the file and its bytes.
func signedFile(t *testing.T, c Certificate, device, server ed25519.PrivateKey) (File, []byte) {
	t.Helper()
	f, err := Sign(c, device)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if server != nil {
		if err := f.Countersign(server); err != nil {
			t.Fatalf("Countersign: %v", err)
		}
	}
	data, err := f.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return f, data
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func TestRoundTrip(t *testing.T) {
	device, server := testKey(t, 1), testKey(t, 2)
	want := sampleCertificate()

	f, err := Sign(want, device)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Verify(unsigned, VerifyOptions{Unsigned: true, DeviceKey: pub(device)}); err != nil {
		t.Errorf("device-signed file, Unsigned: %v", err)
	}
	if _, _, err := Verify(unsigned, VerifyOptions{}); !errors.Is(err, ErrServerSignature) {
		t.Errorf("device-signed file without Unsigned: got %v, want %v", err, ErrServerSignature)
	}

	// The server reads the agent's file back from its bytes, then countersigns.
	_, read, err := Verify(unsigned, VerifyOptions{Unsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := read.Countersign(server); err != nil {
		t.Fatalf("Countersign of a file read back: %v", err)
	}
	data, err := read.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, back, err := Verify(data, VerifyOptions{ServerKey: pub(server), DeviceKey: pub(device)})
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, data)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("certificate changed by the round trip (-want +got):\n%s", diff)
	}
	if back.Hash() != read.Hash() {
		t.Errorf("hash of the file read back %s, want %s", back.Hash(), read.Hash())
	}
	if !strings.Contains(string(data), "\n    \"id\": \"cert-job-0042\"") {
		t.Errorf("the file is not indented for people to read:\n%s", data)
	}
}

// TestFileInMessage checks that a file embedded in a message (where
// encoding/json compacts it) still verifies and hashes the same.
func TestFileInMessage(t *testing.T) {
	device, server := testKey(t, 1), testKey(t, 2)
	f, data := signedFile(t, sampleCertificate(), device, server)

	msg, err := json.Marshal(struct {
		Certificate json.RawMessage `json:"certificate"`
	}{data})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(msg, []byte("\n")) {
		t.Fatalf("the message was not compacted: %s", msg)
	}
	var got struct {
		Certificate File `json:"certificate"`
	}
	if err := json.Unmarshal(msg, &got); err != nil {
		t.Fatal(err)
	}
	var inner struct {
		Certificate json.RawMessage `json:"certificate"`
	}
	if err := json.Unmarshal(msg, &inner); err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseFile(inner.Certificate)
	if err != nil || parsed.Hash() != f.Hash() {
		t.Errorf("ParseFile of the compacted file: hash %s (%v), want %s", parsed.Hash(), err, f.Hash())
	}
	if _, err := ParseFile([]byte("{")); !errors.Is(err, ErrFormat) {
		t.Errorf("ParseFile of a broken file: %v", err)
	}
	if _, err := got.Certificate.Verify(VerifyOptions{ServerKey: pub(server)}); err != nil {
		t.Errorf("File.Verify of the file from a message: %v", err)
	}
	if got.Certificate.Hash() != f.Hash() {
		t.Errorf("hash from a message %s, want %s", got.Certificate.Hash(), f.Hash())
	}
	if _, _, err := Verify(msg, VerifyOptions{}); !errors.Is(err, ErrFormat) {
		t.Errorf("Verify of the message itself: got %v, want %v", err, ErrFormat)
	}
}

// TestInvalidUTF8 checks that a raw answer cut in the middle of a rune does
// not make a genuine certificate unverifiable.
func TestInvalidUTF8(t *testing.T) {
	device := testKey(t, 1)
	c := sampleCertificate()
	c.Media[0].Commands[0].Output = "Opération terminée" + string([]byte{0xc3}) + "\x00\x1b[0m"
	_, data := signedFile(t, c, device, nil)
	got, _, err := Verify(data, VerifyOptions{Unsigned: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if out := got.Media[0].Commands[0].Output; !strings.HasPrefix(out, "Opération terminée\uFFFD") {
		t.Errorf("output %q", out)
	}
}

// region names the part of a file a byte belongs to, by the JSON key whose
// value holds it.
func region(data []byte, pos int) string {
	for _, key := range []string{"device_key", "device_sig", "server_key", "server_sig"} {
		k := []byte(`"` + key + `": "`)
		i := bytes.Index(data, k)
		if i < 0 {
			continue
		}
		start := i + len(k)
		end := start + bytes.IndexByte(data[start:], '"')
		if pos >= start && pos < end {
			return key
		}
	}
	return "other"
}

// TestVerifyDetectsEveryChangedByte flips bits at every byte position of a
// countersigned file, and every bit of the keys and signatures, and checks
// that Verify fails with the sentinel of a check that makes sense there.
func TestVerifyDetectsEveryChangedByte(t *testing.T) {
	device, server := testKey(t, 1), testKey(t, 2)
	_, data := signedFile(t, sampleCertificate(), device, server)
	opts := VerifyOptions{ServerKey: pub(server), DeviceKey: pub(device)}
	if _, _, err := Verify(data, opts); err != nil {
		t.Fatalf("the original does not verify: %v", err)
	}

	// Which checks may fail for a change in each region. A change that
	// breaks the JSON or its canonical form is always a format failure.
	allowed := map[string][]error{
		"device_key": {ErrFormat, ErrDeviceSignature},
		"device_sig": {ErrFormat, ErrDeviceSignature},
		"server_key": {ErrFormat, ErrServerSignature},
		"server_sig": {ErrFormat, ErrServerSignature},
		"other":      {ErrFormat, ErrDeviceSignature},
	}
	seen := map[error]int{}
	mutated := make([]byte, len(data))
	flips := 0
	for pos := range data {
		masks := []byte{0x01, 0x20, 0xff}
		if region(data, pos) != "other" {
			masks = []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80}
		}
		for _, mask := range masks {
			copy(mutated, data)
			mutated[pos] ^= mask
			flips++
			_, _, err := Verify(mutated, opts)
			if err == nil {
				t.Fatalf("byte %d ^ %#02x (%q -> %q, in %s) not detected", pos, mask, data[pos], mutated[pos], region(data, pos))
			}
			ok := false
			for _, want := range allowed[region(data, pos)] {
				if errors.Is(err, want) {
					seen[want]++
					ok = true
				}
			}
			if !ok {
				t.Errorf("byte %d ^ %#02x in %s: %v, want one of %v", pos, mask, region(data, pos), err, allowed[region(data, pos)])
			}
		}
	}
	for _, want := range []error{ErrFormat, ErrDeviceSignature, ErrServerSignature} {
		if seen[want] == 0 {
			t.Errorf("no change was reported as %v", want)
		}
	}
	t.Logf("%d bytes, %d changes: %d format, %d device signature, %d server signature",
		len(data), flips, seen[ErrFormat], seen[ErrDeviceSignature], seen[ErrServerSignature])
}

// TestUnusedBase64Bits checks that another spelling of the same key or
// signature (the unused low bits of the last base64 character set) is
// refused: the bytes of the file are what is certified.
func TestUnusedBase64Bits(t *testing.T) {
	device, server := testKey(t, 1), testKey(t, 2)
	f, _ := signedFile(t, sampleCertificate(), device, server)
	respell := func(s string) string {
		b := []byte(s)
		i := bytes.IndexByte(b, '=') - 1
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		b[i] = alphabet[strings.IndexByte(alphabet, b[i])|1]
		return string(b)
	}
	tests := []struct {
		name   string
		change func(*File)
		want   error
	}{
		{"device key", func(f *File) { f.DeviceKey = respell(f.DeviceKey) }, ErrDeviceSignature},
		{"device signature", func(f *File) { f.DeviceSig = respell(f.DeviceSig) }, ErrDeviceSignature},
		{"server key", func(f *File) { f.ServerKey = respell(f.ServerKey) }, ErrServerSignature},
		{"server signature", func(f *File) { f.ServerSig = respell(f.ServerSig) }, ErrServerSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := f
			tt.change(&g)
			lax, err := base64.StdEncoding.DecodeString(respell(f.DeviceKey))
			if err != nil || !bytes.Equal(lax, pub(device)) {
				t.Fatalf("respell does not keep the bytes: the test is wrong")
			}
			data, err := g.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := Verify(data, VerifyOptions{}); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyKeys(t *testing.T) {
	device, server := testKey(t, 1), testKey(t, 2)
	other, otherServer := testKey(t, 3), testKey(t, 4)
	_, good := signedFile(t, sampleCertificate(), device, server)
	_, foreign := signedFile(t, sampleCertificate(), device, otherServer)
	_, byOther := signedFile(t, sampleCertificate(), other, server)

	// A file whose device signature was redone by someone else after the
	// server countersigned it.
	f, _ := signedFile(t, sampleCertificate(), device, server)
	resigned, _ := Sign(sampleCertificate(), other)
	f.DeviceKey, f.DeviceSig = resigned.DeviceKey, resigned.DeviceSig
	swapped, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		data []byte
		opts VerifyOptions
		want error
	}{
		{"pinned keys", good, VerifyOptions{ServerKey: pub(server), DeviceKey: pub(device)}, nil},
		{"keys of the file", good, VerifyOptions{}, nil},
		{"wrong pinned server key", good, VerifyOptions{ServerKey: pub(otherServer)}, ErrServerKey},
		{"countersigned by another server", foreign, VerifyOptions{ServerKey: pub(server)}, ErrServerKey},
		{"wrong device key", good, VerifyOptions{DeviceKey: pub(other)}, ErrDeviceKey},
		{"signed by another device", byOther, VerifyOptions{ServerKey: pub(server), DeviceKey: pub(device)}, ErrDeviceKey},
		{"device signature redone after countersigning", swapped, VerifyOptions{}, ErrServerSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Verify(tt.data, tt.opts)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCountersignRefusesUnsigned(t *testing.T) {
	device, server := testKey(t, 1), testKey(t, 2)
	f, _ := signedFile(t, sampleCertificate(), device, nil)
	f.Certificate = bytes.Replace(f.Certificate, []byte("VAL-0031"), []byte("VAL-0032"), 1)
	if err := f.Countersign(server); !errors.Is(err, ErrDeviceSignature) {
		t.Errorf("Countersign of a changed certificate: got %v, want %v", err, ErrDeviceSignature)
	}
	if f.ServerSig != "" {
		t.Errorf("countersigned anyway")
	}
}

func TestChain(t *testing.T) {
	device, server := testKey(t, 1), testKey(t, 2)
	first := sampleCertificate()
	first.ID, first.PrevHash = "cert-1", ""
	f1, d1 := signedFile(t, first, device, server)

	second := sampleCertificate()
	second.ID, second.PrevHash = "cert-2", f1.Hash()
	f2, d2 := signedFile(t, second, device, server)

	third := sampleCertificate()
	third.ID, third.PrevHash = "cert-3", f2.Hash()
	_, d3 := signedFile(t, third, device, server)

	broken := sampleCertificate()
	broken.ID, broken.PrevHash = "cert-4", f1.Hash() // skips cert-2
	_, d4 := signedFile(t, broken, device, server)

	otherAsset := sampleCertificate()
	otherAsset.ID, otherAsset.PrevHash = "cert-x", ""
	otherAsset.Asset.DeviceID, otherAsset.Asset.AssetTag = "dev-0000", "VAL-0099"
	fx, _ := signedFile(t, otherAsset, device, server)
	stolen := sampleCertificate()
	stolen.ID, stolen.PrevHash = "cert-5", fx.Hash()
	_, d5 := signedFile(t, stolen, device, server)

	tests := []struct {
		name string
		data []byte
		prev *File
		want error
	}{
		{"first, no previous", d1, nil, nil},
		{"second after first", d2, &f1, nil},
		{"third after second", d3, &f2, nil},
		{"third after first", d3, &f1, ErrChain},
		{"skips a certificate", d4, &f2, ErrChain},
		{"first given a previous", d1, &f2, ErrChain},
		{"previous of another asset", d5, &fx, ErrChain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Verify(tt.data, VerifyOptions{ServerKey: pub(server), Prev: tt.prev})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}

	// The hash is that of the file's bytes on disk.
	if h := f1.Hash(); len(h) != 64 || h == f2.Hash() {
		t.Errorf("hashes %s %s", h, f2.Hash())
	}
	_, read, err := Verify(d1, VerifyOptions{})
	if err != nil || read.Hash() != f1.Hash() {
		t.Errorf("hash of the file read back %s (%v), want %s", read.Hash(), err, f1.Hash())
	}
}

func TestContent(t *testing.T) {
	device, server := testKey(t, 1), testKey(t, 2)
	tests := []struct {
		name   string
		change func(*Certificate)
		want   error
	}{
		{"sample", func(c *Certificate) {}, nil},
		{"failed with a failed medium", func(c *Certificate) {
			c.Result = ResultFailed
			c.Media[1].Result, c.Media[1].Error = ResultFailed, "write error at 4096"
			c.Media[1].Verification.Result = VerificationNotDone
			c.Media[1].Category = ""
		}, nil},
		{"no id", func(c *Certificate) { c.ID = "" }, ErrContent},
		{"no asset", func(c *Certificate) { c.Asset.DeviceID, c.Asset.AssetTag = "", "" }, ErrContent},
		{"no medium", func(c *Certificate) { c.Media = nil }, ErrContent},
		{"finished before it started", func(c *Certificate) { c.Finished = c.Started.Add(-time.Second) }, ErrContent},
		{"unknown result", func(c *Certificate) { c.Result = "ok" }, ErrContent},
		{"succeeded with a failed medium", func(c *Certificate) { c.Media[1].Result = ResultFailed }, ErrContent},
		{"succeeded with a failed verification", func(c *Certificate) { c.Media[1].Verification.Result = VerificationFailed }, ErrContent},
		{"succeeded without verification", func(c *Certificate) { c.Media[0].Verification.Result = VerificationNotDone }, ErrContent},
		{"medium with an unknown result", func(c *Certificate) { c.Result = ResultFailed; c.Media[0].Result = "" }, ErrContent},
		{"medium finished before it started", func(c *Certificate) { c.Media[0].Finished = c.Media[0].Started.Add(-time.Second) }, ErrContent},
		{"medium succeeded without category", func(c *Certificate) { c.Media[0].Category = "" }, ErrContent},
		{"external without log hash", func(c *Certificate) { c.External = &External{Tool: "nwipe", ImportedBy: "tech"} }, ErrContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sampleCertificate()
			tt.change(&c)
			_, data := signedFile(t, c, device, server)
			_, _, err := Verify(data, VerifyOptions{ServerKey: pub(server)})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	device, server := testKey(t, 1), testKey(t, 2)
	f, data := signedFile(t, sampleCertificate(), device, server)

	v2 := sampleCertificate()
	v2.Version = 2
	_, dataV2 := signedFile(t, v2, device, server)

	// A certificate part that is valid JSON, correctly signed, but not
	// what encoding the certificate gives (an extra field).
	extra := f
	var m map[string]any
	if err := json.Unmarshal(f.Certificate, &m); err != nil {
		t.Fatal(err)
	}
	m["note"] = "added"
	extra.Certificate, _ = json.Marshal(m)
	extra.DeviceSig = base64.StdEncoding.EncodeToString(ed25519.Sign(device, extra.Certificate))
	if err := extra.Countersign(server); err != nil {
		t.Fatal(err)
	}
	dataExtra, _ := extra.Marshal()

	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not JSON", []byte("%PDF-1.4\n")},
		{"no final newline", bytes.TrimSuffix(data, []byte("\n"))},
		{"tabs", bytes.ReplaceAll(data, []byte("  "), []byte("\t"))},
		{"compact", func() []byte { var b bytes.Buffer; _ = json.Compact(&b, data); return b.Bytes() }()},
		{"unknown field", bytes.Replace(data, []byte(`  "device_key"`), []byte(`  "comment": "x",`+"\n"+`  "device_key"`), 1)},
		{"trailing data", append(append([]byte{}, data...), data...)},
		{"version 2", dataV2},
		{"extra certificate field", dataExtra},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Verify(tt.data, VerifyOptions{}); !errors.Is(err, ErrFormat) {
				t.Errorf("got %v, want %v", err, ErrFormat)
			}
		})
	}
}

func ExampleVerify() {
	device := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	server := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	f, _ := Sign(sampleCertificate(), device)
	_ = f.Countersign(server)
	data, _ := f.Marshal()

	data = bytes.Replace(data, []byte("VAL-0031"), []byte("VAL-0032"), 1)
	_, _, err := Verify(data, VerifyOptions{ServerKey: server.Public().(ed25519.PublicKey)})
	fmt.Println(errors.Is(err, ErrDeviceSignature))
	// Output: true
}
