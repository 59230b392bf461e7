package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/valise-numerique/valise/agent/spool"
	"github.com/valise-numerique/valise/internal/wire"
)

// Environment of the child process of TestWipeKilledMidWipe.
const (
	childStateEnv = "VALISE_TEST_CHILD_STATE"
	childDiskEnv  = "VALISE_TEST_CHILD_DISK"
)

// TestWipeChild is not a test: it is the agent process that
// TestWipeKilledMidWipe starts and kills. It runs a slow wipe executor.
func TestWipeChild(t *testing.T) {
	dir := os.Getenv(childStateEnv)
	if dir == "" {
		t.Skip("run by TestWipeKilledMidWipe only")
	}
	cfg := testConfig(dir, &testSource{})
	cfg.Wiper = &fileWiper{path: os.Getenv(childDiskEnv), delay: 200 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // bounded, should the parent die
	defer cancel()
	Run(ctx, cfg)
}

func TestWipeKilledMidWipe(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	key := newCommandKey(t)
	dir := writeState(t, b.addr, key)
	withDeviceKey(t, dir)
	disk := randomDisk(t, 4<<20)

	child := exec.Command(os.Args[0], "-test.run=^TestWipeChild$", "-test.count=1")
	child.Env = append(os.Environ(), childStateEnv+"="+dir, childDiskEnv+"="+disk)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			child.Process.Kill()
			child.Wait()
		}
	})
	waitFor(t, "the child agent online", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })
	sendCommand(t, b, key, "c-kill", wire.CmdWipe, "n-kill", time.Now(), wire.WipeArgs{Job: "job-kill", Operator: "t"})
	waitFor(t, "the wipe in progress", func() bool { return len(eventsOf(t, b, wire.EventWipeProgress)) > 0 })
	if err := child.Process.Kill(); err != nil { // SIGKILL: no chance to report anything
		t.Fatal(err)
	}
	child.Wait()
	killed = true
	if n := len(wipeResults(t, b)); n != 0 {
		t.Fatalf("%d results before the restart", n)
	}

	// The agent starts again: the job ends failed, "interrupted".
	cfg := testConfig(dir, &testSource{})
	cfg.Wiper = &fileWiper{path: disk}
	stop := startAgent(t, cfg)
	waitFor(t, "the interrupted job's result", func() bool { return len(wipeResults(t, b)) > 0 })
	res := wipeResults(t, b)
	if len(res) != 1 || res[0].OK || res[0].Job != "job-kill" || res[0].Error != interruptedWipe {
		t.Errorf("results = %+v, want one failed %q for job-kill", res, interruptedWipe)
	}
	ev := eventsOf(t, b, wire.EventWipeResult)[0]
	if ev.Command != "c-kill" {
		t.Errorf("result answers command %q, want c-kill", ev.Command)
	}
	// The job can be retried: a new command, the same job id.
	sendCommand(t, b, key, "c-retry", wire.CmdWipe, "n-retry", time.Now(), wire.WipeArgs{Job: "job-kill", Operator: "t"})
	waitFor(t, "the retry's result", func() bool { return len(wipeResults(t, b)) > 1 })
	if r := wipeResults(t, b)[1]; !r.OK {
		t.Errorf("retry = %+v, want succeeded", r)
	}
	if !allZero(t, disk) {
		t.Errorf("disk not zeroed after the retry")
	}
	stop()
}

func TestQueuedMaintenanceEventIsUploaded(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	key := newCommandKey(t)
	dir := writeState(t, b.addr, key)
	cert := json.RawMessage(`{"certificate":{"id":"cert-maint"}}`)
	data, _ := json.Marshal(wire.WipeResult{OK: true, Certificate: cert})
	ev := wire.Event{Type: wire.EventWipeResult, OK: true, Message: "maintenance-mode wipe of sda", Data: data}

	// Queued while no agent runs (the network is down, the agent stopped).
	if _, err := QueueEvent(dir, ev, 0, nil); err != nil {
		t.Fatal(err)
	}
	stop := startAgent(t, testConfig(dir, &testSource{}))
	waitFor(t, "the queued result", func() bool { return len(wipeResults(t, b)) > 0 })
	if r := wipeResults(t, b)[0]; !r.OK || r.Job != "" || !strings.Contains(string(r.Certificate), "cert-maint") {
		t.Errorf("uploaded = %+v", r)
	}

	// While the agent runs, it holds the spool: queueing waits, then says so.
	_, err := QueueEvent(dir, ev, 50*time.Millisecond, nil)
	if !errors.Is(err, spool.ErrLocked) || !strings.Contains(err.Error(), "another valise-agent") {
		t.Errorf("QueueEvent while the agent runs = %v, want ErrLocked with advice", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestWipeStoppedCleanly checks a stop (SIGTERM) during a wipe: the job
// ends failed, interrupted, once, and no journal entry is left to report
// it a second time at the next start.
func TestWipeStoppedCleanly(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	key := newCommandKey(t)
	dir := writeState(t, b.addr, key)
	withDeviceKey(t, dir)
	disk := randomDisk(t, 4<<20)
	cfg := testConfig(dir, &testSource{})
	cfg.Wiper = &fileWiper{path: disk, delay: 100 * time.Millisecond}
	stop := startAgent(t, cfg)
	waitFor(t, "online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })
	sendCommand(t, b, key, "c-stop", wire.CmdWipe, "n-stop", time.Now(), wire.WipeArgs{Job: "job-stop", Operator: "t"})
	waitFor(t, "the wipe in progress", func() bool { return len(eventsOf(t, b, wire.EventWipeProgress)) > 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	sp := openSpool(t, dir)
	jobs, err := sp.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Errorf("journal after a clean stop = %v, want empty", jobs)
	}
	sp.Close()

	stop = startAgent(t, cfg)
	waitFor(t, "the result", func() bool { return len(wipeResults(t, b)) > 0 })
	// An agent_started event after the result shows nothing else is coming.
	waitFor(t, "the restart", func() bool { return len(eventsOf(t, b, wire.EventAgentStarted)) >= 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	res := wipeResults(t, b)
	if len(res) != 1 || res[0].OK || res[0].Error != interruptedWipe {
		t.Errorf("results = %+v, want one failed %q", res, interruptedWipe)
	}
}
