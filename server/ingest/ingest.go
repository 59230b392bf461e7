// Package ingest turns the devices' MQTT messages into stored telemetry.
//
// Submit validates a message (topic, envelope, the device it claims to be
// against the one that authenticated), extracts the figures kept in the
// history, and hands it to a single committer goroutine. The committer takes
// everything queued at that moment (up to MaxBatch), stores it with one
// store.CommitReports call, that is one write transaction and one fsync,
// and then releases every caller with its own result. There is no timer: a
// lone message is committed at once, and under load batches grow by
// themselves while the previous commit is on disk.
//
// So when Submit returns nil the message is on disk (or was a duplicate of
// one that is), and the broker may send its PUBACK.
package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/store"
)

// DefaultMaxBatch is the default largest number of messages per commit.
const DefaultMaxBatch = 1024

// maxLogged bounds the set of (device, reason) pairs already logged, so
// that a flood of made-up device ids cannot grow it without limit.
const maxLogged = 10000

// Config configures an Ingester.
type Config struct {
	// Store receives the batches. Required.
	Store *store.Store
	// Topics parses the topics messages arrive on.
	Topics wire.Topics
	// MaxBatch is the largest number of messages per commit; 0 means
	// DefaultMaxBatch.
	MaxBatch int
	// Registerer receives the ingest metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger logs rejections (once per device and reason) and store
	// failures; nil means slog.Default().
	Logger *slog.Logger
	// Now stamps the reception time; nil means time.Now.
	Now func() time.Time
	// OnEvent, when set, is called with every event (channel event) once
	// it is stored, duplicates left out, in the order of their commits. It
	// runs on a goroutine of its own, never on the committer's, so a slow
	// OnEvent delays no acknowledgement; events wait for it in an
	// unbounded queue, which Close drains before it returns. Each event is
	// kept among the store's pending events, in its commit, until OnEvent
	// returned: New hands those left by a crash to OnEvent again first, so
	// OnEvent must bear seeing an event twice.
	OnEvent func(device string, ev wire.Event)
}

func (c *Config) setDefaults() {
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports the first field of c that is unusable.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrConfig)
	case c.MaxBatch < 0:
		return fmt.Errorf("%w: MaxBatch %d is negative", ErrConfig, c.MaxBatch)
	}
	return nil
}

// Ingester validates messages and group-commits them. It is safe for
// concurrent use; Close stops it.
type Ingester struct {
	cfg   Config
	queue chan *request
	done  chan struct{}

	mu     sync.RWMutex // held shared while enqueueing, exclusively by Close
	closed bool

	m      metrics
	logMu  sync.Mutex
	logged map[string]struct{}

	events eventQueue
}

// eventQueue hands stored events from the committer to the OnEvent worker.
type eventQueue struct {
	mu     sync.Mutex
	items  []storedEvent
	closed bool
	wake   chan struct{} // 1-buffered: something was queued, or closed
	done   chan struct{} // closed when the worker has drained and exited
}

type storedEvent struct {
	device string
	seq    uint64
	body   []byte
}

func (q *eventQueue) push(device string, seq uint64, body []byte) {
	q.mu.Lock()
	q.items = append(q.items, storedEvent{device, seq, body})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	<-q.done
}

// work calls fn for each queued event until the queue is closed and
// empty, and forgets each pending event after fn.
func (q *eventQueue) work(fn func(device string, ev wire.Event), st *store.Store, log *slog.Logger) {
	defer close(q.done)
	for {
		<-q.wake
		for {
			q.mu.Lock()
			items, closed := q.items, q.closed
			q.items = nil
			q.mu.Unlock()
			if len(items) == 0 {
				if closed {
					return
				}
				break
			}
			for _, it := range items {
				var ev wire.Event
				if err := json.Unmarshal(it.body, &ev); err != nil {
					log.Error("decode stored event", "device", it.device, "err", err)
				} else {
					fn(it.device, ev)
				}
				if err := st.DonePending(it.device, it.seq); err != nil {
					log.Error("forget pending event", "device", it.device, "seq", it.seq, "err", err)
				}
			}
		}
	}
}

// request is one message or presence change waiting for its commit.
type request struct {
	presence   bool
	report     store.Report
	state      store.Presence
	stored     bool
	err        error
	done       chan struct{}
	cb         func(error) // set for SubmitAsync: called instead of signalling done
	countAsMsg bool        // a presence message from the presence topic
}

var requests = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

// New starts an Ingester.
func New(cfg Config) (*Ingester, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	i := &Ingester{
		cfg:    cfg,
		queue:  make(chan *request, cfg.MaxBatch),
		done:   make(chan struct{}),
		m:      newMetrics(),
		logged: make(map[string]struct{}),
	}
	if cfg.Registerer != nil {
		if err := i.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	i.events = eventQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
	if cfg.OnEvent != nil {
		pending, err := cfg.Store.PendingEvents()
		if err != nil {
			return nil, fmt.Errorf("read pending events: %w", err)
		}
		for _, p := range pending {
			i.events.push(p.Device, p.Seq, p.Body)
		}
		if len(pending) > 0 {
			cfg.Logger.Info("acting on events stored before the last stop", "events", len(pending))
		}
		go i.events.work(cfg.OnEvent, cfg.Store, cfg.Logger)
	} else {
		close(i.events.done)
	}
	go i.run()
	return i, nil
}

// Submit validates one MQTT message and returns once it is stored. topic is
// the MQTT topic, payload the message. authDevice is the device the broker
// authenticated, or "" to trust the topic (an external broker that enforces
// per-device ACLs).
//
// It returns nil when the message is stored or is a duplicate of a stored
// one; an error wrapping a wire sentinel (see wire.Reason) when the message
// is refused, which is counted and logged once per device and reason;
// ErrClosed after Close; a store error when the commit failed, in which case
// the sender must send again; or ctx's error if ctx ends first (the message
// may still be committed).
func (i *Ingester) Submit(ctx context.Context, authDevice, topic string, payload []byte) error {
	req, err := i.parse(authDevice, topic, payload)
	if err != nil {
		i.reject(authDevice, topic, err)
		return err
	}
	if req == nil {
		return nil
	}
	return i.wait(ctx, req)
}

// SubmitAsync is Submit for callers that must not block until the commit:
// it validates the message at once and returns the refusal (or ErrClosed),
// in which case done is never called. Otherwise the message is queued and
// done is called exactly once, from the committer goroutine, with nil when
// the message is stored or a duplicate, or with the store's error. done
// must be quick and must not block: it holds up every later commit.
//
// payload is not used after SubmitAsync returns. SubmitAsync blocks only
// while the queue is full.
func (i *Ingester) SubmitAsync(authDevice, topic string, payload []byte, done func(error)) error {
	req, err := i.parse(authDevice, topic, payload)
	if err != nil {
		i.reject(authDevice, topic, err)
		return err
	}
	if req == nil {
		done(nil)
		return nil
	}
	req.cb = done
	return i.enqueue(context.Background(), req)
}

// SetPresence records that device's connection went up or down at at. It
// returns once stored.
func (i *Ingester) SetPresence(device string, online bool, at time.Time) error {
	if !wire.ValidDeviceID(device) {
		return fmt.Errorf("presence of %q: %w", device, wire.ErrInvalid)
	}
	req := requests.Get().(*request)
	*req = request{presence: true, state: store.Presence{Device: device, Online: online, At: at}, done: req.done}
	return i.wait(context.Background(), req)
}

// MarkAllOffline marks every device offline as of at; see
// store.Store.MarkAllOffline. The embedded broker calls it when it starts.
func (i *Ingester) MarkAllOffline(at time.Time) (int, error) {
	return i.cfg.Store.MarkAllOffline(at)
}

// Close stops accepting messages, commits those already queued, waits for
// the committer to finish and returns. Submit calls after Close fail with
// ErrClosed.
func (i *Ingester) Close() error {
	i.mu.Lock()
	if !i.closed {
		i.closed = true
		close(i.queue)
	}
	i.mu.Unlock()
	<-i.done
	if i.cfg.OnEvent != nil {
		i.events.close()
	}
	return nil
}

// parse validates a message and builds its request; nil, nil for a message
// that needs no storing.
func (i *Ingester) parse(authDevice, topic string, payload []byte) (*request, error) {
	id, ch, err := i.cfg.Topics.Parse(topic)
	if err != nil {
		return nil, err
	}
	if !ch.Up() {
		return nil, fmt.Errorf("%w: %s is not an up channel", wire.ErrTopic, ch)
	}
	if authDevice != "" && id != authDevice {
		return nil, fmt.Errorf("%w: %s published on the topic of %s", wire.ErrWrongDevice, authDevice, id)
	}
	now := i.cfg.Now()
	if ch == wire.ChanPresence {
		var online bool
		switch string(payload) {
		case wire.PresenceOnline:
			online = true
		case wire.PresenceOffline:
		case "":
			return nil, nil // a retained presence being cleared
		default:
			return nil, fmt.Errorf("%w: presence %.32q", wire.ErrMalformed, payload)
		}
		req := requests.Get().(*request)
		*req = request{presence: true, countAsMsg: true, state: store.Presence{Device: id, Online: online, At: now}, done: req.done}
		return req, nil
	}
	env, body, err := wire.DecodeAs(payload, ch) // also checks env.Kind == ch
	if err != nil {
		return nil, err
	}
	if env.Device != id {
		return nil, fmt.Errorf("%w: envelope of %s on the topic of %s", wire.ErrWrongDevice, env.Device, id)
	}
	req := requests.Get().(*request)
	*req = request{report: store.Report{
		Device: id, Seq: env.Seq, Kind: env.Kind, At: env.At, Received: now,
		Body: env.Body, Figures: Figures(body), Pending: ch == wire.ChanEvent && i.cfg.OnEvent != nil,
	}, done: req.done}
	return req, nil
}

// enqueue hands req to the committer.
func (i *Ingester) enqueue(ctx context.Context, req *request) error {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.closed {
		return ErrClosed
	}
	select {
	case i.queue <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait queues req, waits for its commit and recycles it.
func (i *Ingester) wait(ctx context.Context, req *request) error {
	if err := i.enqueue(ctx, req); err != nil {
		return err
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		return ctx.Err() // req now belongs to the committer alone
	}
	err := req.err
	*req = request{done: req.done}
	requests.Put(req)
	return err
}

// run is the committer: it takes what is queued, commits it, answers.
func (i *Ingester) run() {
	defer close(i.done)
	batch := make([]*request, 0, i.cfg.MaxBatch)
	var reports []store.Report
	var presence []store.Presence
	for {
		first, ok := <-i.queue
		if !ok {
			return
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < i.cfg.MaxBatch {
			select {
			case r, ok := <-i.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		reports, presence = i.commit(batch, reports[:0], presence[:0])
	}
}

func (i *Ingester) commit(batch []*request, reports []store.Report, presence []store.Presence) ([]store.Report, []store.Presence) {
	for _, r := range batch {
		if r.presence {
			presence = append(presence, r.state)
		} else {
			reports = append(reports, r.report)
		}
	}
	start := time.Now()
	stored, err := i.cfg.Store.CommitReports(reports, presence)
	i.m.commitSeconds.Observe(time.Since(start).Seconds())
	i.m.batchSize.Observe(float64(len(batch)))
	if err != nil {
		i.cfg.Logger.Error("ingest commit failed", "messages", len(batch), "err", err)
	}
	n := 0
	for _, r := range batch {
		r.err = err
		switch {
		case err != nil:
		case r.presence:
			if r.countAsMsg {
				i.m.messages.WithLabelValues(string(wire.ChanPresence)).Inc()
			}
		default:
			r.stored = stored[n]
			if r.stored {
				i.m.messages.WithLabelValues(string(r.report.Kind)).Inc()
				if r.report.Pending {
					i.events.push(r.report.Device, r.report.Seq, r.report.Body)
				}
			} else {
				i.m.duplicates.Inc()
			}
		}
		if !r.presence {
			n++
		}
		if r.cb != nil {
			r.cb(r.err)
			*r = request{done: r.done}
			requests.Put(r)
			continue
		}
		r.done <- struct{}{}
	}
	clear(reports) // drop references to bodies until the next batch
	return reports, presence
}

// reject counts a refused message and logs it once per device and reason.
func (i *Ingester) reject(authDevice, topic string, err error) {
	reason := wire.Reason(err)
	i.m.rejected.WithLabelValues(reason).Inc()
	dev := authDevice
	if dev == "" {
		if id, _, perr := i.cfg.Topics.Parse(topic); perr == nil {
			dev = id
		}
	}
	key := dev + "\x00" + reason
	i.logMu.Lock()
	_, seen := i.logged[key]
	full := len(i.logged) >= maxLogged
	if !seen && !full {
		i.logged[key] = struct{}{}
	}
	i.logMu.Unlock()
	if seen || full {
		return
	}
	i.cfg.Logger.Warn("message refused; further ones from this device for this reason are only counted",
		"device", dev, "reason", reason, "topic", topic, "err", err)
}
