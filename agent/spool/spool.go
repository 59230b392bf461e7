// Package spool is the agent's bounded on-disk outbox: every report and
// event the agent publishes is first appended here, with its per-device
// sequence number, and leaves only when the broker has acknowledged it
// (PUBACK). The spool survives kill -9 and power loss: each Append and Ack
// is one fsync'd bbolt transaction.
//
// Sequence numbers are strictly increasing and never reused, also across
// restarts: the counter is stored in the same transaction as the message.
//
// The spool is bounded by Options.MaxBytes of payload. Past the bound the
// oldest health and net samples are dropped first; inventories and events
// are never dropped, whatever their age or size. Dropped samples are
// counted (Stats) and can be reported once with AppendDropReport.
//
// Wipe progress events are samples too: the caller appends them with
// AppendDroppable, and they are dropped like health and net samples. Wipe
// and provisioning results never are.
//
// The spool also keeps a journal of the jobs in progress (BeginJob), so
// that an agent killed during a wipe finds the job at its next start and
// reports it failed; the journal entry goes away in the same transaction
// as the job's result (AppendEndJob).
//
// The spool also keeps the nonces of the commands the agent has obeyed,
// until they expire, so that a replayed command is refused even after a
// restart (UseNonce).
//
// A Spool is safe for concurrent use by several goroutines. Only one process
// may open a spool file at a time: bbolt locks it, and Open waits at most
// Options.Timeout for the lock, then fails with ErrLocked. A process that
// only queues an event while another may own the file (the maintenance
// wipe command) opens the spool, appends and closes it at once; the
// long-running agent holds it open as long as it runs, so it must be
// stopped for such a process to queue anything.
package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
	bolt "go.etcd.io/bbolt"
)

// DefaultMaxBytes is the default bound on the payload bytes the spool holds.
const DefaultMaxBytes = 64 << 20

// Buckets of the spool file.
var (
	bucketMeta    = []byte("meta")    // counters, see key* below
	bucketMsgs    = []byte("msgs")    // be64(seq) -> record (see encodeRecord); NextSequence numbers messages
	bucketSamples = []byte("samples") // be64(seq) -> empty: health and net messages, oldest first
	bucketNonces  = []byte("nonces")  // nonce -> be64(expiry, unix nanoseconds)
	bucketJobs    = []byte("jobs")    // job id -> the caller's record of a job in progress
)

// Keys of bucketMeta.
var (
	keyBytes      = []byte("bytes")      // payload bytes held
	keyCount      = []byte("count")      // messages held
	keyDropped    = []byte("dropped")    // samples dropped since the file was created
	keyUnreported = []byte("unreported") // samples dropped and not yet reported
)

// Options tune Open.
type Options struct {
	// MaxBytes bounds the payload bytes held before the oldest samples
	// are dropped. Zero means DefaultMaxBytes.
	MaxBytes int64
	// Now gives the time recorded with each message and used to expire
	// nonces. Nil means time.Now.
	Now func() time.Time
	// Timeout bounds the wait for a file locked by another process. Zero
	// means one second.
	Timeout time.Duration
}

// Validate reports the first invalid field of o.
func (o Options) Validate() error {
	if o.MaxBytes < 0 {
		return fmt.Errorf("spool options: MaxBytes %d is negative", o.MaxBytes)
	}
	if o.Timeout < 0 {
		return fmt.Errorf("spool options: Timeout %s is negative", o.Timeout)
	}
	return nil
}

func (o *Options) defaults() {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
}

// Message is one spooled message. Payload is a copy, owned by the caller.
type Message struct {
	Seq     uint64
	Kind    wire.Channel
	At      time.Time // when it was appended
	Payload []byte
}

// Stats describes what the spool holds.
type Stats struct {
	Count   uint64 // messages waiting for their PUBACK
	Bytes   int64  // their payload bytes
	Dropped uint64 // samples dropped to keep under MaxBytes, since the file was created
	LastSeq uint64 // the last sequence number given out
}

// Spool is an open spool file.
type Spool struct {
	path string
	opts Options

	mu sync.RWMutex // guards db against Close
	db *bolt.DB
}

// Open opens or creates the spool file at path.
func Open(path string, opts Options) (*Spool, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.defaults()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open spool %s: %w (is another valise-agent running on this state dir?)", path, ErrLocked)
		}
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketMsgs, bucketSamples, bucketNonces, bucketJobs} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	return &Spool{path: path, opts: opts, db: db}, nil
}

// Close closes the spool file. Later calls return ErrClosed.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("close spool %s: %w", s.path, err)
	}
	return nil
}

func (s *Spool) update(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return s.db.Update(fn)
}

func (s *Spool) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return s.db.View(fn)
}

// isSample reports whether messages of kind k may be dropped to keep the
// spool under its bound.
func isSample(k wire.Channel) bool { return k == wire.ChanHealth || k == wire.ChanNet }

// Append gives the next sequence number to build, which returns the
// payload to spool (typically wire.Encode of an envelope holding seq), and
// stores it, all in one transaction: if build or the write fails, the
// sequence number is not used. It returns the sequence number stored.
//
// build runs inside the spool's write transaction: it must not call the
// spool.
func (s *Spool) Append(kind wire.Channel, build func(seq uint64) ([]byte, error)) (uint64, error) {
	return s.append(kind, isSample(kind), build)
}

// AppendDroppable is Append for a message that may be dropped, like a
// health sample, to keep the spool under its bound: a wipe progress event.
func (s *Spool) AppendDroppable(kind wire.Channel, build func(seq uint64) ([]byte, error)) (uint64, error) {
	return s.append(kind, true, build)
}

func (s *Spool) append(kind wire.Channel, droppable bool, build func(seq uint64) ([]byte, error)) (uint64, error) {
	var seq uint64
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		seq, err = s.appendTx(tx, kind, droppable, build)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("spool %s message: %w", kind, err)
	}
	return seq, nil
}

func (s *Spool) appendTx(tx *bolt.Tx, kind wire.Channel, droppable bool, build func(seq uint64) ([]byte, error)) (uint64, error) {
	msgs := tx.Bucket(bucketMsgs)
	seq, err := msgs.NextSequence()
	if err != nil {
		return 0, err
	}
	payload, err := build(seq)
	if err != nil {
		return 0, err
	}
	key := be64(seq)
	if err := msgs.Put(key, encodeRecord(kind, s.opts.Now(), payload)); err != nil {
		return 0, err
	}
	if droppable {
		if err := tx.Bucket(bucketSamples).Put(key, nil); err != nil {
			return 0, err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if err := addCounter(meta, keyCount, 1); err != nil {
		return 0, err
	}
	if err := addCounter(meta, keyBytes, int64(len(payload))); err != nil {
		return 0, err
	}
	return seq, s.enforceBound(tx)
}

// enforceBound drops the oldest samples while the spool holds more than
// MaxBytes. Inventories and events are never dropped, so the spool may
// stay over its bound when they alone exceed it.
func (s *Spool) enforceBound(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	held := getCounter(meta, keyBytes)
	if held <= s.opts.MaxBytes {
		return nil
	}
	msgs, samples := tx.Bucket(bucketMsgs), tx.Bucket(bucketSamples)
	var dropped, freed int64
	c := samples.Cursor()
	for k, _ := c.First(); k != nil && held-freed > s.opts.MaxBytes; k, _ = c.First() {
		if v := msgs.Get(k); v != nil {
			_, _, payload, err := decodeRecord(v)
			if err != nil {
				return err
			}
			freed += int64(len(payload))
			dropped++
			if err := msgs.Delete(k); err != nil {
				return err
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	if dropped == 0 {
		return nil
	}
	for _, kv := range []struct {
		key []byte
		d   int64
	}{{keyBytes, -freed}, {keyCount, -dropped}, {keyDropped, dropped}, {keyUnreported, dropped}} {
		if err := addCounter(meta, kv.key, kv.d); err != nil {
			return err
		}
	}
	return nil
}

// AppendDropReport appends, in one transaction, an event built by build
// from the number of samples dropped since the last report, and resets
// that number. It does nothing and returns 0, 0 when no sample was
// dropped since the last report.
func (s *Spool) AppendDropReport(build func(seq, dropped uint64) ([]byte, error)) (seq, dropped uint64, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		dropped = uint64(getCounter(meta, keyUnreported))
		if dropped == 0 {
			return nil
		}
		var err error
		seq, err = s.appendTx(tx, wire.ChanEvent, false, func(seq uint64) ([]byte, error) { return build(seq, dropped) })
		if err != nil {
			return err
		}
		// Appending the report may itself drop samples; keep those unreported.
		return addCounter(meta, keyUnreported, -int64(dropped))
	})
	if err != nil {
		return 0, 0, fmt.Errorf("spool drop report: %w", err)
	}
	return seq, dropped, nil
}

// Next returns up to n messages with a sequence number greater than after,
// in sequence order. Next(0, n) returns the oldest messages not yet acked.
func (s *Spool) Next(after uint64, n int) ([]Message, error) {
	var out []Message
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMsgs).Cursor()
		for k, v := c.Seek(be64(after + 1)); k != nil && len(out) < n; k, v = c.Next() {
			kind, at, payload, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("seq %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, Message{
				Seq:     binary.BigEndian.Uint64(k),
				Kind:    kind,
				At:      at,
				Payload: bytes.Clone(payload),
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read spool %s: %w", s.path, err)
	}
	return out, nil
}

// Ack removes the messages with the given sequence numbers, in one
// transaction. Call it only once the broker has acknowledged them. Unknown
// or already removed sequence numbers are ignored.
func (s *Spool) Ack(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	err := s.update(func(tx *bolt.Tx) error {
		msgs, samples, meta := tx.Bucket(bucketMsgs), tx.Bucket(bucketSamples), tx.Bucket(bucketMeta)
		var count, freed int64
		for _, seq := range seqs {
			key := be64(seq)
			v := msgs.Get(key)
			if v == nil {
				continue
			}
			_, _, payload, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("seq %d: %w", seq, err)
			}
			count++
			freed += int64(len(payload))
			if err := msgs.Delete(key); err != nil {
				return err
			}
			if err := samples.Delete(key); err != nil {
				return err
			}
		}
		if count == 0 {
			return nil
		}
		if err := addCounter(meta, keyCount, -count); err != nil {
			return err
		}
		return addCounter(meta, keyBytes, -freed)
	})
	if err != nil {
		return fmt.Errorf("ack spool %s: %w", s.path, err)
	}
	return nil
}

// Stats returns what the spool holds now.
func (s *Spool) Stats() (Stats, error) {
	var st Stats
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		st.Count = uint64(getCounter(meta, keyCount))
		st.Bytes = getCounter(meta, keyBytes)
		st.Dropped = uint64(getCounter(meta, keyDropped))
		st.LastSeq = tx.Bucket(bucketMsgs).Sequence()
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("spool stats %s: %w", s.path, err)
	}
	return st, nil
}

// UseNonce records a command nonce valid until expires. It fails with
// ErrNonceReused if the nonce was already recorded and has not expired.
// Expired nonces are forgotten on the way.
func (s *Spool) UseNonce(nonce string, expires time.Time) error {
	if nonce == "" {
		return fmt.Errorf("use nonce: empty nonce")
	}
	now := s.opts.Now()
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNonces)
		if v := b.Get([]byte(nonce)); len(v) == 8 && now.UnixNano() < int64(binary.BigEndian.Uint64(v)) {
			return ErrNonceReused
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) <= now.UnixNano() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return b.Put([]byte(nonce), be64(uint64(expires.UnixNano())))
	})
	if err != nil {
		return fmt.Errorf("use nonce: %w", err)
	}
	return nil
}

// Job is a job in progress, as journaled by BeginJob.
type Job struct {
	ID     string
	Record []byte // the caller's record, a copy
}

// BeginJob journals job id with the caller's record (typically its args
// and start time) before the job starts. It fails with ErrJobRunning if a
// job is already journaled: one job at a time.
func (s *Spool) BeginJob(id string, record []byte) error {
	if id == "" {
		return fmt.Errorf("begin job: empty job id")
	}
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		if k, _ := b.Cursor().First(); k != nil {
			return fmt.Errorf("%w: job %s", ErrJobRunning, k)
		}
		return b.Put([]byte(id), record)
	})
	if err != nil {
		return fmt.Errorf("begin job %s: %w", id, err)
	}
	return nil
}

// Jobs returns the jobs journaled and not ended. At an agent's start they
// are jobs it was running when it stopped.
func (s *Spool) Jobs() ([]Job, error) {
	var out []Job
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			out = append(out, Job{ID: string(k), Record: bytes.Clone(v)})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read jobs of %s: %w", s.path, err)
	}
	return out, nil
}

// AppendEndJob appends a message, as Append does (never droppable), and
// removes job id from the journal, in one transaction: a job's result is
// spooled exactly when the job stops being in progress. An id not in the
// journal is no error.
func (s *Spool) AppendEndJob(id string, kind wire.Channel, build func(seq uint64) ([]byte, error)) (uint64, error) {
	var seq uint64
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		if seq, err = s.appendTx(tx, kind, false, build); err != nil {
			return err
		}
		return tx.Bucket(bucketJobs).Delete([]byte(id))
	})
	if err != nil {
		return 0, fmt.Errorf("end job %s: %w", id, err)
	}
	return seq, nil
}

// Record layout: be64(unix nano) | kind length (1 byte) | kind | payload.
func encodeRecord(kind wire.Channel, at time.Time, payload []byte) []byte {
	b := make([]byte, 0, 9+len(kind)+len(payload))
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	b = append(b, byte(len(kind)))
	b = append(b, kind...)
	return append(b, payload...)
}

func decodeRecord(v []byte) (wire.Channel, time.Time, []byte, error) {
	if len(v) < 9 || len(v) < 9+int(v[8]) {
		return "", time.Time{}, nil, ErrCorrupt
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
	n := int(v[8])
	return wire.Channel(v[9 : 9+n]), at, v[9+n:], nil
}

func be64(v uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v)
}

func getCounter(b *bolt.Bucket, key []byte) int64 {
	if v := b.Get(key); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

func addCounter(b *bolt.Bucket, key []byte, d int64) error {
	return b.Put(key, be64(uint64(getCounter(b, key)+d)))
}
