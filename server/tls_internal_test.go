package server

import (
	"bytes"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8080", true},
		{"127.1.2.3:8080", true},
		{"[::1]:1883", true},
		{"localhost:8080", true},
		{"LocalHost:8080", true},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{":8080", false},
		{"192.168.1.10:8080", false},
		{"valise.example:8443", false},
		{"no-port", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := isLoopback(tt.addr); got != tt.want {
				t.Errorf("isLoopback(%q) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

// testConfig is a Config with defaults over a fresh data directory and a
// clock the test moves.
func testConfig(t *testing.T, now *time.Time) Config {
	t.Helper()
	cfg := Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return *now }}
	cfg.setDefaults()
	return cfg
}

func TestSetupTLSListeners(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name            string
		change          func(*Config)
		wantHTTP, wantM bool
	}{
		{name: "loopback", change: func(*Config) {}},
		{name: "forced", change: func(c *Config) { c.TLS = true }, wantHTTP: true, wantM: true},
		{name: "HTTP on every interface", change: func(c *Config) { c.HTTPAddr = "0.0.0.0:8080" }, wantHTTP: true},
		{name: "MQTT on a LAN address", change: func(c *Config) { c.MQTTAddr = "192.168.1.10:8883" }, wantM: true},
		{name: "MQTT on every interface, empty host", change: func(c *Config) { c.MQTTAddr = ":8883" }, wantM: true},
		{name: "external broker: only HTTP", change: func(c *Config) { c.TLS, c.MQTTURL = true, "ssl://broker:8883" }, wantHTTP: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, &now)
			tt.change(&cfg)
			st, err := setupTLS(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, caErr := os.Stat(filepath.Join(cfg.DataDir, CACertFile))
			if !tt.wantHTTP && !tt.wantM {
				if st != nil || caErr == nil {
					t.Errorf("setupTLS = %+v (ca.crt: %v), want nil and no CA", st, caErr)
				}
				if st.httpScheme() != "http" || st.mqttScheme() != "tcp" || st.httpConfig() != nil || st.mqttConfig() != nil || st.caPEM() != nil {
					t.Error("a nil serverTLS does not mean plain listeners")
				}
				return
			}
			if st == nil || caErr != nil {
				t.Fatalf("setupTLS = nil (ca.crt: %v), want TLS", caErr)
			}
			if st.http != tt.wantHTTP || st.mqtt != tt.wantM {
				t.Errorf("TLS on HTTP %v, MQTT %v; want %v, %v", st.http, st.mqtt, tt.wantHTTP, tt.wantM)
			}
			if (st.httpConfig() != nil) != tt.wantHTTP || (st.mqttConfig() != nil) != tt.wantM {
				t.Error("configs do not follow the decision")
			}
		})
	}
}

func TestTLSHosts(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	host = strings.ToLower(host)
	now := time.Now()
	tests := []struct {
		name      string
		change    func(*Config)
		want      []string // among the hosts
		wantFirst string
	}{
		{name: "loopback", change: func(*Config) {}, want: []string{"localhost", "127.0.0.1", "::1"}, wantFirst: "localhost"},
		{name: "public URL first", change: func(c *Config) { c.PublicURL = "https://Valise.Example.:8443/"; c.HTTPAddr = "10.0.0.5:8443" },
			want: []string{"valise.example", "10.0.0.5", "localhost"}, wantFirst: "valise.example"},
		{name: "every interface", change: func(c *Config) { c.MQTTAddr = "0.0.0.0:8883" }, want: []string{host, "127.0.0.1"}, wantFirst: host},
		{name: "IPv6 listener", change: func(c *Config) { c.HTTPAddr = "[2001:db8::1]:443" }, want: []string{"2001:db8::1"}, wantFirst: "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, &now)
			tt.change(&cfg)
			got := tlsHosts(cfg)
			if got[0] != tt.wantFirst {
				t.Errorf("first host = %q, want %q (all: %v)", got[0], tt.wantFirst, got)
			}
			for _, h := range tt.want {
				if !slices.Contains(got, h) {
					t.Errorf("hosts %v lack %q", got, h)
				}
			}
			for _, h := range got {
				if h == "0.0.0.0" || h == "::" || h == "" {
					t.Errorf("hosts %v hold an unspecified address", got)
				}
			}
		})
	}
}

// TestServerCertRenewal moves the clock to the renewal window: the next
// handshake gets a new certificate from the same CA, written to disk; a
// start in the window renews too.
func TestServerCertRenewal(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	cfg := testConfig(t, &now)
	cfg.TLS = true
	st, err := setupTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.getCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Leaf.NotAfter.Sub(now); got != ServerCertValidity {
		t.Errorf("server certificate valid for %v, want %v", got, ServerCertValidity)
	}
	certFile := filepath.Join(cfg.DataDir, ServerCertFile)
	onDisk, _ := os.ReadFile(certFile)

	now = first.Leaf.NotAfter.Add(-ServerCertRenewal - time.Minute)
	same, _ := st.getCertificate(nil)
	if same != first {
		t.Fatal("renewed before the renewal window")
	}

	now = first.Leaf.NotAfter.Add(-ServerCertRenewal + time.Minute)
	renewed, err := st.getCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if renewed == first || renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatal("not renewed in the renewal window")
	}
	pool := x509.NewCertPool()
	pool.AddCert(st.pinned)
	if _, err := renewed.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost", CurrentTime: now}); err != nil {
		t.Errorf("renewed certificate does not chain to the CA: %v", err)
	}
	if b, _ := os.ReadFile(certFile); bytes.Equal(b, onDisk) {
		t.Error("the renewed certificate was not written")
	}

	// A start in the window renews, and keeps the CA.
	now = renewed.Leaf.NotAfter.Add(-ServerCertRenewal + time.Hour)
	st2, err := setupTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Pin() != st.Pin() {
		t.Error("a start changed the pin")
	}
	if c, _ := st2.getCertificate(nil); c.Leaf.SerialNumber.Cmp(renewed.Leaf.SerialNumber) == 0 {
		t.Error("a start in the renewal window kept the old certificate")
	}
}

func TestSetupTLSBadFiles(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{name: "certificate without key", files: map[string]string{CACertFile: "x"}, want: "CA key"},
		{name: "key without certificate", files: map[string]string{CAKeyFile: "x"}, want: "CA certificate"},
		{name: "garbage", files: map[string]string{CACertFile: "x", CAKeyFile: "y"}, want: "no CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, &now)
			cfg.TLS = true
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(cfg.DataDir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := setupTLS(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("setupTLS = %v, want an error about %s", err, tt.want)
			}
		})
	}
	t.Run("expired CA", func(t *testing.T) {
		cfg := testConfig(t, &now)
		cfg.TLS = true
		if _, err := setupTLS(cfg); err != nil {
			t.Fatal(err)
		}
		now = now.Add(CAValidity + time.Hour)
		_, err := setupTLS(cfg)
		if err == nil || !strings.Contains(err.Error(), "expired") {
			t.Errorf("setupTLS with an expired CA = %v, want an error", err)
		}
	})
	t.Run("another key", func(t *testing.T) {
		a, b := testConfig(t, &now), testConfig(t, &now)
		a.TLS, b.TLS = true, true
		for _, c := range []Config{a, b} {
			if _, err := setupTLS(c); err != nil {
				t.Fatal(err)
			}
		}
		key, _ := os.ReadFile(filepath.Join(b.DataDir, CAKeyFile))
		if err := os.WriteFile(filepath.Join(a.DataDir, CAKeyFile), key, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := setupTLS(a); err == nil {
			t.Error("setupTLS accepted a CA key of another CA")
		}
	})
}
