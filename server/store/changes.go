package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/server/fleet"
)

// keyAuditHead, in the meta bucket, holds be64(seq) followed by the hex
// hash of the last audit event, so that removing the newest events shows.
var keyAuditHead = []byte("audit_head")

// Update runs fn inside one write transaction; see fleet.ChangeStore.
func (s *Store) Update(fn func(tx fleet.Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(changeTx{tx}) })
}

// View runs fn inside one read transaction; see fleet.ChangeStore.
func (s *Store) View(fn func(tx fleet.Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(changeTx{tx}) })
}

// changeTx implements fleet.Tx over a bbolt transaction.
type changeTx struct{ tx *bolt.Tx }

func (c changeTx) Device(id string) (fleet.Device, error) { return getDevice(c.tx, id) }

func (c changeTx) PutDevice(d fleet.Device) error { return putDevice(c.tx, d) }

func (c changeTx) AuditHead() (uint64, string, error) { return auditHead(c.tx) }

func auditHead(tx *bolt.Tx) (uint64, string, error) {
	v := tx.Bucket(bucketMeta).Get(keyAuditHead)
	if v == nil {
		return 0, "", nil
	}
	if len(v) < 8 {
		return 0, "", fmt.Errorf("audit head: %w: %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), string(v[8:]), nil
}

func (c changeTx) PutAudit(e fleet.AuditEvent) error {
	seq, _, err := auditHead(c.tx)
	if err != nil {
		return err
	}
	if e.Seq != seq+1 || e.Hash == "" {
		return fmt.Errorf("put audit event: %w: seq %d after head %d", ErrInvalid, e.Seq, seq)
	}
	key := be64(e.Seq)
	audit := c.tx.Bucket(bucketAudit)
	// The log only grows at its end: full pages, rather than the half-full
	// ones a split leaves for inserts in the middle, which never come.
	audit.FillPercent = 1.0
	if err := putJSON(audit, key, e); err != nil {
		return err
	}
	if err := indexAudit(c.tx, e, key); err != nil {
		return err
	}
	return c.tx.Bucket(bucketMeta).Put(keyAuditHead, append(be64(e.Seq), e.Hash...))
}

// indexAudit indexes the event stored at key under its device and its
// subject, each when set.
func indexAudit(tx *bolt.Tx, e fleet.AuditEvent, key []byte) error {
	idx := tx.Bucket(bucketAuditDevice)
	for _, s := range []string{e.Device, e.Subject} {
		if s == "" {
			continue
		}
		if strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("put audit event %d: %w: device or subject holds a NUL byte", e.Seq, ErrInvalid)
		}
		if err := idx.Put(deviceKey(s, key), nil); err != nil {
			return err
		}
	}
	return nil
}

// deviceKey is device id 0x00 suffix: the prefix of a device's entries.
func deviceKey(device string, suffix []byte) []byte {
	k := make([]byte, 0, len(device)+1+len(suffix))
	k = append(append(append(k, device...), 0), suffix...)
	return k
}

func (c changeTx) WipeJob(id string) (fleet.WipeJob, error) {
	var j fleet.WipeJob
	return j, getJSON(c.tx.Bucket(bucketWipeJobs), []byte(id), "wipe job "+id, &j)
}

func (c changeTx) PutWipeJob(j fleet.WipeJob) error {
	if j.ID == "" || j.Device == "" {
		return fmt.Errorf("put wipe job: %w: id and device are required", ErrInvalid)
	}
	active := c.tx.Bucket(bucketWipeActive)
	var err error
	if j.Finished() {
		err = active.Delete([]byte(j.ID))
	} else {
		err = active.Put([]byte(j.ID), nil)
	}
	if err != nil {
		return err
	}
	return putJSON(c.tx.Bucket(bucketWipeJobs), []byte(j.ID), j)
}

func (c changeTx) ProvisionJob(id string) (fleet.ProvisionJob, error) {
	var j fleet.ProvisionJob
	return j, getJSON(c.tx.Bucket(bucketProvisions), []byte(id), "provisioning job "+id, &j)
}

func (c changeTx) PutProvisionJob(j fleet.ProvisionJob) error {
	if j.ID == "" || j.Device == "" {
		return fmt.Errorf("put provisioning job: %w: id and device are required", ErrInvalid)
	}
	return putJSON(c.tx.Bucket(bucketProvisions), []byte(j.ID), j)
}

func (c changeTx) Certificate(id string) (fleet.CertRecord, []byte, error) {
	return getCertificate(c.tx, id)
}

func getCertificate(tx *bolt.Tx, id string) (fleet.CertRecord, []byte, error) {
	var rec fleet.CertRecord
	if err := getJSON(tx.Bucket(bucketCerts), []byte(id), "certificate "+id, &rec); err != nil {
		return rec, nil, err
	}
	file := tx.Bucket(bucketCertFiles).Get([]byte(id))
	if file == nil {
		return rec, nil, fmt.Errorf("certificate %s: %w: no file", id, ErrCorrupt)
	}
	return rec, bytes.Clone(file), nil
}

func (c changeTx) PutCertificate(rec fleet.CertRecord, file []byte) error {
	if rec.ID == "" || rec.Device == "" || len(file) == 0 {
		return fmt.Errorf("put certificate: %w: id, device and file are required", ErrInvalid)
	}
	certs := c.tx.Bucket(bucketCerts)
	if certs.Get([]byte(rec.ID)) != nil {
		return fmt.Errorf("put certificate %s: %w: already stored", rec.ID, ErrInvalid)
	}
	if err := putJSON(certs, []byte(rec.ID), rec); err != nil {
		return err
	}
	if err := c.tx.Bucket(bucketCertFiles).Put([]byte(rec.ID), file); err != nil {
		return err
	}
	idx := c.tx.Bucket(bucketCertDevice)
	n, err := idx.NextSequence()
	if err != nil {
		return err
	}
	return idx.Put(deviceKey(rec.Device, be64(n)), []byte(rec.ID))
}

func (c changeTx) PutEnrollToken(t fleet.EnrollToken) error {
	if t.Hash == "" || t.ID == "" {
		return fmt.Errorf("put enrolment token: %w: id and hash are required", ErrInvalid)
	}
	return putJSON(c.tx.Bucket(bucketEnrollTokens), []byte(t.Hash), t)
}

// WipeJob returns the wipe job with this id.
func (s *Store) WipeJob(id string) (fleet.WipeJob, error) {
	var j fleet.WipeJob
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		j, err = changeTx{tx}.WipeJob(id)
		return err
	})
	return j, err
}

// WipeJobs returns every wipe job, or only the unfinished ones, in id
// order.
func (s *Store) WipeJobs(active bool) ([]fleet.WipeJob, error) {
	var out []fleet.WipeJob
	err := s.db.View(func(tx *bolt.Tx) error {
		jobs := tx.Bucket(bucketWipeJobs)
		decode := func(k, v []byte) error {
			var j fleet.WipeJob
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("wipe job %s: %w: %v", k, ErrCorrupt, err)
			}
			out = append(out, j)
			return nil
		}
		if !active {
			return jobs.ForEach(decode)
		}
		return tx.Bucket(bucketWipeActive).ForEach(func(k, _ []byte) error {
			v := jobs.Get(k)
			if v == nil {
				return nil
			}
			return decode(k, v)
		})
	})
	return out, err
}

// ProvisionJob returns the provisioning job with this id.
func (s *Store) ProvisionJob(id string) (fleet.ProvisionJob, error) {
	var j fleet.ProvisionJob
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		j, err = changeTx{tx}.ProvisionJob(id)
		return err
	})
	return j, err
}

// ProvisionJobs returns every provisioning job, in id order.
func (s *Store) ProvisionJobs() ([]fleet.ProvisionJob, error) {
	var out []fleet.ProvisionJob
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketProvisions).ForEach(func(k, v []byte) error {
			var j fleet.ProvisionJob
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("provisioning job %s: %w: %v", k, ErrCorrupt, err)
			}
			out = append(out, j)
			return nil
		})
	})
	return out, err
}

// Certificate returns a stored certificate's record and file.
func (s *Store) Certificate(id string) (fleet.CertRecord, []byte, error) {
	var rec fleet.CertRecord
	var file []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, file, err = getCertificate(tx, id)
		return err
	})
	return rec, file, err
}

// Certificates returns the records of a device's certificates, oldest
// first.
func (s *Store) Certificates(device string) ([]fleet.CertRecord, error) {
	var out []fleet.CertRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		certs := tx.Bucket(bucketCerts)
		prefix := deviceKey(device, nil)
		c := tx.Bucket(bucketCertDevice).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var rec fleet.CertRecord
			if err := getJSON(certs, v, "certificate "+string(v), &rec); err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// WalkAudit calls fn for every audit event in key order; see
// fleet.ChangeStore. raw is a copy fn may keep.
func (s *Store) WalkAudit(fn func(seq uint64, raw []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("audit key %x: %w", k, ErrCorrupt)
			}
			return fn(binary.BigEndian.Uint64(k), bytes.Clone(v))
		})
	})
}

// AuditHead returns the sequence number and hash of the last audit event.
func (s *Store) AuditHead() (uint64, string, error) {
	var seq uint64
	var hash string
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		seq, hash, err = auditHead(tx)
		return err
	})
	return seq, hash, err
}

// DeviceAudit returns copies of a device's audit events, oldest first. An
// indexed event that is gone is skipped (VerifyAudit reports it).
func (s *Store) DeviceAudit(device string) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketAudit)
		prefix := deviceKey(device, nil)
		c := tx.Bucket(bucketAuditDevice).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if v := events.Get(k[len(prefix):]); v != nil {
				out = append(out, bytes.Clone(v))
			}
		}
		return nil
	})
	return out, err
}

// PendingEvent is a stored event the server has not finished acting on.
type PendingEvent struct {
	Device string
	Seq    uint64
	Body   []byte
}

// PendingEvents returns the events stored with Report.Pending and not yet
// marked done, by device and seq.
func (s *Store) PendingEvents() ([]PendingEvent, error) {
	var out []PendingEvent
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
			i := bytes.IndexByte(k, 0)
			if i < 0 || len(k)-i-1 != 8 {
				return fmt.Errorf("pending event key %q: %w", k, ErrCorrupt)
			}
			out = append(out, PendingEvent{Device: string(k[:i]), Seq: binary.BigEndian.Uint64(k[i+1:]), Body: bytes.Clone(v)})
			return nil
		})
	})
	return out, err
}

// DonePending forgets a pending event once the server acted on it.
func (s *Store) DonePending(device string, seq uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).Delete(deviceKey(device, be64(seq)))
	})
}
