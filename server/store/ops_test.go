package store

import (
	"errors"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

func mustUpdate(t *testing.T, s *Store, fn func(tx fleet.Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// bucketKeys returns the keys of a bucket, in order.
func bucketKeys(t *testing.T, s *Store, name []byte) []string {
	t.Helper()
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(name).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUsersByName(t *testing.T) {
	s := openDevices(t)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	users := []fleet.User{
		{ID: "u1", Name: "Awa Diallo", Role: fleet.RoleMediateur, CreatedAt: t0},
		{ID: "u2", Name: "awa  diallo", Role: fleet.RoleLogistics, CreatedAt: t0},
		{ID: "u3", Name: "Léa Moreau", Role: fleet.RoleAdmin, CreatedAt: t0},
	}
	mustUpdate(t, s, func(tx fleet.Tx) error {
		for _, u := range users {
			if err := tx.PutUser(u); err != nil {
				return err
			}
		}
		return nil
	})
	ids := func(name string) []string {
		var out []string
		mustUpdate(t, s, func(tx fleet.Tx) (err error) { out, err = tx.UserIDsByName(fleet.NameKey(name)); return err })
		return out
	}
	if got := ids("AWA DIALLO"); !slices.Equal(got, []string{"u1", "u2"}) {
		t.Errorf("users named Awa Diallo: %v", got)
	}
	if got := ids("lea moreau"); !slices.Equal(got, []string{"u3"}) {
		t.Errorf("users named Léa Moreau: %v", got)
	}

	// A renamed user leaves the old name.
	u2 := users[1]
	u2.Name = "Awa Diallo-Sow"
	mustUpdate(t, s, func(tx fleet.Tx) error { return tx.PutUser(u2) })
	if got := ids("Awa Diallo"); !slices.Equal(got, []string{"u1"}) {
		t.Errorf("after the rename, users named Awa Diallo: %v", got)
	}
	if got := ids("awa diallo sow"); !slices.Equal(got, []string{"u2"}) {
		t.Errorf("after the rename, users named Awa Diallo-Sow: %v", got)
	}
	if got := bucketKeys(t, s, bucketUserName); len(got) != 3 {
		t.Errorf("user name index holds %d entries, want 3: %q", len(got), got)
	}

	got, err := s.User("u2")
	if err != nil || got.Name != "Awa Diallo-Sow" || got.Role != fleet.RoleLogistics {
		t.Errorf("User(u2) = %+v, %v", got, err)
	}
	all, err := s.Users()
	if err != nil || len(all) != 3 {
		t.Errorf("Users() = %d users, %v", len(all), err)
	}
	if _, err := s.User("u9"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("User(u9) = %v, want not found", err)
	}
	for _, u := range []fleet.User{{ID: "", Name: "X"}, {ID: "u4", Name: " - "}, {ID: "u\x004", Name: "X"}} {
		if err := s.Update(func(tx fleet.Tx) error { return tx.PutUser(u) }); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutUser(%q, %q) = %v, want ErrInvalid", u.ID, u.Name, err)
		}
	}
}

func TestUniqueNames(t *testing.T) {
	s := openDevices(t)
	mustUpdate(t, s, func(tx fleet.Tx) error {
		if err := tx.PutVenue(fleet.Venue{ID: "v1", Name: "France Services Baugé", Kind: fleet.VenueFranceServices}); err != nil {
			return err
		}
		return tx.PutKit(fleet.Kit{ID: "k1", Label: "Kit 07"})
	})

	// Another record may not take a name key that is held.
	err := s.Update(func(tx fleet.Tx) error {
		return tx.PutVenue(fleet.Venue{ID: "v2", Name: "france  services bauge"})
	})
	if !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("second venue with the same name: %v, want ErrConflict", err)
	}
	err = s.Update(func(tx fleet.Tx) error { return tx.PutKit(fleet.Kit{ID: "k2", Label: "KIT-07"}) })
	if !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("second kit with the same label: %v, want ErrConflict", err)
	}
	if _, err := s.Venue("v2"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("refused venue was written: %v", err)
	}
	if _, err := s.Kit("k2"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("refused kit was written: %v", err)
	}

	// Rewriting a record under its own name is fine; renaming releases
	// the old name, which another record may then take.
	mustUpdate(t, s, func(tx fleet.Tx) error {
		if err := tx.PutVenue(fleet.Venue{ID: "v1", Name: "France Services Baugé", Contact: "02 41 00 00 00"}); err != nil {
			return err
		}
		if err := tx.PutVenue(fleet.Venue{ID: "v1", Name: "Médiathèque de Baugé"}); err != nil {
			return err
		}
		if err := tx.PutVenue(fleet.Venue{ID: "v2", Name: "France Services Baugé"}); err != nil {
			return err
		}
		if err := tx.PutKit(fleet.Kit{ID: "k1", Label: "Kit 08"}); err != nil {
			return err
		}
		return tx.PutKit(fleet.Kit{ID: "k2", Label: "Kit 07"})
	})
	for _, c := range []struct{ name, want string }{
		{"France Services Baugé", "v2"}, {"mediatheque de bauge", "v1"},
	} {
		var id string
		mustUpdate(t, s, func(tx fleet.Tx) (err error) { id, err = tx.VenueIDByName(fleet.NameKey(c.name)); return err })
		if id != c.want {
			t.Errorf("venue named %s: %s, want %s", c.name, id, c.want)
		}
	}
	for _, c := range []struct{ label, want string }{{"kit 07", "k2"}, {"Kit 08", "k1"}} {
		id, err := s.KitIDByLabel(fleet.NameKey(c.label))
		if err != nil || id != c.want {
			t.Errorf("KitIDByLabel(%s) = %s, %v; want %s", c.label, id, err, c.want)
		}
	}
	if got := bucketKeys(t, s, bucketVenueName); !slices.Equal(got, []string{"france services bauge", "mediatheque de bauge"}) {
		t.Errorf("venue name index: %q", got)
	}
	if _, err := s.KitIDByLabel("kit 09"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("KitIDByLabel(kit 09) = %v, want not found", err)
	}
	mustUpdate(t, s, func(tx fleet.Tx) error {
		if _, err := tx.VenueIDByName("nowhere"); !errors.Is(err, fleet.ErrNotFound) {
			t.Errorf("VenueIDByName(nowhere) = %v, want not found", err)
		}
		return nil
	})
	vs, err := s.Venues()
	if err != nil || len(vs) != 2 {
		t.Errorf("Venues() = %d, %v", len(vs), err)
	}
}

func TestKitsPageByLabel(t *testing.T) {
	s := openDevices(t)
	labels := []string{"Kit 10", "Kit 02", "kit 01", "Équipe B", "Kit 03"}
	mustUpdate(t, s, func(tx fleet.Tx) error {
		for i, l := range labels {
			if err := tx.PutKit(fleet.Kit{ID: "k" + string(rune('a'+i)), Label: l}); err != nil {
				return err
			}
		}
		return nil
	})
	want := []string{"equipe b", "kit 01", "kit 02", "kit 03", "kit 10"}
	for _, n := range []int{0, 1, 2, 5, 6} {
		var got []string
		after := ""
		for range 10 {
			page, err := s.Kits(after, n)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range page {
				got = append(got, fleet.NameKey(k.Label))
			}
			if n == 0 || len(page) < n {
				break
			}
			after = fleet.NameKey(page[len(page)-1].Label)
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages of %d: %q, want %q", n, got, want)
		}
	}
	page, err := s.Kits("kit 015", 2) // after a label no kit has
	if err != nil || len(page) != 2 || page[0].Label != "Kit 02" {
		t.Errorf("Kits(kit 015, 2) = %+v, %v", page, err)
	}
	if _, err := s.Kits("", -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("Kits with a negative limit: %v", err)
	}
}

func TestTxTokensAndDeviceLookups(t *testing.T) {
	s := openDevices(t)
	d := fleet.Device{ID: "daaa", AssetTag: "VAL-0001", Fingerprint: wire.Fingerprint{SystemSerial: "PF1ABCDE"}}
	tok := fleet.APIToken{ID: "a1", Hash: "h1", User: "u1", Name: "Awa", Role: fleet.RoleMediateur}
	mustUpdate(t, s, func(tx fleet.Tx) error {
		if err := tx.PutDevice(d); err != nil {
			return err
		}
		return tx.PutAPIToken(tok)
	})
	if got, err := s.APIToken("h1"); err != nil || got != tok {
		t.Errorf("APIToken(h1) = %+v, %v", got, err)
	}
	if err := s.Update(func(tx fleet.Tx) error { return tx.PutAPIToken(fleet.APIToken{ID: "a2"}) }); !errors.Is(err, ErrInvalid) {
		t.Errorf("token without hash: %v", err)
	}
	mustUpdate(t, s, func(tx fleet.Tx) error {
		if id, err := tx.DeviceIDByTag("VAL-0001"); err != nil || id != d.ID {
			t.Errorf("DeviceIDByTag(VAL-0001) = %q, %v", id, err)
		}
		if _, err := tx.DeviceIDByTag("VAL-0002"); !errors.Is(err, fleet.ErrNotFound) {
			t.Errorf("DeviceIDByTag(VAL-0002) = %v, want not found", err)
		}
		if id, err := tx.IdentOwner("serial:PF1ABCDE"); err != nil || id != d.ID {
			t.Errorf("IdentOwner(serial:PF1ABCDE) = %q, %v", id, err)
		}
		if id, err := tx.IdentOwner("serial:NOPE"); err != nil || id != "" {
			t.Errorf("IdentOwner(serial:NOPE) = %q, %v; want none", id, err)
		}
		return nil
	})
}

func loanIDs(ls []fleet.Loan) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}

func TestLoanIndexes(t *testing.T) {
	s := openDevices(t)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	// l1 oldest … l5 newest.
	loans := []fleet.Loan{
		{ID: "l1", Kit: "k1", Borrower: "u1", Venue: "v1", OutAt: t0, DueAt: t0.Add(7 * day), ReturnedAt: t0.Add(6 * day)},
		{ID: "l2", Kit: "k2", Borrower: "u1", Venue: "v2", OutAt: t0.Add(1 * day), DueAt: t0.Add(3 * day)},
		{ID: "l3", Kit: "k1", Borrower: "u2", Venue: "v1", OutAt: t0.Add(8 * day), DueAt: t0.Add(20 * day)},
		{ID: "l4", Kit: "k3", Borrower: "u2", Venue: "v2", OutAt: t0.Add(9 * day), DueAt: t0.Add(10 * day)},
		{ID: "l5", Kit: "k4", Borrower: "u1", Venue: "v1", OutAt: t0.Add(10 * day), DueAt: t0.Add(30 * day)},
	}
	mustUpdate(t, s, func(tx fleet.Tx) error {
		for _, l := range loans {
			if err := tx.PutLoan(l); err != nil {
				return err
			}
		}
		return nil
	})
	now := t0.Add(12 * day)

	check := func(when string) {
		t.Helper()
		cases := []struct {
			name string
			q    fleet.LoanQuery
			want []string
		}{
			{"all", fleet.LoanQuery{}, []string{"l5", "l4", "l3", "l2", "l1"}},
			{"all, limit 2", fleet.LoanQuery{Limit: 2}, []string{"l5", "l4"}},
			{"all, page after l4", fleet.LoanQuery{After: "l4", Limit: 2}, []string{"l3", "l2"}},
			{"all, last page", fleet.LoanQuery{After: "l2", Limit: 2}, []string{"l1"}},
			{"overdue, page after l4", fleet.LoanQuery{DueBefore: now, After: "l4"}, []string{"l2"}},
			{"user u1, page after l5", fleet.LoanQuery{User: "u1", After: "l5", Limit: 1}, []string{"l2"}},
			{"open", fleet.LoanQuery{Open: true}, []string{"l5", "l4", "l3", "l2"}},
			{"overdue", fleet.LoanQuery{DueBefore: now}, []string{"l4", "l2"}},
			{"overdue, limit 1", fleet.LoanQuery{DueBefore: now, Limit: 1}, []string{"l4"}},
			{"overdue of u1", fleet.LoanQuery{DueBefore: now, User: "u1"}, []string{"l2"}},
			{"kit k1", fleet.LoanQuery{Kit: "k1"}, []string{"l3", "l1"}},
			{"kit k1 open", fleet.LoanQuery{Kit: "k1", Open: true}, []string{"l3"}},
			{"user u1", fleet.LoanQuery{User: "u1"}, []string{"l5", "l2", "l1"}},
			{"user u1 open, limit 1", fleet.LoanQuery{User: "u1", Open: true, Limit: 1}, []string{"l5"}},
			{"venue v1", fleet.LoanQuery{Venue: "v1"}, []string{"l5", "l3", "l1"}},
			{"venue v2 of u2", fleet.LoanQuery{Venue: "v2", User: "u2"}, []string{"l4"}},
			{"kit k", fleet.LoanQuery{Kit: "k"}, []string{}}, // a prefix of other kits' ids
		}
		for _, c := range cases {
			got, err := s.Loans(c.q)
			if err != nil {
				t.Fatalf("%s: %s: %v", when, c.name, err)
			}
			if diff := gocmp.Diff(c.want, loanIDs(got)); diff != "" {
				t.Errorf("%s: %s (-want +got):\n%s", when, c.name, diff)
			}
		}
	}
	check("first")

	// Closing l2 and l4, and moving l3 to another venue, update every
	// index; l2 is closed first on its own, then rewritten closed.
	mustUpdate(t, s, func(tx fleet.Tx) error {
		l2, err := tx.Loan("l2")
		if err != nil {
			return err
		}
		l2.ReturnedAt = now
		if err := tx.PutLoan(l2); err != nil {
			return err
		}
		l2.ReturnedBy = "u3"
		if err := tx.PutLoan(l2); err != nil {
			return err
		}
		l4 := loans[3]
		l4.ReturnedAt = now
		if err := tx.PutLoan(l4); err != nil {
			return err
		}
		l3 := loans[2]
		l3.Venue = "v3"
		return tx.PutLoan(l3)
	})
	for _, c := range []struct {
		name string
		q    fleet.LoanQuery
		want []string
	}{
		{"open after check-ins", fleet.LoanQuery{Open: true}, []string{"l5", "l3"}},
		{"overdue after check-ins", fleet.LoanQuery{DueBefore: now}, []string{}},
		{"overdue later", fleet.LoanQuery{DueBefore: t0.Add(25 * day)}, []string{"l3"}},
		{"venue v1 after the move", fleet.LoanQuery{Venue: "v1"}, []string{"l5", "l1"}},
		{"venue v3", fleet.LoanQuery{Venue: "v3"}, []string{"l3"}},
		{"user u2", fleet.LoanQuery{User: "u2"}, []string{"l4", "l3"}},
	} {
		got, err := s.Loans(c.q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff(c.want, loanIDs(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	// No stale entries: one per loan in the time, kit, user and venue
	// indexes; one per open loan in the open and due ones.
	for _, c := range []struct {
		bucket []byte
		n      int
	}{
		{bucketLoanTime, 5}, {bucketLoanKit, 5}, {bucketLoanUser, 5}, {bucketLoanVenue, 5},
		{bucketLoanOpen, 2}, {bucketLoanDue, 2},
	} {
		if got := bucketKeys(t, s, c.bucket); len(got) != c.n {
			t.Errorf("%s holds %d entries, want %d", c.bucket, len(got), c.n)
		}
	}
	l2, err := s.Loan("l2")
	if err != nil || l2.ReturnedBy != "u3" || l2.Open() {
		t.Errorf("Loan(l2) = %+v, %v", l2, err)
	}
	if _, err := s.Loan("l9"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Loan(l9) = %v, want not found", err)
	}
}

func TestPutLoanRefusesBadLoans(t *testing.T) {
	s := openDevices(t)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for _, l := range []fleet.Loan{
		{Kit: "k1", OutAt: t0},
		{ID: "l1", OutAt: t0},
		{ID: "l1", Kit: "k1"},
		{ID: "l1", Kit: "k1", Borrower: "u\x001", OutAt: t0},
	} {
		if err := s.Update(func(tx fleet.Tx) error { return tx.PutLoan(l) }); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutLoan(%+v) = %v, want ErrInvalid", l, err)
		}
	}
	if _, err := s.Loans(fleet.LoanQuery{Limit: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Loans with a negative limit: %v", err)
	}
	for _, b := range [][]byte{bucketLoans, bucketLoanTime, bucketLoanKit} {
		if got := bucketKeys(t, s, b); len(got) != 0 {
			t.Errorf("%s holds %q after refusals", b, got)
		}
	}
}
