package fleet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// Job states, of wipe jobs (requested -> sent -> running -> verifying ->
// succeeded | failed) and provisioning jobs (no verifying).
const (
	JobRequested = "requested"
	JobSent      = "sent"
	JobRunning   = "running"
	JobVerifying = "verifying"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// Destinations of a wiped asset, written in its certificate.
var Destinations = []string{"reuse", "donation", "recycling"}

// MaxWipeDevices bounds the devices of one wipe request.
const MaxWipeDevices = 1000

// DiskProgress is the latest progress of one disk of a wipe job.
type DiskProgress struct {
	Disk       string    `json:"disk"`
	Phase      string    `json:"phase"`
	DoneBytes  int64     `json:"done_bytes"`
	TotalBytes int64     `json:"total_bytes"`
	RateBps    float64   `json:"rate_bps,omitempty"`
	At         time.Time `json:"at"`
}

// WipeJob is one device's wipe.
type WipeJob struct {
	ID          string         `json:"id"`
	Device      string         `json:"device"`
	AssetTag    string         `json:"asset_tag"`
	State       string         `json:"state"`
	RequestedBy string         `json:"requested_by"`
	RequestedAt time.Time      `json:"requested_at"`
	StartedAt   time.Time      `json:"started_at,omitzero"`
	FinishedAt  time.Time      `json:"finished_at,omitzero"`
	UpdatedAt   time.Time      `json:"updated_at"`
	ExpiresAt   time.Time      `json:"expires_at,omitzero"` // of its command
	Progress    []DiskProgress `json:"progress,omitempty"`
	Error       string         `json:"error,omitempty"`
	Certificate string         `json:"certificate,omitempty"`
	// Args are those of the signed wipe command (the job id is its id).
	Args wire.WipeArgs `json:"args"`
}

// Finished reports whether the job ended.
func (j WipeJob) Finished() bool { return j.State == JobSucceeded || j.State == JobFailed }

// WipeSpec is what a technician asks in a wipe request.
type WipeSpec struct {
	Devices     []string // ids or asset tags
	Method      string   // wire.Method*; "" = auto
	Verify      string   // wire.VerifyFull (default) or wire.VerifySample
	Destination string   // one of Destinations; "reuse" by default
}

var wipeMethods = []string{
	wire.MethodAuto, wire.MethodOverwrite, wire.MethodLUKS, wire.MethodDiscard,
	wire.MethodNVMeSanitizeCrypto, wire.MethodNVMeSanitizeBlock, wire.MethodNVMeFormat,
	wire.MethodATAErase, wire.MethodATASanitize, wire.MethodHotspotReset,
}

// RequestWipes creates one wipe job per device and moves each device to
// wiping, all in one transaction: if one device may not be wiped now (on
// loan, lost, retired, already wiping) nothing changes and the error says
// which and why. The jobs carry the args of their wipe command; the caller
// signs and sends it, then calls MarkWipeSent.
func (f *Fleet) RequestWipes(by Principal, spec WipeSpec) ([]WipeJob, error) {
	if !by.Allowed(RoleTechnician) {
		return nil, fmt.Errorf("%w: only a technician or an admin may wipe devices", ErrForbidden)
	}
	if len(spec.Devices) == 0 || len(spec.Devices) > MaxWipeDevices {
		return nil, fmt.Errorf("%w: give 1 to %d devices to wipe", ErrInvalid, MaxWipeDevices)
	}
	if spec.Method == "" {
		spec.Method = wire.MethodAuto
	}
	if !slices.Contains(wipeMethods, spec.Method) {
		return nil, fmt.Errorf("%w: method %q is not one of %s", ErrInvalid, spec.Method, strings.Join(wipeMethods, ", "))
	}
	if spec.Verify == "" {
		spec.Verify = wire.VerifyFull
	}
	if spec.Verify != wire.VerifyFull && spec.Verify != wire.VerifySample {
		return nil, fmt.Errorf("%w: verify %q is not full or sample", ErrInvalid, spec.Verify)
	}
	if spec.Destination == "" {
		spec.Destination = Destinations[0]
	}
	if !slices.Contains(Destinations, spec.Destination) {
		return nil, fmt.Errorf("%w: destination %q is not one of %s", ErrInvalid, spec.Destination, strings.Join(Destinations, ", "))
	}
	var ids []string
	for _, ref := range spec.Devices {
		d, err := f.Device(ref)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, d.ID) {
			ids = append(ids, d.ID)
		}
	}
	now := f.now()
	var jobs []WipeJob
	err := f.cfg.Store.Update(func(tx Tx) error {
		for _, id := range ids {
			d, err := tx.Device(id)
			if err != nil {
				return err
			}
			switch d.State {
			case StateOnLoan:
				return fmt.Errorf("%w: %s is on loan: check its kit in before wiping it", ErrConflict, d.AssetTag)
			case StateRetired:
				return fmt.Errorf("%w: %s is retired", ErrConflict, d.AssetTag)
			case StateLost:
				return fmt.Errorf("%w: %s is lost: mark it found (needs_wipe) first", ErrConflict, d.AssetTag)
			case StateWiping:
				return fmt.Errorf("%w: %s is already being wiped", ErrConflict, d.AssetTag)
			}
			jobID, err := f.newID("w")
			if err != nil {
				return err
			}
			j := WipeJob{
				ID: jobID, Device: d.ID, AssetTag: d.AssetTag, State: JobRequested,
				RequestedBy: by.Name, RequestedAt: now, UpdatedAt: now, ExpiresAt: now.Add(f.cfg.WipeCommandTTL),
				Args: wire.WipeArgs{
					Job: jobID, Method: spec.Method, Verify: spec.Verify, Operator: by.Name,
					SourceVenue: venueName(tx, d.Venue), Destination: spec.Destination, PrevHash: d.LastCertHash,
				},
			}
			if err := tx.PutWipeJob(j); err != nil {
				return err
			}
			if err := f.audit(tx, AuditEvent{
				Actor: by.Name, Action: ActionWipeRequested, Device: d.ID,
				After: mustJSON(map[string]string{"job": j.ID, "method": spec.Method, "verify": spec.Verify, "destination": spec.Destination}),
			}); err != nil {
				return err
			}
			if err := f.transition(tx, &d, StateWiping, by.Name, "wipe job "+j.ID); err != nil {
				return err
			}
			if err := tx.PutDevice(d); err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		f.log.Info("wipe requested", "job", j.ID, "device", j.Device, "asset_tag", j.AssetTag, "method", j.Args.Method, "by", by.Name)
	}
	return jobs, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with maps of strings
	}
	return b
}

// MarkWipeSent records that a job's command reached the broker.
func (f *Fleet) MarkWipeSent(id string) (WipeJob, error) {
	return f.updateWipeJob(id, func(tx Tx, j *WipeJob) error {
		if j.State == JobRequested {
			j.State = JobSent
		}
		return nil
	})
}

// FailWipe ends a job as failed with reason (the command could not be
// sent, the agent refused it…) and moves its device to wipe_failed.
func (f *Fleet) FailWipe(id, actor, reason string) (WipeJob, error) {
	return f.updateWipeJob(id, func(tx Tx, j *WipeJob) error {
		return f.failWipe(tx, j, actor, reason)
	})
}

func (f *Fleet) failWipe(tx Tx, j *WipeJob, actor, reason string) error {
	if j.Finished() {
		return nil
	}
	f.forgetLive(j.ID)
	now := f.now()
	j.State, j.Error, j.FinishedAt, j.UpdatedAt = JobFailed, reason, now, now
	if err := f.audit(tx, AuditEvent{Actor: actor, Action: ActionWipeFailed, Device: j.Device,
		After: mustJSON(map[string]string{"job": j.ID}), Reason: reason}); err != nil {
		return err
	}
	d, err := tx.Device(j.Device)
	if err != nil {
		return err
	}
	if d.State != StateWiping {
		return nil
	}
	if err := f.transition(tx, &d, StateWipeFailed, actor, "wipe job "+j.ID+" failed: "+reason); err != nil {
		return err
	}
	return tx.PutDevice(d)
}

func (f *Fleet) updateWipeJob(id string, fn func(tx Tx, j *WipeJob) error) (WipeJob, error) {
	var out WipeJob
	err := f.cfg.Store.Update(func(tx Tx) error {
		j, err := tx.WipeJob(id)
		if err != nil {
			return err
		}
		if err := fn(tx, &j); err != nil {
			return err
		}
		out = j
		return tx.PutWipeJob(j)
	})
	return out, err
}

// WipeJob returns a wipe job; expired wipe jobs are failed first, so that
// a job the agent went silent on shows as failed.
func (f *Fleet) WipeJob(id string) (WipeJob, error) {
	if err := f.expireWipes(); err != nil {
		return WipeJob{}, err
	}
	j, err := f.cfg.Store.WipeJob(id)
	if errors.Is(err, ErrNotFound) {
		return j, fmt.Errorf("%w: no wipe job %s", ErrNotFound, id)
	}
	if err == nil {
		jobs := []WipeJob{j}
		f.overlay(jobs)
		j = jobs[0]
	}
	return j, err
}

// WipeJobs returns the wipe jobs, only unfinished ones when active, the
// newest first.
func (f *Fleet) WipeJobs(active bool) ([]WipeJob, error) {
	if err := f.expireWipes(); err != nil {
		return nil, err
	}
	jobs, err := f.cfg.Store.WipeJobs(active)
	if err != nil {
		return nil, fmt.Errorf("list wipe jobs: %w", err)
	}
	f.overlay(jobs)
	slices.SortFunc(jobs, func(a, b WipeJob) int {
		if c := b.RequestedAt.Compare(a.RequestedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return jobs, nil
}

// ExpireJobs ends, as failed, the wipe jobs that can no longer succeed: a
// command the device did not take before it expired, or a running wipe
// the agent has said nothing about for WipeSilence (killed, powered off;
// a restarted agent reports "interrupted" itself). The device goes to
// wipe_failed and may be wiped again. Provisioning jobs whose device did
// not re-enrol before its token expired fail too; the device goes back to
// wiped.
func (f *Fleet) ExpireJobs() error {
	if err := f.expireWipes(); err != nil {
		return err
	}
	now := f.now()
	pjobs, err := f.cfg.Store.ProvisionJobs()
	if err != nil {
		return fmt.Errorf("expire provisioning jobs: %w", err)
	}
	for _, j := range pjobs {
		reason := provisionExpired(j, now)
		if reason == "" {
			continue
		}
		if _, err := f.FailProvision(j.ID, ActorServer, reason); err != nil {
			return fmt.Errorf("expire provisioning job %s: %w", j.ID, err)
		}
		f.log.Warn("provisioning job failed", "job", j.ID, "device", j.Device, "reason", reason)
	}
	return nil
}

// expireWipes is the wipe half of ExpireJobs, cheap enough (it reads the
// active jobs only) to run before every read of wipe jobs.
func (f *Fleet) expireWipes() error {
	jobs, err := f.cfg.Store.WipeJobs(true)
	if err != nil {
		return fmt.Errorf("expire wipe jobs: %w", err)
	}
	now := f.now()
	for _, j := range jobs {
		var reason string
		switch {
		case (j.State == JobRequested || j.State == JobSent) && !j.ExpiresAt.IsZero() && !now.Before(j.ExpiresAt):
			reason = "the device did not take the wipe command before it expired at " + j.ExpiresAt.Format(time.RFC3339)
		case (j.State == JobRunning || j.State == JobVerifying) && now.Sub(j.UpdatedAt) >= f.cfg.WipeSilence:
			reason = "no news from the agent since " + j.UpdatedAt.Format(time.RFC3339) + ": the wipe was interrupted"
		default:
			continue
		}
		if _, err := f.updateWipeJob(j.ID, func(tx Tx, cur *WipeJob) error {
			return f.failWipe(tx, cur, ActorServer, reason)
		}); err != nil {
			return fmt.Errorf("expire wipe job %s: %w", j.ID, err)
		}
		f.log.Warn("wipe job failed", "job", j.ID, "device", j.Device, "reason", reason)
	}
	return nil
}

// HandleEvent acts on an event a device sent: wipe progress and results,
// provisioning results, and refusals of its commands. Ingest calls it
// after the event is stored. Other events are ignored.
func (f *Fleet) HandleEvent(device string, ev wire.Event) error {
	switch ev.Type {
	case wire.EventWipeProgress:
		var p wire.WipeProgress
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			return fmt.Errorf("%w: wipe progress of %s: %v", ErrInvalid, device, err)
		}
		return f.wipeProgress(device, p, ev.At)
	case wire.EventWipeResult:
		var r wire.WipeResult
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return fmt.Errorf("%w: wipe result of %s: %v", ErrInvalid, device, err)
		}
		return f.wipeResult(device, r)
	case wire.EventProvisionResult:
		var r wire.ProvisionResult
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return fmt.Errorf("%w: provision result of %s: %v", ErrInvalid, device, err)
		}
		return f.provisionResult(device, r)
	case wire.EventCommandResult:
		if ev.OK || ev.Command == "" {
			return nil
		}
		return f.commandRefused(device, ev.Command, ev.Message)
	}
	return nil
}

// replayedMark is how the agent's refusal of a command whose nonce it has
// already used reads.
const replayedMark = "nonce already used"

// commandRefused fails the job whose command the agent refused (forged,
// expired, replayed, or it could not run it). Command ids are job ids.
func (f *Fleet) commandRefused(device, cmd, msg string) error {
	if msg == "" {
		msg = "refused by the agent"
	}
	if strings.Contains(msg, replayedMark) {
		// The agent accepted this command once (it keeps the nonces of
		// the commands it took): this refuses a second delivery of it,
		// which QoS 1 allows. The job goes on.
		f.log.Info("command delivered again and refused as replayed", "device", device, "command", cmd)
		return nil
	}
	if _, err := f.cfg.Store.WipeJob(cmd); err == nil {
		_, err := f.updateWipeJob(cmd, func(tx Tx, j *WipeJob) error {
			if j.Device != device {
				return fmt.Errorf("%w: %s answered for the job of %s", ErrForbidden, device, j.Device)
			}
			if j.State != JobRequested && j.State != JobSent {
				// The agent took the command already: this refuses a
				// second delivery of it (QoS 1 is at least once).
				return nil
			}
			return f.failWipe(tx, j, agentActor(device), "the agent refused the command: "+msg)
		})
		return err
	}
	if _, err := f.cfg.Store.ProvisionJob(cmd); err == nil {
		return f.provisionResult(device, wire.ProvisionResult{Job: cmd, OK: false, Error: "the agent refused the command: " + msg})
	}
	return nil
}

// progressEvery is how often a running job's progress is written when its
// state does not change; in between, the latest is kept in memory and
// shown by WipeJob and WipeJobs. A restart loses at most that much of it.
const progressEvery = 10 * time.Second

// liveJob is the progress of a running job since it was last written.
type liveJob struct {
	device   string
	state    string
	progress []DiskProgress
	written  time.Time
}

// setProgress puts dp into a job's progress list, one entry per disk.
func setProgress(list []DiskProgress, dp DiskProgress) []DiskProgress {
	i := slices.IndexFunc(list, func(x DiskProgress) bool { return x.Disk == dp.Disk })
	switch {
	case i >= 0:
		list[i] = dp
	case len(list) < 64:
		list = append(list, dp)
	}
	return list
}

// overlay shows the progress kept in memory on jobs read from the store.
func (f *Fleet) overlay(jobs []WipeJob) {
	f.liveMu.Lock()
	defer f.liveMu.Unlock()
	for i := range jobs {
		if l := f.live[jobs[i].ID]; l != nil && !jobs[i].Finished() {
			jobs[i].Progress = slices.Clone(l.progress)
		}
	}
}

func (f *Fleet) forgetLive(job string) {
	f.liveMu.Lock()
	delete(f.live, job)
	f.liveMu.Unlock()
}

func (f *Fleet) wipeProgress(device string, p wire.WipeProgress, at time.Time) error {
	if p.Job == "" {
		return nil // a maintenance-mode wipe: only its result counts
	}
	if at.IsZero() {
		at = f.now()
	}
	state := JobRunning
	if p.Phase == wire.PhaseVerifying {
		state = JobVerifying
	}
	dp := DiskProgress{Disk: clip(p.Disk), Phase: clip(p.Phase), DoneBytes: p.DoneBytes, TotalBytes: p.TotalBytes, RateBps: p.RateBps, At: at.UTC()}
	now := f.now()
	f.liveMu.Lock()
	if l := f.live[p.Job]; l != nil && l.device == device && l.state == state && now.Sub(l.written) < progressEvery {
		l.progress = setProgress(l.progress, dp)
		f.liveMu.Unlock()
		return nil
	}
	f.liveMu.Unlock()
	j, err := f.updateWipeJob(p.Job, func(tx Tx, j *WipeJob) error {
		if j.Device != device {
			return fmt.Errorf("%w: %s sent progress for the job of %s", ErrForbidden, device, j.Device)
		}
		if j.Finished() {
			return nil
		}
		now := f.now()
		if j.StartedAt.IsZero() {
			j.StartedAt = now
			if err := f.audit(tx, AuditEvent{Actor: agentActor(device), Action: ActionWipeStarted, Device: device,
				After: mustJSON(map[string]string{"job": j.ID})}); err != nil {
				return err
			}
		}
		j.State = state
		f.liveMu.Lock()
		if l := f.live[j.ID]; l != nil {
			j.Progress = slices.Clone(l.progress) // other disks' news since the last write
		}
		f.liveMu.Unlock()
		j.Progress = setProgress(j.Progress, dp)
		j.UpdatedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	f.liveMu.Lock()
	defer f.liveMu.Unlock()
	if j.Finished() {
		delete(f.live, j.ID)
		return nil
	}
	if f.live == nil {
		f.live = map[string]*liveJob{}
	}
	f.live[j.ID] = &liveJob{device: device, state: j.State, progress: slices.Clone(j.Progress), written: now}
	return nil
}

// wipeResult ends a job. A successful result's certificate is verified
// (signed by the device's recorded key, about this device and its
// hardware, chained to the asset's previous certificate), countersigned
// and stored, and the device is wiped; anything else fails the job and the
// device is wipe_failed, the reason kept. A result without a job comes from
// a maintenance-mode wipe: its job record is made from the certificate.
func (f *Fleet) wipeResult(device string, r wire.WipeResult) error {
	if f.cfg.ServerKey == nil {
		return fmt.Errorf("%w: no server key to countersign certificates", ErrUnavailable)
	}
	var refused error
	err := f.cfg.Store.Update(func(tx Tx) error {
		d, err := tx.Device(device)
		if err != nil {
			return err
		}
		var j WipeJob
		if r.Job == "" {
			if !r.OK || len(r.Certificate) == 0 {
				f.log.Warn("maintenance-mode wipe failed", "device", device, "err", r.Error)
				return f.audit(tx, AuditEvent{Actor: agentActor(device), Action: ActionWipeFailed, Device: device, Reason: "maintenance-mode wipe: " + clipN(r.Error, 1024)})
			}
			if cf, err := certificate.ParseFile(r.Certificate); err == nil {
				if c, err := cf.Decode(); err == nil && c.ID != "" {
					if _, _, err := tx.Certificate(c.ID); err == nil {
						return nil // already stored: a redelivered result
					}
				}
			}
			if j, err = f.maintenanceJob(tx, d, r.Certificate); err != nil {
				refused = err
				return f.audit(tx, AuditEvent{Actor: agentActor(device), Action: ActionWipeFailed, Device: device, Reason: "maintenance-mode certificate refused: " + err.Error()})
			}
		} else {
			if j, err = tx.WipeJob(r.Job); err != nil {
				return err
			}
			if j.Device != device {
				return fmt.Errorf("%w: %s sent the result of the job of %s", ErrForbidden, device, j.Device)
			}
			if j.State == JobSucceeded {
				return nil // a redelivered result
			}
		}
		reason := clipN(r.Error, 1024)
		if r.OK {
			rec, err := f.acceptCertificate(tx, &d, r.Certificate, j.ID, agentActor(device))
			if err == nil {
				now := f.now()
				wasFailed := j.State == JobFailed
				f.forgetLive(j.ID)
				j.State, j.Error, j.Certificate, j.FinishedAt, j.UpdatedAt = JobSucceeded, "", rec.ID, now, now
				if j.StartedAt.IsZero() {
					j.StartedAt = rec.Started
				}
				if err := f.audit(tx, AuditEvent{Actor: agentActor(device), Action: ActionWipeSucceeded, Device: device,
					After: mustJSON(map[string]string{"job": j.ID, "certificate": rec.ID})}); err != nil {
					return err
				}
				switch {
				case d.State == StateWiping:
					err = f.transition(tx, &d, StateWiped, agentActor(device), "wipe job "+j.ID+" succeeded")
				case wasFailed && d.State == StateWipeFailed, r.Job == "" && CanTransition(d.State, StateWiping):
					// A late result, or a maintenance-mode wipe: the
					// device went through a wipe the server did not follow.
					if err = f.transition(tx, &d, StateWiping, agentActor(device), "wipe job "+j.ID+" reported"); err == nil {
						err = f.transition(tx, &d, StateWiped, agentActor(device), "wipe job "+j.ID+" succeeded")
					}
				}
				if err != nil {
					return err
				}
				if err := tx.PutDevice(d); err != nil {
					return err
				}
				return tx.PutWipeJob(j)
			}
			if !errors.Is(err, errRefused) {
				return err
			}
			refused = err
			reason = "certificate refused: " + strings.TrimPrefix(err.Error(), errRefused.Error()+": ")
		}
		if reason == "" {
			reason = "the agent reported a failure without a reason"
		}
		if err := f.failWipe(tx, &j, agentActor(device), reason); err != nil {
			return err
		}
		return tx.PutWipeJob(j)
	})
	if err != nil {
		return fmt.Errorf("wipe result of %s: %w", device, err)
	}
	if refused != nil {
		f.log.Warn("wipe certificate refused", "device", device, "job", r.Job, "err", refused)
	}
	return nil
}

// errRefused marks a certificate the server will not store; the job fails.
var errRefused = errors.New("certificate refused")

// maintenanceJob makes the job record of a wipe the server did not ask for.
func (f *Fleet) maintenanceJob(tx Tx, d Device, file []byte) (WipeJob, error) {
	file, err := canonicalFile(file)
	if err != nil {
		return WipeJob{}, err
	}
	c, _, err := certificate.Verify(file, certificate.VerifyOptions{Unsigned: true})
	if err != nil {
		return WipeJob{}, fmt.Errorf("%w: %w", errRefused, err)
	}
	id, err := f.newID("w")
	if err != nil {
		return WipeJob{}, err
	}
	now := f.now()
	j := WipeJob{
		ID: id, Device: d.ID, AssetTag: d.AssetTag, State: JobRunning,
		RequestedBy: clip(c.Operator), RequestedAt: c.Started, StartedAt: c.Started, UpdatedAt: now,
		Args: wire.WipeArgs{Job: "", Operator: clip(c.Operator), SourceVenue: clip(c.SourceVenue), Destination: clip(c.Destination), PrevHash: c.PrevHash},
	}
	if len(c.Media) > 0 {
		j.Args.Method = c.Media[0].Method
		j.Args.Verify = c.Media[0].Verification.Method
	}
	return j, nil
}

// canonicalFile re-encodes a certificate file in its canonical form. A
// file embedded in an MQTT event arrives compacted (JSON encoders compact
// embedded raw values); the signatures cover the certificate's own bytes,
// which compacting leaves as they are.
func canonicalFile(raw []byte) ([]byte, error) {
	var cf certificate.File
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cf); err != nil {
		return nil, fmt.Errorf("%w: %w: %v", errRefused, certificate.ErrFormat, err)
	}
	out, err := cf.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %v", errRefused, certificate.ErrFormat, err)
	}
	return out, nil
}

// acceptCertificate verifies a device-signed certificate of d, countersigns
// it, chains and stores it, and makes it d's latest. Errors wrapping
// errRefused say why the certificate is not acceptable.
func (f *Fleet) acceptCertificate(tx Tx, d *Device, file []byte, job, actor string) (CertRecord, error) {
	if len(file) == 0 {
		return CertRecord{}, fmt.Errorf("%w: the result carries no certificate", errRefused)
	}
	if d.DeviceKey == "" {
		return CertRecord{}, fmt.Errorf("%w: %s has no device key recorded at enrolment", errRefused, d.AssetTag)
	}
	key, err := decodeKey(d.DeviceKey)
	if err != nil {
		return CertRecord{}, fmt.Errorf("%w: %w", errRefused, err)
	}
	if file, err = canonicalFile(file); err != nil {
		return CertRecord{}, err
	}
	c, cf, err := certificate.Verify(file, certificate.VerifyOptions{DeviceKey: key, Unsigned: true})
	if err != nil {
		return CertRecord{}, fmt.Errorf("%w: %w", errRefused, err)
	}
	return f.storeCertificate(tx, d, c, cf, job, actor)
}

// storeCertificate checks c against d (asset, hardware, job, chain),
// countersigns cf and stores it as d's latest certificate.
func (f *Fleet) storeCertificate(tx Tx, d *Device, c certificate.Certificate, cf certificate.File, job, actor string) (CertRecord, error) {
	switch {
	case c.Asset.DeviceID != d.ID:
		return CertRecord{}, fmt.Errorf("%w: it is about device %q, not %s", errRefused, c.Asset.DeviceID, d.ID)
	case c.JobID != "" && job != "" && c.JobID != job && d.LastCertificate != c.ID:
		return CertRecord{}, fmt.Errorf("%w: it is for job %q, not %s", errRefused, c.JobID, job)
	case c.Result != certificate.ResultSucceeded:
		return CertRecord{}, fmt.Errorf("%w: its result is %s", errRefused, c.Result)
	case c.PrevHash != d.LastCertHash && !(c.JobID == "" && c.PrevHash == ""):
		// A maintenance-mode wipe (no job) ran offline and could not know
		// the previous hash: its empty prev_hash is accepted, and the
		// audit event of the certificate records the link.
		return CertRecord{}, fmt.Errorf("%w: %w: prev_hash %q, but the asset's previous certificate hashes to %q", errRefused, certificate.ErrChain, c.PrevHash, d.LastCertHash)
	}
	serverPrev := d.LastCertHash
	if why := identityMismatch(c, *d); why != "" {
		return CertRecord{}, fmt.Errorf("%w: %s", errRefused, why)
	}
	if _, _, err := tx.Certificate(c.ID); err == nil {
		return CertRecord{}, fmt.Errorf("%w: a certificate %s is already stored", errRefused, c.ID)
	}
	if err := cf.Countersign(f.cfg.ServerKey); err != nil {
		return CertRecord{}, fmt.Errorf("%w: %w", errRefused, err)
	}
	data, err := cf.Marshal()
	if err != nil {
		return CertRecord{}, err
	}
	rec := recordOf(c, *d, cf.Hash(), f.now())
	if rec.Job == "" {
		rec.Job = job
	}
	if err := tx.PutCertificate(rec, data); err != nil {
		return CertRecord{}, err
	}
	d.LastCertificate, d.LastCertHash = rec.ID, rec.Hash
	after := map[string]string{"certificate": rec.ID, "hash": rec.Hash, "category": rec.Category, "result": rec.Result}
	if serverPrev != "" {
		after["prev_hash"] = serverPrev
	}
	if err := f.audit(tx, AuditEvent{Actor: actor, Action: ActionCertificate, Device: d.ID, After: mustJSON(after)}); err != nil {
		return CertRecord{}, err
	}
	return rec, nil
}

// Certificates returns the records of a device's certificates, newest
// first.
func (f *Fleet) Certificates(ref string) ([]CertRecord, error) {
	d, err := f.Device(ref)
	if err != nil {
		return nil, err
	}
	recs, err := f.cfg.Store.Certificates(d.ID)
	if err != nil {
		return nil, fmt.Errorf("certificates of %s: %w", d.AssetTag, err)
	}
	slices.Reverse(recs)
	return recs, nil
}

// Certificate returns a stored certificate's record and its countersigned
// file.
func (f *Fleet) Certificate(id string) (CertRecord, []byte, error) {
	rec, file, err := f.cfg.Store.Certificate(id)
	if errors.Is(err, ErrNotFound) {
		return rec, nil, fmt.Errorf("%w: no certificate %s", ErrNotFound, id)
	}
	return rec, file, err
}

// ServerPublicKey returns the public half of the key that countersigns
// certificates and signs commands, or nil if the fleet has none.
func (f *Fleet) ServerPublicKey() ed25519.PublicKey {
	if f.cfg.ServerKey == nil {
		return nil
	}
	return f.cfg.ServerKey.Public().(ed25519.PublicKey)
}

func clipN(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}
