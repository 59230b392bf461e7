package apiclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/valise-numerique/valise/internal/wire"
)

// CAPath is where a Valise server with TLS serves, without authentication,
// the PEM of the certificate its join commands pin (its own CA).
const CAPath = "/api/v1/ca.crt"

// maxCAAnswer bounds the answer of CAPath.
const maxCAAnswer = 64 << 10

// WithCACert makes the Client trust, for an https:// server, only the
// certificates of pemCerts (the server's data directory has its CA as
// ca.crt) instead of the system roots. New fails with ErrBadCA when
// pemCerts holds no PEM certificate. It cannot be combined with
// WithHTTPClient or WithCAPin.
func WithCACert(pemCerts []byte) Option {
	return func(c *Client) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemCerts) {
			c.optErr = errors.Join(c.optErr, fmt.Errorf("%w: no PEM certificate", ErrBadCA))
			return
		}
		c.roots = pool
	}
}

// WithCAPin makes the Client trust, for an https:// server, exactly the
// certificate whose pin (wire.CAPin: "sha256:<hex of its DER>") is pin, as
// join commands and the server's log print it. The pinned certificate must
// be in the chain the server presents, or be served at CAPath (fetched
// once, over a connection the pin then vouches for), and must sign the
// server's certificate or be it; the host name is checked as usual. New
// fails with ErrBadCA when pin is malformed. It cannot be combined with
// WithHTTPClient or WithCACert.
func WithCAPin(pin string) Option {
	return func(c *Client) {
		if _, err := wire.MatchPin(pin, nil); err != nil {
			c.optErr = errors.Join(c.optErr, fmt.Errorf("%w: %v", ErrBadCA, err))
			return
		}
		c.pin = &pinVerifier{pin: pin}
	}
}

// tlsConfig returns the TLS configuration of the trust options, or nil
// for the system roots.
func (c *Client) tlsConfig() *tls.Config {
	switch {
	case c.pin != nil:
		c.pin.host = c.base.Hostname()
		return &tls.Config{
			MinVersion: tls.VersionTLS12,
			ServerName: c.pin.host,
			// Verification is VerifyConnection's: the pinned certificate,
			// not the system roots.
			InsecureSkipVerify: true,
			VerifyConnection:   c.pin.verify,
		}
	case c.roots != nil:
		return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.roots}
	}
	return nil
}

// errPinNotInChain means the handshake did not carry the pinned
// certificate: it may be fetched from CAPath.
var errPinNotInChain = errors.New("the pinned certificate is not in the chain the server presented")

// pinVerifier checks a server's TLS chain against a pinned certificate.
type pinVerifier struct {
	pin  string
	host string

	mu     sync.Mutex
	anchor *x509.Certificate // the pinned certificate, once seen or fetched
}

func (v *pinVerifier) verify(cs tls.ConnectionState) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return fmt.Errorf("%w: the server presented no certificate", ErrPinMismatch)
	}
	v.mu.Lock()
	anchor := v.anchor
	v.mu.Unlock()
	for _, cert := range certs {
		if ok, _ := wire.MatchPin(v.pin, cert.Raw); ok {
			anchor = cert
			break
		}
	}
	if anchor == nil {
		return fmt.Errorf("%w: %w", ErrPinMismatch, errPinNotInChain)
	}
	leaf := certs[0]
	if anchor.Equal(leaf) {
		if err := leaf.VerifyHostname(v.host); err != nil {
			return fmt.Errorf("%w: %v", ErrPinMismatch, err)
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
			return fmt.Errorf("%w: %v", ErrPinMismatch, err)
		}
	}
	v.mu.Lock()
	v.anchor = anchor
	v.mu.Unlock()
	return nil
}

// fetchAnchor gets the pinned certificate from the server's CAPath over a
// connection that is not verified, and keeps it only if it matches the
// pin: the answer proves nothing by itself, the pin does.
func (c *Client) fetchAnchor(ctx context.Context) error {
	v := c.pin
	tr := c.baseTransport()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	hc := &http.Client{Transport: tr, Timeout: c.timeout}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseStr+CAPath, nil)
	if err != nil {
		return fmt.Errorf("build GET %s: %w", CAPath, err)
	}
	req.Header.Set("User-Agent", c.ua)
	resp, err := hc.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCAAnswer))
	if err != nil {
		return c.transportError(ctx, err)
	}
	if resp.StatusCode == http.StatusOK {
		for rest := body; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if ok, _ := wire.MatchPin(v.pin, blk.Bytes); !ok {
				continue
			}
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				continue
			}
			v.mu.Lock()
			v.anchor = cert
			v.mu.Unlock()
			return nil
		}
	}
	return &TransportError{URL: c.baseStr, Reason: "TLS certificate does not match the CA pin",
		Err: fmt.Errorf("%w: neither the server's chain nor %s (%s) holds the pinned certificate", ErrPinMismatch, CAPath, resp.Status)}
}
