package apitype

import (
	"encoding/json"
	"time"
)

// Wipe job states: requested -> sent -> running -> verifying -> succeeded | failed.
const (
	JobRequested = "requested"
	JobSent      = "sent"
	JobRunning   = "running"
	JobVerifying = "verifying"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// WipeRequest is the body of POST /api/v1/wipes: one job per device.
type WipeRequest struct {
	Devices []string `json:"devices"`          // ids or asset tags
	Method  string   `json:"method,omitempty"` // wire.Method*; "" = auto
	Verify  string   `json:"verify,omitempty"` // wire.VerifyFull (default) or wire.VerifySample
	// Destination goes into the certificate: reuse (default), donation, recycling.
	Destination string `json:"destination,omitempty"`
}

// WipeJob is one device's wipe, as GET /api/v1/wipes[/{id}] shows it.
type WipeJob struct {
	ID          string         `json:"id"`
	Device      string         `json:"device"`
	AssetTag    string         `json:"asset_tag"`
	Method      string         `json:"method"`
	Verify      string         `json:"verify"`
	State       string         `json:"state"` // Job*
	RequestedBy string         `json:"requested_by"`
	RequestedAt time.Time      `json:"requested_at"`
	StartedAt   *time.Time     `json:"started_at,omitempty"`
	FinishedAt  *time.Time     `json:"finished_at,omitempty"`
	Progress    []DiskProgress `json:"progress,omitempty"`
	Error       string         `json:"error,omitempty"`
	Certificate string         `json:"certificate,omitempty"` // certificate id when succeeded
}

// DiskProgress is the latest progress of one disk of a job.
type DiskProgress struct {
	Disk       string    `json:"disk"`
	Phase      string    `json:"phase"` // wire.Phase*
	DoneBytes  int64     `json:"done_bytes"`
	TotalBytes int64     `json:"total_bytes"`
	RateBps    float64   `json:"rate_bps,omitempty"`
	At         time.Time `json:"at"`
}

// CertificateInfo lists a stored certificate; the file itself is at
// GET /api/v1/certificates/{id} (JSON) and /api/v1/certificates/{id}/pdf.
type CertificateInfo struct {
	ID       string    `json:"id"`
	Device   string    `json:"device"`
	AssetTag string    `json:"asset_tag"`
	Job      string    `json:"job,omitempty"`
	Result   string    `json:"result"`
	Methods  []string  `json:"methods"`
	Category string    `json:"category"` // weakest category over the media
	Finished time.Time `json:"finished"`
	External bool      `json:"external,omitempty"` // imported evidence (nwipe log)
	Hash     string    `json:"hash"`
	PrevHash string    `json:"prev_hash,omitempty"`
}

// ProvisionRequest is the body of POST /api/v1/provisions.
type ProvisionRequest struct {
	Device  string `json:"device"` // id or asset tag
	Profile string `json:"profile"`
}

// ProvisionJob is one device's provisioning.
type ProvisionJob struct {
	ID          string     `json:"id"`
	Device      string     `json:"device"`
	AssetTag    string     `json:"asset_tag"`
	Profile     string     `json:"profile"`
	State       string     `json:"state"` // Job* (no verifying)
	RequestedBy string     `json:"requested_by"`
	RequestedAt time.Time  `json:"requested_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// Event is one entry of the append-only, hash-chained audit log: a change
// of state, a wipe, a certificate, an enrolment…
type Event struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`  // user name, "agent:<device>", "server"
	Action string    `json:"action"` // "state", "enrol", "wipe_requested", "certificate"…
	Device string    `json:"device,omitempty"`
	// AssetTag is the device's asset tag, for people.
	AssetTag string `json:"asset_tag,omitempty"`
	// Subject is what the event is about besides a device: "kit:<id>",
	// "venue:<id>", "user:<id>".
	Subject string `json:"subject,omitempty"`
	// SubjectName names the subject for people: the kit's label, the
	// venue's or the user's name.
	SubjectName string          `json:"subject_name,omitempty"`
	Before      json.RawMessage `json:"before,omitempty"`
	After       json.RawMessage `json:"after,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	Hash        string          `json:"hash"` // sha256 over the previous event's hash and this event
}

// ServerKey is the answer of GET /api/v1/server-key: the public key that
// countersigns certificates and signs commands, as base64 of the raw
// ed25519 key and as a PKIX "PUBLIC KEY" PEM block.
type ServerKey struct {
	Key string `json:"key"`
	PEM string `json:"pem"`
}

// AuditVerify is the answer of GET /api/v1/audit/verify. OK is false when
// the chain is broken; Error then names the first altered or removed event.
type AuditVerify struct {
	OK     bool   `json:"ok"`
	Events uint64 `json:"events"`
	Head   string `json:"head,omitempty"`
	Error  string `json:"error,omitempty"`
}
