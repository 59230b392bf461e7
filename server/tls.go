package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// Files of the data directory for TLS, when the server makes its own CA.
const (
	// CACertFile is the server's CA certificate (PEM, mode 0644); join
	// commands carry the SHA-256 pin of its DER bytes.
	CACertFile = "ca.crt"
	// CAKeyFile is the CA's ECDSA P-256 key (PKCS #8 PEM, mode 0600).
	CAKeyFile = "ca.key"
	// ServerCertFile is the server certificate the CA issued, followed by
	// the CA certificate (PEM); ServerKeyFile is its key (mode 0600).
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// Lifetimes of the certificates the server makes.
const (
	CAValidity         = 3653 * 24 * time.Hour // ten years
	ServerCertValidity = 397 * 24 * time.Hour
	// ServerCertRenewal is how long before its end the server certificate
	// is replaced, at start or at the first TLS handshake after.
	ServerCertRenewal = 30 * 24 * time.Hour
)

// serverTLS is what the listeners that speak TLS serve: the server
// certificate (renewed in place when the server made it) and the
// certificate agents pin.
type serverTLS struct {
	http, mqtt bool // whether each listener speaks TLS

	pinned *x509.Certificate // the certificate agents pin: the CA, or the last of a given chain
	pinPEM []byte

	log *slog.Logger
	now func() time.Time

	// set only when the server made its own CA.
	dir   string
	ca    *x509.Certificate
	caKey crypto.Signer
	hosts []string

	mu   sync.Mutex
	cert *tls.Certificate // leaf first; Leaf set
}

// Pin returns the --ca-pin of join commands: wire.CAPin of the pinned
// certificate.
func (t *serverTLS) Pin() string { return wire.CAPin(t.pinned.Raw) }

// Config returns a TLS configuration for one listener.
func (t *serverTLS) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: t.getCertificate}
}

func (t *serverTLS) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ca != nil && !t.now().Before(t.cert.Leaf.NotAfter.Add(-ServerCertRenewal)) {
		if err := t.issue(); err != nil {
			t.log.Error("renew the server certificate; serving the old one", "err", err)
		}
	}
	return t.cert, nil
}

// setupTLS decides which listeners speak TLS (those not on loopback, or all
// with cfg.TLS or given certificates) and loads or makes what they serve.
// It returns nil when no listener speaks TLS.
func setupTLS(cfg Config) (*serverTLS, error) {
	force := cfg.TLS || cfg.TLSCertFile != ""
	t := &serverTLS{
		http: force || !isLoopback(cfg.HTTPAddr),
		mqtt: cfg.MQTTURL == "" && (force || !isLoopback(cfg.MQTTAddr)),
		log:  cfg.Logger,
		now:  cfg.Now,
	}
	if !t.http && !t.mqtt {
		return nil, nil
	}
	if t.http && strings.HasPrefix(cfg.PublicURL, "http://") {
		t.log.Warn("the HTTP listener speaks HTTPS but the public URL is http://; join commands will not work unless a proxy translates", "public_url", cfg.PublicURL)
	}
	if cfg.TLSCertFile != "" {
		if err := t.loadGiven(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return nil, err
		}
		return t, nil
	}
	t.dir = cfg.DataDir
	t.hosts = tlsHosts(cfg)
	if err := t.loadOrMakeCA(); err != nil {
		return nil, err
	}
	if err := t.loadOrIssue(); err != nil {
		return nil, err
	}
	return t, nil
}

// loadGiven serves a given chain. The pinned certificate is the last one of
// the file: its root when the file ends with it, else its last
// intermediate, or the leaf itself when the file holds only the leaf.
func (t *serverTLS) loadGiven(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil { // filled by LoadX509KeyPair unless GODEBUG x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("load TLS certificate %s: %w", certFile, err)
		}
	}
	last, err := x509.ParseCertificate(cert.Certificate[len(cert.Certificate)-1])
	if err != nil {
		return fmt.Errorf("load TLS certificate %s: %w", certFile, err)
	}
	if t.now().After(cert.Leaf.NotAfter) {
		t.log.Warn("the given TLS certificate has expired", "file", certFile, "not_after", cert.Leaf.NotAfter)
	}
	t.cert, t.pinned = &cert, last
	t.pinPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: last.Raw})
	return nil
}

// loadOrMakeCA reads ca.crt and ca.key, or makes them on first start.
func (t *serverTLS) loadOrMakeCA() error {
	certPath, keyPath := filepath.Join(t.dir, CACertFile), filepath.Join(t.dir, CAKeyFile)
	certPEM, cerr := os.ReadFile(certPath)
	keyPEM, kerr := os.ReadFile(keyPath)
	switch {
	case errors.Is(cerr, os.ErrNotExist) && errors.Is(kerr, os.ErrNotExist):
		return t.makeCA(certPath, keyPath)
	case cerr != nil:
		return fmt.Errorf("read CA certificate: %w", cerr)
	case kerr != nil:
		return fmt.Errorf("read CA key: %w", kerr)
	}
	ca, err := parseCertPEM(certPEM)
	if err != nil {
		return fmt.Errorf("read CA certificate %s: %w", certPath, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return fmt.Errorf("read CA key %s: %w", keyPath, err)
	}
	if !ca.IsCA || !samePublicKey(ca.PublicKey, key.Public()) {
		return fmt.Errorf("read CA %s: not a CA certificate, or not the one of %s", certPath, keyPath)
	}
	if t.now().After(ca.NotAfter) {
		return fmt.Errorf("the server's CA %s expired on %s: move %s and %s away to make a new one, then re-enrol every agent (their pin changes)",
			certPath, ca.NotAfter.Format(time.DateOnly), CACertFile, CAKeyFile)
	}
	t.ca, t.caKey, t.pinned = ca, key, ca
	t.pinPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	return nil
}

func (t *serverTLS) makeCA(certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("make CA key: %w", err)
	}
	now := t.now()
	name := "Valise CA"
	if h, err := os.Hostname(); err == nil && h != "" {
		name += " " + h
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Valise"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("make CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("make CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("make CA key: %w", err)
	}
	// The key first: a crash between the two leaves a key without a
	// certificate, which the next start reports instead of pinning a CA
	// whose key is lost.
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	t.pinPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeFileAtomic(certPath, t.pinPEM, 0o644); err != nil {
		return err
	}
	t.ca, t.caKey, t.pinned = ca, key, ca
	t.log.Info("made the server's CA", "file", certPath, "pin", t.Pin(), "not_after", ca.NotAfter)
	return nil
}

// loadOrIssue reads server.crt and server.key and keeps them if the CA
// issued them for exactly t.hosts and they are not near their end; else it
// issues new ones.
func (t *serverTLS) loadOrIssue() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	cert, err := tls.LoadX509KeyPair(filepath.Join(t.dir, ServerCertFile), filepath.Join(t.dir, ServerKeyFile))
	if err == nil && t.current(cert.Leaf) {
		t.cert = &cert
		return nil
	}
	return t.issue()
}

// current reports whether leaf was issued by the CA for t.hosts and is
// not due for renewal.
func (t *serverTLS) current(leaf *x509.Certificate) bool {
	if leaf == nil || leaf.CheckSignatureFrom(t.ca) != nil {
		return false
	}
	if !t.now().Before(leaf.NotAfter.Add(-ServerCertRenewal)) {
		return false
	}
	return slices.Equal(certHosts(leaf), t.hosts)
}

// issue makes a server certificate for t.hosts, writes it and serves it.
// t.mu is held.
func (t *serverTLS) issue() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("make server key: %w", err)
	}
	now := t.now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: t.hosts[0], Organization: []string{"Valise"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServerCertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(t.ca.NotAfter) {
		tmpl.NotAfter = t.ca.NotAfter
	}
	for _, h := range t.hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, t.ca, key.Public(), t.caKey)
	if err != nil {
		return fmt.Errorf("issue server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("issue server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("issue server certificate: %w", err)
	}
	chainPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), t.pinPEM...)
	if err := writeFileAtomic(filepath.Join(t.dir, ServerKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(t.dir, ServerCertFile), chainPEM, 0o644); err != nil {
		return err
	}
	t.cert = &tls.Certificate{Certificate: [][]byte{der, t.ca.Raw}, PrivateKey: key, Leaf: leaf}
	t.log.Info("issued the server certificate", "hosts", strings.Join(t.hosts, ","), "not_after", leaf.NotAfter)
	return nil
}

// tlsHosts are the names and addresses the server certificate holds:
// localhost, 127.0.0.1 and ::1, the hosts of the public URL and of the
// listeners, and for a listener on every interface this machine's name and
// its interfaces' addresses. The first is the most specific, for the
// subject; the rest are sorted.
func tlsHosts(cfg Config) []string {
	var first string
	set := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	add := func(h string) {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == "" {
			return
		}
		if ip := net.ParseIP(h); ip != nil {
			if ip.IsUnspecified() {
				return
			}
			h = ip.String()
		}
		if first == "" && !set[h] {
			first = h
		}
		set[h] = true
	}
	if u, err := url.Parse(cfg.PublicURL); err == nil && cfg.PublicURL != "" {
		add(u.Hostname())
	}
	addrs := []string{cfg.HTTPAddr}
	if cfg.MQTTURL == "" {
		addrs = append(addrs, cfg.MQTTAddr)
	}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			add(host)
			continue
		}
		if h, err := os.Hostname(); err == nil {
			add(h)
		}
		if ifAddrs, err := net.InterfaceAddrs(); err == nil {
			for _, ia := range ifAddrs {
				if n, ok := ia.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
					add(n.IP.String())
				}
			}
		}
	}
	if first == "" {
		first = "localhost"
	}
	rest := make([]string, 0, len(set))
	for h := range set {
		if h != first {
			rest = append(rest, h)
		}
	}
	slices.Sort(rest)
	return append([]string{first}, rest...)
}

// certHosts lists a certificate's names in tlsHosts' order: the subject's
// common name first, then the rest of its SANs sorted.
func certHosts(c *x509.Certificate) []string {
	var rest []string
	for _, h := range c.DNSNames {
		if h != c.Subject.CommonName {
			rest = append(rest, h)
		}
	}
	for _, ip := range c.IPAddresses {
		if ip.String() != c.Subject.CommonName {
			rest = append(rest, ip.String())
		}
	}
	slices.Sort(rest)
	return append([]string{c.Subject.CommonName}, rest...)
}

// isLoopback reports whether a listen address is on loopback only:
// localhost, 127.0.0.0/8 or ::1. Other names count as reachable.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens since Go 1.24
	}
	return n.Add(n, big.NewInt(1))
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKeyPEM(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PRIVATE KEY PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T is not a signing key", k)
	}
	return s, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// writeFileAtomic writes data to path with mode perm, atomically: a reader
// sees the old file or the whole new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // after a successful rename, a no-op
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// httpConfig is the TLS configuration of the HTTP listener; nil when it
// speaks plain HTTP.
func (t *serverTLS) httpConfig() *tls.Config {
	if t == nil || !t.http {
		return nil
	}
	return t.Config()
}

// mqttConfig is the TLS configuration of the embedded broker; nil when it
// speaks plain MQTT.
func (t *serverTLS) mqttConfig() *tls.Config {
	if t == nil || !t.mqtt {
		return nil
	}
	return t.Config()
}

// httpScheme and mqttScheme are the URL schemes agents use.
func (t *serverTLS) httpScheme() string {
	if t == nil || !t.http {
		return "http"
	}
	return "https"
}

func (t *serverTLS) mqttScheme() string {
	if t == nil || !t.mqtt {
		return "tcp"
	}
	return "ssl"
}

// pin is the join commands' --ca-pin; "none" without TLS.
func (t *serverTLS) pin() string {
	if t == nil {
		return "none"
	}
	return t.Pin()
}

// caPEM is the PEM of the pinned certificate; nil without TLS.
func (t *serverTLS) caPEM() []byte {
	if t == nil {
		return nil
	}
	return t.pinPEM
}
