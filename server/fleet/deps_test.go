package fleet_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoIO keeps the domain free of I/O packages, as the design says.
func TestNoIO(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/valise-numerique/valise/server/fleet").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/valise-numerique/valise/server/fleet" {
			continue
		}
		for _, banned := range []string{"net/http", "go.etcd.io/bbolt", "github.com/mochi-mqtt/", "github.com/eclipse/paho", "github.com/valise-numerique/valise/server/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("server/fleet depends on %s", dep)
			}
		}
	}
}
