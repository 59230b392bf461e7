package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/server/fleet"
)

func TestTagSortKeyOrdersLikeCompareAssetTags(t *testing.T) {
	tags := []string{
		"VAL-0999", "VAL-1000", "VAL-10000", "VAL-1", "VAL-01", "VAL-001", "VAL-", "VAL-0", "VAL-00",
		"VAL", "VAL1", "VAL-1A", "VAL-A1", "ABC-5", "ABC-05", "A", "AB", "B", "", "X99999999999999999999",
		"X99999999999999999998", "X1", "Kit-2", "KIT-2", "VAL-18446744073709551615",
	}
	for _, a := range tags {
		for _, b := range tags {
			want := fleet.CompareAssetTags(a, b)
			got := bytes.Compare(tagSortKey(nil, a), tagSortKey(nil, b))
			if got != want {
				t.Errorf("keys of %q and %q compare %d, CompareAssetTags says %d", a, b, got, want)
			}
		}
	}
}

// putDevices writes devices through one write transaction.
func putDevices(t testing.TB, s *Store, ds ...fleet.Device) {
	t.Helper()
	err := s.Update(func(tx fleet.Tx) error {
		for _, d := range ds {
			if err := tx.PutDevice(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkListIndexes fails unless the order and state indexes hold exactly
// one entry per stored device, where its tag and state put it, and the
// counters of devices by state match the devices.
func checkListIndexes(t *testing.T, s *Store) {
	t.Helper()
	var wantOrder, wantState, gotOrder, gotState []string
	wantCounts := map[fleet.State]int{}
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketDevices).ForEach(func(_, v []byte) error {
			var d fleet.Device
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			wantOrder = append(wantOrder, string(orderKey(d)))
			wantState = append(wantState, string(stateKey(d)))
			if d.State != "" {
				wantCounts[d.State]++
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, x := range []struct {
			b   []byte
			out *[]string
		}{{bucketDeviceOrder, &gotOrder}, {bucketDeviceState, &gotState}} {
			if err := tx.Bucket(x.b).ForEach(func(k, _ []byte) error {
				*x.out = append(*x.out, string(k))
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(wantOrder)
	slices.Sort(wantState)
	if diff := gocmp.Diff(wantOrder, gotOrder); diff != "" {
		t.Errorf("order index (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(wantState, gotState); diff != "" {
		t.Errorf("state index (-want +got):\n%s", diff)
	}
	counts, err := s.DeviceCounts()
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("device counts (-want +got):\n%s", diff)
	}
}

func tagsOf(ds []fleet.Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.AssetTag
	}
	return out
}

// listAll pages through DeviceList with page size n and returns every tag.
func listAll(t *testing.T, s *Store, f fleet.Filter, n int) []string {
	t.Helper()
	f.Limit = n
	var out []string
	for range 1000 {
		page, err := s.DeviceList(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > n {
			t.Fatalf("page of %d devices for limit %d", len(page), n)
		}
		out = append(out, tagsOf(page)...)
		if len(page) < n {
			return out
		}
		f.After = page[len(page)-1].AssetTag
	}
	t.Fatal("paging does not end")
	return nil
}

func TestDeviceListPagesInNaturalOrder(t *testing.T) {
	s := openDevices(t)
	states := []fleet.State{fleet.StateNeedsWipe, fleet.StateReady, fleet.StateNeedsWipe}
	tags := []string{"VAL-10000", "VAL-0999", "VAL-1000", "VAL-0001", "VAL-2", "ABC-7", "VAL-0100", "VAL-99999", "VAL-0998"}
	var ds []fleet.Device
	for i, tag := range tags {
		class := "laptop"
		if i%4 == 0 {
			class = "hotspot"
		}
		ds = append(ds, fleet.Device{ID: fmt.Sprintf("d%02d", i), AssetTag: tag, Class: class, State: states[i%len(states)]})
	}
	putDevices(t, s, ds...)
	checkListIndexes(t, s)

	sorted := slices.Clone(tags)
	slices.SortFunc(sorted, fleet.CompareAssetTags)
	want := map[fleet.State][]string{}
	wantClass := []string(nil)
	for _, tag := range sorted {
		i := slices.Index(tags, tag)
		want[ds[i].State] = append(want[ds[i].State], tag)
		if ds[i].Class == "hotspot" {
			wantClass = append(wantClass, tag)
		}
	}
	if slices.Index(sorted, "VAL-0999") > slices.Index(sorted, "VAL-1000") ||
		slices.Index(sorted, "VAL-1000") > slices.Index(sorted, "VAL-10000") {
		t.Fatalf("CompareAssetTags order is not natural: %v", sorted)
	}

	for _, n := range []int{1, 2, 3, 4, 100} {
		if got := listAll(t, s, fleet.Filter{}, n); !slices.Equal(got, sorted) {
			t.Errorf("pages of %d: %v, want %v", n, got, sorted)
		}
		for st, w := range want {
			if got := listAll(t, s, fleet.Filter{State: st}, n); !slices.Equal(got, w) {
				t.Errorf("%s in pages of %d: %v, want %v", st, n, got, w)
			}
		}
		if got := listAll(t, s, fleet.Filter{Class: "hotspot"}, n); !slices.Equal(got, wantClass) {
			t.Errorf("hotspots in pages of %d: %v, want %v", n, got, wantClass)
		}
	}

	// After need not name a stored tag.
	got, err := s.DeviceList(fleet.Filter{After: "VAL-0500"})
	if err != nil {
		t.Fatal(err)
	}
	if w := sorted[slices.Index(sorted, "VAL-0998"):]; !slices.Equal(tagsOf(got), w) {
		t.Errorf("after VAL-0500: %v, want %v", tagsOf(got), w)
	}
	if got, err := s.DeviceList(fleet.Filter{State: fleet.StateWiping}); err != nil || len(got) != 0 {
		t.Errorf("wiping devices: %v, %v; want none", tagsOf(got), err)
	}
}

func TestDeviceListFollowsStateAndTagChanges(t *testing.T) {
	s := openDevices(t)
	a := fleet.Device{ID: "daaa", AssetTag: "VAL-0001", State: fleet.StateReady}
	b := fleet.Device{ID: "dbbb", AssetTag: "VAL-0002", State: fleet.StateReady}
	c := fleet.Device{ID: "dccc", AssetTag: "VAL-0003", State: fleet.StateNeedsWipe}
	putDevices(t, s, a, b, c)

	steps := []struct {
		name   string
		put    fleet.Device
		ready  []string
		wipe   []string
		sorted []string
	}{
		{"a returned", fleet.Device{ID: "daaa", AssetTag: "VAL-0001", State: fleet.StateNeedsWipe},
			[]string{"VAL-0002"}, []string{"VAL-0001", "VAL-0003"}, []string{"VAL-0001", "VAL-0002", "VAL-0003"}},
		{"b relabelled", fleet.Device{ID: "dbbb", AssetTag: "VAL-1000", State: fleet.StateReady},
			[]string{"VAL-1000"}, []string{"VAL-0001", "VAL-0003"}, []string{"VAL-0001", "VAL-0003", "VAL-1000"}},
		{"c relabelled and wiped", fleet.Device{ID: "dccc", AssetTag: "VAL-0000", State: fleet.StateReady},
			[]string{"VAL-0000", "VAL-1000"}, []string{"VAL-0001"}, []string{"VAL-0000", "VAL-0001", "VAL-1000"}},
		{"unchanged rewrite", fleet.Device{ID: "dccc", AssetTag: "VAL-0000", State: fleet.StateReady},
			[]string{"VAL-0000", "VAL-1000"}, []string{"VAL-0001"}, []string{"VAL-0000", "VAL-0001", "VAL-1000"}},
	}
	for _, st := range steps {
		putDevices(t, s, st.put)
		checkListIndexes(t, s)
		for _, x := range []struct {
			f    fleet.Filter
			want []string
		}{{fleet.Filter{State: fleet.StateReady}, st.ready}, {fleet.Filter{State: fleet.StateNeedsWipe}, st.wipe}, {fleet.Filter{}, st.sorted}} {
			got, err := s.DeviceList(x.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tagsOf(got), x.want) {
				t.Errorf("%s: state %q lists %v, want %v", st.name, x.f.State, tagsOf(got), x.want)
			}
		}
	}
	// The freed tag is free again.
	if _, err := s.DeviceIDByTag("VAL-0002"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("old tag VAL-0002 still found: %v", err)
	}
	all, err := s.Devices()
	if err != nil || len(all) != 3 {
		t.Errorf("Devices() = %d devices, %v; want 3", len(all), err)
	}
}

func TestDeviceListRefusesBadInput(t *testing.T) {
	s := openDevices(t)
	putDevices(t, s, fleet.Device{ID: "daaa", AssetTag: "VAL-0001", State: fleet.StateReady})
	for _, f := range []fleet.Filter{{Limit: -1}, {State: "broken"}} {
		if _, err := s.DeviceList(f); !errors.Is(err, ErrInvalid) {
			t.Errorf("DeviceList(%+v) = %v, want ErrInvalid", f, err)
		}
	}
	for _, d := range []fleet.Device{
		{ID: "dbbb", AssetTag: "VAL-\x000002"},
		{ID: "d\x00bb", AssetTag: "VAL-0002"},
		{ID: "dbbb", AssetTag: "VAL-0001"}, // another device's tag
	} {
		err := s.Update(func(tx fleet.Tx) error { return tx.PutDevice(d) })
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("PutDevice(%q, %q) = %v, want ErrInvalid", d.ID, d.AssetTag, err)
		}
	}
	checkListIndexes(t, s)
	if got, _ := s.DeviceList(fleet.Filter{}); len(got) != 1 {
		t.Errorf("refused devices were listed: %v", tagsOf(got))
	}
}

// BenchmarkDeviceListState measures one page of 500 devices that need a
// wipe in a fleet of 100,000, a fifth of which need one.
func BenchmarkDeviceListState(b *testing.B) {
	const fleetSize, batch = 100_000, 10_000
	s, err := Open(filepath.Join(b.TempDir(), "valise.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for start := 0; start < fleetSize; start += batch {
		ds := make([]fleet.Device, 0, batch)
		for i := start; i < start+batch; i++ {
			st := fleet.StateReady
			if i%5 == 0 {
				st = fleet.StateNeedsWipe
			}
			ds = append(ds, fleet.Device{
				ID: fmt.Sprintf("d%012d", i), AssetTag: fmt.Sprintf("VAL-%05d", i), Class: "laptop", State: st,
				Vendor: "LENOVO", Model: "ThinkPad T480", Serial: fmt.Sprintf("PF%08d", i),
			})
		}
		putDevices(b, s, ds...)
	}
	f := fleet.Filter{State: fleet.StateNeedsWipe, After: "VAL-50000", Limit: 500}
	b.ResetTimer()
	for b.Loop() {
		page, err := s.DeviceList(f)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) != 500 {
			b.Fatalf("page of %d devices", len(page))
		}
	}
}
