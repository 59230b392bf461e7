package spool

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/valise-numerique/valise/internal/wire"
)

func TestDroppableEventsGoFirstResultsStay(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "spool.db"), Options{MaxBytes: 100})
	// Two progress events, a result, then enough progress to pass the bound.
	var progress []uint64
	for range 2 {
		seq, err := s.AppendDroppable(wire.ChanEvent, payloadOf(30))
		if err != nil {
			t.Fatal(err)
		}
		progress = append(progress, seq)
	}
	result := mustAppend(t, s, wire.ChanEvent, 30)
	last, err := s.AppendDroppable(wire.ChanEvent, payloadOf(30))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{progress[1], result, last}, seqsOf(t, s)); diff != "" {
		t.Errorf("held after the bound (-want +got):\n%s", diff)
	}
	// Past the bound with results alone: nothing more is dropped but samples.
	for range 3 {
		mustAppend(t, s, wire.ChanEvent, 30)
	}
	got := seqsOf(t, s)
	if got[0] != result {
		t.Errorf("held %v: the result %d must stay, the progress events go", got, result)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Dropped != 3 {
		t.Errorf("dropped %d, want the 3 progress events", st.Dropped)
	}
}

func TestJobJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openTest(t, path, Options{})
	if err := s.BeginJob("job-1", []byte(`{"disks":["sda"]}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginJob("job-2", nil); !errors.Is(err, ErrJobRunning) {
		t.Errorf("second BeginJob = %v, want ErrJobRunning", err)
	}
	// The journal survives a restart (here: close and open again).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, Options{})
	jobs, err := s.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Job{{ID: "job-1", Record: []byte(`{"disks":["sda"]}`)}}, jobs); diff != "" {
		t.Errorf("jobs after reopen (-want +got):\n%s", diff)
	}
	seq, err := s.AppendEndJob("job-1", wire.ChanEvent, payloadOf(10))
	if err != nil {
		t.Fatal(err)
	}
	if jobs, _ := s.Jobs(); len(jobs) != 0 {
		t.Errorf("jobs after AppendEndJob = %v, want none", jobs)
	}
	if diff := cmp.Diff([]uint64{seq}, seqsOf(t, s)); diff != "" {
		t.Errorf("spooled (-want +got):\n%s", diff)
	}
	// A failed build ends nothing.
	if err := s.BeginJob("job-3", nil); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if _, err := s.AppendEndJob("job-3", wire.ChanEvent, func(uint64) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("AppendEndJob = %v, want boom", err)
	}
	if jobs, _ := s.Jobs(); len(jobs) != 1 || jobs[0].ID != "job-3" {
		t.Errorf("jobs after a failed AppendEndJob = %v, want job-3 still journaled", jobs)
	}
}
