package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// Enrolment token limits.
const (
	// DefaultTokenTTL is how long an enrolment token lives unless told.
	DefaultTokenTTL = 24 * time.Hour
	// MaxTokenTTL bounds a token's life: a join command is not a password.
	MaxTokenTTL = 90 * 24 * time.Hour
	// MaxTokenUses bounds how many devices one token enrols.
	MaxTokenUses = 10000
)

// TokenSpec describes an enrolment token to create.
type TokenSpec struct {
	// Class of the devices it enrols; the token decides the class.
	Class string
	// Uses is how many enrolments it allows; 0 means 1.
	Uses int
	// TTL is how long it lives; 0 means DefaultTokenTTL.
	TTL time.Duration
	// Kit and Venue, when set, are a kit (id or label) and a venue (id or
	// name) given to every device it enrols.
	Kit, Venue string
}

// CreateEnrollToken makes an enrolment token and returns its record and
// its secret, shown once.
func (f *Fleet) CreateEnrollToken(by Principal, spec TokenSpec) (EnrollToken, string, error) {
	if !by.Allowed(RoleTechnician) {
		return EnrollToken{}, "", fmt.Errorf("%w: only a technician or an admin may create enrolment tokens", ErrForbidden)
	}
	if !wire.ValidClass(spec.Class) {
		return EnrollToken{}, "", fmt.Errorf("%w: class %q is not one of laptop, tablet, hotspot, other", ErrInvalid, spec.Class)
	}
	if spec.Uses == 0 {
		spec.Uses = 1
	}
	if spec.Uses < 0 || spec.Uses > MaxTokenUses {
		return EnrollToken{}, "", fmt.Errorf("%w: uses %d is not between 1 and %d", ErrInvalid, spec.Uses, MaxTokenUses)
	}
	if spec.TTL == 0 {
		spec.TTL = DefaultTokenTTL
	}
	if spec.TTL < time.Minute || spec.TTL > MaxTokenTTL {
		return EnrollToken{}, "", fmt.Errorf("%w: expiry %s is not between 1m and %s", ErrInvalid, spec.TTL, MaxTokenTTL)
	}
	var kit, venue string
	err := f.view(func(l lookup) error {
		if strings.TrimSpace(spec.Kit) != "" {
			k, err := l.kit(spec.Kit)
			if err != nil {
				return err
			}
			kit = k.ID
		}
		if strings.TrimSpace(spec.Venue) != "" {
			v, err := l.venue(spec.Venue)
			if err != nil {
				return err
			}
			venue = v.ID
		}
		return nil
	})
	if err != nil {
		return EnrollToken{}, "", err
	}
	secret, err := f.secret(prefixEnrollToken)
	if err != nil {
		return EnrollToken{}, "", fmt.Errorf("create enrolment token: %w", err)
	}
	id, err := f.newID("t")
	if err != nil {
		return EnrollToken{}, "", fmt.Errorf("create enrolment token: %w", err)
	}
	now := f.now()
	t := EnrollToken{
		ID: id, Hash: HashSecret(secret), Class: spec.Class, Uses: spec.Uses,
		Kit: kit, Venue: venue,
		CreatedBy: by.Name, CreatedAt: now, ExpiresAt: now.Add(spec.TTL),
	}
	if err := f.cfg.Store.PutEnrollToken(t); err != nil {
		return EnrollToken{}, "", fmt.Errorf("create enrolment token: %w", err)
	}
	return t, secret, nil
}

// Enrolment is the outcome of a successful enrolment.
type Enrolment struct {
	Device Device
	// Known is true when the fingerprint matched an enrolled device.
	Known bool
	// Username and Password are the device's new MQTT credentials; the
	// password is shown only here.
	Username, Password string
}

// Enroll enrols a device: it checks the token, matches the fingerprint
// (see MatchFingerprint) and either updates the matched device or makes a
// new one in state intake with the next asset tag. Either way the device
// gets fresh MQTT credentials and its telemetry deduplication starts over,
// since a new agent state restarts its seq at 1.
//
// Errors wrap ErrInvalid (bad request), ErrUnauthorized (unknown token) or
// ErrTokenGone (expired or used up).
func (f *Fleet) Enroll(req wire.EnrollRequest) (Enrolment, error) {
	if req.Token == "" || len(req.Token) > 128 {
		return Enrolment{}, fmt.Errorf("%w: the enrolment token is missing", ErrInvalid)
	}
	if len(req.AgentVersion) > 64 {
		return Enrolment{}, fmt.Errorf("%w: agent_version is longer than 64 characters", ErrInvalid)
	}
	// Apply the limits of an inventory report to the enrolment's one.
	b, err := json.Marshal(req.Inventory)
	if err != nil {
		return Enrolment{}, fmt.Errorf("%w: inventory: %v", ErrInvalid, err)
	}
	if _, err := wire.DecodeBody(wire.ChanInventory, b); err != nil {
		return Enrolment{}, fmt.Errorf("%w: inventory: %v", ErrInvalid, err)
	}
	if req.DeviceKey != "" {
		if _, err := decodeKey(req.DeviceKey); err != nil {
			return Enrolment{}, fmt.Errorf("%w: device_key is not a base64 ed25519 public key", ErrInvalid)
		}
	}
	if len(req.ProvisionJob) > 64 {
		return Enrolment{}, fmt.Errorf("%w: provision_job is longer than 64 characters", ErrInvalid)
	}
	fp := serverFingerprint(req.Fingerprint, &req.Inventory)
	password, err := f.secret("")
	if err != nil {
		return Enrolment{}, fmt.Errorf("enroll: %w", err)
	}
	now := f.now()

	var out Enrolment
	var match Match
	called := false
	err = f.cfg.Store.Enroll(HashSecret(req.Token), func(tok *EnrollToken, tx EnrollTx) error {
		called = true
		switch {
		case !now.Before(tok.ExpiresAt):
			return fmt.Errorf("%w: the enrolment token expired at %s; ask for a new one",
				ErrTokenGone, tok.ExpiresAt.Format(time.RFC3339))
		case tok.Used >= tok.Uses:
			return fmt.Errorf("%w: the enrolment token was already used %d of %d times; ask for a new one",
				ErrTokenGone, tok.Used, tok.Uses)
		}
		cands, err := candidates(tx, fp)
		if err != nil {
			return err
		}
		match = MatchFingerprint(fp, cands)
		var d Device
		if match.DeviceID != "" {
			if d, err = tx.Device(match.DeviceID); err != nil {
				return err
			}
			out.Known = true
		} else if d, err = f.newDevice(tx, fp, now); err != nil {
			return err
		}
		if tok.Device != "" && d.ID != tok.Device {
			return fmt.Errorf("%w: this enrolment token is bound to another device than the one enrolling; use a token made for it", ErrForbidden)
		}
		if req.ProvisionJob != "" && req.ProvisionJob != tok.ProvisionJob {
			return fmt.Errorf("%w: this enrolment token is not the one of provisioning job %s", ErrForbidden, req.ProvisionJob)
		}
		f.apply(&d, tok, fp, &req, match, now)
		if req.DeviceKey != "" && req.DeviceKey != d.DeviceKey {
			d.DeviceKey = req.DeviceKey
			if !slices.Contains(d.DeviceKeys, req.DeviceKey) {
				d.DeviceKeys = append(d.DeviceKeys, req.DeviceKey)
				if len(d.DeviceKeys) > maxDeviceKeys {
					d.DeviceKeys = append([]string(nil), d.DeviceKeys[len(d.DeviceKeys)-maxDeviceKeys:]...)
				}
			}
		}
		after := map[string]string{"asset_tag": d.AssetTag, "class": d.Class, "state": string(d.State), "token": tok.ID}
		if len(match.Changes) > 0 {
			after["hardware_changed"] = strings.Join(match.Changes, "; ")
		}
		reason := "first enrolment"
		if out.Known {
			reason = "re-enrolment"
		}
		if tok.CreatedBy != "" {
			reason += " with a token of " + tok.CreatedBy
		}
		if err := f.audit(tx, AuditEvent{Actor: agentActor(d.ID), Action: ActionEnrol, Device: d.ID, After: mustJSON(after), Reason: reason}); err != nil {
			return err
		}
		if err := f.place(tx, &d, tok, now); err != nil {
			return err
		}
		if tok.ProvisionJob != "" {
			if err := f.finishProvision(tx, &d, tok.ProvisionJob); err != nil {
				return err
			}
		}
		if err := tx.PutDevice(d); err != nil {
			return err
		}
		if err := tx.PutCredential(Credential{Username: d.ID, DeviceID: d.ID, Hash: HashSecret(password), CreatedAt: now}); err != nil {
			return err
		}
		tok.Used++
		out.Device = d
		return nil
	})
	if !called && errors.Is(err, ErrNotFound) {
		return Enrolment{}, fmt.Errorf("%w: unknown enrolment token", ErrUnauthorized)
	}
	if err != nil {
		if errors.Is(err, ErrTokenGone) || errors.Is(err, ErrForbidden) {
			return Enrolment{}, err
		}
		return Enrolment{}, fmt.Errorf("enroll: %w", err)
	}
	d := out.Device
	if match.Conflict != "" {
		f.log.Warn("enrolment identity conflict", "device", d.ID, "asset_tag", d.AssetTag, "conflict", match.Conflict)
	}
	if len(match.Changes) > 0 {
		f.log.Warn("hardware changed", "device", d.ID, "asset_tag", d.AssetTag, "changes", strings.Join(match.Changes, "; "))
	}
	f.log.Info("device enrolled", "device", d.ID, "asset_tag", d.AssetTag, "class", d.Class, "known", out.Known)
	if out.Known && f.cfg.Dedupe != nil {
		if err := f.cfg.Dedupe.ResetDedupe(d.ID); err != nil {
			return Enrolment{}, fmt.Errorf("enroll %s: reset telemetry dedupe: %w", d.ID, err)
		}
	}
	out.Username, out.Password = d.ID, password
	return out, nil
}

// candidates returns every device owning an identifier of fp, with the
// keys it owns.
func candidates(tx EnrollTx, fp wire.Fingerprint) ([]Candidate, error) {
	byID := map[string]int{}
	var out []Candidate
	for _, key := range IdentKeys(fp) {
		id, err := tx.IdentOwner(key)
		if err != nil {
			return nil, err
		}
		if id == "" {
			continue
		}
		i, ok := byID[id]
		if !ok {
			d, err := tx.Device(id)
			if errors.Is(err, ErrNotFound) {
				continue // a stale index entry owns nothing
			}
			if err != nil {
				return nil, err
			}
			i = len(out)
			byID[id] = i
			out = append(out, Candidate{Device: d})
		}
		out[i].Keys = append(out[i].Keys, key)
	}
	return out, nil
}

// maxDeviceKeys bounds Device.DeviceKeys.
const maxDeviceKeys = 16

// maxTries bounds the loops that look for a free id or asset tag.
const maxTries = 1000

// freeDeviceID returns a device id no device has.
func (f *Fleet) freeDeviceID(tx Tx) (string, error) {
	for range maxTries {
		id, err := f.newID("d")
		if err != nil {
			return "", err
		}
		if _, err := tx.Device(id); errors.Is(err, ErrNotFound) {
			return id, nil
		} else if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("no free device id after %d tries", maxTries)
}

// newDevice makes a device with a fresh id and the next free asset tag
// (or the one a technician gave, when free).
func (f *Fleet) newDevice(tx EnrollTx, fp wire.Fingerprint, now time.Time) (Device, error) {
	id, err := f.freeDeviceID(tx)
	if err != nil {
		return Device{}, err
	}
	d := Device{ID: id, State: StateIntake, EnrolledAt: now}
	if fp.AssetTag != "" {
		owner, err := tx.TagOwner(fp.AssetTag)
		if err != nil {
			return Device{}, err
		}
		if owner == "" {
			d.AssetTag = fp.AssetTag
			return d, nil
		}
	}
	for i := 0; d.AssetTag == ""; i++ {
		if i == maxTries {
			return Device{}, fmt.Errorf("no free asset tag after %d tries", maxTries)
		}
		n, err := tx.NextAssetSeq()
		if err != nil {
			return Device{}, err
		}
		tag := fmt.Sprintf("%s%04d", f.cfg.AssetTagPrefix, n)
		owner, err := tx.TagOwner(tag)
		if err != nil {
			return Device{}, err
		}
		if owner == "" {
			d.AssetTag = tag
		}
	}
	return d, nil
}

// apply updates d with what this enrolment tells: the token's class, kit
// the inventory's description, the new fingerprint and notes.
func (f *Fleet) apply(d *Device, tok *EnrollToken, fp wire.Fingerprint, req *wire.EnrollRequest, m Match, now time.Time) {
	if d.Class != "" && d.Class != tok.Class {
		d.addNote(Note{At: now, Kind: NoteEnrolled, Text: fmt.Sprintf("class changed from %s to %s by enrolment token %s", d.Class, tok.Class, tok.ID)})
	}
	d.Class = tok.Class // the token decides; the inventory's class is a hint
	inv := &req.Inventory
	d.Vendor, d.Model, d.Hostname = clip(inv.System.Vendor), clip(inv.System.Model), clip(inv.Hostname)
	if d.Vendor == "" && d.Model == "" && len(inv.Modems) > 0 {
		d.Vendor, d.Model = clip(inv.Modems[0].Manufacturer), clip(inv.Modems[0].Model)
	}
	switch {
	case fp.SystemSerial != "":
		d.Serial = fp.SystemSerial
	case d.Serial == "" && len(fp.IMEIs) > 0:
		d.Serial = fp.IMEIs[0] // hotspots: the IMEI is on their label
	}
	d.AgentVersion = req.AgentVersion
	if len(m.Changes) > 0 {
		d.HardwareChanged = true
		d.addNote(Note{At: now, Kind: NoteHardwareChanged, Text: strings.Join(m.Changes, "; ")})
	}
	if m.Conflict != "" {
		d.addNote(Note{At: now, Kind: NoteIdentityConflict, Text: m.Conflict})
	}
	// The tag in the index is the device's own: a tag typed by a
	// technician that went to another device must not point here.
	fp.AssetTag = d.AssetTag
	d.Fingerprint = fp
	if d.EnrolledAt.IsZero() { // imported before its first enrolment
		d.EnrolledAt = now
	}
	d.LastEnrolledAt = now
	d.UpdatedAt = now
}

// place puts an enrolling device where its token says: at the token's
// venue, and in the token's kit unless it is in another kit or the kit is
// out, which a note on the device says.
func (f *Fleet) place(tx Tx, d *Device, tok *EnrollToken, now time.Time) error {
	if tok.Venue != "" {
		d.Venue = tok.Venue
	}
	if tok.Kit == "" || d.Kit == tok.Kit {
		return nil
	}
	k, err := tx.Kit(tok.Kit)
	if errors.Is(err, ErrNotFound) {
		return nil // the kit was removed since the token was made
	}
	if err != nil {
		return err
	}
	switch {
	case d.Kit != "":
		d.addNote(Note{At: now, Kind: NoteEnrolled, Text: fmt.Sprintf("enrolled with a token for %s but already in another kit; left there", k.Label)})
		return nil
	case k.Loan != "" || len(k.Devices) >= maxKitDevices:
		d.addNote(Note{At: now, Kind: NoteEnrolled, Text: fmt.Sprintf("enrolled with a token for %s, which is out or full; add it by hand", k.Label)})
		return nil
	}
	d.Kit = k.ID
	k.Devices, k.UpdatedAt = append(k.Devices, d.ID), now
	if err := tx.PutKit(k); err != nil {
		return err
	}
	return f.audit(tx, AuditEvent{
		Actor: agentActor(d.ID), Action: ActionKitDevices, Device: d.ID, Subject: "kit:" + k.ID,
		Before: jsonString(""), After: jsonString(k.ID), Reason: "enrolment token " + tok.ID,
	})
}

// clip trims a short text a device sent and bounds it to 128 bytes.
func clip(s string) string { return clipN(s, 128) }
