package apiclient

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
)

// seen is what the fake server received.
type seen struct {
	Method, Path, RawQuery, Auth, UserAgent, ContentType, Body string
}

// fakeServer answers every request with status and body, and records it.
func fakeServer(t *testing.T, status int, body string) (*httptest.Server, *seen) {
	t.Helper()
	got := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = seen{
			Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), UserAgent: r.Header.Get("User-Agent"),
			ContentType: r.Header.Get("Content-Type"), Body: string(b),
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func newClient(t *testing.T, url string) *Client {
	t.Helper()
	c, err := New(url, "s3cret", WithVersion("1.2.3"))
	if err != nil {
		t.Fatalf("New(%q): %v", url, err)
	}
	return c
}

func TestNewValidatesURL(t *testing.T) {
	tests := []struct {
		name, url, want string // want: BaseURL, or "" when New must fail
	}{
		{"plain", "http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"trailing slash", "http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{"https with prefix", "https://valise.example.org/fleet/", "https://valise.example.org/fleet"},
		{"spaces", "  http://localhost:8080 ", "http://localhost:8080"},
		{"no scheme", "127.0.0.1:8080", ""},
		{"empty", "", ""},
		{"ftp", "ftp://example.org", ""},
		{"no host", "http://", ""},
		{"user info", "http://admin:pw@example.org", ""},
		{"query", "http://example.org/?x=1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.url, "")
			if tt.want == "" {
				if !errors.Is(err, ErrBadURL) {
					t.Fatalf("New(%q) error = %v, want ErrBadURL", tt.url, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tt.url, err)
			}
			if got := c.BaseURL(); got != tt.want {
				t.Errorf("BaseURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

// requestCase is one API call checked against a fake server: the answer
// the server gives, what the call returns and the request the server saw.
type requestCase struct {
	name   string
	status int
	answer string
	call   func(c *Client) (any, error)
	want   any
	seen   seen
}

// runRequests runs each case against its own fake server, with the token
// and version of newClient.
func runRequests(t *testing.T, tests []requestCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := fakeServer(t, tt.status, tt.answer)
			res, err := tt.call(newClient(t, srv.URL))
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff(tt.want, res); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			tt.seen.Auth, tt.seen.UserAgent = "Bearer s3cret", "valise/1.2.3"
			if diff := cmp.Diff(tt.seen, *got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	ctx := context.Background()
	tests := []requestCase{
		{
			name:   "create enrol token",
			status: http.StatusCreated,
			answer: `{"id":"t1","token":"tok","class":"laptop","uses":3,"used":0,"expires_at":"2026-11-24T14:00:00Z","join":"valise-agent enroll --server http://x --token tok"}`,
			call: func(c *Client) (any, error) {
				return c.CreateEnrollToken(ctx, apitype.EnrollTokenRequest{Class: "laptop", Uses: 3, Expires: "24h", Kit: "Kit 07"})
			},
			want: apitype.EnrollToken{ID: "t1", Token: "tok", Class: "laptop", Uses: 3, ExpiresAt: time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC), Join: "valise-agent enroll --server http://x --token tok"},
			seen: seen{Method: "POST", Path: "/api/v1/enroll-tokens", ContentType: "application/json",
				Body: `{"class":"laptop","uses":3,"expires":"24h","kit":"Kit 07"}`},
		},
		{
			name:   "devices with every filter",
			status: http.StatusOK,
			answer: `[{"id":"dabc","asset_tag":"VAL-0001","class":"laptop","state":"intake","online":true,"enrolled_at":"2026-11-01T10:00:00Z"}]`,
			call: func(c *Client) (any, error) {
				return c.Devices(ctx, DeviceFilter{Class: "laptop", State: "intake", Online: true})
			},
			want: []apitype.Device{{ID: "dabc", AssetTag: "VAL-0001", Class: "laptop", State: "intake", Online: true, EnrolledAt: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}},
			seen: seen{Method: "GET", Path: "/api/v1/devices", RawQuery: "class=laptop&online=true&state=intake"},
		},
		{
			name:   "devices null is an empty fleet",
			status: http.StatusOK,
			answer: `null`,
			call:   func(c *Client) (any, error) { return c.Devices(ctx, DeviceFilter{}) },
			want:   []apitype.Device{},
			seen:   seen{Method: "GET", Path: "/api/v1/devices"},
		},
		{
			name:   "device ref is escaped",
			status: http.StatusOK,
			answer: `{"id":"dabc","asset_tag":"VAL/1 x","class":"tablet","state":"ready","online":false,"enrolled_at":"0001-01-01T00:00:00Z"}`,
			call:   func(c *Client) (any, error) { return c.Device(ctx, "VAL/1 x") },
			want:   apitype.DeviceDetail{Device: apitype.Device{ID: "dabc", AssetTag: "VAL/1 x", Class: "tablet", State: "ready"}},
			seen:   seen{Method: "GET", Path: "/api/v1/devices/VAL%2F1%20x"},
		},
		{
			name:   "history",
			status: http.StatusOK,
			answer: `{"device":"dabc","metric":"battery_health","points":[{"at":"2026-11-20T08:00:00Z","value":71.5}]}`,
			call:   func(c *Client) (any, error) { return c.History(ctx, "VAL-0001", "battery_health", 7*24*time.Hour, 50) },
			want:   apitype.History{Device: "dabc", Metric: "battery_health", Points: []apitype.Point{{At: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC), Value: 71.5}}},
			seen:   seen{Method: "GET", Path: "/api/v1/devices/VAL-0001/history", RawQuery: "limit=50&metric=battery_health&since=168h0m0s"},
		},
		{
			name:   "collect now",
			status: http.StatusAccepted,
			answer: `{"status":"queued"}`,
			call:   func(c *Client) (any, error) { return nil, c.CollectNow(ctx, "dabc") },
			seen:   seen{Method: "POST", Path: "/api/v1/devices/dabc/collect"},
		},
		{
			name:   "health",
			status: http.StatusOK,
			answer: "ok",
			call:   func(c *Client) (any, error) { return nil, c.Health(ctx) },
			seen:   seen{Method: "GET", Path: "/healthz"},
		},
	}
	runRequests(t, tests)
}

func TestNoTokenSendsNoAuthorization(t *testing.T) {
	srv, got := fakeServer(t, http.StatusOK, "ok")
	c, err := New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got.Auth != "" || got.UserAgent != "valise/dev" {
		t.Errorf("Authorization %q, User-Agent %q; want none and valise/dev", got.Auth, got.UserAgent)
	}
}

func TestErrorAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Error
		is     func(error) bool
	}{
		{"not found", 404, `{"error":{"code":"not_found","message":"no device matches VAL-0099"}}`,
			Error{Status: 404, Code: apitype.CodeNotFound, Message: "no device matches VAL-0099"}, IsNotFound},
		{"unauthorized", 401, `{"error":{"code":"unauthorized","message":"unknown token"}}`,
			Error{Status: 401, Code: apitype.CodeUnauthorized, Message: "unknown token"}, IsUnauthorized},
		{"forbidden", 403, `{"error":{"code":"forbidden","message":"technicians only"}}`,
			Error{Status: 403, Code: apitype.CodeForbidden, Message: "technicians only"}, IsForbidden},
		{"bad request", 400, `{"error":{"code":"bad_request","message":"class must be laptop, tablet or hotspot"}}`,
			Error{Status: 400, Code: apitype.CodeBadRequest, Message: "class must be laptop, tablet or hotspot"}, IsBadRequest},
		{"proxy page without error body", 502, `<html>Bad Gateway</html>`,
			Error{Status: 502, Code: apitype.CodeInternal, Message: "bad gateway"}, func(err error) bool { return !IsNotFound(err) }},
		{"empty 404", 404, ``,
			Error{Status: 404, Code: apitype.CodeNotFound, Message: "not found"}, IsNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := fakeServer(t, tt.status, tt.body)
			_, err := newClient(t, srv.URL).Device(context.Background(), "VAL-0099")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if diff := cmp.Diff(tt.want, *e); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !tt.is(err) {
				t.Errorf("helper refused %v", err)
			}
		})
	}
}

func TestBadAnswer(t *testing.T) {
	srv, _ := fakeServer(t, http.StatusOK, `<html>captive portal</html>`)
	_, err := newClient(t, srv.URL).Devices(context.Background(), DeviceFilter{})
	if !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("error = %v, want ErrBadAnswer", err)
	}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestTransportErrors(t *testing.T) {
	// hangup accepts connections and closes them without answering.
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hangup.Close() })
	go func() {
		for {
			conn, err := hangup.Accept()
			if err != nil {
				return
			}
			io.ReadAll(io.LimitReader(conn, 1)) // wait for the request to start
			conn.Close()
		}
	}()

	tests := []struct {
		name, url, reason string
	}{
		{"closed port", "http://" + closedAddr(t), "connection refused"},
		{"hang up", "http://" + hangup.Addr().String(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newClient(t, tt.url).Devices(context.Background(), DeviceFilter{})
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("error = %v, want ErrUnreachable", err)
			}
			var te *TransportError
			if !errors.As(err, &te) || te.URL != tt.url {
				t.Fatalf("error = %#v, want a *TransportError naming %s", err, tt.url)
			}
			if tt.reason != "" && te.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", te.Reason, tt.reason)
			}
			if want := "cannot reach the server at " + tt.url + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message %q does not start with %q", err, want)
			}
		})
	}
}

func TestCancelledContextIsNotATransportError(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) })
	ctx, cancel := context.WithCancel(context.Background())
	c := newClient(t, srv.URL)
	errc := make(chan error, 1)
	go func() { _, err := c.Devices(ctx, DeviceFilter{}); errc <- err }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("error = %v, want context.Canceled only", err)
	}
}

func TestEmptyRefIsRefusedLocally(t *testing.T) {
	srv, got := fakeServer(t, http.StatusOK, `{}`)
	c := newClient(t, srv.URL)
	if _, err := c.Device(context.Background(), " "); err == nil {
		t.Error("Device(\" \") succeeded")
	}
	if err := c.CollectNow(context.Background(), ""); err == nil {
		t.Error("CollectNow(\"\") succeeded")
	}
	if got.Method != "" {
		t.Errorf("a request reached the server: %+v", got)
	}
}
