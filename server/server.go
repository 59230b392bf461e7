// Package server wires the Valise server together: the bbolt store, the
// fleet, telemetry ingest, the MQTT broker (embedded, or a consumer of an
// external one), the HTTP API and the web dashboard. It holds no logic of
// its own.
//
// On first start it creates the data directory (mode 0700) and in it the
// admin API token (admin.token), the ed25519 command-signing key
// (command.key) and the password of the server's own MQTT account
// (mqtt.password), each mode 0600. Later starts reuse them. When a
// listener speaks TLS (see Config.TLS) it also makes its own CA (ca.crt,
// ca.key) and a server certificate issued by it (server.crt, server.key),
// renewed when its names change or its end nears.
package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/api"
	"github.com/valise-numerique/valise/server/broker"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/ingest"
	"github.com/valise-numerique/valise/server/store"
	"github.com/valise-numerique/valise/server/web"
)

// Files of the data directory.
const (
	StoreFile        = "valise.db"
	AdminTokenFile   = "admin.token"
	CommandKeyFile   = "command.key"
	MQTTPasswordFile = "mqtt.password"
)

// ServerMQTTUsername is the server's own account on the embedded broker.
const ServerMQTTUsername = "valise-server"

// Server is one Valise server process. Run it once.
type Server struct {
	cfg   Config
	log   *slog.Logger
	ready chan struct{}

	mu       sync.Mutex
	httpAddr string
	mqttAddr string
	ran      bool
}

// New checks cfg and returns a server ready to Run.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, log: cfg.Logger, ready: make(chan struct{})}, nil
}

// Ready is closed once Run listens and serves; HTTPAddr and MQTTAddr are
// then known.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// HTTPAddr returns the address the API listens on, once Ready.
func (s *Server) HTTPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.httpAddr
}

// MQTTAddr returns the address the embedded broker listens on, once Ready;
// "" in external-broker mode.
func (s *Server) MQTTAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mqttAddr
}

func (s *Server) isReady() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// DataDir returns the data directory.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// publisher is how the API reaches devices, whichever broker runs.
type publisher interface {
	Publish(topic string, payload []byte, retain bool) error
	Close() error
}

// Run starts everything, serves until ctx is done, then shuts down in
// order: HTTP (requests in flight finish), the broker (no new messages),
// ingest (queued messages committed), the store. It returns the first
// error that stopped it, or nil after a shutdown asked by ctx.
func (s *Server) Run(ctx context.Context) (err error) {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return errors.New("server already ran")
	}
	s.ran = true
	s.mu.Unlock()

	// closers run in reverse order on the way out.
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			if cerr := closers[i](); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
		if s.isReady() {
			s.log.Info("valise-server stopped", "err", err)
		}
	}()

	dir := s.cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		s.log.Warn("data directory is readable by others; it holds secrets", "dir", dir, "mode", fi.Mode().Perm().String())
	}
	st, err := store.Open(filepath.Join(dir, StoreFile), store.Options{})
	if err != nil {
		return err
	}
	closers = append(closers, func() error {
		if err := st.Close(); err != nil {
			return fmt.Errorf("close store: %w", err)
		}
		return nil
	})
	key, err := loadOrCreateKey(filepath.Join(dir, CommandKeyFile))
	if err != nil {
		return err
	}
	mqttPassword, err := loadOrCreateSecret(filepath.Join(dir, MQTTPasswordFile))
	if err != nil {
		return err
	}
	srvTLS, err := setupTLS(s.cfg)
	if err != nil {
		return err
	}

	loc, err := time.LoadLocation(s.cfg.TimeZone)
	if err != nil {
		return err
	}
	fl, err := fleet.New(fleet.Config{
		Store: st, Dedupe: st, Telemetry: st, Now: s.cfg.Now, Location: loc,
		Logger: s.log.With("component", "fleet"), ServerKey: key,
	})
	if err != nil {
		return err
	}
	tokenPath := filepath.Join(dir, AdminTokenFile)
	made, err := fl.BootstrapAdmin(func(secret string) error { return writeFileAtomic(tokenPath, []byte(secret+"\n"), 0o600) })
	if err != nil {
		return err
	}
	if made {
		s.log.Info("admin API token written to " + tokenPath)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	topics := wire.Topics{Prefix: s.cfg.TopicPrefix}
	ing, err := ingest.New(ingest.Config{
		Store: st, Topics: topics, MaxBatch: s.cfg.MaxBatch, Registerer: reg,
		Logger: s.log.With("component", "ingest"), Now: s.cfg.Now,
		OnEvent: func(device string, ev wire.Event) {
			if err := fl.HandleEvent(device, ev); err != nil {
				s.log.Error("act on device event", "device", device, "type", ev.Type, "err", err)
			}
		},
	})
	if err != nil {
		return err
	}
	closers = append(closers, func() error {
		if err := ing.Close(); err != nil {
			return fmt.Errorf("close ingest: %w", err)
		}
		return nil
	})

	var pub publisher
	agentMQTT := s.cfg.MQTTURL
	if s.cfg.MQTTURL == "" {
		b, err := broker.New(broker.Config{
			Addr: s.cfg.MQTTAddr, TLS: srvTLS.mqttConfig(), Topics: topics, Auth: fl, Sink: ing,
			ServerUsername: ServerMQTTUsername, ServerPassword: mqttPassword,
			Registerer: reg, Logger: s.log.With("component", "broker"), Now: s.cfg.Now,
		})
		if err != nil {
			return err
		}
		if err := b.Start(); err != nil {
			return err
		}
		pub = b
		s.mu.Lock()
		s.mqttAddr = b.Addr()
		s.mu.Unlock()
	} else {
		e, err := broker.NewExternal(broker.ExternalConfig{
			URL: s.cfg.MQTTURL, ClientID: s.cfg.MQTTClientID, Username: s.cfg.MQTTUsername, Password: s.cfg.MQTTPassword,
			Topics: topics, Sink: ing, Registerer: reg, Logger: s.log.With("component", "broker"),
		})
		if err != nil {
			return err
		}
		if err := e.Start(ctx); err != nil {
			e.Close()
			return err
		}
		pub = e
	}
	closers = append(closers, func() error {
		if err := pub.Close(); err != nil {
			return fmt.Errorf("close broker: %w", err)
		}
		return nil
	})

	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen for HTTP on %s: %w", s.cfg.HTTPAddr, err)
	}
	publicURL := s.cfg.PublicURL
	if publicURL == "" {
		publicURL = srvTLS.httpScheme() + "://" + reachable(ln.Addr().String())
	}
	if agentMQTT == "" {
		agentMQTT = srvTLS.mqttScheme() + "://" + agentHost(s.mqttAddr, publicURL)
	}
	prov, err := newProvisioner(s.cfg)
	if err != nil {
		ln.Close()
		return err
	}
	handler, err := api.New(api.Config{
		Fleet: fl, Telemetry: st, Health: st, Backup: st, Publisher: pub, Topics: topics, CommandKey: key,
		PublicURL: publicURL, MQTTURL: agentMQTT, CACert: srvTLS.caPEM(), Provisioner: prov,
		AgentConfig: wire.AgentConfig{Interval: wire.Duration(s.cfg.AgentInterval), InventoryInterval: wire.Duration(s.cfg.AgentInventoryInterval)},
		Registerer:  reg, Gatherer: reg, Logger: s.log.With("component", "api"), Now: s.cfg.Now,
	})
	if err != nil {
		ln.Close()
		return err
	}
	dash, err := web.New(web.Config{
		Fleet: fl, Telemetry: st, Location: loc, Logger: s.log.With("component", "web"), Now: s.cfg.Now,
		// A public https:// URL served in plain HTTP here is a proxy
		// ending TLS: the browser speaks HTTPS, the cookie must say so.
		SecureCookies: strings.HasPrefix(publicURL, "https://"),
	})
	if err != nil {
		ln.Close()
		return err
	}
	// The API keeps /api/, /healthz and /metrics; the dashboard has the rest.
	mux := http.NewServeMux()
	mux.Handle("/api/", handler)
	mux.Handle("/healthz", handler)
	mux.Handle("/metrics", handler)
	mux.Handle("/", dash)
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if c := srvTLS.httpConfig(); c != nil {
		ln = tls.NewListener(ln, c)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	s.mu.Lock()
	s.httpAddr = ln.Addr().String()
	s.mu.Unlock()
	s.log.Info("valise-server ready", "api", publicURL, "http", s.httpAddr, "mqtt", agentMQTT, "data", dir, "ca_pin", srvTLS.pin())
	close(s.ready)
	go expireJobs(ctx, fl, s.log)

	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
	case err := <-served:
		return fmt.Errorf("serve HTTP: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("shut down HTTP: %w", err)
	}
	return nil
}

// expireJobs fails, once a minute until ctx ends, the wipe jobs whose
// agent went silent or whose command expired.
func expireJobs(ctx context.Context, fl *fleet.Fleet, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := fl.ExpireJobs(); err != nil {
				log.Error("expire wipe jobs", "err", err)
			}
		}
	}
}

// reachable turns a listener address into one a client can dial: an
// unspecified host (0.0.0.0, ::) becomes this machine's host name.
func reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}

// agentHost is the host:port agents dial for the embedded broker: its
// listening address, with the public URL's host when it listens on every
// interface.
func agentHost(mqttAddr, publicURL string) string {
	host, port, err := net.SplitHostPort(mqttAddr)
	if err != nil {
		return mqttAddr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
	}
	return net.JoinHostPort(host, port)
}

// loadOrCreateKey reads the PKCS #8 PEM ed25519 key at path, or makes one.
func loadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("make command key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("make command key: %w", err)
		}
		if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, err
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read command key: %w", err)
	}
	k, err := parseKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("read command key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("read command key %s: not an ed25519 key", path)
	}
	return key, nil
}

// loadOrCreateSecret reads the one-line secret at path, or makes one.
func loadOrCreateSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return "", fmt.Errorf("make secret %s: %w", path, err)
		}
		secret := base64.RawURLEncoding.EncodeToString(raw)
		return secret, writeFileAtomic(path, []byte(secret+"\n"), 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	secret := string(bytes.TrimRight(b, "\r\n"))
	if len(secret) < 16 {
		return "", fmt.Errorf("read secret %s: shorter than 16 characters", path)
	}
	return secret, nil
}
