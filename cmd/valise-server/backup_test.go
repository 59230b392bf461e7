package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/agent/simulate"
	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// runCmd runs valise-server with args and returns its exit code, stdout
// and the error's line.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, append([]string{"valise-server"}, args...), &stdout, &stderr)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return cmdmain.ExitCode(err), stdout.String(), msg
}

// publisher is an enrolled device that reports through the embedded
// broker, one QoS 1 health report at a time: acked is the seq of the last
// one the server acknowledged, hence committed.
type publisher struct {
	id    string
	cl    paho.Client
	acked atomic.Int64
}

func enrolPublishers(t *testing.T, base, dataDir string, n int) []*publisher {
	t.Helper()
	api := adminClient(t, dataDir, base)
	tok, err := api.CreateEnrollToken(context.Background(), apitype.EnrollTokenRequest{Class: wire.ClassLaptop, Uses: n})
	if err != nil {
		t.Fatal(err)
	}
	var pubs []*publisher
	for i := range n {
		inv := simulate.NewDevice(11, i, wire.ClassLaptop).Inventory(context.Background())
		body, _ := json.Marshal(wire.EnrollRequest{Token: tok.Token, Fingerprint: wire.FingerprintOf(&inv), Inventory: inv, AgentVersion: "test"})
		resp, err := http.Post(base+wire.EnrollPath, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var en wire.EnrollResponse
		err = json.NewDecoder(resp.Body).Decode(&en)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("enrol device %d: %d %v", i, resp.StatusCode, err)
		}
		cl := paho.NewClient(paho.NewClientOptions().AddBroker(en.MQTTURL).SetClientID(en.DeviceID).
			SetUsername(en.Username).SetPassword(en.Password).SetCleanSession(false).SetProtocolVersion(4).
			SetConnectTimeout(10 * time.Second).SetAutoReconnect(false))
		if tk := cl.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
			t.Fatalf("connect device %d: %v", i, tk.Error())
		}
		t.Cleanup(func() { cl.Disconnect(50) })
		pubs = append(pubs, &publisher{id: en.DeviceID, cl: cl})
	}
	return pubs
}

// publish sends health reports 1 to max, each at its own minute from base
// and saying its seq as uptime, until stop is closed.
func (p *publisher) publish(base time.Time, max int, stop <-chan struct{}) error {
	topic := wire.Topics{Prefix: wire.DefaultPrefix}.Device(p.id, wire.ChanHealth)
	for seq := 1; seq <= max; seq++ {
		select {
		case <-stop:
			return nil
		default:
		}
		charge := 50.0
		env, err := wire.NewEnvelope(p.id, uint64(seq), base.Add(time.Duration(seq)*time.Minute), wire.ChanHealth,
			wire.Health{UptimeSeconds: uint64(seq), Batteries: []wire.Battery{{Name: "BAT0", ChargePercent: &charge}}})
		if err != nil {
			return err
		}
		payload, err := wire.Encode(env)
		if err != nil {
			return err
		}
		if tk := p.cl.Publish(topic, 1, false, payload); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
			return fmt.Errorf("publish %d of %s: %v", seq, p.id, tk.Error())
		}
		p.acked.Store(int64(seq))
	}
	return nil
}

// TestBackupRestoreUnderLoad backs a running server up through its API
// while devices report and users are created, restores the backup into a
// fresh data directory and checks every count against what had been
// acknowledged when the backup started and ended; then starts a server on
// the restored directory.
func TestBackupRestoreUnderLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	srv, stopServer := startServer(t, server.Config{DataDir: dir})
	base := "http://" + srv.HTTPAddr()
	pubs := enrolPublishers(t, base, dir, 4)
	api := adminClient(t, dir, base)

	const reports = 1000 // per device, bounded; the test stops them earlier
	start := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Minute)
	stop := make(chan struct{})
	var users atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(pubs)+1)
	for _, p := range pubs {
		wg.Go(func() {
			if err := p.publish(start, reports, stop); err != nil {
				errs <- err
			}
		})
	}
	wg.Go(func() {
		for n := 1; n <= 500; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := api.CreateUser(context.Background(), apitype.UserRequest{Name: fmt.Sprintf("Médiatrice %d", n), Role: "mediateur"}); err != nil {
				errs <- err
				return
			}
			users.Store(int64(n))
		}
	})
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()

	eventually(t, "load under way", func() bool {
		for _, p := range pubs {
			if p.acked.Load() < 30 {
				return false
			}
		}
		return users.Load() >= 5
	})
	before := make([]int64, len(pubs))
	for i, p := range pubs {
		before[i] = p.acked.Load()
	}
	usersBefore := users.Load()

	file := filepath.Join(t.TempDir(), "valise-backup.db")
	code, out, msg := runCmd(t, "backup", "--to", file, "--data", dir, "--server", base)
	if code != 0 {
		t.Fatalf("backup: %s", msg)
	}
	after := make([]int64, len(pubs)) // each publisher may have one report committed, not yet acknowledged
	for i, p := range pubs {
		after[i] = p.acked.Load() + 1
	}
	usersAfter := users.Load() + 1
	if !strings.Contains(out, "through the server at "+base) || !strings.Contains(out, "backup written to "+file) {
		t.Errorf("backup said %q", out)
	}
	stopLoad()
	select {
	case err := <-errs:
		t.Fatalf("load: %v", err)
	default:
	}
	stopServer()
	if _, err := os.Stat(file + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("%s.tmp left behind: %v", file, err)
	}

	// A fresh data directory, with the keys of the first one.
	restored := filepath.Join(t.TempDir(), "restored")
	code, out, msg = runCmd(t, "restore", file, "--data", restored)
	if code != 0 {
		t.Fatalf("restore: %s", msg)
	}
	if !strings.Contains(out, "restored "+file) || !strings.Contains(out, "has no command.key") {
		t.Errorf("restore said %q", out)
	}
	st, err := store.OpenReadOnly(filepath.Join(restored, server.StoreFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fl, err := fleet.New(fleet.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := fl.VerifyAudit()
	if err != nil {
		t.Errorf("audit log of the restored store: %v", err)
	}
	counts, err := st.Counts()
	if err != nil {
		t.Fatal(err)
	}
	// The admin, and the users created through the API.
	if got := int64(counts.Users) - 1; got < usersBefore || got > usersAfter {
		t.Errorf("restored store has %d users besides the admin, want %d to %d", got, usersBefore, usersAfter)
	}
	if counts.Devices != len(pubs) || rep.Events != counts.AuditEvents || rep.Events < uint64(len(pubs)+int(usersBefore)) {
		t.Errorf("counts %+v, audit %+v", counts, rep)
	}
	total := 0
	for i, p := range pubs {
		body, _, err := st.Latest(p.id, wire.ChanHealth)
		if err != nil {
			t.Fatalf("latest health of device %d: %v", i, err)
		}
		var h wire.Health
		if err := json.Unmarshal(body, &h); err != nil {
			t.Fatal(err)
		}
		if last := int64(h.UptimeSeconds); last < before[i] || last > after[i] {
			t.Errorf("device %d: last report restored is %d, want %d to %d", i, last, before[i], after[i])
		}
		pts, err := st.History(p.id, apitype.MetricBatteryCharge, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(pts)) != h.UptimeSeconds {
			t.Errorf("device %d: %d history points, want %d, one per report", i, len(pts), h.UptimeSeconds)
		}
		total += len(pts)
	}
	if total != counts.HistoryPoints {
		t.Errorf("history points: %d in the series, %d counted", total, counts.HistoryPoints)
	}
	st.Close()
	t.Logf("restored %d reports and %d audit events, taken while %d to %d reports were acknowledged", total, rep.Events, sum(before), sum(after))

	// The restored directory serves, with the keys of the first.
	for _, name := range []string{server.AdminTokenFile, server.CommandKeyFile, server.MQTTPasswordFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(restored, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv2, _ := startServer(t, server.Config{DataDir: restored})
	devs, err := adminClient(t, restored, "http://"+srv2.HTTPAddr()).Devices(context.Background(), apiclient.DeviceFilter{})
	if err != nil || len(devs) != len(pubs) {
		t.Errorf("devices of the restored server: %d, %v", len(devs), err)
	}
}

func sum(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

// newStoreDir makes a data directory with a store holding an admin and a
// few audit events, the server stopped.
func newStoreDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	srv, stop := startServer(t, server.Config{DataDir: dir})
	api := adminClient(t, dir, "http://"+srv.HTTPAddr())
	for _, name := range []string{"Awa", "Bruno"} {
		if _, err := api.CreateUser(context.Background(), apitype.UserRequest{Name: name, Role: "logistics"}); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	return dir
}

// editStore changes a store file with bbolt directly, as a damaged or
// foreign file would be.
func editStore(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBackupWithoutServer(t *testing.T) {
	dir := newStoreDir(t)
	file := filepath.Join(t.TempDir(), "b.db")
	code, out, msg := runCmd(t, "backup", "--data", dir, "--to", file)
	if code != 0 {
		t.Fatalf("backup: %s", msg)
	}
	if !strings.Contains(out, "read directly (no server runs on "+dir+")") || !strings.Contains(out, "3 users") {
		t.Errorf("backup said %q", out)
	}
	// The copy restores over the store it came from; the old one is kept.
	code, out, msg = runCmd(t, "restore", "--data", dir, file)
	if code != 0 {
		t.Fatalf("restore: %s", msg)
	}
	kept, _ := filepath.Glob(filepath.Join(dir, server.StoreFile+".before-restore-*"))
	if len(kept) != 1 || !strings.Contains(out, "the previous store is kept as "+kept[0]) {
		t.Errorf("kept %v; restore said %q", kept, out)
	}
	if strings.Contains(out, "has no command.key") {
		t.Errorf("restore warns of missing keys in a directory that has them: %q", out)
	}
}

func TestBackupBadInput(t *testing.T) {
	dir := newStoreDir(t)
	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no --to", []string{"backup", "--data", dir}, 2, "--to FILE is required"},
		{"argument", []string{"backup", "--data", dir, "--to", "x.db", "extra"}, 2, `unexpected argument "extra"`},
		{"bad server URL", []string{"backup", "--data", dir, "--to", "x.db", "--server", "valise:8080"}, 2, "--server"},
		{"no store", []string{"backup", "--data", empty, "--to", filepath.Join(empty, "x.db")}, 1, "no store to back up in " + empty},
		{"to a directory", []string{"backup", "--data", dir, "--to", empty}, 1, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, msg := runCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Errorf("exit %d %q, want %d and %q", code, msg, tt.code, tt.msg)
			}
		})
	}

	// A running server that the command cannot reach or that refuses.
	srv, _ := startServer(t, server.Config{DataDir: dir})
	file := filepath.Join(empty, "b.db")
	code, _, msg := runCmd(t, "backup", "--data", dir, "--to", file, "--server", "http://127.0.0.1:1")
	if code != 1 || !strings.Contains(msg, "does not answer at http://127.0.0.1:1 (give its URL with --server)") {
		t.Errorf("unreachable server: %d %q", code, msg)
	}
	api := adminClient(t, dir, "http://"+srv.HTTPAddr())
	u, err := api.CreateUser(context.Background(), apitype.UserRequest{Name: "Chloé", Role: "technician"})
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, server.AdminTokenFile), []byte(u.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, server.StoreFile), filepath.Join(other, server.StoreFile)); err != nil {
		t.Fatal(err)
	}
	code, _, msg = runCmd(t, "backup", "--data", other, "--to", file, "--server", "http://"+srv.HTTPAddr())
	if code != 1 || !strings.Contains(msg, "refused the backup (403): role technician may not GET /api/v1/backup") {
		t.Errorf("backup with a technician's token: %d %q", code, msg)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("failed backups left %v", entries)
	}
}

func TestRestoreBadInput(t *testing.T) {
	dir := newStoreDir(t)
	files := t.TempDir()
	good := filepath.Join(files, "good.db")
	if code, _, msg := runCmd(t, "backup", "--data", dir, "--to", good); code != 0 {
		t.Fatal(msg)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	variant := func(name string, fn func(tx *bolt.Tx) error) string {
		b, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		p := write(name, b)
		editStore(t, p, fn)
		return p
	}
	foreign := filepath.Join(files, "foreign.db")
	editStore(t, foreign, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("etcd")); return err })
	newer := variant("newer.db", func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte{0, 0, 0, 0, 0, 0, 0, store.SchemaVersion + 1})
	})
	tampered := variant("tampered.db", func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		k, v := b.Cursor().First()
		return b.Put(bytes.Clone(k), bytes.Replace(v, []byte(`"admin"`), []byte(`"intrus"`), 1))
	})

	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no file", []string{"restore", "--data", dir}, 2, "give the backup FILE"},
		{"two files", []string{"restore", good, good, "--data", dir}, 2, "unexpected argument"},
		{"missing", []string{"restore", filepath.Join(files, "none.db"), "--data", dir}, 1, "none.db: no such file"},
		{"empty", []string{"restore", write("empty.db", nil), "--data", dir}, 1, "not a Valise store: the file is empty"},
		{"text", []string{"restore", write("notes.txt", bytes.Repeat([]byte("valise\n"), 2000)), "--data", dir}, 1, "not a Valise store: not a bbolt database file"},
		{"directory", []string{"restore", files, "--data", dir}, 1, "not a regular file"},
		{"foreign bbolt", []string{"restore", foreign, "--data", dir}, 1, `not a Valise store: a bbolt file without the store's "meta" bucket`},
		{"newer schema", []string{"restore", newer, "--data", dir}, 1, fmt.Sprintf("unknown schema version: file has schema %d", store.SchemaVersion+1)},
		{"tampered audit", []string{"restore", tampered, "--data", dir}, 1, "audit log altered: event 1 was altered: its content does not match its hash"},
		{"the store itself", []string{"restore", filepath.Join(dir, server.StoreFile), "--data", dir}, 1, "is the store itself"},
	}
	storeBytes := func() []byte {
		b, err := os.ReadFile(filepath.Join(dir, server.StoreFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	orig := storeBytes()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, msg := runCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Errorf("exit %d %q, want %d and %q", code, msg, tt.code, tt.msg)
			}
			if !bytes.Equal(storeBytes(), orig) {
				t.Fatal("a refused restore changed the store")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 4 {
				t.Errorf("data directory holds %d files after a refused restore", len(entries))
			}
		})
	}

	startServer(t, server.Config{DataDir: dir})
	code, _, msg := runCmd(t, "restore", good, "--data", dir)
	if code != 1 || !strings.Contains(msg, "a valise-server runs on "+dir+": stop it before restoring") {
		t.Errorf("restore under a running server: %d %q", code, msg)
	}
}

func TestBackupOverTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	srv, _ := startServer(t, server.Config{DataDir: dir, TLS: true})
	_, port, _ := strings.Cut(srv.HTTPAddr(), ":")
	file := filepath.Join(t.TempDir(), "b.db")
	// Found from --http and --tls, trusting the server's own CA.
	code, out, msg := runCmd(t, "backup", "--data", dir, "--to", file, "--http", "0.0.0.0:"+port, "--tls")
	if code != 0 || !strings.Contains(out, "through the server at https://127.0.0.1:"+port) {
		t.Fatalf("backup over TLS: %d %q %q", code, msg, out)
	}
}

func TestServerURL(t *testing.T) {
	tests := []struct {
		addr string
		tls  bool
		want string
	}{
		{"127.0.0.1:8080", false, "http://127.0.0.1:8080"},
		{"127.0.0.1:8080", true, "https://127.0.0.1:8080"},
		{"localhost:8080", false, "http://localhost:8080"},
		{"0.0.0.0:8443", false, "https://127.0.0.1:8443"},
		{":8443", false, "https://127.0.0.1:8443"},
		{"[::1]:8080", false, "http://[::1]:8080"},
		{"192.0.2.10:8443", false, "https://192.0.2.10:8443"},
	}
	for _, tt := range tests {
		if got, err := serverURL(tt.addr, tt.tls); err != nil || got != tt.want {
			t.Errorf("serverURL(%q, %v) = %q, %v; want %q", tt.addr, tt.tls, got, err, tt.want)
		}
	}
	if _, err := serverURL("8080", false); err == nil {
		t.Error("serverURL(8080) took a port without a host")
	}
}
