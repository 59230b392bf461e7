package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
	"github.com/valise-numerique/valise/server/web"
)

// BenchmarkDashboard100k renders the dashboard and a device list over a
// store of 100,000 devices spread over every state: each figure comes from
// a bounded page, so a view costs the same at any fleet size.
func BenchmarkDashboard100k(b *testing.B) {
	const devices = 100_000
	st, err := store.Open(filepath.Join(b.TempDir(), "valise.db"), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 12, 13, 3, 0, 0, time.UTC)
	for start := 0; start < devices; start += 10_000 {
		err := st.Update(func(tx fleet.Tx) error {
			for i := start; i < start+10_000; i++ {
				d := fleet.Device{
					ID: fmt.Sprintf("d%012d", i), AssetTag: fmt.Sprintf("VAL-%06d", i+1), Class: "laptop",
					State: fleet.States[i%len(fleet.States)], Vendor: "LENOVO", Model: "ThinkPad T480",
					EnrolledAt: now, LastEnrolledAt: now, UpdatedAt: now, StateChangedAt: now,
				}
				if err := tx.PutDevice(d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	f, err := fleet.New(fleet.Config{Store: st, Dedupe: st, Telemetry: st, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	var token string
	if _, err := f.BootstrapAdmin(func(s string) error { token = s; return nil }); err != nil {
		b.Fatal(err)
	}
	w, err := web.New(web.Config{Fleet: f, Telemetry: st, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(w)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(srv.URL+"/login", url.Values{"token": {token}})
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()

	for _, path := range []string{"/", "/devices?state=needs_wipe", "/devices/VAL-050000"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				resp, err := c.Get(srv.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s = %d", path, resp.StatusCode)
				}
			}
		})
	}
}
