package apiclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/valise-numerique/valise/internal/pin"
)

// CAPath is where a Valise server with TLS serves, without authentication,
// the PEM of the certificate its join commands pin (its own CA).
const CAPath = pin.CAPath

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
func WithCAPin(caPin string) Option {
	return func(c *Client) {
		v, err := pin.New(caPin, c.base.Hostname(), ErrPinMismatch)
		if err != nil {
			c.optErr = errors.Join(c.optErr, fmt.Errorf("%w: %v", ErrBadCA, err))
			return
		}
		c.pin = v
	}
}

// tlsConfig returns the TLS configuration of the trust options, or nil
// for the system roots.
func (c *Client) tlsConfig() *tls.Config {
	switch {
	case c.pin != nil:
		return c.pin.TLSConfig()
	case c.roots != nil:
		return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.roots}
	}
	return nil
}

// fetchAnchor gets the pinned certificate from the server's CAPath and
// keeps it only if it matches the pin (see pin.Verifier.Fetch).
func (c *Client) fetchAnchor(ctx context.Context) error {
	err := c.pin.Fetch(ctx, c.baseStr, pin.FetchOptions{Transport: c.baseTransport(), Timeout: c.timeout, UserAgent: c.ua})
	if err != nil {
		return c.transportError(ctx, err)
	}
	return nil
}
