package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/server/fleet"
)

// tagSortKey returns a key whose byte order is fleet.CompareAssetTags's
// order: the text before the trailing number, 0x00, the number as be64,
// then the whole tag. putDevice refuses tags holding a 0x00 byte, so the
// separator sorts before any byte of a longer prefix.
func tagSortKey(dst []byte, tag string) []byte {
	prefix, n := splitTag(tag)
	dst = append(dst, prefix...)
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, n)
	return append(dst, tag...)
}

// splitTag splits an asset tag as fleet.CompareAssetTags does: the text
// before the trailing number and that number; a tag without one, or whose
// number overflows, is all text and 0.
func splitTag(s string) (string, uint64) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.ParseUint(s[i:], 10, 64)
	if err != nil {
		return s, 0
	}
	return s[:i], n
}

// orderKey is the device's key in bucketDeviceOrder.
func orderKey(d fleet.Device) []byte {
	k := tagSortKey(make([]byte, 0, 2*len(d.AssetTag)+len(d.ID)+10), d.AssetTag)
	k = append(k, 0)
	return append(k, d.ID...)
}

// stateKey is the device's key in bucketDeviceState.
func stateKey(d fleet.Device) []byte {
	k := make([]byte, 0, len(d.State)+2*len(d.AssetTag)+len(d.ID)+11)
	k = append(append(k, d.State...), 0)
	k = tagSortKey(k, d.AssetTag)
	k = append(k, 0)
	return append(k, d.ID...)
}

// idOfListKey returns the device id that ends an order or state key: the
// bytes after its last 0x00 (ids never hold one).
func idOfListKey(k []byte) []byte {
	return k[bytes.LastIndexByte(k, 0)+1:]
}

// validTag reports what is wrong with an asset tag for the indexes, or "".
func validTag(tag string) string {
	if tag == "" {
		return "asset tag is empty"
	}
	if strings.IndexByte(tag, 0) >= 0 {
		return "asset tag holds a NUL byte"
	}
	return ""
}

// indexDeviceList moves d's entries in the listing indexes from where old
// put them (nil: d is new) to where d belongs.
func indexDeviceList(tx *bolt.Tx, old *fleet.Device, d fleet.Device) error {
	order, states := tx.Bucket(bucketDeviceOrder), tx.Bucket(bucketDeviceState)
	for _, idx := range []struct {
		b      *bolt.Bucket
		wanted func(fleet.Device) []byte
	}{{order, orderKey}, {states, stateKey}} {
		nk := idx.wanted(d)
		if old != nil {
			ok := idx.wanted(*old)
			if bytes.Equal(ok, nk) {
				continue // in place already
			}
			if err := idx.b.Delete(ok); err != nil {
				return err
			}
		}
		if err := idx.b.Put(nk, nil); err != nil {
			return fmt.Errorf("index device %s: %w", d.ID, err)
		}
	}
	if old != nil && old.State == d.State {
		return nil
	}
	counts := tx.Bucket(bucketDeviceCount)
	if old != nil {
		if err := addCount(counts, old.State, -1); err != nil {
			return err
		}
	}
	return addCount(counts, d.State, 1)
}

// addCount adds delta to the number of devices in state s.
func addCount(counts *bolt.Bucket, s fleet.State, delta int64) error {
	if s == "" {
		return nil // a record written without a state (only tests do)
	}
	var n int64
	if v := counts.Get([]byte(s)); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	if n += delta; n < 0 {
		return fmt.Errorf("count of %s devices: %w: below zero", s, ErrCorrupt)
	}
	return counts.Put([]byte(s), be64(uint64(n)))
}

// DeviceCounts returns how many devices are in each lifecycle state; a
// state without devices is absent. It reads counters kept with every
// write, not the devices.
func (s *Store) DeviceCounts() (map[fleet.State]int, error) {
	out := map[fleet.State]int{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDeviceCount).ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("count of %s devices: %w: %d bytes", k, ErrCorrupt, len(v))
			}
			if n := binary.BigEndian.Uint64(v); n > 0 {
				out[fleet.State(k)] = int(n)
			}
			return nil
		})
	})
	return out, err
}

// DeviceList returns the devices f selects in fleet.CompareAssetTags
// order, after the asset tag f.After, at most f.Limit of them (0: all).
// With f.State set it walks only that state's index, so a page costs what
// it holds (plus the devices the other fields of f skip).
func (s *Store) DeviceList(f fleet.Filter) ([]fleet.Device, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list devices: %w: limit %d is negative", ErrInvalid, f.Limit)
	}
	if f.State != "" && !f.State.Valid() {
		return nil, fmt.Errorf("list devices: %w: state %q is not one of %v", ErrInvalid, f.State, fleet.States)
	}
	var out []fleet.Device
	err := s.db.View(func(tx *bolt.Tx) error {
		var prefix []byte // every key of the walk starts with it
		idx := tx.Bucket(bucketDeviceOrder)
		if f.State != "" {
			idx = tx.Bucket(bucketDeviceState)
			prefix = append([]byte(f.State), 0)
		}
		from := prefix
		if f.After != "" {
			// Past every key of the tag After: its sort key then 0x01,
			// above its own 0x00 id suffix.
			from = append(tagSortKey(bytes.Clone(prefix), f.After), 1)
		}
		devices := tx.Bucket(bucketDevices)
		c := idx.Cursor()
		for k, _ := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := idOfListKey(k)
			v := devices.Get(id)
			if v == nil {
				return fmt.Errorf("device index entry %q: %w: no device %s", k, ErrCorrupt, id)
			}
			var d fleet.Device
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("device %s: %w: %v", id, ErrCorrupt, err)
			}
			if !f.Match(d) {
				continue
			}
			out = append(out, d)
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}
