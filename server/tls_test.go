package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server"
)

// caPool reads the data directory's ca.crt into a pool.
func caPool(t *testing.T, dir string) (*x509.CertPool, *x509.Certificate, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, server.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM", server.CACertFile)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, ca, b
}

func httpsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout:   wait,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

func pinOf(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func mqttConnect(url, clientID, user, password string, tc *tls.Config) error {
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).
		SetUsername(user).SetPassword(password).SetProtocolVersion(4).
		SetConnectTimeout(wait).SetAutoReconnect(false).SetConnectRetry(false)
	if tc != nil {
		opts.SetTLSConfig(tc)
	}
	cl := paho.NewClient(opts)
	tk := cl.Connect()
	if !tk.WaitTimeout(2 * wait) {
		return errors.New("connect did not end in time")
	}
	if tk.Error() != nil {
		return tk.Error()
	}
	cl.Disconnect(100)
	return nil
}

// TestTLSForced runs a server on loopback with TLS forced and goes
// through what an agent does: check the pin, enrol over HTTPS, connect to
// the broker over TLS.
func TestTLSForced(t *testing.T) {
	dir := t.TempDir()
	s, _ := startServer(t, server.Config{DataDir: dir, TLS: true})
	for name, mode := range map[string]os.FileMode{server.CAKeyFile: 0o600, server.ServerKeyFile: 0o600, server.CACertFile: 0o644, server.ServerCertFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, %v; want mode %v", name, fi, err, mode)
		}
	}
	pool, ca, caPEM := caPool(t, dir)
	if !ca.IsCA || ca.PublicKeyAlgorithm != x509.ECDSA || ca.NotAfter.Sub(ca.NotBefore) < 10*365*24*time.Hour {
		t.Errorf("CA: IsCA %v, %v, valid %v; want an ECDSA CA for ten years", ca.IsCA, ca.PublicKeyAlgorithm, ca.NotAfter.Sub(ca.NotBefore))
	}
	base := "https://" + s.HTTPAddr()
	hc := httpsClient(pool)

	resp, err := hc.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS with the CA as root: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz over HTTPS = %d", resp.StatusCode)
	}
	if len(resp.TLS.PeerCertificates) != 2 || !resp.TLS.PeerCertificates[1].Equal(ca) {
		t.Errorf("the handshake does not carry the chain leaf, CA: %d certificates", len(resp.TLS.PeerCertificates))
	}
	leaf := resp.TLS.PeerCertificates[0]
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("server certificate: %v", err)
		}
	}
	if _, err := httpsClient(nil).Get(base + "/healthz"); err == nil {
		t.Error("HTTPS without the CA as root succeeded")
	}
	if resp, err := http.Get("http://" + s.HTTPAddr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the TLS listener")
		}
	}

	// GET /api/v1/ca.crt, no bearer.
	resp, err = hc.Get(base + "/api/v1/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, caPEM) {
		t.Errorf("GET /api/v1/ca.crt = %d %q, want ca.crt", resp.StatusCode, got)
	}

	// The join command pins the CA.
	c, err := apiclient.New(base, readToken(t, dir), apiclient.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.CreateEnrollToken(context.Background(), apitype.EnrollTokenRequest{Class: wire.ClassLaptop})
	if err != nil {
		t.Fatal(err)
	}
	if want := "valise-agent enroll --server " + base + " --token " + tok.Token + " --ca-pin " + pinOf(ca.Raw); tok.Join != want {
		t.Errorf("join = %q\nwant   %q", tok.Join, want)
	}

	// Enrolment over HTTPS hands out ssl:// and the CA.
	inv := fixtureInventory()
	body, err := json.Marshal(wire.EnrollRequest{Token: tok.Token, Fingerprint: wire.FingerprintOf(&inv), Inventory: inv, AgentVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.Post(base+wire.EnrollPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var en wire.EnrollResponse
	err = json.NewDecoder(resp.Body).Decode(&en)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("enrol: %d %v", resp.StatusCode, err)
	}
	if want := "ssl://" + s.MQTTAddr(); en.MQTTURL != want {
		t.Errorf("mqtt url = %s, want %s", en.MQTTURL, want)
	}
	if en.CACert != string(caPEM) {
		t.Errorf("enrolment CACert = %q, want ca.crt", en.CACert)
	}

	// The broker speaks TLS only.
	if err := mqttConnect(en.MQTTURL, en.DeviceID, en.Username, en.Password, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}); err != nil {
		t.Errorf("MQTT over TLS with the CA as root: %v", err)
	}
	if err := mqttConnect("tcp://"+s.MQTTAddr(), en.DeviceID, en.Username, en.Password, nil); err == nil {
		t.Error("plain MQTT connected to the TLS listener")
	}
	if err := mqttConnect(en.MQTTURL, en.DeviceID, en.Username, en.Password, &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Error("MQTT over TLS without the CA as root connected")
	}
}

// TestTLSRestart checks that a restart keeps the CA (and so the pin) and
// the server certificate, and that new names get a new server certificate
// from the same CA.
func TestTLSRestart(t *testing.T) {
	dir := t.TempDir()
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	_, stop := startServer(t, server.Config{DataDir: dir, TLS: true})
	stop()
	ca1, cert1 := read(server.CACertFile), read(server.ServerCertFile)

	_, stop = startServer(t, server.Config{DataDir: dir, TLS: true})
	stop()
	if !bytes.Equal(read(server.CACertFile), ca1) || !bytes.Equal(read(server.ServerCertFile), cert1) {
		t.Fatal("a restart with the same names changed the CA or the server certificate")
	}

	s, _ := startServer(t, server.Config{DataDir: dir, TLS: true, PublicURL: "https://valise.example:8443"})
	if !bytes.Equal(read(server.CACertFile), ca1) {
		t.Fatal("a restart with a new public URL changed the CA")
	}
	if bytes.Equal(read(server.ServerCertFile), cert1) {
		t.Fatal("a new public URL kept the old server certificate")
	}
	pool, _, _ := caPool(t, dir)
	conn, err := tls.Dial("tcp", s.HTTPAddr(), &tls.Config{RootCAs: pool, ServerName: "valise.example", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS as valise.example: %v", err)
	}
	conn.Close()
}

// TestLoopbackStaysPlain checks that a server on loopback only, without
// --tls, speaks plain HTTP and MQTT and makes no CA.
func TestLoopbackStaysPlain(t *testing.T) {
	dir := t.TempDir()
	s, _ := startServer(t, server.Config{DataDir: dir})
	if _, err := os.Stat(filepath.Join(dir, server.CACertFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ca.crt: %v, want none", err)
	}
	base := "http://" + s.HTTPAddr()
	c, err := apiclient.New(base, readToken(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.CreateEnrollToken(context.Background(), apitype.EnrollTokenRequest{Class: wire.ClassLaptop})
	if err != nil {
		t.Fatal(err)
	}
	if want := "valise-agent enroll --server " + base + " --token " + tok.Token; tok.Join != want {
		t.Errorf("join = %q, want %q", tok.Join, want)
	}
	if code, _ := get(t, base+"/api/v1/ca.crt"); code != http.StatusNotFound {
		t.Errorf("GET /api/v1/ca.crt = %d, want 404", code)
	}
	pw, err := os.ReadFile(filepath.Join(dir, server.MQTTPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := mqttConnect("tcp://"+s.MQTTAddr(), "tls-test", server.ServerMQTTUsername, strings.TrimSpace(string(pw)), nil); err != nil {
		t.Errorf("plain MQTT on loopback: %v", err)
	}
}

// TestGivenCertificates serves a chain made outside the server: the pin
// names the last certificate of the file.
func TestGivenCertificates(t *testing.T) {
	root, rootKey := makeCert(t, nil, nil, "Test Root", true)
	leaf, leafKey := makeCert(t, root, rootKey, "127.0.0.1", false)
	tests := []struct {
		name   string
		chain  []*x509.Certificate
		pinned *x509.Certificate
	}{
		{name: "leaf and root", chain: []*x509.Certificate{leaf, root}, pinned: root},
		{name: "leaf only", chain: []*x509.Certificate{leaf}, pinned: leaf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var chain []byte
			for _, c := range tt.chain {
				chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
			}
			keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
			if err != nil {
				t.Fatal(err)
			}
			certFile, keyFile := filepath.Join(dir, "given.crt"), filepath.Join(dir, "given.key")
			if err := os.WriteFile(certFile, chain, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, "data")
			s, _ := startServer(t, server.Config{DataDir: data, TLSCertFile: certFile, TLSKeyFile: keyFile})
			if _, err := os.Stat(filepath.Join(data, server.CACertFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("ca.crt: %v, want none with given certificates", err)
			}
			pool := x509.NewCertPool()
			pool.AddCert(tt.pinned)
			base := "https://" + s.HTTPAddr()
			c, err := apiclient.New(base, readToken(t, data), apiclient.WithHTTPClient(httpsClient(pool)))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.CreateEnrollToken(context.Background(), apitype.EnrollTokenRequest{Class: wire.ClassLaptop})
			if err != nil {
				t.Fatalf("HTTPS with the pinned certificate as root: %v", err)
			}
			if want := "valise-agent enroll --server " + base + " --token " + tok.Token + " --ca-pin " + pinOf(tt.pinned.Raw); tok.Join != want {
				t.Errorf("join = %q\nwant   %q", tok.Join, want)
			}
		})
	}
	t.Run("key without certificate", func(t *testing.T) {
		_, err := server.New(server.Config{TLSKeyFile: "x.key"})
		if err == nil {
			t.Error("New accepted TLSKeyFile without TLSCertFile")
		}
	})
}

// makeCert makes a CA (parent nil: self-signed) or a server certificate
// for host signed by parent.
func makeCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, name string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP(name)}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}
