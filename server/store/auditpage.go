package store

import (
	"bytes"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// AuditPage returns copies of at most limit audit events (0: all), newest
// first, whose sequence number is below before (0: from the newest). With
// subject set (a device id, or "kit:<id>", "loan:<id>"…) it walks only
// that subject's index entries; an indexed event that is gone is skipped
// (VerifyAudit reports it).
func (s *Store) AuditPage(subject string, before uint64, limit int) ([][]byte, error) {
	if limit < 0 {
		return nil, fmt.Errorf("audit page: %w: limit %d is negative", ErrInvalid, limit)
	}
	if strings.IndexByte(subject, 0) >= 0 {
		return nil, fmt.Errorf("audit page: %w: subject holds a NUL byte", ErrInvalid)
	}
	var out [][]byte
	full := func() bool { return limit > 0 && len(out) == limit }
	err := s.db.View(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketAudit)
		if subject == "" {
			c := events.Cursor()
			var k, v []byte
			if before == 0 {
				k, v = c.Last()
			} else {
				k, v = seekBelow(c, be64(before))
			}
			for ; k != nil && !full(); k, v = c.Prev() {
				out = append(out, bytes.Clone(v))
			}
			return nil
		}
		prefix := deviceKey(subject, nil)
		end := append(bytes.Clone(prefix[:len(prefix)-1]), 1) // just past the prefix
		if before != 0 {
			end = deviceKey(subject, be64(before))
		}
		c := tx.Bucket(bucketAuditDevice).Cursor()
		for k, _ := seekBelow(c, end); k != nil && bytes.HasPrefix(k, prefix) && !full(); k, _ = c.Prev() {
			if v := events.Get(k[len(prefix):]); v != nil {
				out = append(out, bytes.Clone(v))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit page: %w", err)
	}
	return out, nil
}

// seekBelow moves c to the last key strictly below key.
func seekBelow(c *bolt.Cursor, key []byte) ([]byte, []byte) {
	k, _ := c.Seek(key)
	if k == nil {
		return c.Last()
	}
	return c.Prev()
}
