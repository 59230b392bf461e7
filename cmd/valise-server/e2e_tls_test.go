package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/agent/simulate"
	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server"
)

// TestAgentEndToEndTLS runs the real agent code against a server with TLS
// forced on loopback: the agent trusts the server only through the join
// command's --ca-pin, enrols over HTTPS, and reports over MQTT with TLS.
func TestAgentEndToEndTLS(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "server")
	srv, _ := startServer(t, server.Config{DataDir: data, TLS: true})
	ctx := context.Background()

	// The technician's CLI trusts the CA file of the data directory.
	caPEM, err := os.ReadFile(filepath.Join(data, server.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := "https://" + srv.HTTPAddr()
	api := adminClient(t, data, base, apiclient.WithHTTPClient(hc))
	tok, err := api.CreateEnrollToken(ctx, apitype.EnrollTokenRequest{Class: wire.ClassLaptop, Uses: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, pin, ok := strings.Cut(tok.Join, " --ca-pin ")
	if !ok || !strings.HasPrefix(pin, wire.PinPrefix) {
		t.Fatalf("join command without a pin: %q", tok.Join)
	}

	dev := simulate.NewDevice(8, 0, wire.ClassLaptop)

	// A wrong pin: the agent refuses the server, and the token is not spent.
	wrong := wire.PinPrefix + strings.Repeat("00", 32)
	if _, err := agent.Enroll(ctx, agent.EnrollOptions{Server: base, Token: tok.Token, CAPin: wrong, StateDir: filepath.Join(dir, "wrong"), Source: dev, Logger: quiet}); err == nil {
		t.Fatal("enrolment trusted a server whose CA does not match the pin")
	}

	state := filepath.Join(dir, "agent")
	en, err := agent.Enroll(ctx, agent.EnrollOptions{Server: base, Token: tok.Token, CAPin: pin, StateDir: state, Source: dev, Logger: quiet})
	if err != nil {
		t.Fatalf("enrol with the join command's pin: %v", err)
	}
	if want := "ssl://" + srv.MQTTAddr(); en.MQTTURL != want {
		t.Errorf("mqtt url = %s, want %s", en.MQTTURL, want)
	}
	actx, stopAgent := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() {
		ran <- agent.Run(actx, agent.Config{StateDir: state, Source: dev, Interval: time.Hour, Logger: quiet})
	}()
	var d apitype.DeviceDetail
	eventually(t, "reports over MQTT with TLS", func() bool {
		d, err = api.Device(ctx, en.AssetTag)
		return err == nil && d.Online && d.Inventory != nil && d.Health != nil
	})
	stopAgent()
	if err := <-ran; err != nil {
		t.Errorf("agent.Run: %v", err)
	}
}
