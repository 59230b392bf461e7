package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrNotStore means a file is not a Valise store: not a bbolt file, or a
// bbolt file without the store's schema.
var ErrNotStore = errors.New("not a Valise store")

// StreamBackup is Backup for a consumer that must know the size of the
// copy before its first byte, such as an HTTP answer with a
// Content-Length: begin is called inside the read transaction with the
// size WriteTo will write, then the copy follows. An error of begin stops
// the copy and is returned.
func (s *Store) StreamBackup(w io.Writer, begin func(size int64) error) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := begin(tx.Size()); err != nil {
			return err
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// OpenReadOnly opens the store at path for reading only, without creating
// or migrating anything: the file must exist and have exactly this code's
// SchemaVersion. Its shared lock keeps a server from opening the file
// meanwhile, and fails with ErrLocked while a server holds it. Every
// method that writes fails.
func OpenReadOnly(path string, opts Options) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if err := checkFile(path); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, ReadOnly: true})
	if err != nil {
		return nil, openError(path, err)
	}
	schema, err := readSchema(db)
	if err == nil && schema < SchemaVersion {
		err = fmt.Errorf("file has schema %d: a server of this version migrates it to %d when it opens it; it cannot be read as it is", schema, SchemaVersion)
	}
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error {
			for _, name := range allBuckets {
				if tx.Bucket(name) == nil {
					return fmt.Errorf("%w: bucket %s is missing", ErrNotStore, name)
				}
			}
			return nil
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Inspect returns the schema version of the store file at path, reading
// it under a shared lock and changing nothing. It fails with ErrNotStore
// for a file that is not a Valise store, ErrSchema for one written by a
// newer server and ErrLocked while a server holds the file.
func Inspect(path string, timeout time.Duration) (schema uint64, err error) {
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	if err := checkFile(path); err != nil {
		return 0, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: true})
	if err != nil {
		return 0, openError(path, err)
	}
	defer db.Close()
	schema, err = readSchema(db)
	if err != nil {
		return 0, fmt.Errorf("open store %s: %w", path, err)
	}
	return schema, nil
}

// checkFile refuses what bbolt would mistake for a new database (an empty
// file) or cannot open (a directory), and a missing file, which read-only
// opening must not create.
func checkFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("open store %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("open store %s: %w: not a regular file", path, ErrNotStore)
	case fi.Size() == 0:
		return fmt.Errorf("open store %s: %w: the file is empty", path, ErrNotStore)
	}
	return nil
}

// openError words an error of bolt.Open.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("open store %s: %w (is a valise-server running on it?)", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrInvalidMapping):
		return fmt.Errorf("open store %s: %w: not a bbolt database file (%v)", path, ErrNotStore, err)
	}
	return fmt.Errorf("open store %s: %w", path, err)
}

// readSchema returns the schema version a store file records.
func readSchema(db *bolt.DB) (uint64, error) {
	var v uint64
	err := db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: a bbolt file without the store's %q bucket", ErrNotStore, bucketMeta)
		}
		b := meta.Get([]byte("schema"))
		if len(b) != 8 {
			return fmt.Errorf("%w: a bbolt file without a schema version", ErrNotStore)
		}
		v = binary.BigEndian.Uint64(b)
		switch {
		case v == 0:
			return fmt.Errorf("%w: schema version 0", ErrNotStore)
		case v > SchemaVersion:
			return fmt.Errorf("%w: file has schema %d, this server knows up to %d", ErrSchema, v, SchemaVersion)
		}
		return nil
	})
	return v, err
}

// Counts are how many records of each kind a store holds, to tell a
// backup or a restore at a glance.
type Counts struct {
	Schema        uint64
	Devices       int
	Kits          int
	Loans         int
	Users         int
	AuditEvents   uint64 // the head of the audit log
	HistoryPoints int
}

// Counts counts the records of the store in one read transaction.
func (s *Store) Counts() (Counts, error) {
	var c Counts
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get([]byte("schema")); len(b) == 8 {
			c.Schema = binary.BigEndian.Uint64(b)
		}
		var err error
		if c.AuditEvents, _, err = auditHead(tx); err != nil {
			return err
		}
		for _, n := range []struct {
			bucket []byte
			dst    *int
		}{
			{bucketDevices, &c.Devices}, {bucketKits, &c.Kits}, {bucketLoans, &c.Loans},
			{bucketUsers, &c.Users}, {bucketHistory, &c.HistoryPoints},
		} {
			*n.dst = tx.Bucket(n.bucket).Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return Counts{}, fmt.Errorf("count records: %w", err)
	}
	return c, nil
}
