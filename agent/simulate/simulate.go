// Package simulate runs a fleet of simulated agents in one process: each
// device is a real agent (package agent: the same enrolment over HTTP, the
// same spool, MQTT publisher and wire code) fed by a synthetic Source of
// varied laptops, Android tablets and 4G hotspots, with realistic battery
// wear, charge, disk wear, signal and growing data use.
//
// Devices are deterministic: device i of a fleet seed always has the same
// hardware identity (UUID, serials, MACs, IMEI), so running the simulator
// again on the same state dir, or enrolling again into a fresh one with the
// same seed, gives the same devices on the server. Each device keeps its
// agent state under StateDir/sim-NNN/.
//
// Wipes and provisioning run through the real agent too. Each laptop and
// tablet carries a small disk image (StateDir/sim-NNN/disk.img, filled
// with pseudo-random "user data" when it is made) that a wipe command
// really overwrites and verifies with package wipe's executor; a hotspot's
// wipe is a factory reset that empties its simulated SMS boxes and rotates
// its SSID, Wi-Fi key and admin password (hotspot.json).
package simulate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/internal/wire"
)

// Options configure Run.
type Options struct {
	// Count is the number of simulated devices.
	Count int
	// Server and Token enrol the devices that have no state yet; the token
	// must allow Count uses. Devices already enrolled need neither.
	Server string
	Token  string
	// CAPin is the join command's --ca-pin for an https:// server.
	CAPin string
	// StateDir holds one sim-NNN dir per device and simulate.json.
	StateDir string
	// Interval between health and net samples; zero means the server's.
	Interval time.Duration
	// Class makes every device of that class; "" mixes laptops, tablets
	// and hotspots. The server decides the class it records (the token's).
	Class string
	// Seed picks the fleet: same seed, same devices. Zero means the seed
	// stored in StateDir/simulate.json, or else one derived from the
	// absolute path of StateDir (and then stored).
	Seed uint64
	// EnrollConcurrency bounds the enrolments in progress. Zero means 8.
	EnrollConcurrency int
	// DiskBytes is the size of each laptop's and tablet's disk image,
	// made at its first start. Zero means DefaultDiskBytes; negative
	// means no disk images, and wipe commands are refused.
	DiskBytes int64
	// HTTPClient posts enrolments. Nil means the agent's default.
	HTTPClient *http.Client
	// Agent is the template of every device's agent configuration
	// (backoff, timeouts…); StateDir, Source, Interval and Logger are set
	// per device.
	Agent agent.Config
	// Logger is told what happens. Nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports the first invalid field of o.
func (o Options) Validate() error {
	switch {
	case o.Count <= 0 || o.Count > 10000:
		return fmt.Errorf("simulate options: Count %d is not between 1 and 10000", o.Count)
	case o.StateDir == "":
		return errors.New("simulate options: StateDir is empty")
	case o.Interval < 0:
		return fmt.Errorf("simulate options: Interval %s is negative", o.Interval)
	case o.Class != "" && !wire.ValidClass(o.Class):
		return fmt.Errorf("simulate options: Class %q is not laptop, tablet, hotspot or other", o.Class)
	case o.EnrollConcurrency < 0:
		return fmt.Errorf("simulate options: EnrollConcurrency %d is negative", o.EnrollConcurrency)
	}
	return nil
}

// fleetFile records the seed of a state dir.
const fleetFile = "simulate.json"

type fleet struct {
	Seed uint64 `json:"seed"`
}

// DeviceDir returns the state dir of device index under dir.
func DeviceDir(dir string, index int) string {
	return filepath.Join(dir, fmt.Sprintf("sim-%03d", index))
}

// Run enrols the devices that need it, then runs every device's agent
// until ctx is done. It returns the first error of enrolment, or the
// errors of agents that stopped on their own.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.EnrollConcurrency == 0 {
		o.EnrollConcurrency = 8
	}
	seed, err := resolveSeed(o.StateDir, o.Seed)
	if err != nil {
		return err
	}
	devices, err := enrolAll(ctx, o, seed)
	if err != nil {
		return err
	}
	o.Logger.Info("simulated fleet running", "devices", len(devices), "seed", seed, "state", o.StateDir)

	var wg sync.WaitGroup
	errs := make([]error, len(devices))
	for i, d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the starts over a few seconds so that the devices do
			// not all report in the same instant.
			if !sleep(ctx, startOffset(o.Interval, i, len(devices))) {
				return
			}
			cfg := o.Agent
			cfg.StateDir = DeviceDir(o.StateDir, i)
			cfg.Source = d
			cfg.Interval = o.Interval
			cfg.Logger = o.Logger.With("sim", i)
			if cfg.AgentVersion == "" {
				cfg.AgentVersion = "simulate"
			}
			if cfg.HTTPClient == nil {
				cfg.HTTPClient = o.HTTPClient
			}
			if o.DiskBytes >= 0 {
				if err := d.EnsureDisk(cfg.StateDir, cmp.Or(o.DiskBytes, DefaultDiskBytes)); err != nil {
					errs[i] = fmt.Errorf("simulated device %d: %w", i, err)
					return
				}
				if w := d.Wiper(cfg.StateDir); w != nil {
					cfg.Wiper = w
				}
			}
			if err := agent.Run(ctx, cfg); err != nil {
				errs[i] = fmt.Errorf("simulated device %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// enrolAll returns the Source of every device, enrolling those without
// state. Device 0 goes first: unless Class is set, the class the server
// gives it (the token's) becomes the class of the devices enrolled after it.
func enrolAll(ctx context.Context, o Options, seed uint64) ([]*Device, error) {
	states := make([]*agent.State, o.Count)
	var need []int
	for i := range o.Count {
		st, err := agent.LoadState(DeviceDir(o.StateDir, i))
		switch {
		case err == nil:
			states[i] = &st
		case errors.Is(err, agent.ErrNotEnrolled):
			need = append(need, i)
		default:
			return nil, fmt.Errorf("simulated device %d: %w", i, err)
		}
	}
	if len(need) > 0 && (o.Server == "" || o.Token == "") {
		return nil, fmt.Errorf("%w: %d of %d devices have no state in %s: give a server and a token allowing %d uses",
			ErrNeedEnrolment, len(need), o.Count, o.StateDir, len(need))
	}

	learned := o.Class
	if learned == "" && states[0] != nil {
		learned = states[0].Class
	}
	// profile is the class a device looks like: the one asked for; for
	// device 0 without one, the mix; for the others, the class the server
	// gave (the token's), learned from device 0.
	profile := func(i int) string {
		switch {
		case o.Class != "":
			return o.Class
		case i == 0:
			return ""
		case states[i] != nil && wire.ValidClass(states[i].Class):
			return states[i].Class
		}
		return learned
	}
	devices := make([]*Device, o.Count)
	enrol := func(i int) error {
		d := NewDevice(seed, i, profile(i))
		resp, err := agent.Enroll(ctx, agent.EnrollOptions{
			Server: o.Server, Token: o.Token, CAPin: o.CAPin, StateDir: DeviceDir(o.StateDir, i), Source: d,
			AgentVersion: "simulate", HTTPClient: o.HTTPClient, Logger: o.Logger,
		})
		if err != nil {
			return fmt.Errorf("enrol simulated device %d: %w", i, err)
		}
		o.Logger.Info("simulated device enrolled", "sim", i, "device", resp.DeviceID, "asset_tag", resp.AssetTag,
			"class", resp.Class, "looks_like", d.Class+" "+d.inv.System.Vendor+" "+d.inv.System.Model, "known", resp.Known)
		devices[i] = d
		if i == 0 && o.Class == "" {
			learned = resp.Class
		}
		return nil
	}

	if len(need) > 0 && need[0] == 0 {
		if err := enrol(0); err != nil {
			return nil, err
		}
		need = need[1:]
	}
	sem := make(chan struct{}, o.EnrollConcurrency)
	errs := make([]error, len(need))
	var wg sync.WaitGroup
	for k, i := range need {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[k] = enrol(i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i := range devices {
		if devices[i] == nil {
			devices[i] = NewDevice(seed, i, profile(i))
		}
	}
	return devices, nil
}

// resolveSeed returns the fleet seed of dir: explicit, stored, or derived
// from dir's absolute path; a new seed is stored.
func resolveSeed(dir string, explicit uint64) (uint64, error) {
	path := filepath.Join(dir, fleetFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("simulate: %w", err)
	}
	var f fleet
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &f); err != nil {
			return 0, fmt.Errorf("simulate: read %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("simulate: %w", err)
	}
	if explicit != 0 {
		f.Seed = explicit
	}
	if f.Seed == 0 {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return 0, fmt.Errorf("simulate: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte(abs))
		f.Seed = h.Sum64() | 1
	}
	b, _ = json.Marshal(f)
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return 0, fmt.Errorf("simulate: %w", err)
	}
	return f.Seed, nil
}

// startOffset spreads device starts over min(interval, 5 s).
func startOffset(interval time.Duration, i, n int) time.Duration {
	spread := 5 * time.Second
	if interval > 0 && interval < spread {
		spread = interval
	}
	return spread * time.Duration(i) / time.Duration(n)
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
