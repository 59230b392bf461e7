package apiclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
)

func TestWipeRequests(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	job := `{"id":"w1","device":"dabc","asset_tag":"VAL-0001","method":"overwrite","verify":"full","state":"running",` +
		`"requested_by":"admin","requested_at":"2026-11-23T14:00:00Z","started_at":"2026-11-23T14:00:00Z",` +
		`"progress":[{"disk":"sda","phase":"erasing","done_bytes":10,"total_bytes":100,"rate_bps":5,"at":"2026-11-23T14:00:00Z"}]}`
	wantJob := apitype.WipeJob{ID: "w1", Device: "dabc", AssetTag: "VAL-0001", Method: "overwrite", Verify: "full",
		State: apitype.JobRunning, RequestedBy: "admin", RequestedAt: at, StartedAt: &at,
		Progress: []apitype.DiskProgress{{Disk: "sda", Phase: wire.PhaseErasing, DoneBytes: 10, TotalBytes: 100, RateBps: 5, At: at}}}
	cert := `{"id":"c1","device":"dabc","asset_tag":"VAL-0001","result":"succeeded","methods":["overwrite"],"category":"clear",` +
		`"finished":"2026-11-23T14:00:00Z","external":true,"hash":"ab"}`
	wantCert := apitype.CertificateInfo{ID: "c1", Device: "dabc", AssetTag: "VAL-0001", Result: "succeeded",
		Methods: []string{"overwrite"}, Category: "clear", Finished: at, External: true, Hash: "ab"}
	prov := `{"id":"p1","device":"dabc","asset_tag":"VAL-0001","profile":"laptop-linux","state":"sent","requested_by":"admin","requested_at":"2026-11-23T14:00:00Z"}`
	wantProv := apitype.ProvisionJob{ID: "p1", Device: "dabc", AssetTag: "VAL-0001", Profile: "laptop-linux",
		State: apitype.JobSent, RequestedBy: "admin", RequestedAt: at}

	tests := []requestCase{
		{
			name: "create wipes", status: http.StatusCreated, answer: "[" + job + "]",
			call: func(c *Client) (any, error) {
				return c.CreateWipes(ctx, apitype.WipeRequest{Devices: []string{"VAL-0001"}, Method: wire.MethodOverwrite, Verify: wire.VerifyFull, Destination: "donation"})
			},
			want: []apitype.WipeJob{wantJob},
			seen: seen{Method: "POST", Path: "/api/v1/wipes", ContentType: "application/json",
				Body: `{"devices":["VAL-0001"],"method":"overwrite","verify":"full","destination":"donation"}`},
		},
		{
			name: "active wipe jobs", status: http.StatusOK, answer: "[" + job + "]",
			call: func(c *Client) (any, error) { return c.WipeJobs(ctx, true) },
			want: []apitype.WipeJob{wantJob},
			seen: seen{Method: "GET", Path: "/api/v1/wipes", RawQuery: "active=true"},
		},
		{
			name: "all wipe jobs, null", status: http.StatusOK, answer: "null",
			call: func(c *Client) (any, error) { return c.WipeJobs(ctx, false) },
			want: []apitype.WipeJob{},
			seen: seen{Method: "GET", Path: "/api/v1/wipes"},
		},
		{
			name: "one wipe job", status: http.StatusOK, answer: job,
			call: func(c *Client) (any, error) { return c.WipeJob(ctx, "w1") },
			want: wantJob,
			seen: seen{Method: "GET", Path: "/api/v1/wipes/w1"},
		},
		{
			name: "certificates of a device", status: http.StatusOK, answer: "[" + cert + "]",
			call: func(c *Client) (any, error) { return c.Certificates(ctx, "VAL-0001") },
			want: []apitype.CertificateInfo{wantCert},
			seen: seen{Method: "GET", Path: "/api/v1/devices/VAL-0001/certificates"},
		},
		{
			name: "certificate file bytes are kept as they are", status: http.StatusOK, answer: "{\n  \"certificate\": {}\n}\n",
			call: func(c *Client) (any, error) { b, err := c.CertificateFile(ctx, "c1"); return string(b), err },
			want: "{\n  \"certificate\": {}\n}\n",
			seen: seen{Method: "GET", Path: "/api/v1/certificates/c1"},
		},
		{
			name: "certificate pdf", status: http.StatusOK, answer: "%PDF-1.3\n%%EOF\n",
			call: func(c *Client) (any, error) { b, err := c.CertificatePDF(ctx, "c/1"); return string(b), err },
			want: "%PDF-1.3\n%%EOF\n",
			seen: seen{Method: "GET", Path: "/api/v1/certificates/c%2F1/pdf"},
		},
		{
			name: "import nwipe log", status: http.StatusOK, answer: cert,
			call: func(c *Client) (any, error) {
				return c.ImportNwipeLog(ctx, "VAL-0001", []byte("[2026/11/23 14:00:00] notice: Opened entropy source\n"))
			},
			want: wantCert,
			seen: seen{Method: "POST", Path: "/api/v1/devices/VAL-0001/certificates/import", ContentType: "text/plain; charset=utf-8",
				Body: "[2026/11/23 14:00:00] notice: Opened entropy source\n"},
		},
		{
			name: "server key", status: http.StatusOK, answer: `{"key":"AAAA","pem":"-----BEGIN PUBLIC KEY-----\n"}`,
			call: func(c *Client) (any, error) { return c.ServerKey(ctx) },
			want: apitype.ServerKey{Key: "AAAA", PEM: "-----BEGIN PUBLIC KEY-----\n"},
			seen: seen{Method: "GET", Path: "/api/v1/server-key"},
		},
		{
			name: "create provision", status: http.StatusCreated, answer: prov,
			call: func(c *Client) (any, error) {
				return c.CreateProvision(ctx, apitype.ProvisionRequest{Device: "VAL-0001", Profile: "laptop-linux"})
			},
			want: wantProv,
			seen: seen{Method: "POST", Path: "/api/v1/provisions", ContentType: "application/json",
				Body: `{"device":"VAL-0001","profile":"laptop-linux"}`},
		},
		{
			name: "provision job", status: http.StatusOK, answer: prov,
			call: func(c *Client) (any, error) { return c.ProvisionJob(ctx, "p1") },
			want: wantProv,
			seen: seen{Method: "GET", Path: "/api/v1/provisions/p1"},
		},
		{
			name: "device events", status: http.StatusOK,
			answer: `[{"seq":3,"at":"2026-11-23T14:00:00Z","actor":"admin","action":"state","device":"dabc","before":"needs_wipe","after":"wiping","hash":"h3"}]`,
			call:   func(c *Client) (any, error) { return c.DeviceEvents(ctx, "VAL-0001") },
			want: []apitype.Event{{Seq: 3, At: at, Actor: "admin", Action: "state", Device: "dabc",
				Before: []byte(`"needs_wipe"`), After: []byte(`"wiping"`), Hash: "h3"}},
			seen: seen{Method: "GET", Path: "/api/v1/devices/VAL-0001/events"},
		},
	}
	runRequests(t, tests)
}

func TestWipeErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("refused wipe", func(t *testing.T) {
		srv, _ := fakeServer(t, http.StatusConflict, `{"error":{"code":"conflict","message":"VAL-0001 is on loan"}}`)
		_, err := newClient(t, srv.URL).CreateWipes(ctx, apitype.WipeRequest{Devices: []string{"VAL-0001"}})
		var e *Error
		if !errors.As(err, &e) || e.Code != apitype.CodeConflict || e.Message != "VAL-0001 is on loan" {
			t.Fatalf("error = %v, want the conflict", err)
		}
	})
	t.Run("pdf that is not a pdf", func(t *testing.T) {
		srv, _ := fakeServer(t, http.StatusOK, `<html>portal</html>`)
		if _, err := newClient(t, srv.URL).CertificatePDF(ctx, "c1"); !errors.Is(err, ErrBadAnswer) {
			t.Fatalf("error = %v, want ErrBadAnswer", err)
		}
	})
	t.Run("pdf not rendered by this server", func(t *testing.T) {
		srv, _ := fakeServer(t, http.StatusNotImplemented, `{"error":{"code":"internal","message":"no PDF renderer"}}`)
		_, err := newClient(t, srv.URL).CertificatePDF(ctx, "c1")
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusNotImplemented {
			t.Fatalf("error = %v, want a 501 *Error", err)
		}
	})

	// Bad arguments never reach the server.
	srv, got := fakeServer(t, http.StatusOK, `{}`)
	c := newClient(t, srv.URL)
	local := []struct {
		name string
		call func() error
		want string
	}{
		{"no device to wipe", func() error { _, err := c.CreateWipes(ctx, apitype.WipeRequest{}); return err }, "no device"},
		{"empty device to wipe", func() error {
			_, err := c.CreateWipes(ctx, apitype.WipeRequest{Devices: []string{"VAL-0001", " "}})
			return err
		}, "empty"},
		{"empty job", func() error { _, err := c.WipeJob(ctx, ""); return err }, "wipe job id is empty"},
		{"empty certificate", func() error { _, err := c.CertificateFile(ctx, ""); return err }, "certificate id is empty"},
		{"empty log", func() error { _, err := c.ImportNwipeLog(ctx, "VAL-0001", nil); return err }, "empty"},
		{"log too big", func() error {
			_, err := c.ImportNwipeLog(ctx, "VAL-0001", make([]byte, MaxImportLog+1))
			return err
		}, "over the limit of 4 MiB"},
		{"no profile", func() error {
			_, err := c.CreateProvision(ctx, apitype.ProvisionRequest{Device: "VAL-0001"})
			return err
		}, "no profile"},
		{"empty events ref", func() error { _, err := c.DeviceEvents(ctx, ""); return err }, "empty"},
	}
	for _, tt := range local {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one saying %q", err, tt.want)
			}
		})
	}
	if got.Method != "" {
		t.Errorf("a request reached the server: %+v", got)
	}
}
