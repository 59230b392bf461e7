package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/valise-numerique/valise/internal/wire"
)

const testDevice = "dtest0000001"

// record is one message seen by the test broker's recorder.
type record struct {
	topic   string
	payload []byte
	retain  bool
}

// broker is a real mochi broker on loopback that records every message
// published under the default prefix.
type broker struct {
	srv  *mochi.Server
	addr string

	mu   sync.Mutex
	msgs []record
	once sync.Once
}

// startBroker starts a broker on addr ("127.0.0.1:0" for any port).
func startBroker(t testing.TB, addr string, hooks ...mochi.Hook) *broker {
	t.Helper()
	srv := mochi.New(&mochi.Options{
		InlineClient: true,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Capabilities: func() *mochi.Capabilities {
			c := mochi.NewDefaultServerCapabilities()
			c.MaximumMessageExpiryInterval = 0
			return c
		}(),
	})
	for _, h := range append([]mochi.Hook{new(auth.AllowHook)}, hooks...) {
		if err := srv.AddHook(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	var l *listeners.TCP
	for i := 0; ; i++ { // the port of a stopped broker may take a moment to free
		l = listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
		err := srv.AddListener(l)
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("listen %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b := &broker{srv: srv, addr: l.Address()}
	err := srv.Subscribe(wire.DefaultPrefix+"/#", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		b.mu.Lock()
		b.msgs = append(b.msgs, record{pk.TopicName, append([]byte(nil), pk.Payload...), pk.FixedHeader.Retain})
		b.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(b.close)
	return b
}

func (b *broker) close() { b.once.Do(func() { b.srv.Close() }) }

func (b *broker) records() []record {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]record(nil), b.msgs...)
}

// retained returns the retained payload of topic, as a new subscriber sees it.
func (b *broker) retained(topic string) string {
	var p string
	for _, pk := range b.srv.Topics.Messages(topic) {
		p = string(pk.Payload)
	}
	return p
}

// envelopes decodes the recorded up messages, in arrival order.
func envelopes(t *testing.T, recs []record) []wire.Envelope {
	t.Helper()
	var out []wire.Envelope
	for _, r := range recs {
		_, ch, err := (wire.Topics{}).Parse(r.topic)
		if err != nil || ch == wire.ChanPresence || ch == wire.ChanCmd {
			continue
		}
		env, err := wire.Decode(r.payload)
		if err != nil {
			t.Fatalf("message on %s does not decode: %v", r.topic, err)
		}
		if env.Kind != ch {
			t.Fatalf("kind %s published on %s", env.Kind, r.topic)
		}
		out = append(out, env)
	}
	return out
}

// proxy forwards TCP connections to a target and can cut them all, like
// a network that drops: the broker sees no DISCONNECT.
type proxy struct {
	l      net.Listener
	target string
	down   atomic.Bool // refuse connections, like a network that is gone
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { l.Close(); p.cut() })
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// testSource is a synthetic Source whose health samples are numbered by
// UptimeSeconds, so a test can tell which collection a report comes from.
type testSource struct {
	invCalls atomic.Uint64
	health   atomic.Uint64
	model    atomic.Value // string: change it to change the inventory
}

func (s *testSource) Inventory(context.Context) wire.Inventory {
	s.invCalls.Add(1)
	m, _ := s.model.Load().(string)
	if m == "" {
		m = "ThinkPad T480"
	}
	return wire.Inventory{
		Class:      wire.ClassLaptop,
		System:     wire.System{Vendor: "LENOVO", Model: m, Serial: "PF1ABCDE", UUID: "4c4c4544-0042-3510-8052-b4c04f4e3332"},
		Collectors: []wire.CollectorRun{{Name: "dmi", DurationMS: float64(time.Now().UnixNano() % 100)}},
	}
}

func (s *testSource) Health(context.Context) wire.Health {
	return wire.Health{UptimeSeconds: s.health.Add(1)}
}

func (s *testSource) Net(context.Context) wire.Net {
	return wire.Net{DefaultRoute: "wlan0"}
}

// newCommandKey returns a signing key for test commands.
func newCommandKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// writeState enrols testDevice in a fresh state dir, as Enroll would.
func writeState(t testing.TB, mqttAddr string, key ed25519.PrivateKey) string {
	t.Helper()
	dir := t.TempDir()
	st := State{
		Server:     "http://127.0.0.1:1",
		DeviceID:   testDevice,
		AssetTag:   "VAL-0001",
		Class:      wire.ClassLaptop,
		MQTTURL:    "tcp://" + mqttAddr,
		Username:   testDevice,
		Password:   "secret",
		CommandKey: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
		Config:     wire.AgentConfig{Interval: wire.Duration(time.Hour), InventoryInterval: wire.Duration(time.Hour)},
	}
	if err := SaveState(dir, st); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testConfig is a Config with quick reconnections and a silent logger.
func testConfig(dir string, src Source) Config {
	return Config{
		StateDir:       dir,
		Source:         src,
		Backoff:        Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		ConnectTimeout: 2 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// startAgent runs the agent until the returned stop is called (also at
// cleanup); stop returns Run's error.
func startAgent(t *testing.T, cfg Config) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				err = errors.New("agent did not stop within 20 s")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// withholder is a broker hook that, while on, withholds the PUBACK of
// every health report and does not deliver it, as a server that cannot
// store it does.
type withholder struct {
	mochi.HookBase
	on       atomic.Bool
	withheld atomic.Int64
}

func (h *withholder) ID() string { return "withholder" }

func (h *withholder) Provides(b byte) bool { return b == mochi.OnPublish }

func (h *withholder) OnPublish(_ *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if h.on.Load() && strings.HasSuffix(pk.TopicName, "/health") {
		h.withheld.Add(1)
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}
