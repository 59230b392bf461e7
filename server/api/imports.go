package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/server/csvio"
	"github.com/valise-numerique/valise/server/fleet"
)

// csvTypes are the content types a CSV upload may come with: browsers and
// spreadsheets label the same file differently.
var csvTypes = map[string]bool{
	"text/csv": true, "text/plain": true, "application/csv": true,
	"application/vnd.ms-excel": true, "application/octet-stream": true,
}

// importCSV reads a CSV file of devices, venues or kits (POST
// /api/v1/import/{kind}?dry_run=true&file=NAME; NAME, the file's name,
// is only for messages) and imports it whole or not at all.
func (a *API) importCSV(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	kind := r.PathValue("kind")
	q := r.URL.Query()
	dryRun := false
	if s := q.Get("dry_run"); s != "" {
		var err error
		if dryRun, err = strconv.ParseBool(s); err != nil {
			a.fail(w, r, fmt.Errorf("%w: dry_run %q is not true or false", errBadRequest, s))
			return
		}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || !csvTypes[mt] {
			a.fail(w, r, fmt.Errorf("%w: content type %q, want text/csv", errBadRequest, ct))
			return
		}
		if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
			a.fail(w, r, fmt.Errorf("%w: charset %q; send the file as UTF-8", errBadRequest, cs))
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, csvio.MaxBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		a.fail(w, r, fmt.Errorf("%w: the file is larger than %d MiB; split it", errTooLarge, csvio.MaxBytes>>20))
		return
	case err != nil:
		a.fail(w, r, fmt.Errorf("%w: reading the file: %v", errBadRequest, err))
		return
	}
	rep, err := csvio.Import(a.cfg.Fleet, p, kind, q.Get("file"), bytes.NewReader(body), dryRun)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if dryRun {
		status = http.StatusOK
	}
	writeJSON(w, status, apitype.ImportReport{
		Kind: rep.Kind, DryRun: rep.DryRun, Rows: rep.Rows,
		Created: rep.Created, Updated: rep.Updated, Unchanged: rep.Unchanged,
	})
}

// exportCSV streams the CSV file of devices, loans, venues or kits.
func (a *API) exportCSV(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	kind := r.PathValue("kind")
	out := &csvResponse{w: w, name: fmt.Sprintf("valise-%s-%s.csv", kind, a.cfg.Now().UTC().Format("2006-01-02"))}
	err := csvio.Export(a.cfg.Fleet, p, kind, out)
	switch {
	case err == nil:
	case !out.started:
		a.fail(w, r, err)
	default:
		// The status is sent: the client sees a truncated file, the log
		// says why.
		a.log.Error("export cut short", "kind", kind, "err", err)
	}
}

// csvResponse sends the headers of a CSV download before its first byte,
// so that an export failing before it wrote anything still answers with
// an error.
type csvResponse struct {
	w       http.ResponseWriter
	name    string
	started bool
}

func (c *csvResponse) Write(p []byte) (int, error) {
	if !c.started {
		c.started = true
		h := c.w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": c.name}))
		h.Set("Cache-Control", "no-store")
		c.w.WriteHeader(http.StatusOK)
	}
	return c.w.Write(p)
}
