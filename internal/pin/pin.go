// Package pin trusts a Valise server by the pin of its CA, as join commands
// carry it (wire.CAPin): a TLS verifier that accepts a server's chain only
// when the pinned certificate is in it, or was fetched from CAPath and
// matched against the pin, and signs the server's certificate or is it.
// Both the agent and the CLI trust a server this way.
package pin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// CAPath is where a Valise server with TLS serves, without authentication,
// the PEM of the certificate its join commands pin (its own CA).
const CAPath = "/api/v1/ca.crt"

// MaxCAAnswer bounds the answer of CAPath.
const MaxCAAnswer = 64 << 10

var (
	// ErrMismatch is what a Verifier's failures wrap when New was given
	// no error of the caller's own: the server's chain does not hold, and
	// its CAPath does not serve, the pinned certificate, or that
	// certificate does not vouch for the server.
	ErrMismatch = errors.New("the server's certificate does not match the CA pin")

	// ErrNotInChain means the handshake did not carry the pinned
	// certificate: Fetch may get it from CAPath, then the request may be
	// tried again.
	ErrNotInChain = errors.New("the pinned certificate is not in the chain the server presented")
)

// Verifier checks a server's TLS chain against a pinned certificate: the
// pinned certificate must be in the chain the server presents (or have
// been fetched by Fetch) and must sign the leaf, or be the leaf; the host
// name is checked against the leaf as usual. Once seen, the pinned
// certificate is kept for the next handshakes. It is safe for concurrent
// use.
type Verifier struct {
	pin      string
	host     string
	mismatch error

	mu     sync.Mutex
	anchor *x509.Certificate // the pinned certificate, once seen or fetched
}

// New returns a Verifier of the certificate pin names ("sha256:<hex of its
// DER>", surrounding spaces ignored) for a server reached as host. Its
// failures wrap mismatch, the caller's own error kind, or ErrMismatch when
// mismatch is nil. New fails with wire.ErrInvalid when pin is malformed.
func New(pin, host string, mismatch error) (*Verifier, error) {
	pin = strings.TrimSpace(pin)
	if _, err := wire.MatchPin(pin, nil); err != nil {
		return nil, err
	}
	if mismatch == nil {
		mismatch = ErrMismatch
	}
	return &Verifier{pin: pin, host: host, mismatch: mismatch}, nil
}

// TLSConfig returns a client TLS configuration that trusts exactly the
// pinned certificate, through VerifyConnection, not the system roots.
func (v *Verifier) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: v.host,
		// Verification is VerifyConnection's: the pinned certificate, not
		// the system roots.
		InsecureSkipVerify: true,
		VerifyConnection:   v.VerifyConnection,
	}
}

// Anchor returns the pinned certificate once a handshake or Fetch found
// it, else nil.
func (v *Verifier) Anchor() *x509.Certificate {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.anchor
}

// VerifyConnection checks the chain of a handshake, as
// tls.Config.VerifyConnection. It fails wrapping ErrNotInChain when
// neither the chain nor an earlier Fetch gave the pinned certificate.
func (v *Verifier) VerifyConnection(cs tls.ConnectionState) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return fmt.Errorf("%w: the server presented no certificate", v.mismatch)
	}
	anchor := v.Anchor()
	for _, cert := range certs {
		if ok, _ := wire.MatchPin(v.pin, cert.Raw); ok {
			anchor = cert
			break
		}
	}
	if anchor == nil {
		return fmt.Errorf("%w: %w", v.mismatch, ErrNotInChain)
	}
	leaf := certs[0]
	if anchor.Equal(leaf) {
		if err := leaf.VerifyHostname(v.host); err != nil {
			return fmt.Errorf("%w: %v", v.mismatch, err)
		}
	} else {
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(anchor)
		for _, cert := range certs[1:] {
			if !cert.Equal(anchor) {
				inter.AddCert(cert)
			}
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: v.host, Roots: roots, Intermediates: inter}); err != nil {
			return fmt.Errorf("%w: %v", v.mismatch, err)
		}
	}
	v.mu.Lock()
	v.anchor = anchor
	v.mu.Unlock()
	return nil
}

// FetchOptions says how Fetch reaches the server.
type FetchOptions struct {
	// Transport carries the request; its TLS configuration is replaced by
	// one that does not verify the server. Nil means a new
	// http.Transport.
	Transport *http.Transport
	// Timeout bounds the request; zero means no bound but ctx's.
	Timeout time.Duration
	// UserAgent, when not empty, is sent as the User-Agent header.
	UserAgent string
}

// Fetch gets the pinned certificate from base's CAPath over a connection
// that is not verified, and keeps it only if it matches the pin: the
// answer proves nothing by itself, the pin does. It fails wrapping the
// Verifier's mismatch error when the answer holds no certificate matching
// the pin, and with the transport's error, wrapped, when the request
// fails.
func (v *Verifier) Fetch(ctx context.Context, base string, o FetchOptions) error {
	tr := o.Transport
	if tr == nil {
		tr = &http.Transport{}
	}
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	hc := &http.Client{Transport: tr, Timeout: o.Timeout}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+CAPath, nil)
	if err != nil {
		return fmt.Errorf("build GET %s: %w", CAPath, err)
	}
	if o.UserAgent != "" {
		req.Header.Set("User-Agent", o.UserAgent)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("fetch the server's CA: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxCAAnswer))
	if err != nil {
		return fmt.Errorf("fetch the server's CA: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		if cert := v.match(body); cert != nil {
			v.mu.Lock()
			v.anchor = cert
			v.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("%w: neither the server's chain nor %s (%s) holds the pinned certificate", v.mismatch, CAPath, resp.Status)
}

// match returns the first certificate of a PEM text that matches the pin.
func (v *Verifier) match(text []byte) *x509.Certificate {
	for rest := text; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil
		}
		if ok, _ := wire.MatchPin(v.pin, blk.Bytes); !ok {
			continue
		}
		if cert, err := x509.ParseCertificate(blk.Bytes); err == nil {
			return cert
		}
	}
}
