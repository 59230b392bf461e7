package broker

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const mosquittoBin = "/usr/sbin/mosquitto"

// mosquitto is a real Mosquitto on 127.0.0.1, started for one test.
type mosquitto struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
}

// startMosquitto runs Debian's Mosquitto with a config written in a temp
// dir (no persistence, nothing dropped for slow persistent sessions), or
// skips the test when the binary is absent. port 0 picks a free port.
func startMosquitto(t testing.TB, port int) *mosquitto {
	t.Helper()
	if _, err := os.Stat(mosquittoBin); err != nil {
		t.Skipf("mosquitto not installed: %v", err)
	}
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 1000
log_dest stderr
`, port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{addr: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{})}
	m.cmd = exec.Command(mosquittoBin, "-c", conf)
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	m.cmd.Stderr = m.cmd.Stdout
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		io.Copy(io.Discard, out)
		m.cmd.Wait()
		close(m.done)
	}()
	// Ready once it accepts connections.
	for deadline := time.Now().Add(waitFor); ; time.Sleep(10 * time.Millisecond) {
		select {
		case <-m.done:
			t.Fatalf("mosquitto exited: %v", m.cmd.ProcessState)
		default:
		}
		if c, err := net.Dial("tcp", m.addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			m.stop()
			t.Fatal("mosquitto did not start listening")
		}
	}
	t.Cleanup(m.stop)
	return m
}

// stop kills Mosquitto and waits for it to exit.
func (m *mosquitto) stop() {
	m.cmd.Process.Kill()
	select {
	case <-m.done:
	case <-time.After(waitFor):
	}
}
