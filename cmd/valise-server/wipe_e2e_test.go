package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/agent/simulate"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server"
)

// TestWipeEndToEnd runs the wipe-before-reuse cycle with the real agent
// of a simulated laptop, whose disk is a file it really overwrites and
// verifies: wipe through the server and the embedded broker, certificate
// countersigned and verifying offline, provisioning, re-enrolment with the
// bundle's token, ready.
func TestWipeEndToEnd(t *testing.T) {
	tests := []struct{ class, profile string }{
		{wire.ClassLaptop, "laptop-linux"},
		{wire.ClassHotspot, "hotspot-openwrt"},
	}
	for _, tc := range tests {
		t.Run(tc.class, func(t *testing.T) { wipeEndToEnd(t, tc.class, tc.profile) })
	}
}

func wipeEndToEnd(t *testing.T, class, profile string) {
	dir := t.TempDir()
	srv, _ := startServer(t, server.Config{
		DataDir:     filepath.Join(dir, "server"),
		KitWiFiSSID: "Valise-Kit-07", KitWiFiKey: "correct horse battery",
	})
	ctx := context.Background()
	base := "http://" + srv.HTTPAddr()
	api := adminClient(t, filepath.Join(dir, "server"), base)
	tok, err := api.CreateEnrollToken(ctx, apitype.EnrollTokenRequest{Class: class})
	if err != nil {
		t.Fatal(err)
	}

	dev := simulate.NewDevice(8, 0, class)
	state := filepath.Join(dir, "agent")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := dev.EnsureDisk(state, 4<<20); err != nil {
		t.Fatal(err)
	}
	en, err := agent.Enroll(ctx, agent.EnrollOptions{Server: base, Token: tok.Token, StateDir: state, Source: dev, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAgent := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() {
		ran <- agent.Run(actx, agent.Config{StateDir: state, Source: dev, Wiper: dev.Wiper(state), Interval: time.Hour, Logger: quiet})
	}()
	defer func() {
		stopAgent()
		<-ran
	}()
	eventually(t, "the agent online", func() bool {
		d, err := api.Device(ctx, en.AssetTag)
		return err == nil && d.Online
	})

	jobs, err := api.CreateWipes(ctx, apitype.WipeRequest{Devices: []string{en.AssetTag}})
	if err != nil {
		t.Fatal(err)
	}
	var job apitype.WipeJob
	eventually(t, "the wipe job ends", func() bool {
		job, err = api.WipeJob(ctx, jobs[0].ID)
		return err == nil && (job.State == apitype.JobSucceeded || job.State == apitype.JobFailed)
	})
	if job.State != apitype.JobSucceeded {
		t.Fatalf("wipe job %s: %s", job.State, job.Error)
	}
	if class != wire.ClassHotspot {
		disk, err := os.ReadFile(filepath.Join(state, simulate.DiskFile))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(disk, make([]byte, len(disk))) {
			t.Error("the simulated disk does not read back as zeros")
		}
	}
	sk, err := api.ServerKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(sk.Key)
	file, err := api.CertificateFile(ctx, job.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := certificate.Verify(file, certificate.VerifyOptions{ServerKey: ed25519.PublicKey(key)})
	if err != nil || c.Asset.DeviceID != en.DeviceID || c.Result != certificate.ResultSucceeded {
		t.Fatalf("certificate: %v", err)
	}
	if d, _ := api.Device(ctx, en.AssetTag); d.State != "wiped" {
		t.Fatalf("device after the wipe: %s", d.State)
	}

	pj, err := api.CreateProvision(ctx, apitype.ProvisionRequest{Device: en.AssetTag, Profile: profile})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the provisioning job ends", func() bool {
		pj, err = api.ProvisionJob(ctx, pj.ID)
		return err == nil && (pj.State == apitype.JobSucceeded || pj.State == apitype.JobFailed)
	})
	d, err := api.Device(ctx, en.AssetTag)
	if err != nil {
		t.Fatal(err)
	}
	if pj.State != apitype.JobSucceeded || d.State != "ready" {
		t.Fatalf("provisioning %s %q, device %s", pj.State, pj.Error, d.State)
	}
}
