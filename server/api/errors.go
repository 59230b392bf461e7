package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// Sentinel errors of the API's own checks, mapped to status codes like the
// fleet's.
var (
	// errBadRequest means a body, path or query parameter is malformed.
	errBadRequest = errors.New("bad request")
	// errTooLarge means a request body is over its limit.
	errTooLarge = errors.New("request body too large")
	// errNoRoute means no route matches the request.
	errNoRoute = errors.New("no such route")
	// errUnavailable means the server cannot serve the request now.
	errUnavailable = errors.New("unavailable")
)

// kinds maps sentinel errors to a status and code, first match wins.
var kinds = []struct {
	err    error
	status int
	code   string
}{
	{errBadRequest, http.StatusBadRequest, apitype.CodeBadRequest},
	{fleet.ErrInvalid, http.StatusBadRequest, apitype.CodeBadRequest},
	{fleet.ErrUnauthorized, http.StatusUnauthorized, apitype.CodeUnauthorized},
	{fleet.ErrForbidden, http.StatusForbidden, apitype.CodeForbidden},
	{errNoRoute, http.StatusNotFound, apitype.CodeNotFound},
	{fleet.ErrNotFound, http.StatusNotFound, apitype.CodeNotFound},
	{store.ErrNotFound, http.StatusNotFound, apitype.CodeNotFound},
	{fleet.ErrConflict, http.StatusConflict, apitype.CodeConflict},
	{fleet.ErrTokenGone, http.StatusGone, apitype.CodeGone},
	{errTooLarge, http.StatusRequestEntityTooLarge, apitype.CodeTooLarge},
	{errUnavailable, http.StatusServiceUnavailable, apitype.CodeUnavailable},
	{fleet.ErrUnavailable, http.StatusServiceUnavailable, apitype.CodeUnavailable},
	{errNotImplemented, http.StatusNotImplemented, apitype.CodeUnavailable},
	{store.ErrLocked, http.StatusServiceUnavailable, apitype.CodeUnavailable},
}

// fail answers with the error body of err. Errors of a known kind show
// their message without the sentinel's own words ("no device matches
// VAL-0099"); any other error is the server's fault: logged, and answered
// with a generic message.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			msg := strings.TrimPrefix(err.Error(), k.err.Error()+": ")
			if k.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="valise"`)
			}
			if k.status >= 500 {
				a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeJSON(w, k.status, apitype.ErrorBody{Error: apitype.ErrorDetail{Code: k.code, Message: msg, Details: details(err)}})
			return
		}
	}
	a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, apitype.ErrorBody{Error: apitype.ErrorDetail{
		Code: apitype.CodeInternal, Message: "internal error; the server's log has the details",
	}})
}

// detailer is an error that lists its reasons one per line, such as
// fleet.RefusedError.
type detailer interface {
	Details() []string
}

// details returns the reasons of the first error in err's chain that lists
// them, or nil.
func details(err error) []string {
	var d detailer
	if errors.As(err, &d) {
		return d.Details()
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// decode reads a JSON body of at most limit bytes into v, strictly: one
// value, no unknown fields, nothing after it.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: content type %q, want application/json", errBadRequest, ct)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			return fmt.Errorf("%w: trailing data after the JSON body", errBadRequest)
		}
		return nil
	}
	var (
		tooLarge *http.MaxBytesError
		badTime  *time.ParseError
	)
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Errorf("%w: the limit is %d KiB", errTooLarge, limit>>10)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: the body is empty, want JSON", errBadRequest)
	case errors.As(err, &badTime):
		return fmt.Errorf("%w: body: %q is not an RFC 3339 time such as 2026-12-05T18:00:00+01:00", errBadRequest, badTime.Value)
	}
	return fmt.Errorf("%w: body: %v", errBadRequest, err)
}
