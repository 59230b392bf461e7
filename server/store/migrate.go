package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/server/fleet"
)

// migrate brings a file from schema from up to SchemaVersion inside the
// transaction that opens it, after the buckets exist. A new file (schema
// 0) goes through the same steps, which find nothing to do.
func migrate(tx *bolt.Tx, from uint64) error {
	steps := []struct {
		to uint64
		fn func(*bolt.Tx) error
	}{
		{2, migrateV2},
	}
	for _, s := range steps {
		if from >= s.to {
			continue
		}
		if err := s.fn(tx); err != nil {
			return fmt.Errorf("migrate to schema %d: %w", s.to, err)
		}
	}
	return nil
}

// migrateV2 adds what daily operations need:
//   - every API token without a user gets one (ID the token's, Name,
//     Role and CreatedAt from the token), so that each token belongs to a
//     person that can be listed and disabled;
//   - the device listing indexes (tag order, state then tag order);
//   - the last-seen times of devices, out of their summaries;
//   - the audit index by subject, for events that named one.
func migrateV2(tx *bolt.Tx) error {
	tokens := tx.Bucket(bucketAPITokens)
	var orphans []fleet.APIToken
	err := tokens.ForEach(func(k, v []byte) error {
		var t fleet.APIToken
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("API token: %w: %v", ErrCorrupt, err)
		}
		if t.User == "" {
			orphans = append(orphans, t)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range orphans { // not inside ForEach: bbolt forbids it
		name := t.Name
		if fleet.NameKey(name) == "" {
			name = t.ID
		}
		u := fleet.User{ID: t.ID, Name: name, Role: t.Role, CreatedAt: t.CreatedAt}
		if _, err := getUser(tx, u.ID); isNotFound(err) {
			if err := putUser(tx, u); err != nil {
				return fmt.Errorf("user of API token %s: %w", t.ID, err)
			}
		} else if err != nil {
			return err
		}
		t.User = t.ID
		if err := putJSON(tokens, []byte(t.Hash), t); err != nil {
			return err
		}
	}

	err = tx.Bucket(bucketDevices).ForEach(func(k, v []byte) error {
		var d fleet.Device
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("device %s: %w: %v", k, ErrCorrupt, err)
		}
		if msg := validTag(d.AssetTag); msg != "" {
			return fmt.Errorf("device %s: %w: %s", k, ErrCorrupt, msg)
		}
		return indexDeviceList(tx, nil, d)
	})
	if err != nil {
		return err
	}

	err = tx.Bucket(bucketSummary).ForEach(func(k, v []byte) error {
		var r struct {
			LastSeen time.Time `json:"last_seen"`
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("summary of %s: %w: %v", k, ErrCorrupt, err)
		}
		return putLastSeen(tx, string(k), r.LastSeen)
	})
	if err != nil {
		return err
	}

	return tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
		var e struct {
			Seq     uint64 `json:"seq"`
			Subject string `json:"subject"`
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("audit event %x: %w: %v", k, ErrCorrupt, err)
		}
		if e.Subject == "" {
			return nil
		}
		return indexAudit(tx, fleet.AuditEvent{Seq: e.Seq, Subject: e.Subject}, k)
	})
}
