package fleet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// CertRecord describes a stored certificate; the file itself (countersigned,
// canonical) is stored next to it.
type CertRecord struct {
	ID       string    `json:"id"`
	Device   string    `json:"device"`
	AssetTag string    `json:"asset_tag"`
	Job      string    `json:"job,omitempty"`
	Result   string    `json:"result"`
	Methods  []string  `json:"methods"`
	Category string    `json:"category"` // the weakest over the media
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	External bool      `json:"external,omitempty"`
	Hash     string    `json:"hash"`
	PrevHash string    `json:"prev_hash,omitempty"`
	StoredAt time.Time `json:"stored_at"`
}

// gate checks the wipe gate for d inside tx: its latest certificate
// verifies (device signature by one of the device's keys, or by the
// server's for imported evidence; countersignature by this server's key),
// succeeded, finished after the device's last return, and names the
// device's current hardware.
func (f *Fleet) gate(tx Tx, d Device) error {
	closed := func(format string, args ...any) error {
		return fmt.Errorf("%w: %w: %s %s", ErrConflict, ErrNotWiped, d.AssetTag, fmt.Sprintf(format, args...))
	}
	if d.LastCertificate == "" {
		return closed("has no wipe certificate")
	}
	if f.cfg.ServerKey == nil {
		return fmt.Errorf("%w: the server has no key to check certificates with", ErrUnavailable)
	}
	rec, file, err := tx.Certificate(d.LastCertificate)
	if err != nil {
		return fmt.Errorf("wipe gate of %s: %w", d.AssetTag, err)
	}
	c, err := f.verifyStored(d, rec, file)
	if err != nil {
		return fmt.Errorf("%w: %w: %s has a certificate %s that does not verify: %w", ErrConflict, ErrNotWiped, d.AssetTag, rec.ID, err)
	}
	if c.Result != certificate.ResultSucceeded {
		return closed("has a latest certificate %s whose result is %s", c.ID, c.Result)
	}
	if !d.LastReturnedAt.IsZero() && !c.Finished.After(d.LastReturnedAt) {
		return closed("has not been wiped since its return on %s (latest certificate %s of %s)",
			d.LastReturnedAt.Format("2 Jan 2006 15:04 MST"), c.ID, c.Finished.Format("2 Jan 2006 15:04 MST"))
	}
	if why := identityMismatch(c, d); why != "" {
		return closed("does not match its latest certificate %s: %s", c.ID, why)
	}
	return nil
}

// verifyStored verifies a stored certificate file of d: countersigned by
// this server, device-signed by a key d has had (by the server's key for
// imported evidence), about d.
func (f *Fleet) verifyStored(d Device, rec CertRecord, file []byte) (certificate.Certificate, error) {
	pub := f.cfg.ServerKey.Public().(ed25519.PublicKey)
	// Verify checks the device signature with the key the file names;
	// whose key that is, is checked here, once.
	c, signed, err := certificate.Verify(file, certificate.VerifyOptions{ServerKey: pub})
	if err != nil {
		return c, err
	}
	if rec.External {
		if serverKey := base64.StdEncoding.EncodeToString(pub); signed.DeviceKey != serverKey {
			return c, fmt.Errorf("%w: imported evidence signed by %s, not by this server's key %s", certificate.ErrDeviceKey, signed.DeviceKey, serverKey)
		}
	} else if !slices.Contains(d.DeviceKeys, signed.DeviceKey) && signed.DeviceKey != d.DeviceKey {
		return c, fmt.Errorf("%w: signed by %s, which is not a key of %s", certificate.ErrDeviceKey, signed.DeviceKey, d.AssetTag)
	}
	if c.Asset.DeviceID != d.ID {
		return c, fmt.Errorf("%w: the certificate is about device %q, not %s", certificate.ErrContent, c.Asset.DeviceID, d.ID)
	}
	return c, nil
}

func decodeKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: device key is not a base64 ed25519 public key", ErrInvalid)
	}
	return ed25519.PublicKey(b), nil
}

// identityMismatch says how a certificate's asset and media disagree with
// d's current fingerprint, or returns "". Identifiers unknown on one side
// are not compared, but at least one must match when the device has any:
// serial, UUID, IMEI, or a wiped disk's serial. Every wiped medium that
// has a serial must be one of the device's disks.
func identityMismatch(c certificate.Certificate, d Device) string {
	fp := d.Fingerprint
	matched := false
	if s := wire.NormalizeSerial(c.Asset.Serial); s != "" && fp.SystemSerial != "" {
		if s != fp.SystemSerial && !slices.Contains(fp.IMEIs, wire.NormalizeIMEI(c.Asset.Serial)) {
			return fmt.Sprintf("serial %s, the device's is %s", s, fp.SystemSerial)
		}
		matched = true
	}
	if u := wire.NormalizeUUID(c.Asset.UUID); u != "" && fp.UUID != "" {
		if u != fp.UUID {
			return fmt.Sprintf("UUID %s, the device's is %s", u, fp.UUID)
		}
		matched = true
	}
	if i := wire.NormalizeIMEI(c.Asset.IMEI); i != "" && len(fp.IMEIs) > 0 {
		if !slices.Contains(fp.IMEIs, i) {
			return fmt.Sprintf("IMEI %s, the device's are %s", i, strings.Join(fp.IMEIs, ", "))
		}
		matched = true
	}
	for _, m := range c.Media {
		s := wire.NormalizeSerial(m.Serial)
		if s == "" {
			continue
		}
		if !slices.Contains(fp.DiskSerials, s) {
			return fmt.Sprintf("wiped disk %s (serial %s) is not one of the device's disks (%s)", m.Name, s, strings.Join(fp.DiskSerials, ", "))
		}
		matched = true
	}
	hasIdent := fp.SystemSerial != "" || fp.UUID != "" || len(fp.IMEIs) > 0 || len(fp.DiskSerials) > 0
	if hasIdent && !matched {
		return "no serial, UUID, IMEI or disk serial of the certificate matches the device"
	}
	return ""
}

// recordOf summarises a certificate for its record.
func recordOf(c certificate.Certificate, d Device, hash string, now time.Time) CertRecord {
	rec := CertRecord{
		ID: c.ID, Device: d.ID, AssetTag: d.AssetTag, Job: c.JobID, Result: c.Result,
		Started: c.Started, Finished: c.Finished, External: c.External != nil,
		Hash: hash, PrevHash: c.PrevHash, StoredAt: now,
	}
	rank := map[string]int{certificate.CategoryNone: 0, certificate.CategoryClear: 1, certificate.CategoryPurge: 2}
	for i, m := range c.Media {
		if !slices.Contains(rec.Methods, m.Method) {
			rec.Methods = append(rec.Methods, m.Method)
		}
		if i == 0 || rank[m.Category] < rank[rec.Category] {
			rec.Category = m.Category
		}
	}
	return rec
}

// importExternal stores evidence of a wipe done with another tool: build
// makes the certificate from d (marked External, about d's asset), the
// server's key signs it as the device's would (no device key was involved)
// and countersigns it; it is chained and stored like any other, and the
// device goes to wiped when it was waiting for a wipe.
func (f *Fleet) importExternal(by Principal, ref string, build func(d Device) (certificate.Certificate, error)) (CertRecord, error) {
	if !by.Allowed(RoleTechnician) {
		return CertRecord{}, fmt.Errorf("%w: only a technician or an admin may import wipe evidence", ErrForbidden)
	}
	if f.cfg.ServerKey == nil {
		return CertRecord{}, fmt.Errorf("%w: no server key to sign imported evidence", ErrUnavailable)
	}
	var rec CertRecord
	_, err := f.change(ref, func(tx Tx, d *Device) error {
		c, err := build(*d)
		if err != nil {
			return err
		}
		if c.External == nil {
			return fmt.Errorf("%w: imported evidence must be marked external", ErrInvalid)
		}
		c.Asset.DeviceID, c.PrevHash = d.ID, d.LastCertHash
		if c.ID == "" {
			id, err := f.newID("cert-x")
			if err != nil {
				return err
			}
			c.ID = id
		}
		cf, err := certificate.Sign(c, f.cfg.ServerKey)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		data, err := cf.Marshal()
		if err != nil {
			return err
		}
		if c, cf, err = certificate.Verify(data, certificate.VerifyOptions{Unsigned: true}); err != nil {
			return fmt.Errorf("%w: the imported evidence makes no valid certificate: %v", ErrInvalid, err)
		}
		if rec, err = f.storeCertificate(tx, d, c, cf, "", by.Name); err != nil {
			if errors.Is(err, errRefused) {
				return fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), errRefused.Error()+": "))
			}
			return err
		}
		if CanTransition(d.State, StateWiping) && d.State != StateOnLoan {
			if err := f.transition(tx, d, StateWiping, by.Name, "external evidence "+rec.ID); err != nil {
				return err
			}
		}
		if d.State == StateWiping {
			return f.transition(tx, d, StateWiped, by.Name, "external evidence "+rec.ID+" imported")
		}
		return nil
	})
	return rec, err
}

// ImportNwipe imports the log of an nwipe (ShredOS) run as external
// evidence for a device: it is accepted only if a wiped drive's serial is
// one of the device's disks.
func (f *Fleet) ImportNwipe(by Principal, ref string, raw []byte) (CertRecord, error) {
	if !by.Allowed(RoleTechnician) {
		return CertRecord{}, fmt.Errorf("%w: only a technician or an admin may import wipe evidence", ErrForbidden)
	}
	log, err := certificate.ParseNwipeLog(bytes.NewReader(raw))
	if err != nil {
		return CertRecord{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return f.importExternal(by, ref, func(d Device) (certificate.Certificate, error) {
		asset := certificate.Asset{
			DeviceID: d.ID, AssetTag: d.AssetTag, Class: d.Class, Vendor: d.Vendor, Model: d.Model,
			Serial: d.Fingerprint.SystemSerial, UUID: d.Fingerprint.UUID,
		}
		if len(d.Fingerprint.IMEIs) > 0 {
			asset.IMEI = d.Fingerprint.IMEIs[0]
		}
		c, err := certificate.FromNwipeDisks(log, asset, d.Fingerprint.DiskSerials, by.Name, raw)
		if err != nil {
			return c, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if c.Result != certificate.ResultSucceeded {
			var why []string
			for _, m := range c.Media {
				if m.Error != "" {
					why = append(why, m.Name+": "+m.Error)
				}
			}
			return c, fmt.Errorf("%w: the log does not show a completed, verified wipe (%s)", ErrInvalid, strings.Join(why, "; "))
		}
		return c, nil
	})
}
