package agent

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valise-numerique/valise/internal/pin/pintest"
)

// testCA is a CA and a server certificate it signed, as the server makes
// them on its first start.
type testCA = pintest.CA

func newTestCA(t *testing.T, hosts ...string) testCA { return pintest.NewCA(t, hosts...) }

func TestEnrollPinsTheCA(t *testing.T) {
	good := newTestCA(t, "127.0.0.1")
	other := newTestCA(t, "127.0.0.1")
	wrongHost := newTestCA(t, "valise.example")
	key := newCommandKey(t)
	es := &enrolServer{devices: map[string]string{}, key: key.Public().(ed25519.PublicKey), caPEM: string(caPEM(good.CA))}

	tests := []struct {
		name    string
		ca      testCA
		withCA  bool
		pin     string
		wantErr string
	}{
		{"CA in the chain", good, true, Pin(good.CA), ""},
		{"leaf alone, CA fetched and matched", good, false, Pin(good.CA), ""},
		{"pin of the leaf itself", good, false, Pin(good.Leaf), ""},
		{"another CA", other, true, Pin(good.CA), "does not match the CA pin"},
		{"another CA, leaf alone", other, false, Pin(good.CA), "neither the server's chain"},
		{"host not in the certificate", wrongHost, true, Pin(wrongHost.CA), "doesn't contain any IP SANs"},
		{"malformed pin", good, true, "sha256:abcd", "not sha256:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.ca.Serve(t, tc.withCA, tc.ca.PEM(), es)
			dir := t.TempDir()
			_, err := Enroll(t.Context(), EnrollOptions{
				Server: srv.URL, Token: "good", CAPin: tc.pin, StateDir: dir, Source: &testSource{},
				Logger: testConfig("", nil).Logger,
			})
			if tc.wantErr != "" {
				if !errors.Is(err, ErrPin) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Enroll = %v, want ErrPin with %q", err, tc.wantErr)
				}
				if _, err := os.Stat(filepath.Join(dir, StateFile)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a refused server left a state file")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, CAFile))
			if err != nil {
				t.Fatal(err)
			}
			blk, _ := pem.Decode(b)
			kept, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if Pin(kept) != tc.pin {
				t.Errorf("kept %s, want the pinned certificate %s", Pin(kept), tc.pin)
			}
			st, err := LoadState(dir)
			if err != nil {
				t.Fatal(err)
			}
			if st.CAPin != tc.pin {
				t.Errorf("state pin %q, want %q", st.CAPin, tc.pin)
			}
			// Enrolling again without the pin trusts the CA kept.
			if _, err := Enroll(t.Context(), EnrollOptions{Server: srv.URL, Token: "good", StateDir: dir, Source: &testSource{}}); err != nil && tc.withCA {
				t.Errorf("enrolling again with the kept CA: %v", err)
			}
		})
	}

	t.Run("without a pin the system roots do not know the CA", func(t *testing.T) {
		srv := good.Serve(t, true, good.PEM(), es)
		_, err := Enroll(t.Context(), EnrollOptions{Server: srv.URL, Token: "good", StateDir: t.TempDir(), Source: &testSource{}})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("Enroll without pin = %v, want a certificate error", err)
		}
	})
}

func TestEnrollPlainHTTPKeepsServerCA(t *testing.T) {
	ca := newTestCA(t, "127.0.0.1")
	es := &enrolServer{devices: map[string]string{}, key: newCommandKey(t).Public().(ed25519.PublicKey), caPEM: string(caPEM(ca.CA))}
	srv := httptest.NewServer(es)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	if _, err := Enroll(t.Context(), EnrollOptions{Server: srv.URL, Token: "good", StateDir: dir, Source: &testSource{}}); err != nil {
		t.Fatal(err)
	}
	pool, err := LoadCA(dir)
	if err != nil || pool == nil {
		t.Fatalf("LoadCA = %v, %v; want the server's CA", pool, err)
	}
	if _, err := ca.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("the kept CA does not verify the server's certificate: %v", err)
	}
}

func TestParsePin(t *testing.T) {
	ca := newTestCA(t, "localhost")
	tests := []struct {
		name string
		pin  string
		ok   bool
	}{
		{"valid", Pin(ca.CA), true},
		{"no prefix", strings.TrimPrefix(Pin(ca.CA), "sha256:"), false},
		{"short", "sha256:00ff", false},
		{"not hex", "sha256:" + strings.Repeat("zz", 32), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ParsePin(tc.pin)
			if (err == nil) != tc.ok {
				t.Errorf("ParsePin(%q) = %v, want ok %v", tc.pin, err, tc.ok)
			}
		})
	}
}
