package wipe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

func TestParseNVMeIDCtrl(t *testing.T) {
	tests := []struct {
		file    string
		want    NVMeController
		methods []string
	}{
		{"nvme-id-ctrl.json", NVMeController{Serial: "S4EWNX0N123456", Model: "Samsung SSD 970 EVO Plus 500GB", Firmware: "2B2QEXM7", OACS: 23, FNA: 5, SANICAP: 3},
			[]string{wire.MethodNVMeSanitizeCrypto, wire.MethodNVMeSanitizeBlock, wire.MethodNVMeFormat}},
		{"nvme-id-ctrl-no-sanitize.json", NVMeController{Serial: "2113E5A1B2C3", Model: "KBG40ZNS256G NVMe KIOXIA 256GB", Firmware: "10410104", OACS: 23},
			[]string{wire.MethodNVMeFormat}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseNVMeIDCtrl([]byte(fixture(t, tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.methods, got.Methods()); diff != "" {
				t.Errorf("methods (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := ParseNVMeIDCtrl([]byte("Error: no such device")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestParseNVMeSanitizeLog(t *testing.T) {
	tests := []struct {
		file     string
		status   int
		done, ok bool
	}{
		{"nvme-sanitize-log-v1-done.json", 1, true, true},
		{"nvme-sanitize-log-v2-running.json", 2, false, false},
		{"nvme-sanitize-log-v2-done.json", 1, true, true},
		{"nvme-sanitize-log-v2-failed.json", 3, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseNVMeSanitizeLog([]byte(fixture(t, tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.status || got.Done() != tt.done || got.OK() != tt.ok {
				t.Errorf("got %+v (done %v ok %v), want status %d done %v ok %v", got, got.Done(), got.OK(), tt.status, tt.done, tt.ok)
			}
		})
	}
	running, _ := ParseNVMeSanitizeLog([]byte(fixture(t, "nvme-sanitize-log-v2-running.json")))
	if running.Progress < 0.33 || running.Progress > 0.34 {
		t.Errorf("progress %v, want 21845/65536", running.Progress)
	}
}

func TestParseHdparm(t *testing.T) {
	ssd := ParseHdparmIdentify(fixture(t, "hdparm-I-ssd-sanitize.txt"))
	want := ATAIdentity{Model: "CT500MX500SSD1", Serial: "2042E4A1B2C3", Firmware: "M3CR033", SecuritySupported: true, EnhancedErase: true,
		Sanitize: true, CryptoScramble: true, BlockErase: true}
	if diff := cmp.Diff(want, ssd); diff != "" {
		t.Errorf("ssd (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{wire.MethodATASanitize, wire.MethodATAErase}, ssd.Methods()); diff != "" {
		t.Errorf("ssd methods (-want +got):\n%s", diff)
	}
	hdd := ParseHdparmIdentify(fixture(t, "hdparm-I-hdd-frozen.txt"))
	want = ATAIdentity{Model: "WDC WD5000LPCX-24C6HT0", Serial: "WD-WX81A12B3456", Firmware: "01.01A01", SecuritySupported: true, Frozen: true}
	if diff := cmp.Diff(want, hdd); diff != "" {
		t.Errorf("hdd (-want +got):\n%s", diff)
	}
	enabled := ParseHdparmIdentify(strings.Replace(fixture(t, "hdparm-I-ssd-sanitize.txt"), "not\tenabled", "\tenabled", 1))
	if !enabled.SecurityEnabled {
		t.Error("security enabled not seen")
	}

	if st, n := ParseHdparmHPA(fixture(t, "hdparm-N-disabled.txt")); st != StateAbsent || n != 976773168 {
		t.Errorf("HPA disabled: %s %d", st, n)
	}
	if st, n := ParseHdparmHPA(fixture(t, "hdparm-N-enabled.txt")); st != StatePresent || n != 976773168 {
		t.Errorf("HPA enabled: %s %d", st, n)
	}
	if st, _ := ParseHdparmHPA("SG_IO: bad/missing sense data"); st != StateUnknown {
		t.Errorf("HPA unreadable: %s", st)
	}
	dco := fixture(t, "hdparm-dco-identify.txt")
	if st := ParseHdparmDCO(dco, 976773168); st != StateAbsent {
		t.Errorf("DCO same size: %s", st)
	}
	if st := ParseHdparmDCO(dco, 625142448); st != StatePresent {
		t.Errorf("DCO hiding sectors: %s", st)
	}

	tests := []struct {
		file string
		want ATASanitizeState
	}{
		{"hdparm-sanitize-status-running.txt", ATASanitizeState{InProgress: true, Percent: 25}},
		{"hdparm-sanitize-status-done.txt", ATASanitizeState{Succeeded: true, Percent: 100}},
		{"hdparm-sanitize-status-failed.txt", ATASanitizeState{Failed: true}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ParseHdparmSanitizeStatus(fixture(t, tt.file))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.file, diff)
		}
	}
}

func TestLUKSKeySlots(t *testing.T) {
	tests := []struct {
		file string
		want int
	}{
		{"luks2-dump-before-erase.txt", 1},
		{"luks2-dump-after-erase.txt", 0},
		{"luks1-dump-before-erase.txt", 1},
		{"luks1-dump-after-erase.txt", 0},
	}
	for _, tt := range tests {
		if got := LUKSKeySlots(fixture(t, tt.file)); got != tt.want {
			t.Errorf("%s: %d key slots, want %d", tt.file, got, tt.want)
		}
	}
}

func TestCommandLines(t *testing.T) {
	tests := []struct {
		name string
		got  [][]string
		want []string
	}{
		{"nvme sanitize crypto", [][]string{NVMeCommand(wire.MethodNVMeSanitizeCrypto, "/dev/nvme0n1", 0)}, []string{"nvme sanitize /dev/nvme0n1 --sanact=4"}},
		{"nvme sanitize block", [][]string{NVMeCommand(wire.MethodNVMeSanitizeBlock, "/dev/nvme0n1", 0)}, []string{"nvme sanitize /dev/nvme0n1 --sanact=2"}},
		{"nvme format crypto", [][]string{NVMeCommand(wire.MethodNVMeFormat, "/dev/nvme0n1", 4)}, []string{"nvme format /dev/nvme0n1 --ses=2 --force"}},
		{"nvme format user data", [][]string{NVMeCommand(wire.MethodNVMeFormat, "/dev/nvme0n1", 0)}, []string{"nvme format /dev/nvme0n1 --ses=1 --force"}},
		{"ata enhanced erase", ATACommands(wire.MethodATAErase, "/dev/sda", "pw", true, false), []string{
			"hdparm --user-master u --security-set-pass pw /dev/sda", "hdparm --user-master u --security-erase-enhanced pw /dev/sda"}},
		{"ata erase", ATACommands(wire.MethodATAErase, "/dev/sda", "pw", false, false), []string{
			"hdparm --user-master u --security-set-pass pw /dev/sda", "hdparm --user-master u --security-erase pw /dev/sda"}},
		{"ata sanitize crypto", ATACommands(wire.MethodATASanitize, "/dev/sda", "", false, true), []string{"hdparm --yes-i-know-what-i-am-doing --sanitize-crypto-scramble /dev/sda"}},
		{"ata sanitize block", ATACommands(wire.MethodATASanitize, "/dev/sda", "", false, false), []string{"hdparm --yes-i-know-what-i-am-doing --sanitize-block-erase /dev/sda"}},
	}
	for _, tt := range tests {
		var got []string
		for _, c := range tt.got {
			got = append(got, commandLine(c[0], c[1:]))
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if got := commandLine("echo", []string{"a b", "it's", ""}); got != `echo 'a b' 'it'\''s' ''` {
		t.Errorf("quoting: %s", got)
	}
}

func TestProbeTools(t *testing.T) {
	t.Run("nvme", func(t *testing.T) {
		f := &fakeExec{t: t, steps: []step{{cmd: "nvme id-ctrl /dev/nvme0n1 -o json", out: fixture(t, "nvme-id-ctrl.json")}}}
		p := Probe{Disk: Disk{Path: "/dev/nvme0n1", Name: "nvme0n1"}}
		probeNVMe(context.Background(), &p, &recorder{exec: f.exec})
		if p.Disk.Serial != "S4EWNX0N123456" || p.fna != 5 || len(p.Methods) != 3 {
			t.Errorf("probe %+v", p)
		}
	})
	t.Run("ata frozen", func(t *testing.T) {
		f := &fakeExec{t: t, steps: []step{
			{cmd: "hdparm -I /dev/sdb", out: fixture(t, "hdparm-I-hdd-frozen.txt")},
			{cmd: "hdparm -N /dev/sdb", out: fixture(t, "hdparm-N-enabled.txt")},
			{cmd: "hdparm --dco-identify /dev/sdb", out: fixture(t, "hdparm-dco-identify.txt")},
		}}
		p := Probe{Disk: Disk{Path: "/dev/sdb", Name: "sdb"}}
		rec := &recorder{exec: f.exec}
		probeATA(context.Background(), &p, rec)
		p.Methods = append(p.Methods, wire.MethodOverwrite)
		if !p.Frozen || p.HPA != StatePresent || p.DCO != StateAbsent || p.Disk.Serial != "WD-WX81A12B3456" {
			t.Errorf("probe %+v", p)
		}
		if len(rec.commands) != 3 {
			t.Errorf("%d commands recorded, want 3", len(rec.commands))
		}
		if m, err := Choose(p, wire.MethodATAErase); !errors.Is(err, ErrFrozen) || !strings.Contains(err.Error(), "suspend") {
			t.Errorf("Choose ata-erase on a frozen drive: %q, %v", m, err)
		}
		if m, err := Choose(p, wire.MethodAuto); err != nil || m != wire.MethodOverwrite {
			t.Errorf("Choose auto on a frozen drive: %q, %v, want overwrite", m, err)
		}
		if _, err := Choose(p, wire.MethodNVMeFormat); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Choose nvme-format on an ATA drive: %v", err)
		}
	})
	t.Run("hdparm missing", func(t *testing.T) {
		missing := func(context.Context, string, ...string) ([]byte, error) {
			return nil, errors.New(`exec: "hdparm": executable file not found in $PATH`)
		}
		p := Probe{Disk: Disk{Path: "/dev/sdb", Name: "sdb"}}
		rec := &recorder{exec: missing}
		probeATA(context.Background(), &p, rec)
		if p.HPA != StateUnknown || p.DCO != StateUnknown || len(p.Methods) != 0 {
			t.Errorf("probe %+v", p)
		}
		if len(rec.commands) != 1 || rec.commands[0].ExitCode != -1 || !strings.Contains(rec.commands[0].Output, "not found") {
			t.Errorf("commands %+v", rec.commands)
		}
	})
}

func TestNVMeErase(t *testing.T) {
	sanitizeSteps := func(last string) []step {
		return []step{
			{cmd: "nvme sanitize /dev/nvme0n1 --sanact=4"},
			{cmd: "nvme sanitize-log /dev/nvme0n1 -o json", out: fixture(t, "nvme-sanitize-log-v2-running.json")},
			{cmd: "nvme sanitize-log /dev/nvme0n1 -o json", out: fixture(t, "nvme-sanitize-log-v2-running.json")},
			{cmd: "nvme sanitize-log /dev/nvme0n1 -o json", out: fixture(t, last)},
		}
	}
	tests := []struct {
		name     string
		method   string
		steps    []step
		kind     error
		commands int
	}{
		{"sanitize crypto", wire.MethodNVMeSanitizeCrypto, sanitizeSteps("nvme-sanitize-log-v2-done.json"), nil, 2},
		{"sanitize fails", wire.MethodNVMeSanitizeCrypto, sanitizeSteps("nvme-sanitize-log-v2-failed.json"), ErrErase, 2},
		{"sanitize refused", wire.MethodNVMeSanitizeCrypto, []step{{cmd: "nvme sanitize /dev/nvme0n1 --sanact=4", out: "NVMe status: INVALID_FIELD: A reserved coded value or an unsupported value in a defined field(0x4002)", code: 1}}, ErrErase, 1},
		{"format", wire.MethodNVMeFormat, []step{{cmd: "nvme format /dev/nvme0n1 --ses=2 --force", out: "Success formatting namespace:1\n"}}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeExec{t: t, steps: tt.steps}
			var progress []wire.WipeProgress
			o := Options{PollEvery: time.Millisecond, Progress: func(p wire.WipeProgress) { progress = append(progress, p) }}
			o.defaults()
			rec := &recorder{exec: f.exec}
			var m certificate.Medium
			p := Probe{Disk: Disk{Path: "/dev/nvme0n1", Name: "nvme0n1", Size: 500107862016}, fna: 5}
			err := nvmeErase(context.Background(), p, tt.method, &o, rec, &m)
			if (tt.kind == nil) != (err == nil) || (tt.kind != nil && !errors.Is(err, tt.kind)) {
				t.Fatalf("nvmeErase: %v, want %v", err, tt.kind)
			}
			if len(f.steps) != 0 {
				t.Errorf("%d commands not run", len(f.steps))
			}
			if len(rec.commands) != tt.commands {
				t.Errorf("%d commands recorded, want %d: %+v", len(rec.commands), tt.commands, rec.commands)
			}
			wantResult := VerifyPassed
			if err != nil {
				wantResult = VerifyFailed
				if tt.name == "sanitize refused" {
					wantResult = VerifyNotDone
				}
			}
			if m.Verification.Method != VerifyDeviceStatus || m.Verification.Result != wantResult {
				t.Errorf("verification %+v, want %s", m.Verification, wantResult)
			}
			if tt.name == "sanitize crypto" && (len(progress) != 3 || progress[2].DoneBytes != progress[2].TotalBytes) {
				t.Errorf("progress %+v", progress)
			}
		})
	}
}

func TestATAErase(t *testing.T) {
	after := fixture(t, "hdparm-I-ssd-sanitize.txt")
	tests := []struct {
		name   string
		method string
		steps  []step
		kind   error
	}{
		{"enhanced erase", wire.MethodATAErase, []step{
			{cmd: "hdparm --user-master u --security-set-pass valise-000000000000 /dev/sda", out: "security_password: \"valise-000000000000\"\n\n/dev/sda:\n Issuing SECURITY_SET_PASS command, password=\"valise-000000000000\", user=user, mode=high\n"},
			{cmd: "hdparm --user-master u --security-erase-enhanced valise-000000000000 /dev/sda", out: "security_password: \"valise-000000000000\"\n\n/dev/sda:\n Issuing SECURITY_ERASE command, password=\"valise-000000000000\", user=user\n"},
			{cmd: "hdparm -I /dev/sda", out: after},
		}, nil},
		{"password left", wire.MethodATAErase, []step{
			{cmd: "hdparm --user-master u --security-set-pass valise-000000000000 /dev/sda"},
			{cmd: "hdparm --user-master u --security-erase-enhanced valise-000000000000 /dev/sda"},
			{cmd: "hdparm -I /dev/sda", out: strings.Replace(after, "not\tenabled", "\tenabled", 1)},
		}, ErrVerify},
		{"sanitize", wire.MethodATASanitize, []step{
			{cmd: "hdparm --yes-i-know-what-i-am-doing --sanitize-crypto-scramble /dev/sda", out: "\n/dev/sda:\nOperation started in background\n"},
			{cmd: "hdparm --sanitize-status /dev/sda", out: fixture(t, "hdparm-sanitize-status-running.txt")},
			{cmd: "hdparm --sanitize-status /dev/sda", out: fixture(t, "hdparm-sanitize-status-done.txt")},
		}, nil},
		{"sanitize fails", wire.MethodATASanitize, []step{
			{cmd: "hdparm --yes-i-know-what-i-am-doing --sanitize-crypto-scramble /dev/sda"},
			{cmd: "hdparm --sanitize-status /dev/sda", out: fixture(t, "hdparm-sanitize-status-failed.txt")},
		}, ErrErase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeExec{t: t, steps: tt.steps}
			o := Options{PollEvery: time.Millisecond, Rand: zeroReader{}}
			o.defaults()
			var m certificate.Medium
			p := Probe{Disk: Disk{Path: "/dev/sda", Name: "sda", Size: 500107862016}, enhanced: true, cryptoScramble: true}
			err := ataErase(context.Background(), p, tt.method, &o, &recorder{exec: f.exec}, &m)
			if (tt.kind == nil) != (err == nil) || (tt.kind != nil && !errors.Is(err, tt.kind)) {
				t.Fatalf("ataErase: %v, want %v", err, tt.kind)
			}
			if len(f.steps) != 0 {
				t.Errorf("%d commands not run", len(f.steps))
			}
			if err == nil && m.Verification.Result != VerifyPassed {
				t.Errorf("verification %+v", m.Verification)
			}
		})
	}
}

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) { clear(b); return len(b), nil }

func TestCategory(t *testing.T) {
	luks := Probe{LUKS: true}
	tests := []struct {
		method string
		p      Probe
		want   string
	}{
		{wire.MethodOverwrite, Probe{}, certificate.CategoryClear},
		{wire.MethodDiscard, Probe{}, certificate.CategoryNone},
		{wire.MethodLUKS, luks, certificate.CategoryPurge},
		{wire.MethodLUKS, Probe{}, certificate.CategoryNone},
		{wire.MethodNVMeSanitizeCrypto, Probe{}, certificate.CategoryPurge},
		{wire.MethodNVMeFormat, Probe{}, certificate.CategoryPurge},
		{wire.MethodATAErase, Probe{}, certificate.CategoryPurge},
		{wire.MethodATASanitize, Probe{}, certificate.CategoryPurge},
	}
	for _, tt := range tests {
		if got := Category(tt.method, tt.p); got != tt.want {
			t.Errorf("Category(%s, luks %v) = %s, want %s", tt.method, tt.p.LUKS, got, tt.want)
		}
	}
}

func TestTruncatedOutput(t *testing.T) {
	big := strings.Repeat("x", 10000)
	rec := &recorder{exec: func(context.Context, string, ...string) ([]byte, error) { return []byte(big), nil }}
	rec.run(context.Background(), "nvme", "id-ctrl", "/dev/nvme0n1")
	if n := len(rec.commands[0].Output); n != maxOutput {
		t.Errorf("output kept %d bytes, want %d", n, maxOutput)
	}
}

// TestHardware probes, and with VALISE_HW_WIPE=1 wipes, the real disk
// named by VALISE_HW_DISK. It runs only with VALISE_HW_TEST=1: it needs
// root and a disk whose data may be destroyed.
func TestHardware(t *testing.T) {
	if os.Getenv("VALISE_HW_TEST") != "1" {
		t.Skip("set VALISE_HW_TEST=1 and VALISE_HW_DISK=/dev/… to run on real hardware")
	}
	disk := os.Getenv("VALISE_HW_DISK")
	if disk == "" {
		t.Fatal("VALISE_HW_DISK is not set")
	}
	p, err := ProbeDisk(context.Background(), disk, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("probe: %+v", p)
	if os.Getenv("VALISE_HW_WIPE") != "1" {
		return
	}
	m, err := Wipe(context.Background(), disk, Options{Method: os.Getenv("VALISE_HW_METHOD"), Verify: wire.VerifySample,
		Progress: func(p wire.WipeProgress) { t.Logf("%+v", p) }})
	t.Logf("record: %+v", m)
	if err != nil {
		t.Fatal(err)
	}
}

func TestNotes(t *testing.T) {
	frozen := Probe{Frozen: true, HPA: StatePresent, DCO: StateAbsent, Methods: []string{wire.MethodATAErase, wire.MethodOverwrite}}
	got := notes(frozen, wire.MethodOverwrite)
	for _, want := range []string{"frozen", "suspend", "host protected area"} {
		if !strings.Contains(got, want) {
			t.Errorf("notes %q lack %q", got, want)
		}
	}
	if got := notes(Probe{HPA: StateAbsent, DCO: StateAbsent}, wire.MethodOverwrite); got != "" {
		t.Errorf("notes of a plain disk: %q", got)
	}
}

func TestRunCommandLocale(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skipf("no sh to run: %v", err)
	}
	tests := []struct {
		name string
		env  string // LC_ALL of the caller
	}{
		{"french technician", "fr_FR.UTF-8"},
		{"no locale", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LC_ALL", tt.env)
			out, err := runCommand(t.Context(), "sh", "-c", `echo "$LC_ALL"`)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(out)); got != "C" {
				t.Errorf("LC_ALL seen by the tool = %q, want C: parsed output must not be translated", got)
			}
		})
	}
}
