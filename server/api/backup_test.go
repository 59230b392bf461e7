package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/api"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// newBackupEnv is newEnv with the store behind GET /api/v1/backup, or
// without anything behind it.
func newBackupEnv(t *testing.T, withBackup bool) *env {
	t.Helper()
	return newEnvWith(t, func(cfg *api.Config, st *store.Store) {
		if withBackup {
			cfg.Backup = st
		}
	})
}

// TestBackupUnderIngest takes a backup through the API while reports are
// committed and users created without pause, then checks that the copy
// holds one transaction's state: everything acknowledged before the
// request, nothing acknowledged after the answer, every series without a
// gap, and an audit log that verifies.
func TestBackupUnderIngest(t *testing.T) {
	e := newBackupEnv(t, true)
	tok := e.enrollToken(t, apitype.EnrollTokenRequest{Class: wire.ClassLaptop, Uses: 10})
	var devs []string
	for i := range 4 {
		devs = append(devs, e.enroll(t, tok.Token, thinkpad(fmt.Sprintf("PF1BK%03d", i))).DeviceID)
	}

	const reports = 600 // per device, one a minute of agent time: within the history's bounds
	base := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	acked := make([]atomic.Int64, len(devs))
	var users atomic.Int64 // users created, acknowledged by the API
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(devs)+1)
	for i, dev := range devs {
		wg.Go(func() {
			for seq := 1; seq <= reports; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				at := base.Add(time.Duration(seq) * time.Minute)
				body, _ := json.Marshal(map[string]int{"n": seq})
				r := store.Report{Device: dev, Seq: uint64(seq), Kind: wire.ChanHealth, At: at, Received: at, Body: body,
					Figures: []store.Figure{{Metric: apitype.MetricBatteryCharge, Value: float64(seq)}}}
				if _, err := e.st.CommitReports([]store.Report{r}, nil); err != nil {
					errs <- err
					return
				}
				acked[i].Store(int64(seq))
			}
		})
	}
	wg.Go(func() {
		for n := 1; n <= 200; n++ {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/users", strings.NewReader(fmt.Sprintf(`{"name":"Agent %d","role":"mediateur"}`, n)))
			req.Header.Set("Authorization", "Bearer "+e.admin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				errs <- fmt.Errorf("create user %d = %d", n, resp.StatusCode)
				return
			}
			users.Store(int64(n))
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })

	// Let ingest get going, then take the backup in the middle of it.
	underWay := func() bool {
		for i := range acked {
			if acked[i].Load() < 50 {
				return false
			}
		}
		return users.Load() >= 5
	}
	for i := 0; i < 1000 && !underWay(); i++ { // at most 10 s
		time.Sleep(10 * time.Millisecond)
	}
	if !underWay() {
		t.Fatal("ingest did not get going")
	}
	before := make([]int64, len(devs))
	for i := range acked {
		before[i] = acked[i].Load()
	}
	usersBefore := users.Load()
	headBefore, _, err := e.st.AuditHead()
	if err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/backup", nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	resp.Body.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	// Each writer may have one commit done but not yet counted.
	after := make([]int64, len(devs))
	for i := range acked {
		after[i] = acked[i].Load() + 1
	}
	usersAfter := users.Load() + 1
	headAfter, _, err := e.st.AuditHead()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("ingest: %v", err)
	default:
	}

	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/backup = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="valise-`) || !strings.HasSuffix(cd, `.db"`) {
		t.Errorf("Content-Disposition = %q", cd)
	}
	if cl, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); cl != n || n == 0 {
		t.Errorf("Content-Length %q, body %d bytes", resp.Header.Get("Content-Length"), n)
	}

	bst, err := store.OpenReadOnly(path, store.Options{})
	if err != nil {
		t.Fatalf("the backup does not open as a store: %v", err)
	}
	defer bst.Close()
	bf, err := fleet.New(fleet.Config{Store: bst})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bf.VerifyAudit()
	if err != nil {
		t.Fatalf("audit log of the backup: %v", err)
	}
	if rep.Events < headBefore || rep.Events > headAfter {
		t.Errorf("backup holds %d audit events, want %d to %d", rep.Events, headBefore, headAfter)
	}
	counts, err := bst.Counts()
	if err != nil {
		t.Fatal(err)
	}
	// The admin and the users created through the API.
	if got := int64(counts.Users) - 1; got < usersBefore || got > usersAfter {
		t.Errorf("backup holds %d users besides the admin, want %d to %d", got, usersBefore, usersAfter)
	}
	if counts.Devices != len(devs) || counts.Schema != store.SchemaVersion {
		t.Errorf("counts = %+v", counts)
	}
	total := 0
	for i, dev := range devs {
		body, _, err := bst.Latest(dev, wire.ChanHealth)
		if err != nil {
			t.Fatalf("latest report of %s in the backup: %v", dev, err)
		}
		var last struct{ N int64 }
		if err := json.Unmarshal(body, &last); err != nil {
			t.Fatal(err)
		}
		if last.N < before[i] || last.N > after[i] {
			t.Errorf("device %d: backup's last report %d, want %d to %d", i, last.N, before[i], after[i])
		}
		pts, err := bst.History(dev, apitype.MetricBatteryCharge, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(pts)) != last.N {
			t.Errorf("device %d: %d history points, want %d (one per report)", i, len(pts), last.N)
		}
		for j, p := range pts {
			if p.Value != float64(j+1) {
				t.Errorf("device %d: point %d is report %v: a gap", i, j+1, p.Value)
				break
			}
		}
		total += len(pts)
	}
	if total != counts.HistoryPoints {
		t.Errorf("history points: %d in the series, %d counted", total, counts.HistoryPoints)
	}
	t.Logf("backup of %d bytes with %d audit events, %d reports, taken while %d to %d reports were acknowledged",
		n, rep.Events, total, sum(before), sum(after))
}

func sum(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

func TestBackupRoles(t *testing.T) {
	e := newBackupEnv(t, true)
	for _, role := range []fleet.Role{fleet.RoleMediateur, fleet.RoleLogistics, fleet.RoleTechnician} {
		u := e.addUser(t, "Someone "+string(role), role)
		if code, body := e.do(t, "GET", "/api/v1/backup", u.Token, ""); code != http.StatusForbidden || !strings.Contains(string(body), `"forbidden"`) {
			t.Errorf("backup as %s = %d %s, want 403", role, code, body)
		}
	}
	if code, _ := e.do(t, "GET", "/api/v1/backup", "", ""); code != http.StatusUnauthorized {
		t.Errorf("backup without a token = %d, want 401", code)
	}
	if code, body := e.do(t, "GET", "/api/v1/backup", e.admin, ""); code != http.StatusOK || len(body) == 0 {
		t.Errorf("backup as admin = %d (%d bytes)", code, len(body))
	}

	none := newBackupEnv(t, false)
	if code, body := none.do(t, "GET", "/api/v1/backup", none.admin, ""); code != http.StatusNotImplemented {
		t.Errorf("backup without a store = %d %s, want 501", code, body)
	}
}
