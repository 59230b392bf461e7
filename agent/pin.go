package agent

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/pin"
	"github.com/valise-numerique/valise/internal/wire"
)

// CAFile is the PEM of the server's CA in a state dir, kept at enrolment:
// the only root the agent trusts for ssl:// MQTT and for HTTPS once
// enrolled.
const CAFile = "ca.crt"

// CAPath is where the server's CA certificate may be fetched, without
// authentication, when the TLS handshake does not carry it.
const CAPath = pin.CAPath

// ParsePin checks a CA pin of the join command: "sha256:" and the hex
// SHA-256 of the certificate's DER (see wire.CAPin), surrounding spaces
// ignored. It fails with ErrPin.
func ParsePin(p string) error {
	if _, err := wire.MatchPin(strings.TrimSpace(p), nil); err != nil {
		return fmt.Errorf("%w: %v", ErrPin, err)
	}
	return nil
}

// Pin returns the pin of a certificate as join commands carry it (see
// wire.CAPin).
func Pin(cert *x509.Certificate) string { return wire.CAPin(cert.Raw) }

// pinnedClient returns an HTTP client for server that trusts exactly the
// certificate pinned by caPin, with the verifier that checks it.
func pinnedClient(server, caPin string, timeout time.Duration) (*http.Client, *pin.Verifier, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, nil, err
	}
	v, err := pin.New(caPin, u.Hostname(), ErrPin)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrPin, err)
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: v.TLSConfig()}}, v, nil
}

// LoadCA returns the CA kept in stateDir at enrolment as a pool, or nil
// when there is none (a server without TLS).
func LoadCA(stateDir string) (*x509.CertPool, error) {
	path := filepath.Join(stateDir, CAFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("load CA %s: %w: no PEM certificate", path, ErrBadState)
	}
	return pool, nil
}

// keptCATLS returns the client TLS configuration of a state dir: the CA
// kept at enrolment as the only root, for ssl:// brokers and https://
// servers, or nil (the system's roots) when none is kept.
func keptCATLS(stateDir string) (*tls.Config, error) {
	pool, err := LoadCA(stateDir)
	if err != nil || pool == nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// caPEM encodes cert as PEM.
func caPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// parsePEMCert returns the first certificate of a PEM text.
func parsePEMCert(text string) (*x509.Certificate, error) {
	blk, _ := pem.Decode([]byte(text))
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParseCertificate(blk.Bytes)
}
