package collect

import (
	"net"
	"testing"
)

// TestPermanentMAC asks the kernel of the machine running the test: every
// answer must be a MAC, and an interface that does not exist has none.
func TestPermanentMAC(t *testing.T) {
	if got := permanentMAC("nonexistent0"); got != "" {
		t.Errorf("permanentMAC(nonexistent0) = %q, want empty", got)
	}
	if got := permanentMAC("lo"); got != "" && got != "00:00:00:00:00:00" {
		t.Errorf("permanentMAC(lo) = %q", got)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		got := permanentMAC(i.Name)
		if got == "" {
			continue
		}
		if _, err := net.ParseMAC(got); err != nil {
			t.Errorf("permanentMAC(%s) = %q: %v", i.Name, got, err)
		}
		t.Logf("%s: current %s, permanent %s", i.Name, i.HardwareAddr, got)
	}
}
