package broker

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/valise-numerique/valise/internal/wire"
)

// ExternalConfig configures the consumer of an external broker.
type ExternalConfig struct {
	// URL is the broker, "tcp://host:1883" or "ssl://host:8883". Required.
	URL string
	// ClientID is the server's fixed client id: the broker keeps the
	// session, and the messages queued for it, under this id. Required.
	ClientID           string
	Username, Password string
	TLS                *tls.Config
	Topics             wire.Topics
	// Sink stores the messages. Required.
	Sink Sink
	// Registerer receives the consumer's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports the first field of c that is unusable.
func (c ExternalConfig) Validate() error {
	switch {
	case c.URL == "":
		return fmt.Errorf("%w: URL is required", ErrConfig)
	case c.ClientID == "":
		return fmt.Errorf("%w: ClientID is required (the broker keeps the session under it)", ErrConfig)
	case c.Sink == nil:
		return fmt.Errorf("%w: Sink is required", ErrConfig)
	}
	return nil
}

// publishTimeout bounds the wait for a publish's PUBACK; closeTimeout the
// wait for messages being stored when closing.
const (
	publishTimeout = 10 * time.Second
	closeTimeout   = 10 * time.Second
)

// External consumes the devices' messages from an existing MQTT broker
// (Mosquitto, EMQX, HiveMQ, VerneMQ) as one persistent session; that broker
// does authentication and ACLs.
//
// What the external broker must do, since the server cannot check it:
//
//   - enforce per-device ACLs: a device may publish only on
//     {prefix}/dev/{its id}/{inventory,health,net,event,presence} and
//     subscribe only to {prefix}/dev/{its id}/cmd. The server trusts the
//     device id in the topic (and checks that the envelope names the same).
//   - keep the server's session: messages that arrive while the server is
//     down are queued for its persistent session (clean session false,
//     fixed client id) and delivered when it comes back. Mosquitto's
//     max_queued_messages (default 1000) silently DROPS QoS 1 messages
//     queued beyond it for a slow or absent consumer: set it to 0
//     (unlimited) or to more than the fleet sends while the server may be
//     down, and bound memory with max_queued_bytes instead. Raise
//     max_inflight_messages (default 20) too: the server acknowledges in
//     batches, and 20 in flight caps its rate at 20 per commit.
//
// Each message is acknowledged (PUBACK) only once the Sink returned: stored,
// duplicate or refused. A message the Sink could not store is not
// acknowledged, and the broker sends it again after the next reconnect.
type External struct {
	cfg       ExternalConfig
	client    paho.Client
	ctx       context.Context
	cancel    context.CancelFunc
	connected prometheus.Gauge
	log       *logOnce

	mu         sync.Mutex
	busy       int           // handlers storing a message now
	closing    bool          // Close was called: take no more messages
	idle       chan struct{} // closed when closing and busy is 0
	ready      chan struct{} // closed once the first subscription is confirmed
	subscribed sync.Once
}

// NewExternal builds the consumer; Start connects it.
func NewExternal(cfg ExternalConfig) (*External, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &External{
		cfg: cfg, ctx: ctx, cancel: cancel, log: newLogOnce(cfg.Logger), idle: make(chan struct{}), ready: make(chan struct{}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "valise_mqtt_external_connected",
			Help: "1 while the server's session with the external broker is up.",
		}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(e.connected); err != nil {
			return nil, fmt.Errorf("register external broker metrics: %w", err)
		}
	}
	filter := cfg.Topics.UpFilter()
	opts := paho.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(false).
		SetProtocolVersion(4).
		SetOrderMatters(false). // handlers run concurrently: they batch in the Sink
		SetAutoAckDisabled(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(time.Minute).
		SetDefaultPublishHandler(e.handle).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			e.connected.Set(0)
			cfg.Logger.Warn("lost the external mqtt broker; reconnecting", "url", cfg.URL, "err", err)
		}).
		SetOnConnectHandler(func(c paho.Client) {
			// The session may already hold the subscription; subscribing
			// again is harmless and covers a broker that lost it. The
			// consumer counts as connected once the broker confirmed it.
			t := c.Subscribe(filter, 1, e.handle)
			go func() {
				if !t.WaitTimeout(publishTimeout) || t.Error() != nil {
					cfg.Logger.Error("subscribe on the external mqtt broker", "filter", filter, "err", t.Error())
					return
				}
				e.connected.Set(1)
				e.subscribed.Do(func() { close(e.ready) })
			}()
		})
	if cfg.TLS != nil {
		opts.SetTLSConfig(cfg.TLS)
	}
	e.client = paho.NewClient(opts)
	return e, nil
}

// Start connects to the broker and returns once connected and subscribed,
// or when ctx ends. After that, it reconnects by itself until Close.
func (e *External) Start(ctx context.Context) error {
	e.cfg.Logger.Info("consuming from an external mqtt broker; it must enforce per-device ACLs, and Mosquitto's max_queued_messages must be 0 or large enough (see package broker)",
		"url", e.cfg.URL, "client_id", e.cfg.ClientID)
	t := e.client.Connect()
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("connect to %s: %w", e.cfg.URL, err)
		}
	case <-ctx.Done():
		return fmt.Errorf("connect to %s: %w", e.cfg.URL, ctx.Err())
	}
	select {
	case <-e.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("subscribe to %s on %s: %w", e.cfg.Topics.UpFilter(), e.cfg.URL, ctx.Err())
	}
}

// handle stores one message and acknowledges it unless storing failed.
func (e *External) handle(_ paho.Client, m paho.Message) {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return // not acknowledged: delivered again to the next session
	}
	e.busy++
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		if e.busy--; e.busy == 0 && e.closing {
			close(e.idle)
		}
		e.mu.Unlock()
	}()
	if _, ch, err := e.cfg.Topics.Parse(m.Topic()); err == nil && ch == wire.ChanCmd {
		m.Ack() // a command (ours) matched by the up filter: not for us
		return
	}
	err := e.cfg.Sink.Submit(e.ctx, "", m.Topic(), m.Payload())
	if err != nil && wire.Reason(err) == "other" {
		// Not stored: no PUBACK, the broker resends after reconnecting.
		e.log.error("store:"+m.Topic(), "message not stored, not acknowledged", "topic", m.Topic(), "err", err)
		return
	}
	m.Ack()
}

// Publish sends payload on topic at QoS 1 and waits for the broker's PUBACK.
func (e *External) Publish(topic string, payload []byte, retain bool) error {
	if !e.client.IsConnectionOpen() {
		return fmt.Errorf("publish on %s: %w", topic, ErrNotConnected)
	}
	t := e.client.Publish(topic, 1, retain, payload)
	if !t.WaitTimeout(publishTimeout) {
		return fmt.Errorf("publish on %s: no PUBACK within %s", topic, publishTimeout)
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("publish on %s: %w", topic, err)
	}
	return nil
}

// Close stops taking messages, lets those being stored finish (for at most
// closeTimeout), and disconnects. Messages not acknowledged by then are
// delivered again to the next session and deduplicated.
func (e *External) Close() error {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return nil
	}
	e.closing = true
	if e.busy == 0 {
		close(e.idle)
	}
	e.mu.Unlock()
	select {
	case <-e.idle:
	case <-time.After(closeTimeout):
	}
	// paho may still hold acknowledgements given to it. An UNSUBSCRIBE
	// travels the same way, after them, and the broker answers packets of
	// a connection in order: once it answered, they are through.
	if e.client.IsConnectionOpen() {
		e.client.Unsubscribe(e.cfg.Topics.Device("_flush", wire.ChanCmd)).WaitTimeout(closeTimeout)
	}
	e.client.Disconnect(250)
	e.cancel()
	e.connected.Set(0)
	return nil
}
