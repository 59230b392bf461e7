package certificate

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func readLog(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func at(s string) time.Time {
	t, err := time.Parse(nwipeTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestParseNwipeLog reads logs recorded from nwipe runs on loop devices
// (see testdata/README.md).
func TestParseNwipeLog(t *testing.T) {
	zero := func(dev, serial string, start, end string, dur time.Duration) NwipeDrive {
		return NwipeDrive{
			Device: dev, Bus: "VIRT", Model: "Loopback device", Serial: serial,
			SizeBytes: 67108864, SizeText: "67 MB", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1,
			Result: NwipeErased, Status: "Erased", BytesWritten: 67108864, BytesRead: 67108864,
			Throughput: "0 B/s", Duration: dur, Started: at(start), Finished: at(end),
		}
	}
	tests := []struct {
		file string
		want NwipeLog
	}{
		{"nwipe-zero.log", NwipeLog{
			Version: "0.33", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1, PRNG: "Isaac64",
			Drives: []NwipeDrive{zero("/dev/loop0", "VALTEST-LOOP0", "2026/11/23 15:19:38", "2026/11/23 15:19:39", time.Second)},
		}},
		{"nwipe-zero-noserial.log", NwipeLog{
			Version: "0.33", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1, PRNG: "Isaac64",
			Drives: []NwipeDrive{zero("/dev/loop0", "", "2026/11/23 15:18:22", "2026/11/23 15:18:23", time.Second)},
		}},
		{"nwipe-fail.log", NwipeLog{
			Version: "0.33", Method: "Fill With Zeros", Verify: NwipeVerifyAll, Rounds: 1, PRNG: "Isaac64",
			Drives: []NwipeDrive{{
				Device: "/dev/loop2", Bus: "VIRT", Model: "Loopback device", Serial: "VALTEST-LOOP2",
				SizeBytes: 67108864, SizeText: "67 MB", Method: "Fill With Zeros", Verify: NwipeVerifyAll, Rounds: 1,
				Result: NwipeFailed, Status: "-FAILED-", PassErrors: 1, FsyncErrors: 1, BytesWritten: 51200000,
				Throughput: "0 B/s", Started: at("2026/11/23 15:19:40"), Finished: at("2026/11/23 15:19:42"),
			}},
		}},
		{"nwipe-abort.log", NwipeLog{
			Version: "0.33", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1, PRNG: "Isaac64",
			Drives: []NwipeDrive{{
				Device: "/dev/loop1", Bus: "VIRT", Model: "Loopback device",
				SizeBytes: 2147483648, SizeText: "2 GB", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1,
				Result: NwipeAborted, Status: "UABORTED",
				Throughput: "0 B/s", Duration: 3 * time.Second, Started: at("2026/11/23 15:18:47"), Finished: at("2026/11/23 15:18:50"),
			}},
		}},
		{"nwipe-multi.log", NwipeLog{
			Version: "0.33", Method: "PRNG Stream", Verify: NwipeVerifyLast, Rounds: 2, Blank: true, PRNG: "Isaac64",
			Drives: []NwipeDrive{{
				Device: "/dev/loop0", Bus: "VIRT", Model: "Loopback device", Serial: "VALTEST-LOOP0",
				SizeBytes: 67108864, SizeText: "67 MB", Method: "PRNG Stream", Verify: NwipeVerifyLast, Rounds: 2,
				Result: NwipeErased, Status: "Erased", BytesWritten: 67108864, BytesRead: 67108864,
				Throughput: "0 B/s", Duration: 3 * time.Second, Started: at("2026/11/23 15:19:43"), Finished: at("2026/11/23 15:19:46"),
			}, {
				Device: "/dev/loop2", Bus: "VIRT", Model: "Loopback device", Serial: "VALTEST-LOOP2",
				SizeBytes: 33554432, SizeText: "33 MB", Method: "PRNG Stream", Verify: NwipeVerifyLast, Rounds: 2,
				Result: NwipeErased, Status: "Erased", BytesWritten: 33554432, BytesRead: 33554432,
				Throughput: "0 B/s", Duration: 2 * time.Second, Started: at("2026/11/23 15:19:43"), Finished: at("2026/11/23 15:19:45"),
			}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseNwipeLog(bytes.NewReader(readLog(t, tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range got.Drives {
				if len(d.Lines) == 0 || !mentions(d.Lines[0], d.Device) {
					t.Errorf("%s: lines %q", d.Device, d.Lines)
				}
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(NwipeDrive{}, "Lines")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// nwipe035 has the lines nwipe 0.35 and later write that 0.33 does not:
// the version line, the bus as its own field, the HPA/DCO state and the
// PDF report line after the summary (formats of nwipe's device.c,
// hpa_dco.c and logging.c).
const nwipe035 = `[2024/07/30 10:25:26]    info: nwipe 0.37
[2024/07/30 10:25:26]    info: Linux version 6.4.0-150600.23.14-default (geeko@
                               buildhost) (gcc (SUSE Linux) 7.5.0
[2024/07/30 10:25:27]  notice: Found /dev/sda, ATA, WDC WD5000LPCX-24C6HT0, 500 GB, S/N=WD-WX31A65F1234
[2024/07/30 10:25:27]    info: /dev/sda, sector(logical)/block(physical) sizes 512/4096
[2024/07/30 10:25:27]    info: No hidden areas on /dev/sda
[2024/07/30 10:25:27]  notice: Found /dev/sdaa, USB, Kingston DataTraveler 3.0, 7864 MB, S/N=
[2024/07/30 10:25:27] warning: HIDDEN AREA INDETERMINATE! on /dev/sdaa
[2024/07/30 10:25:30]  notice:   method   = Fill With Zeros
[2024/07/30 10:25:30]  notice:   verify   = 1 (last pass)
[2024/07/30 10:25:30]  notice:   rounds   = 1
[2024/07/30 10:25:31]  notice: Invoking method 'Fill With Zeros' on /dev/sda
[2024/07/30 10:25:31]  notice: Starting round 1 of 1 on /dev/sda
[2024/07/30 11:43:02]  notice: 500107862016 bytes written to /dev/sda
[2024/07/30 13:01:10]  notice: 500107862016 bytes read from /dev/sda
[2024/07/30 13:01:10]  notice: Verified pass 1 of 1, round 1 of 1, on '/dev/sda'.

******************************** Error Summary *********************************
!   Device | Pass Errors | Verifications Errors | Fdatasync I\O Errors
--------------------------------------------------------------------------------
       sda |           0 |                    0 |                    0
********************************************************************************

********************************* Drive Status *********************************
!   Device | Status | Thru-put | HH:MM:SS | Model/Serial Number
--------------------------------------------------------------------------------
       sda | Erased | 107 MB/s | 02:35:39 | WDC WD5000LPCX-24/WD-WX31A65F1234
--------------------------------------------------------------------------------
[2024/07/30 13:01:12] Total Throughput 107 MB/s, Fill With Zeros, 1R+NB+VL
********************************************************************************

Creating PDF report in /reports
`

func TestParseNwipeLogFormats(t *testing.T) {
	zeroLog := string(readLog(t, "nwipe-zero.log"))
	tests := []struct {
		name    string
		log     string
		want    NwipeLog
		wantErr error
	}{
		{name: "nwipe 0.35 and later", log: nwipe035, want: NwipeLog{
			Version: "0.37", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1, PDFReportDir: "/reports",
			Drives: []NwipeDrive{{
				Device: "/dev/sda", Bus: "ATA", Model: "WDC WD5000LPCX-24C6HT0", Serial: "WD-WX31A65F1234",
				SizeBytes: 500107862016, SizeText: "500 GB", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1,
				Result: NwipeErased, Status: "Erased", BytesWritten: 500107862016, BytesRead: 500107862016,
				Throughput: "107 MB/s", Duration: 2*time.Hour + 35*time.Minute + 39*time.Second,
				Started: at("2024/07/30 10:25:31"), Finished: at("2024/07/30 13:01:10"), HiddenArea: "absent",
			}},
		}},
		{name: "log cut before the summary", log: zeroLog[:strings.Index(zeroLog, "\n***")], want: NwipeLog{
			Version: "0.33", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1, PRNG: "Isaac64",
			Drives: []NwipeDrive{{
				Device: "/dev/loop0", Bus: "VIRT", Model: "Loopback device", Serial: "VALTEST-LOOP0",
				SizeBytes: 67108864, SizeText: "67 MB", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1,
				Result: NwipeIncomplete, BytesWritten: 67108864, BytesRead: 67108864,
				Started: at("2026/11/23 15:19:38"), Finished: at("2026/11/23 15:19:39"),
			}},
		}},
		{name: "windows line ends", log: strings.ReplaceAll(nwipe035, "\n", "\r\n"), want: NwipeLog{
			Version: "0.37", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1, PDFReportDir: "/reports",
			Drives: []NwipeDrive{{
				Device: "/dev/sda", Bus: "ATA", Model: "WDC WD5000LPCX-24C6HT0", Serial: "WD-WX31A65F1234",
				SizeBytes: 500107862016, SizeText: "500 GB", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1,
				Result: NwipeErased, Status: "Erased", BytesWritten: 500107862016, BytesRead: 500107862016,
				Throughput: "107 MB/s", Duration: 2*time.Hour + 35*time.Minute + 39*time.Second,
				Started: at("2024/07/30 10:25:31"), Finished: at("2024/07/30 13:01:10"), HiddenArea: "absent",
			}},
		}},
		{name: "wrapped lines", log: strings.Replace(nwipe035, "500 GB, S/N=WD-WX31A6", "500 GB, S/N=WD-WX31A6\n"+strings.Repeat(" ", 31), 1), want: NwipeLog{
			Version: "0.37", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1, PDFReportDir: "/reports",
			Drives: []NwipeDrive{{
				Device: "/dev/sda", Bus: "ATA", Model: "WDC WD5000LPCX-24C6HT0", Serial: "WD-WX31A65F1234",
				SizeBytes: 500107862016, SizeText: "500 GB", Method: "Fill With Zeros", Verify: NwipeVerifyLast, Rounds: 1,
				Result: NwipeErased, Status: "Erased", BytesWritten: 500107862016, BytesRead: 500107862016,
				Throughput: "107 MB/s", Duration: 2*time.Hour + 35*time.Minute + 39*time.Second,
				Started: at("2024/07/30 10:25:31"), Finished: at("2024/07/30 13:01:10"), HiddenArea: "absent",
			}},
		}},
		{name: "not a log", log: "%PDF-1.7\nsome binary\n", wantErr: ErrNwipeLog},
		{name: "empty", log: "", wantErr: ErrNwipeLog},
		{name: "no drive wiped", log: zeroLog[:strings.Index(zeroLog, "Invoking method")], wantErr: ErrNwipeLog},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNwipeLog(strings.NewReader(tt.log))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(NwipeDrive{}, "Lines")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

var nwipeAsset = Asset{DeviceID: "dev-7f3a", AssetTag: "VAL-0031", Class: "laptop", Vendor: "LENOVO", Model: "ThinkPad T480", Serial: "PF1ABCDE"}

// TestFromNwipe makes certificates from the recorded logs and compares
// them with golden JSON (go test -update rewrites them).
func TestFromNwipe(t *testing.T) {
	tests := []struct {
		name       string
		file       string
		serial     string
		wantResult string
	}{
		{"erased", "nwipe-zero.log", "valtest-loop0", ResultSucceeded},
		{"failed", "nwipe-fail.log", "VALTEST-LOOP2", ResultFailed},
		{"second drive of two", "nwipe-multi.log", " VALTEST-LOOP2 ", ResultSucceeded},
		{"0.35 and later", "", "WD-WX31A65F1234", ResultSucceeded},
	}
	device := testKey(t, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(nwipe035)
			if tt.file != "" {
				raw = readLog(t, tt.file)
			}
			log, err := ParseNwipeLog(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			c, err := FromNwipe(log, nwipeAsset, tt.serial, "Élodie Martin", raw)
			if err != nil {
				t.Fatal(err)
			}
			if c.Result != tt.wantResult || c.External == nil || c.External.Tool != "nwipe" {
				t.Errorf("result %s, external %+v", c.Result, c.External)
			}
			// A certificate made from a log passes the content checks.
			_, data := signedFile(t, c, device, nil)
			if _, _, err := Verify(data, VerifyOptions{Unsigned: true}); err != nil {
				t.Errorf("Verify: %v", err)
			}

			got, err := json.MarshalIndent(c, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", "nwipe-"+strings.ReplaceAll(tt.name, " ", "-")+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)+"\n"); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestFromNwipeRefuses(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		serial  string
		raw     bool
		want    error
		mention []string
	}{
		{"another disk", "nwipe-zero.log", "S4DXNX0M123456", true, ErrSerialMismatch, []string{"VALTEST-LOOP0", "S4DXNX0M123456"}},
		{"drive without serial", "nwipe-zero-noserial.log", "VALTEST-LOOP0", true, ErrSerialMismatch, []string{"/dev/loop0", "VALTEST-LOOP0"}},
		{"device without usable serial", "nwipe-zero.log", "To be filled by O.E.M.", true, ErrSerialMismatch, []string{"no usable serial"}},
		{"first of two drives is not enough", "nwipe-multi.log", "VALTEST-LOOP1", true, ErrSerialMismatch, []string{"VALTEST-LOOP0", "VALTEST-LOOP2"}},
		{"anonymised log", "", "XXXXXXXXXXXXXXX", true, ErrSerialMismatch, nil},
		{"no raw bytes", "nwipe-zero.log", "VALTEST-LOOP0", false, ErrNwipeLog, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(strings.ReplaceAll(nwipe035, "WD-WX31A65F1234", "XXXXXXXXXXXXXXX"))
			if tt.file != "" {
				raw = readLog(t, tt.file)
			}
			log, err := ParseNwipeLog(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.raw {
				raw = nil
			}
			_, err = FromNwipe(log, nwipeAsset, tt.serial, "tech", raw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			for _, s := range tt.mention {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
}

// TestFromNwipeVerifyOff checks that a wipe nwipe did not verify is not
// accepted as sanitisation.
func TestFromNwipeVerifyOff(t *testing.T) {
	raw := []byte(strings.NewReplacer("verify   = 1 (last pass)", "verify   = 0 (off)", "1R+NB+VL", "1R+NB+NV").Replace(nwipe035))
	log, err := ParseNwipeLog(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromNwipe(log, nwipeAsset, "WD-WX31A65F1234", "tech", raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Result != ResultFailed || c.Media[0].Verification.Result != VerificationNotDone {
		t.Errorf("result %s, verification %+v", c.Result, c.Media[0].Verification)
	}
}

func TestFromNwipeDisks(t *testing.T) {
	raw := readLog(t, "nwipe-multi.log")
	log, err := ParseNwipeLog(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromNwipeDisks(log, nwipeAsset, []string{"S4DXNX0M123456", "valtest-loop2"}, "tech", raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Media[0].Serial; got != "VALTEST-LOOP2" {
		t.Errorf("medium serial %q", got)
	}
	_, err = FromNwipeDisks(log, nwipeAsset, []string{"S4DXNX0M123456", "1234ABCD5678"}, "tech", raw)
	if !errors.Is(err, ErrSerialMismatch) {
		t.Fatalf("got %v, want %v", err, ErrSerialMismatch)
	}
	for _, s := range []string{"VALTEST-LOOP0", "VALTEST-LOOP2", "S4DXNX0M123456", "1234ABCD5678"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	if _, err := FromNwipeDisks(log, nwipeAsset, nil, "tech", raw); !errors.Is(err, ErrSerialMismatch) {
		t.Errorf("no disk: got %v, want %v", err, ErrSerialMismatch)
	}
}
