package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/server/fleet"
)

// This file keeps users, venues and kits, each in a bucket by id with a
// name index: users by NameKey(Name) 0x00 id (names repeat), venues by
// NameKey(Name) and kits by NameKey(Label) (unique, see putNamed).

// checkID refuses an empty id or one holding a NUL byte, which would break
// the index keys it ends.
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("put %s: %w: id is required", what, ErrInvalid)
	}
	if strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("put %s: %w: id holds a NUL byte", what, ErrInvalid)
	}
	return nil
}

// nameKeyOf returns fleet.NameKey(name), refusing names with nothing to
// look them up by.
func nameKeyOf(what, id, field, name string) ([]byte, error) {
	k := fleet.NameKey(name)
	if k == "" {
		return nil, fmt.Errorf("put %s %s: %w: %s is empty", what, id, ErrInvalid, field)
	}
	if strings.IndexByte(k, 0) >= 0 {
		return nil, fmt.Errorf("put %s %s: %w: %s holds a NUL byte", what, id, ErrInvalid, field)
	}
	return []byte(k), nil
}

func getUser(tx *bolt.Tx, id string) (fleet.User, error) {
	var u fleet.User
	return u, getJSON(tx.Bucket(bucketUsers), []byte(id), "user "+id, &u)
}

// putUser writes u and moves its name index entry if its name changed.
func putUser(tx *bolt.Tx, u fleet.User) error {
	if err := checkID("user", u.ID); err != nil {
		return err
	}
	key, err := nameKeyOf("user", u.ID, "name", u.Name)
	if err != nil {
		return err
	}
	names := tx.Bucket(bucketUserName)
	old, err := getUser(tx, u.ID)
	switch {
	case err == nil:
		if ok := fleet.NameKey(old.Name); ok != string(key) {
			if err := names.Delete(deviceKey(ok, []byte(u.ID))); err != nil {
				return err
			}
		}
	case !isNotFound(err):
		return err
	}
	if err := names.Put(deviceKey(string(key), []byte(u.ID)), nil); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketUsers), []byte(u.ID), u)
}

func userIDsByName(tx *bolt.Tx, key string) []string {
	var ids []string
	prefix := deviceKey(key, nil)
	c := tx.Bucket(bucketUserName).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	return ids
}

// putNamed writes the record v under id in bucket records, and keeps the
// unique name index names: it refuses, with an error wrapping
// fleet.ErrConflict, a name key that another record holds, and releases
// the old key of a renamed record.
func putNamed(records, names *bolt.Bucket, what, id, name string, key, oldKey []byte, v any) error {
	if owner := names.Get(key); owner != nil && string(owner) != id {
		return fmt.Errorf("put %s %s: %w: the name %q is taken by %s %s", what, id, fleet.ErrConflict, name, what, owner)
	}
	if oldKey != nil && !bytes.Equal(oldKey, key) && string(names.Get(oldKey)) == id {
		if err := names.Delete(oldKey); err != nil {
			return err
		}
	}
	if err := names.Put(key, []byte(id)); err != nil {
		return err
	}
	return putJSON(records, []byte(id), v)
}

// nameOwner returns the id the unique name index names holds under key.
func nameOwner(names *bolt.Bucket, what, key string) (string, error) {
	v := names.Get([]byte(key))
	if v == nil {
		return "", notFoundError{what + " " + key}
	}
	return string(v), nil
}

func getVenue(tx *bolt.Tx, id string) (fleet.Venue, error) {
	var v fleet.Venue
	return v, getJSON(tx.Bucket(bucketVenues), []byte(id), "venue "+id, &v)
}

func putVenue(tx *bolt.Tx, v fleet.Venue) error {
	if err := checkID("venue", v.ID); err != nil {
		return err
	}
	key, err := nameKeyOf("venue", v.ID, "name", v.Name)
	if err != nil {
		return err
	}
	var oldKey []byte
	old, err := getVenue(tx, v.ID)
	switch {
	case err == nil:
		oldKey = []byte(fleet.NameKey(old.Name))
	case !isNotFound(err):
		return err
	}
	return putNamed(tx.Bucket(bucketVenues), tx.Bucket(bucketVenueName), "venue", v.ID, v.Name, key, oldKey, v)
}

func getKit(tx *bolt.Tx, id string) (fleet.Kit, error) {
	var k fleet.Kit
	return k, getJSON(tx.Bucket(bucketKits), []byte(id), "kit "+id, &k)
}

func putKit(tx *bolt.Tx, k fleet.Kit) error {
	if err := checkID("kit", k.ID); err != nil {
		return err
	}
	key, err := nameKeyOf("kit", k.ID, "label", k.Label)
	if err != nil {
		return err
	}
	var oldKey []byte
	old, err := getKit(tx, k.ID)
	switch {
	case err == nil:
		oldKey = []byte(fleet.NameKey(old.Label))
	case !isNotFound(err):
		return err
	}
	return putNamed(tx.Bucket(bucketKits), tx.Bucket(bucketKitLabel), "kit", k.ID, k.Label, key, oldKey, k)
}

func (c changeTx) User(id string) (fleet.User, error) { return getUser(c.tx, id) }

func (c changeTx) UserIDsByName(key string) ([]string, error) { return userIDsByName(c.tx, key), nil }

func (c changeTx) PutUser(u fleet.User) error { return putUser(c.tx, u) }

func (c changeTx) PutAPIToken(t fleet.APIToken) error {
	if t.Hash == "" || t.ID == "" {
		return fmt.Errorf("put API token: %w: id and hash are required", ErrInvalid)
	}
	return putJSON(c.tx.Bucket(bucketAPITokens), []byte(t.Hash), t)
}

func (c changeTx) Venue(id string) (fleet.Venue, error) { return getVenue(c.tx, id) }

func (c changeTx) VenueIDByName(key string) (string, error) {
	return nameOwner(c.tx.Bucket(bucketVenueName), "venue", key)
}

func (c changeTx) PutVenue(v fleet.Venue) error { return putVenue(c.tx, v) }

func (c changeTx) Kit(id string) (fleet.Kit, error) { return getKit(c.tx, id) }

func (c changeTx) KitIDByLabel(key string) (string, error) {
	return nameOwner(c.tx.Bucket(bucketKitLabel), "kit", key)
}

func (c changeTx) PutKit(k fleet.Kit) error { return putKit(c.tx, k) }

func (c changeTx) DeviceIDByTag(tag string) (string, error) {
	v := c.tx.Bucket(bucketDeviceTag).Get([]byte(tag))
	if v == nil {
		return "", notFoundError{"asset tag " + tag}
	}
	return string(v), nil
}

func (c changeTx) IdentOwner(key string) (string, error) {
	return string(c.tx.Bucket(bucketDeviceIdent).Get([]byte(key))), nil
}

// User returns the user with this id.
func (s *Store) User(id string) (fleet.User, error) {
	var u fleet.User
	err := s.db.View(func(tx *bolt.Tx) (err error) { u, err = getUser(tx, id); return err })
	return u, err
}

// Users returns every user, in id order.
func (s *Store) Users() ([]fleet.User, error) {
	return all[fleet.User](s, bucketUsers, "user")
}

// Venue returns the venue with this id.
func (s *Store) Venue(id string) (fleet.Venue, error) {
	var v fleet.Venue
	err := s.db.View(func(tx *bolt.Tx) (err error) { v, err = getVenue(tx, id); return err })
	return v, err
}

// Venues returns every venue, in id order.
func (s *Store) Venues() ([]fleet.Venue, error) {
	return all[fleet.Venue](s, bucketVenues, "venue")
}

// Kit returns the kit with this id.
func (s *Store) Kit(id string) (fleet.Kit, error) {
	var k fleet.Kit
	err := s.db.View(func(tx *bolt.Tx) (err error) { k, err = getKit(tx, id); return err })
	return k, err
}

// KitIDByLabel returns the id of the kit whose NameKey(Label) is key.
func (s *Store) KitIDByLabel(key string) (string, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		id, err = nameOwner(tx.Bucket(bucketKitLabel), "kit", key)
		return err
	})
	return id, err
}

// Kits returns at most limit kits (0: all) in the order of their label
// keys, starting after the label key after ("" from the first).
func (s *Store) Kits(after string, limit int) ([]fleet.Kit, error) {
	if limit < 0 {
		return nil, fmt.Errorf("list kits: %w: limit %d is negative", ErrInvalid, limit)
	}
	var out []fleet.Kit
	err := s.db.View(func(tx *bolt.Tx) error {
		kits := tx.Bucket(bucketKits)
		c := tx.Bucket(bucketKitLabel).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && after != "" && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && (limit == 0 || len(out) < limit); k, v = c.Next() {
			var kit fleet.Kit
			if err := getJSON(kits, v, "kit "+string(v), &kit); err != nil {
				if isNotFound(err) {
					return fmt.Errorf("kit label %q: %w: no kit %s", k, ErrCorrupt, v)
				}
				return err
			}
			out = append(out, kit)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list kits: %w", err)
	}
	return out, nil
}

// all decodes every record of a bucket, in key order.
func all[T any](s *Store, bucket []byte, what string) ([]T, error) {
	var out []T
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var r T
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%s %s: %w: %v", what, k, ErrCorrupt, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}
