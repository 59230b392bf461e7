// Package pintest makes what the tests of pinned trust need: a CA, a
// server certificate it signed, and an HTTPS server presenting it that
// serves a CA at pin.CAPath, as a Valise server does.
package pintest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/pin"
)

// CA is a CA and a server certificate it signed, as the server makes them
// on its first start.
type CA struct {
	CA, Leaf *x509.Certificate
	LeafKey  *ecdsa.PrivateKey
}

// NewCA returns a new CA and a server certificate it signed for hosts (IP
// addresses or DNS names), valid for an hour around now.
func NewCA(t testing.TB, hosts ...string) CA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Valise test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "valise server"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			leafTmpl.IPAddresses = append(leafTmpl.IPAddresses, ip)
		} else {
			leafTmpl.DNSNames = append(leafTmpl.DNSNames, h)
		}
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	return CA{CA: ca, Leaf: leaf, LeafKey: leafKey}
}

// PEM returns the CA certificate as PEM.
func (c CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.CA.Raw})
}

// Serve starts an HTTPS server presenting the leaf, with the CA in the
// chain when withCA, that serves served at pin.CAPath (nil: 404) and
// everything else with h; the test's cleanup closes it. Refused
// handshakes are the point of these tests: the server does not log them.
func (c CA) Serve(t testing.TB, withCA bool, served []byte, h http.Handler) *httptest.Server {
	t.Helper()
	chain := [][]byte{c.Leaf.Raw}
	if withCA {
		chain = append(chain, c.CA.Raw)
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc(pin.CAPath, func(w http.ResponseWriter, r *http.Request) {
		if served == nil {
			http.NotFound(w, r)
			return
		}
		w.Write(served)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: c.LeafKey}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
