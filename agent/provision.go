package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// ProvisionedDir is where, in a state dir, a provisioning leaves its
// bundle (bundle.json, mode 0600: it holds secrets) and the files the
// bundle lists, under their path made relative (/etc/x becomes
// provisioned/etc/x), for the installer or the technician to put in place.
const ProvisionedDir = "provisioned"

// provisionBundle is what the agent reads of a provisioning bundle
// (rendered by package provisioning on the server). Fields it does not
// know are ignored: Wi-Fi networks, packages and kiosk settings are the
// installer's, not the agent's.
type provisionBundle struct {
	Profile     string                     `json:"profile"`
	AgentConfig map[string]json.RawMessage `json:"agent_config"`
	Enroll      struct {
		Server       string `json:"server"`
		Token        string `json:"token"`
		CAPin        string `json:"ca_pin"`
		ProvisionJob string `json:"provision_job"`
	} `json:"enroll"`
	Files []bundleFile `json:"files"`
}

// bundleFile is a file the bundle asks for. Mode is an octal string
// ("0644") or a number.
type bundleFile struct {
	Path    string          `json:"path"`
	Mode    json.RawMessage `json:"mode"`
	Content string          `json:"content"`
}

// provisionResult is the provision_result event of a job.
func (r *runner) provisionResult(rec jobRecord, jobErr error) wire.Event {
	res := wire.ProvisionResult{Job: rec.Job, OK: jobErr == nil}
	msg := "provisioned and enrolled again"
	if jobErr != nil {
		res.Error = truncate(jobErr.Error(), 4096)
		msg = res.Error
	}
	data, _ := json.Marshal(res)
	return wire.Event{Type: wire.EventProvisionResult, Command: truncate(rec.Command, 128), OK: res.OK, Message: msg, Data: data}
}

// startProvision obeys a verified provision command.
func (r *runner) startProvision(c wire.Command) {
	var args wire.ProvisionArgs
	refused := func(rec jobRecord, err error) wire.Event { return r.provisionResult(rec, err) }
	if err := json.Unmarshal(c.Args, &args); err != nil {
		r.event(refused(jobRecord{Command: c.ID, Job: args.Job}, fmt.Errorf("%w: provision: %v", ErrBadArgs, err)))
		return
	}
	r.startJob(c, args.Job, func(ctx context.Context, rec jobRecord) {
		err := r.provision(ctx, rec, args)
		if err != nil && ctx.Err() != nil {
			err = errors.New(interruptedProvision)
		}
		if err != nil {
			r.log.Warn("provisioning failed", "job", rec.Job, "err", err)
		} else {
			r.log.Info("provisioned", "job", rec.Job, "profile", args.Profile)
		}
		r.endJob(rec.Job, r.provisionResult(rec, err))
	}, refused)
}

// provision applies a bundle: it keeps the bundle and its files under
// ProvisionedDir, enrols again with the bundle's single-use token (so that
// the server matches the fingerprint and ends the job), then applies the
// agent configuration the bundle asks for.
func (r *runner) provision(ctx context.Context, rec jobRecord, args wire.ProvisionArgs) error {
	var b provisionBundle
	if len(args.Bundle) == 0 {
		return fmt.Errorf("%w: the provision command carries no bundle", ErrBadArgs)
	}
	if err := json.Unmarshal(args.Bundle, &b); err != nil {
		return fmt.Errorf("%w: bundle: %v", ErrBadArgs, err)
	}
	if b.Enroll.Token == "" {
		return fmt.Errorf("%w: the bundle has no enrolment token", ErrBadArgs)
	}
	interval, err := bundleDuration(b.AgentConfig, "interval")
	if err != nil {
		return err
	}
	invInterval, err := bundleDuration(b.AgentConfig, "inventory_interval")
	if err != nil {
		return err
	}
	if err := r.writeBundle(args.Bundle, b.Files); err != nil {
		return err
	}

	st, _ := r.pub.state()
	server := b.Enroll.Server
	if server == "" {
		server = st.Server
	}
	pin := b.Enroll.CAPin
	if pin == "" && server == st.Server {
		pin = st.CAPin
	}
	job := b.Enroll.ProvisionJob
	if job == "" {
		job = args.Job
	}
	inv := r.latestInventory()
	e, err := enroll(ctx, EnrollOptions{
		Server: server, Token: b.Enroll.Token, CAPin: pin, StateDir: r.cfg.StateDir,
		Source: fixedInventory{inv}, AssetTag: st.AssetTag, ProvisionJob: job,
		AgentVersion: r.cfg.AgentVersion, HTTPClient: r.cfg.HTTPClient, Now: r.cfg.Now, Logger: r.log,
	})
	if err != nil {
		return err
	}
	if e.st.DeviceID != st.DeviceID {
		return fmt.Errorf("%w: enrolling again gave device %s, not %s; state left unchanged", ErrBadResponse, e.st.DeviceID, st.DeviceID)
	}
	if interval > 0 {
		e.st.Config.Interval = wire.Duration(interval)
	}
	if invInterval > 0 {
		e.st.Config.InventoryInterval = wire.Duration(invInterval)
	}
	if err := e.save(r.cfg.StateDir); err != nil {
		return err
	}
	tlsConf, err := keptCATLS(r.cfg.StateDir)
	if err != nil {
		return err
	}
	r.pub.setState(e.st, tlsConf)
	select {
	case r.reconfig <- e.st.Config:
	default:
	}
	return nil
}

// writeBundle keeps the bundle and its files under ProvisionedDir.
func (r *runner) writeBundle(raw json.RawMessage, files []bundleFile) error {
	dir := filepath.Join(r.cfg.StateDir, ProvisionedDir)
	if err := writeFileAtomic(filepath.Join(dir, "bundle.json"), raw, 0o600); err != nil {
		return err
	}
	for _, f := range files {
		rel := strings.TrimLeft(filepath.ToSlash(f.Path), "/")
		if rel == "" || !filepath.IsLocal(rel) || rel == "bundle.json" {
			return fmt.Errorf("%w: bundle file path %q", ErrBadArgs, f.Path)
		}
		mode, err := fileMode(f.Mode)
		if err != nil {
			return fmt.Errorf("%w: bundle file %s: %v", ErrBadArgs, f.Path, err)
		}
		if err := writeFileAtomic(filepath.Join(dir, filepath.FromSlash(rel)), []byte(f.Content), mode); err != nil {
			return err
		}
	}
	return nil
}

// fileMode reads a bundle file's mode: "0644", "644", 420 or nothing (0644).
func fileMode(raw json.RawMessage) (os.FileMode, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0o644, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		m, err := strconv.ParseUint(s, 8, 32)
		if err != nil {
			return 0, fmt.Errorf("mode %q is not octal", s)
		}
		return os.FileMode(m) & 0o777, nil
	}
	var n uint32
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("mode %s is neither a string nor a number", raw)
	}
	return os.FileMode(n) & 0o777, nil
}

// bundleDuration reads key of a bundle's agent config: a Go duration
// string ("60s") or a number of seconds. Absent means 0.
func bundleDuration(cfg map[string]json.RawMessage, key string) (time.Duration, error) {
	raw, ok := cfg[key]
	if !ok || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			if n, nerr := strconv.ParseFloat(s, 64); nerr == nil {
				d, err = time.Duration(n*float64(time.Second)), nil
			}
		}
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%w: agent_config.%s %q is not a duration", ErrBadArgs, key, s)
		}
		return d, nil
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err != nil || n < 0 {
		return 0, fmt.Errorf("%w: agent_config.%s %s is not a duration", ErrBadArgs, key, raw)
	}
	return time.Duration(n * float64(time.Second)), nil
}

// fixedInventory is a Source that gives one inventory, for enrolling
// again without collecting from a second goroutine.
type fixedInventory struct{ inv wire.Inventory }

func (f fixedInventory) Inventory(context.Context) wire.Inventory { return f.inv }
func (f fixedInventory) Health(context.Context) wire.Health       { return wire.Health{} }
func (f fixedInventory) Net(context.Context) wire.Net             { return wire.Net{} }
