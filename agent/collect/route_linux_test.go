package collect

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultRoute(t *testing.T) {
	const hdr = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	const lo6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
	tests := []struct {
		name           string
		route, ipv6    string
		wantIf, wantGW string
	}{
		{"lowest metric wins", hdr +
			"wlp2s0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
			"enp0s31f6\t00000000\t FE00000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
			"enp0s31f6\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n", "", "enp0s31f6", "10.0.0.254"},
		{"route that is down is ignored", hdr +
			"eth0\t00000000\t0101A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n", "", "", ""},
		{"IPv6 only", hdr, lo6 +
			"00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe80000000000000022433fffe6d1a2b 00000400 00000003 00000000 00450003   wlp2s0\n" +
			"2a010cb0800000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000258 00000001 00000000 00000001   wlp2s0\n",
			"wlp2s0", "fe80::224:33ff:fe6d:1a2b"},
		{"no route at all", hdr, lo6, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p4, p6 := filepath.Join(dir, "route"), filepath.Join(dir, "ipv6_route")
			if err := os.WriteFile(p4, []byte(tt.route), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p6, []byte(tt.ipv6), 0o644); err != nil {
				t.Fatal(err)
			}
			iface, gw, err := defaultRoute4(p4)
			if err != nil {
				t.Fatal(err)
			}
			if iface == "" {
				iface, gw = defaultRoute6(p6)
			}
			if iface != tt.wantIf || gw != tt.wantGW {
				t.Errorf("default route = %q via %q, want %q via %q", iface, gw, tt.wantIf, tt.wantGW)
			}
		})
	}
}
