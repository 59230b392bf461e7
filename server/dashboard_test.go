package server_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valise-numerique/valise/server"
)

func TestDashboardIsMountedBesideTheAPI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, _ := startServer(t, server.Config{DataDir: dir})
	base := "http://" + s.HTTPAddr()

	code, body := get(t, base+"/")
	if code != http.StatusOK || !strings.Contains(body, `<html lang="fr">`) || !strings.Contains(body, `action="/login"`) {
		t.Fatalf("GET / signed out = %d, want the sign-in page:\n%s", code, body)
	}
	code, body = get(t, base+"/api/v1/no-such-route")
	if code != http.StatusNotFound || !strings.HasPrefix(body, `{"error"`) {
		t.Errorf("unknown API route = %d %q, want the API's JSON 404", code, body)
	}
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "valise_http_requests_total") {
		t.Errorf("metrics = %d", code)
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: wait}
	resp, err := c.PostForm(base+"/login", url.Values{"token": {readToken(t, dir)}, "next": {"/kits"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/kits" {
		t.Fatalf("sign in with the admin token = %d at %s, want the kits page", resp.StatusCode, resp.Request.URL)
	}
}
