package certpdf

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/certificate"
)

// The fixtures of package certificate's tests, for the renderer's.

func readLog(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var nwipeAsset = certificate.Asset{DeviceID: "dev-7f3a", AssetTag: "VAL-0031", Class: "laptop", Vendor: "LENOVO", Model: "ThinkPad T480", Serial: "PF1ABCDE"}

// testKey makes a deterministic ed25519 key from a one-byte seed.
func testKey(t *testing.T, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

var t0 = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// sampleCertificate is a certificate with every field set, accents, HTML
// characters and multi-line raw answers.
func sampleCertificate() certificate.Certificate {
	return certificate.Certificate{
		Version: certificate.Version,
		ID:      "cert-job-0042",
		JobID:   "job-0042",
		Asset: certificate.Asset{
			DeviceID: "dev-7f3a", AssetTag: "VAL-0031", Class: "laptop",
			Vendor: "LENOVO", Model: "ThinkPad T480", Serial: "PF1ABCDE",
			UUID: "4c4c4544-0051-3010-8052-b4c04f565a32",
		},
		Media: []certificate.Medium{{
			Name: "nvme0n1", Type: "nvme", Model: "SAMSUNG MZVLB256HAHQ", Serial: "S4DXNX0M123456",
			Firmware: "EXA7301Q", CapacityBytes: 256060514304, HPA: "absent", DCO: "absent",
			Method: "nvme-sanitize-crypto", Category: certificate.CategoryPurge,
			Commands: []certificate.Command{
				{Command: "nvme sanitize /dev/nvme0n1 --sanact=4", ExitCode: 0, Output: "Sanitize started <ok> & waiting\n"},
				{Command: "nvme sanitize-log /dev/nvme0n1 -o json", Output: "{\"sprog\": 65535, \"sstat\": 257}\n"},
			},
			Started: t0, Finished: t0.Add(3 * time.Minute),
			Verification: certificate.Verification{Method: "device-status", Result: certificate.VerificationPassed, Detail: "sanitize log: completed, no error"},
			Result:       certificate.ResultSucceeded,
		}, {
			Name: "sda", Type: "ssd", Model: "Crucial CT240", Serial: "1234ABCD5678",
			CapacityBytes: 240057409536, HPA: "absent", DCO: "unknown",
			Method: "overwrite", Category: certificate.CategoryClear, Pattern: "zeros",
			Started: t0.Add(3 * time.Minute), Finished: t0.Add(40 * time.Minute),
			Verification: certificate.Verification{Method: "sample", Result: certificate.VerificationPassed, BytesChecked: 1 << 30, Samples: 1024, Seed: "9f86d081884c7d65"},
			Result:       certificate.ResultSucceeded,
		}},
		Operator:    "Élodie Martin",
		SourceVenue: "Médiathèque François-Mitterrand, Évry",
		Destination: "réemploi",
		Tool:        certificate.Tool{Name: "valise-agent", Version: "0.3.0"},
		Started:     t0,
		Finished:    t0.Add(40 * time.Minute),
		Result:      certificate.ResultSucceeded,
		PrevHash:    strings.Repeat("ab", 32),
	}
}

// signedFile signs and countersigns c and returns the file and its bytes.
func signedFile(t *testing.T, c certificate.Certificate, device, server ed25519.PrivateKey) (certificate.File, []byte) {
	t.Helper()
	f, err := certificate.Sign(c, device)
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
