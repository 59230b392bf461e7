package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/server/fleet"
)

func TestChanges(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "valise.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	err = s.Update(func(tx fleet.Tx) error {
		for i, dev := range []string{"da", "db", "da", "dab"} {
			if err := tx.PutAudit(fleet.AuditEvent{Seq: uint64(i + 1), At: at, Actor: "t", Action: "state", Device: dev, Hash: fmt.Sprint("h", i+1)}); err != nil {
				return err
			}
		}
		for _, j := range []fleet.WipeJob{{ID: "w1", Device: "da", State: fleet.JobRunning}, {ID: "w2", Device: "db", State: fleet.JobSucceeded}} {
			if err := tx.PutWipeJob(j); err != nil {
				return err
			}
		}
		for i, id := range []string{"c1", "c2"} {
			if err := tx.PutCertificate(fleet.CertRecord{ID: id, Device: "da", Finished: at.Add(time.Duration(i) * time.Hour)}, []byte("file "+id)); err != nil {
				return err
			}
		}
		return tx.PutCertificate(fleet.CertRecord{ID: "c3", Device: "dab"}, []byte("file c3"))
	})
	if err != nil {
		t.Fatal(err)
	}
	seq, head, err := s.AuditHead()
	if err != nil || seq != 4 || head != "h4" {
		t.Errorf("head: %d %q %v", seq, head, err)
	}
	// The head moves only one step at a time.
	err = s.Update(func(tx fleet.Tx) error { return tx.PutAudit(fleet.AuditEvent{Seq: 9, Hash: "h9"}) })
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("a gap in the log: %v", err)
	}
	raws, err := s.DeviceAudit("da")
	if err != nil || len(raws) != 2 {
		t.Fatalf("history of da: %d events, %v (dab's must not leak in)", len(raws), err)
	}
	var seqs []uint64
	if err := s.WalkAudit(func(seq uint64, _ []byte) error { seqs = append(seqs, seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{1, 2, 3, 4}, seqs); diff != "" {
		t.Errorf("walk (-want +got):\n%s", diff)
	}
	active, err := s.WipeJobs(true)
	if err != nil || len(active) != 1 || active[0].ID != "w1" {
		t.Errorf("active jobs: %+v %v", active, err)
	}
	// Finishing a job takes it out of the active index.
	if err := s.Update(func(tx fleet.Tx) error {
		return tx.PutWipeJob(fleet.WipeJob{ID: "w1", Device: "da", State: fleet.JobFailed})
	}); err != nil {
		t.Fatal(err)
	}
	if active, _ := s.WipeJobs(true); len(active) != 0 {
		t.Errorf("active after finishing: %+v", active)
	}
	if all, _ := s.WipeJobs(false); len(all) != 2 {
		t.Errorf("all jobs: %+v", all)
	}
	recs, err := s.Certificates("da")
	if err != nil || len(recs) != 2 || recs[0].ID != "c1" || recs[1].ID != "c2" {
		t.Errorf("certificates of da: %+v %v", recs, err)
	}
	rec, file, err := s.Certificate("c2")
	if err != nil || rec.Device != "da" || string(file) != "file c2" {
		t.Errorf("certificate c2: %+v %q %v", rec, file, err)
	}
	if _, _, err := s.Certificate("nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("missing certificate: %v", err)
	}
	err = s.Update(func(tx fleet.Tx) error {
		return tx.PutCertificate(fleet.CertRecord{ID: "c1", Device: "da"}, []byte("other"))
	})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("a certificate stored twice: %v", err)
	}
}
