package fleet

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// ProvisionJob is one device's provisioning: a bundle sent to the device,
// which re-enrols with the bundle's single-use token when it is done.
type ProvisionJob struct {
	ID          string    `json:"id"`
	Device      string    `json:"device"`
	AssetTag    string    `json:"asset_tag"`
	Profile     string    `json:"profile"`
	State       string    `json:"state"` // Job* (no verifying)
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Error       string    `json:"error,omitempty"`
	// Token is the id of the enrolment token bound to the device.
	Token string `json:"token"`
}

// Finished reports whether the job ended.
func (j ProvisionJob) Finished() bool { return j.State == JobSucceeded || j.State == JobFailed }

// StartProvision starts provisioning a wiped device with a profile: it
// makes the job and a single-use enrolment token of the device's class
// bound to the device, and moves the device to provisioning, in one
// transaction. It returns the job and the token's secret, which goes into
// the bundle the caller renders and sends (then MarkProvisionSent). The
// wipe gate must hold already: provisioning a device that could not end
// ready is refused at once.
func (f *Fleet) StartProvision(by Principal, ref, profile string) (ProvisionJob, string, error) {
	if !by.Allowed(RoleTechnician) {
		return ProvisionJob{}, "", fmt.Errorf("%w: only a technician or an admin may provision devices", ErrForbidden)
	}
	profile = strings.TrimSpace(profile)
	if profile == "" || len(profile) > 64 {
		return ProvisionJob{}, "", fmt.Errorf("%w: profile must be 1 to 64 characters", ErrInvalid)
	}
	d, err := f.Device(ref)
	if err != nil {
		return ProvisionJob{}, "", err
	}
	secret, err := f.secret(prefixEnrollToken)
	if err != nil {
		return ProvisionJob{}, "", fmt.Errorf("provision: %w", err)
	}
	now := f.now()
	var job ProvisionJob
	err = f.cfg.Store.Update(func(tx Tx) error {
		d, err := tx.Device(d.ID)
		if err != nil {
			return err
		}
		if d.State != StateWiped {
			return fmt.Errorf("%w: %s is %s: only a wiped device can be provisioned", ErrConflict, d.AssetTag, d.State)
		}
		if err := f.gate(tx, d); err != nil {
			return err
		}
		jobID, err := f.newID("p")
		if err != nil {
			return err
		}
		tokID, err := f.newID("t")
		if err != nil {
			return err
		}
		tok := EnrollToken{
			ID: tokID, Hash: HashSecret(secret), Class: d.Class, Uses: 1, Kit: d.Kit, Venue: d.Venue,
			CreatedBy: by.Name, CreatedAt: now, ExpiresAt: now.Add(f.cfg.WipeCommandTTL),
			Device: d.ID, ProvisionJob: jobID,
		}
		if err := tx.PutEnrollToken(tok); err != nil {
			return err
		}
		job = ProvisionJob{
			ID: jobID, Device: d.ID, AssetTag: d.AssetTag, Profile: profile, State: JobRequested,
			RequestedBy: by.Name, RequestedAt: now, UpdatedAt: now, ExpiresAt: tok.ExpiresAt, Token: tok.ID,
		}
		if err := tx.PutProvisionJob(job); err != nil {
			return err
		}
		if err := f.audit(tx, AuditEvent{Actor: by.Name, Action: ActionProvisionRequested, Device: d.ID,
			After: mustJSON(map[string]string{"job": jobID, "profile": profile})}); err != nil {
			return err
		}
		if err := f.transition(tx, &d, StateProvisioning, by.Name, "provisioning job "+jobID); err != nil {
			return err
		}
		return tx.PutDevice(d)
	})
	if err != nil {
		return ProvisionJob{}, "", err
	}
	f.log.Info("provisioning requested", "job", job.ID, "device", job.Device, "asset_tag", job.AssetTag, "profile", profile, "by", by.Name)
	return job, secret, nil
}

// MarkProvisionSent records that a job's command reached the broker.
func (f *Fleet) MarkProvisionSent(id string) (ProvisionJob, error) {
	return f.updateProvisionJob(id, func(tx Tx, j *ProvisionJob) error {
		if j.State == JobRequested {
			j.State = JobSent
		}
		return nil
	})
}

// FailProvision ends a provisioning job as failed; its device goes back
// to wiped (its wipe still holds) when it was provisioning.
func (f *Fleet) FailProvision(id, actor, reason string) (ProvisionJob, error) {
	return f.updateProvisionJob(id, func(tx Tx, j *ProvisionJob) error {
		return f.failProvision(tx, j, actor, reason)
	})
}

func (f *Fleet) failProvision(tx Tx, j *ProvisionJob, actor, reason string) error {
	if j.Finished() {
		return nil
	}
	now := f.now()
	j.State, j.Error, j.FinishedAt, j.UpdatedAt = JobFailed, reason, now, now
	if err := f.audit(tx, AuditEvent{Actor: actor, Action: ActionProvisionFailed, Device: j.Device,
		After: mustJSON(map[string]string{"job": j.ID}), Reason: reason}); err != nil {
		return err
	}
	d, err := tx.Device(j.Device)
	if err != nil {
		return err
	}
	if d.State != StateProvisioning {
		return nil
	}
	if err := f.transition(tx, &d, StateWiped, actor, "provisioning job "+j.ID+" failed"); err != nil {
		return err
	}
	return tx.PutDevice(d)
}

func (f *Fleet) updateProvisionJob(id string, fn func(tx Tx, j *ProvisionJob) error) (ProvisionJob, error) {
	var out ProvisionJob
	err := f.cfg.Store.Update(func(tx Tx) error {
		j, err := tx.ProvisionJob(id)
		if err != nil {
			return err
		}
		if err := fn(tx, &j); err != nil {
			return err
		}
		out = j
		return tx.PutProvisionJob(j)
	})
	return out, err
}

// ProvisionJob returns a provisioning job.
func (f *Fleet) ProvisionJob(id string) (ProvisionJob, error) {
	j, err := f.cfg.Store.ProvisionJob(id)
	if errors.Is(err, ErrNotFound) {
		return j, fmt.Errorf("%w: no provisioning job %s", ErrNotFound, id)
	}
	if err == nil {
		if reason := provisionExpired(j, f.now()); reason != "" {
			return f.FailProvision(id, ActorServer, reason)
		}
	}
	return j, err
}

// provisionExpired returns why j fails for its device not re-enrolling in
// time, or "" while j may still succeed.
func provisionExpired(j ProvisionJob, now time.Time) string {
	if j.Finished() || now.Before(j.ExpiresAt) {
		return ""
	}
	return "the device did not re-enrol before its token expired at " + j.ExpiresAt.Format(time.RFC3339)
}

// provisionResult acts on the agent's report of a provisioning job: a
// failure ends the job; success waits for the re-enrolment, which ends it.
func (f *Fleet) provisionResult(device string, r wire.ProvisionResult) error {
	if r.OK {
		return nil
	}
	reason := clipN(r.Error, 1024)
	if reason == "" {
		reason = "the agent reported a failure without a reason"
	}
	_, err := f.updateProvisionJob(r.Job, func(tx Tx, j *ProvisionJob) error {
		if j.Device != device {
			return fmt.Errorf("%w: %s sent the result of the job of %s", ErrForbidden, device, j.Device)
		}
		return f.failProvision(tx, j, agentActor(device), reason)
	})
	if err != nil {
		return fmt.Errorf("provision result of %s: %w", device, err)
	}
	return nil
}

// finishProvision runs inside an enrolment with a token bound to d: the
// device came back from provisioning. The job succeeds and d becomes ready
// if the wipe gate holds; otherwise d stays provisioning and the job fails
// with the gate's reason.
func (f *Fleet) finishProvision(tx Tx, d *Device, jobID string) error {
	j, err := tx.ProvisionJob(jobID)
	if err != nil {
		return err
	}
	if j.Finished() {
		return nil
	}
	now := f.now()
	actor := agentActor(d.ID)
	if d.State != StateProvisioning {
		j.State, j.Error, j.FinishedAt, j.UpdatedAt = JobFailed, fmt.Sprintf("the device re-enrolled while %s", d.State), now, now
		return tx.PutProvisionJob(j)
	}
	if err := f.gate(tx, *d); err != nil {
		reason := "re-enrolled, but " + strings.TrimPrefix(strings.TrimPrefix(err.Error(), ErrConflict.Error()+": "), ErrNotWiped.Error()+": ")
		j.State, j.Error, j.FinishedAt, j.UpdatedAt = JobFailed, reason, now, now
		d.StateReason = reason
		if err := f.audit(tx, AuditEvent{Actor: actor, Action: ActionProvisionFailed, Device: d.ID,
			After: mustJSON(map[string]string{"job": j.ID}), Reason: reason}); err != nil {
			return err
		}
		return tx.PutProvisionJob(j)
	}
	j.State, j.FinishedAt, j.UpdatedAt = JobSucceeded, now, now
	if err := f.audit(tx, AuditEvent{Actor: actor, Action: ActionProvisionSucceeded, Device: d.ID,
		After: mustJSON(map[string]string{"job": j.ID, "profile": j.Profile})}); err != nil {
		return err
	}
	if err := f.transition(tx, d, StateReady, actor, "provisioning job "+j.ID+" done"); err != nil {
		return err
	}
	return tx.PutProvisionJob(j)
}
