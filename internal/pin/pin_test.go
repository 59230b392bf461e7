package pin_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/pin"
	"github.com/valise-numerique/valise/internal/pin/pintest"
	"github.com/valise-numerique/valise/internal/wire"
)

// healthy answers every request with 200.
var healthy = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// health gets /healthz of srv through a client that trusts v.
func health(t *testing.T, srv *httptest.Server, v *pin.Verifier) error {
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
	ca, other := pintest.NewCA(t, "127.0.0.1"), pintest.NewCA(t, "127.0.0.1")
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
		// wraps. Fetch is called only when first wraps pin.ErrNotInChain.
		first, fetch, second error
	}{
		{name: "pin in the chain", withCA: true, pin: wire.CAPin(ca.CA.Raw)},
		{name: "pin with spaces", withCA: true, pin: " " + wire.CAPin(ca.CA.Raw) + "\n"},
		{name: "pin in upper case hex", withCA: true, pin: wire.PinPrefix + strings.ToUpper(strings.TrimPrefix(wire.CAPin(ca.CA.Raw), wire.PinPrefix))},
		{name: "pin of the leaf itself", pin: wire.CAPin(ca.Leaf.Raw)},
		{name: "pin fetched from ca.crt", served: ca.PEM(), pin: wire.CAPin(ca.CA.Raw), first: pin.ErrNotInChain},
		{name: "ca.crt serves another ca first", served: append(other.PEM(), ca.PEM()...), pin: wire.CAPin(ca.CA.Raw), first: pin.ErrNotInChain},
		{name: "ca.crt serves another ca", served: other.PEM(), pin: wire.CAPin(ca.CA.Raw), first: pin.ErrNotInChain, fetch: pin.ErrMismatch, second: pin.ErrNotInChain},
		{name: "no ca.crt", pin: wire.CAPin(ca.CA.Raw), first: pin.ErrNotInChain, fetch: pin.ErrMismatch, second: pin.ErrNotInChain},
		{name: "no ca.crt, caller's error", pin: wire.CAPin(ca.CA.Raw), mismatch: errOwn, first: errOwn, fetch: errOwn, second: errOwn},
		{name: "wrong pin", withCA: true, served: ca.PEM(), pin: wire.CAPin(other.CA.Raw), first: pin.ErrNotInChain, fetch: pin.ErrMismatch, second: pin.ErrNotInChain},
		{name: "pinned ca did not sign the leaf", withCA: true, served: other.PEM(), pin: wire.CAPin(other.CA.Raw), first: pin.ErrNotInChain, second: pin.ErrMismatch},
		{name: "wrong host name", withCA: true, pin: wire.CAPin(ca.CA.Raw), host: "valise.example", first: pin.ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := ca.Serve(t, tt.withCA, tt.served, healthy)
			host := tt.host
			if host == "" {
				u, err := url.Parse(srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				host = u.Hostname()
			}
			v, err := pin.New(tt.pin, host, tt.mismatch)
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
			if !errors.Is(err, pin.ErrNotInChain) {
				return // nothing to fetch: the chain holds the pin but does not vouch for the server
			}
			err = v.Fetch(context.Background(), srv.URL, pin.FetchOptions{Timeout: 10 * time.Second, UserAgent: "pin-test"})
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
func mustPinned(t *testing.T, caPin string, ca, other pintest.CA) []byte {
	t.Helper()
	for _, der := range [][]byte{ca.CA.Raw, ca.Leaf.Raw, other.CA.Raw} {
		if ok, _ := wire.MatchPin(strings.TrimSpace(caPin), der); ok {
			return der
		}
	}
	t.Fatalf("no test certificate has the pin %q", caPin)
	return nil
}

func TestNewRefusesMalformedPins(t *testing.T) {
	der := pintest.NewCA(t, "127.0.0.1").CA.Raw
	tests := []struct{ name, pin string }{
		{"empty", ""},
		{"short", "sha256:abc"},
		{"no prefix", strings.TrimPrefix(wire.CAPin(der), wire.PinPrefix)},
		{"other digest", "sha1:" + strings.TrimPrefix(wire.CAPin(der), wire.PinPrefix)[:40]},
		{"not hex", "sha256:" + strings.Repeat("z", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pin.New(tt.pin, "127.0.0.1", nil); !errors.Is(err, wire.ErrInvalid) {
				t.Errorf("pin.New(%q) = %v, want wire.ErrInvalid", tt.pin, err)
			}
		})
	}
}

func TestFetchTransportError(t *testing.T) {
	ca := pintest.NewCA(t, "127.0.0.1")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	v, err := pin.New(wire.CAPin(ca.CA.Raw), "127.0.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = v.Fetch(context.Background(), "https://"+addr, pin.FetchOptions{Timeout: 10 * time.Second})
	if err == nil || errors.Is(err, pin.ErrMismatch) {
		t.Errorf("Fetch from a closed port = %v, want a transport error, not a mismatch", err)
	}
}
