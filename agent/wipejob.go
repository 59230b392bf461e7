package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/valise-numerique/valise/agent/spool"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// WipeTarget is one disk a wipe job erases.
type WipeTarget struct {
	// Name is the disk's kernel name (sda, nvme0n1), as in
	// wire.WipeArgs.Disks and in progress events.
	Name string
	// Path is what the executor opens: /dev/sda, or a file.
	Path string
}

// WipeSpec is what a wipe job asks of each disk.
type WipeSpec struct {
	Job    string
	Method string // wire.Method*, "" or wire.MethodAuto for the strongest supported
	Verify string // wire.VerifyFull or wire.VerifySample
	// Progress is called about once a second while the disk is erased
	// and verified. It is safe to call from any goroutine.
	Progress func(wire.WipeProgress)
}

// Wiper erases the disks of wipe jobs: DiskWiper for the machine's own
// disks (package wipe's executors), or the simulator's file-backed disks.
type Wiper interface {
	// Targets returns the disks named (kernel names), or every internal
	// disk when names is empty.
	Targets(ctx context.Context, names []string) ([]WipeTarget, error)
	// Wipe erases and verifies one disk. It returns the medium record
	// also on failure (result failed, with the reason); a cancelled ctx
	// stops it.
	Wipe(ctx context.Context, t WipeTarget, spec WipeSpec) (certificate.Medium, error)
}

// Job results that never depend on what the job did.
const (
	interruptedWipe      = "interrupted: the agent stopped during the wipe"
	interruptedProvision = "interrupted: the agent stopped during the provisioning"
)

// jobRecord is what the spool's journal keeps of a job in progress.
type jobRecord struct {
	Type    string          `json:"type"` // wire.CmdWipe or wire.CmdProvision
	Command string          `json:"command"`
	Job     string          `json:"job"`
	Started time.Time       `json:"started"`
	Args    json.RawMessage `json:"args,omitempty"`
}

// recoverJobs ends, as failed, every job the journal holds: jobs that were
// running when the agent stopped (killed, power lost). Never a success: a
// wipe that may not have finished proves nothing.
func (r *runner) recoverJobs() error {
	jobs, err := r.spool.Jobs()
	if err != nil {
		return err
	}
	for _, j := range jobs {
		var rec jobRecord
		if err := json.Unmarshal(j.Record, &rec); err != nil {
			rec = jobRecord{Type: wire.CmdWipe, Job: j.ID}
		}
		if rec.Job == "" {
			rec.Job = j.ID
		}
		r.log.Warn("job interrupted by the agent's stop", "job", rec.Job, "type", rec.Type, "started", rec.Started)
		ev := r.jobResult(rec, errors.New(interruptedWipe), nil)
		if rec.Type == wire.CmdProvision {
			ev = r.provisionResult(rec, errors.New(interruptedProvision))
		}
		if err := r.endJob(j.ID, ev); err != nil {
			return err
		}
	}
	return nil
}

// jobResult is the wipe_result event of a wipe job; cert may be nil.
func (r *runner) jobResult(rec jobRecord, jobErr error, cert []byte) wire.Event {
	res := wire.WipeResult{Job: rec.Job, OK: jobErr == nil, Certificate: cert}
	msg := "every disk erased and verified"
	if jobErr != nil {
		res.Error = truncate(jobErr.Error(), 4096)
		msg = res.Error
	}
	data, _ := json.Marshal(res)
	return wire.Event{Type: wire.EventWipeResult, Command: truncate(rec.Command, 128), OK: res.OK, Message: msg, Data: data}
}

// endJob spools a job's result and removes the job from the journal, in
// one transaction.
func (r *runner) endJob(id string, ev wire.Event) error {
	if ev.At.IsZero() {
		ev.At = r.cfg.Now().UTC()
	}
	build := r.build(wire.ChanEvent, ev)
	_, err := r.spool.AppendEndJob(id, wire.ChanEvent, func(seq uint64) ([]byte, error) {
		p, err := build(seq)
		if err != nil {
			return nil, err
		}
		// A result the server cannot read (past the payload limit once
		// inflated) would never end the job: refuse it here instead.
		if _, err := wire.Decode(p); err != nil {
			return nil, err
		}
		return p, nil
	})
	if err != nil {
		r.log.Error("spool job result", "job", id, "err", err)
		return err
	}
	r.pub.notify()
	return nil
}

// build returns the spool builder of an envelope holding body.
func (r *runner) build(kind wire.Channel, body any) func(seq uint64) ([]byte, error) {
	return func(seq uint64) ([]byte, error) {
		env, err := wire.NewEnvelope(r.st.DeviceID, seq, r.cfg.Now(), kind, body)
		if err != nil {
			return nil, err
		}
		return wire.Encode(env)
	}
}

// startJob journals a job and runs it in its own goroutine; a job that
// cannot start is answered at once with refused.
func (r *runner) startJob(c wire.Command, job string, run func(ctx context.Context, rec jobRecord), refused func(rec jobRecord, err error) wire.Event) {
	rec := jobRecord{Type: c.Type, Command: c.ID, Job: job, Started: r.cfg.Now().UTC(), Args: c.Args}
	if job == "" {
		r.event(refused(rec, fmt.Errorf("%w: no job id", ErrBadArgs)))
		return
	}
	b, _ := json.Marshal(rec)
	if err := r.spool.BeginJob(job, b); err != nil {
		if errors.Is(err, spool.ErrJobRunning) {
			err = fmt.Errorf("%w: %v", ErrBusy, err)
		}
		r.log.Warn("job refused", "job", job, "err", err)
		r.event(refused(rec, err))
		return
	}
	r.jobs.Add(1)
	go func() {
		defer r.jobs.Done()
		run(r.ctx, rec)
	}()
}

// startWipe obeys a verified wipe command.
func (r *runner) startWipe(c wire.Command) {
	var args wire.WipeArgs
	err := json.Unmarshal(c.Args, &args)
	refused := func(rec jobRecord, err error) wire.Event { return r.jobResult(rec, err, nil) }
	if err != nil {
		r.event(refused(jobRecord{Command: c.ID, Job: args.Job}, fmt.Errorf("%w: wipe: %v", ErrBadArgs, err)))
		return
	}
	if r.cfg.Wiper == nil {
		r.event(refused(jobRecord{Command: c.ID, Job: args.Job}, fmt.Errorf("%w: this agent has no wipe executor", ErrCommandRefused)))
		return
	}
	// Read at each wipe: a provisioning may have enrolled the device again.
	key, err := LoadDeviceKey(r.cfg.StateDir)
	if err != nil {
		r.event(refused(jobRecord{Command: c.ID, Job: args.Job}, fmt.Errorf("%w: cannot sign a certificate: %v", ErrCommandRefused, err)))
		return
	}
	r.startJob(c, args.Job, func(ctx context.Context, rec jobRecord) { r.wipe(ctx, rec, args, key) }, refused)
}

// wipe runs a wipe job: every target in turn, then the signed certificate
// and the result, which ends the job in the journal.
func (r *runner) wipe(ctx context.Context, rec jobRecord, args wire.WipeArgs, key ed25519.PrivateKey) {
	log := r.log.With("job", rec.Job)
	log.Info("wipe started", "method", args.Method, "verify", args.Verify, "disks", args.Disks)
	if args.Verify == "" {
		args.Verify = wire.VerifyFull
	}
	var media []certificate.Medium
	var errs []error
	targets, err := r.cfg.Wiper.Targets(ctx, args.Disks)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("find the disks to wipe: %w", err))
	case len(targets) == 0:
		errs = append(errs, errors.New("no internal disk to wipe"))
	}
	for _, t := range targets {
		if ctx.Err() != nil {
			break
		}
		spec := WipeSpec{Job: rec.Job, Method: args.Method, Verify: args.Verify, Progress: r.progress(rec, t.Name)}
		m, err := r.cfg.Wiper.Wipe(ctx, t, spec)
		if m.Name == "" {
			m.Name = t.Name
		}
		if m.Result == "" {
			m.Result = certificate.ResultFailed
		}
		if err == nil && (m.Result != certificate.ResultSucceeded || m.Verification.Result != "passed") {
			err = fmt.Errorf("medium result %q, verification %q: %s", m.Result, m.Verification.Result, m.Error)
		}
		if err != nil {
			if m.Error == "" {
				m.Error = truncate(err.Error(), 1024)
			}
			m.Result = certificate.ResultFailed
			errs = append(errs, fmt.Errorf("disk %s: %w", t.Name, err))
			log.Warn("disk not wiped", "disk", t.Name, "err", err)
		} else {
			log.Info("disk wiped", "disk", t.Name, "method", m.Method, "verification", m.Verification.Method)
		}
		media = append(media, m)
	}
	if ctx.Err() != nil {
		// Stopping: whatever the executors said, the wipe did not finish.
		errs = []error{errors.New(interruptedWipe)}
	}
	jobErr := errors.Join(errs...)
	var file []byte
	if len(media) > 0 {
		file, err = r.certificate(rec, args, media, jobErr == nil, key)
		if err != nil {
			jobErr = errors.Join(jobErr, err)
		}
	}
	if jobErr != nil {
		jobErr = errors.New(strings.ReplaceAll(jobErr.Error(), "\n", "; "))
	}
	if err := r.endJob(rec.Job, r.jobResult(rec, jobErr, file)); err != nil {
		// Most likely a certificate past the payload limit: the result
		// goes without it, failed, rather than not at all.
		jobErr = fmt.Errorf("the result with its certificate (%d bytes) could not be spooled: %v", len(file), err)
		if err := r.endJob(rec.Job, r.jobResult(rec, jobErr, nil)); err != nil {
			log.Error("wipe result not spooled; it will be reported as interrupted at the next start", "err", err)
			return
		}
	}
	log.Info("wipe ended", "ok", jobErr == nil, "err", jobErr)
}

// certificate builds and signs the certificate of a wipe job and returns
// the file's canonical bytes.
func (r *runner) certificate(rec jobRecord, args wire.WipeArgs, media []certificate.Medium, ok bool, key ed25519.PrivateKey) ([]byte, error) {
	result := certificate.ResultFailed
	if ok {
		result = certificate.ResultSucceeded
	}
	c := certificate.Certificate{
		Version:     certificate.Version,
		ID:          "cert-" + rec.Job,
		JobID:       rec.Job,
		Asset:       r.asset(),
		Media:       media,
		Operator:    args.Operator,
		SourceVenue: args.SourceVenue,
		Destination: args.Destination,
		Tool:        certificate.Tool{Name: "valise-agent", Version: r.cfg.AgentVersion},
		Started:     rec.Started,
		Finished:    r.cfg.Now().UTC(),
		Result:      result,
		PrevHash:    args.PrevHash,
	}
	f, err := certificate.Sign(c, key)
	if err != nil {
		return nil, err
	}
	return f.Marshal()
}

// asset identifies this device in a certificate: the state's identity and
// the hardware of the latest inventory, normalised as in fingerprints.
func (r *runner) asset() certificate.Asset {
	st, _ := r.pub.state()
	inv := r.latestInventory()
	fp := wire.FingerprintOf(&inv)
	a := certificate.Asset{
		DeviceID: st.DeviceID,
		AssetTag: st.AssetTag,
		Class:    st.Class,
		Vendor:   inv.System.Vendor,
		Model:    inv.System.Model,
		Serial:   fp.SystemSerial,
		UUID:     fp.UUID,
	}
	if len(fp.IMEIs) > 0 {
		a.IMEI = fp.IMEIs[0]
	}
	return a
}

// progressEvery is the least time between two progress events of one disk
// in the same phase.
const progressEvery = time.Second

// progress returns the progress callback of one disk: it spools a
// wipe_progress event (droppable) at most about once a second, and at
// every change of phase.
func (r *runner) progress(rec jobRecord, disk string) func(wire.WipeProgress) {
	var last time.Time
	var phase string
	var mu sync.Mutex
	return func(p wire.WipeProgress) {
		mu.Lock()
		defer mu.Unlock()
		now := r.cfg.Now()
		if p.Phase == phase && now.Sub(last) < progressEvery && p.DoneBytes < p.TotalBytes {
			return
		}
		last, phase = now, p.Phase
		p.Job, p.Disk = rec.Job, disk
		data, _ := json.Marshal(p)
		ev := wire.Event{Type: wire.EventWipeProgress, Command: truncate(rec.Command, 128), OK: true, Data: data, At: now.UTC()}
		if _, err := r.spool.AppendDroppable(wire.ChanEvent, r.build(wire.ChanEvent, ev)); err != nil {
			r.log.Warn("spool wipe progress", "err", err)
			return
		}
		r.pub.notify()
	}
}
