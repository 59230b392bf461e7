package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/<case>/golden.json")

// report is what a golden file holds.
type report struct {
	Inventory wire.Inventory `json:"inventory"`
	Health    wire.Health    `json:"health"`
	Net       wire.Net       `json:"net"`
}

// fixtures lists the recorded devices under testdata.
func fixtures(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	for _, e := range entries {
		if e.IsDir() {
			cases = append(cases, e.Name())
		}
	}
	if len(cases) < 5 {
		t.Fatalf("found %d fixtures in testdata, want at least 5", len(cases))
	}
	return cases
}

// newFixture returns a Collector reading testdata/<name>, and cfg's other
// fields.
func newFixture(t testing.TB, name string, cfg Config) *Collector {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Root = root
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// collectAll runs the three collections with durations zeroed, so that the
// result only depends on the fixture.
func collectAll(t testing.TB, c *Collector) report {
	t.Helper()
	ctx := context.Background()
	r := report{Inventory: c.Inventory(ctx), Health: c.Health(ctx), Net: c.Net(ctx)}
	for _, runs := range [][]wire.CollectorRun{r.Inventory.Collectors, r.Health.Collectors, r.Net.Collectors} {
		for i := range runs {
			runs[i].DurationMS = 0
		}
	}
	r.Inventory.OS.Arch = "" // the architecture of the machine running the test
	return r
}

func TestGolden(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			got := collectAll(t, newFixture(t, name, Config{}))
			b, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, '\n')
			path := filepath.Join("testdata", name, "golden.json")
			if *update {
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(b)); diff != "" {
				t.Errorf("report differs from %s (-want +got):\n%s", path, diff)
			}
			// Every payload must pass the server's validation.
			for kind, body := range map[wire.Channel]any{wire.ChanInventory: got.Inventory, wire.ChanHealth: got.Health, wire.ChanNet: got.Net} {
				assertValid(t, kind, body)
			}
		})
	}
}

// assertValid checks that body would be accepted by the server's decoder.
func assertValid(t *testing.T, kind wire.Channel, body any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.DecodeBody(kind, b); err != nil {
		t.Errorf("%s body refused by wire.DecodeBody: %v", kind, err)
	}
}

// collectorError returns the error recorded for a collector, and whether it ran.
func collectorError(runs []wire.CollectorRun, name string) (string, bool) {
	for _, r := range runs {
		if r.Name == name {
			return r.Error, true
		}
	}
	return "", false
}

func TestKeyFigures(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int64) *int64 { return &v }
	tests := []struct {
		name  string
		check func(t *testing.T, r report)
	}{
		{"laptop-worn-battery", func(t *testing.T, r report) {
			if r.Inventory.Class != wire.ClassLaptop {
				t.Errorf("class = %q, want laptop", r.Inventory.Class)
			}
			if len(r.Health.Batteries) != 1 {
				t.Fatalf("batteries = %d, want 1", len(r.Health.Batteries))
			}
			b := r.Health.Batteries[0]
			// 15.10 Wh left of 23.48 Wh designed.
			if diff := cmp.Diff(f(64.3), b.HealthPercent); diff != "" {
				t.Errorf("battery health (-want +got):\n%s", diff)
			}
			if b.CycleCount == nil || *b.CycleCount != 743 || b.ChargePercent == nil || *b.ChargePercent != 58 {
				t.Errorf("battery cycles/charge = %v/%v, want 743/58", b.CycleCount, b.ChargePercent)
			}
			d := r.Inventory.Disks
			if len(d) != 1 || d[0].Type != wire.DiskSSD || d[0].Bus != "sata" || d[0].Model != "Samsung SSD 860 EVO 250GB" || d[0].Serial != "S3YJNB0K512345A" {
				t.Errorf("disks = %+v, want one SATA SSD Samsung SSD 860 EVO 250GB S3YJNB0K512345A (loop and zram skipped)", d)
			}
			if w := r.Net.WiFi; w == nil || w.SSID != "Mediatheque-Publique" || w.SignalDBm == nil || *w.SignalDBm != -62 {
				t.Errorf("wifi = %+v, want Mediatheque-Publique at -62 dBm", w)
			}
			if r.Net.DefaultRoute != "wlp4s0" || r.Net.Gateway != "192.168.1.1" {
				t.Errorf("default route = %s via %s, want wlp4s0 via 192.168.1.1", r.Net.DefaultRoute, r.Net.Gateway)
			}
			fp := wire.FingerprintOf(&r.Inventory)
			want := wire.Fingerprint{
				UUID: "3f1a9c82-2b1d-11b2-a85c-9d7e3c1b2a47", SystemSerial: "PF0ZQ8XM", BaseboardSerial: "L1HF79S00AB",
				MACs: []string{"54:e1:ad:3c:9f:21", "7c:2a:31:8e:44:b0"}, DiskSerials: []string{"S3YJNB0K512345A"},
			}
			if diff := cmp.Diff(want, fp); diff != "" {
				t.Errorf("fingerprint (-want +got):\n%s", diff)
			}
		}},
		{"desktop-hdd-reallocated", func(t *testing.T, r report) {
			if r.Inventory.Class != wire.ClassOther || len(r.Inventory.Batteries) != 0 || len(r.Health.Batteries) != 0 {
				t.Errorf("class %q with %d batteries, want other without battery", r.Inventory.Class, len(r.Health.Batteries))
			}
			if len(r.Health.Disks) != 1 {
				t.Fatalf("SMART disks = %d, want 1 (the optical drive is not a disk)", len(r.Health.Disks))
			}
			d := r.Health.Disks[0]
			want := wire.DiskHealth{
				Name: "sda", Model: "WDC WD5000AAKX-08U6AA0", Serial: "WD-WCC2EKH12345", SmartAvailable: true,
				Passed: new(bool), PowerOnHours: i(38112), PowerCycles: i(6498),
				ReallocatedSectors: i(48), PendingSectors: i(8), OfflineUncorrectable: i(2),
				TemperatureC: f(37), SmartctlExitStatus: 64,
			}
			*want.Passed = true
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("SMART of the worn HDD (-want +got):\n%s", diff)
			}
			m := r.Inventory.Memory
			if m.TotalBytes != 16<<30 || len(m.Modules) != 2 || m.Modules[0].Type != "DDR4" || m.Modules[0].SpeedMTs != 2400 {
				t.Errorf("memory = %+v, want 16 GiB in two DDR4-2400 modules", m)
			}
			for _, n := range r.Inventory.NICs {
				if strings.HasPrefix(n.Name, "veth") {
					t.Errorf("container interface %s listed in the inventory", n.Name)
				}
			}
			if fs := r.Health.Filesystems; len(fs) != 1 || fs[0].Mountpoint != "/" || fs[0].UsedPercent != 92.2 {
				t.Errorf("filesystems = %+v, want / only (bind mount folded) at 92.2 %%", fs)
			}
		}},
		{"laptop-nvme", func(t *testing.T, r report) {
			d := r.Health.Disks
			if len(d) != 1 {
				t.Fatalf("SMART disks = %d, want 1", len(d))
			}
			if diff := cmp.Diff([]*int64{i(7), i(0), i(100), i(0), i(4213)}, []*int64{d[0].PercentageUsed, d[0].MediaErrors, d[0].AvailableSpare, d[0].CriticalWarning, d[0].PowerOnHours}); diff != "" {
				t.Errorf("NVMe percentage used, media errors, spare, critical warning, hours (-want +got):\n%s", diff)
			}
			if inv := r.Inventory.Disks; len(inv) != 1 || inv[0].Type != wire.DiskNVMe || inv[0].Serial != "S4DXNX0N123456" || inv[0].Model != "SAMSUNG MZVLB256HBHQ-000H1" {
				t.Errorf("disks = %+v, want one NVMe S4DXNX0N123456", inv)
			}
			// The battery reports charge, not energy: 3869 of 4155 mAh.
			if b := r.Health.Batteries; len(b) != 1 || b[0].HealthPercent == nil || *b[0].HealthPercent != 93.1 {
				t.Errorf("batteries = %+v, want health 93.1 %%", b)
			}
			for _, fs := range r.Health.Filesystems {
				if fs.FSType == "squashfs" {
					t.Errorf("snap squashfs %s reported as a filesystem", fs.Mountpoint)
				}
			}
		}},
		{"minipc-placeholder-sata-ssd", func(t *testing.T, r report) {
			if r.Inventory.System.Serial != "Default string" || r.Inventory.System.UUID != "03000200-0400-0500-0006-000700080009" {
				t.Errorf("system = %+v, want the firmware's placeholders reported as they are", r.Inventory.System)
			}
			fp := wire.FingerprintOf(&r.Inventory)
			want := wire.Fingerprint{MACs: []string{"00:e0:4c:68:12:a7"}, DiskSerials: []string{"50026B7782A1B2C3"}}
			if diff := cmp.Diff(want, fp); diff != "" {
				t.Errorf("fingerprint keeps placeholders or the USB stick (-want +got):\n%s", diff)
			}
			if d := r.Inventory.Disks; len(d) != 2 || d[0].Bus != "sata" || d[0].Type != wire.DiskSSD || !d[1].Removable || d[1].Bus != "usb" {
				t.Errorf("disks = %+v, want a SATA SSD and a removable USB stick", d)
			}
			if len(r.Health.Disks) != 1 || r.Health.Disks[0].ReallocatedSectors != nil || r.Health.Disks[0].ReportedUncorrect == nil {
				t.Errorf("SMART = %+v, want the SSD only, without attribute 5 (the A400 has none)", r.Health.Disks)
			}
		}},
		{"laptop-4g-usb-modem", func(t *testing.T, r report) {
			if len(r.Net.Cellular) != 1 {
				t.Fatalf("cellular = %d modems, want 1", len(r.Net.Cellular))
			}
			want := wire.Cellular{
				Modem: "3", Manufacturer: "QUALCOMM INCORPORATED", Model: "QUECTEL Mobile Broadband Module",
				IMEI: "867962041294151", ICCID: "8933014219012345678", State: "connected", Operator: "Orange F",
				OperatorCode: "20801", AccessTech: "lte", SignalPercent: f(72),
				RSSI: f(-67), RSRP: f(-97), RSRQ: f(-11), SINR: f(9.2), RxBytes: 2811402233, TxBytes: 311928004,
			}
			if diff := cmp.Diff(want, r.Net.Cellular[0]); diff != "" {
				t.Errorf("cellular (-want +got):\n%s", diff)
			}
			if r.Net.DefaultRoute != "wwan0" || r.Net.Gateway != "" {
				t.Errorf("default route = %q via %q, want wwan0 without gateway", r.Net.DefaultRoute, r.Net.Gateway)
			}
			if m := r.Inventory.Modems; len(m) != 1 || m[0].IMEI != "867962041294151" || m[0].Firmware != "EC25EFAR06A06M4G" {
				t.Errorf("modems = %+v", m)
			}
			// The Wi-Fi MAC was set by software (addr_assign_type 3): the
			// fingerprint holds the permanent one ethtool reports. The USB
			// modem's interface is left out.
			fp := wire.FingerprintOf(&r.Inventory)
			if diff := cmp.Diff([]string{"867962041294151"}, fp.IMEIs); diff != "" {
				t.Errorf("fingerprint IMEIs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"98:e7:43:0a:11:2c", "a4:34:d9:12:7c:51"}, fp.MACs); diff != "" {
				t.Errorf("fingerprint MACs (-want +got):\n%s", diff)
			}
			d := r.Health.Disks
			if len(d) != 1 || d[0].Error != "Smartctl open device: /dev/sda failed: Permission denied" || d[0].SmartAvailable || d[0].SmartctlExitStatus != 2 {
				t.Errorf("SMART = %+v, want the permission error on the disk", d)
			}
			if msg, _ := collectorError(r.Health.Collectors, "smart"); msg != "" {
				t.Errorf("smart collector error %q: an unreadable disk is not a collector failure", msg)
			}
			if w := r.Net.WiFi; w == nil || w.Interface != "wlp2s0" || w.SSID != "" {
				t.Errorf("wifi = %+v, want wlp2s0 not connected", w)
			}
		}},
		{"openwrt-4g-hotspot", func(t *testing.T, r report) {
			inv := r.Inventory
			if inv.Class != wire.ClassHotspot || inv.System.Model != "GL.iNet GL-X750" || inv.CPU.Model != "MIPS 24Kc V7.4" || inv.CPU.Threads != 1 {
				t.Errorf("class %q, model %q, cpu %+v: want a GL-X750 hotspot with one MIPS core", inv.Class, inv.System.Model, inv.CPU)
			}
			if msg, _ := collectorError(inv.Collectors, "dmi"); msg != "" {
				t.Errorf("dmi error %q: a board without SMBIOS has its device tree model", msg)
			}
			fp := wire.FingerprintOf(&inv)
			want := wire.Fingerprint{MACs: []string{"94:83:c4:05:1a:2e", "94:83:c4:05:1a:30"}, IMEIs: []string{"862636051234560"}}
			if diff := cmp.Diff(want, fp); diff != "" {
				t.Errorf("fingerprint (-want +got):\n%s", diff)
			}
			if fs := r.Health.Filesystems; len(fs) != 1 || fs[0].Mountpoint != "/overlay" || fs[0].FSType != "jffs2" {
				t.Errorf("filesystems = %+v, want the jffs2 overlay only", fs)
			}
			c := r.Net.Cellular
			if len(c) != 1 || c[0].AccessTech != "umts,hsdpa" || c[0].RSSI == nil || *c[0].RSSI != -81 || c[0].RSRP != nil || c[0].Operator != "Free" {
				t.Errorf("cellular = %+v, want Free on UMTS/HSDPA at -81 dBm RSSI without LTE values", c)
			}
		}},
		{"live-vm", func(t *testing.T, r report) {
			// Recorded from a virtual machine: no SMBIOS, virtio disk and NIC.
			inv := r.Inventory
			if inv.Class != wire.ClassOther || inv.System != (wire.System{}) {
				t.Errorf("class %q, system %+v, want other without SMBIOS", inv.Class, inv.System)
			}
			if e, _ := collectorError(inv.Collectors, "product"); !strings.Contains(e, "no data") {
				t.Errorf("product error = %q, want no data", e)
			}
			if diff := cmp.Diff(wire.CPU{Model: "AMD EPYC", Vendor: "AuthenticAMD", Sockets: 1, Cores: 2, Threads: 2}, inv.CPU); diff != "" {
				t.Errorf("cpu (-want +got):\n%s", diff)
			}
			// 192 online memory blocks of 128 MiB: more than MemTotal.
			if inv.Memory.TotalBytes != 24<<30 {
				t.Errorf("memory = %d, want 24 GiB from /sys/devices/system/memory", inv.Memory.TotalBytes)
			}
			want := []wire.Disk{{Name: "vda", Serial: "1816631475235551", SizeBytes: 256 << 30, Type: wire.DiskVirtual, Bus: "virtio"}}
			if diff := cmp.Diff(want, inv.Disks); diff != "" {
				t.Errorf("disks (-want +got), loop and zram skipped:\n%s", diff)
			}
			if len(inv.NICs) != 3 || inv.NICs[0].Name != "eth0" || inv.NICs[0].Virtual || !inv.NICs[1].Virtual || inv.NICs[0].Driver != "virtio_net" {
				t.Errorf("nics = %+v, want eth0 (virtio_net) and two virtual ifb", inv.NICs)
			}
			if r.Net.DefaultRoute != "eth0" || len(r.Health.Filesystems) != 1 || r.Health.Filesystems[0].FSType != "ext4" {
				t.Errorf("default route %q, filesystems %+v, want eth0 and one ext4", r.Net.DefaultRoute, r.Health.Filesystems)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, collectAll(t, newFixture(t, tt.name, Config{})))
		})
	}
}

// garbageSmartctl wraps the replay of a fixture and makes smartctl print
// something that is not its JSON.
func garbageSmartctl(t *testing.T, fixture string) ExecFunc {
	t.Helper()
	replay := replayExec(filepath.Join("testdata", fixture, "cmd"))
	return func(ctx context.Context, name string, args ...string) ([]byte, error) {
		if name == "smartctl" {
			return []byte("smartctl: symbol lookup error: \x00\xff{"), nil
		}
		return replay(ctx, name, args...)
	}
}

func TestBrokenCollectorOnlyRecordsError(t *testing.T) {
	c := newFixture(t, "laptop-worn-battery", Config{Exec: garbageSmartctl(t, "laptop-worn-battery")})
	h := c.Health(context.Background())
	msg, ran := collectorError(h.Collectors, "smart")
	if !ran || !strings.Contains(msg, "not smartctl JSON") {
		t.Errorf("smart collector error = %q, want a parse error", msg)
	}
	if len(h.Disks) != 1 || h.Disks[0].Error == "" || h.Disks[0].SmartAvailable {
		t.Errorf("disks = %+v, want sda with an error", h.Disks)
	}
	if len(h.Batteries) != 1 || h.Memory == nil || len(h.Filesystems) == 0 {
		t.Errorf("the rest of the sample is missing: %+v", h)
	}
}

func TestPanicIsRecorded(t *testing.T) {
	healthCollectors["zz_panics"] = func(ctx context.Context, c *Collector, h *wire.Health) error {
		var m map[string]int
		m["boom"]++ // nil map: panics
		return nil
	}
	t.Cleanup(func() { delete(healthCollectors, "zz_panics") })
	h := newFixture(t, "laptop-nvme", Config{}).Health(context.Background())
	msg, ran := collectorError(h.Collectors, "zz_panics")
	if !ran || !strings.HasPrefix(msg, "panic: assignment to entry in nil map") {
		t.Errorf("zz_panics error = %q, want the panic", msg)
	}
	if len(h.Batteries) != 1 || len(h.Disks) != 1 {
		t.Errorf("other collectors lost: %+v", h)
	}
}

func TestInventoryHash(t *testing.T) {
	inv := newFixture(t, "laptop-nvme", Config{}).Inventory(context.Background())
	base := InventoryHash(inv)
	tests := []struct {
		name   string
		change func(inv *wire.Inventory)
		same   bool
	}{
		{"nothing", func(*wire.Inventory) {}, true},
		{"durations", func(inv *wire.Inventory) {
			for i := range inv.Collectors {
				inv.Collectors[i].DurationMS += 3.5
			}
		}, true},
		{"disk swapped", func(inv *wire.Inventory) { inv.Disks[0].Serial = "S4DXNX0N999999" }, false},
		{"collector now fails", func(inv *wire.Inventory) { inv.Collectors[0].Error = "read: permission denied" }, false},
		{"memory added", func(inv *wire.Inventory) { inv.Memory.TotalBytes *= 2 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := inv
			c.Disks = append([]wire.Disk(nil), inv.Disks...)
			c.Collectors = append([]wire.CollectorRun(nil), inv.Collectors...)
			tt.change(&c)
			if got := InventoryHash(c) == base; got != tt.same {
				t.Errorf("same hash = %v, want %v", got, tt.same)
			}
		})
	}
	if d := inv.Collectors[0].DurationMS; InventoryHash(inv) != base || inv.Collectors[0].DurationMS != d {
		t.Error("InventoryHash changed its argument")
	}
}

func TestBrokerRTT(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name    string
		addr    string
		wantRTT bool
		wantErr bool
	}{
		{"listening", ln.Addr().String(), true, false},
		{"refused", closedAddr, false, true},
		{"not configured", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFixture(t, "desktop-hdd-reallocated", Config{BrokerAddr: tt.addr}).Net(context.Background())
			if got := n.BrokerRTTMillis != nil; got != tt.wantRTT {
				t.Errorf("rtt measured = %v, want %v", got, tt.wantRTT)
			}
			if n.BrokerRTTMillis != nil && *n.BrokerRTTMillis < 0 {
				t.Errorf("rtt = %v ms", *n.BrokerRTTMillis)
			}
			if msg, _ := collectorError(n.Collectors, "broker_rtt"); (msg != "") != tt.wantErr {
				t.Errorf("broker_rtt error = %q, want error %v", msg, tt.wantErr)
			}
		})
	}
}

// TestSignalSetup checks that extended signal polling is enabled once per
// modem when ModemManager does not poll.
func TestSignalSetup(t *testing.T) {
	replay := replayExec(filepath.Join("testdata", "laptop-4g-usb-modem", "cmd"))
	var calls []string
	exec := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		calls = append(calls, name+" "+strings.Join(args, " "))
		switch strings.Join(args, " ") {
		case "-m 3 --signal-get -J":
			return []byte(`{"modem":{"signal":{"lte":{"rsrp":"--","rsrq":"--","rssi":"--","snr":"--"},"refresh":{"rate":"0"}}}}`), nil
		case "-m 3 --signal-setup=60":
			return []byte("successfully setup extended signal quality information retrieval\n"), nil
		}
		return replay(ctx, name, args...)
	}
	c := newFixture(t, "laptop-4g-usb-modem", Config{Exec: exec})
	for range 3 {
		n := c.Net(context.Background())
		if len(n.Cellular) != 1 || n.Cellular[0].RSRP != nil || n.Cellular[0].SignalPercent == nil {
			t.Fatalf("cellular = %+v, want the modem without extended signal", n.Cellular)
		}
	}
	setups := 0
	for _, call := range calls {
		if strings.Contains(call, "--signal-setup") {
			setups++
		}
	}
	if setups != 1 {
		t.Errorf("signal setup ran %d times in 3 samples, want once", setups)
	}
}

func TestRecordedName(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"smartctl", "--json", "-a", "/dev/sda"}, "smartctl_--json_-a_dev_sda"},
		{[]string{"iw", "dev", "wlp2s0", "link"}, "iw_dev_wlp2s0_link"},
		{[]string{"mmcli", "-m", "3", "--signal-get", "-J"}, "mmcli_-m_3_--signal-get_-J"},
		{[]string{"/usr/sbin/smartctl", "-a", "/dev/disk/by-id/x"}, "smartctl_-a_dev_disk_by-id_x"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := RecordedName(tt.args[0], tt.args[1:]...); got != tt.want {
				t.Errorf("RecordedName(%q) = %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}

func TestReplayMissingCommandIsMissingTool(t *testing.T) {
	run := replayExec(t.TempDir())
	_, err := run(context.Background(), "mmcli", "-L", "-J")
	if !missingTool(err) {
		t.Errorf("error %v does not count as a missing tool", err)
	}
}

func TestParseMemoryDevicesRejectsBrokenTable(t *testing.T) {
	good, err := os.ReadFile("testdata/desktop-hdd-reallocated/sys/firmware/dmi/tables/DMI")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		table   []byte
		modules int
		wantErr bool
	}{
		{"whole", good, 2, false},
		{"cut in the strings", good[:len(good)-40], 2, true},
		{"zero length", []byte{17, 0, 0, 0, 0, 0}, 0, true},
		{"empty", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mods, err := parseMemoryDevices(tt.table)
			if (err != nil) != tt.wantErr || len(mods) != tt.modules {
				t.Errorf("parse = %d modules, error %v; want %d, error %v", len(mods), err, tt.modules, tt.wantErr)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero is the live system", Config{}, ""},
		{"relative root", Config{Root: "testdata/x"}, "Root"},
		{"negative timeout", Config{CommandTimeout: -1}, "CommandTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %v, want error naming %q", err, tt.wantErr)
			}
		})
	}
}

// TestLive collects on the machine running the test: nothing may panic and
// the basics every Linux machine has must be there.
func TestLive(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inv, h, n := c.Inventory(ctx), c.Health(ctx), c.Net(ctx)
	for _, runs := range [][]wire.CollectorRun{inv.Collectors, h.Collectors, n.Collectors} {
		for _, r := range runs {
			if strings.HasPrefix(r.Error, "panic") {
				t.Errorf("collector %s: %s", r.Name, r.Error)
			}
		}
	}
	if inv.CPU.Threads == 0 || inv.Memory.TotalBytes == 0 || h.Memory == nil || h.UptimeSeconds == 0 || len(n.Interfaces) == 0 {
		t.Errorf("live collection misses basics: cpu %+v, memory %d, usage %+v, uptime %d, %d interfaces",
			inv.CPU, inv.Memory.TotalBytes, h.Memory, h.UptimeSeconds, len(n.Interfaces))
	}
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(report{inv, h, n})
	t.Logf("live report: %d bytes of JSON", buf.Len())
}

// BenchmarkCollect measures one full collection (inventory, health and
// net) of the machine running it.
func BenchmarkCollect(b *testing.B) {
	c, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Inventory(ctx)
		c.Health(ctx)
		c.Net(ctx)
	}
}

// BenchmarkCollectFixture measures a full collection of a recorded laptop
// (SMART, Wi-Fi and PCI names included, commands replayed).
func BenchmarkCollectFixture(b *testing.B) {
	c := newFixture(b, "laptop-worn-battery", Config{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Inventory(ctx)
		c.Health(ctx)
		c.Net(ctx)
	}
}

// TestConcurrentUse collects from several goroutines at once (run with
// -race): the agent's schedule and a collect_now command may overlap.
func TestConcurrentUse(t *testing.T) {
	c := newFixture(t, "laptop-4g-usb-modem", Config{})
	want := collectAll(t, c)
	var wg sync.WaitGroup
	got := make([]report, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = collectAll(t, c)
		}()
	}
	wg.Wait()
	for i, r := range got {
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("collection %d differs (-want +got):\n%s", i, diff)
		}
	}
}

func TestDeviceClass(t *testing.T) {
	tests := []struct {
		name string
		inv  wire.Inventory
		want string
	}{
		{"notebook", wire.Inventory{Chassis: wire.Chassis{Type: "10"}}, wire.ClassLaptop},
		{"convertible", wire.Inventory{Chassis: wire.Chassis{Type: "31"}}, wire.ClassLaptop},
		{"tablet chassis", wire.Inventory{Chassis: wire.Chassis{Type: "30"}}, wire.ClassTablet},
		{"android", wire.Inventory{OS: wire.OS{Name: "Android"}, Batteries: []wire.BatteryInfo{{Name: "battery"}}}, wire.ClassTablet},
		{"desktop", wire.Inventory{Chassis: wire.Chassis{Type: "3"}}, wire.ClassOther},
		{"desktop with a 4G dongle", wire.Inventory{Chassis: wire.Chassis{Type: "3"}, Modems: []wire.Modem{{}}}, wire.ClassOther},
		{"board with modem, no battery", wire.Inventory{Modems: []wire.Modem{{}}}, wire.ClassHotspot},
		{"board with modem and battery", wire.Inventory{Modems: []wire.Modem{{}}, Batteries: []wire.BatteryInfo{{}}}, wire.ClassOther},
		{"nothing known", wire.Inventory{}, wire.ClassOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := deviceClass(&tt.inv); got != tt.want {
				t.Errorf("deviceClass = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCommandExec runs real commands of the machine running the test.
func TestCommandExec(t *testing.T) {
	run := commandExec(10 * time.Second)
	ctx := context.Background()
	tests := []struct {
		name        string
		args        []string
		wantOut     string
		wantErr     bool
		wantMissing bool
	}{
		{"output", []string{"sh", "-c", "echo ok"}, "ok\n", false, false},
		{"exit status keeps output", []string{"sh", "-c", "echo partial; echo why >&2; exit 4"}, "partial\n", true, false},
		{"missing tool", []string{"valise-no-such-tool"}, "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(ctx, tt.args[0], tt.args[1:]...)
			if string(out) != tt.wantOut || (err != nil) != tt.wantErr || missingTool(err) != tt.wantMissing {
				t.Errorf("run %q = %q, %v; want %q, error %v, missing %v", tt.args, out, err, tt.wantOut, tt.wantErr, tt.wantMissing)
			}
		})
	}
	short := commandExec(50 * time.Millisecond)
	if _, err := short(ctx, "sleep", "5"); err == nil {
		t.Error("a command past its timeout did not fail")
	}
}
