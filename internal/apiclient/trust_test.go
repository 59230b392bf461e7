package apiclient

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
// the chain when withCA, and serves at CAPath the PEM of served (nil: 404).
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

func TestTrust(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	pin := wire.CAPin(ca.ca.Raw)
	tests := []struct {
		name   string
		withCA bool   // the server's chain holds the CA
		served []byte // what CAPath serves
		opt    Option // nil: the system roots
		want   error  // nil: Health succeeds
	}{
		{name: "system roots", withCA: true, want: ErrUntrusted},
		{name: "ca cert", withCA: true, opt: WithCACert(ca.pem())},
		{name: "ca cert, leaf alone", opt: WithCACert(ca.pem())},
		{name: "another ca cert", withCA: true, opt: WithCACert(other.pem()), want: ErrUntrusted},
		{name: "pin in the chain", withCA: true, opt: WithCAPin(pin)},
		{name: "pin fetched from ca.crt", served: ca.pem(), opt: WithCAPin(pin)},
		{name: "pin, ca.crt serves another ca", served: other.pem(), opt: WithCAPin(pin), want: ErrPinMismatch},
		{name: "pin, no ca.crt", opt: WithCAPin(pin), want: ErrPinMismatch},
		{name: "wrong pin", withCA: true, served: ca.pem(), opt: WithCAPin(wire.CAPin(other.ca.Raw)), want: ErrPinMismatch},
		{name: "pin of a ca that did not sign the leaf", withCA: true, served: other.pem(), opt: WithCAPin(wire.CAPin(other.ca.Raw)), want: ErrPinMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tlsServer(t, ca, tt.withCA, tt.served)
			opts := []Option{WithTimeout(10 * time.Second)}
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			c, err := New(srv.URL, "", opts...)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Health(context.Background())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Health: %v", err)
				}
				// Once trusted, the anchor is kept: a second request works.
				if err := c.Health(context.Background()); err != nil {
					t.Fatalf("second Health: %v", err)
				}
				return
			}
			var te *TransportError
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrUnreachable) || !errors.As(err, &te) {
				t.Fatalf("Health = %v, want a *TransportError wrapping %v", err, tt.want)
			}
		})
	}
}

func TestTrustOptionsRefused(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name string
		opts []Option
	}{
		{"no certificate in the file", []Option{WithCACert([]byte("not a certificate"))}},
		{"malformed pin", []Option{WithCAPin("sha256:abc")}},
		{"pin without prefix", []Option{WithCAPin(strings.TrimPrefix(wire.CAPin(ca.ca.Raw), wire.PinPrefix))}},
		{"file and pin", []Option{WithCACert(ca.pem()), WithCAPin(wire.CAPin(ca.ca.Raw))}},
		{"pin and own HTTP client", []Option{WithCAPin(wire.CAPin(ca.ca.Raw)), WithHTTPClient(http.DefaultClient)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New("https://127.0.0.1:1", "", tt.opts...); !errors.Is(err, ErrBadCA) {
				t.Errorf("New = %v, want ErrBadCA", err)
			}
		})
	}
}
