package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/cmdmain"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestUsage(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int    // 0 for nil error
		output string // in stdout, or in the error
	}{
		{"help", []string{"--help"}, 0, "--mqtt-url"},
		{"unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
		{"flag without value", []string{"--data"}, 2, "flag needs an argument"},
		{"unknown command", []string{"serve"}, 2, `unknown command "serve"`},
		{"bad log level", []string{"--log-level", "loud"}, 2, "--log-level"},
		{"bad address", []string{"--http", "8080"}, 2, "HTTPAddr"},
		{"bad mqtt url", []string{"--mqtt-url", "http://broker"}, 2, "MQTTURL"},
		{"tls cert without key", []string{"--tls-cert", "server.crt"}, 2, "TLSCertFile and TLSKeyFile"},
		{"missing tls cert", []string{"--data", dir, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--tls-cert", dir + "/none.crt", "--tls-key", dir + "/none.key"}, 1, "load TLS certificate"},
		{"port in use", []string{"--data", dir, "--http", busy.Addr().String(), "--mqtt", "127.0.0.1:0"}, 1, "listen for HTTP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, append([]string{"valise-server"}, tt.args...), &stdout, &stderr)
			code := 0
			if err != nil {
				code = cmdmain.ExitCode(err)
			}
			if code != tt.code {
				t.Fatalf("exit code %d (%v), want %d", code, err, tt.code)
			}
			got := stdout.String()
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tt.output) {
				t.Errorf("output %q lacks %q", got, tt.output)
			}
		})
	}
}

var readyRe = regexp.MustCompile(`valise-server ready.* http=(\S+)`)

func TestRunFromEnvironment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("VALISE_DATA", dir)
	t.Setenv("VALISE_HTTP", "127.0.0.1:0")
	t.Setenv("VALISE_MQTT", "127.0.0.1:0")
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"valise-server"}, &stdout, &stderr) }()

	var addr string
	for i := 0; i < 200 && addr == ""; i++ { // at most 10 s
		if m := readyRe.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run: %v\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("no ready line in the log:\n%s", stderr.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("healthz = %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(stderr.String(), "admin API token written to "+filepath.Join(dir, "admin.token")) {
		t.Errorf("the log does not say where the admin token is:\n%s", stderr.String())
	}
	if fi, err := os.Stat(filepath.Join(dir, "admin.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token: %v", err)
	}
	cancel() // as SIGINT does through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel = %v, want a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown")
	}
}
