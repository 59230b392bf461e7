// Package apiclient is the Go client of Valise's HTTP API (/api/v1), used by
// the valise CLI and by tests.
//
// A Client is safe for concurrent use. It never prints and never exits:
// every failure comes back as an error, either an *Error (the server
// answered with an API error; see IsNotFound and friends) or a
// *TransportError wrapping ErrUnreachable (no answer at all).
package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/pin"
)

// DefaultTimeout bounds a whole request, from dial to the end of the body.
const DefaultTimeout = 30 * time.Second

// maxAnswer bounds the size of an answer read from the server.
const maxAnswer = 32 << 20

// maxErrorAnswer bounds the size of an error answer read from the server.
const maxErrorAnswer = 64 << 10

// Client talks to one Valise server with one bearer token.
type Client struct {
	base    *url.URL
	baseStr string
	token   string
	ua      string
	timeout time.Duration
	hc      *http.Client

	roots  *x509.CertPool // WithCACert: the only roots trusted
	pin    *pin.Verifier  // WithCAPin: the only certificate trusted
	optErr error          // what the options found wrong, returned by New
}

// Option changes a Client built by New.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests through hc, whose own
// Timeout then applies instead of the client's default one.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTimeout bounds each request to d instead of DefaultTimeout.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithVersion sets the version sent in the User-Agent: "valise/<v>".
func WithVersion(v string) Option { return func(c *Client) { c.ua = "valise/" + v } }

// New returns a Client of the server at baseURL (http or https, optionally
// with a path prefix) that authenticates with token. An empty token is
// allowed: only /healthz answers without one.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := parseBase(baseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{base: u, baseStr: u.String(), token: token, ua: "valise/dev", timeout: DefaultTimeout}
	for _, o := range opts {
		o(c)
	}
	switch {
	case c.optErr != nil:
		return nil, fmt.Errorf("apiclient: %w", c.optErr)
	case c.timeout <= 0:
		return nil, fmt.Errorf("apiclient: timeout %s must be positive", c.timeout)
	case c.roots != nil && c.pin != nil:
		return nil, fmt.Errorf("apiclient: %w: trust a CA file or a pin, not both", ErrBadCA)
	case (c.roots != nil || c.pin != nil) && c.hc != nil:
		return nil, fmt.Errorf("apiclient: %w: a CA file or pin needs the client's own transport, not WithHTTPClient", ErrBadCA)
	}
	if c.hc == nil {
		tr := c.baseTransport()
		tr.TLSClientConfig = c.tlsConfig()
		c.hc = &http.Client{Transport: tr, Timeout: c.timeout}
	}
	return c, nil
}

// baseTransport returns a new transport with the client's timeouts.
func (c *Client) baseTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = c.timeout
	return tr
}

func parseBase(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadURL)
	}
	if !strings.Contains(s, "://") {
		return nil, fmt.Errorf("%w %q: no scheme, try http://%s", ErrBadURL, raw, s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadURL, raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w %q: scheme must be http or https", ErrBadURL, raw)
	case u.Host == "":
		return nil, fmt.Errorf("%w %q: no host", ErrBadURL, raw)
	case u.User != nil:
		return nil, fmt.Errorf("%w %q: credentials belong in the token, not the URL", ErrBadURL, raw)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%w %q: no query or fragment allowed", ErrBadURL, raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// BaseURL returns the server URL the client talks to, without a trailing
// slash.
func (c *Client) BaseURL() string { return c.baseStr }

// DeviceFilter selects devices in Devices. Empty fields select everything.
type DeviceFilter struct {
	Class string // laptop, tablet, hotspot, other
	State string // lifecycle state: intake, ready…
	// Kit and Venue keep the devices of a kit, or assigned to a venue (id,
	// label or name).
	Kit, Venue string
	// Online keeps only the devices connected now.
	Online bool
}

// CreateEnrollToken creates an enrolment token; the answer holds the token
// (shown only once) and the join command line.
func (c *Client) CreateEnrollToken(ctx context.Context, req apitype.EnrollTokenRequest) (apitype.EnrollToken, error) {
	var tok apitype.EnrollToken
	err := c.do(ctx, http.MethodPost, "/api/v1/enroll-tokens", nil, req, &tok)
	return tok, err
}

// Devices lists the devices that match f, sorted by asset tag, reading
// every page of the server's answer.
func (c *Client) Devices(ctx context.Context, f DeviceFilter) ([]apitype.Device, error) {
	q := url.Values{}
	for k, v := range map[string]string{"class": f.Class, "state": f.State, "kit": f.Kit, "venue": f.Venue} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Online {
		q.Set("online", "true")
	}
	devs := []apitype.Device{}
	err := c.pages(ctx, "/api/v1/devices", q, func(data []byte) error {
		var page []apitype.Device
		if err := c.decode(http.MethodGet, "/api/v1/devices", data, &page); err != nil {
			return err
		}
		devs = append(devs, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return devs, nil
}

// Device returns one device, by id or asset tag, with its latest reports
// and recent history.
func (c *Client) Device(ctx context.Context, ref string) (apitype.DeviceDetail, error) {
	var d apitype.DeviceDetail
	if err := checkRef(ref); err != nil {
		return d, err
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(ref), nil, nil, &d)
	return d, err
}

// History returns the samples of one metric (apitype.Metric*) of a device,
// over the last since (0: the server's default window) and at most limit
// of them (0: the server's default).
func (c *Client) History(ctx context.Context, ref, metric string, since time.Duration, limit int) (apitype.History, error) {
	var h apitype.History
	if err := checkRef(ref); err != nil {
		return h, err
	}
	if since < 0 || limit < 0 {
		return h, fmt.Errorf("history of %s: since and limit must not be negative", ref)
	}
	q := url.Values{}
	q.Set("metric", metric)
	if since > 0 {
		q.Set("since", since.String())
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(ref)+"/history", q, nil, &h)
	return h, err
}

// CollectNow asks a device, by id or asset tag, for a fresh report. The
// server queues a signed command; the device answers when it is online.
func (c *Client) CollectNow(ctx context.Context, ref string) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(ref)+"/collect", nil, nil, nil)
}

// Health checks that the server answers /healthz with 200.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

func checkRef(ref string) error {
	if strings.TrimSpace(ref) == "" {
		return errors.New("device id or asset tag is empty")
	}
	return nil
}

// do sends one request and decodes a 2xx JSON answer into out (unless out
// is nil) or an error answer into an *Error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body []byte
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body, contentType = b, "application/json"
	}
	if out == nil {
		_, err := c.send(ctx, method, path, q, contentType, body, "application/json", 0)
		return err
	}
	data, err := c.send(ctx, method, path, q, contentType, body, "application/json", maxAnswer)
	if err != nil {
		return err
	}
	return c.decode(method, path, data, out)
}

// decode decodes the JSON answer data of method path into out.
func (c *Client) decode(method, path string, data []byte, out any) error {
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: %w: %v (is %s a valise-server?)", method, path, ErrBadAnswer, err, c.baseStr)
	}
	return nil
}

// send sends one request with body (of contentType, none when body is
// nil) and returns the body of a 2xx answer, read up to limit bytes (0: the
// answer is discarded), or an *Error for an error answer.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, contentType string, body []byte, accept string, limit int64) ([]byte, error) {
	data, _, err := c.exchange(ctx, method, path, q, contentType, body, accept, limit)
	return data, err
}

// exchange is send that returns the answer's header too.
func (c *Client) exchange(ctx context.Context, method, path string, q url.Values, contentType string, body []byte, accept string, limit int64) ([]byte, http.Header, error) {
	target := c.baseStr + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	try := func() (*http.Response, error) {
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, target, r)
		if err != nil {
			return nil, fmt.Errorf("build %s %s: %w", method, path, err)
		}
		req.Header.Set("Accept", accept)
		req.Header.Set("User-Agent", c.ua)
		if body != nil {
			req.Header.Set("Content-Type", contentType)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, c.transportError(ctx, err)
		}
		return resp, nil
	}
	resp, err := try()
	if err != nil && c.pin != nil && errors.Is(err, pin.ErrNotInChain) {
		// The server sent its certificate without the pinned one: fetch
		// that from CAPath, check it against the pin, and try again. No
		// request reached the server: the handshake failed.
		if ferr := c.fetchAnchor(ctx); ferr != nil {
			return nil, nil, ferr
		}
		resp, err = try()
	}
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nil, readError(resp)
	}
	if limit == 0 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorAnswer))
		return nil, resp.Header, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, c.transportError(ctx, err)
	}
	if int64(len(data)) > limit {
		return nil, nil, fmt.Errorf("%s %s: %w: answer over %d MiB", method, path, ErrBadAnswer, limit>>20)
	}
	return data, resp.Header, nil
}

// readError turns a non-2xx answer into an *Error, using its
// apitype.ErrorBody when it has one.
func readError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorAnswer))
	e := &Error{Status: resp.StatusCode}
	var eb apitype.ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message, e.Details = eb.Error.Code, eb.Error.Message, eb.Error.Details
	} else {
		e.Code = codeForStatus(resp.StatusCode)
	}
	if e.Message == "" {
		e.Message = strings.ToLower(http.StatusText(resp.StatusCode))
		if e.Message == "" {
			e.Message = "status " + strconv.Itoa(resp.StatusCode)
		}
	}
	return e
}

// transportError names the server and a short reason for a failed
// exchange. A cancelled or expired ctx is returned as is.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		netErr  net.Error
	)
	reason := err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		reason = "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		reason = "no route to host"
	case errors.As(err, &dnsErr):
		reason = "unknown host " + dnsErr.Name
	case errors.Is(err, ErrPinMismatch):
		reason = "TLS certificate does not match the CA pin"
	case errors.As(err, &certErr):
		reason = "TLS certificate not trusted: " + certErr.Err.Error()
		err = fmt.Errorf("%w: %w", ErrUntrusted, err)
	case errors.As(err, &netErr) && netErr.Timeout():
		reason = "no answer within " + c.timeout.String()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		reason = "connection closed before the answer"
	}
	return &TransportError{URL: c.baseStr, Reason: reason, Err: err}
}
