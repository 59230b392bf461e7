package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Audit actions.
const (
	ActionEnrol              = "enrol"
	ActionState              = "state"
	ActionReturned           = "returned"
	ActionWipeRequested      = "wipe_requested"
	ActionWipeStarted        = "wipe_started"
	ActionWipeSucceeded      = "wipe_succeeded"
	ActionWipeFailed         = "wipe_failed"
	ActionCertificate        = "certificate"
	ActionProvisionRequested = "provision_requested"
	ActionProvisionSucceeded = "provision_succeeded"
	ActionProvisionFailed    = "provision_failed"
	ActionUserCreated        = "user_created"
	ActionUserDisabled       = "user_disabled"
	ActionVenueCreated       = "venue_created"
	ActionKitCreated         = "kit_created"
	ActionKitDevices         = "kit_devices" // devices added to or removed from a kit
	ActionKitRestocked       = "kit_restocked"
	ActionCheckout           = "checkout"
	ActionCheckin            = "checkin"
	ActionAssigned           = "assigned" // a device's long-term venue
	ActionHardwareChanged    = "hardware_changed"
	ActionImported           = "imported"
)

// ActorServer is the actor of changes the server makes on its own
// (timeouts); an agent's are "agent:<device id>".
const ActorServer = "server"

func agentActor(device string) string { return "agent:" + device }

// AuditEvent is one entry of the append-only audit log. Hash is the hex
// SHA-256 of the previous event's hash (raw bytes; none for the first)
// followed by the event's canonical JSON (every field but Hash, in the
// order below, compact; empty optional fields are left out, so events
// written before a field existed keep their hash). Subject names what
// the event is about when that is not (only) a device: "kit:<id>",
// "loan:<id>", "venue:<id>", "user:<id>". PrevHash repeats the previous event's hash so
// that a break in the chain names the event where it happens.
type AuditEvent struct {
	Seq      uint64          `json:"seq"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Device   string          `json:"device,omitempty"`
	Subject  string          `json:"subject,omitempty"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	PrevHash string          `json:"prev_hash,omitempty"`
	Hash     string          `json:"hash"`
}

// canonical returns the bytes the event's hash covers.
func (e AuditEvent) canonical() ([]byte, error) {
	e.Hash = ""
	e.At = e.At.UTC()
	type unhashed struct {
		Seq      uint64          `json:"seq"`
		At       time.Time       `json:"at"`
		Actor    string          `json:"actor"`
		Action   string          `json:"action"`
		Device   string          `json:"device,omitempty"`
		Subject  string          `json:"subject,omitempty"`
		Before   json.RawMessage `json:"before,omitempty"`
		After    json.RawMessage `json:"after,omitempty"`
		Reason   string          `json:"reason,omitempty"`
		PrevHash string          `json:"prev_hash,omitempty"`
	}
	return json.Marshal(unhashed{e.Seq, e.At, e.Actor, e.Action, e.Device, e.Subject, e.Before, e.After, e.Reason, e.PrevHash})
}

// ComputeHash returns the hash e must carry, given the previous event's.
func (e AuditEvent) ComputeHash() (string, error) {
	prev, err := hex.DecodeString(e.PrevHash)
	if err != nil {
		return "", fmt.Errorf("prev_hash is not hex: %w", err)
	}
	body, err := e.canonical()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(prev)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// audit appends e to the log inside tx, after the current head.
func (f *Fleet) audit(tx Tx, e AuditEvent) error {
	seq, head, err := tx.AuditHead()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	e.Seq, e.PrevHash = seq+1, head
	if e.At.IsZero() {
		e.At = f.now()
	}
	e.At = e.At.UTC()
	if e.Hash, err = e.ComputeHash(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return tx.PutAudit(e)
}

// AuditReport is the outcome of VerifyAudit.
type AuditReport struct {
	// Events is how many events were checked.
	Events uint64
	// Head is the hash of the last event.
	Head string
}

// VerifyAudit walks the whole audit log and checks every link: sequence
// numbers without gaps, each event's prev_hash equal to the previous
// event's hash, each hash recomputed from the event's content, and the
// last event equal to the recorded head (so removing the newest events is
// seen too). The error wraps ErrAuditBroken and names the first event
// that was altered or removed.
func (f *Fleet) VerifyAudit() (AuditReport, error) {
	var rep AuditReport
	prev := ""
	err := f.cfg.Store.WalkAudit(func(seq uint64, raw []byte) error {
		want := rep.Events + 1
		if seq != want {
			if seq > want {
				return fmt.Errorf("%w: event %d is missing (removed); the next stored event is %d", ErrAuditBroken, want, seq)
			}
			return fmt.Errorf("%w: event %d is stored out of order", ErrAuditBroken, seq)
		}
		var e AuditEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%w: event %d was altered: it no longer decodes (%v)", ErrAuditBroken, seq, err)
		}
		if e.Seq != seq {
			return fmt.Errorf("%w: event %d was altered: it says it is event %d", ErrAuditBroken, seq, e.Seq)
		}
		if e.PrevHash != prev {
			return fmt.Errorf("%w: event %d does not follow event %d: one of them was altered or replaced", ErrAuditBroken, seq, seq-1)
		}
		h, err := e.ComputeHash()
		if err != nil || h != e.Hash {
			return fmt.Errorf("%w: event %d was altered: its content does not match its hash", ErrAuditBroken, seq)
		}
		prev = e.Hash
		rep.Events = seq
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrAuditBroken) {
			return rep, err
		}
		return rep, fmt.Errorf("verify audit: %w", err)
	}
	headSeq, head, err := f.cfg.Store.AuditHead()
	if err != nil {
		return rep, fmt.Errorf("verify audit: %w", err)
	}
	switch {
	case headSeq > rep.Events:
		return rep, fmt.Errorf("%w: events %d to %d were removed (the log ends at %d)", ErrAuditBroken, rep.Events+1, headSeq, rep.Events)
	case headSeq != rep.Events || head != prev:
		return rep, fmt.Errorf("%w: event %d does not match the recorded head of the log", ErrAuditBroken, rep.Events)
	}
	rep.Head = prev
	return rep, nil
}

// DeviceEvents returns a device's audit events, oldest first: its
// lifecycle (enrolment, states, wipes, certificates, provisioning).
func (f *Fleet) DeviceEvents(ref string) ([]AuditEvent, error) {
	d, err := f.Device(ref)
	if err != nil {
		return nil, err
	}
	raws, err := f.cfg.Store.DeviceAudit(d.ID)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", d.AssetTag, err)
	}
	out := make([]AuditEvent, 0, len(raws))
	for _, raw := range raws {
		var e AuditEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("history of %s: %w: an event no longer decodes", d.AssetTag, ErrAuditBroken)
		}
		out = append(out, e)
	}
	return out, nil
}

// AuditEvents returns the whole log, oldest first, or the last limit
// events when limit > 0.
func (f *Fleet) AuditEvents(limit int) ([]AuditEvent, error) {
	var out []AuditEvent
	err := f.cfg.Store.WalkAudit(func(seq uint64, raw []byte) error {
		var e AuditEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%w: event %d no longer decodes", ErrAuditBroken, seq)
		}
		out = append(out, e)
		if limit > 0 && len(out) > 2*limit {
			out = append(out[:0], out[len(out)-limit:]...)
		}
		return nil
	})
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, err
}

// AuditPage returns at most limit audit events (100 when limit is 0, at
// most 1000), newest first, with a sequence number below before (0: from
// the newest); with subject set only that subject's: a device reference
// (id or asset tag), or "kit:<ref>" (its devices joining and leaving,
// its loans' checkouts and check-ins), "venue:<ref>", "user:<ref>".
func (f *Fleet) AuditPage(subject string, before uint64, limit int) ([]AuditEvent, error) {
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > 1000:
		return nil, fmt.Errorf("%w: limit must be between 1 and 1000", ErrInvalid)
	}
	key, err := f.auditSubject(subject)
	if err != nil {
		return nil, err
	}
	raws, err := f.cfg.Store.AuditPage(key, before, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	out := make([]AuditEvent, 0, len(raws))
	for _, raw := range raws {
		var e AuditEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("%w: an event no longer decodes", ErrAuditBroken)
		}
		out = append(out, e)
	}
	return out, nil
}

// auditSubject resolves the subject of AuditPage to its index key.
func (f *Fleet) auditSubject(subject string) (string, error) {
	if subject == "" {
		return "", nil
	}
	kind, ref, ok := strings.Cut(subject, ":")
	if !ok {
		d, err := f.Device(subject)
		return d.ID, err
	}
	var id string
	err := f.view(func(l lookup) error {
		switch kind {
		case "kit":
			k, err := l.kit(ref)
			id = k.ID
			return err
		case "venue":
			v, err := l.venue(ref)
			id = v.ID
			return err
		case "user":
			u, err := l.user(ref)
			id = u.ID
			return err
		}
		return fmt.Errorf("%w: audit subject %q is not kit:, venue:, user: or a device", ErrInvalid, subject)
	})
	return kind + ":" + id, err
}
