package main

import (
	"context"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server"
)

// tlsServer starts the real server with TLS forced on loopback and returns
// its API URL, its data directory and its admin token.
func tlsServer(t *testing.T) (url, data, admin string) {
	t.Helper()
	data = filepath.Join(t.TempDir(), "valise-data")
	srv, err := server.New(server.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", TLS: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("server.Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10 s")
		}
	})
	select {
	case <-srv.Ready():
	case err := <-served:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready within 10 s")
	}
	tok, err := os.ReadFile(filepath.Join(data, server.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return "https://" + srv.HTTPAddr(), data, strings.TrimSpace(string(tok))
}

// TestServerOwnCA runs the CLI against a server that speaks HTTPS with its
// own CA: trusted through --ca-cert or --ca-pin (or their environment
// variables), refused with a wrong pin or another CA, and told how to trust
// it when given neither.
func TestServerOwnCA(t *testing.T) {
	url, data, admin := tlsServer(t)
	caFile := filepath.Join(data, server.CACertFile)
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(caPEM)
	if blk == nil {
		t.Fatal("ca.crt holds no PEM block")
	}
	pin := wire.CAPin(blk.Bytes)
	wrongPin := wire.PinPrefix + strings.Repeat("ab", 32)

	// Another server's CA: a file that holds a certificate, not this one.
	_, otherData, _ := tlsServer(t)
	otherCA := filepath.Join(otherData, server.CACertFile)

	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		stderr   string // the whole of stderr, or a prefix when it ends with "…"
		wantList bool
	}{
		{name: "ca-cert", args: []string{"--ca-cert", caFile}, wantList: true},
		{name: "ca-pin", args: []string{"--ca-pin", pin}, wantList: true},
		{name: "ca-pin uppercase", args: []string{"--ca-pin", wire.PinPrefix + strings.ToUpper(strings.TrimPrefix(pin, wire.PinPrefix))}, wantList: true},
		{name: "VALISE_CA_CERT", env: map[string]string{envCACert: caFile}, wantList: true},
		{name: "VALISE_CA_PIN", env: map[string]string{envCAPin: pin}, wantList: true},
		{name: "nothing given", code: 1,
			stderr: "valise: the server's certificate is not trusted: pass --ca-cert valise-data/ca.crt or --ca-pin from the server's log\n"},
		{name: "wrong pin", args: []string{"--ca-pin", wrongPin}, code: 1,
			stderr: "valise: the server's certificate does not match --ca-pin " + wrongPin + ": check the pin in the server's log (ca_pin=…)\n"},
		{name: "another server's CA", args: []string{"--ca-cert", otherCA}, code: 1,
			stderr: "valise: the server's certificate is not signed by --ca-cert " + otherCA + ": is it this server's ca.crt?\n"},
		{name: "malformed pin", args: []string{"--ca-pin", "sha256:abc"}, code: 2, stderr: "valise: --ca-pin: …"},
		{name: "not a certificate", args: []string{"--ca-cert", filepath.Join(data, server.AdminTokenFile)}, code: 2, stderr: "valise: --ca-cert …"},
		{name: "both", args: []string{"--ca-cert", caFile, "--ca-pin", pin}, code: 2, stderr: "valise: --ca-cert and --ca-pin both name the CA to trust: give one\n…"},
		{name: "missing file", args: []string{"--ca-cert", filepath.Join(data, "nope.crt")}, code: 1, stderr: "valise: read --ca-cert: …"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envCACert, "")
			t.Setenv(envCAPin, "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, url, admin, append(tt.args, "devices", "list", "--json")...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			if prefix, ok := strings.CutSuffix(tt.stderr, "…"); ok {
				if !strings.HasPrefix(r.stderr, prefix) {
					t.Errorf("stderr = %q, want it to start with %q", r.stderr, prefix)
				}
			} else if r.stderr != tt.stderr {
				t.Errorf("stderr = %q, want %q", r.stderr, tt.stderr)
			}
			if tt.wantList && strings.TrimSpace(r.stdout) != "[]" {
				t.Errorf("stdout = %q, want the empty fleet []", r.stdout)
			}
		})
	}
}
