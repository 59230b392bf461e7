package agent

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valise-numerique/valise/agent/spool"
	"github.com/valise-numerique/valise/internal/wire"
)

func presenceTopic() string { return (wire.Topics{}).Device(testDevice, wire.ChanPresence) }

// decoded returns the envelopes of recs of one kind with their bodies.
func bodies[T any](t *testing.T, envs []wire.Envelope, kind wire.Channel) []T {
	t.Helper()
	var out []T
	for _, env := range envs {
		if env.Kind != kind {
			continue
		}
		var v T
		if err := json.Unmarshal(env.Body, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func openSpool(t *testing.T, dir string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(filepath.Join(dir, SpoolFile), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

func TestReportsArriveAndPresence(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	dir := writeState(t, b.addr, newCommandKey(t))
	src := &testSource{}
	stop := startAgent(t, testConfig(dir, src))

	waitFor(t, "the first four reports", func() bool { return len(envelopes(t, b.records())) >= 4 })
	waitFor(t, "retained online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })

	envs := envelopes(t, b.records())
	type got struct {
		Seq  uint64
		Kind wire.Channel
	}
	var first []got
	for _, e := range envs[:4] {
		if e.Device != testDevice {
			t.Errorf("envelope device %q, want %q", e.Device, testDevice)
		}
		first = append(first, got{e.Seq, e.Kind})
	}
	want := []got{{1, wire.ChanEvent}, {2, wire.ChanInventory}, {3, wire.ChanHealth}, {4, wire.ChanNet}}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("first reports (-want +got):\n%s", diff)
	}
	if ev := bodies[wire.Event](t, envs, wire.ChanEvent); len(ev) == 0 || ev[0].Type != wire.EventAgentStarted {
		t.Errorf("first event = %+v, want agent_started", ev)
	}
	if inv := bodies[wire.Inventory](t, envs, wire.ChanInventory); len(inv) != 1 || inv[0].System.Model != "ThinkPad T480" {
		t.Errorf("inventories = %+v", inv)
	}

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if p := b.retained(presenceTopic()); p != wire.PresenceOffline {
		t.Errorf("retained presence after a clean stop = %q, want offline", p)
	}
	st, err := openSpool(t, dir).Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Count != 0 || st.LastSeq != 4 {
		t.Errorf("spool after stop = %+v, want all 4 messages acked", st)
	}
}

func TestLastWillOnAbruptLoss(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	px := startProxy(t, b.addr)
	dir := writeState(t, px.addr(), newCommandKey(t))
	connections := make(chan bool, 16)
	cfg := testConfig(dir, &testSource{})
	cfg.OnConnection = func(up bool) { connections <- up }
	startAgent(t, cfg)

	waitFor(t, "online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })
	px.cut()
	waitFor(t, "the Last Will", func() bool {
		for _, r := range b.records() {
			if r.topic == presenceTopic() && string(r.payload) == wire.PresenceOffline && r.retain {
				return true
			}
		}
		return false
	})
	// The agent comes back by itself.
	waitFor(t, "a reconnection", func() bool {
		n := 0
		for len(connections) > 0 {
			if <-connections {
				n++
			}
		}
		return n > 0 && b.retained(presenceTopic()) == wire.PresenceOnline
	})
}

// dropped sums the dropped_samples of the spool's drop reports.
func dropped(t *testing.T, envs []wire.Envelope) int {
	t.Helper()
	n := 0
	for _, ev := range bodies[wire.Event](t, envs, wire.ChanEvent) {
		if ev.Type != wire.EventLocal || len(ev.Data) == 0 {
			continue
		}
		var d struct {
			Dropped int `json:"dropped_samples"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		n += d.Dropped
	}
	return n
}

func TestBrokerDownNothingLost(t *testing.T) {
	tests := []struct {
		name      string
		spoolMax  int64
		wantDrops bool
	}{
		{"spool large enough", 0, false},
		{"spool bound reached", 1500, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b1 := startBroker(t, "127.0.0.1:0")
			dir := writeState(t, b1.addr, newCommandKey(t))
			src := &testSource{}
			cfg := testConfig(dir, src)
			cfg.Interval = 10 * time.Millisecond
			cfg.SpoolMaxBytes = tc.spoolMax
			stop := startAgent(t, cfg)

			waitFor(t, "reports on the first broker", func() bool { return len(envelopes(t, b1.records())) >= 6 })
			b1.close()
			down := src.health.Load()
			waitFor(t, "samples while the broker is down", func() bool { return src.health.Load() >= down+20 })
			b2 := startBroker(t, b1.addr)
			back := src.health.Load()
			waitFor(t, "a sample taken after the broker came back", func() bool {
				for _, h := range bodies[wire.Health](t, envelopes(t, b2.records()), wire.ChanHealth) {
					if h.UptimeSeconds > back {
						return true
					}
				}
				return false
			})
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}

			envs := envelopes(t, append(b1.records(), b2.records()...))
			seen := map[uint64]bool{}
			var firstSeen []uint64
			var maxSeen uint64
			for _, e := range envs {
				if !seen[e.Seq] {
					seen[e.Seq] = true
					firstSeen = append(firstSeen, e.Seq)
				}
				maxSeen = max(maxSeen, e.Seq)
			}
			if !slices.IsSorted(firstSeen) {
				t.Errorf("messages did not first arrive in seq order: %v", firstSeen)
			}
			var missing []uint64
			for s := uint64(1); s <= maxSeen; s++ {
				if !seen[s] {
					missing = append(missing, s)
				}
			}
			t.Logf("%d messages, %d distinct seqs up to %d, %d missing, %d samples taken offline",
				len(envs), len(seen), maxSeen, len(missing), back-down)
			if d := dropped(t, envs); d != len(missing) {
				t.Errorf("%d seqs missing (%v), but the spool reported %d dropped samples", len(missing), missing, d)
			}
			if tc.wantDrops != (len(missing) > 0) {
				t.Errorf("missing seqs %v, want drops: %v", missing, tc.wantDrops)
			}
			// What arrived after maxSeen is either still in the spool or was
			// delivered: nothing in between is lost.
			sp := openSpool(t, dir)
			st, err := sp.Stats()
			if err != nil {
				t.Fatal(err)
			}
			rest, err := sp.Next(maxSeen, int(st.LastSeq))
			if err != nil {
				t.Fatal(err)
			}
			if uint64(len(rest)) != st.LastSeq-maxSeen {
				t.Errorf("spool holds %d messages after seq %d, want %d (last seq %d)", len(rest), maxSeen, st.LastSeq-maxSeen, st.LastSeq)
			}
		})
	}
}

func TestInventoryResentOnlyWhenChanged(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	dir := writeState(t, b.addr, newCommandKey(t))
	src := &testSource{}
	cfg := testConfig(dir, src)
	cfg.InventoryInterval = 5 * time.Millisecond
	startAgent(t, cfg)

	waitFor(t, "several inventory checks", func() bool { return src.invCalls.Load() >= 5 })
	src.model.Store("ThinkPad L470")
	calls := src.invCalls.Load()
	waitFor(t, "several checks after the change", func() bool { return src.invCalls.Load() >= calls+5 })
	waitFor(t, "the new inventory", func() bool {
		return len(bodies[wire.Inventory](t, envelopes(t, b.records()), wire.ChanInventory)) >= 2
	})
	var models []string
	for _, inv := range bodies[wire.Inventory](t, envelopes(t, b.records()), wire.ChanInventory) {
		models = append(models, inv.System.Model)
	}
	if diff := cmp.Diff([]string{"ThinkPad T480", "ThinkPad L470"}, models); diff != "" {
		t.Errorf("inventories sent (-want +got):\n%s", diff)
	}
}

func TestCommands(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	key := newCommandKey(t)
	dir := writeState(t, b.addr, key)
	src := &testSource{}
	startAgent(t, testConfig(dir, src))
	waitFor(t, "online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })

	now := time.Now()
	cmd := func(id, device, typ, nonce string, issued time.Time) wire.Command {
		return wire.Command{ID: id, Device: device, Type: typ, Nonce: nonce, IssuedAt: issued, ExpiresAt: issued.Add(10 * time.Minute)}
	}
	sign := func(k []byte, c wire.Command) []byte {
		p, err := wire.SignCommand(k, c)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	valid := sign(key, cmd("c1", testDevice, wire.CmdCollectNow, "n1", now))
	tests := []struct {
		name        string
		payload     []byte
		id          string
		wantOK      bool
		wantMessage string
	}{
		{"collect_now is obeyed", valid, "c1", true, "collected"},
		{"replayed", valid, "c1", false, "replayed"},
		{"forged", sign(newCommandKey(t), cmd("c2", testDevice, wire.CmdCollectNow, "n2", now)), "c2", false, "not signed"},
		{"expired", sign(key, cmd("c3", testDevice, wire.CmdCollectNow, "n3", now.Add(-time.Hour))), "c3", false, "expired"},
		{"for another device", sign(key, cmd("c4", "dother000001", wire.CmdCollectNow, "n4", now)), "c4", false, "dother000001"},
		{"unsupported type", sign(key, cmd("c5", testDevice, wire.CmdReboot, "n5", now)), "c5", false, "not supported"},
		{"garbage", []byte("{not json"), "", false, "malformed"},
	}
	results := func() []wire.Event {
		var out []wire.Event
		for _, ev := range bodies[wire.Event](t, envelopes(t, b.records()), wire.ChanEvent) {
			if ev.Type == wire.EventCommandResult {
				out = append(out, ev)
			}
		}
		return out
	}
	cmdTopic := (wire.Topics{}).Device(testDevice, wire.ChanCmd)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			healthBefore := src.health.Load()
			if err := b.srv.Publish(cmdTopic, tc.payload, false, 1); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the command's result", func() bool { return len(results()) > i })
			got := results()[i]
			if got.Command != tc.id || got.OK != tc.wantOK || !strings.Contains(got.Message, tc.wantMessage) {
				t.Errorf("result = {command %q ok %v message %q}, want {%q %v …%q…}", got.Command, got.OK, got.Message, tc.id, tc.wantOK, tc.wantMessage)
			}
			if tc.wantOK {
				if src.health.Load() <= healthBefore {
					t.Errorf("collect_now took no health sample")
				}
				waitFor(t, "the fresh health report", func() bool {
					for _, h := range bodies[wire.Health](t, envelopes(t, b.records()), wire.ChanHealth) {
						if h.UptimeSeconds > healthBefore {
							return true
						}
					}
					return false
				})
			} else if src.health.Load() != healthBefore {
				t.Errorf("a refused command took a health sample")
			}
		})
	}
}

func TestRunNotEnrolled(t *testing.T) {
	err := Run(t.Context(), testConfig(t.TempDir(), &testSource{}))
	if err == nil || !strings.Contains(err.Error(), "enroll") {
		t.Errorf("Run without state = %v, want a not-enrolled error", err)
	}
}

// TestWithheldPUBACKIsResent checks that a message stays in the spool
// until its PUBACK: a broker withholds the PUBACK of health reports (and
// does not deliver them) for a while; every one of them must arrive once
// it stops doing so.
func TestWithheldPUBACKIsResent(t *testing.T) {
	hook := new(withholder)
	hook.on.Store(true)
	b := startBroker(t, "127.0.0.1:0", hook)
	dir := writeState(t, b.addr, newCommandKey(t))
	src := &testSource{}
	cfg := testConfig(dir, src)
	cfg.Interval = 10 * time.Millisecond
	cfg.AckTimeout = 100 * time.Millisecond
	cfg.MaxInFlight = 4
	stop := startAgent(t, cfg)

	waitFor(t, "withheld health reports", func() bool { return hook.withheld.Load() >= 20 })
	if n := len(bodies[wire.Health](t, envelopes(t, b.records()), wire.ChanHealth)); n != 0 {
		t.Fatalf("%d health reports delivered while withheld", n)
	}
	taken := src.health.Load()
	hook.on.Store(false)
	waitFor(t, "every health report taken so far", func() bool {
		got := map[uint64]bool{}
		for _, h := range bodies[wire.Health](t, envelopes(t, b.records()), wire.ChanHealth) {
			got[h.UptimeSeconds] = true
		}
		for i := uint64(1); i <= taken; i++ {
			if !got[i] {
				return false
			}
		}
		return true
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d PUBACKs withheld, %d health samples taken before the broker acknowledged again", hook.withheld.Load(), taken)
}

// TestCommandQueuedWhileOffline checks the persistent session: a command
// sent while the device is away is obeyed when it comes back.
func TestCommandQueuedWhileOffline(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	px := startProxy(t, b.addr)
	key := newCommandKey(t)
	dir := writeState(t, px.addr(), key)
	src := &testSource{}
	startAgent(t, testConfig(dir, src))
	waitFor(t, "online presence", func() bool { return b.retained(presenceTopic()) == wire.PresenceOnline })

	px.down.Store(true)
	px.cut()
	waitFor(t, "the Last Will", func() bool { return b.retained(presenceTopic()) == wire.PresenceOffline })
	now := time.Now()
	payload, err := wire.SignCommand(key, wire.Command{ID: "c-away", Device: testDevice, Type: wire.CmdCollectNow,
		Nonce: "n-away", IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Publish((wire.Topics{}).Device(testDevice, wire.ChanCmd), payload, false, 1); err != nil {
		t.Fatal(err)
	}
	px.down.Store(false)
	waitFor(t, "the result of the queued command", func() bool {
		for _, ev := range bodies[wire.Event](t, envelopes(t, b.records()), wire.ChanEvent) {
			if ev.Type == wire.EventCommandResult && ev.Command == "c-away" {
				return ev.OK
			}
		}
		return false
	})
}
