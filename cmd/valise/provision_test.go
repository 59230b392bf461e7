package main

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/provisioning"
)

// TestProfileNamesShipped keeps the names of help and completion equal to
// the profiles provisioning ships, so a new or renamed profile cannot be
// left out of them.
func TestProfileNamesShipped(t *testing.T) {
	set, err := provisioning.Load()
	if err != nil {
		t.Fatalf("provisioning.Load: %v", err)
	}
	got := slices.Sorted(slices.Values(profileNames))
	if diff := cmp.Diff(set.Names(), got); diff != "" {
		t.Errorf("profileNames differ from the shipped profiles (-shipped +profileNames):\n%s", diff)
	}
}

func provisionScript(tag, failure string) []apitype.ProvisionJob {
	base := apitype.ProvisionJob{ID: "p0001", Device: "d0001", AssetTag: tag, Profile: "laptop-linux", RequestedBy: "admin", RequestedAt: testNow}
	step := func(state string) apitype.ProvisionJob { j := base; j.State = state; return j }
	jobs := []apitype.ProvisionJob{step(apitype.JobRequested), step(apitype.JobSent), step(apitype.JobSent), step(apitype.JobRunning)}
	last := step(apitype.JobSucceeded)
	if failure != "" {
		last.State, last.Error = apitype.JobFailed, failure
	}
	last.FinishedAt = at(900)
	return append(jobs, last)
}

func TestProvision(t *testing.T) {
	f := newFakeAPI(t, fakeDevices()...)
	f.provs["VAL-0001"] = provisionScript("VAL-0001", "")
	f.provs["VAL-0002"] = provisionScript("VAL-0002", "apt-get install valise-agent: exit status 100")
	s := &testServer{URL: f.URL, admin: "tok"}

	want := "VAL-0001  requested\nVAL-0001  sent, waiting for the device\nVAL-0001  installing the profile\n" +
		"VAL-0001  re-enrolled: ready\nVAL-0001 is provisioned with laptop-linux and ready.\n"
	if got := ok(t, s, "provision", "VAL-0001", "--profile", "laptop-linux", "--wait"); got != want {
		t.Errorf("provision --wait printed:\n%s\nwant:\n%s", got, want)
	}

	r := runCLI(t, f.URL, "tok", "provision", "--wait", "VAL-0002", "--profile", "laptop-linux")
	if want := "valise: VAL-0002: provisioning failed: apt-get install valise-agent: exit status 100\n"; r.code != 1 || r.stderr != want {
		t.Errorf("failed provisioning: exit %d, stderr %q", r.code, r.stderr)
	}

	want = "Provisioning of VAL-0001 with profile laptop-linux requested (job p0001). It starts as soon as the device is online;\n" +
		"the device becomes ready when it re-enrols. Follow it with: valise devices history VAL-0001\n"
	if got := ok(t, s, "provision", "VAL-0001", "--profile", "laptop-linux"); got != want {
		t.Errorf("provision printed:\n%s\nwant:\n%s", got, want)
	}
	var job apitype.ProvisionJob
	if err := json.Unmarshal([]byte(ok(t, s, "provision", "VAL-0001", "--profile", "laptop-linux", "--json")), &job); err != nil || job.ID != "p0001" {
		t.Errorf("--json: %+v, %v", job, err)
	}

	tests := []struct{ name, ref, profile, want string }{
		{"not wiped", "VAL-0003", "laptop-linux", "valise: VAL-0003 is intake: only a wiped device can be provisioned\n"},
		{"unknown device", "VAL-0099", "laptop-linux", "valise: no device matches VAL-0099\n"},
		{"unknown profile", "VAL-0001", "laptop-bsd", "valise: no provisioning profile \"laptop-bsd\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, f.URL, "tok", "provision", tt.ref, "--profile", tt.profile, "--wait")
			if r.code != 1 || r.stderr != tt.want || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1, %q", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
}

func TestDevicesLifecycle(t *testing.T) {
	f := newFakeAPI(t, fakeDevices()...)
	s := &testServer{URL: f.URL, admin: "tok"}
	ev := func(seq uint64, ago time.Duration, actor, action, before, after, reason string) apitype.Event {
		e := apitype.Event{Seq: seq, At: testNow.Add(-ago), Actor: actor, Action: action, Device: "d0001", Reason: reason, Hash: "h"}
		if before != "" {
			e.Before = json.RawMessage(before)
		}
		if after != "" {
			e.After = json.RawMessage(after)
		}
		return e
	}
	day := 24 * time.Hour
	f.events["d0001"] = []apitype.Event{
		ev(1, 20*day, "server", "enrol", "", `{"state":"intake"}`, "enrolment token t1"),
		ev(2, 2*day, "admin", "wipe_requested", "", `{"job":"w0001","method":"auto"}`, ""),
		ev(3, 2*day, "admin", "state", `"intake"`, `"wiping"`, "wipe w0001"),
		ev(4, 2*day-time.Hour, "agent:d0001", "certificate", "", `{"id":"c0001","result":"succeeded"}`, ""),
		ev(5, 2*day-time.Hour, "server", "state", `"wiping"`, `"wiped"`, "certificate c0001 verified"),
		ev(6, time.Hour, "admin", "state", `"wiped"`, `"provisioning"`, "profile laptop-linux"),
		ev(7, 10*time.Minute, "agent:d0001", "state", `"provisioning"`, `"ready"`, "re-enrolled, wipe gate holds"),
	}
	golden(t, "devices_lifecycle", ok(t, s, "devices", "history", "VAL-0001"))

	if got, want := ok(t, s, "devices", "history", "VAL-0001", "--since", "1d", "--limit", "1"),
		"Lifecycle of VAL-0001, 1 event in the last 24 h\nAT                ACTOR        ACTION  CHANGE                REASON\n"+
			"2026-11-23 14:20  agent:d0001  state   provisioning → ready  re-enrolled, wipe gate holds\n"; got != want {
		t.Errorf("--since 1d --limit 1 printed:\n%s\nwant:\n%s", got, want)
	}
	if got, want := ok(t, s, "devices", "history", "VAL-0002"), "No lifecycle event for VAL-0002.\n"; got != want {
		t.Errorf("no event printed %q, want %q", got, want)
	}
	var evs []apitype.Event
	if err := json.Unmarshal([]byte(ok(t, s, "devices", "history", "VAL-0001", "--json")), &evs); err != nil || len(evs) != 7 {
		t.Errorf("--json: %d events, %v", len(evs), err)
	}
	r := runCLI(t, f.URL, "tok", "devices", "history", "VAL-0099")
	if want := "valise: no device matches VAL-0099\n"; r.code != 1 || r.stderr != want {
		t.Errorf("unknown device: exit %d, stderr %q", r.code, r.stderr)
	}
}
