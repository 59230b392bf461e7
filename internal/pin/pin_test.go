package pin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// testCA is a CA and a certificate for 127.0.0.1 that it signed.
type testCA struct {
	ca   *x509.Certificate
	leaf tls.Certificate
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{ca: ca, leaf: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

func (c testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.ca.Raw})
}

// tlsServer serves /healthz over TLS with the leaf of ca, the CA itself in
// the chain when withCA, and serves at CAPath served (nil: 404).
func tlsServer(t *testing.T, ca testCA, withCA bool, served []byte) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("GET "+CAPath, func(w http.ResponseWriter, _ *http.Request) {
		if served == nil {
			http.NotFound(w, nil)
			return
		}
		w.Write(served)
	})
	srv := httptest.NewUnstartedServer(mux)
	cert := ca.leaf
	if withCA {
		cert.Certificate = append(cert.Certificate, ca.ca.Raw)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// health gets /healthz of srv through a client that trusts v.
func health(t *testing.T, srv *httptest.Server, v *Verifier) error {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: v.TLSConfig()}}
	t.Cleanup(hc.CloseIdleConnections)
	resp, err := hc.Get(srv.URL + "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func TestVerifier(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	errOwn := errors.New("the caller's own mismatch")
	tests := []struct {
		name     string
		withCA   bool   // the server's chain holds the CA
		served   []byte // what CAPath serves
		pin      string
		host     string // "" means 127.0.0.1
		mismatch error  // given to New
		// first is what the first request wraps (nil: it succeeds); fetch
		// what Fetch then wraps; second what the request after Fetch
		// wraps. Fetch is called only when first wraps ErrNotInChain.
		first, fetch, second error
	}{
		{name: "pin in the chain", withCA: true, pin: wire.CAPin(ca.ca.Raw)},
		{name: "pin with spaces", withCA: true, pin: " " + wire.CAPin(ca.ca.Raw) + "\n"},
		{name: "pin in upper case hex", withCA: true, pin: wire.PinPrefix + strings.ToUpper(strings.TrimPrefix(wire.CAPin(ca.ca.Raw), wire.PinPrefix))},
		{name: "pin of the leaf itself", pin: wire.CAPin(ca.leaf.Certificate[0])},
		{name: "pin fetched from ca.crt", served: ca.pem(), pin: wire.CAPin(ca.ca.Raw), first: ErrNotInChain},
		{name: "ca.crt serves another ca first", served: append(other.pem(), ca.pem()...), pin: wire.CAPin(ca.ca.Raw), first: ErrNotInChain},
		{name: "ca.crt serves another ca", served: other.pem(), pin: wire.CAPin(ca.ca.Raw), first: ErrNotInChain, fetch: ErrMismatch, second: ErrNotInChain},
		{name: "no ca.crt", pin: wire.CAPin(ca.ca.Raw), first: ErrNotInChain, fetch: ErrMismatch, second: ErrNotInChain},
		{name: "no ca.crt, caller's error", pin: wire.CAPin(ca.ca.Raw), mismatch: errOwn, first: errOwn, fetch: errOwn, second: errOwn},
		{name: "wrong pin", withCA: true, served: ca.pem(), pin: wire.CAPin(other.ca.Raw), first: ErrNotInChain, fetch: ErrMismatch, second: ErrNotInChain},
		{name: "pinned ca did not sign the leaf", withCA: true, served: other.pem(), pin: wire.CAPin(other.ca.Raw), first: ErrNotInChain, second: ErrMismatch},
		{name: "wrong host name", withCA: true, pin: wire.CAPin(ca.ca.Raw), host: "valise.example", first: ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tlsServer(t, ca, tt.withCA, tt.served)
			host := tt.host
			if host == "" {
				u, err := url.Parse(srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				host = u.Hostname()
			}
			v, err := New(tt.pin, host, tt.mismatch)
			if err != nil {
				t.Fatal(err)
			}
			err = health(t, srv, v)
			if !wraps(err, tt.first) {
				t.Fatalf("first request = %v, want %v", err, tt.first)
			}
			if tt.first == nil {
				if v.Anchor() == nil || wire.CAPin(v.Anchor().Raw) != wire.CAPin(mustPinned(t, tt.pin, ca, other)) {
					t.Errorf("Anchor = %v, want the pinned certificate", v.Anchor())
				}
				if err := health(t, srv, v); err != nil {
					t.Errorf("second request with the kept anchor: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNotInChain) {
				return // nothing to fetch: the chain holds the pin but does not vouch for the server
			}
			err = v.Fetch(context.Background(), srv.URL, FetchOptions{Timeout: 10 * time.Second, UserAgent: "pin-test"})
			if !wraps(err, tt.fetch) {
				t.Fatalf("Fetch = %v, want %v", err, tt.fetch)
			}
			if tt.fetch != nil && v.Anchor() != nil {
				t.Errorf("Anchor = %v after a failed Fetch, want none", v.Anchor().Subject)
			}
			if err := health(t, srv, v); !wraps(err, tt.second) {
				t.Errorf("request after Fetch = %v, want %v", err, tt.second)
			}
		})
	}
}

// wraps reports whether err wraps want, or is nil when want is.
func wraps(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

// mustPinned returns the DER of the certificate of ca or other that pin
// names.
func mustPinned(t *testing.T, pin string, ca, other testCA) []byte {
	t.Helper()
	for _, der := range [][]byte{ca.ca.Raw, ca.leaf.Certificate[0], other.ca.Raw} {
		if ok, _ := wire.MatchPin(strings.TrimSpace(pin), der); ok {
			return der
		}
	}
	t.Fatalf("no test certificate has the pin %q", pin)
	return nil
}

func TestNewRefusesMalformedPins(t *testing.T) {
	der := newTestCA(t).ca.Raw
	tests := []struct{ name, pin string }{
		{"empty", ""},
		{"short", "sha256:abc"},
		{"no prefix", strings.TrimPrefix(wire.CAPin(der), wire.PinPrefix)},
		{"other digest", "sha1:" + strings.TrimPrefix(wire.CAPin(der), wire.PinPrefix)[:40]},
		{"not hex", "sha256:" + strings.Repeat("z", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.pin, "127.0.0.1", nil); !errors.Is(err, wire.ErrInvalid) {
				t.Errorf("New(%q) = %v, want wire.ErrInvalid", tt.pin, err)
			}
		})
	}
}

func TestFetchTransportError(t *testing.T) {
	ca := newTestCA(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	v, err := New(wire.CAPin(ca.ca.Raw), "127.0.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = v.Fetch(context.Background(), "https://"+addr, FetchOptions{Timeout: 10 * time.Second})
	if err == nil || errors.Is(err, ErrMismatch) {
		t.Errorf("Fetch from a closed port = %v, want a transport error, not a mismatch", err)
	}
}
