package agent

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// CAFile is the PEM of the server's CA in a state dir, kept at enrolment:
// the only root the agent trusts for ssl:// MQTT and for HTTPS once
// enrolled.
const CAFile = "ca.crt"

// CAPath is where the server's CA certificate may be fetched, without
// authentication, when the TLS handshake does not carry it.
const CAPath = "/api/v1/ca.crt"

// ParsePin parses a CA pin of the join command: "sha256:" and the hex
// SHA-256 of the certificate's DER (see wire.CAPin).
func ParsePin(pin string) ([]byte, error) {
	h, ok := strings.CutPrefix(strings.TrimSpace(pin), wire.PinPrefix)
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("%w: %q is not sha256:<64 hex digits>", ErrPin, pin)
	}
	return b, nil
}

// Pin returns the pin of a certificate as join commands carry it (see
// wire.CAPin).
func Pin(cert *x509.Certificate) string { return wire.CAPin(cert.Raw) }

// pinVerifier checks a server's TLS chain against a pinned certificate:
// the pinned certificate must be in the chain the server presents (or have
// been fetched from CAPath and matched against the pin) and must sign the
// leaf, or be the leaf; the host name is checked against the leaf as usual.
type pinVerifier struct {
	pin  []byte
	host string

	mu     sync.Mutex
	anchor *x509.Certificate // the pinned certificate, once seen
}

// errPinNotInChain means the handshake did not carry the pinned
// certificate: it may be fetched from CAPath.
var errPinNotInChain = errors.New("the pinned CA is not in the chain the server presented")

func (v *pinVerifier) verify(cs tls.ConnectionState) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return fmt.Errorf("%w: the server presented no certificate", ErrPin)
	}
	v.mu.Lock()
	anchor := v.anchor
	v.mu.Unlock()
	for _, c := range certs {
		if sum := sha256.Sum256(c.Raw); string(sum[:]) == string(v.pin) {
			anchor = c
			break
		}
	}
	if anchor == nil {
		return fmt.Errorf("%w: %w", ErrPin, errPinNotInChain)
	}
	leaf := certs[0]
	if anchor.Equal(leaf) {
		if err := leaf.VerifyHostname(v.host); err != nil {
			return fmt.Errorf("%w: %v", ErrPin, err)
		}
	} else {
		roots := x509.NewCertPool()
		roots.AddCert(anchor)
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			if !c.Equal(anchor) {
				inter.AddCert(c)
			}
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: v.host, Roots: roots, Intermediates: inter}); err != nil {
			return fmt.Errorf("%w: %v", ErrPin, err)
		}
	}
	v.mu.Lock()
	v.anchor = anchor
	v.mu.Unlock()
	return nil
}

func (v *pinVerifier) found() *x509.Certificate {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.anchor
}

// fetchAnchor gets the CA from server's CAPath over a connection that is
// not verified, then accepts it only if it matches the pin: the answer
// proves nothing by itself, the pin does.
func (v *pinVerifier) fetchAnchor(ctx context.Context, server string, timeout time.Duration) error {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: false,
	}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(server, "/")+CAPath, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("fetch the server's CA: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: the server presented no certificate matching the pin and %s answered %s", ErrPin, CAPath, resp.Status)
	}
	for rest := body; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			continue
		}
		if sum := sha256.Sum256(cert.Raw); string(sum[:]) == string(v.pin) {
			v.mu.Lock()
			v.anchor = cert
			v.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("%w: neither the server's chain nor %s holds the pinned certificate (wrong server, or wrong join command?)", ErrPin, CAPath)
}

// pinnedClient returns an HTTP client for server that trusts exactly the
// certificate pinned by pin.
func pinnedClient(server, pin string, timeout time.Duration) (*http.Client, *pinVerifier, error) {
	p, err := ParsePin(pin)
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, nil, err
	}
	v := &pinVerifier{pin: p, host: u.Hostname()}
	cfg := &tls.Config{
		// Verification is VerifyConnection's: the pinned CA, not the system roots.
		InsecureSkipVerify: true,
		ServerName:         u.Hostname(),
		VerifyConnection:   v.verify,
		MinVersion:         tls.VersionTLS12,
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: cfg}}, v, nil
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
