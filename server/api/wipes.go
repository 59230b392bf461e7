package api

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/certificate/certpdf"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

// MaxImportBody bounds an imported nwipe log.
const MaxImportBody = 4 << 20

// errNotImplemented means the server was built without what the route
// needs (the PDF renderer, the nwipe log parser).
var errNotImplemented = errors.New("not implemented")

// sendCommand signs a command whose id is id (a job id) and publishes it
// on the device's cmd topic at QoS 1. An offline device gets it from its
// persistent session when it reconnects, until expires.
func (a *API) sendCommand(device, typ, id string, args any, expires time.Time) error {
	if a.cfg.Publisher == nil {
		return fmt.Errorf("%w: no MQTT broker to send commands through", errUnavailable)
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("encode %s args: %w", typ, err)
	}
	nonce, err := a.random(16)
	if err != nil {
		return err
	}
	now := a.cfg.Now().UTC()
	cmd := wire.Command{ID: id, Device: device, Type: typ, IssuedAt: now, ExpiresAt: expires.UTC(), Nonce: nonce, Args: raw}
	payload, err := wire.SignCommand(a.cfg.CommandKey, cmd)
	if err != nil {
		return err
	}
	if len(payload) > wire.MaxPayload {
		return fmt.Errorf("%w: the %s command is %d bytes, over the MQTT payload limit", errBadRequest, typ, len(payload))
	}
	if err := a.cfg.Publisher.Publish(a.cfg.Topics.Device(device, wire.ChanCmd), payload, false); err != nil {
		a.log.Error("publish command", "device", device, "command", id, "err", err)
		return fmt.Errorf("%w: the broker did not take the command", errUnavailable)
	}
	return nil
}

// createWipes answers POST /api/v1/wipes: one job per device, each
// device moved to wiping, and a signed wipe command sent to each.
func (a *API) createWipes(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	var req apitype.WipeRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.cfg.Publisher == nil {
		a.fail(w, r, fmt.Errorf("%w: no MQTT broker to send commands through", errUnavailable))
		return
	}
	jobs, err := a.cfg.Fleet.RequestWipes(p, fleet.WipeSpec{Devices: req.Devices, Method: req.Method, Verify: req.Verify, Destination: req.Destination})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]apitype.WipeJob, 0, len(jobs))
	for _, j := range jobs {
		if err := a.sendCommand(j.Device, wire.CmdWipe, j.ID, j.Args, j.ExpiresAt); err != nil {
			if j, err = a.cfg.Fleet.FailWipe(j.ID, fleet.ActorServer, "the wipe command could not be sent: "+err.Error()); err != nil {
				a.fail(w, r, err)
				return
			}
		} else if j, err = a.cfg.Fleet.MarkWipeSent(j.ID); err != nil {
			a.fail(w, r, err)
			return
		}
		a.log.Info("wipe command sent", "device", j.Device, "asset_tag", j.AssetTag, "job", j.ID, "state", j.State, "by", p.Name)
		out = append(out, toWipeJob(j))
	}
	writeJSON(w, http.StatusCreated, out)
}

func toWipeJob(j fleet.WipeJob) apitype.WipeJob {
	out := apitype.WipeJob{
		ID: j.ID, Device: j.Device, AssetTag: j.AssetTag, Method: j.Args.Method, Verify: j.Args.Verify,
		State: j.State, RequestedBy: j.RequestedBy, RequestedAt: j.RequestedAt,
		Error: j.Error, Certificate: j.Certificate,
	}
	if !j.StartedAt.IsZero() {
		t := j.StartedAt
		out.StartedAt = &t
	}
	if !j.FinishedAt.IsZero() {
		t := j.FinishedAt
		out.FinishedAt = &t
	}
	for _, p := range j.Progress {
		out.Progress = append(out.Progress, apitype.DiskProgress{
			Disk: p.Disk, Phase: p.Phase, DoneBytes: p.DoneBytes, TotalBytes: p.TotalBytes, RateBps: p.RateBps, At: p.At,
		})
	}
	return out
}

// listWipes answers GET /api/v1/wipes[?active=true], newest first.
func (a *API) listWipes(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	active := false
	if s := r.URL.Query().Get("active"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			a.fail(w, r, fmt.Errorf("%w: active=%q, want true or false", errBadRequest, s))
			return
		}
		active = v
	}
	jobs, err := a.cfg.Fleet.WipeJobs(active)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]apitype.WipeJob, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, toWipeJob(j))
	}
	writeJSON(w, http.StatusOK, out)
}

// showWipe answers GET /api/v1/wipes/{id}.
func (a *API) showWipe(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	j, err := a.cfg.Fleet.WipeJob(r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toWipeJob(j))
}

func toCertInfo(c fleet.CertRecord) apitype.CertificateInfo {
	methods := c.Methods
	if methods == nil {
		methods = []string{}
	}
	return apitype.CertificateInfo{
		ID: c.ID, Device: c.Device, AssetTag: c.AssetTag, Job: c.Job, Result: c.Result,
		Methods: methods, Category: c.Category, Finished: c.Finished, External: c.External,
		Hash: c.Hash, PrevHash: c.PrevHash,
	}
}

// listCertificates answers GET /api/v1/devices/{ref}/certificates, newest
// first.
func (a *API) listCertificates(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	recs, err := a.cfg.Fleet.Certificates(r.PathValue("ref"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]apitype.CertificateInfo, 0, len(recs))
	for _, c := range recs {
		out = append(out, toCertInfo(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// showCertificate answers GET /api/v1/certificates/{id} with the
// countersigned file's exact bytes: hashing them gives the chain hash.
func (a *API) showCertificate(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	rec, file, err := a.cfg.Fleet.Certificate(r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+rec.ID+`.json"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(file)))
	w.WriteHeader(http.StatusOK)
	w.Write(file)
}

// certificatePDF answers GET /api/v1/certificates/{id}/pdf.
func (a *API) certificatePDF(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	rec, file, err := a.cfg.Fleet.Certificate(r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if a.cfg.RenderPDF == nil {
		a.fail(w, r, fmt.Errorf("%w: this server cannot render certificates as PDF yet; download the JSON file", errNotImplemented))
		return
	}
	var buf bytes.Buffer
	if err := a.cfg.RenderPDF(&buf, file); err != nil {
		a.fail(w, r, fmt.Errorf("render certificate %s as PDF: %w", rec.ID, err))
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `attachment; filename="`+rec.ID+`.pdf"`)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// renderPDF renders a stored certificate file with certpdf.Render.
func renderPDF(w io.Writer, file []byte) error {
	f, err := certificate.ParseFile(file)
	if err != nil {
		return err
	}
	return certpdf.Render(w, f)
}

// importCertificate answers POST /api/v1/devices/{ref}/certificates/import:
// the body is a raw nwipe log (text/plain).
func (a *API) importCertificate(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "text/plain") && !strings.HasPrefix(ct, "application/octet-stream") {
		a.fail(w, r, fmt.Errorf("%w: content type %q, want text/plain (the nwipe log as it is)", errBadRequest, ct))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxImportBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			a.fail(w, r, fmt.Errorf("%w: the limit is %d MiB", errTooLarge, MaxImportBody>>20))
			return
		}
		a.fail(w, r, fmt.Errorf("%w: read body: %v", errBadRequest, err))
		return
	}
	if len(raw) == 0 {
		a.fail(w, r, fmt.Errorf("%w: the body is empty, want the nwipe log", errBadRequest))
		return
	}
	rec, err := a.cfg.Fleet.ImportNwipe(p, r.PathValue("ref"), raw)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("external evidence imported", "device", rec.Device, "asset_tag", rec.AssetTag, "certificate", rec.ID, "by", p.Name)
	writeJSON(w, http.StatusCreated, toCertInfo(rec))
}

// serverKey answers GET /api/v1/server-key, without a bearer: the public
// key is what anyone verifying a certificate offline needs.
func (a *API) serverKey(w http.ResponseWriter, r *http.Request) {
	pub := a.cfg.CommandKey.Public().(ed25519.PublicKey)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apitype.ServerKey{
		Key: base64.StdEncoding.EncodeToString(pub),
		PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	})
}

// deviceEvents answers GET /api/v1/devices/{ref}/events: the device's
// lifecycle from the audit log, oldest first.
func (a *API) deviceEvents(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	evs, err := a.cfg.Fleet.DeviceEvents(r.PathValue("ref"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.newNames().events(evs))
}

// verifyAudit answers GET /api/v1/audit/verify: 200 with ok false and the
// first altered or removed event when the chain is broken.
func (a *API) verifyAudit(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	rep, err := a.cfg.Fleet.VerifyAudit()
	switch {
	case errors.Is(err, fleet.ErrAuditBroken):
		a.log.Error("audit log does not verify", "err", err)
		writeJSON(w, http.StatusOK, apitype.AuditVerify{OK: false, Events: rep.Events, Error: strings.TrimPrefix(err.Error(), fleet.ErrAuditBroken.Error()+": ")})
	case err != nil:
		a.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, apitype.AuditVerify{OK: true, Events: rep.Events, Head: rep.Head})
	}
}
