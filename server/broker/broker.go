// Package broker runs the MQTT side of the server: the embedded mochi-mqtt
// broker (New) or a consumer of an external broker (NewExternal). No mochi
// or paho type leaves this package.
//
// Embedded, the broker authenticates every connection (per-device
// credentials through an Authenticator, the server's own account, nothing
// anonymous), lets a device publish only its own up topics and subscribe only
// its own cmd topic, and hands each device message to the Sink inside
// mochi's OnPublish hook, which runs before the PUBACK. The PUBACK is sent
// only once the message is on disk, so a PUBACK means durable. With an
// AsyncSink, OnPublish queues the message and returns without a PUBACK, and
// a small per-client acker sends the PUBACKs, in order, as the commits
// complete: a client may then have up to 32 messages being stored at once,
// which lets the group commit gather large batches; a plain Sink holds the
// client's connection for one commit per message.
//
// A device that publishes where it may not is never disconnected for it: an
// MQTT 3.1.1 client cannot be told "not authorised" for a QoS 1 publish, and
// paho would resend the message after every reconnect, forever. Such
// messages are acknowledged and dropped, counted and logged once per device.
// The same holds for payloads the Sink refuses. Only when storing fails is
// the PUBACK withheld, so that the agent sends the message again.
package broker

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/valise-numerique/valise/internal/wire"
)

// Authenticator checks a device's MQTT credentials (server/fleet).
type Authenticator interface {
	// AuthenticateDevice returns the device id that username and password
	// belong to, and false if they belong to none.
	AuthenticateDevice(username, password string) (deviceID string, ok bool)
}

// Sink receives device messages and presence changes (*ingest.Ingester).
// Submit returns nil once the message is stored (or is a duplicate), an
// error wrapping a wire sentinel for a refused message, and any other error
// when it could not store the message.
type Sink interface {
	Submit(ctx context.Context, authDevice, topic string, payload []byte) error
	SetPresence(device string, online bool, at time.Time) error
}

// AsyncSink is a Sink that can acknowledge later (*ingest.Ingester):
// SubmitAsync refuses a bad message at once, or queues it and calls done
// after its commit. The broker then stores many messages of one client at
// once and sends each PUBACK from the commit, instead of holding the
// client's connection for one commit per message.
type AsyncSink interface {
	Sink
	SubmitAsync(authDevice, topic string, payload []byte, done func(error)) error
}

// offliner is a Sink that can mark every device offline at once
// (*ingest.Ingester): the embedded broker does so when it starts, since no
// device is connected to it yet.
type offliner interface {
	MarkAllOffline(at time.Time) (int, error)
}

// Defaults of the embedded broker.
const (
	// MaxPacket is the largest MQTT packet accepted: a maximal payload
	// plus room for the topic and headers. Larger packets end the
	// connection (mochi cannot skip them).
	MaxPacket = wire.MaxPayload + 16<<10
	// clientWritesPending bounds each client's outbound queue: agents
	// receive few messages, and this is the bulk of a connection's memory.
	clientWritesPending = 64
	// receiveMaximum bounds the QoS 1 messages a client may have in flight.
	receiveMaximum = 256
	// maxLogged bounds the set of (client, reason) pairs already logged.
	maxLogged = 10000
	// clientInflight bounds the messages of one client being stored at
	// once through an AsyncSink; past it the client's reading waits.
	clientInflight = 32
)

// Config configures the embedded broker.
type Config struct {
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:1883";
	// ":0" picks a free port (see Broker.Addr).
	Addr string
	// TLS, if set, makes the listener speak MQTT over TLS.
	TLS *tls.Config
	// Topics is the topic layout.
	Topics wire.Topics
	// Auth checks device credentials. Required.
	Auth Authenticator
	// Sink stores device messages. Required.
	Sink Sink
	// ServerUsername and ServerPassword are the server's own account: it
	// may subscribe to everything and publish anywhere, and its messages
	// are not ingested. Empty disables the account.
	ServerUsername, ServerPassword string
	// Registerer receives the broker metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger logs refusals (once per client and reason); nil means
	// slog.Default(). mochi's own messages are logged at warning and above.
	Logger *slog.Logger
	// Now stamps presence changes; nil means time.Now.
	Now func() time.Time
}

// Validate reports the first field of c that is unusable.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return fmt.Errorf("%w: Addr is required", ErrConfig)
	case c.Auth == nil:
		return fmt.Errorf("%w: Auth is required", ErrConfig)
	case c.Sink == nil:
		return fmt.Errorf("%w: Sink is required", ErrConfig)
	case c.ServerUsername != "" && c.ServerPassword == "":
		return fmt.Errorf("%w: ServerPassword is required with ServerUsername", ErrConfig)
	}
	return nil
}

// Broker is the embedded MQTT broker.
type Broker struct {
	cfg      Config
	srv      *mqtt.Server
	listener *listeners.TCP
	m        brokerMetrics
	log      *logOnce

	ackers sync.Map // *mqtt.Client -> *acker, for an AsyncSink

	mu      sync.Mutex
	current map[string]*mqtt.Client // device id -> its live connection
	started bool
	closed  bool
}

// New builds the embedded broker; Start makes it listen.
func New(cfg Config) (*Broker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumMessageExpiryInterval = 0 // keep queued commands and retained presence
	caps.MaximumPacketSize = MaxPacket
	caps.MaximumClientWritesPending = clientWritesPending
	caps.ReceiveMaximum = receiveMaximum
	caps.MaximumInflight = 1024
	srv := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		InlineClient: true,
		Logger:       slog.New(minLevel{cfg.Logger.Handler(), slog.LevelWarn}).With("component", "mqtt"),
	})
	b := &Broker{
		cfg:     cfg,
		srv:     srv,
		m:       newBrokerMetrics(),
		log:     newLogOnce(cfg.Logger),
		current: make(map[string]*mqtt.Client),
	}
	if cfg.Registerer != nil {
		if err := b.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("register broker metrics: %w", err)
		}
	}
	if err := srv.AddHook(&hook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("add broker hook: %w", err)
	}
	b.listener = listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "mqtt", Address: cfg.Addr, TLSConfig: cfg.TLS})
	return b, nil
}

// Start marks every device offline (if the Sink can: none is connected
// yet), listens on Config.Addr and serves clients in the background.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started || b.closed {
		return fmt.Errorf("start broker: %w", ErrStarted)
	}
	if o, ok := b.cfg.Sink.(offliner); ok {
		n, err := o.MarkAllOffline(b.cfg.Now())
		if err != nil {
			return fmt.Errorf("start broker: %w", err)
		}
		if n > 0 {
			b.cfg.Logger.Info("devices marked offline until they reconnect", "devices", n)
		}
	}
	if err := b.srv.AddListener(b.listener); err != nil {
		return fmt.Errorf("listen on %s: %w", b.cfg.Addr, err)
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("serve mqtt: %w", err)
	}
	b.started = true
	return nil
}

// Addr returns the address the broker listens on (host:port), once started.
func (b *Broker) Addr() string { return b.listener.Address() }

// Publish sends payload on topic at QoS 1 to the subscribers, queuing it for
// disconnected persistent sessions (commands for offline agents). retain
// keeps it as the topic's retained message.
func (b *Broker) Publish(topic string, payload []byte, retain bool) error {
	if err := b.srv.Publish(topic, payload, retain, 1); err != nil {
		return fmt.Errorf("publish on %s: %w", topic, err)
	}
	return nil
}

// Close disconnects every client, marking devices offline through the
// Sink, and stops. Close the broker before the Sink.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	started := b.started
	b.mu.Unlock()
	if !started {
		return nil
	}
	return b.srv.Close()
}

// hook connects mochi to the broker.
type hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *hook) ID() string { return "valise" }

func (h *hook) Provides(x byte) bool {
	switch x {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish,
		mqtt.OnSessionEstablished, mqtt.OnDisconnect:
		return true
	}
	return false
}

func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	b := h.b
	user, pass := string(cl.Properties.Username), string(pk.Connect.Password)
	remote := cl.Net.Remote
	if user == "" {
		b.m.authFailures.Inc()
		b.log.warn("anonymous:"+remote, "mqtt connection refused: anonymous", "client", cl.ID, "remote", remote)
		return false
	}
	if b.cfg.ServerUsername != "" && user == b.cfg.ServerUsername {
		if subtle.ConstantTimeCompare([]byte(pass), []byte(b.cfg.ServerPassword)) != 1 {
			b.m.authFailures.Inc()
			b.log.warn("server:"+remote, "mqtt connection refused: bad password for the server account", "remote", remote)
			return false
		}
		return true
	}
	dev, ok := b.cfg.Auth.AuthenticateDevice(user, pass)
	if !ok {
		b.m.authFailures.Inc()
		b.log.warn("creds:"+user, "mqtt connection refused: unknown credentials", "username", user, "remote", remote)
		return false
	}
	if cl.ID != dev {
		// A device may only hold its own session: another client id could
		// take over another device's session and read its commands.
		b.m.authFailures.Inc()
		b.log.warn("clientid:"+dev, "mqtt connection refused: client id is not the device id", "device", dev, "client", cl.ID)
		return false
	}
	return true
}

// device returns the device a client is, or "" for the server's account
// and the broker's own inline client. mochi keeps only clients that passed
// OnConnectAuthenticate, which made sure that a device's client id is its
// device id; so this holds for the sessions of disconnected clients too.
func (b *Broker) device(cl *mqtt.Client) string {
	if cl.Net.Inline || (b.cfg.ServerUsername != "" && string(cl.Properties.Username) == b.cfg.ServerUsername) {
		return ""
	}
	return cl.ID
}

func (h *hook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	b := h.b
	dev := b.device(cl)
	if dev == "" {
		return
	}
	b.mu.Lock()
	b.current[dev] = cl
	b.m.connected.Set(float64(len(b.current)))
	b.mu.Unlock()
	if err := b.cfg.Sink.SetPresence(dev, true, b.cfg.Now()); err != nil {
		b.cfg.Logger.Error("record presence", "device", dev, "err", err)
	}
}

func (h *hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	b := h.b
	if errors.Is(err, packets.ErrPacketTooLarge) {
		b.m.tooLarge.Inc()
		b.log.warn("large:"+cl.ID, "mqtt client disconnected: packet too large", "client", cl.ID, "limit", MaxPacket)
	}
	// The client's acker, if any, finishes its pending PUBACKs (the writes
	// fail harmlessly) and is then dropped with the client.
	b.ackers.Delete(cl)
	dev := b.device(cl)
	b.mu.Lock()
	last := dev != "" && b.current[dev] == cl
	if last {
		delete(b.current, dev)
		b.m.connected.Set(float64(len(b.current)))
	}
	b.mu.Unlock()
	if !last {
		// The server's account, a connection refused at CONNECT, or a
		// session taken over by a newer connection of the same device.
		return
	}
	if err := b.cfg.Sink.SetPresence(dev, false, b.cfg.Now()); err != nil {
		b.cfg.Logger.Error("record presence", "device", dev, "err", err)
	}
}

// OnACLCheck allows every publish (OnPublish filters them, without
// disconnecting) and lets a device subscribe to, and receive, only its own
// cmd topic.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return true
	}
	dev := h.b.device(cl)
	if dev == "" || topic == h.b.cfg.Topics.Device(dev, wire.ChanCmd) {
		return true
	}
	h.b.m.aclDenied.Inc()
	h.b.log.warn("sub:"+dev, "mqtt subscription refused: a device may only subscribe to its cmd topic", "device", dev, "filter", topic)
	return false
}

func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	b := h.b
	dev := b.device(cl)
	if dev == "" {
		return pk, nil // the server's own account, or Broker.Publish
	}
	id, ch, err := b.cfg.Topics.Parse(pk.TopicName)
	if err != nil || id != dev || !ch.Up() {
		b.m.aclDenied.Inc()
		b.log.warn("pub:"+dev, "mqtt publish dropped: a device may only publish on its own up topics", "device", dev, "topic", pk.TopicName)
		if _, ok := b.cfg.Sink.(AsyncSink); ok && pk.FixedHeader.Qos == 1 {
			// Acknowledged by the acker, after the client's earlier messages.
			a := b.acker(cl)
			a.slots <- struct{}{}
			a.push(ack{id: pk.PacketID, drop: true})
			return pk, packets.ErrRejectPacket
		}
		return pk, packets.CodeSuccessIgnore
	}
	if as, ok := b.cfg.Sink.(AsyncSink); ok && pk.FixedHeader.Qos == 1 && ch != wire.ChanPresence {
		b.submitAsync(as, cl, dev, pk)
		return pk, packets.ErrRejectPacket // no PUBACK now: the acker sends it
	}
	// QoS 0, presence (retained: mochi keeps it), or a Sink that blocks.
	err = b.cfg.Sink.Submit(context.Background(), dev, pk.TopicName, pk.Payload)
	switch {
	case err == nil:
		return pk, nil
	case wire.Reason(err) != "other":
		// Refused payload, counted and logged by the Sink: acknowledge and
		// drop it, or the agent would resend it forever.
		return pk, packets.CodeSuccessIgnore
	default:
		// Not stored (the Sink logs why): withhold the PUBACK so that the
		// agent keeps the message and sends it again.
		return pk, packets.ErrRejectPacket
	}
}

// submitAsync queues a QoS 1 message; its PUBACK is sent by the client's
// acker once the message is stored, or at once (in order) if it is refused.
func (b *Broker) submitAsync(as AsyncSink, cl *mqtt.Client, dev string, pk packets.Packet) {
	a := b.acker(cl)
	a.slots <- struct{}{} // waits while clientInflight messages are pending
	k := ack{id: pk.PacketID, topic: pk.TopicName, payload: pk.Payload}
	err := as.SubmitAsync(dev, pk.TopicName, pk.Payload, func(err error) {
		k.err = err
		a.push(k)
	})
	switch {
	case err == nil:
	case wire.Reason(err) != "other":
		// Refused, counted and logged by the Sink: acknowledge and drop.
		a.push(ack{id: pk.PacketID, drop: true})
	default:
		<-a.slots // not stored: no PUBACK, the agent sends it again
	}
}

// acker sends one client's PUBACKs, in the order of its publishes, as
// their commits complete, and forwards stored messages to subscribers.
// Writing to a client can block (a device that stops reading), so it is
// never done by the committer: push only queues, and a goroutine of the
// client's own writes, running only while there is something to write,
// does the rest. An idle client costs no goroutine.
type acker struct {
	b     *Broker
	cl    *mqtt.Client
	slots chan struct{} // one per message pending, taken by the client's reader

	mu      sync.Mutex
	queue   []ack
	running bool // a goroutine is draining queue
}

type ack struct {
	id      uint16
	err     error
	drop    bool // refused: acknowledge, do not forward
	topic   string
	payload []byte
}

// acker returns cl's acker, making it on first use. Only cl's own reading
// goroutine calls it, so two are never made for one client.
func (b *Broker) acker(cl *mqtt.Client) *acker {
	if a, ok := b.ackers.Load(cl); ok {
		return a.(*acker)
	}
	a := &acker{b: b, cl: cl, slots: make(chan struct{}, clientInflight)}
	b.ackers.Store(cl, a)
	return a
}

// push queues k and makes sure a goroutine drains the queue. It never
// blocks for long: the committer calls it.
func (a *acker) push(k ack) {
	a.mu.Lock()
	a.queue = append(a.queue, k)
	start := !a.running
	a.running = true
	a.mu.Unlock()
	if start {
		go a.drain()
	}
}

// drain writes what is queued, in order, until the queue is empty.
func (a *acker) drain() {
	var batch []ack
	for {
		a.mu.Lock()
		if len(a.queue) == 0 {
			a.running = false
			a.mu.Unlock()
			return
		}
		batch, a.queue = a.queue, batch[:0]
		a.mu.Unlock()
		for _, k := range batch {
			if k.err == nil { // else not stored: no PUBACK, the agent sends it again
				// A failed write means a lost connection: the agent
				// resends and the message is a duplicate.
				_ = a.cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: k.id})
				if !k.drop {
					_ = a.b.srv.Publish(k.topic, k.payload, false, 1)
				}
			}
			<-a.slots
		}
		clear(batch) // drop payload references
	}
}
