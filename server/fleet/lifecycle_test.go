package fleet_test

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

func TestTransitionTable(t *testing.T) {
	// Written out here again, pair by pair, from the design: a change to
	// the table in lifecycle.go has to be made twice, on purpose.
	allowed := map[[2]fleet.State]bool{}
	allow := func(from fleet.State, tos ...fleet.State) {
		for _, to := range tos {
			allowed[[2]fleet.State{from, to}] = true
		}
	}
	allow(fleet.StateIntake, fleet.StateNeedsWipe, fleet.StateWiping)
	allow(fleet.StateNeedsWipe, fleet.StateWiping, fleet.StateMaintenance)
	allow(fleet.StateWiping, fleet.StateWiped, fleet.StateWipeFailed)
	allow(fleet.StateWipeFailed, fleet.StateWiping, fleet.StateNeedsWipe)
	allow(fleet.StateWiped, fleet.StateProvisioning, fleet.StateRetired, fleet.StateWiping)
	allow(fleet.StateProvisioning, fleet.StateReady, fleet.StateWiped, fleet.StateWiping)
	allow(fleet.StateReady, fleet.StateOnLoan, fleet.StateMaintenance, fleet.StateWiping, fleet.StateNeedsWipe)
	allow(fleet.StateOnLoan, fleet.StateNeedsWipe, fleet.StateMaintenance)
	allow(fleet.StateMaintenance, fleet.StateNeedsWipe, fleet.StateWiping)
	allow(fleet.StateLost, fleet.StateNeedsWipe)
	for _, s := range fleet.States {
		if s != fleet.StateLost {
			allow(s, fleet.StateLost)
		}
	}
	for _, from := range fleet.States {
		for _, to := range fleet.States {
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				if got, want := fleet.CanTransition(from, to), allowed[[2]fleet.State{from, to}]; got != want {
					t.Errorf("CanTransition = %v, want %v", got, want)
				}
			})
		}
	}
	if fleet.CanTransition("bogus", fleet.StateLost) || fleet.CanTransition(fleet.StateIntake, "bogus") {
		t.Error("unknown states transition")
	}
	// ready is entered only from provisioning.
	for _, from := range fleet.States {
		if fleet.CanTransition(from, fleet.StateReady) && from != fleet.StateProvisioning {
			t.Errorf("%s -> ready is allowed", from)
		}
	}
}

func TestSetState(t *testing.T) {
	logistics := fleet.Principal{Name: "log", Role: fleet.RoleLogistics}
	mediateur := fleet.Principal{Name: "med", Role: fleet.RoleMediateur}
	tests := []struct {
		name string
		from fleet.State
		by   fleet.Principal
		to   fleet.State
		want error
	}{
		{"lost by logistics", fleet.StateReady, logistics, fleet.StateLost, nil},
		{"found", fleet.StateLost, logistics, fleet.StateNeedsWipe, nil},
		{"retire a wiped device", fleet.StateWiped, technician, fleet.StateRetired, nil},
		{"retire by logistics", fleet.StateWiped, logistics, fleet.StateRetired, fleet.ErrForbidden},
		{"mediateur", fleet.StateReady, mediateur, fleet.StateLost, fleet.ErrForbidden},
		{"retire an unwiped device", fleet.StateNeedsWipe, technician, fleet.StateRetired, fleet.ErrConflict},
		{"wiped by hand", fleet.StateNeedsWipe, technician, fleet.StateWiped, fleet.ErrInvalid},
		{"ready from intake", fleet.StateIntake, technician, fleet.StateReady, fleet.ErrConflict},
		{"ready from needs_wipe", fleet.StateNeedsWipe, technician, fleet.StateReady, fleet.ErrConflict},
		{"ready from provisioning without certificate", fleet.StateProvisioning, technician, fleet.StateReady, fleet.ErrNotWiped},
		{"ready from on_loan", fleet.StateOnLoan, technician, fleet.StateReady, fleet.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newWipeEnv(t)
			a := newAgent(t, "0a01", "S4EVNF0M1")
			if _, err := e.enrolAgent(t, a, e.token(t, "laptop", 1), ""); err != nil {
				t.Fatal(err)
			}
			forceState(t, e.st, a.id, tc.from)
			d, err := e.fleet.SetState(tc.by, a.id, tc.to, "test")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			got := e.state(t, a.id)
			if tc.want == nil && (got != tc.to || d.State != tc.to) {
				t.Errorf("state %s, want %s", got, tc.to)
			}
			if tc.want != nil && got != tc.from {
				t.Errorf("state %s after a refusal, want %s", got, tc.from)
			}
		})
	}
}

func TestGate(t *testing.T) {
	tests := []struct {
		name string
		// spoil runs after a's wipe and provisioning request; it may
		// return another fleet to ask.
		spoil func(t *testing.T, e *env, a *agent) *fleet.Fleet
		want  error // nil: the gate holds
		msg   string
	}{
		{"valid", func(t *testing.T, e *env, a *agent) *fleet.Fleet { return nil }, nil, ""},
		{"certificate older than the last return", func(t *testing.T, e *env, a *agent) *fleet.Fleet {
			e.clock.Add(time.Hour)
			setDevice(t, e.st, a.id, func(d *fleet.Device) { d.LastReturnedAt = e.clock.Now() })
			return nil
		}, fleet.ErrNotWiped, "has not been wiped since its return"},
		{"other disk", func(t *testing.T, e *env, a *agent) *fleet.Fleet {
			setDevice(t, e.st, a.id, func(d *fleet.Device) { d.Fingerprint.DiskSerials = []string{"NEWDISK"} })
			return nil
		}, fleet.ErrNotWiped, "is not one of the device's disks"},
		{"other machine", func(t *testing.T, e *env, a *agent) *fleet.Fleet {
			setDevice(t, e.st, a.id, func(d *fleet.Device) { d.Fingerprint.SystemSerial = "PFOTHER" })
			return nil
		}, fleet.ErrNotWiped, "serial"},
		{"bad signature", func(t *testing.T, e *env, a *agent) *fleet.Fleet {
			err := e.st.Update(func(tx fleet.Tx) error {
				d, err := tx.Device(a.id)
				if err != nil {
					return err
				}
				rec, file, err := tx.Certificate(d.LastCertificate)
				if err != nil {
					return err
				}
				rec.ID = "cert-forged"
				file = []byte(strings.Replace(string(file), `"reuse"`, `"REUSE"`, 1))
				if err := tx.PutCertificate(rec, file); err != nil {
					return err
				}
				d.LastCertificate = rec.ID
				return tx.PutDevice(d)
			})
			if err != nil {
				t.Fatal(err)
			}
			return nil
		}, certificate.ErrDeviceSignature, "does not verify"},
		{"another server's key", func(t *testing.T, e *env, a *agent) *fleet.Fleet {
			_, other, _ := ed25519.GenerateKey(nil)
			f, err := fleet.New(fleet.Config{Store: e.st, Now: e.clock.Now, ServerKey: other})
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, certificate.ErrServerKey, "does not verify"},
		{"device key not the device's", func(t *testing.T, e *env, a *agent) *fleet.Fleet {
			setDevice(t, e.st, a.id, func(d *fleet.Device) { d.DeviceKey, d.DeviceKeys = "", nil })
			return nil
		}, certificate.ErrDeviceKey, "does not verify"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newWipeEnv(t)
			a := newAgent(t, "0a01", "S4EVNF0M1")
			e.wiped(t, a)
			pj, secret, err := e.fleet.StartProvision(technician, a.id, "laptop-linux")
			if err != nil {
				t.Fatal(err)
			}
			f := tc.spoil(t, e, a)
			if f == nil {
				f = e.fleet
			}
			err = f.Gate(a.id)
			if !errors.Is(err, tc.want) || (err != nil && !strings.Contains(err.Error(), tc.msg)) {
				t.Fatalf("Gate: %v, want %v with %q", err, tc.want, tc.msg)
			}
			if err != nil && !errors.Is(err, fleet.ErrNotWiped) {
				t.Errorf("Gate: %v does not say the gate is closed", err)
			}
			// Whatever the way in, a device the gate refuses is not made ready.
			if _, err := f.SetState(fleet.Principal{Name: "root", Role: fleet.RoleAdmin}, a.id, fleet.StateReady, "force"); (err == nil) != (tc.want == nil) {
				t.Errorf("SetState ready: %v", err)
			}
			if tc.want == nil {
				return
			}
			switch tc.name {
			case "other machine", "other disk", "device key not the device's":
				// The re-enrolment brings the real fingerprint and key
				// back; the spoiled ones were the test's.
				return
			}
			en, err := f.Enroll(wire.EnrollRequest{Token: secret, Fingerprint: wire.FingerprintOf(&a.inv), Inventory: a.inv, DeviceKey: a.pub(), ProvisionJob: pj.ID})
			if err != nil {
				t.Fatal(err)
			}
			if en.Device.State == fleet.StateReady {
				t.Fatalf("re-enrolment made the device ready with the gate closed")
			}
			pj, _ = f.ProvisionJob(pj.ID)
			if pj.State != fleet.JobFailed || !strings.Contains(pj.Error, "re-enrolled, but") {
				t.Errorf("provisioning job: %s %q", pj.State, pj.Error)
			}
		})
	}
}

func setDevice(t *testing.T, st *store.Store, id string, fn func(d *fleet.Device)) {
	t.Helper()
	err := st.Update(func(tx fleet.Tx) error {
		d, err := tx.Device(id)
		if err != nil {
			return err
		}
		fn(&d)
		return tx.PutDevice(d)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecordReturnClosesGate(t *testing.T) {
	e, _ := newWipeEnv(t)
	a := newAgent(t, "0a01", "S4EVNF0M1")
	e.wiped(t, a)
	forceState(t, e.st, a.id, fleet.StateOnLoan)
	e.clock.Add(time.Hour)
	d, err := e.fleet.RecordReturn(fleet.Principal{Name: "med", Role: fleet.RoleMediateur}, a.id, e.clock.Now(), "kit 07 back")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != fleet.StateNeedsWipe || !d.LastReturnedAt.Equal(e.clock.Now()) {
		t.Fatalf("after return: %s %s", d.State, d.LastReturnedAt)
	}
	if err := e.fleet.Gate(a.id); !errors.Is(err, fleet.ErrNotWiped) {
		t.Fatalf("gate after return: %v", err)
	}
	e.clock.Add(time.Hour)
	e.wiped(t, a) // a new wipe, chained to the first certificate
	if err := e.fleet.Gate(a.id); err != nil {
		t.Fatalf("gate after a new wipe: %v", err)
	}
	certs, err := e.fleet.Certificates(a.id)
	if err != nil || len(certs) != 2 {
		t.Fatalf("certificates: %v %d", err, len(certs))
	}
	if certs[0].PrevHash != certs[1].Hash {
		t.Errorf("newest certificate's prev_hash %q, want the first's hash %q", certs[0].PrevHash, certs[1].Hash)
	}
}

func TestAuditTamper(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(b *bolt.Bucket) error
		want   string
	}{
		{"untouched", func(b *bolt.Bucket) error { return nil }, ""},
		{"altered actor", func(b *bolt.Bucket) error {
			v := b.Get(be64(3))
			return b.Put(be64(3), []byte(strings.Replace(string(v), `"actor":"tech"`, `"actor":"someone"`, 1)))
		}, "event 3 was altered"},
		{"altered reason, hash recomputed", func(b *bolt.Bucket) error {
			var e fleet.AuditEvent
			if err := jsonUnmarshal(b.Get(be64(2)), &e); err != nil {
				return err
			}
			e.Reason = "rewritten"
			e.Hash, _ = e.ComputeHash()
			return b.Put(be64(2), jsonMarshal(e))
		}, "event 3 does not follow event 2"},
		{"bytes garbled", func(b *bolt.Bucket) error {
			v := b.Get(be64(4))
			return b.Put(be64(4), v[:len(v)/2])
		}, "event 4 was altered"},
		{"removed", func(b *bolt.Bucket) error { return b.Delete(be64(2)) }, "event 2 is missing"},
		{"newest removed", func(b *bolt.Bucket) error {
			k, _ := b.Cursor().Last()
			return b.Delete(k)
		}, "were removed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "valise.db")
			st, err := store.Open(path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, key, _ := ed25519.GenerateKey(nil)
			c := &clock{t: time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)}
			f, err := fleet.New(fleet.Config{Store: st, Now: c.Now, ServerKey: key})
			if err != nil {
				t.Fatal(err)
			}
			e := &env{st: st, fleet: f, clock: c}
			a := newAgent(t, "0a01", "S4EVNF0M1")
			e.wiped(t, a) // enrol, wipe_requested, state, certificate, wipe_succeeded, state
			rep, err := f.VerifyAudit()
			if err != nil || rep.Events < 6 {
				t.Fatalf("before tampering: %v, %d events", err, rep.Events)
			}
			st.Close()

			db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error { return tc.tamper(tx.Bucket([]byte("audit"))) }); err != nil {
				t.Fatal(err)
			}
			db.Close()

			st, err = store.Open(path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			f, _ = fleet.New(fleet.Config{Store: st, Now: c.Now, ServerKey: key})
			_, err = f.VerifyAudit()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("untouched log: %v", err)
				}
				return
			}
			if !errors.Is(err, fleet.ErrAuditBroken) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("VerifyAudit: %v, want %q", err, tc.want)
			}
		})
	}
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func jsonMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
