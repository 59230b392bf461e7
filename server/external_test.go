package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server"
)

const mosquittoBin = "/usr/sbin/mosquitto"

// startMosquitto runs Debian's Mosquitto on a free loopback port for one
// test and returns its address; it skips the test when it is absent.
func startMosquitto(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(mosquittoBin); err != nil {
		t.Skipf("mosquitto not installed: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n", l.Addr().(*net.TCPAddr).Port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mosquittoBin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if i == 500 { // 5 s
			t.Fatal("mosquitto did not start listening")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExternalBroker runs the server as a consumer of a real Mosquitto:
// agents are sent there at enrolment, their reports reach the API, and
// commands go out through it.
func TestExternalBroker(t *testing.T) {
	mq := "tcp://" + startMosquitto(t)
	dir := t.TempDir()
	s, _ := startServer(t, server.Config{DataDir: dir, MQTTURL: mq})
	if s.MQTTAddr() != "" {
		t.Errorf("MQTTAddr = %q in external mode", s.MQTTAddr())
	}
	base := "http://" + s.HTTPAddr()
	c, err := apiclient.New(base, readToken(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.CreateEnrollToken(context.Background(), apitype.EnrollTokenRequest{Class: wire.ClassLaptop})
	if err != nil {
		t.Fatal(err)
	}
	inv := fixtureInventory()
	body, _ := json.Marshal(wire.EnrollRequest{Token: tok.Token, Inventory: inv})
	resp, err := http.Post(base+wire.EnrollPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var en wire.EnrollResponse
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &en); err != nil || en.MQTTURL != mq {
		t.Fatalf("enrolment = %s (%v), want the external broker's URL %s", b, err, mq)
	}

	cl := paho.NewClient(paho.NewClientOptions().AddBroker(mq).SetClientID(en.DeviceID).
		SetProtocolVersion(4).SetConnectTimeout(wait).SetAutoReconnect(false))
	if tk := cl.Connect(); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("connect: %v", tk.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	cmds := make(chan []byte, 1)
	topics := wire.Topics{Prefix: en.TopicPrefix}
	if tk := cl.Subscribe(topics.Device(en.DeviceID, wire.ChanCmd), 1, func(_ paho.Client, m paho.Message) {
		select {
		case cmds <- m.Payload():
		default:
		}
	}); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("subscribe: %v", tk.Error())
	}
	env, err := wire.NewEnvelope(en.DeviceID, 1, time.Now(), wire.ChanInventory, inv)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := wire.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	if tk := cl.Publish(topics.Device(en.DeviceID, wire.ChanInventory), 1, false, payload); !tk.WaitTimeout(wait) || tk.Error() != nil {
		t.Fatalf("publish: %v", tk.Error())
	}

	// The PUBACK here is Mosquitto's, not the server's: poll, bounded.
	var d apitype.DeviceDetail
	for i := 0; d.Inventory == nil; i++ {
		if i == 200 {
			t.Fatal("the inventory never reached the API")
		}
		if i > 0 {
			time.Sleep(25 * time.Millisecond)
		}
		if d, err = c.Device(context.Background(), en.DeviceID); err != nil {
			t.Fatal(err)
		}
	}
	if d.Inventory.System.Serial != "PF1ABCDE" {
		t.Errorf("inventory = %+v", d.Inventory.System)
	}
	if err := c.CollectNow(context.Background(), en.AssetTag); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cmds:
	case <-time.After(wait):
		t.Fatal("the command did not come through the external broker")
	}
}
