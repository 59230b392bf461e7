// Package api is the HTTP JSON API of the Valise server (/api/v1), with
// /healthz and /metrics.
//
// Every /api/v1 route but enrolment takes a bearer token
// ("Authorization: Bearer vat_…") and checks the role of its principal.
// Every error answer has the shape of apitype.ErrorBody, with a code mapped
// from the fleet's and the store's sentinel errors and a message that is
// safe to show a user. Request bodies are size-limited and decoded
// strictly: unknown fields and trailing data are refused.
//
// Routes, and the roles that may call them (admin may call everything):
//
//	POST /api/v1/enroll                  no bearer: the enrolment token is in the body (wire.EnrollRequest -> wire.EnrollResponse)
//	POST /api/v1/enroll-tokens           technician     apitype.EnrollTokenRequest -> 201 apitype.EnrollToken
//	GET  /api/v1/ca.crt                  no bearer: the PEM of the certificate join commands pin; 404 without TLS
//	GET  /api/v1/devices                 every role     ?class=&state=&kit=&venue=&online=true&after=TAG&limit=N -> []apitype.Device by asset tag; a full page has X-Next-After
//	GET  /api/v1/devices/{ref}           every role     ref: device id or asset tag (any case) -> apitype.DeviceDetail
//	GET  /api/v1/devices/{ref}/history   every role     ?metric=M&since=RFC3339|24h|7d&limit=N -> apitype.History
//	POST /api/v1/devices/{ref}/collect   logistics, technician -> 202, a signed collect_now command queued at QoS 1
//	POST /api/v1/wipes                   technician     apitype.WipeRequest -> 201 []apitype.WipeJob; devices go to wiping, signed wipe commands sent
//	GET  /api/v1/wipes                   logistics, technician  ?active=true -> []apitype.WipeJob, newest first
//	GET  /api/v1/wipes/{id}              logistics, technician  -> apitype.WipeJob
//	GET  /api/v1/devices/{ref}/certificates  every role -> []apitype.CertificateInfo, newest first
//	POST /api/v1/devices/{ref}/certificates/import  technician  raw nwipe log (text/plain, <= 4 MiB) -> 201 apitype.CertificateInfo
//	GET  /api/v1/certificates/{id}       every role     -> the countersigned certificate file (canonical JSON bytes)
//	GET  /api/v1/certificates/{id}/pdf   every role     -> application/pdf
//	GET  /api/v1/server-key              no bearer: apitype.ServerKey, the key certificates verify with
//	POST /api/v1/provisions              technician     apitype.ProvisionRequest -> 201 apitype.ProvisionJob
//	GET  /api/v1/provisions/{id}         logistics, technician  -> apitype.ProvisionJob
//	GET  /api/v1/devices/{ref}/events    every role     -> []apitype.Event, the device's lifecycle from the audit log
//	GET  /api/v1/audit                   logistics, technician  ?device=|kit=|venue=|user=&before=SEQ&limit=N -> []apitype.Event, a page newest last
//	GET  /api/v1/audit/verify            logistics, technician  -> apitype.AuditVerify
//	POST /api/v1/users                   admin          apitype.UserRequest -> 201 apitype.User with its token, shown once
//	GET  /api/v1/users                   logistics      -> []apitype.User by name
//	POST /api/v1/users/{ref}/disable     admin          -> apitype.User; their tokens stop working
//	POST /api/v1/venues                  logistics      apitype.VenueRequest -> 201 apitype.Venue
//	GET  /api/v1/venues                  every role     -> []apitype.Venue by name
//	GET  /api/v1/venues/{ref}            every role     ref: id or name -> apitype.Venue
//	POST /api/v1/kits                    logistics      apitype.KitRequest -> 201 apitype.Kit
//	GET  /api/v1/kits                    every role     ?after=LABEL&limit=N -> []apitype.Kit by label, states from device states; a full page has X-Next-After
//	GET  /api/v1/kits/{ref}              every role     ref: id or label -> apitype.Kit with each device's readiness and live telemetry
//	POST /api/v1/kits/{ref}/devices      logistics      apitype.KitDevicesRequest -> apitype.Kit
//	POST /api/v1/kits/{ref}/devices/remove  logistics   apitype.KitDevicesRequest -> apitype.Kit
//	POST /api/v1/kits/{ref}/restock      logistics      apitype.RestockRequest -> apitype.Kit
//	POST /api/v1/kits/{ref}/checkout     mediateur, logistics  apitype.CheckoutRequest -> 201 apitype.Loan; 409 with one detail per blocking device
//	POST /api/v1/kits/{ref}/checkin      mediateur, logistics  apitype.CheckinRequest -> apitype.Loan
//	GET  /api/v1/loans                   every role (a médiateur sees their own)  ?open=true&overdue=true&user=&venue=&kit=&after=LOAN&limit=N -> []apitype.Loan, newest first; a full page has X-Next-After
//	GET  /api/v1/loans/{id}              every role (a médiateur, their own: another's is 404) -> apitype.Loan
//	POST /api/v1/assignments             logistics      apitype.AssignRequest -> []apitype.Device
//	POST /api/v1/devices/{ref}/state     logistics, technician  apitype.SetStateRequest -> apitype.Device (which states whom: fleet.SetState)
//	POST /api/v1/import/{kind}           logistics      text/csv body, ?dry_run=true&file=NAME -> apitype.ImportReport (201 when written); bad rows: 400 with one detail per bad field
//	GET  /api/v1/export/{kind}           logistics      -> text/csv of devices, loans, venues or kits, in the columns import reads
//	GET  /api/v1/backup                  admin          -> application/octet-stream: a copy of the store as of one read transaction, with its Content-Length
//	GET  /healthz                        no bearer: "ok" while the store answers
//	GET  /metrics                        no bearer: Prometheus text format
//
// /healthz and /metrics need no token: /healthz says only "ok", and
// /metrics exposes counters, not fleet data, for a Prometheus that scrapes
// the server on its own host. Put a reverse proxy in front of /metrics if
// the HTTP listener is reachable from elsewhere.
package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// Telemetry is what the API reads of devices' reports.
type Telemetry interface {
	Summary(device string) (store.Summary, error)
	// SummariesOf reads the summaries of a page of devices at once;
	// devices that never reported are not in the map.
	SummariesOf(devices []string) (map[string]store.Summary, error)
	Latest(device string, kind wire.Channel) (body []byte, at time.Time, err error)
	History(device, metric string, since time.Time, limit int) ([]apitype.Point, error)
}

// Pinger answers whether the store works, for /healthz.
type Pinger interface {
	Ping() error
}

// Publisher sends a message to devices through the broker, at QoS 1.
type Publisher interface {
	Publish(topic string, payload []byte, retain bool) error
}

// Body limits.
const (
	MaxBody       = 1 << 20   // any request body
	MaxEnrollBody = 512 << 10 // an enrolment: token, fingerprint and inventory
)

// CommandTTL is how long a command the API sends stays valid.
const CommandTTL = 10 * time.Minute

// Config configures the API.
type Config struct {
	// Fleet is the domain. Required.
	Fleet *fleet.Fleet
	// Telemetry reads reports. Required.
	Telemetry Telemetry
	// Health is pinged by /healthz. Required.
	Health Pinger
	// Publisher sends commands; nil makes /collect, /wipes and /provisions
	// answer 503.
	Publisher Publisher
	// Provisioner renders provisioning bundles; nil makes /provisions
	// answer 501.
	Provisioner Provisioner
	// Backup copies the store for GET /api/v1/backup; nil makes it
	// answer 501.
	Backup Backuper
	// RenderPDF writes a certificate file as PDF; certpdf.Render
	// by default.
	RenderPDF func(w io.Writer, file []byte) error
	// Topics builds device topics.
	Topics wire.Topics
	// CommandKey signs commands. Required.
	CommandKey ed25519.PrivateKey
	// PublicURL is the server's URL as agents reach it, used in join
	// commands: http://valise.example:8080. Required.
	PublicURL string
	// MQTTURL is handed to enrolled agents: tcp://host:1883. Required.
	MQTTURL string
	// CACert is the PEM of the certificate agents pin (the server's CA)
	// when the server speaks TLS: join commands then carry its
	// --ca-pin, enrolment answers carry it, and GET /api/v1/ca.crt serves
	// it. Empty without TLS.
	CACert []byte
	// AgentConfig is handed to enrolled agents; zero fields take 60s and 1h.
	AgentConfig wire.AgentConfig
	// Registerer receives the HTTP metrics and Gatherer serves /metrics;
	// both default to a fresh registry.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Logger, Now and Rand default to a discarding logger, time.Now and
	// crypto/rand.
	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader
}

func (c *Config) setDefaults() {
	if c.AgentConfig.Interval == 0 {
		c.AgentConfig.Interval = wire.Duration(60 * time.Second)
	}
	if c.AgentConfig.InventoryInterval == 0 {
		c.AgentConfig.InventoryInterval = wire.Duration(time.Hour)
	}
	if c.Registerer == nil && c.Gatherer == nil {
		reg := prometheus.NewRegistry()
		c.Registerer, c.Gatherer = reg, reg
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RenderPDF == nil {
		c.RenderPDF = renderPDF
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
}

// Validate reports the first bad field of c.
func (c Config) Validate() error {
	switch {
	case c.Fleet == nil:
		return errors.New("api config: Fleet is required")
	case c.Telemetry == nil:
		return errors.New("api config: Telemetry is required")
	case c.Health == nil:
		return errors.New("api config: Health is required")
	case len(c.CommandKey) != ed25519.PrivateKeySize:
		return errors.New("api config: CommandKey must be an ed25519 private key")
	case c.Registerer == nil || c.Gatherer == nil:
		return errors.New("api config: Registerer and Gatherer go together")
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("api config: PublicURL %q must be an http:// or https:// URL", c.PublicURL)
	}
	if u, err := url.Parse(c.MQTTURL); err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("api config: MQTTURL %q must be a URL such as tcp://host:1883", c.MQTTURL)
	}
	if len(c.CACert) > 0 {
		if _, err := caPin(c.CACert); err != nil {
			return fmt.Errorf("api config: CACert: %v", err)
		}
	}
	if c.AgentConfig.Interval < wire.Duration(time.Second) || c.AgentConfig.InventoryInterval < wire.Duration(time.Second) {
		return errors.New("api config: AgentConfig intervals must be at least 1s")
	}
	return nil
}

// API serves the HTTP API. It is an http.Handler, safe for concurrent use.
type API struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	caPin   string // of cfg.CACert; "" when the server speaks plain HTTP
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// New returns the API's handler.
func New(cfg Config) (*API, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &API{
		cfg: cfg,
		log: cfg.Logger,
		mux: http.NewServeMux(),
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "valise_http_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "valise_http_request_seconds",
			Help:    "Time to answer HTTP requests, by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
	}
	if len(cfg.CACert) > 0 {
		pin, err := caPin(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("api config: CACert: %v", err)
		}
		a.caPin = pin
	}
	for _, c := range []prometheus.Collector{a.reqs, a.latency} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register HTTP metrics: %w", err)
		}
	}
	a.route("POST "+wire.EnrollPath, a.enroll)
	a.route("POST /api/v1/enroll-tokens", a.auth(a.createEnrollToken, fleet.RoleTechnician))
	a.route("GET /api/v1/ca.crt", a.caCert)
	a.route("GET /api/v1/devices", a.auth(a.listDevices, fleet.Roles...))
	a.route("GET /api/v1/devices/{ref}", a.auth(a.showDevice, fleet.Roles...))
	a.route("GET /api/v1/devices/{ref}/history", a.auth(a.history, fleet.Roles...))
	a.route("POST /api/v1/devices/{ref}/collect", a.auth(a.collect, fleet.RoleLogistics, fleet.RoleTechnician))
	a.route("POST /api/v1/wipes", a.auth(a.createWipes, fleet.RoleTechnician))
	a.route("GET /api/v1/wipes", a.auth(a.listWipes, fleet.RoleLogistics, fleet.RoleTechnician))
	a.route("GET /api/v1/wipes/{id}", a.auth(a.showWipe, fleet.RoleLogistics, fleet.RoleTechnician))
	a.route("GET /api/v1/devices/{ref}/certificates", a.auth(a.listCertificates, fleet.Roles...))
	a.route("POST /api/v1/devices/{ref}/certificates/import", a.auth(a.importCertificate, fleet.RoleTechnician))
	a.route("GET /api/v1/certificates/{id}", a.auth(a.showCertificate, fleet.Roles...))
	a.route("GET /api/v1/certificates/{id}/pdf", a.auth(a.certificatePDF, fleet.Roles...))
	a.route("GET /api/v1/server-key", a.serverKey)
	a.route("POST /api/v1/provisions", a.auth(a.createProvision, fleet.RoleTechnician))
	a.route("GET /api/v1/provisions/{id}", a.auth(a.showProvision, fleet.RoleLogistics, fleet.RoleTechnician))
	a.route("GET /api/v1/devices/{ref}/events", a.auth(a.deviceEvents, fleet.Roles...))
	a.route("GET /api/v1/audit", a.auth(a.audit, fleet.RoleLogistics, fleet.RoleTechnician))
	a.route("GET /api/v1/audit/verify", a.auth(a.verifyAudit, fleet.RoleLogistics, fleet.RoleTechnician))
	a.route("POST /api/v1/users", a.auth(a.createUser, fleet.RoleAdmin))
	a.route("GET /api/v1/users", a.auth(a.listUsers, fleet.RoleLogistics))
	a.route("POST /api/v1/users/{ref}/disable", a.auth(a.disableUser, fleet.RoleAdmin))
	a.route("POST /api/v1/venues", a.auth(a.createVenue, fleet.RoleLogistics))
	a.route("GET /api/v1/venues", a.auth(a.listVenues, fleet.Roles...))
	a.route("GET /api/v1/venues/{ref}", a.auth(a.showVenue, fleet.Roles...))
	a.route("POST /api/v1/kits", a.auth(a.createKit, fleet.RoleLogistics))
	a.route("GET /api/v1/kits", a.auth(a.listKits, fleet.Roles...))
	a.route("GET /api/v1/kits/{ref}", a.auth(a.showKit, fleet.Roles...))
	a.route("POST /api/v1/kits/{ref}/devices", a.auth(a.addKitDevices, fleet.RoleLogistics))
	a.route("POST /api/v1/kits/{ref}/devices/remove", a.auth(a.removeKitDevices, fleet.RoleLogistics))
	a.route("POST /api/v1/kits/{ref}/restock", a.auth(a.restockKit, fleet.RoleLogistics))
	a.route("POST /api/v1/kits/{ref}/checkout", a.auth(a.checkout, fleet.RoleMediateur, fleet.RoleLogistics))
	a.route("POST /api/v1/kits/{ref}/checkin", a.auth(a.checkin, fleet.RoleMediateur, fleet.RoleLogistics))
	a.route("GET /api/v1/loans", a.auth(a.listLoans, fleet.Roles...))
	a.route("GET /api/v1/loans/{id}", a.auth(a.showLoan, fleet.Roles...))
	a.route("POST /api/v1/assignments", a.auth(a.assign, fleet.RoleLogistics))
	a.route("POST /api/v1/devices/{ref}/state", a.auth(a.setState, fleet.RoleLogistics, fleet.RoleTechnician))
	a.route("POST /api/v1/import/{kind}", a.auth(a.importCSV, fleet.RoleLogistics))
	a.route("GET /api/v1/export/{kind}", a.auth(a.exportCSV, fleet.RoleLogistics))
	a.route("GET /api/v1/backup", a.auth(a.backup, fleet.RoleAdmin))
	a.route("GET /healthz", a.healthz)
	a.route("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP)
	a.route("/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, fmt.Errorf("%w: no route %s %s", errNoRoute, r.Method, r.URL.Path))
	})
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// route registers h under pattern, counting its requests and latency.
func (a *API) route(pattern string, h http.HandlerFunc) {
	label := pattern
	if label == "/" {
		label = "other"
	}
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h(rec, r)
		a.reqs.WithLabelValues(label, strconv.Itoa(rec.code)).Inc()
		a.latency.WithLabelValues(label).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.code, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type handler func(w http.ResponseWriter, r *http.Request, p fleet.Principal)

// auth checks the bearer token and that its principal holds one of roles
// (an admin holds them all).
func (a *API) auth(h handler, roles ...fleet.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		scheme, token, ok := strings.Cut(authz, " ")
		if authz == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			a.fail(w, r, fmt.Errorf("%w: missing bearer token: send Authorization: Bearer <API token>", fleet.ErrUnauthorized))
			return
		}
		p, err := a.cfg.Fleet.Authenticate(strings.TrimSpace(token))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if !p.Allowed(roles...) {
			a.fail(w, r, fmt.Errorf("%w: role %s may not %s %s", fleet.ErrForbidden, p.Role, r.Method, r.URL.Path))
			return
		}
		h(w, r, p)
	}
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	if err := a.cfg.Health.Ping(); err != nil {
		a.log.Error("health check", "err", err)
		a.fail(w, r, fmt.Errorf("%w: the store does not answer", errUnavailable))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}
