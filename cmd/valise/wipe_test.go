package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
)

// fakeDevices are four laptops in the workshop.
func fakeDevices() []apitype.DeviceDetail {
	d := func(id, tag, vendor, model, serial, state string) apitype.DeviceDetail {
		return apitype.DeviceDetail{Device: apitype.Device{ID: id, AssetTag: tag, Class: wire.ClassLaptop, State: state,
			Vendor: vendor, Model: model, Serial: serial}}
	}
	return []apitype.DeviceDetail{
		d("d0001", "VAL-0001", "LENOVO", "ThinkPad T480", "PF1ABCDE", "needs_wipe"),
		d("d0002", "VAL-0002", "HP", "EliteBook 840 G5", "5CG8123XYZ", "needs_wipe"),
		d("d0003", "VAL-0003", "Dell", "Latitude 5490", "9XK2M72", "intake"),
		d("d0004", "VAL-0004", "LENOVO", "ThinkPad X270", "PR0ZZZZZ", "needs_wipe"),
	}
}

// at is testNow plus s seconds.
func at(s int) *time.Time {
	t := testNow.Add(time.Duration(s) * time.Second)
	return &t
}

// wipeScript is the sequence of snapshots of one job: requested, sent,
// then running with progress, ending succeeded (or failed with failure).
func wipeScript(id, device, tag string, total int64, failure string) []apitype.WipeJob {
	base := apitype.WipeJob{ID: id, Device: device, AssetTag: tag, Method: wire.MethodOverwrite, Verify: wire.VerifyFull,
		RequestedBy: "admin", RequestedAt: testNow}
	step := func(state string, started, finished *time.Time, p ...apitype.DiskProgress) apitype.WipeJob {
		j := base
		j.State, j.StartedAt, j.FinishedAt, j.Progress = state, started, finished, p
		return j
	}
	disk := func(phase string, done int64, s int) apitype.DiskProgress {
		return apitype.DiskProgress{Disk: "sda", Phase: phase, DoneBytes: done, TotalBytes: total, RateBps: 200e6, At: *at(s)}
	}
	jobs := []apitype.WipeJob{
		step(apitype.JobRequested, nil, nil),
		step(apitype.JobSent, nil, nil),
		step(apitype.JobRunning, at(1), nil, disk(wire.PhaseErasing, 0, 1)),
		step(apitype.JobRunning, at(1), nil, disk(wire.PhaseErasing, total/4, 300)),
	}
	if failure != "" {
		j := step(apitype.JobFailed, at(1), at(310), disk(wire.PhaseErasing, total/4+1, 305))
		j.Error = failure
		return append(jobs, j)
	}
	jobs = append(jobs,
		step(apitype.JobRunning, at(1), nil, disk(wire.PhaseErasing, total/2+total/20, 600)),
		step(apitype.JobVerifying, at(1), nil, disk(wire.PhaseVerifying, total/2, 1500)),
	)
	j := step(apitype.JobSucceeded, at(1), at(2600), disk(wire.PhaseVerifying, total, 2600))
	j.Certificate = "c" + id[1:]
	return append(jobs, j)
}

func newWipeFake(t *testing.T) *fakeAPI {
	t.Helper()
	f := newFakeAPI(t, fakeDevices()...)
	f.wipes["VAL-0001"] = wipeScript("w0001", "d0001", "VAL-0001", 256e9, "")
	f.wipes["VAL-0002"] = wipeScript("w0002", "d0002", "VAL-0002", 500e9, "disk sda: write error at offset 1073741824:\ninput/output error")
	f.wipes["VAL-0003"] = wipeScript("w0003", "d0003", "VAL-0003", 128e9, "")
	f.wipes["VAL-0004"] = wipeScript("w0004", "d0004", "VAL-0004", 128e9, "")
	return f
}

func TestWipeWait(t *testing.T) {
	f := newWipeFake(t)
	r := runCLI(t, f.URL, "tok", "wipe", "VAL-0001", "--yes", "--wait")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	golden(t, "wipe_wait", r.stdout)
	want := []apitype.WipeRequest{{Devices: []string{"VAL-0001"}, Verify: wire.VerifyFull, Destination: "reuse"}}
	if diff := cmp.Diff(want, f.posted); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestWipeWaitWithAFailure(t *testing.T) {
	f := newWipeFake(t)
	r := runCLI(t, f.URL, "tok", "wipe", "VAL-0001", "val-0002", "VAL-0001", "d0002", "--wait", "--yes",
		"--method", "nvme-sanitize", "--verify", "sample", "--destination", "donation")
	if r.code != 1 {
		t.Errorf("exit %d, want 1 when a wipe failed", r.code)
	}
	if want := "valise: VAL-0002: wipe failed: disk sda: write error at offset 1073741824: input/output error\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	golden(t, "wipe_wait_failed", r.stdout)
	want := []apitype.WipeRequest{{Devices: []string{"VAL-0001", "val-0002"}, Method: wire.MethodNVMeSanitizeCrypto,
		Verify: wire.VerifySample, Destination: "donation"}}
	if diff := cmp.Diff(want, f.posted); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestWipeWaitJSON(t *testing.T) {
	f := newWipeFake(t)
	r := runCLI(t, f.URL, "tok", "--json", "wipe", "VAL-0003", "VAL-0002", "--yes", "--wait")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 1 and one line", r.code, r.stderr)
	}
	var jobs []apitype.WipeJob
	if err := json.Unmarshal([]byte(r.stdout), &jobs); err != nil {
		t.Fatalf("stdout is not the jobs' JSON: %v\n%s", err, r.stdout)
	}
	var states []string
	for _, j := range jobs {
		states = append(states, j.AssetTag+" "+j.State)
	}
	if diff := cmp.Diff([]string{"VAL-0003 succeeded", "VAL-0002 failed"}, states); diff != "" {
		t.Errorf("final states (-want +got):\n%s", diff)
	}
}

func TestWipeConfirmation(t *testing.T) {
	tests := []struct {
		name   string
		refs   []string
		typed  []string
		code   int
		prompt string // the end of stderr
	}{
		{"asset tag typed", []string{"VAL-0001"}, []string{"VAL-0001\n"}, 0,
			"Type the asset tag VAL-0001 to confirm: "},
		{"asset tag typed in lower case", []string{"d0001"}, []string{"val-0001\n"}, 0,
			"Type the asset tag VAL-0001 to confirm: "},
		{"wrong asset tag", []string{"VAL-0001"}, []string{"VAL-0002\n"}, 1,
			"Type the asset tag VAL-0001 to confirm: \nvalise: not confirmed: nothing was wiped\n"},
		{"nothing typed", []string{"VAL-0001"}, []string{}, 1,
			"Type the asset tag VAL-0001 to confirm: \nvalise: not confirmed: nothing was wiped\n"},
		{"each of a few", []string{"VAL-0001", "VAL-0003"}, []string{"VAL-0001\n", "VAL-0003"}, 0,
			"Type the asset tag VAL-0001 to confirm: Type the asset tag VAL-0003 to confirm: "},
		{"the second is wrong", []string{"VAL-0001", "VAL-0003"}, []string{"VAL-0001\n", "VAL-0001\n"}, 1,
			"Type the asset tag VAL-0003 to confirm: \nvalise: not confirmed: nothing was wiped\n"},
		{"count of many", []string{"VAL-0001", "VAL-0002", "VAL-0003", "VAL-0004"}, []string{"4\n"}, 0,
			"Type the number of devices (4) to confirm: "},
		{"wrong count", []string{"VAL-0001", "VAL-0002", "VAL-0003", "VAL-0004"}, []string{"3\n"}, 1,
			"Type the number of devices (4) to confirm: \nvalise: not confirmed: nothing was wiped\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newWipeFake(t)
			r := runTyped(t, f.URL, "tok", tt.typed, append([]string{"wipe"}, tt.refs...)...)
			if r.code != tt.code || !strings.HasSuffix(r.stderr, tt.prompt) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d, stderr ending in %q", r.code, r.stderr, tt.code, tt.prompt)
			}
			if !strings.HasPrefix(r.stderr, "This erases ALL DATA on ") {
				t.Errorf("no warning before the prompt:\n%s", r.stderr)
			}
			if posted := len(f.posted) == 1; posted != (tt.code == 0) {
				t.Errorf("wipe requested: %v, want %v", posted, tt.code == 0)
			}
		})
	}

	f := newWipeFake(t)
	r := runTyped(t, f.URL, "tok", []string{"VAL-0001\n"}, "wipe", "VAL-0001", "d0004")
	want := "This erases ALL DATA on 2 devices, for good:\n" +
		"  VAL-0001  LENOVO ThinkPad T480  serial PF1ABCDE  needs_wipe\n" +
		"  VAL-0004  LENOVO ThinkPad X270  serial PR0ZZZZZ  needs_wipe\n" +
		"Type the asset tag VAL-0001 to confirm: Type the asset tag VAL-0004 to confirm: \nvalise: not confirmed: nothing was wiped\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
}

func TestWipeWithoutWait(t *testing.T) {
	f := newWipeFake(t)
	golden(t, "wipe_requested", ok(t, &testServer{URL: f.URL, admin: "tok"}, "wipe", "VAL-0001", "VAL-0004", "--yes"))

	// A job that failed at once (its command could not be sent).
	f = newWipeFake(t)
	unsent := f.wipes["VAL-0003"][0]
	unsent.State, unsent.Error = apitype.JobFailed, "the wipe command could not be sent: broker down"
	f.wipes["VAL-0003"] = []apitype.WipeJob{unsent}
	r := runCLI(t, f.URL, "tok", "wipe", "VAL-0001", "VAL-0003", "--yes")
	if want := "valise: VAL-0003: wipe failed: the wipe command could not be sent: broker down\n"; r.code != 1 || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", r.code, r.stderr, want)
	}
	if !strings.HasPrefix(r.stdout, "Wipe of VAL-0001 requested") || strings.Contains(r.stdout, "VAL-0003") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

func TestWipeRefusals(t *testing.T) {
	tests := []struct {
		name   string
		refuse string
		args   []string
		code   int
		stderr string
	}{
		{"no confirmation possible", "", []string{"wipe", "VAL-0001"}, 2,
			"valise: refusing to wipe without confirmation: nobody can type it (stdin is not a terminal); give --yes to confirm in a script\n" +
				"Run 'valise wipe --help' for usage.\n"},
		{"unknown device", "", []string{"wipe", "VAL-0001", "VAL-0099", "--yes"}, 1, "valise: no device matches VAL-0099\n"},
		{"server refuses", "VAL-0001 is on loan to Camille until 30 Nov: check it in first", []string{"wipe", "VAL-0001", "--yes", "--wait"}, 1,
			"valise: VAL-0001 is on loan to Camille until 30 Nov: check it in first\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newWipeFake(t)
			f.refuse = tt.refuse
			r := runCLI(t, f.URL, "tok", tt.args...)
			if r.code != tt.code || r.stderr != tt.stderr || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, stderr:\n%s", r.code, r.stdout, r.stderr, tt.code, tt.stderr)
			}
			if tt.refuse == "" && len(f.posted) != 0 {
				t.Errorf("a wipe was requested: %+v", f.posted)
			}
		})
	}
}

func TestWipeStatus(t *testing.T) {
	f := newWipeFake(t)
	s := &testServer{URL: f.URL, admin: "tok"}
	if got := ok(t, s, "wipe", "status"); got != "No wipe yet. To wipe a device: valise wipe VAL-0001\n" {
		t.Errorf("no job printed %q", got)
	}
	runCLI(t, f.URL, "tok", "wipe", "VAL-0001", "VAL-0002", "VAL-0003", "VAL-0004", "--yes")
	// Move the jobs along: VAL-0001 to its end, VAL-0002 to its failure,
	// VAL-0003 to 25 %, VAL-0004 stays requested.
	for i := range 7 {
		f.mu.Lock()
		f.jobs[0].next = min(f.jobs[0].next+1, len(f.jobs[0].script))
		f.jobs[1].next = min(f.jobs[1].next+1, len(f.jobs[1].script))
		if i < 4 {
			f.jobs[2].next++
		}
		f.mu.Unlock()
	}
	golden(t, "wipe_status", ok(t, s, "wipe", "status"))
	active := ok(t, s, "wipe", "status", "--active")
	if strings.Contains(active, "VAL-0001") || strings.Contains(active, "VAL-0002") || !strings.Contains(active, "VAL-0003") {
		t.Errorf("--active lists ended jobs or misses a running one:\n%s", active)
	}
	var jobs []apitype.WipeJob
	if err := json.Unmarshal([]byte(ok(t, s, "wipe", "status", "--json")), &jobs); err != nil || len(jobs) != 4 {
		t.Errorf("--json: %d jobs, %v", len(jobs), err)
	}
}

func TestProgress(t *testing.T) {
	jobs := []apitype.WipeJob{
		wipeScript("w0001", "d0001", "VAL-0001", 256e9, "")[2],
		{ID: "w0010", Device: "d0010", State: apitype.JobRunning, Progress: []apitype.DiskProgress{
			{Disk: "sda", Phase: wire.PhaseErasing, DoneBytes: 0, TotalBytes: 64e9, At: *at(0)},
			{Disk: "sdb", Phase: wire.PhaseVerifying, DoneBytes: 10e9, TotalBytes: 64e9, At: *at(0)},
		}},
	}
	var out bytes.Buffer
	p := newProgress(&out, true)
	p.update(jobs)
	// Ten seconds later: no rate from the agent for the second job, so
	// the rate comes from the two snapshots.
	jobs[0] = wipeScript("w0001", "d0001", "VAL-0001", 256e9, "")[3]
	jobs[1].Progress = []apitype.DiskProgress{
		{Disk: "sda", Phase: wire.PhaseErasing, DoneBytes: 1e9, TotalBytes: 64e9, At: *at(10)},
		{Disk: "sdb", Phase: wire.PhaseVerifying, DoneBytes: 11e9, TotalBytes: 64e9, At: *at(10)},
	}
	p.update(jobs)
	want := "\x1b[2K" + "VAL-0001  erasing    ░░░░░░░░░░░░░░░░░░░░    0 %  0.0 MB / 256.0 GB  200.0 MB/s  ETA 21 min 20 s\n" +
		"\x1b[2K" + "d0010     erasing    █░░░░░░░░░░░░░░░░░░░    7 %  10.0 GB / 128.0 GB\n" +
		"\x1b[2A" +
		"\x1b[2K" + "VAL-0001  erasing    █████░░░░░░░░░░░░░░░   25 %  64.0 GB / 256.0 GB  200.0 MB/s  ETA 16 min 00 s\n" +
		"\x1b[2K" + "d0010     erasing    █░░░░░░░░░░░░░░░░░░░    9 %  12.0 GB / 128.0 GB  200.0 MB/s  ETA 9 min 40 s\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("terminal drawing (-want +got):\n%s", diff)
	}
	// Nothing moved: nothing drawn.
	out.Reset()
	p.update(jobs)
	if out.Len() != 0 {
		t.Errorf("the same snapshots were drawn again: %q", out.String())
	}
}

func TestProgressTooManyToRedraw(t *testing.T) {
	var jobs []apitype.WipeJob
	for i := range maxRedraw + 1 {
		jobs = append(jobs, apitype.WipeJob{ID: fmt.Sprint("w", i), AssetTag: fmt.Sprintf("VAL-%04d", i+1), State: apitype.JobSent})
	}
	var out bytes.Buffer
	p := newProgress(&out, true)
	p.update(jobs)
	jobs[3].State, jobs[3].Error = apitype.JobFailed, "refused by the agent"
	p.update(jobs)
	if strings.Contains(out.String(), "\x1b[") || strings.Count(out.String(), "\n") != maxRedraw+2 {
		t.Errorf("a terminal with %d jobs got:\n%s\nwant one plain line per job and one per change", len(jobs), out.String())
	}
	if !strings.HasSuffix(out.String(), "VAL-0004  failed: refused by the agent\n") {
		t.Errorf("the change is not the last line:\n%s", out.String())
	}
}

func TestEta(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 s"}, {59*time.Second + 600*time.Millisecond, "1 min 00 s"}, {3*time.Minute + 20*time.Second, "3 min 20 s"},
		{2*time.Hour + 5*time.Minute + 10*time.Second, "2 h 05 min"},
	} {
		if got := eta(tt.d); got != tt.want {
			t.Errorf("eta(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestWipeWaitInterrupted(t *testing.T) {
	f := newWipeFake(t)
	f.wipes["VAL-0001"] = f.wipes["VAL-0001"][:4] // never ends
	t.Setenv(envServer, f.URL)
	t.Setenv(envToken, "tok")
	var stdout, stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, now: func() time.Time { return testNow },
		loc: time.UTC, pollEvery: time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		// Interrupt once the job was polled to its last snapshot.
		for ctx.Err() == nil {
			f.mu.Lock()
			polled := len(f.jobs) == 1 && f.jobs[0].next == len(f.jobs[0].script)
			f.mu.Unlock()
			if polled {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	code := e.run(ctx, []string{"valise", "wipe", "VAL-0001", "--yes", "--wait"})
	want := "valise: interrupted: the wipes go on on the devices; follow them with valise wipe status --active\n"
	if code != 1 || stderr.String() != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", code, stderr.String(), want)
	}
	if !strings.Contains(stdout.String(), "VAL-0001  erasing ") {
		t.Errorf("no progress before the interruption:\n%s", stdout.String())
	}
}
