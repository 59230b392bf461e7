package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

func openDevices(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "valise.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func putToken(t *testing.T, s *Store, hash string, uses int) {
	t.Helper()
	if err := s.PutEnrollToken(fleet.EnrollToken{ID: "t1", Hash: hash, Class: wire.ClassLaptop, Uses: uses}); err != nil {
		t.Fatal(err)
	}
}

// enrollPut writes devices through Enroll, as the fleet does.
func enrollPut(t *testing.T, s *Store, ds ...fleet.Device) {
	t.Helper()
	err := s.Enroll("h", func(tok *fleet.EnrollToken, tx fleet.EnrollTx) error {
		for _, d := range ds {
			if err := tx.PutDevice(d); err != nil {
				return err
			}
		}
		tok.Used++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPutDeviceIndexes(t *testing.T) {
	s := openDevices(t)
	putToken(t, s, "h", 100)
	a := fleet.Device{ID: "daaaaaaaaaaaa", AssetTag: "VAL-0001", Fingerprint: wire.Fingerprint{SystemSerial: "SERIALA1", DiskSerials: []string{"DISK1"}}}
	b := fleet.Device{ID: "dbbbbbbbbbbbb", AssetTag: "VAL-0002", Fingerprint: wire.Fingerprint{SystemSerial: "SERIALB1", DiskSerials: []string{"DISK2"}}}
	enrollPut(t, s, a, b)

	// a's disk is replaced; b takes over a's old disk.
	a.Fingerprint.DiskSerials = []string{"DISK3"}
	b.Fingerprint.DiskSerials = []string{"DISK1", "DISK2"}
	enrollPut(t, s, a, b)

	want := map[string]string{
		"serial:SERIALA1": a.ID, "disk:DISK3": a.ID,
		"serial:SERIALB1": b.ID, "disk:DISK1": b.ID, "disk:DISK2": b.ID,
	}
	got := map[string]string{}
	for _, k := range []string{"serial:SERIALA1", "serial:SERIALB1", "disk:DISK1", "disk:DISK2", "disk:DISK3"} {
		id, err := s.DeviceByIdent(k)
		if err != nil {
			t.Fatalf("DeviceByIdent(%s): %v", k, err)
		}
		got[k] = id
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identifier index (-want +got):\n%s", diff)
	}
	if id, err := s.DeviceIDByTag("VAL-0002"); err != nil || id != b.ID {
		t.Errorf("DeviceIDByTag = %q, %v", id, err)
	}

	// A device cannot take another's asset tag.
	c := fleet.Device{ID: "dcccccccccccc", AssetTag: "VAL-0001"}
	err := s.Enroll("h", func(_ *fleet.EnrollToken, tx fleet.EnrollTx) error { return tx.PutDevice(c) })
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("PutDevice with a taken asset tag = %v, want ErrInvalid", err)
	}
}

func TestEnrollRollsBack(t *testing.T) {
	s := openDevices(t)
	putToken(t, s, "h", 1)
	boom := errors.New("boom")
	err := s.Enroll("h", func(tok *fleet.EnrollToken, tx fleet.EnrollTx) error {
		if err := tx.PutDevice(fleet.Device{ID: "daaaaaaaaaaaa", AssetTag: "VAL-0001", Fingerprint: wire.Fingerprint{SystemSerial: "SERIALA1"}}); err != nil {
			return err
		}
		if err := tx.PutCredential(fleet.Credential{Username: "daaaaaaaaaaaa", DeviceID: "daaaaaaaaaaaa", Hash: "x"}); err != nil {
			return err
		}
		tok.Used++
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Enroll = %v", err)
	}
	if _, err := s.Device("daaaaaaaaaaaa"); !errors.Is(err, ErrNotFound) || !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("device after rollback: %v", err)
	}
	if _, err := s.DeviceByIdent("serial:SERIALA1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("identifier after rollback: %v", err)
	}
	if _, err := s.Credential("daaaaaaaaaaaa"); !errors.Is(err, ErrNotFound) {
		t.Errorf("credential after rollback: %v", err)
	}
	toks, err := s.EnrollTokens()
	if err != nil || len(toks) != 1 || toks[0].Used != 0 {
		t.Errorf("token after rollback: %+v, %v", toks, err)
	}
	if err := s.Enroll("nosuch", func(*fleet.EnrollToken, fleet.EnrollTx) error { return nil }); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Enroll(unknown token) = %v", err)
	}
}

func TestTokensRoundTrip(t *testing.T) {
	s := openDevices(t)
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	api := fleet.APIToken{ID: "a1", Hash: "abc", Name: "admin", Role: fleet.RoleAdmin, CreatedAt: at}
	if err := s.PutAPIToken(api); err != nil {
		t.Fatal(err)
	}
	got, err := s.APIToken("abc")
	if diff := cmp.Diff(api, got); diff != "" || err != nil {
		t.Errorf("APIToken %v (-want +got):\n%s", err, diff)
	}
	if _, err := s.APIToken("nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("APIToken(nope) = %v", err)
	}
	all, err := s.APITokens()
	if err != nil || len(all) != 1 {
		t.Errorf("APITokens = %v, %v", all, err)
	}
	if err := s.PutAPIToken(fleet.APIToken{ID: "a2"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("PutAPIToken without hash = %v", err)
	}
	if err := s.Ping(); err != nil {
		t.Errorf("Ping = %v", err)
	}
}

func TestEnrollOneUseTokenRace(t *testing.T) {
	s := openDevices(t)
	putToken(t, s, "h", 1)
	const n = 20
	var wg sync.WaitGroup
	wins := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("d%012d", i)
			err := s.Enroll("h", func(tok *fleet.EnrollToken, tx fleet.EnrollTx) error {
				if tok.Used >= tok.Uses {
					return fleet.ErrTokenGone
				}
				tok.Used++
				return tx.PutDevice(fleet.Device{ID: id, AssetTag: "VAL-" + id})
			})
			if err == nil {
				wins <- id
			} else if !errors.Is(err, fleet.ErrTokenGone) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(wins)
	var won []string
	for id := range wins {
		won = append(won, id)
	}
	devs, err := s.Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(won) != 1 || len(devs) != 1 || devs[0].ID != won[0] {
		t.Errorf("winners %v, devices %d: want exactly one of each", won, len(devs))
	}
}
