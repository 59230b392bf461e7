package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/server/fleet"
)

// pageSeqs returns the sequence numbers of an audit page.
func pageSeqs(t *testing.T, raws [][]byte) []uint64 {
	t.Helper()
	out := []uint64{}
	for _, raw := range raws {
		var e fleet.AuditEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Seq)
	}
	return out
}

func TestAuditPage(t *testing.T) {
	s := openDevices(t)
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	// seq: 1 2 3 4 5 6 7 8
	events := []struct{ device, subject string }{
		{"da", ""}, {"", "kit:k1"}, {"da", "kit:k1"}, {"db", ""},
		{"", "kit:k12"}, {"", "venue:v1"}, {"da", "loan:l1"}, {"", "kit:k1"},
	}
	mustUpdate(t, s, func(tx fleet.Tx) error {
		for i, e := range events {
			err := tx.PutAudit(fleet.AuditEvent{
				Seq: uint64(i + 1), At: at, Actor: "t", Action: "state", Device: e.device, Subject: e.subject,
				Hash: fmt.Sprint("h", i+1),
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		name    string
		subject string
		before  uint64
		limit   int
		want    []uint64
	}{
		{"everything", "", 0, 0, []uint64{8, 7, 6, 5, 4, 3, 2, 1}},
		{"newest three", "", 0, 3, []uint64{8, 7, 6}},
		{"three before 6", "", 6, 3, []uint64{5, 4, 3}},
		{"before 2", "", 2, 10, []uint64{1}},
		{"before 1", "", 1, 10, []uint64{}},
		{"before past the end", "", 100, 2, []uint64{8, 7}},
		{"kit k1", "kit:k1", 0, 0, []uint64{8, 3, 2}},
		{"kit k1, one", "kit:k1", 0, 1, []uint64{8}},
		{"kit k1 before 8", "kit:k1", 8, 0, []uint64{3, 2}},
		{"kit k1 before 3", "kit:k1", 3, 5, []uint64{2}},
		{"kit k12 only its own", "kit:k12", 0, 0, []uint64{5}},
		{"device da", "da", 0, 0, []uint64{7, 3, 1}},
		{"device da before 7, one", "da", 7, 1, []uint64{3}},
		{"loan l1", "loan:l1", 0, 0, []uint64{7}},
		{"unknown subject", "kit:k9", 0, 0, []uint64{}},
		{"subject that is a prefix", "kit:k", 0, 0, []uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raws, err := s.AuditPage(tt.subject, tt.before, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, pageSeqs(t, raws)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// The device history is still the device's alone.
	raws, err := s.DeviceAudit("da")
	if err != nil || len(raws) != 3 {
		t.Errorf("DeviceAudit(da) = %d events, %v", len(raws), err)
	}
	if _, err := s.AuditPage("", 0, -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative limit: %v", err)
	}
}

func TestAuditPageOfEmptyLog(t *testing.T) {
	s := openDevices(t)
	for _, subject := range []string{"", "da"} {
		raws, err := s.AuditPage(subject, 0, 10)
		if err != nil || len(raws) != 0 {
			t.Errorf("AuditPage(%q) of an empty log = %d events, %v", subject, len(raws), err)
		}
	}
}
