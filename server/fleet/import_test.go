package fleet_test

import (
	"crypto/ed25519"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/server/fleet"
)

func TestImportNwipe(t *testing.T) {
	logs := "../../internal/certificate/testdata/"
	tests := []struct {
		name, log, disk string
		want            error
		msg             string
	}{
		{"matching serial", "nwipe-zero.log", "VALTEST-LOOP0", nil, ""},
		{"other serial", "nwipe-zero.log", "S4EVNF0M1", fleet.ErrInvalid, "disk serial does not match"},
		{"log without serials", "nwipe-zero-noserial.log", "VALTEST-LOOP0", fleet.ErrInvalid, "disk serial does not match"},
		{"failed wipe", "nwipe-fail.log", "", fleet.ErrInvalid, "does not show a completed, verified wipe"},
		{"not a log", "", "VALTEST-LOOP0", fleet.ErrInvalid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte("hello, this is not nwipe\n")
			if tc.log != "" {
				var err error
				if raw, err = os.ReadFile(logs + tc.log); err != nil {
					t.Fatal(err)
				}
			}
			disk := tc.disk
			if disk == "" {
				disk = firstSerial(t, raw)
			}
			e, key := newWipeEnv(t)
			a := newAgent(t, "0a01", disk)
			if _, err := e.enrolAgent(t, a, e.token(t, "laptop", 1), ""); err != nil {
				t.Fatal(err)
			}
			if _, err := e.fleet.ImportNwipe(fleet.Principal{Name: "m", Role: fleet.RoleMediateur}, a.id, raw); !errors.Is(err, fleet.ErrForbidden) {
				t.Fatalf("as a mediateur: %v", err)
			}
			rec, err := e.fleet.ImportNwipe(technician, a.id, raw)
			if !errors.Is(err, tc.want) || (err != nil && !strings.Contains(err.Error(), tc.msg)) {
				t.Fatalf("import: %v, want %v with %q", err, tc.want, tc.msg)
			}
			if tc.want != nil {
				if got := e.state(t, a.id); got != fleet.StateIntake {
					t.Errorf("state %s after a refused import", got)
				}
				return
			}
			if !rec.External || e.state(t, a.id) != fleet.StateWiped {
				t.Fatalf("record %+v, state %s", rec, e.state(t, a.id))
			}
			_, file, err := e.fleet.Certificate(rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			pub := key.Public().(ed25519.PublicKey)
			c, _, err := certificate.Verify(file, certificate.VerifyOptions{ServerKey: pub, DeviceKey: pub})
			if err != nil || c.External == nil || c.External.ImportedBy != "tech" {
				t.Fatalf("imported certificate: %v %+v", err, c.External)
			}
			if err := e.fleet.Gate(a.id); err != nil {
				t.Errorf("gate after import: %v", err)
			}
			if _, err := e.fleet.ImportNwipe(technician, a.id, raw); !errors.Is(err, fleet.ErrInvalid) {
				t.Errorf("the same log twice: %v", err)
			}
		})
	}
}

// firstSerial returns the serial nwipe logged for the first drive.
func firstSerial(t *testing.T, raw []byte) string {
	t.Helper()
	log, err := certificate.ParseNwipeLog(strings.NewReader(string(raw)))
	if err != nil || len(log.Drives) == 0 || log.Drives[0].Serial == "" {
		t.Fatalf("recorded log: %v", err)
	}
	return log.Drives[0].Serial
}
