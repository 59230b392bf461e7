package wipe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// writeTree writes files (path -> content) under a new root dir; a
// content ending in "/" makes a dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// laptopTree is a laptop with an NVMe disk: EFI partition, LUKS root
// (dm-0) and swap, plus a USB stick and a loop device.
var laptopTree = map[string]string{
	"sys/block/nvme0n1/size":                   "1000215216\n",
	"sys/block/nvme0n1/removable":              "0\n",
	"sys/block/nvme0n1/queue/rotational":       "0\n",
	"sys/block/nvme0n1/device/model":           "Samsung SSD 970 EVO Plus 500GB\n",
	"sys/block/nvme0n1/device/serial":          "S4EWNX0N123456\n",
	"sys/block/nvme0n1/device/firmware_rev":    "2B2QEXM7\n",
	"sys/block/nvme0n1/dev":                    "259:0\n",
	"sys/block/nvme0n1/nvme0n1p1/partition":    "1\n",
	"sys/block/nvme0n1/nvme0n1p1/dev":          "259:1\n",
	"sys/block/nvme0n1/nvme0n1p2/partition":    "2\n",
	"sys/block/nvme0n1/nvme0n1p2/dev":          "259:2\n",
	"sys/block/nvme0n1/nvme0n1p2/holders/dm-0": "",
	"sys/block/nvme0n1/nvme0n1p3/partition":    "3\n",
	"sys/block/nvme0n1/nvme0n1p3/dev":          "259:3\n",
	"sys/block/dm-0/dm/name":                   "nvme0n1p2_crypt\n",
	"sys/block/dm-0/dev":                       "254:0\n",
	"sys/block/sda/size":                       "60062500\n",
	"sys/block/sda/removable":                  "1\n",
	"sys/block/sda/queue/rotational":           "1\n",
	"sys/block/sda/device/model":               "Flash Disk\n",
	"sys/block/sda/sda1/partition":             "1\n",
	"sys/block/sdb/size":                       "976773168\n",
	"sys/block/sdb/removable":                  "0\n",
	"sys/block/sdb/queue/rotational":           "1\n",
	"sys/block/sdb/device/model":               "WDC WD5000LPCX-2\n",
	"sys/block/sdb/device/rev":                 "1A01\n",
	"sys/block/sdb/device/vpd_pg80":            "\x00\x80\x00\x0fWD-WX81A12B3456",
	"sys/block/sdb/sdb1/partition":             "1\n",
	"sys/block/loop0/size":                     "131072\n",
	"sys/block/loop0/removable":                "0\n",
	"sys/block/mmcblk0boot0/size":              "8192\n",
	"sys/class/block/nvme0n1p2/partition":      "2\n",
	"proc/mounts": "sysfs /sys sysfs rw,nosuid 0 0\n" +
		"/dev/mapper/nvme0n1p2_crypt / ext4 rw,relatime 0 0\n" +
		"/dev/nvme0n1p1 /boot/efi vfat rw 0 0\n" +
		"/dev/sdb1 /media/technicien/Mes\\040Documents ext4 rw 0 0\n" +
		"tmpfs /run tmpfs rw 0 0\n",
	"proc/swaps": "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/nvme0n1p3                          partition\t8388604\t\t0\t\t-2\n",
}

func TestMounts(t *testing.T) {
	root := writeTree(t, laptopTree)
	tests := []struct {
		disk      string
		want      []string
		holdsRoot bool
	}{
		{"nvme0n1", []string{"/dev/mapper/nvme0n1p2_crypt on /", "/dev/nvme0n1p1 on /boot/efi", "swap /dev/nvme0n1p3"}, true},
		{"sdb", []string{"/dev/sdb1 on /media/technicien/Mes Documents"}, false},
		{"sda", nil, false},
		{"loop0", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.disk, func(t *testing.T) {
			got, holdsRoot := mounts(root, tt.disk)
			if diff := cmp.Diff(tt.want, got); diff != "" || holdsRoot != tt.holdsRoot {
				t.Errorf("mounts (-want +got):\n%s\nholds root %v, want %v", diff, holdsRoot, tt.holdsRoot)
			}
		})
	}
}

func TestInternalDisks(t *testing.T) {
	root := writeTree(t, laptopTree)
	got, err := InternalDisks(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []Disk{
		{Path: "/dev/nvme0n1", Name: "nvme0n1", Model: "Samsung SSD 970 EVO Plus 500GB", Serial: "S4EWNX0N123456", Firmware: "2B2QEXM7", Type: wire.DiskNVMe, Size: 1000215216 * 512},
		{Path: "/dev/sdb", Name: "sdb", Model: "WDC WD5000LPCX-2", Serial: "WD-WX81A12B3456", Firmware: "1A01", Type: wire.DiskHDD, Size: 976773168 * 512, Rotational: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("InternalDisks (-want +got):\n%s", diff)
	}
}

func TestCheckSafe(t *testing.T) {
	disk := Disk{Name: "sdb", Path: "/dev/sdb"}
	usb := Disk{Name: "sdc", Path: "/dev/sdc", Removable: true}
	tests := []struct {
		name                        string
		p                           Probe
		allowRemovable, maintenance bool
		ok                          bool
	}{
		{"idle internal disk", Probe{Disk: disk}, false, false, true},
		{"holds root", Probe{Disk: disk, HoldsRoot: true, Mounted: []string{"/dev/sdb2 on /"}}, false, false, false},
		{"holds root in maintenance", Probe{Disk: disk, HoldsRoot: true, Mounted: []string{"/dev/sdb2 on /"}}, true, true, false},
		{"mounted", Probe{Disk: disk, Mounted: []string{"/dev/sdb1 on /home"}}, false, false, false},
		{"mounted in maintenance", Probe{Disk: disk, Mounted: []string{"/dev/sdb1 on /media/x"}}, false, true, true},
		{"removable", Probe{Disk: usb}, false, false, false},
		{"removable in maintenance", Probe{Disk: usb}, false, true, false},
		{"removable allowed", Probe{Disk: usb}, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSafe(tt.p, tt.allowRemovable, tt.maintenance)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrUnsafe)) {
				t.Fatalf("CheckSafe: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestWipeRefusesOtherFiles(t *testing.T) {
	tests := []struct {
		name string
		path string
		kind error
	}{
		{"char device", "/dev/null", ErrUnsafe},
		{"directory", t.TempDir(), ErrUnsafe},
		{"missing", filepath.Join(t.TempDir(), "nothing"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Wipe(context.Background(), tt.path, Options{Now: fixedNow})
			if err == nil || (tt.kind != nil && !errors.Is(err, tt.kind)) {
				t.Fatalf("Wipe(%s): %v, want %v", tt.path, err, tt.kind)
			}
			if m.Result != certificate.ResultFailed || m.Error == "" || m.Verification.Result != VerifyNotDone {
				t.Errorf("record %+v, want failed and not verified", m)
			}
		})
	}
}

// loopTree is a fake root describing a real loop device dev the test
// created, with extra files (proc/mounts…).
func loopTree(t *testing.T, dev string, extra map[string]string) string {
	t.Helper()
	name := filepath.Base(dev)
	files := map[string]string{
		"sys/block/" + name + "/size":      "131072\n",
		"sys/block/" + name + "/removable": "0\n",
		"proc/mounts":                      "",
	}
	for k, v := range extra {
		files[strings.ReplaceAll(k, "LOOP", name)] = strings.ReplaceAll(v, "LOOP", name)
	}
	return writeTree(t, files)
}

func TestWipeLoopDevice(t *testing.T) {
	dev, backing := loopDevice(t, 64<<20)
	before := readDevice(t, backing)
	m, err := Wipe(context.Background(), dev, Options{Method: wire.MethodAuto, Now: fixedNow})
	if err != nil {
		t.Fatalf("Wipe %s: %v", dev, err)
	}
	if m.Method != wire.MethodOverwrite || m.Result != certificate.ResultSucceeded || m.Verification.Result != VerifyPassed ||
		m.Verification.BytesChecked != 64<<20 || m.Name != filepath.Base(dev) || m.Type != wire.DiskVirtual || m.CapacityBytes != 64<<20 {
		t.Fatalf("record %+v", m)
	}
	after := readDevice(t, dev)
	if len(after) != len(before) {
		t.Fatalf("read %d bytes of %s, want %d", len(after), dev, len(before))
	}
	checkPattern(t, after, PatternZeros, "")
	checkPattern(t, readDevice(t, backing), PatternZeros, "")
}

func TestWipeLoopSafety(t *testing.T) {
	needLoop(t)
	tests := []struct {
		name  string
		extra map[string]string
		opts  Options
		ok    bool
	}{
		{"root on it", map[string]string{"proc/mounts": "/dev/LOOP / ext4 rw 0 0\n"}, Options{}, false},
		{"root on it in maintenance", map[string]string{"proc/mounts": "/dev/LOOP / ext4 rw 0 0\n"}, Options{Maintenance: true, AllowRemovable: true}, false},
		{"root on a dm device over it", map[string]string{"sys/block/LOOP/holders/dm-3": "", "sys/block/dm-3/dm/name": "vg-root", "proc/mounts": "/dev/mapper/vg-root / ext4 rw 0 0\n"}, Options{}, false},
		{"a partition mounted", map[string]string{"sys/block/LOOP/LOOPp1/partition": "1", "proc/mounts": "/dev/LOOPp1 /home ext4 rw 0 0\n"}, Options{}, false},
		{"in swap", map[string]string{"proc/swaps": "Filename Type Size Used Priority\n/dev/LOOP partition 100 0 -2\n"}, Options{}, false},
		{"removable", map[string]string{"sys/block/LOOP/removable": "1\n"}, Options{}, false},
		{"removable allowed", map[string]string{"sys/block/LOOP/removable": "1\n"}, Options{AllowRemovable: true}, true},
		{"idle", nil, Options{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, backing := loopDevice(t, 4<<20)
			before := readDevice(t, backing)
			o := tt.opts
			o.Root = loopTree(t, dev, tt.extra)
			o.Now = fixedNow
			m, err := Wipe(context.Background(), dev, o)
			if tt.ok {
				if err != nil {
					t.Fatalf("Wipe: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnsafe) || m.Result != certificate.ResultFailed {
				t.Fatalf("Wipe: %v, record %+v: want refused", err, m)
			}
			if firstDiff(before, readDevice(t, backing)) != -1 {
				t.Fatal("a refused wipe changed the disk")
			}
		})
	}
}

func TestWipeMountedLoopRefused(t *testing.T) {
	dev, _ := loopDevice(t, 64<<20)
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("needs mkfs.ext4")
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", dev, dir).CombinedOutput(); err != nil {
		t.Skipf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	if err := os.WriteFile(filepath.Join(dir, "usager.txt"), []byte("données"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := ProbeDisk(context.Background(), dev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Mounted) != 1 || !strings.Contains(p.Mounted[0], dir) {
		t.Errorf("probe says mounted %q, want %s", p.Mounted, dir)
	}
	m, err := Wipe(context.Background(), dev, Options{Now: fixedNow})
	if !errors.Is(err, ErrUnsafe) || m.Result != certificate.ResultFailed {
		t.Fatalf("Wipe of a mounted disk: %v, %+v", err, m)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "usager.txt")); err != nil || string(b) != "données" {
		t.Fatalf("the mounted filesystem changed: %q, %v", b, err)
	}
}

func TestDiscardLoop(t *testing.T) {
	dev, _ := loopDevice(t, 16<<20)
	if _, err := exec.LookPath("blkdiscard"); err != nil {
		t.Skip("needs blkdiscard")
	}
	m, err := Wipe(context.Background(), dev, Options{Method: wire.MethodDiscard, Verify: wire.VerifySample, Now: fixedNow})
	if err != nil {
		t.Fatalf("Wipe: %v (%+v)", err, m)
	}
	if m.Category != certificate.CategoryNone || m.Result != certificate.ResultSucceeded || m.Verification.Result != VerifyPassed {
		t.Errorf("record %+v: want succeeded, verified, category none", m)
	}
	if len(m.Commands) == 0 || !strings.HasPrefix(m.Commands[len(m.Commands)-1].Command, "blkdiscard") {
		t.Errorf("commands %+v, want blkdiscard", m.Commands)
	}
	checkPattern(t, readDevice(t, dev), PatternZeros, "")
}

func TestLUKSLoop(t *testing.T) {
	dev, _ := loopDevice(t, 32<<20)
	if _, err := exec.LookPath("cryptsetup"); err != nil {
		t.Skip("needs cryptsetup")
	}
	key := filepath.Join(t.TempDir(), "key")
	os.WriteFile(key, []byte("mot de passe de test"), 0o600)
	if out, err := exec.Command("cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
		"--pbkdf-force-iterations", "1000", "--key-file", key, dev).CombinedOutput(); err != nil {
		t.Skipf("luksFormat: %v: %s", err, out)
	}
	p, err := ProbeDisk(context.Background(), dev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.LUKS || p.Methods[0] != wire.MethodLUKS {
		t.Fatalf("probe %+v: want LUKS first", p)
	}
	m, err := Wipe(context.Background(), dev, Options{Now: fixedNow})
	if err != nil {
		t.Fatalf("Wipe: %v (%+v)", err, m)
	}
	if m.Method != wire.MethodLUKS || m.Category != certificate.CategoryPurge || m.Verification.Result != VerifyPassed {
		t.Errorf("record %+v", m)
	}
	out, _ := exec.Command("cryptsetup", "luksDump", dev).CombinedOutput()
	if n := LUKSKeySlots(string(out)); n != 0 {
		t.Errorf("%d key slots left:\n%s", n, out)
	}
	if out, err := exec.Command("cryptsetup", "open", "--test-passphrase", "--key-file", key, dev).CombinedOutput(); err == nil {
		t.Errorf("the old key still opens the volume: %s", out)
	}
}

// TestRunningRootRefused probes (read-only, never wipes) the disk this
// machine runs from and checks it would be refused, in maintenance mode
// too.
func TestRunningRootRefused(t *testing.T) {
	dev, ok := rootDev()
	if !ok {
		t.Skip("no root device number on this platform")
	}
	link, err := filepath.EvalSymlinks("/sys/dev/block/" + dev)
	if err != nil {
		t.Skipf("root %s is not on a block device (overlay, network…): %v", dev, err)
	}
	disk := filepath.Base(link)
	if _, err := os.Stat(filepath.Join(link, "partition")); err == nil {
		disk = filepath.Base(filepath.Dir(link))
	}
	path := "/dev/" + disk
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no %s: %v", path, err)
	}
	p, err := ProbeDisk(context.Background(), path, Options{})
	if err != nil {
		t.Skipf("probe %s: %v", path, err)
	}
	if !p.HoldsRoot {
		t.Fatalf("probe of %s (root device %s) does not see the root: %+v", path, dev, p)
	}
	if err := CheckSafe(p, true, true); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("CheckSafe of the running root's disk: %v", err)
	}
}
