package agent

import (
	"cmp"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
)

// enrolServer implements the documented enrolment contract: a token with a
// class, and devices matched by their SMBIOS UUID.
type enrolServer struct {
	mu      sync.Mutex
	devices map[string]string // uuid -> device id
	reqs    []wire.EnrollRequest
	key     ed25519.PublicKey
	caPEM   string // sent as CACert
	mqtt    string // MQTT URL given; "" means tcp://127.0.0.1:1883
}

func (s *enrolServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(apitype.ErrorBody{Error: apitype.ErrorDetail{Code: code, Message: msg}})
	}
	if r.Method != http.MethodPost || r.URL.Path != wire.EnrollPath {
		fail(http.StatusNotFound, apitype.CodeNotFound, "no such route")
		return
	}
	var req wire.EnrollRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(http.StatusBadRequest, apitype.CodeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, req)
	switch req.Token {
	case "good":
	case "used":
		fail(http.StatusGone, apitype.CodeGone, "enrolment token used up")
		return
	case "broken":
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"device_id":""}`))
		return
	default:
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("<html>oops</html>"))
		return
	}
	id, known := s.devices[req.Fingerprint.UUID]
	if !known {
		id = "dnew" + strings.Repeat("0", 7) + string(rune('1'+len(s.devices)))
		s.devices[req.Fingerprint.UUID] = id
	}
	json.NewEncoder(w).Encode(wire.EnrollResponse{
		DeviceID: id, AssetTag: "VAL-0007", Class: wire.ClassLaptop, Known: known,
		MQTTURL: cmp.Or(s.mqtt, "tcp://127.0.0.1:1883"), TopicPrefix: wire.DefaultPrefix,
		Username: id, Password: "pw-" + id,
		CommandKey: base64.StdEncoding.EncodeToString(s.key),
		Config:     wire.AgentConfig{Interval: wire.Duration(time.Minute), InventoryInterval: wire.Duration(time.Hour)},
		CACert:     s.caPEM,
	})
}

func TestEnroll(t *testing.T) {
	key := newCommandKey(t)
	es := &enrolServer{devices: map[string]string{}, key: key.Public().(ed25519.PublicKey)}
	srv := httptest.NewServer(es)
	t.Cleanup(srv.Close)
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	enrol := func(token, dir string) (wire.EnrollResponse, error) {
		return Enroll(t.Context(), EnrollOptions{
			Server: srv.URL + "/", Token: token, StateDir: dir, Source: &testSource{},
			AgentVersion: "test", Now: func() time.Time { return now }, Logger: testConfig("", nil).Logger,
		})
	}

	t.Run("first enrolment writes the state", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		resp, err := enrol("good", dir)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Known {
			t.Errorf("first enrolment answered known")
		}
		st, err := LoadState(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := State{
			Server: srv.URL, DeviceID: resp.DeviceID, AssetTag: "VAL-0007", Class: wire.ClassLaptop,
			MQTTURL: "tcp://127.0.0.1:1883", TopicPrefix: wire.DefaultPrefix, Username: resp.DeviceID,
			Password: "pw-" + resp.DeviceID, CommandKey: base64.StdEncoding.EncodeToString(es.key),
			Config:     wire.AgentConfig{Interval: wire.Duration(time.Minute), InventoryInterval: wire.Duration(time.Hour)},
			EnrolledAt: now,
		}
		if diff := gocmp.Diff(want, st); diff != "" {
			t.Errorf("state (-want +got):\n%s", diff)
		}
		fi, err := os.Stat(filepath.Join(dir, StateFile))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("state.json mode %v, want 0600", fi.Mode().Perm())
		}
		req := es.reqs[len(es.reqs)-1]
		wantFP := wire.Fingerprint{UUID: "4c4c4544-0042-3510-8052-b4c04f4e3332", SystemSerial: "PF1ABCDE"}
		if diff := gocmp.Diff(wantFP, req.Fingerprint); diff != "" {
			t.Errorf("fingerprint sent (-want +got):\n%s", diff)
		}
		if req.Inventory.System.Model != "ThinkPad T480" || req.AgentVersion != "test" {
			t.Errorf("request inventory/version = %q/%q", req.Inventory.System.Model, req.AgentVersion)
		}
	})

	t.Run("re-enrolment into a fresh dir keeps the id", func(t *testing.T) {
		a, err := enrol("good", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b, err := enrol("good", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if a.DeviceID != b.DeviceID || !b.Known {
			t.Errorf("re-enrolment gave %s (known %v), first gave %s", b.DeviceID, b.Known, a.DeviceID)
		}
	})

	errCases := []struct {
		name    string
		token   string
		wantErr error
		wantMsg string
	}{
		{"token used up", "used", ErrEnrollRefused, "enrolment token used up (gone)"},
		{"server error without body", "other", ErrEnrollRefused, "500"},
		{"answer without device id", "broken", ErrBadResponse, "device_id"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := enrol(tc.token, dir)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Enroll = %v, want %v with %q", err, tc.wantErr, tc.wantMsg)
			}
			if _, err := os.Stat(filepath.Join(dir, StateFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed enrolment left a state file: %v", err)
			}
		})
	}

	t.Run("unreachable server", func(t *testing.T) {
		_, err := Enroll(t.Context(), EnrollOptions{Server: "http://127.0.0.1:1", Token: "good", StateDir: t.TempDir(), Source: &testSource{}})
		if err == nil || !strings.Contains(err.Error(), "cannot reach") {
			t.Errorf("Enroll = %v, want cannot reach", err)
		}
	})
}

func TestEnrollOptionsValidate(t *testing.T) {
	ok := EnrollOptions{Server: "https://valise.example", Token: "t", StateDir: "d", Source: &testSource{}}
	tests := []struct {
		name  string
		edit  func(*EnrollOptions)
		field string
	}{
		{"valid", func(*EnrollOptions) {}, ""},
		{"no server", func(o *EnrollOptions) { o.Server = "" }, "Server"},
		{"not a URL", func(o *EnrollOptions) { o.Server = "valise.example:8080" }, "Server"},
		{"no token", func(o *EnrollOptions) { o.Token = "" }, "Token"},
		{"no state dir", func(o *EnrollOptions) { o.StateDir = "" }, "StateDir"},
		{"no source", func(o *EnrollOptions) { o.Source = nil }, "Source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			err := o.Validate()
			if (err == nil) != (tc.field == "") || err != nil && !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Validate = %v, want an error naming %q", err, tc.field)
			}
		})
	}
}

func TestEnrollDeviceKey(t *testing.T) {
	es := &enrolServer{devices: map[string]string{}, key: newCommandKey(t).Public().(ed25519.PublicKey)}
	srv := httptest.NewServer(es)
	t.Cleanup(srv.Close)
	enrol := func(dir string) (ed25519.PrivateKey, string) {
		t.Helper()
		if _, err := Enroll(t.Context(), EnrollOptions{Server: srv.URL, Token: "good", StateDir: dir, Source: &testSource{}}); err != nil {
			t.Fatal(err)
		}
		key, err := LoadDeviceKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		es.mu.Lock()
		defer es.mu.Unlock()
		return key, es.reqs[len(es.reqs)-1].DeviceKey
	}
	pub := func(k ed25519.PrivateKey) string {
		return base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
	}

	dir := t.TempDir()
	first, sent := enrol(dir)
	if sent != pub(first) {
		t.Errorf("request carried device key %q, want the key kept in the state dir %q", sent, pub(first))
	}
	fi, err := os.Stat(filepath.Join(dir, DeviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("device.key mode %v, want 0600", fi.Mode().Perm())
	}
	again, sent := enrol(dir)
	if !first.Equal(again) || sent != pub(first) {
		t.Errorf("enrolling again into the same state dir changed the device key")
	}
	fresh, sent := enrol(t.TempDir())
	if first.Equal(fresh) || sent != pub(fresh) {
		t.Errorf("a fresh state dir kept the old key or sent another one")
	}

	t.Run("a damaged key is an error, not a silent new key", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, DeviceKeyFile), []byte("bm90IGEga2V5\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Enroll(t.Context(), EnrollOptions{Server: srv.URL, Token: "good", StateDir: dir, Source: &testSource{}})
		if !errors.Is(err, ErrBadState) {
			t.Errorf("Enroll with a damaged device.key = %v, want ErrBadState", err)
		}
	})
	t.Run("no key", func(t *testing.T) {
		if _, err := LoadDeviceKey(t.TempDir()); !errors.Is(err, ErrNoDeviceKey) {
			t.Errorf("LoadDeviceKey of an empty dir = %v, want ErrNoDeviceKey", err)
		}
	})
}
