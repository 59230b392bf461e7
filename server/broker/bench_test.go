package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/valise-numerique/valise/internal/wire"
)

// Benchmark harness: benchPublishers paho clients, each keeping up to
// benchInflight QoS 1 publishes of ~1 KiB health envelopes in flight, as an
// agent draining its spool does. The same harness runs against the embedded
// broker with durable ingest and against Mosquitto with one subscriber.
const (
	benchPublishers = 100
	benchInflight   = 32
)

// benchHealth is a realistic health body: two batteries, two disks with
// SMART, filesystems, memory, load, temperatures and collector timings.
var benchHealth = func() []byte {
	f := func(v float64) *float64 { return &v }
	i := func(v int64) *int64 { return &v }
	ok := true
	cycles := 312
	h := wire.Health{
		Batteries: []wire.Battery{
			{Name: "BAT0", Status: "Discharging", ChargePercent: f(76), HealthPercent: f(68.4), FullWh: 38.2, DesignWh: 55.8, CycleCount: &cycles, PowerW: f(7.9)},
		},
		Disks: []wire.DiskHealth{
			{Name: "nvme0n1", Model: "SAMSUNG MZVLB256HAHQ-000L7", Serial: "S4ELNX0N123456", SmartAvailable: true, Passed: &ok,
				PowerOnHours: i(11873), PowerCycles: i(2210), PercentageUsed: i(9), MediaErrors: i(0), AvailableSpare: i(100), CriticalWarning: i(0), TemperatureC: f(38)},
		},
		Filesystems: []wire.Filesystem{
			{Mountpoint: "/", Device: "/dev/nvme0n1p2", FSType: "ext4", TotalBytes: 234_000_000_000, FreeBytes: 151_000_000_000, UsedPercent: 35.5},
			{Mountpoint: "/boot/efi", Device: "/dev/nvme0n1p1", FSType: "vfat", TotalBytes: 535_805_952, FreeBytes: 529_000_000, UsedPercent: 1.3},
		},
		Memory:        &wire.MemoryUsage{TotalBytes: 8_000_000_000, AvailableBytes: 5_100_000_000, UsedPercent: 36.2, SwapTotalBytes: 2_000_000_000},
		Load:          &wire.Load{Load1: 0.42, Load5: 0.31, Load15: 0.25},
		Temperatures:  []wire.Temperature{{Sensor: "coretemp Package id 0", Celsius: 47}, {Sensor: "acpitz", Celsius: 40}, {Sensor: "nvme Composite", Celsius: 38}},
		UptimeSeconds: 93_712,
		Collectors: []wire.CollectorRun{
			{Name: "battery", DurationMS: 0.41}, {Name: "smart", DurationMS: 38.2}, {Name: "filesystems", DurationMS: 0.9},
			{Name: "memory", DurationMS: 0.2}, {Name: "load", DurationMS: 0.1}, {Name: "temperatures", DurationMS: 1.7},
		},
	}
	b, err := json.Marshal(h)
	if err != nil {
		panic(err)
	}
	return b
}()

// benchPayload builds the envelope of seq by hand (what wire.Encode would
// write), so that the publishers spend little CPU beside the broker.
func benchPayload(dev string, seq uint64, at time.Time) []byte {
	b := make([]byte, 0, len(benchHealth)+128)
	b = append(b, `{"v":1,"device":"`...)
	b = append(b, dev...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"at":"`...)
	b = at.AppendFormat(b, time.RFC3339)
	b = append(b, `","kind":"health","body":`...)
	b = append(b, benchHealth...)
	return append(b, '}')
}

func benchDevice(i int) string { return fmt.Sprintf("dev-%03d", i) }

// connectPublishers connects benchPublishers devices to addr.
func connectPublishers(b *testing.B, addr string) []paho.Client {
	b.Helper()
	cs := make([]paho.Client, benchPublishers)
	for i := range cs {
		dev := benchDevice(i)
		c, err := connect(b, clientOpts(addr, dev, dev, "pw-"+dev))
		if err != nil {
			b.Fatalf("connect %s: %v", dev, err)
		}
		cs[i] = c
	}
	return cs
}

// publishAll sends n messages spread over the publishers and returns once
// each got its PUBACK. seq0 is the last seq already used per device.
func publishAll(b *testing.B, cs []paho.Client, n int, seq0 []uint64) {
	b.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i, c := range cs {
		share := n / len(cs)
		if i < n%len(cs) {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := benchDevice(i)
			topic := topics.Device(dev, wire.ChanHealth)
			window := make(chan paho.Token, benchInflight)
			wait := func(tok paho.Token) {
				if !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
					failed.Add(1)
				}
			}
			for k := 0; k < share; k++ {
				if len(window) == cap(window) {
					wait(<-window)
				}
				seq0[i]++
				window <- c.Publish(topic, 1, false, benchPayload(dev, seq0[i], t0.Add(time.Duration(seq0[i])*time.Second)))
			}
			close(window)
			for tok := range window {
				wait(tok)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d publishes failed", f)
	}
}

// BenchmarkDurableIngest measures messages per second through the embedded
// broker, ingest and bbolt with fsync: each PUBACK is sent after the
// message's commit.
func BenchmarkDurableIngest(b *testing.B) {
	r := startRig(b, "")
	cs := connectPublishers(b, r.b.Addr())
	seq := make([]uint64, len(cs))
	cpu0 := cpuTime(b)
	b.ResetTimer()
	publishAll(b, cs, b.N, seq)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	if got := counter(b, r.reg, "valise_ingest_messages_total"); got != float64(b.N) {
		b.Fatalf("stored %v messages, want %d", got, b.N)
	}
	if mfs, err := r.reg.Gather(); err == nil {
		for _, mf := range mfs {
			if mf.GetName() == "valise_ingest_batch_size" {
				h := mf.GetMetric()[0].GetHistogram()
				b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), "msg/commit")
			}
		}
	}
}

// BenchmarkMosquittoBaseline runs the same publishers against Debian's
// Mosquitto (no persistence) with one QoS 1 subscriber, and measures
// messages per second delivered to it.
func BenchmarkMosquittoBaseline(b *testing.B) {
	m := startMosquitto(b, 0)
	var got atomic.Int64
	all := make(chan struct{})
	var want atomic.Int64
	want.Store(int64(b.N))
	sub, err := connect(b, clientOpts(m.addr, "baseline-sub", "", "").SetOrderMatters(false))
	if err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	tok := sub.Subscribe(topics.UpFilter(), 1, func(_ paho.Client, _ paho.Message) {
		if got.Add(1) == want.Load() {
			once.Do(func() { close(all) })
		}
	})
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	cs := connectPublishers(b, m.addr)
	seq := make([]uint64, len(cs))
	cpu0 := cpuTime(b, m.cmd.Process.Pid)
	b.ResetTimer()
	publishAll(b, cs, b.N, seq)
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("subscriber got %d of %d", got.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	b.ReportMetric(float64((cpuTime(b, m.cmd.Process.Pid)-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// cpuTime returns the CPU time (user + system) used so far by this process
// and by the processes in pids, so that benchmarks can report CPU per
// message, which the load of a shared machine does not skew as it skews
// throughput.
func cpuTime(b *testing.B, pids ...int) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	total := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		// Fields after the command name (which may hold spaces): state is
		// field 3, utime and stime are 14 and 15, in clock ticks (100 Hz).
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}
