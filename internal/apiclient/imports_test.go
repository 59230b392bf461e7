package apiclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
)

func TestImportRequest(t *testing.T) {
	srv, got := fakeServer(t, http.StatusOK, `{"kind":"devices","dry_run":true,"rows":2,"created":1,"updated":0,"unchanged":1}`)
	rep, err := newClient(t, srv.URL).Import(context.Background(), "devices", "/home/awa/parc à jour.csv", []byte("asset tag\nCD-1\nCD-2\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(apitype.ImportReport{Kind: "devices", DryRun: true, Rows: 2, Created: 1, Unchanged: 1}, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	want := seen{Method: "POST", Path: "/api/v1/import/devices", RawQuery: "dry_run=true&file=parc+%C3%A0+jour.csv",
		Auth: "Bearer s3cret", UserAgent: "valise/1.2.3", ContentType: "text/csv; charset=utf-8", Body: "asset tag\nCD-1\nCD-2\n"}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestImportBadRows(t *testing.T) {
	srv, _ := fakeServer(t, http.StatusBadRequest, `{"error":{"code":"bad_request","message":"2 bad rows in parc.csv; nothing was imported","details":["line 2, serial: same serial as line 3","line 4, venue: no venue is named \"X\""]}}`)
	_, err := newClient(t, srv.URL).Import(context.Background(), "devices", "parc.csv", []byte("x"), false)
	var e *Error
	if !errors.As(err, &e) || !IsBadRequest(err) {
		t.Fatalf("err = %v", err)
	}
	if diff := cmp.Diff([]string{"line 2, serial: same serial as line 3", `line 4, venue: no venue is named "X"`}, e.Details); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
}

func TestExport(t *testing.T) {
	const file = "asset tag,serial\r\nCD-1,PF1\r\n"
	for _, tc := range []struct {
		name, contentType, body string
		wantErr                 error
	}{
		{"csv", "text/csv; charset=utf-8", file, nil},
		{"a proxy's page", "text/html", "<html>login</html>", ErrBadAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path = r.URL.Path
				w.Header().Set("Content-Type", tc.contentType)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			var b bytes.Buffer
			err := newClient(t, srv.URL).Export(context.Background(), "devices", &b)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if path != "/api/v1/export/devices" {
				t.Errorf("path %q", path)
			}
			if tc.wantErr == nil && b.String() != file {
				t.Errorf("wrote %q", b.String())
			} else if tc.wantErr != nil && b.Len() > 0 {
				t.Errorf("wrote %q after an error", b.String())
			}
		})
	}
}
