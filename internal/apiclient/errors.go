package apiclient

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/valise-numerique/valise/internal/apitype"
)

var (
	// ErrBadURL means the server URL given to New is not an http(s) URL.
	ErrBadURL = errors.New("invalid server URL")
	// ErrUnreachable means no HTTP answer came back from the server: refused
	// connection, unknown host, timeout, TLS failure. It is wrapped in a
	// *TransportError that names the URL.
	ErrUnreachable = errors.New("cannot reach the server")
	// ErrBadAnswer means the server answered with something that is not the
	// JSON of the API (a proxy's HTML page, a truncated body).
	ErrBadAnswer = errors.New("unexpected answer from the server")
	// ErrBadCA means the CA file or pin given to New (WithCACert,
	// WithCAPin) cannot be used.
	ErrBadCA = errors.New("invalid CA to trust")
	// ErrUntrusted means the server's TLS certificate is not signed by a
	// trusted root: the system's, or the one of WithCACert. It comes in a
	// *TransportError.
	ErrUntrusted = errors.New("the server's certificate is not trusted")
	// ErrPinMismatch means the server's TLS chain does not hold, and its
	// CAPath does not serve, the certificate of WithCAPin, or that
	// certificate does not vouch for the server's: a wrong pin or a wrong
	// server. It comes in a *TransportError.
	ErrPinMismatch = errors.New("the server's certificate does not match the CA pin")
)

// Error is an error answer of the API: the HTTP status and the code and
// message of its apitype.ErrorBody. Use errors.As to get it, or the Is*
// helpers.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is one of the apitype.Code* values; when the body was not an
	// apitype.ErrorBody it is derived from Status.
	Code string
	// Message is the server's message, safe to show to a user.
	Message string
	// Details has one line per reason when the server gave several: each
	// device blocking a checkout, each bad field of an import.
	Details []string
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// codeForStatus gives the apitype code matching an HTTP status, for answers
// that do not carry an error body.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return apitype.CodeBadRequest
	case http.StatusUnauthorized:
		return apitype.CodeUnauthorized
	case http.StatusForbidden:
		return apitype.CodeForbidden
	case http.StatusNotFound:
		return apitype.CodeNotFound
	case http.StatusConflict:
		return apitype.CodeConflict
	case http.StatusGone:
		return apitype.CodeGone
	case http.StatusRequestEntityTooLarge:
		return apitype.CodeTooLarge
	case http.StatusServiceUnavailable:
		return apitype.CodeUnavailable
	}
	return apitype.CodeInternal
}

// TransportError is a failure to exchange a request with the server at URL.
// It wraps ErrUnreachable and the underlying network error.
type TransportError struct {
	// URL is the server's base URL.
	URL string
	// Reason is a short description: "connection refused", "no such host",
	// "timed out after 30s"…
	Reason string
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *TransportError) Error() string {
	return fmt.Sprintf("%v at %s: %s", ErrUnreachable, e.URL, e.Reason)
}

// Unwrap returns ErrUnreachable and the underlying error.
func (e *TransportError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

// codeOf returns the API error code of err, or "" if err is not an *Error.
func codeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsNotFound reports whether err is an API answer saying the device, token…
// does not exist.
func IsNotFound(err error) bool { return codeOf(err) == apitype.CodeNotFound }

// IsUnauthorized reports whether err is an API answer refusing the token
// (missing or unknown).
func IsUnauthorized(err error) bool { return codeOf(err) == apitype.CodeUnauthorized }

// IsForbidden reports whether err is an API answer saying the token's role
// may not do this.
func IsForbidden(err error) bool { return codeOf(err) == apitype.CodeForbidden }

// IsBadRequest reports whether err is an API answer refusing the request as
// malformed or invalid.
func IsBadRequest(err error) bool { return codeOf(err) == apitype.CodeBadRequest }
