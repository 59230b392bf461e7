package broker

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/ingest"
	"github.com/valise-numerique/valise/server/store"
)

// childEnv carries "<store path>|<listen address>" to the child process.
const childEnv = "VALISE_BROKER_TEST_CHILD"

// TestBrokerChildProcess is the server half of TestKillNineDurability:
// broker, ingest and store in a process of their own, so that the test can
// SIGKILL it. It prints "READY <addr>" once listening and, when stopped with
// SIGTERM, "STATS <stored> <duplicates>".
func TestBrokerChildProcess(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("runs only as the child process of TestKillNineDurability")
	}
	path, addr, _ := strings.Cut(spec, "|")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ing, err := ingest.New(ingest.Config{Store: st, Registerer: reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Addr: addr, Auth: testAuth{}, Sink: ing, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("READY %s\n", b.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	select {
	case <-sig:
	case <-time.After(2 * time.Minute): // the parent is gone
	}
	b.Close()
	ing.Close()
	fmt.Printf("STATS %d %d\n", int(counter(t, reg, "valise_ingest_messages_total")), int(counter(t, reg, "valise_ingest_duplicates_total")))
	st.Close()
}

type child struct {
	cmd   *exec.Cmd
	addr  string
	lines chan string
}

func startChild(t *testing.T, path, addr string) *child {
	t.Helper()
	c := &child{lines: make(chan string, 16)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestBrokerChildProcess$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), childEnv+"="+path+"|"+addr)
	c.cmd.Stderr = os.Stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default:
			}
		}
		close(c.lines)
	}()
	c.addr = strings.TrimPrefix(c.expect(t, "READY "), "READY ")
	return c
}

// expect returns the child's next output line starting with prefix.
func (c *child) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("child exited before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("child did not print %q", prefix)
		}
	}
}

func netPayload(t testing.TB, dev string, seq uint64) []byte {
	return envelope(t, dev, seq, wire.ChanNet, &wire.Net{
		DefaultRoute: "eth0",
		Interfaces:   []wire.Interface{{Name: "eth0", Kind: wire.IfEthernet, Up: true, RxBytes: seq}},
	})
}

// TestKillNineDurability: 20 devices publish at QoS 1 while the server
// process is killed with SIGKILL. After a restart on the same file, every
// message that got a PUBACK is stored, and once the devices have sent
// everything again, each message is stored exactly once.
func TestKillNineDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns server processes")
	}
	const devices, perDevice, inflight, killAfter = 20, 1500, 8, 3000
	path := filepath.Join(t.TempDir(), "valise.db")
	c1 := startChild(t, path, "127.0.0.1:0")

	acked := make(map[string]map[uint64]bool)
	sent := make([]uint64, devices) // highest seq each device handed to paho
	var total atomic.Int64
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for d := range devices {
		dev := fmt.Sprintf("dev-%02d", d)
		mine := make(map[uint64]bool)
		acked[dev] = mine
		cl, err := connect(t, clientOpts(c1.addr, dev, dev, "pw-"+dev))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			type pending struct {
				seq uint64
				tok paho.Token
			}
			window := make(chan pending, inflight)
			settle := func(p pending) bool {
				if !p.tok.WaitTimeout(waitFor) || p.tok.Error() != nil {
					return false
				}
				mine[p.seq] = true // read only after wg.Wait
				if total.Add(1) >= killAfter {
					once.Do(func() { close(enough) })
				}
				return true
			}
			ok := true
			for seq := uint64(1); seq <= perDevice && ok; seq++ {
				if len(window) == cap(window) {
					ok = settle(<-window)
				}
				window <- pending{seq, cl.Publish(topics.Device(dev, wire.ChanNet), 1, false, netPayload(t, dev, seq))}
				sent[d] = seq
			}
			close(window)
			for p := range window {
				settle(p)
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(time.Minute):
		t.Fatalf("only %d PUBACKs before the kill", total.Load())
	}
	if err := c1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c1.cmd.Wait()
	wg.Wait()
	var nAcked, nSent int
	for d := range devices {
		nAcked += len(acked[fmt.Sprintf("dev-%02d", d)])
		nSent += int(sent[d])
	}
	t.Logf("killed after %d PUBACKs, %d messages handed to the clients", nAcked, nSent)

	// Restart on the same file and port; every device sends again all it
	// had tried to send, as an agent resends its unacknowledged spool (and
	// here the acknowledged part too).
	c2 := startChild(t, path, c1.addr)
	for d := range devices {
		dev := fmt.Sprintf("dev-%02d", d)
		cl, err := connect(t, clientOpts(c2.addr, dev, dev, "pw-"+dev))
		if err != nil {
			t.Fatal(err)
		}
		var toks []paho.Token
		for seq := uint64(1); seq <= sent[d]; seq++ {
			toks = append(toks, cl.Publish(topics.Device(dev, wire.ChanNet), 1, false, netPayload(t, dev, seq)))
		}
		for _, tok := range toks {
			if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
				t.Fatalf("%s resend: %v", dev, tok.Error())
			}
		}
	}
	if err := c2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var stored2, dups2 int
	if _, err := fmt.Sscanf(c2.expect(t, "STATS "), "STATS %d %d", &stored2, &dups2); err != nil {
		t.Fatal(err)
	}
	c2.cmd.Wait()
	if stored2+dups2 != nSent {
		t.Errorf("after restart: %d stored + %d duplicates, want %d resent", stored2, dups2, nSent)
	}
	if dups2 < nAcked {
		t.Errorf("after restart: %d duplicates, fewer than the %d messages acknowledged before the kill", dups2, nAcked)
	}

	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for d := range devices {
		dev := fmt.Sprintf("dev-%02d", d)
		pts, err := st.History(dev, apitype.MetricDataUsed, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		count := make(map[uint64]int)
		for _, p := range pts {
			count[uint64(p.Value)]++
		}
		for seq := range acked[dev] {
			if count[seq] != 1 {
				t.Errorf("%s seq %d was acknowledged before the kill but is stored %d times", dev, seq, count[seq])
			}
		}
		if len(pts) != int(sent[d]) || len(count) != int(sent[d]) {
			t.Errorf("%s: %d points (%d distinct seqs), want %d", dev, len(pts), len(count), sent[d])
		}
	}
}
