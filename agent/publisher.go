package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/valise-numerique/valise/agent/spool"
	"github.com/valise-numerique/valise/internal/wire"
)

// stableSession is how long a connection must last for the next
// reconnection to start again from the shortest backoff.
const stableSession = 30 * time.Second

// shutdownGrace bounds each step of a clean stop: waiting for the PUBACKs
// of the messages in flight, publishing the offline presence.
const shutdownGrace = 2 * time.Second

// publisher owns the MQTT connection of one device: it connects with its
// own jittered backoff, drains the spool in order with a bounded number of
// messages in flight, acks a message in the spool only on its PUBACK, and
// hands received commands to onCommand.
type publisher struct {
	mu  sync.Mutex
	st  State       // guarded by mu: provisioning changes the credentials
	tls *tls.Config // guarded by mu: roots for ssl:// brokers, nil for the system's

	device string // the device id, which never changes

	topics    wire.Topics
	spool     *spool.Spool
	cfg       *Config
	log       *slog.Logger
	wake      chan struct{}
	onCommand func(payload []byte)
	connected func(bool) // told of every connection and disconnection; may be nil
}

func newPublisher(st State, tlsConf *tls.Config, sp *spool.Spool, cfg *Config, onCommand func([]byte)) *publisher {
	return &publisher{
		st:        st,
		tls:       tlsConf,
		device:    st.DeviceID,
		topics:    wire.Topics{Prefix: st.TopicPrefix},
		spool:     sp,
		cfg:       cfg,
		log:       cfg.Logger,
		wake:      make(chan struct{}, 1),
		onCommand: onCommand,
	}
}

// setState makes the next connections use st and tlsConf: the device's
// identity stays, its credentials or broker may change.
func (p *publisher) setState(st State, tlsConf *tls.Config) {
	p.mu.Lock()
	p.st, p.tls = st, tlsConf
	p.mu.Unlock()
}

func (p *publisher) state() (State, *tls.Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st, p.tls
}

// notify tells the publisher the spool has new messages.
func (p *publisher) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run connects, drains, reconnects, until ctx is done; then it publishes
// the offline presence and disconnects.
func (p *publisher) run(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		c, err := p.connect(ctx)
		if err == nil {
			started := p.cfg.Now()
			err = c.session(ctx)
			c.close(ctx.Err() != nil)
			if ctx.Err() != nil {
				return
			}
			if p.cfg.Now().Sub(started) >= stableSession {
				attempt = 0
			}
			p.log.Warn("mqtt connection lost", "err", err)
		} else if ctx.Err() == nil {
			st, _ := p.state()
			p.log.Warn("mqtt connect failed", "broker", st.MQTTURL, "err", err)
		}
		d := p.cfg.Backoff.Delay(attempt)
		attempt++
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// conn is one MQTT connection: a fresh paho client and its store.
type conn struct {
	p      *publisher
	client mqtt.Client
	store  *ackStore
	lost   chan error
}

func (p *publisher) connect(ctx context.Context) (*conn, error) {
	c := &conn{p: p, store: newAckStore(), lost: make(chan error, 1)}
	st, tlsConf := p.state()
	presence := p.topics.Device(st.DeviceID, wire.ChanPresence)
	cmdTopic := p.topics.Device(st.DeviceID, wire.ChanCmd)
	onMessage := func(_ mqtt.Client, m mqtt.Message) {
		if m.Topic() == cmdTopic {
			p.onCommand(m.Payload())
		}
	}
	opts := mqtt.NewClientOptions().
		AddBroker(st.MQTTURL).
		SetClientID(st.DeviceID).
		SetUsername(st.Username).
		SetPassword(st.Password).
		SetCleanSession(false).
		SetProtocolVersion(4).
		SetOrderMatters(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(p.cfg.ConnectTimeout).
		// paho's Publish waits for its writer to take the message, by
		// default up to 30 s: when the connection drops during a burst the
		// writer is gone and the session stood still that long before it
		// noticed. A message that cannot be written within the connect
		// timeout fails instead, which ends the session.
		SetWriteTimeout(p.cfg.ConnectTimeout).
		SetKeepAlive(p.cfg.KeepAlive).
		SetStore(c.store).
		SetBinaryWill(presence, []byte(wire.PresenceOffline), 1, true).
		// Commands queued by the broker for this persistent session may
		// arrive before the subscription is renewed: same handler.
		SetDefaultPublishHandler(onMessage).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { c.lostWith(err) })
	if tlsConf != nil {
		opts.SetTLSConfig(tlsConf.Clone())
	}
	c.client = mqtt.NewClient(opts)
	tok := c.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		go func() { // bounded by the connect timeout
			<-tok.Done()
			c.client.Disconnect(0)
		}()
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	// Subscribe and announce presence once Connect has completed, not in an
	// OnConnect handler: paho runs that handler concurrently with the
	// resumption of its store, which would take a publish made there for a
	// stored one (completing its token without a PUBACK). Each connection
	// is made here, so this runs on every connection all the same.
	if err := wait(c.client.Subscribe(cmdTopic, 1, onMessage), p.cfg.ConnectTimeout); err != nil {
		c.client.Disconnect(0)
		return nil, fmt.Errorf("subscribe %s: %w", cmdTopic, err)
	}
	if err := wait(c.client.Publish(presence, 1, true, wire.PresenceOnline), p.cfg.ConnectTimeout); err != nil {
		c.client.Disconnect(0)
		return nil, fmt.Errorf("publish online presence: %w", err)
	}
	if p.connected != nil {
		p.connected(true)
	}
	p.log.Info("mqtt connected", "broker", st.MQTTURL)
	return c, nil
}

func (c *conn) lostWith(err error) {
	if err == nil {
		err = errors.New("connection lost")
	}
	select {
	case c.lost <- err:
	default:
	}
}

// wait waits for tok at most d.
func wait(tok mqtt.Token, d time.Duration) error {
	if !tok.WaitTimeout(d) {
		return fmt.Errorf("no answer from the broker in %s", d)
	}
	return tok.Error()
}

type pubResult struct {
	seq   uint64
	acked bool
	err   error
}

// session drains the spool over c until the connection fails or ctx is
// done. The first message sent is the oldest one not acked, so a
// reconnection resends whatever had no PUBACK.
func (c *conn) session(ctx context.Context) error {
	p := c.p
	done := make(chan struct{})
	defer close(done)
	limit := p.cfg.MaxInFlight
	results := make(chan pubResult, limit)
	inflight := 0
	pending := map[uint64]mqtt.Token{} // the messages in flight, by seq
	var cursor uint64
	var acks []uint64

	handle := func(r pubResult) error {
		inflight--
		delete(pending, r.seq)
		if !r.acked {
			if r.err == nil {
				r.err = errors.New("publish completed without a PUBACK")
			}
			return fmt.Errorf("publish seq %d: %w", r.seq, r.err)
		}
		acks = append(acks, r.seq)
		return nil
	}
	flush := func() error {
		if len(acks) == 0 {
			return nil
		}
		err := p.spool.Ack(acks...)
		acks = acks[:0]
		return err
	}
	// settle handles, when the session ends, the results of the messages
	// whose token has already completed: paho completes the token of a
	// PUBACK it read before it reports the end of the connection, and such
	// a message, which the broker has, must leave the spool. Each of their
	// await goroutines sends its result without blocking (results has room
	// for every message in flight), so this waits at most a moment.
	settle := func() {
		n := 0
		for _, tok := range pending {
			select {
			case <-tok.Done():
				n++
			default:
			}
		}
		t := time.NewTimer(shutdownGrace)
		defer t.Stop()
		for ; n > 0; n-- {
			select {
			case r := <-results:
				handle(r)
			case <-t.C:
				return
			}
		}
	}

	for {
		if inflight < limit {
			msgs, err := p.spool.Next(cursor, limit-inflight)
			if err != nil {
				return err
			}
			for _, m := range msgs {
				tok := c.client.Publish(p.topics.Device(p.device, m.Kind), 1, false, m.Payload)
				cursor = m.Seq
				inflight++
				pending[m.Seq] = tok
				go c.await(tok, m.Seq, results, done)
			}
		}
		select {
		case <-ctx.Done():
			// Give the messages in flight a moment to be acknowledged, so
			// they are not sent again at the next start.
			t := time.NewTimer(shutdownGrace)
			defer t.Stop()
			for inflight > 0 {
				select {
				case r := <-results:
					if handle(r) != nil {
						inflight = 0
					}
				case <-t.C:
					inflight = 0
				case <-c.lost:
					settle()
					inflight = 0
				}
			}
			return flush()
		case err := <-c.lost:
			settle()
			flush()
			return err
		case r := <-results:
			err := handle(r)
			for more := true; more && err == nil; {
				select {
				case r := <-results:
					err = handle(r)
				default:
					more = false
				}
			}
			if err != nil {
				settle()
			}
			if ferr := flush(); ferr != nil {
				return ferr
			}
			if err != nil {
				return err
			}
		case <-p.wake:
		}
	}
}

// await waits for the token of seq and reports whether the broker
// acknowledged it. A token that never completes (the connection was lost:
// paho keeps such tokens pending for a persistent session) is abandoned
// when the session ends; one without answer for AckTimeout fails, which
// ends the session so that the next one resends the message.
func (c *conn) await(tok mqtt.Token, seq uint64, results chan<- pubResult, done <-chan struct{}) {
	t := time.NewTimer(c.p.cfg.AckTimeout)
	defer t.Stop()
	var r pubResult
	select {
	case <-tok.Done():
		r = pubResult{seq: seq, err: tok.Error()}
	case <-t.C:
		r = pubResult{seq: seq, err: fmt.Errorf("no PUBACK within %s", c.p.cfg.AckTimeout)}
	case <-done:
		return
	}
	if pt, ok := tok.(*mqtt.PublishToken); ok && r.err == nil {
		r.acked = c.store.takeAck(pt.MessageID())
	}
	select {
	case results <- r:
	case <-done:
	}
}

// close ends the connection. On a clean stop it first publishes the
// offline presence (the Last Will covers every other ending).
func (c *conn) close(clean bool) {
	if clean && c.client.IsConnectionOpen() {
		presence := c.p.topics.Device(c.p.device, wire.ChanPresence)
		if err := wait(c.client.Publish(presence, 1, true, wire.PresenceOffline), shutdownGrace); err != nil {
			c.p.log.Warn("publish offline presence", "err", err)
		}
	}
	c.client.Disconnect(250)
	if c.p.connected != nil {
		c.p.connected(false)
	}
}
