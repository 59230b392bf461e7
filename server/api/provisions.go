package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

// BundleInput is what a provisioning bundle is rendered for: one device,
// the server it re-enrols with, and the single-use token bound to it.
type BundleInput struct {
	DeviceID, AssetTag, Class string
	ServerURL                 string
	CAPin                     string // the join command's --ca-pin when the server speaks TLS
	EnrollToken               string
	ProvisionJob              string
}

// Provisioner renders provisioning bundles from profiles.
type Provisioner interface {
	// CheckProfile returns nil if the profile exists and suits the class,
	// else an error wrapping fleet.ErrNotFound or fleet.ErrInvalid.
	CheckProfile(name, class string) error
	// Bundle renders the bundle of a profile for one device, as the JSON
	// the agent applies (wire.ProvisionArgs.Bundle).
	Bundle(profile string, in BundleInput) (json.RawMessage, error)
}

// createProvision answers POST /api/v1/provisions: a wiped device gets a
// job, a single-use enrolment token bound to it, the rendered bundle in a
// signed provision command, and goes to provisioning.
func (a *API) createProvision(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	var req apitype.ProvisionRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.cfg.Provisioner == nil {
		a.fail(w, r, fmt.Errorf("%w: this server has no provisioning profiles", errNotImplemented))
		return
	}
	if a.cfg.Publisher == nil {
		a.fail(w, r, fmt.Errorf("%w: no MQTT broker to send commands through", errUnavailable))
		return
	}
	d, err := a.cfg.Fleet.Device(req.Device)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.cfg.Provisioner.CheckProfile(req.Profile, d.Class); err != nil {
		a.fail(w, r, err)
		return
	}
	job, token, err := a.cfg.Fleet.StartProvision(p, d.ID, req.Profile)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	in := BundleInput{
		DeviceID: d.ID, AssetTag: d.AssetTag, Class: d.Class, ServerURL: a.cfg.PublicURL,
		CAPin: a.caPin, EnrollToken: token, ProvisionJob: job.ID,
	}
	bundle, err := a.cfg.Provisioner.Bundle(req.Profile, in)
	if err == nil {
		err = a.sendCommand(d.ID, wire.CmdProvision, job.ID, wire.ProvisionArgs{Job: job.ID, Profile: req.Profile, Bundle: bundle}, job.ExpiresAt)
	}
	if err != nil {
		a.log.Error("provisioning not sent", "device", d.ID, "job", job.ID, "err", err)
		if job, err = a.cfg.Fleet.FailProvision(job.ID, fleet.ActorServer, "the provision command could not be sent: "+err.Error()); err != nil {
			a.fail(w, r, err)
			return
		}
	} else if job, err = a.cfg.Fleet.MarkProvisionSent(job.ID); err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("provision command sent", "device", d.ID, "asset_tag", d.AssetTag, "job", job.ID, "profile", req.Profile, "state", job.State, "by", p.Name)
	writeJSON(w, http.StatusCreated, toProvisionJob(job))
}

func toProvisionJob(j fleet.ProvisionJob) apitype.ProvisionJob {
	out := apitype.ProvisionJob{
		ID: j.ID, Device: j.Device, AssetTag: j.AssetTag, Profile: j.Profile, State: j.State,
		RequestedBy: j.RequestedBy, RequestedAt: j.RequestedAt, Error: j.Error,
	}
	if !j.FinishedAt.IsZero() {
		t := j.FinishedAt
		out.FinishedAt = &t
	}
	return out
}

// showProvision answers GET /api/v1/provisions/{id}.
func (a *API) showProvision(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	j, err := a.cfg.Fleet.ProvisionJob(r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toProvisionJob(j))
}
