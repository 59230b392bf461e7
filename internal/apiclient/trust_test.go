package apiclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/pin/pintest"
	"github.com/valise-numerique/valise/internal/wire"
)

// tlsServer serves /healthz over TLS with the leaf of ca, the CA itself in
// the chain when withCA, and serves at CAPath served (nil: 404).
func tlsServer(t *testing.T, ca pintest.CA, withCA bool, served []byte) *httptest.Server {
	t.Helper()
	return ca.Serve(t, withCA, served, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
}

func TestTrust(t *testing.T) {
	ca, other := pintest.NewCA(t, "127.0.0.1"), pintest.NewCA(t, "127.0.0.1")
	pin := wire.CAPin(ca.CA.Raw)
	tests := []struct {
		name   string
		withCA bool   // the server's chain holds the CA
		served []byte // what CAPath serves
		opt    Option // nil: the system roots
		want   error  // nil: Health succeeds
	}{
		{name: "system roots", withCA: true, want: ErrUntrusted},
		{name: "ca cert", withCA: true, opt: WithCACert(ca.PEM())},
		{name: "ca cert, leaf alone", opt: WithCACert(ca.PEM())},
		{name: "another ca cert", withCA: true, opt: WithCACert(other.PEM()), want: ErrUntrusted},
		{name: "pin in the chain", withCA: true, opt: WithCAPin(pin)},
		{name: "pin fetched from ca.crt", served: ca.PEM(), opt: WithCAPin(pin)},
		{name: "pin, ca.crt serves another ca", served: other.PEM(), opt: WithCAPin(pin), want: ErrPinMismatch},
		{name: "pin, no ca.crt", opt: WithCAPin(pin), want: ErrPinMismatch},
		{name: "wrong pin", withCA: true, served: ca.PEM(), opt: WithCAPin(wire.CAPin(other.CA.Raw)), want: ErrPinMismatch},
		{name: "pin of a ca that did not sign the leaf", withCA: true, served: other.PEM(), opt: WithCAPin(wire.CAPin(other.CA.Raw)), want: ErrPinMismatch},
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
	ca := pintest.NewCA(t, "127.0.0.1")
	tests := []struct {
		name string
		opts []Option
	}{
		{"no certificate in the file", []Option{WithCACert([]byte("not a certificate"))}},
		{"malformed pin", []Option{WithCAPin("sha256:abc")}},
		{"pin without prefix", []Option{WithCAPin(strings.TrimPrefix(wire.CAPin(ca.CA.Raw), wire.PinPrefix))}},
		{"file and pin", []Option{WithCACert(ca.PEM()), WithCAPin(wire.CAPin(ca.CA.Raw))}},
		{"pin and own HTTP client", []Option{WithCAPin(wire.CAPin(ca.CA.Raw)), WithHTTPClient(http.DefaultClient)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New("https://127.0.0.1:1", "", tt.opts...); !errors.Is(err, ErrBadCA) {
				t.Errorf("New = %v, want ErrBadCA", err)
			}
		})
	}
}
