package apiclient

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"

	"github.com/valise-numerique/valise/internal/apitype"
)

// maxExport bounds the size of an exported file read from the server.
const maxExport = 256 << 20

// Import sends a CSV file of devices, venues or kits; name, the file's
// name, words the server's messages ("3 bad rows in parc.csv"). A file
// with bad rows comes back as an *Error (apitype.CodeBadRequest) whose
// Details name each bad field and its line; nothing was imported then.
// dryRun only validates.
func (c *Client) Import(ctx context.Context, kind, name string, csv []byte, dryRun bool) (apitype.ImportReport, error) {
	var rep apitype.ImportReport
	if err := checkKind(kind); err != nil {
		return rep, err
	}
	q := url.Values{}
	if dryRun {
		q.Set("dry_run", "true")
	}
	if name != "" {
		q.Set("file", path.Base(name))
	}
	p := "/api/v1/import/" + url.PathEscape(kind)
	data, err := c.send(ctx, http.MethodPost, p, q, "text/csv; charset=utf-8", csv, "application/json", maxAnswer)
	if err != nil {
		return rep, err
	}
	return rep, c.decode(http.MethodPost, p, data, &rep)
}

// Export writes the CSV file of devices, loans, venues or kits to w. The
// whole file is read before anything is written, so that a transfer cut
// short leaves nothing half-written.
func (c *Client) Export(ctx context.Context, kind string, w io.Writer) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	p := "/api/v1/export/" + url.PathEscape(kind)
	data, h, err := c.exchange(ctx, http.MethodGet, p, nil, "", nil, "text/csv", maxExport)
	if err != nil {
		return err
	}
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != "text/csv" {
		return fmt.Errorf("GET %s: %w: content type %q, want text/csv (is %s a valise-server?)", p, ErrBadAnswer, h.Get("Content-Type"), c.baseStr)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write the %s export: %w", kind, err)
	}
	return nil
}

func checkKind(kind string) error {
	if kind == "" || len(kind) > 32 {
		return fmt.Errorf("kind %q: give devices, venues, kits or loans", kind)
	}
	return nil
}
