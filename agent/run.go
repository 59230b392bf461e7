// Package agent is the Valise agent runtime: enrolment over HTTP, then a
// run loop that collects inventory, health and connectivity from a Source,
// appends every report to the on-disk spool (package spool) and publishes
// the spool over MQTT in order, removing a message only on its PUBACK.
//
// Layout of a state dir: state.json (mode 0600, see State), device.key
// (0600, see LoadDeviceKey), ca.crt (the server's CA, when it uses TLS),
// spool.db, and provisioned/ (see ProvisionedDir).
//
// MQTT: persistent session (clean session off) with the device id as
// client id, QoS 1, retained presence "online" on connect and a retained
// Last Will "offline", a subscription to the device's cmd topic renewed on
// every connection, and reconnection with capped exponential backoff and
// full jitter. Commands are verified against the server key pinned at
// enrolment; nonces are remembered in the spool until they expire. Every
// refusal and every result is reported on the event channel.
//
// Commands obeyed: collect_now; wipe (a job: journaled in the spool before
// it starts, each disk erased through Config.Wiper with progress events,
// then a certificate signed with the device key in the result; an agent
// stopped or killed during a wipe reports it failed, "interrupted", at its
// next start, never succeeded); provision (the bundle kept under
// provisioned/, enrolment again with the bundle's single-use token, the
// bundle's agent configuration applied). One job at a time.
//
// While Run runs it holds the spool file: a maintenance-mode wipe
// (valise-agent wipe) that queues its certificate in the same state dir
// must run while the agent is stopped; Run sends what it queued when it
// starts again.
package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/valise-numerique/valise/agent/spool"
	"github.com/valise-numerique/valise/internal/wire"
)

// Defaults of Config.
const (
	DefaultInterval          = 60 * time.Second
	DefaultInventoryInterval = time.Hour
	DefaultMaxInFlight       = 32
	DefaultBackoffMin        = time.Second
	DefaultBackoffMax        = 5 * time.Minute
	DefaultConnectTimeout    = 10 * time.Second
	DefaultKeepAlive         = 60 * time.Second
	DefaultAckTimeout        = 60 * time.Second
)

// Config configures Run. Zero fields take the defaults above, or the
// values the server gave at enrolment where it decides.
type Config struct {
	// StateDir holds state.json and spool.db.
	StateDir string
	// Source gives the reports.
	Source Source
	// Hash identifies an inventory; a new hash means the hardware changed
	// and the inventory is sent again. Nil means HashInventory.
	Hash func(wire.Inventory) string
	// Interval between health and net samples. Zero means the server's
	// value from enrolment, else DefaultInterval.
	Interval time.Duration
	// InventoryInterval between inventory checks. Zero means the server's
	// value, else DefaultInventoryInterval.
	InventoryInterval time.Duration
	// SpoolMaxBytes bounds the spool (see spool.Options.MaxBytes).
	SpoolMaxBytes int64
	// MaxInFlight bounds the messages published and not yet acknowledged.
	MaxInFlight int
	// Backoff paces reconnections. Zero Min/Max mean 1 s and 5 min.
	Backoff Backoff
	// ConnectTimeout bounds a connection attempt, and the subscription.
	ConnectTimeout time.Duration
	// KeepAlive is the MQTT keep-alive.
	KeepAlive time.Duration
	// AckTimeout is how long a message may wait for its PUBACK before the
	// connection is dropped and made again, which resends it (a broker
	// that could not store a message withholds its PUBACK).
	AckTimeout time.Duration
	// FreeOSMemory returns memory to the system after each inventory,
	// which keeps a lone agent's resident size small. Leave it off when
	// many agents share a process.
	FreeOSMemory bool
	// AgentVersion goes into the agent_started event and certificates.
	AgentVersion string
	// Wiper erases disks for wipe commands. Nil means wipe commands are
	// refused.
	Wiper Wiper
	// HTTPClient, when set, posts the enrolment of a provisioning. Nil
	// means one that trusts the CA kept at enrolment.
	HTTPClient *http.Client
	// Now stamps reports and checks command expiry. Nil means time.Now.
	Now func() time.Time
	// Logger is told what happens. Nil means slog.Default().
	Logger *slog.Logger
	// OnConnection, if set, is called with true on each MQTT connection
	// and false when it ends.
	OnConnection func(connected bool)
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	switch {
	case c.StateDir == "":
		return errors.New("agent config: StateDir is empty")
	case c.Source == nil:
		return errors.New("agent config: Source is nil")
	case c.Interval < 0:
		return fmt.Errorf("agent config: Interval %s is negative", c.Interval)
	case c.InventoryInterval < 0:
		return fmt.Errorf("agent config: InventoryInterval %s is negative", c.InventoryInterval)
	case c.SpoolMaxBytes < 0:
		return fmt.Errorf("agent config: SpoolMaxBytes %d is negative", c.SpoolMaxBytes)
	case c.AckTimeout < 0:
		return fmt.Errorf("agent config: AckTimeout %s is negative", c.AckTimeout)
	case c.MaxInFlight < 0:
		return fmt.Errorf("agent config: MaxInFlight %d is negative", c.MaxInFlight)
	case c.Backoff.Min < 0 || c.Backoff.Max < c.Backoff.Min && c.Backoff.Max != 0:
		return fmt.Errorf("agent config: Backoff %s..%s is not a range", c.Backoff.Min, c.Backoff.Max)
	}
	return nil
}

func (c *Config) defaults(st State) {
	if c.Hash == nil {
		c.Hash = HashInventory
	}
	if c.Interval == 0 {
		c.Interval = time.Duration(st.Config.Interval)
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.InventoryInterval == 0 {
		c.InventoryInterval = time.Duration(st.Config.InventoryInterval)
	}
	if c.InventoryInterval <= 0 {
		c.InventoryInterval = DefaultInventoryInterval
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Backoff.Min == 0 {
		c.Backoff.Min = DefaultBackoffMin
	}
	if c.Backoff.Max == 0 {
		c.Backoff.Max = max(DefaultBackoffMax, c.Backoff.Min)
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Run loads the state of cfg.StateDir and runs the agent until ctx is done:
// inventory at start and whenever its hash changes, health and net every
// Interval, everything through the spool and over MQTT. It returns nil
// after a clean stop (offline presence published, spool closed), or an
// error if the agent cannot start.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	st, err := LoadState(cfg.StateDir)
	if err != nil {
		return err
	}
	fixedInterval, fixedInvInterval := cfg.Interval != 0, cfg.InventoryInterval != 0
	cfg.defaults(st)
	key, err := st.commandKey()
	if err != nil {
		return err
	}
	tlsConf, err := keptCATLS(cfg.StateDir)
	if err != nil {
		return err
	}
	sp, err := spool.Open(filepath.Join(cfg.StateDir, SpoolFile), spool.Options{MaxBytes: cfg.SpoolMaxBytes, Now: cfg.Now})
	if err != nil {
		return err
	}
	defer sp.Close()

	cfg.Logger = cfg.Logger.With("device", st.DeviceID)
	if _, err := LoadDeviceKey(cfg.StateDir); err != nil {
		cfg.Logger.Warn("wipe commands will be refused until the device enrols again", "err", err)
	}
	r := &runner{
		cfg:      cfg,
		ctx:      ctx,
		st:       st,
		key:      key,
		spool:    sp,
		log:      cfg.Logger,
		collect:  make(chan string, 4),
		reconfig: make(chan wire.AgentConfig, 1),
		firstInv: make(chan struct{}),
	}
	r.pub = newPublisher(st, tlsConf, sp, &r.cfg, r.onCommand)
	r.pub.connected = cfg.OnConnection
	// Jobs a previous run left unfinished end failed, before anything else
	// is sent and before a new job may start.
	if err := r.recoverJobs(); err != nil {
		return err
	}
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		r.pub.run(ctx)
	}()
	defer func() {
		<-pubDone
		r.log.Info("agent stopped")
	}()
	// Jobs stop with ctx; their results are spooled before the spool closes.
	defer r.jobs.Wait()

	r.event(wire.Event{Type: wire.EventAgentStarted, OK: true, Message: "valise-agent " + cfg.AgentVersion + " started"})
	r.inventory(ctx)
	r.samples(ctx)

	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	invTick := time.NewTicker(cfg.InventoryInterval)
	defer invTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			r.samples(ctx)
		case <-invTick.C:
			r.inventory(ctx)
		case c := <-r.reconfig:
			if d := time.Duration(c.Interval); d > 0 && !fixedInterval {
				r.cfg.Interval = d
				tick.Reset(d)
			}
			if d := time.Duration(c.InventoryInterval); d > 0 && !fixedInvInterval {
				r.cfg.InventoryInterval = d
				invTick.Reset(d)
			}
		case id := <-r.collect:
			r.samples(ctx)
			r.event(wire.Event{Type: wire.EventCommandResult, Command: truncate(id, 128), OK: true, Message: "health and net collected"})
		}
	}
}

// runner is one running agent.
type runner struct {
	cfg      Config
	ctx      context.Context // Run's: jobs stop with it
	st       State           // as at start; the publisher has the current one
	key      []byte
	spool    *spool.Spool
	pub      *publisher
	log      *slog.Logger
	invHash  string
	collect  chan string           // ids of collect_now commands to obey
	reconfig chan wire.AgentConfig // configuration set by a provisioning
	jobs     sync.WaitGroup        // running jobs

	invMu    sync.Mutex
	inv      wire.Inventory // the latest, for certificates and enrolments
	firstInv chan struct{}  // closed once inv is set
}

// latestInventory returns the latest inventory collected, waiting for the
// first one (collected as the agent starts) if need be.
func (r *runner) latestInventory() wire.Inventory {
	select {
	case <-r.firstInv:
	case <-r.ctx.Done():
	}
	r.invMu.Lock()
	defer r.invMu.Unlock()
	return r.inv
}

// appendReport spools one report and wakes the publisher.
func (r *runner) appendReport(kind wire.Channel, body any) {
	_, err := r.spool.Append(kind, func(seq uint64) ([]byte, error) {
		env, err := wire.NewEnvelope(r.st.DeviceID, seq, r.cfg.Now(), kind, body)
		if err != nil {
			return nil, err
		}
		return wire.Encode(env)
	})
	if err != nil {
		r.log.Error("spool report", "kind", kind, "err", err)
		return
	}
	r.pub.notify()
}

func (r *runner) event(ev wire.Event) {
	if ev.At.IsZero() {
		ev.At = r.cfg.Now().UTC()
	}
	r.appendReport(wire.ChanEvent, ev)
}

// inventory collects the inventory and spools it if it is the first since
// start or its hash changed.
func (r *runner) inventory(ctx context.Context) {
	inv := r.cfg.Source.Inventory(ctx)
	r.invMu.Lock()
	r.inv = inv
	r.invMu.Unlock()
	select {
	case <-r.firstInv:
	default:
		close(r.firstInv)
	}
	if h := r.cfg.Hash(inv); h != r.invHash {
		r.appendReport(wire.ChanInventory, inv)
		r.invHash = h
	}
	if r.cfg.FreeOSMemory {
		debug.FreeOSMemory()
	}
}

// samples collects and spools health and net, then reports samples the
// spool had to drop, if any.
func (r *runner) samples(ctx context.Context) {
	r.appendReport(wire.ChanHealth, r.cfg.Source.Health(ctx))
	r.appendReport(wire.ChanNet, r.cfg.Source.Net(ctx))
	_, n, err := r.spool.AppendDropReport(func(seq, dropped uint64) ([]byte, error) {
		data, _ := json.Marshal(map[string]uint64{"dropped_samples": dropped})
		ev := wire.Event{
			Type:    wire.EventLocal,
			OK:      false,
			Message: fmt.Sprintf("spool full while offline: %d oldest health/net samples dropped", dropped),
			Data:    data,
			At:      r.cfg.Now().UTC(),
		}
		env, err := wire.NewEnvelope(r.st.DeviceID, seq, r.cfg.Now(), wire.ChanEvent, ev)
		if err != nil {
			return nil, err
		}
		return wire.Encode(env)
	})
	if err != nil {
		r.log.Error("spool drop report", "err", err)
	} else if n > 0 {
		r.log.Warn("spool full: oldest samples dropped", "dropped", n)
		r.pub.notify()
	}
}

// onCommand checks and obeys one cmd payload. It runs on a paho goroutine.
func (r *runner) onCommand(payload []byte) {
	c, err := r.checkCommand(payload)
	if err != nil {
		r.log.Warn("command refused", "command", c.ID, "type", c.Type, "err", err)
		r.event(wire.Event{Type: wire.EventCommandResult, Command: truncate(c.ID, 128), OK: false, Message: truncate(err.Error(), 4096)})
		return
	}
	r.log.Info("command accepted", "command", c.ID, "type", c.Type)
	switch c.Type {
	case wire.CmdWipe:
		r.startWipe(c)
		return
	case wire.CmdProvision:
		r.startProvision(c)
		return
	}
	select {
	case r.collect <- c.ID:
	default:
		// Several collect_now are already waiting: one more adds nothing.
		r.event(wire.Event{Type: wire.EventCommandResult, Command: truncate(c.ID, 128), OK: true, Message: "a collection is already pending"})
	}
}

// checkCommand verifies a command: signature by the pinned key, this
// device, not expired, nonce never used, a type this agent obeys. The
// command is returned even on error, as far as it could be read, so that
// the refusal names it.
func (r *runner) checkCommand(payload []byte) (wire.Command, error) {
	c, err := wire.VerifyCommand(r.key, payload, r.st.DeviceID, r.cfg.Now())
	if err != nil {
		if c.ID == "" {
			c = unverifiedCommand(payload)
		}
		return c, fmt.Errorf("%w: %v", ErrCommandRefused, err)
	}
	if err := r.spool.UseNonce(c.Nonce, c.ExpiresAt); err != nil {
		if errors.Is(err, spool.ErrNonceReused) {
			return c, fmt.Errorf("%w: command %s replayed (nonce already used)", ErrCommandRefused, c.ID)
		}
		return c, fmt.Errorf("%w: %v", ErrCommandRefused, err)
	}
	switch c.Type {
	case wire.CmdCollectNow, wire.CmdWipe, wire.CmdProvision:
	default:
		return c, fmt.Errorf("%w: command type %q is not supported by this agent", ErrCommandRefused, c.Type)
	}
	return c, nil
}

// unverifiedCommand reads the id and type of a command whose signature
// did not verify, only to name it in the refusal.
func unverifiedCommand(payload []byte) wire.Command {
	var sc wire.SignedCommand
	var c wire.Command
	if json.Unmarshal(payload, &sc) != nil {
		return c
	}
	body, err := base64.StdEncoding.DecodeString(sc.Payload)
	if err != nil || json.Unmarshal(body, &c) != nil {
		return wire.Command{}
	}
	return wire.Command{ID: truncate(c.ID, 128), Type: truncate(c.Type, 64)}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
