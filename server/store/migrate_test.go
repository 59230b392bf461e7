package store

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/server/fleet"
)

// writeV1 writes a store file as schema 1 left it: an API token from
// before users existed, one made for a user, two devices and an audit
// event about a kit.
func writeV1(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	records := map[string]map[string]string{
		"meta": {"schema": string(be64(1))},
		"api_tokens": {
			"hash-admin": `{"id":"a1","hash":"hash-admin","name":"Awa Diallo","role":"admin","created_at":"2026-10-01T08:00:00Z"}`,
			"hash-tech":  `{"id":"a2","hash":"hash-tech","user":"u7","name":"Léa","role":"technician","created_at":"2026-10-02T08:00:00Z"}`,
		},
		"devices": {
			"dev-b": `{"id":"dev-b","asset_tag":"VAL-1000","class":"laptop","state":"ready","fingerprint":{}}`,
			"dev-a": `{"id":"dev-a","asset_tag":"VAL-0999","class":"hotspot","state":"needs_wipe","fingerprint":{}}`,
		},
		"device_tag": {"VAL-1000": "dev-b", "VAL-0999": "dev-a"},
		"summary":    {"dev-a": `{"last_seen":"2026-10-04T09:30:00Z","online":false}`},
		"audit": {
			string(be64(1)): `{"seq":1,"at":"2026-10-03T08:00:00Z","actor":"Awa Diallo","action":"kit_created","subject":"kit:k1","hash":"h1"}`,
		},
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for bucket, kv := range records {
			b, err := tx.CreateBucket([]byte(bucket))
			if err != nil {
				return err
			}
			for k, v := range kv {
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrateV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "valise.db")
	writeV1(t, path)
	for round := range 2 { // the second opening finds nothing to do
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("open %d: %v", round, err)
		}
		var schema uint64
		s.db.View(func(tx *bolt.Tx) error {
			schema = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get([]byte("schema")))
			return nil
		})
		if schema != SchemaVersion {
			t.Errorf("open %d: schema %d, want %d", round, schema, SchemaVersion)
		}

		users, err := s.Users()
		if err != nil {
			t.Fatal(err)
		}
		want := []fleet.User{{ID: "a1", Name: "Awa Diallo", Role: fleet.RoleAdmin, CreatedAt: time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)}}
		if diff := cmp.Diff(want, users); diff != "" {
			t.Errorf("open %d: users (-want +got):\n%s", round, diff)
		}
		if tok, err := s.APIToken("hash-admin"); err != nil || tok.User != "a1" || tok.Name != "Awa Diallo" {
			t.Errorf("open %d: admin token = %+v, %v", round, tok, err)
		}
		if tok, err := s.APIToken("hash-tech"); err != nil || tok.User != "u7" {
			t.Errorf("open %d: a token with a user changed: %+v, %v", round, tok, err)
		}
		if got := bucketKeys(t, s, bucketUserName); !slices.Equal(got, []string{"awa diallo\x00a1"}) {
			t.Errorf("open %d: user name index %q", round, got)
		}

		checkListIndexes(t, s)
		all, err := s.DeviceList(fleet.Filter{})
		if err != nil || !slices.Equal(tagsOf(all), []string{"VAL-0999", "VAL-1000"}) {
			t.Errorf("open %d: devices %v, %v", round, tagsOf(all), err)
		}
		wipe, err := s.DeviceList(fleet.Filter{State: fleet.StateNeedsWipe})
		if err != nil || !slices.Equal(tagsOf(wipe), []string{"VAL-0999"}) {
			t.Errorf("open %d: devices needing a wipe %v, %v", round, tagsOf(wipe), err)
		}
		seen, err := s.LastSeen([]string{"dev-a", "dev-b"})
		if want := time.Date(2026, 10, 4, 9, 30, 0, 0, time.UTC); err != nil || len(seen) != 1 || !seen["dev-a"].Equal(want) {
			t.Errorf("open %d: last seen %v, %v; want dev-a at %s", round, seen, err, want)
		}
		raws, err := s.AuditPage("kit:k1", 0, 0)
		if err != nil || len(raws) != 1 {
			t.Errorf("open %d: audit of kit k1: %d events, %v", round, len(raws), err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "valise.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put([]byte("schema"), be64(SchemaVersion+1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, Options{}); !errors.Is(err, ErrSchema) {
		if err == nil {
			s.Close()
		}
		t.Errorf("open a newer file: %v, want ErrSchema", err)
	}
}

func TestFailedMigrationChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "valise.db")
	writeV1(t, path)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).Put([]byte("dev-c"), []byte(`{"id":"dev-c",`))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	if s, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("open with a corrupt device: %v, want ErrCorrupt", err)
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if v := binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get([]byte("schema"))); v != 1 {
			t.Errorf("schema %d after a failed migration, want 1", v)
		}
		if tx.Bucket(bucketUsers) != nil {
			t.Error("a failed migration left the users bucket")
		}
		return nil
	})
}
