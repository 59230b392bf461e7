package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"
	_ "time/tzdata" // the fleet's time zone, on machines without a zoneinfo database

	"github.com/valise-numerique/valise/internal/wire"
)

// Defaults of Config.
const (
	DefaultDataDir         = "valise-data"
	DefaultHTTPAddr        = "127.0.0.1:8080"
	DefaultMQTTAddr        = "127.0.0.1:1883"
	DefaultMQTTClientID    = "valise-server"
	DefaultTimeZone        = "Europe/Paris"
	DefaultShutdownTimeout = 10 * time.Second
)

// Config configures a Server. Zero fields take the defaults above.
type Config struct {
	// DataDir holds the store (valise.db), admin.token, command.key and
	// mqtt.password. It is created with mode 0700.
	DataDir string
	// HTTPAddr is where the API listens; port 0 picks a free one.
	HTTPAddr string
	// MQTTAddr is where the embedded broker listens; port 0 picks a free
	// one. Unused with MQTTURL.
	MQTTAddr string
	// MQTTURL, when set, is an external broker (tcp://host:1883,
	// ssl://host:8883) the server consumes from instead of running its
	// own; agents are told to connect there.
	MQTTURL string
	// MQTTClientID, MQTTUsername and MQTTPassword are the server's account
	// on the external broker; the client id keeps its persistent session.
	MQTTClientID, MQTTUsername, MQTTPassword string
	// PublicURL is the server's API as agents reach it, for join commands;
	// by default http:// and the HTTP listener's address (this host's name
	// when it listens on every interface).
	PublicURL string
	// TLS forces HTTPS and MQTT over TLS on loopback listeners too. Without
	// it, each listener (HTTP, embedded broker) speaks TLS exactly when its
	// address is not on loopback (0.0.0.0, a LAN address, a host name).
	// Unless given TLSCertFile, the server serves a certificate of its own
	// CA (see setupTLS) and join commands carry the CA's pin.
	TLS bool
	// TLSCertFile and TLSKeyFile are a PEM certificate chain (leaf first)
	// and its key, served instead of the server's own; they turn TLS on.
	// Agents then pin the last certificate of the file: the root if the
	// file ends with it, else its last intermediate, or the leaf itself
	// when the file holds only the leaf (a new pin at each renewal). The
	// files are read at start: restart the server after renewing them.
	//
	// Agents use the pinned certificate as the only root for MQTT over TLS
	// too: an external ssl:// broker (MQTTURL) must serve a certificate
	// that chains to it.
	TLSCertFile, TLSKeyFile string
	// TopicPrefix is the MQTT topic prefix; wire.DefaultPrefix by default.
	TopicPrefix string
	// AgentInterval and AgentInventoryInterval are handed to agents at
	// enrolment; 60s and 1h by default.
	AgentInterval, AgentInventoryInterval time.Duration
	// ProfilesDir, when set, holds the provisioning profiles (*.toml)
	// instead of the built-in ones.
	ProfilesDir string
	// KitWiFiSSID and KitWiFiKey are the network laptops and tablets are
	// provisioned to join (the kits' hotspots); without them provisioning
	// those classes is refused with a message saying so.
	KitWiFiSSID, KitWiFiKey string
	// MaxBatch is the most messages per ingest commit; ingest's default if 0.
	MaxBatch int
	// ShutdownTimeout bounds the wait for HTTP requests in flight.
	ShutdownTimeout time.Duration
	// Logger is the server's log; slog.Default() if nil.
	Logger *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// TimeZone names the zone of dates in the fleet's messages ("needs_wipe
	// since return on 12 Nov"); Europe/Paris by default.
	TimeZone string
}

func (c *Config) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.DataDir, DefaultDataDir)
	def(&c.HTTPAddr, DefaultHTTPAddr)
	def(&c.MQTTAddr, DefaultMQTTAddr)
	def(&c.MQTTClientID, DefaultMQTTClientID)
	def(&c.TopicPrefix, wire.DefaultPrefix)
	def(&c.TimeZone, DefaultTimeZone)
	if c.AgentInterval == 0 {
		c.AgentInterval = time.Minute
	}
	if c.AgentInventoryInterval == 0 {
		c.AgentInventoryInterval = time.Hour
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports the first bad field of c, after defaults.
func (c Config) Validate() error {
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		return fmt.Errorf("server config: time zone %q: %v", c.TimeZone, err)
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("server config: HTTPAddr %q: %v", c.HTTPAddr, err)
	}
	if c.MQTTURL == "" {
		if _, _, err := net.SplitHostPort(c.MQTTAddr); err != nil {
			return fmt.Errorf("server config: MQTTAddr %q: %v", c.MQTTAddr, err)
		}
	} else {
		u, err := url.Parse(c.MQTTURL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("server config: MQTTURL %q is not a URL such as tcp://host:1883", c.MQTTURL)
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
		default:
			return fmt.Errorf("server config: MQTTURL %q: scheme must be tcp, ssl, ws or wss", c.MQTTURL)
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("server config: PublicURL %q is not an http:// or https:// URL", c.PublicURL)
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("server config: TLSCertFile and TLSKeyFile go together")
	}
	if c.TopicPrefix == "" || len(c.TopicPrefix) > 128 {
		return errors.New("server config: TopicPrefix must be 1 to 128 characters")
	}
	for _, r := range c.TopicPrefix {
		if r == '+' || r == '#' || r == 0 {
			return fmt.Errorf("server config: TopicPrefix %q holds an MQTT wildcard", c.TopicPrefix)
		}
	}
	if c.AgentInterval < time.Second || c.AgentInventoryInterval < time.Second {
		return errors.New("server config: AgentInterval and AgentInventoryInterval must be at least 1s")
	}
	if c.MaxBatch < 0 || c.ShutdownTimeout < 0 {
		return errors.New("server config: MaxBatch and ShutdownTimeout must not be negative")
	}
	return nil
}
