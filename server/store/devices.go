package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/server/fleet"
)

// notFoundError is a missing record. It matches both ErrNotFound and
// fleet.ErrNotFound, so the fleet can tell it apart without importing the
// store.
type notFoundError struct{ what string }

func (e notFoundError) Error() string { return e.what + ": not found" }

func (e notFoundError) Is(target error) bool {
	return target == ErrNotFound || target == fleet.ErrNotFound
}

// Ping reports whether the store answers: it runs an empty read
// transaction.
func (s *Store) Ping() error {
	return s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return fmt.Errorf("ping store: %w: no meta bucket", ErrCorrupt)
		}
		return nil
	})
}

// Device returns the device with this id.
func (s *Store) Device(id string) (fleet.Device, error) {
	var d fleet.Device
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		d, err = getDevice(tx, id)
		return err
	})
	return d, err
}

// DeviceIDByTag returns the id of the device with this asset tag (exact).
func (s *Store) DeviceIDByTag(tag string) (string, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDeviceTag).Get([]byte(tag))
		if v == nil {
			return notFoundError{"asset tag " + tag}
		}
		id = string(v) // string() copies out of the transaction
		return nil
	})
	return id, err
}

// Devices returns every device, in id order.
func (s *Store) Devices() ([]fleet.Device, error) {
	var out []fleet.Device
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).ForEach(func(k, v []byte) error {
			var d fleet.Device
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("device %s: %w: %v", k, ErrCorrupt, err)
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// DeviceByIdent returns the id of the device owning an identifier key
// ("serial:PF1ABCDE", see fleet.IdentKeys).
func (s *Store) DeviceByIdent(key string) (string, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDeviceIdent).Get([]byte(key))
		if v == nil {
			return notFoundError{"identifier " + key}
		}
		id = string(v)
		return nil
	})
	return id, err
}

// Enroll runs fn in one write transaction with the enrolment token whose
// hash is tokenHash; see fleet.DeviceStore. The token is written back as
// fn leaves it, in the same transaction as the device and its credential.
func (s *Store) Enroll(tokenHash string, fn func(tok *fleet.EnrollToken, tx fleet.EnrollTx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEnrollTokens)
		v := b.Get([]byte(tokenHash))
		if v == nil {
			return notFoundError{"enrolment token"}
		}
		var tok fleet.EnrollToken
		if err := json.Unmarshal(v, &tok); err != nil {
			return fmt.Errorf("enrolment token %s: %w: %v", tokenHash, ErrCorrupt, err)
		}
		if err := fn(&tok, enrollTx{changeTx{tx}}); err != nil {
			return err
		}
		if tok.Hash != tokenHash {
			return fmt.Errorf("enrolment token %s: %w: hash changed", tok.ID, ErrInvalid)
		}
		return putJSON(b, []byte(tokenHash), tok)
	})
}

// enrollTx implements fleet.EnrollTx over a bbolt write transaction.
type enrollTx struct{ changeTx }

func (e enrollTx) TagOwner(tag string) (string, error) {
	return string(e.tx.Bucket(bucketDeviceTag).Get([]byte(tag))), nil
}

func (e enrollTx) NextAssetSeq() (uint64, error) {
	return e.tx.Bucket(bucketDevices).NextSequence()
}

func (e enrollTx) PutCredential(c fleet.Credential) error {
	if c.Username == "" || c.Hash == "" {
		return fmt.Errorf("put credential: %w: username and hash are required", ErrInvalid)
	}
	return putJSON(e.tx.Bucket(bucketCredentials), []byte(c.Username), c)
}

func getDevice(tx *bolt.Tx, id string) (fleet.Device, error) {
	var d fleet.Device
	v := tx.Bucket(bucketDevices).Get([]byte(id))
	if v == nil {
		return d, notFoundError{"device " + id}
	}
	if err := json.Unmarshal(v, &d); err != nil {
		return d, fmt.Errorf("device %s: %w: %v", id, ErrCorrupt, err)
	}
	return d, nil
}

// putDevice writes d and keeps its indexes in the same transaction: the
// asset tag, and every identifier key of its fingerprint, taken over from
// whichever device held it before; keys of its previous record that it no
// longer presents are released if they still point at it. The listing
// indexes (by tag order, and by state then tag order) move with its state
// and tag.
func putDevice(tx *bolt.Tx, d fleet.Device) error {
	if d.ID == "" || d.AssetTag == "" {
		return fmt.Errorf("put device: %w: id and asset tag are required", ErrInvalid)
	}
	if strings.IndexByte(d.ID, 0) >= 0 {
		return fmt.Errorf("put device: %w: id holds a NUL byte", ErrInvalid)
	}
	if msg := validTag(d.AssetTag); msg != "" {
		return fmt.Errorf("put device %s: %w: %s", d.ID, ErrInvalid, msg)
	}
	id := []byte(d.ID)
	tags, idents := tx.Bucket(bucketDeviceTag), tx.Bucket(bucketDeviceIdent)
	keys := fleet.IdentKeys(d.Fingerprint)
	old, err := getDevice(tx, d.ID)
	var prev *fleet.Device // the record d replaces, for the listing indexes
	switch {
	case err == nil:
		prev = &old
		if old.AssetTag != d.AssetTag && bytes.Equal(tags.Get([]byte(old.AssetTag)), id) {
			if err := tags.Delete([]byte(old.AssetTag)); err != nil {
				return err
			}
		}
		for _, k := range fleet.IdentKeys(old.Fingerprint) {
			if !slices.Contains(keys, k) && bytes.Equal(idents.Get([]byte(k)), id) {
				if err := idents.Delete([]byte(k)); err != nil {
					return err
				}
			}
		}
	case !isNotFound(err):
		return err
	}
	// Entries that already say the right thing are not written again: a
	// write dirties its page, and each dirty page costs the commit.
	owner := tags.Get([]byte(d.AssetTag))
	if owner != nil && !bytes.Equal(owner, id) {
		return fmt.Errorf("put device %s: %w: asset tag %s belongs to %s", d.ID, ErrInvalid, d.AssetTag, owner)
	}
	if owner == nil {
		if err := tags.Put([]byte(d.AssetTag), id); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if bytes.Equal(idents.Get([]byte(k)), id) {
			continue
		}
		if err := idents.Put([]byte(k), id); err != nil {
			return err
		}
	}
	if err := indexDeviceList(tx, prev, d); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketDevices), id, d)
}

func isNotFound(err error) bool {
	_, ok := err.(notFoundError)
	return ok
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, data)
}

// The store is the fleet's storage.
var (
	_ fleet.Store          = (*Store)(nil)
	_ fleet.DedupeResetter = (*Store)(nil)
)
