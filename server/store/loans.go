package store

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/server/fleet"
)

// Loans are kept by id, with these indexes, all written by putLoan in the
// transaction that writes the loan:
//
//	loan_time   out 0x00 id                  every loan
//	loan_open   out 0x00 id                  open loans
//	loan_due    be64(DueAt) 0x00 id -> out   open loans
//	loan_kit    kit 0x00 out 0x00 id
//	loan_user   borrower 0x00 out 0x00 id
//	loan_venue  venue 0x00 out 0x00 id
//
// where out is be64(^OutAt in Unix ns), so that the newest loans come
// first in key order.

// outKey orders loans newest OutAt first.
func outKey(at time.Time) []byte { return be64(^uint64(unixNano(at))) }

// loanKeys are the index entries of one loan.
type loanKeys struct {
	time, open, due, dueVal []byte
	kit, user, venue        []byte
}

func keysOf(l fleet.Loan) loanKeys {
	out := outKey(l.OutAt)
	timeKey := deviceKey(string(out), []byte(l.ID))
	k := loanKeys{time: timeKey, kit: deviceKey(l.Kit, timeKey)}
	if l.Borrower != "" {
		k.user = deviceKey(l.Borrower, timeKey)
	}
	if l.Venue != "" {
		k.venue = deviceKey(l.Venue, timeKey)
	}
	if l.Open() {
		k.open = timeKey
		k.due = deviceKey(string(be64(uint64(unixNano(l.DueAt)))), []byte(l.ID))
		k.dueVal = out
	}
	return k
}

// entries pairs each index bucket with the loan's key in it (nil: none).
func (k loanKeys) entries() []struct {
	bucket, key, val []byte
} {
	return []struct{ bucket, key, val []byte }{
		{bucketLoanTime, k.time, nil}, {bucketLoanOpen, k.open, nil}, {bucketLoanDue, k.due, k.dueVal},
		{bucketLoanKit, k.kit, nil}, {bucketLoanUser, k.user, nil}, {bucketLoanVenue, k.venue, nil},
	}
}

func getLoan(tx *bolt.Tx, id string) (fleet.Loan, error) {
	var l fleet.Loan
	return l, getJSON(tx.Bucket(bucketLoans), []byte(id), "loan "+id, &l)
}

// putLoan writes l and moves its index entries from where the loan it
// replaces had them: a loan closed (ReturnedAt set) leaves the open and
// due indexes.
func putLoan(tx *bolt.Tx, l fleet.Loan) error {
	if err := checkID("loan", l.ID); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"kit", l.Kit}, {"borrower", l.Borrower}, {"venue", l.Venue}} {
		if f.name == "kit" && f.v == "" {
			return fmt.Errorf("put loan %s: %w: kit is required", l.ID, ErrInvalid)
		}
		if strings.IndexByte(f.v, 0) >= 0 {
			return fmt.Errorf("put loan %s: %w: %s holds a NUL byte", l.ID, ErrInvalid, f.name)
		}
	}
	if l.OutAt.IsZero() {
		return fmt.Errorf("put loan %s: %w: out_at is required", l.ID, ErrInvalid)
	}
	neu := keysOf(l).entries()
	old, err := getLoan(tx, l.ID)
	switch {
	case err == nil:
		for i, e := range keysOf(old).entries() {
			if e.key == nil || bytes.Equal(e.key, neu[i].key) {
				continue
			}
			if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
				return err
			}
		}
	case !isNotFound(err):
		return err
	}
	for _, e := range neu {
		if e.key == nil {
			continue
		}
		if err := tx.Bucket(e.bucket).Put(e.key, e.val); err != nil {
			return fmt.Errorf("index loan %s: %w", l.ID, err)
		}
	}
	return putJSON(tx.Bucket(bucketLoans), []byte(l.ID), l)
}

func (c changeTx) Loan(id string) (fleet.Loan, error) { return getLoan(c.tx, id) }

func (c changeTx) PutLoan(l fleet.Loan) error { return putLoan(c.tx, l) }

// Loan returns the loan with this id.
func (s *Store) Loan(id string) (fleet.Loan, error) {
	var l fleet.Loan
	err := s.db.View(func(tx *bolt.Tx) (err error) { l, err = getLoan(tx, id); return err })
	return l, err
}

// matchLoan reports whether l passes every field of q.
func matchLoan(l fleet.Loan, q fleet.LoanQuery) bool {
	if (q.Open || !q.DueBefore.IsZero()) && !l.Open() {
		return false
	}
	if !q.DueBefore.IsZero() && !l.DueAt.Before(q.DueBefore) {
		return false
	}
	return (q.Kit == "" || l.Kit == q.Kit) && (q.User == "" || l.Borrower == q.User) &&
		(q.Venue == "" || l.Venue == q.Venue)
}

// Loans returns the loans q selects, newest OutAt first (ties by id), at
// most q.Limit (0: all). It walks one index and filters by the other
// fields: with DueBefore, the open loans due before it; else the loans of
// q.Kit, q.User or q.Venue, the first one set (a kit, a médiateur or a
// venue has far fewer loans than there are open loans in the fleet);
// else the open loans when q.Open; else every loan.
func (s *Store) Loans(q fleet.LoanQuery) ([]fleet.Loan, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("list loans: %w: limit %d is negative", ErrInvalid, q.Limit)
	}
	var out []fleet.Loan
	err := s.db.View(func(tx *bolt.Tx) error {
		loans := tx.Bucket(bucketLoans)
		// take decodes the loan id and keeps it if q matches; it reports
		// whether the page is full.
		skipping := q.After != ""
		take := func(id []byte) (bool, error) {
			if skipping { // up to and including the loan the page starts after
				skipping = string(id) != q.After
				return false, nil
			}
			var l fleet.Loan
			if err := getJSON(loans, id, "loan "+string(id), &l); err != nil {
				if isNotFound(err) {
					return false, fmt.Errorf("loan index: %w: no loan %s", ErrCorrupt, id)
				}
				return false, err
			}
			if matchLoan(l, q) {
				out = append(out, l)
			}
			return q.Limit > 0 && len(out) == q.Limit, nil
		}
		if !q.DueBefore.IsZero() {
			return dueBefore(tx, q.DueBefore, take)
		}
		var bucket, prefix []byte
		switch {
		case q.Kit != "":
			bucket, prefix = bucketLoanKit, deviceKey(q.Kit, nil)
		case q.User != "":
			bucket, prefix = bucketLoanUser, deviceKey(q.User, nil)
		case q.Venue != "":
			bucket, prefix = bucketLoanVenue, deviceKey(q.Venue, nil)
		case q.Open:
			bucket = bucketLoanOpen
		default:
			bucket = bucketLoanTime
		}
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			full, err := take(idOfListKey(k))
			if err != nil || full {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list loans: %w", err)
	}
	return out, nil
}

// dueBefore hands take the ids of the open loans due before t, newest
// OutAt first, until it reports the page full. It sorts the index entries
// (which hold each loan's OutAt) before decoding any loan.
func dueBefore(tx *bolt.Tx, t time.Time, take func(id []byte) (bool, error)) error {
	type entry struct{ out, id []byte }
	var es []entry
	end := be64(uint64(unixNano(t)))
	c := tx.Bucket(bucketLoanDue).Cursor()
	for k, v := c.First(); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
		if len(k) < 10 || len(v) != 8 {
			return fmt.Errorf("loan due index entry %q: %w", k, ErrCorrupt)
		}
		es = append(es, entry{bytes.Clone(v), bytes.Clone(k[9:])})
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := bytes.Compare(a.out, b.out); c != 0 {
			return c
		}
		return bytes.Compare(a.id, b.id)
	})
	for _, e := range es {
		full, err := take(e.id)
		if err != nil || full {
			return err
		}
	}
	return nil
}
