package broker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/ingest"
	"github.com/valise-numerique/valise/server/store"
)

var (
	t0     = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	topics wire.Topics
)

// waitFor bounds every wait of these tests.
const waitFor = 10 * time.Second

// testAuth accepts username "dev-NN" with password "pw-dev-NN".
type testAuth struct{}

func (testAuth) AuthenticateDevice(user, pass string) (string, bool) {
	if strings.HasPrefix(user, "dev-") && pass == "pw-"+user {
		return user, true
	}
	return "", false
}

type rig struct {
	b   *Broker
	ing *ingest.Ingester
	st  *store.Store
	reg *prometheus.Registry
}

func startRig(t testing.TB, path string) *rig {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "valise.db")
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{st: st, reg: prometheus.NewRegistry()}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.ing, err = ingest.New(ingest.Config{Store: st, Registerer: r.reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r.b, err = New(Config{
		Addr: "127.0.0.1:0", Auth: testAuth{}, Sink: r.ing, Registerer: r.reg, Logger: quiet,
		ServerUsername: "valise-server", ServerPassword: "server-secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.b.Close()
		r.ing.Close()
		st.Close()
	})
	return r
}

// counter sums every series of a metric family in reg.
func counter(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func clientOpts(addr, id, user, pass string) *paho.ClientOptions {
	return paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetUsername(user).SetPassword(pass).SetProtocolVersion(4).
		SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(false).
		SetConnectTimeout(waitFor)
}

func connect(t testing.TB, opts *paho.ClientOptions) (paho.Client, error) {
	t.Helper()
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(waitFor) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func device(t testing.TB, addr, dev string) paho.Client {
	t.Helper()
	c, err := connect(t, clientOpts(addr, dev, dev, "pw-"+dev))
	if err != nil {
		t.Fatalf("connect %s: %v", dev, err)
	}
	return c
}

func publish(t testing.TB, c paho.Client, topic string, payload []byte) error {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(waitFor) {
		return errors.New("no PUBACK in time")
	}
	return tok.Error()
}

func healthPayload(t testing.TB, dev string, seq uint64) []byte {
	t.Helper()
	charge, health := 50.0, 80.0
	return envelope(t, dev, seq, wire.ChanHealth, &wire.Health{
		Batteries: []wire.Battery{{Name: "BAT0", ChargePercent: &charge, HealthPercent: &health}},
	})
}

func envelope(t testing.TB, dev string, seq uint64, kind wire.Channel, body any) []byte {
	t.Helper()
	e, err := wire.NewEnvelope(dev, seq, t0.Add(time.Duration(seq)*time.Minute), kind, body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventually polls cond until it holds, for at most waitFor.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitFor); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestDevicePublishIsStoredBeforePuback(t *testing.T) {
	r := startRig(t, "")
	c := device(t, r.b.Addr(), "dev-01")
	if err := publish(t, c, topics.Device("dev-01", wire.ChanHealth), healthPayload(t, "dev-01", 1)); err != nil {
		t.Fatal(err)
	}
	// No waiting: the PUBACK came after the commit.
	body, _, err := r.st.Latest("dev-01", wire.ChanHealth)
	if err != nil {
		t.Fatalf("Latest right after PUBACK: %v", err)
	}
	if !bytes.Contains(body, []byte(`"BAT0"`)) {
		t.Errorf("stored body %s", body)
	}
	sum, err := r.st.Summary("dev-01")
	if err != nil || !sum.Online {
		t.Errorf("summary after connect: %+v, %v", sum, err)
	}
	if got := counter(t, r.reg, "valise_mqtt_connected_agents"); got != 1 {
		t.Errorf("connected agents = %v, want 1", got)
	}
	c.Disconnect(0)
	eventually(t, "offline presence", func() bool {
		sum, err := r.st.Summary("dev-01")
		return err == nil && !sum.Online
	})
	if got := counter(t, r.reg, "valise_mqtt_connected_agents"); got != 0 {
		t.Errorf("connected agents after disconnect = %v, want 0", got)
	}
}

// Every kind of bad input is refused and counted, the sender is not
// disconnected for it (except for an oversized packet), and a well-behaved
// device keeps being served all along.
func TestBadInputRefusedAndCounted(t *testing.T) {
	r := startRig(t, "")
	addr := r.b.Addr()
	good := device(t, addr, "dev-02")
	goodSeq := uint64(0)
	goodPublishes := func() {
		t.Helper()
		goodSeq++
		if err := publish(t, good, topics.Device("dev-02", wire.ChanHealth), healthPayload(t, "dev-02", goodSeq)); err != nil {
			t.Fatalf("well-behaved device: %v", err)
		}
	}
	health := healthPayload(t, "dev-01", 1)
	tests := []struct {
		name    string
		topic   string
		payload []byte
		metric  string
		labels  []string
	}{
		{"garbage", topics.Device("dev-01", wire.ChanHealth), []byte("\x00garbage\xff"), "valise_ingest_rejected_total", []string{"reason", "malformed"}},
		{"truncated json", topics.Device("dev-01", wire.ChanHealth), health[:len(health)-10], "valise_ingest_rejected_total", []string{"reason", "malformed"}},
		{"unknown version", topics.Device("dev-01", wire.ChanHealth), bytes.Replace(health, []byte(`"v":1`), []byte(`"v":2`), 1), "valise_ingest_rejected_total", []string{"reason", "version"}},
		{"over the payload limit", topics.Device("dev-01", wire.ChanHealth), make([]byte, wire.MaxPayload+100), "valise_ingest_rejected_total", []string{"reason", "too_large"}},
		{"envelope of another device", topics.Device("dev-01", wire.ChanHealth), healthPayload(t, "dev-02", 99), "valise_ingest_rejected_total", []string{"reason", "wrong_device"}},
		{"another device's topic", topics.Device("dev-02", wire.ChanHealth), healthPayload(t, "dev-02", 98), "valise_mqtt_acl_denied_total", nil},
		{"a cmd topic", topics.Device("dev-01", wire.ChanCmd), []byte("{}"), "valise_mqtt_acl_denied_total", nil},
		{"outside the prefix", "elsewhere/x", []byte("{}"), "valise_mqtt_acl_denied_total", nil},
	}
	bad := device(t, addr, "dev-01")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counter(t, r.reg, tt.metric, tt.labels...)
			for range 3 {
				// Acknowledged (so never resent) yet dropped.
				if err := publish(t, bad, tt.topic, tt.payload); err != nil {
					t.Fatalf("publish: %v", err)
				}
			}
			if got := counter(t, r.reg, tt.metric, tt.labels...) - before; got != 3 {
				t.Errorf("%s%v rose by %v, want 3", tt.metric, tt.labels, got)
			}
			if !bad.IsConnectionOpen() {
				t.Fatal("the sender was disconnected")
			}
			goodPublishes()
		})
	}
	if _, _, err := r.st.Latest("dev-01", wire.ChanHealth); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("something of dev-01 was stored: %v", err)
	}
	if _, _, err := r.st.Latest("dev-02", wire.ChanHealth); err != nil {
		t.Errorf("the well-behaved device's reports: %v", err)
	}
	if got := counter(t, r.reg, "valise_ingest_messages_total"); got != float64(goodSeq) {
		t.Errorf("messages stored = %v, want %d (only the good device's)", got, goodSeq)
	}

	t.Run("10 MiB packet", func(t *testing.T) {
		big := device(t, addr, "dev-03")
		err := publish(t, big, topics.Device("dev-03", wire.ChanHealth), make([]byte, 10<<20))
		if err == nil {
			t.Fatal("a 10 MiB publish got a PUBACK")
		}
		eventually(t, "too-large count", func() bool { return counter(t, r.reg, "valise_mqtt_packets_too_large_total") == 1 })
		goodPublishes()
	})

	refused := []struct {
		name string
		opts *paho.ClientOptions
	}{
		{"unknown credentials", clientOpts(addr, "dev-04", "dev-04", "wrong")},
		{"anonymous", clientOpts(addr, "anon", "", "")},
		{"client id of another device", clientOpts(addr, "dev-02", "dev-05", "pw-dev-05")},
		{"server account, wrong password", clientOpts(addr, "srv", "valise-server", "guess")},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := counter(t, r.reg, "valise_mqtt_auth_failures_total")
			if _, err := connect(t, tt.opts); err == nil {
				t.Fatal("connection accepted")
			}
			if got := counter(t, r.reg, "valise_mqtt_auth_failures_total") - before; got != 1 {
				t.Errorf("auth failures rose by %v, want 1", got)
			}
			goodPublishes()
		})
	}
	if !good.IsConnectionOpen() {
		t.Error("the well-behaved device lost its connection")
	}
}

func TestSubscribeOnlyOwnCmd(t *testing.T) {
	r := startRig(t, "")
	c := device(t, r.b.Addr(), "dev-01")
	tests := []struct {
		filter string
		ok     bool
	}{
		{topics.Device("dev-01", wire.ChanCmd), true},
		{topics.Device("dev-02", wire.ChanCmd), false},
		{topics.UpFilter(), false},
		{"#", false},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			before := counter(t, r.reg, "valise_mqtt_acl_denied_total")
			tok := c.Subscribe(tt.filter, 1, nil)
			if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			code := tok.(*paho.SubscribeToken).Result()[tt.filter]
			if ok := code < 0x80; ok != tt.ok {
				t.Errorf("granted = %v (code %#x), want %v", ok, code, tt.ok)
			}
			want := 1.0
			if tt.ok {
				want = 0
			}
			if got := counter(t, r.reg, "valise_mqtt_acl_denied_total") - before; got != want {
				t.Errorf("acl denied rose by %v, want %v", got, want)
			}
			if !c.IsConnectionOpen() {
				t.Fatal("disconnected")
			}
		})
	}
}

// The server's account sees device messages; Publish reaches a device's
// cmd subscription, also one queued while the device was away.
func TestServerAccountAndCommands(t *testing.T) {
	r := startRig(t, "")
	addr := r.b.Addr()
	got := make(chan string, 10)
	srv, err := connect(t, clientOpts(addr, "valise-server", "valise-server", "server-secret"))
	if err != nil {
		t.Fatal(err)
	}
	tok := srv.Subscribe(topics.UpFilter(), 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() })
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	cmds := make(chan string, 10)
	opts := clientOpts(addr, "dev-01", "dev-01", "pw-dev-01").SetCleanSession(false)
	dev, err := connect(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	cmdTopic := topics.Device("dev-01", wire.ChanCmd)
	if tok := dev.Subscribe(cmdTopic, 1, func(_ paho.Client, m paho.Message) { cmds <- string(m.Payload()) }); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if err := publish(t, dev, topics.Device("dev-01", wire.ChanHealth), healthPayload(t, "dev-01", 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case topic := <-got:
		if topic != topics.Device("dev-01", wire.ChanHealth) {
			t.Errorf("server account got %s", topic)
		}
	case <-time.After(waitFor):
		t.Fatal("the server account did not get the device message")
	}
	if err := r.b.Publish(cmdTopic, []byte("cmd-1"), false); err != nil {
		t.Fatal(err)
	}
	if c := receive(t, cmds); c != "cmd-1" {
		t.Errorf("device got %q", c)
	}

	dev.Disconnect(0)
	eventually(t, "device offline", func() bool { return counter(t, r.reg, "valise_mqtt_connected_agents") == 0 })
	if err := r.b.Publish(cmdTopic, []byte("cmd-2"), false); err != nil {
		t.Fatal(err)
	}
	opts.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { cmds <- string(m.Payload()) })
	if _, err := connect(t, opts); err != nil {
		t.Fatal(err)
	}
	if c := receive(t, cmds); c != "cmd-2" {
		t.Errorf("device got %q after reconnecting, want the queued cmd-2", c)
	}
}

func receive(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(waitFor):
		t.Fatal("nothing received")
		return ""
	}
}

// A device sending a message the store cannot take gets no PUBACK (it keeps
// the message), and keeps its connection.
func TestStoreFailureWithholdsPuback(t *testing.T) {
	sink := &failingSink{}
	b, err := New(Config{Addr: "127.0.0.1:0", Auth: testAuth{}, Sink: sink, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	c := device(t, b.Addr(), "dev-01")
	tok := c.Publish(topics.Device("dev-01", wire.ChanHealth), 1, false, healthPayload(t, "dev-01", 1))
	eventually(t, "the submit", func() bool { return sink.calls() == 1 })
	if tok.WaitTimeout(200 * time.Millisecond) {
		t.Fatalf("publish completed (err %v) although the store failed", tok.Error())
	}
	if !c.IsConnectionOpen() {
		t.Error("disconnected")
	}
}

// The same through the real ingest: the commit fails (the store is
// closed), the PUBACK is withheld, and later messages are not held up by it.
func TestCommitFailureWithholdsPuback(t *testing.T) {
	r := startRig(t, "")
	c := device(t, r.b.Addr(), "dev-01")
	if err := publish(t, c, topics.Device("dev-01", wire.ChanHealth), healthPayload(t, "dev-01", 1)); err != nil {
		t.Fatal(err)
	}
	r.st.Close()
	tok := c.Publish(topics.Device("dev-01", wire.ChanHealth), 1, false, healthPayload(t, "dev-01", 2))
	if tok.WaitTimeout(200 * time.Millisecond) {
		t.Fatalf("publish completed (err %v) although the commit failed", tok.Error())
	}
	// A refused message behind it is still acknowledged.
	if err := publish(t, c, topics.Device("dev-01", wire.ChanHealth), []byte("garbage")); err != nil {
		t.Fatalf("refused message: %v", err)
	}
	if !c.IsConnectionOpen() {
		t.Error("disconnected")
	}
}

type failingSink struct {
	mu sync.Mutex
	n  int
}

func (f *failingSink) Submit(context.Context, string, string, []byte) error {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
	return errors.New("disk full")
}

func (f *failingSink) SetPresence(string, bool, time.Time) error { return nil }

func (f *failingSink) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no addr", Config{Auth: testAuth{}, Sink: &failingSink{}}, "Addr"},
		{"no auth", Config{Addr: ":0", Sink: &failingSink{}}, "Auth"},
		{"no sink", Config{Addr: ":0", Auth: testAuth{}}, "Sink"},
		{"server user without password", Config{Addr: ":0", Auth: testAuth{}, Sink: &failingSink{}, ServerUsername: "s"}, "ServerPassword"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: err = %v, want ErrConfig naming %s", err, tt.want)
			}
		})
	}
}

// After a crash the store still says online for the devices that were
// connected; a starting broker has none connected.
func TestStartMarksDevicesOffline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "valise.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CommitReports(nil, []store.Presence{{Device: "dev-01", Online: true, At: t0}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := startRig(t, path)
	if sum, err := r.st.Summary("dev-01"); err != nil || sum.Online {
		t.Errorf("after start: %+v, %v; want offline", sum, err)
	}
	device(t, r.b.Addr(), "dev-01")
	eventually(t, "online after connecting", func() bool { // recorded just after the CONNACK
		sum, err := r.st.Summary("dev-01")
		return err == nil && sum.Online
	})
}
