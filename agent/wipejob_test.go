package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// fileWiper is a test Wiper with one file-backed disk, "vda": it
// overwrites the file with zeros and reads it back, as the overwrite
// executor does, slowly if asked.
type fileWiper struct {
	path  string
	delay time.Duration // after each chunk, to make a slow wipe
	calls atomic.Int64
}

const testChunk = 256 << 10

func (w *fileWiper) Targets(_ context.Context, names []string) ([]WipeTarget, error) {
	for _, n := range names {
		if n != "vda" {
			return nil, fmt.Errorf("no internal disk named %q", n)
		}
	}
	return []WipeTarget{{Name: "vda", Path: w.path}}, nil
}

func (w *fileWiper) Wipe(ctx context.Context, t WipeTarget, spec WipeSpec) (certificate.Medium, error) {
	w.calls.Add(1)
	m := certificate.Medium{Name: t.Name, Type: "file", Method: wire.MethodOverwrite, Category: certificate.CategoryClear,
		Pattern: "zeros", Started: time.Now().UTC(), Result: certificate.ResultFailed,
		Verification: certificate.Verification{Method: spec.Verify, Result: "not_done"}}
	fail := func(err error) (certificate.Medium, error) {
		m.Error, m.Finished = err.Error(), time.Now().UTC()
		return m, err
	}
	f, err := os.OpenFile(t.Path, os.O_RDWR, 0)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	size := fi.Size()
	m.CapacityBytes = size
	zero := make([]byte, testChunk)
	for _, phase := range []string{wire.PhaseErasing, wire.PhaseVerifying} {
		buf := make([]byte, testChunk)
		for off := int64(0); off < size; off += testChunk {
			if err := ctx.Err(); err != nil {
				return fail(fmt.Errorf("cancelled: %w", err))
			}
			n := min(testChunk, size-off)
			if phase == wire.PhaseErasing {
				if _, err := f.WriteAt(zero[:n], off); err != nil {
					return fail(err)
				}
			} else {
				if _, err := f.ReadAt(buf[:n], off); err != nil && err != io.EOF {
					return fail(err)
				}
				if !bytes.Equal(buf[:n], zero[:n]) {
					m.Verification.Result = "failed"
					return fail(fmt.Errorf("verification failed near offset %d", off))
				}
			}
			spec.Progress(wire.WipeProgress{Phase: phase, DoneBytes: off + n, TotalBytes: size})
			if w.delay > 0 {
				time.Sleep(w.delay)
			}
		}
		if phase == wire.PhaseErasing {
			if err := f.Sync(); err != nil {
				return fail(err)
			}
		}
	}
	m.Verification = certificate.Verification{Method: wire.VerifyFull, Result: "passed", BytesChecked: size}
	m.Result, m.Finished = certificate.ResultSucceeded, time.Now().UTC()
	return m, nil
}

// randomDisk makes a file of size random bytes: the user data to erase.
func randomDisk(t *testing.T, size int) string {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func allZero(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(b) > 0 && bytes.Count(b, []byte{0}) == len(b)
}

// withDeviceKey gives the state dir a device key, as Enroll does.
func withDeviceKey(t *testing.T, dir string) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := saveDeviceKey(dir, key); err != nil {
		t.Fatal(err)
	}
	return key
}

// events returns the recorded events of one type, in arrival order.
func eventsOf(t *testing.T, b *broker, typ string) []wire.Event {
	t.Helper()
	var out []wire.Event
	for _, ev := range bodies[wire.Event](t, envelopes(t, b.records()), wire.ChanEvent) {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

func wipeResults(t *testing.T, b *broker) []wire.WipeResult {
	t.Helper()
	var out []wire.WipeResult
	for _, ev := range eventsOf(t, b, wire.EventWipeResult) {
		var r wire.WipeResult
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.OK != ev.OK {
			t.Errorf("event ok %v, result ok %v", ev.OK, r.OK)
		}
		out = append(out, r)
	}
	return out
}

// sendCommand signs and publishes a command to testDevice.
func sendCommand(t *testing.T, b *broker, key ed25519.PrivateKey, id, typ, nonce string, issued time.Time, args any) []byte {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := wire.SignCommand(key, wire.Command{ID: id, Device: testDevice, Type: typ, Nonce: nonce,
		IssuedAt: issued, ExpiresAt: issued.Add(time.Hour), Args: raw})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, payload)
	return payload
}

func publish(t *testing.T, b *broker, payload []byte) {
	t.Helper()
	if err := b.srv.Publish((wire.Topics{}).Device(testDevice, wire.ChanCmd), payload, false, 1); err != nil {
		t.Fatal(err)
	}
}

func TestWipeCommand(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	key := newCommandKey(t)
	dir := writeState(t, b.addr, key)
	devKey := withDeviceKey(t, dir)
	disk := randomDisk(t, 4<<20)
	cfg := testConfig(dir, &testSource{})
	cfg.Wiper = &fileWiper{path: disk}
	cfg.AgentVersion = "1.2.3"
	stop := startAgent(t, cfg)
	waitFor(t, "online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })

	args := wire.WipeArgs{Job: "job-1", Method: wire.MethodOverwrite, Verify: wire.VerifyFull, Operator: "tech-anne",
		SourceVenue: "France Services de Die", Destination: "reuse", PrevHash: strings.Repeat("ab", 32)}
	sendCommand(t, b, key, "cmd-1", wire.CmdWipe, "n-1", time.Now(), args)
	waitFor(t, "the wipe result", func() bool { return len(wipeResults(t, b)) > 0 })

	res := wipeResults(t, b)[0]
	if !res.OK || res.Job != "job-1" || res.Error != "" {
		t.Fatalf("result = %+v, want job-1 ok", res)
	}
	if !allZero(t, disk) {
		t.Errorf("the disk does not read back as zeros")
	}
	var phases []string
	for _, ev := range eventsOf(t, b, wire.EventWipeProgress) {
		var p wire.WipeProgress
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			t.Fatal(err)
		}
		if p.Job != "job-1" || p.Disk != "vda" || ev.Command != "cmd-1" {
			t.Errorf("progress %+v of command %q", p, ev.Command)
		}
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	}
	if strings.Join(phases, ",") != "erasing,verifying" {
		t.Errorf("progress phases %v, want erasing then verifying", phases)
	}
	// The certificate travelled compacted inside the event: its canonical
	// form is restored by re-encoding.
	var f certificate.File
	if err := json.Unmarshal(res.Certificate, &f); err != nil {
		t.Fatal(err)
	}
	canon, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := certificate.Verify(canon, certificate.VerifyOptions{Unsigned: true, DeviceKey: devKey.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatalf("certificate does not verify: %v", err)
	}
	want := certificate.Asset{DeviceID: testDevice, AssetTag: "VAL-0001", Class: wire.ClassLaptop, Vendor: "LENOVO",
		Model: "ThinkPad T480", Serial: "PF1ABCDE", UUID: "4c4c4544-0042-3510-8052-b4c04f4e3332"}
	if c.Asset != want {
		t.Errorf("asset = %+v, want %+v", c.Asset, want)
	}
	if c.ID != "cert-job-1" || c.JobID != "job-1" || c.Result != certificate.ResultSucceeded || c.Operator != "tech-anne" ||
		c.SourceVenue != args.SourceVenue || c.Destination != "reuse" || c.PrevHash != args.PrevHash ||
		c.Tool != (certificate.Tool{Name: "valise-agent", Version: "1.2.3"}) || len(c.Media) != 1 || c.Media[0].Name != "vda" {
		t.Errorf("certificate = %+v", c)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	jobs, err := openSpool(t, dir).Jobs()
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Errorf("jobs journaled after the result: %v", jobs)
	}
}

func TestWipeCommandsRefused(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	key := newCommandKey(t)
	dir := writeState(t, b.addr, key)
	withDeviceKey(t, dir)
	disk := randomDisk(t, 1<<20)
	before, _ := os.ReadFile(disk)
	w := &fileWiper{path: disk}
	cfg := testConfig(dir, &testSource{})
	cfg.Wiper = w
	startAgent(t, cfg)
	waitFor(t, "online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })

	now := time.Now()
	args := wire.WipeArgs{Job: "job-x", Operator: "tech"}
	sign := func(k ed25519.PrivateKey, id, nonce string, issued time.Time, device string) []byte {
		raw, _ := json.Marshal(args)
		p, err := wire.SignCommand(k, wire.Command{ID: id, Device: device, Type: wire.CmdWipe, Nonce: nonce, IssuedAt: issued, ExpiresAt: issued.Add(time.Hour), Args: raw})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		payload []byte
		id      string
		want    string
	}{
		{"forged", sign(newCommandKey(t), "w-forged", "n1", now, testDevice), "w-forged", "not signed"},
		{"expired", sign(key, "w-expired", "n2", now.Add(-2*time.Hour), testDevice), "w-expired", "expired"},
		{"for another device", sign(key, "w-foreign", "n3", now, "dother000001"), "w-foreign", "dother000001"},
	}
	refusals := func() []wire.Event { return eventsOf(t, b, wire.EventCommandResult) }
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			publish(t, b, tc.payload)
			waitFor(t, "the refusal", func() bool { return len(refusals()) > i })
			got := refusals()[i]
			if got.Command != tc.id || got.OK || !strings.Contains(got.Message, tc.want) {
				t.Errorf("refusal = %+v, want command %s refused with %q", got, tc.id, tc.want)
			}
		})
	}
	t.Run("replayed", func(t *testing.T) {
		// A valid command whose job cannot run (unknown disk) consumes its nonce…
		args.Disks = []string{"sdz"}
		valid := sign(key, "w-valid", "n4", now, testDevice)
		publish(t, b, valid)
		waitFor(t, "the failed result", func() bool { return len(wipeResults(t, b)) > 0 })
		if r := wipeResults(t, b)[0]; r.OK || !strings.Contains(r.Error, "sdz") {
			t.Errorf("result = %+v, want failed naming sdz", r)
		}
		// …and sending it again is refused as a replay.
		n := len(refusals())
		publish(t, b, valid)
		waitFor(t, "the replay's refusal", func() bool { return len(refusals()) > n })
		if got := refusals()[n]; got.OK || !strings.Contains(got.Message, "replayed") {
			t.Errorf("replay = %+v, want refused as replayed", got)
		}
	})
	after, _ := os.ReadFile(disk)
	if !bytes.Equal(before, after) || w.calls.Load() != 0 {
		t.Errorf("a refused command touched the disk (%d wipe calls)", w.calls.Load())
	}
}

func TestWipeOneJobAtATime(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	key := newCommandKey(t)
	dir := writeState(t, b.addr, key)
	withDeviceKey(t, dir)
	cfg := testConfig(dir, &testSource{})
	cfg.Wiper = &fileWiper{path: randomDisk(t, 2<<20), delay: 20 * time.Millisecond}
	startAgent(t, cfg)
	waitFor(t, "online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })

	sendCommand(t, b, key, "c-a", wire.CmdWipe, "na", time.Now(), wire.WipeArgs{Job: "job-a", Operator: "t"})
	waitFor(t, "progress of the first job", func() bool { return len(eventsOf(t, b, wire.EventWipeProgress)) > 0 })
	sendCommand(t, b, key, "c-b", wire.CmdWipe, "nb", time.Now(), wire.WipeArgs{Job: "job-b", Operator: "t"})
	waitFor(t, "both results", func() bool { return len(wipeResults(t, b)) >= 2 })
	res := wipeResults(t, b)
	if res[0].Job != "job-b" || res[0].OK || !strings.Contains(res[0].Error, "already running") || !strings.Contains(res[0].Error, "job-a") {
		t.Errorf("second job's result = %+v, want refused naming job-a", res[0])
	}
	if res[1].Job != "job-a" || !res[1].OK {
		t.Errorf("first job's result = %+v, want succeeded", res[1])
	}
}

func TestWipeWithoutDeviceKeyOrWiper(t *testing.T) {
	tests := []struct {
		name   string
		key    bool
		wiper  bool
		reason string
	}{
		{"no device key", false, true, "device key"},
		{"no executor", true, false, "no wipe executor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, "127.0.0.1:0")
			key := newCommandKey(t)
			dir := writeState(t, b.addr, key)
			if tc.key {
				withDeviceKey(t, dir)
			}
			cfg := testConfig(dir, &testSource{})
			if tc.wiper {
				cfg.Wiper = &fileWiper{path: randomDisk(t, 1<<20)}
			}
			startAgent(t, cfg)
			waitFor(t, "online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })
			sendCommand(t, b, key, "c", wire.CmdWipe, "n", time.Now(), wire.WipeArgs{Job: "job", Operator: "t"})
			waitFor(t, "the result", func() bool { return len(wipeResults(t, b)) > 0 })
			if r := wipeResults(t, b)[0]; r.OK || r.Job != "job" || !strings.Contains(r.Error, tc.reason) {
				t.Errorf("result = %+v, want failed with %q", r, tc.reason)
			}
		})
	}
}

// refusingWiper refuses every disk, as the executor refuses the disk that
// holds the running root.
type refusingWiper struct{ fileWiper }

var errUnsafe = errors.New("unsafe target: /dev/vda holds the running root filesystem")

func (w *refusingWiper) Wipe(_ context.Context, t WipeTarget, spec WipeSpec) (certificate.Medium, error) {
	return certificate.Medium{Name: t.Name, Method: wire.MethodOverwrite, Result: certificate.ResultFailed, Error: errUnsafe.Error(),
		Verification: certificate.Verification{Method: "none", Result: "not_done"}}, errUnsafe
}

func TestWipeOfTheRootDiskRefused(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	key := newCommandKey(t)
	dir := writeState(t, b.addr, key)
	devKey := withDeviceKey(t, dir)
	cfg := testConfig(dir, &testSource{})
	cfg.Wiper = &refusingWiper{}
	startAgent(t, cfg)
	waitFor(t, "online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })
	sendCommand(t, b, key, "c", wire.CmdWipe, "n", time.Now(), wire.WipeArgs{Job: "job-root", Operator: "t"})
	waitFor(t, "the result", func() bool { return len(wipeResults(t, b)) > 0 })
	r := wipeResults(t, b)[0]
	if r.OK || !strings.Contains(r.Error, "disk vda") || !strings.Contains(r.Error, "running root") {
		t.Fatalf("result = %+v, want failed naming the disk and the root", r)
	}
	var f certificate.File
	if err := json.Unmarshal(r.Certificate, &f); err != nil {
		t.Fatal(err)
	}
	canon, _ := f.Marshal()
	c, _, err := certificate.Verify(canon, certificate.VerifyOptions{Unsigned: true, DeviceKey: devKey.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatalf("failed certificate does not verify: %v", err)
	}
	if c.Result != certificate.ResultFailed || c.Media[0].Error == "" {
		t.Errorf("certificate result %s, medium error %q; want failed with the reason", c.Result, c.Media[0].Error)
	}
}

// chattyWiper succeeds with a record too large for one message.
type chattyWiper struct{ fileWiper }

func (w *chattyWiper) Wipe(ctx context.Context, t WipeTarget, spec WipeSpec) (certificate.Medium, error) {
	m, err := w.fileWiper.Wipe(ctx, t, spec)
	for i := range 80 {
		m.Commands = append(m.Commands, certificate.Command{Command: fmt.Sprintf("step %d", i), Output: strings.Repeat("x", 4096)})
	}
	return m, err
}

func TestWipeResultTooLargeStillEndsTheJob(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	key := newCommandKey(t)
	dir := writeState(t, b.addr, key)
	withDeviceKey(t, dir)
	cfg := testConfig(dir, &testSource{})
	cfg.Wiper = &chattyWiper{fileWiper{path: randomDisk(t, 1<<20)}}
	startAgent(t, cfg)
	waitFor(t, "online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })
	sendCommand(t, b, key, "c", wire.CmdWipe, "n", time.Now(), wire.WipeArgs{Job: "job-big", Operator: "t"})
	waitFor(t, "the result", func() bool { return len(wipeResults(t, b)) > 0 })
	r := wipeResults(t, b)[0]
	if r.OK || r.Certificate != nil || !strings.Contains(r.Error, "could not be spooled") {
		t.Errorf("result = %+v, want failed without certificate, saying why", r)
	}
}

func TestProgressRateLimited(t *testing.T) {
	sp := openSpool(t, t.TempDir())
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	r := &runner{
		cfg:   Config{Now: func() time.Time { return now }},
		st:    State{DeviceID: testDevice},
		spool: sp,
		pub:   &publisher{wake: make(chan struct{}, 1)},
		log:   testConfig("", nil).Logger,
	}
	progress := r.progress(jobRecord{Job: "j", Command: "c"}, "sda")
	const total = 1000
	steps := []struct {
		advance time.Duration
		phase   string
		done    int64
		sent    bool
	}{
		{0, wire.PhaseProbing, 0, true},
		{0, wire.PhaseErasing, 0, true}, // a new phase goes at once
		{300 * time.Millisecond, wire.PhaseErasing, 100, false},
		{300 * time.Millisecond, wire.PhaseErasing, 200, false},
		{500 * time.Millisecond, wire.PhaseErasing, 300, true},  // a second after the last one sent
		{10 * time.Millisecond, wire.PhaseErasing, total, true}, // the end of a phase always goes
		{10 * time.Millisecond, wire.PhaseVerifying, 10, true},
		{10 * time.Millisecond, wire.PhaseVerifying, 20, false},
	}
	var want []uint64
	for i, s := range steps {
		now = now.Add(s.advance)
		before, err := sp.Stats()
		if err != nil {
			t.Fatal(err)
		}
		progress(wire.WipeProgress{Phase: s.phase, DoneBytes: s.done, TotalBytes: total})
		after, _ := sp.Stats()
		if sent := after.LastSeq > before.LastSeq; sent != s.sent {
			t.Errorf("step %d (%s %d/%d after %s): sent %v, want %v", i, s.phase, s.done, total, s.advance, sent, s.sent)
		}
		if s.sent {
			want = append(want, uint64(len(want)+1))
		}
	}
	msgs, err := sp.Next(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		env, err := wire.Decode(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var ev wire.Event
		json.Unmarshal(env.Body, &ev)
		var p wire.WipeProgress
		json.Unmarshal(ev.Data, &p)
		if ev.Type != wire.EventWipeProgress || p.Job != "j" || p.Disk != "sda" || ev.Command != "c" {
			t.Errorf("message %d: event %+v progress %+v", m.Seq, ev, p)
		}
	}
	if len(msgs) != len(want) {
		t.Errorf("%d progress events spooled, want %d", len(msgs), len(want))
	}
}
