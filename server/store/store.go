// Package store is the bbolt implementation of the server's stores. It owns
// every bbolt transaction: no bbolt type and no byte slice read inside a
// transaction leaves it.
//
// One file holds everything, a bucket per entity (see the bucket names
// below), secondary indexes kept in the same transaction as the record they
// index, and big-endian keys wherever order matters. Open creates missing
// buckets and runs migrations up to SchemaVersion.
//
// A Store is safe for concurrent use. bbolt allows one writer at a time;
// telemetry ingest batches many messages per write transaction (see
// CommitReports) so that one fsync covers many acknowledgements.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the version of the layout this code reads and writes.
const SchemaVersion = 2

// Bucket names. Each is created by Open.
var (
	bucketMeta         = []byte("meta")          // "schema" -> uint64
	bucketDevices      = []byte("devices")       // device id -> fleet.Device JSON; NextSequence numbers asset tags
	bucketDeviceIdent  = []byte("device_ident")  // identifier key ("uuid:…", "mac:…") -> device id
	bucketDeviceTag    = []byte("device_tag")    // asset tag -> device id
	bucketCredentials  = []byte("credentials")   // MQTT username -> credential record
	bucketEnrollTokens = []byte("enroll_tokens") // token hash -> enrolment token record
	bucketAPITokens    = []byte("api_tokens")    // token hash -> API token record
	bucketLatest       = []byte("latest")        // device id 0x00 kind -> latest report of that kind
	bucketHistory      = []byte("history")       // device id 0x00 metric 0x00 be64(unix nano) -> float64
	bucketDedupe       = []byte("dedupe")        // device id -> replay window of seqs
	bucketSummary      = []byte("summary")       // device id -> telemetry summary (last seen, online, battery)

	bucketAudit       = []byte("audit")        // be64(seq) -> fleet.AuditEvent JSON; meta "audit_head" -> be64(seq) hash
	bucketAuditDevice = []byte("audit_device") // device id or subject ("kit:…") 0x00 be64(seq) -> nothing
	bucketWipeJobs    = []byte("wipe_jobs")    // job id -> fleet.WipeJob JSON
	bucketWipeActive  = []byte("wipe_active")  // job id -> nothing, while the job is unfinished
	bucketProvisions  = []byte("provisions")   // job id -> fleet.ProvisionJob JSON
	bucketCerts       = []byte("certs")        // certificate id -> fleet.CertRecord JSON
	bucketCertFiles   = []byte("cert_files")   // certificate id -> countersigned file bytes
	bucketCertDevice  = []byte("cert_device")  // device id 0x00 be64(n) -> certificate id; NextSequence numbers them
	bucketPending     = []byte("pending")      // device id 0x00 be64(seq) -> event body not yet acted on

	// Since schema 2: device listing indexes and daily operations.
	bucketDeviceOrder = []byte("device_order") // tagSortKey(tag) 0x00 device id -> nothing
	bucketDeviceState = []byte("device_state") // state 0x00 tagSortKey(tag) 0x00 device id -> nothing
	bucketDeviceCount = []byte("device_count") // state -> be64(number of devices in it)
	bucketLastSeen    = []byte("last_seen")    // device id -> be64(unix nano of the summary's LastSeen)
	bucketUsers       = []byte("users")        // user id -> fleet.User JSON
	bucketUserName    = []byte("user_name")    // NameKey(name) 0x00 user id -> nothing (names are not unique)
	bucketVenues      = []byte("venues")       // venue id -> fleet.Venue JSON
	bucketVenueName   = []byte("venue_name")   // NameKey(name) -> venue id (unique)
	bucketKits        = []byte("kits")         // kit id -> fleet.Kit JSON
	bucketKitLabel    = []byte("kit_label")    // NameKey(label) -> kit id (unique)
	bucketLoans       = []byte("loans")        // loan id -> fleet.Loan JSON
	bucketLoanTime    = []byte("loan_time")    // be64(^OutAt) 0x00 loan id -> nothing: every loan, newest first
	bucketLoanOpen    = []byte("loan_open")    // be64(^OutAt) 0x00 loan id -> nothing, while the loan is open
	bucketLoanDue     = []byte("loan_due")     // be64(DueAt) 0x00 loan id -> be64(^OutAt), while the loan is open
	bucketLoanKit     = []byte("loan_kit")     // kit id 0x00 be64(^OutAt) 0x00 loan id -> nothing
	bucketLoanUser    = []byte("loan_user")    // borrower id 0x00 be64(^OutAt) 0x00 loan id -> nothing
	bucketLoanVenue   = []byte("loan_venue")   // venue id 0x00 be64(^OutAt) 0x00 loan id -> nothing
)

var allBuckets = [][]byte{
	bucketMeta, bucketDevices, bucketDeviceIdent, bucketDeviceTag, bucketCredentials,
	bucketEnrollTokens, bucketAPITokens, bucketLatest, bucketHistory, bucketDedupe, bucketSummary,
	bucketAudit, bucketAuditDevice, bucketWipeJobs, bucketWipeActive, bucketProvisions,
	bucketCerts, bucketCertFiles, bucketCertDevice, bucketPending,
	bucketDeviceOrder, bucketDeviceState, bucketDeviceCount, bucketLastSeen, bucketUsers, bucketUserName, bucketVenues, bucketVenueName,
	bucketKits, bucketKitLabel, bucketLoans, bucketLoanTime, bucketLoanOpen, bucketLoanDue,
	bucketLoanKit, bucketLoanUser, bucketLoanVenue,
}

// Store is the server's bbolt store.
type Store struct {
	db  *bolt.DB
	tel telemetry // replay windows of CommitReports, see telemetry.go
}

// Options tune Open.
type Options struct {
	// Timeout bounds the wait for the file lock held by another process.
	// Zero means 2 seconds.
	Timeout time.Duration
	// NoSync disables fsync, for benchmarks that measure something else.
	// Never set it in production: acknowledged messages could be lost.
	NoSync bool
}

// Open opens or creates the store at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	// The freelist is not written at each commit (it is rebuilt when the
	// file opens): a fleet's file has thousands of free pages, and writing
	// their list was a large part of every small commit.
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.Timeout, NoSync: opts.NoSync, FreelistType: bolt.FreelistMapType, NoFreelistSync: true,
		InitialMmapSize: mmapSize(path),
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: %w (is another valise-server running on it?)", path, ErrLocked)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := uint64(0)
		if b := meta.Get([]byte("schema")); len(b) == 8 {
			v = binary.BigEndian.Uint64(b)
		}
		if v > SchemaVersion {
			return fmt.Errorf("%w: file has schema %d, this server knows up to %d", ErrSchema, v, SchemaVersion)
		}
		if err := migrate(tx, v); err != nil {
			return err
		}
		return meta.Put([]byte("schema"), be64(SchemaVersion))
	})
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Backup writes a consistent copy of the whole store to w, as of one read
// transaction, while writers go on.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// mmapSize is how much of the file bbolt maps from the start: at least
// 1 GiB, and twice the file, on 64-bit machines (address space only). A
// write that grows the file past the map must remap it, which waits for
// every open read transaction; a backup is one that lasts seconds, and
// ingest would stall behind it.
func mmapSize(path string) int {
	if strconv.IntSize < 64 {
		return 0 // bbolt's own growth; address space is short
	}
	size := 1 << 30
	if fi, err := os.Stat(path); err == nil && 2*fi.Size() > int64(size) {
		size = int(2 * fi.Size())
	}
	return size
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
