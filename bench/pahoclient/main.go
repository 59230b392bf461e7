// Command pahoclient is the footprint baseline of `make bench`: the least an
// MQTT agent can be with the same client library — connect, then publish one
// 1 KiB QoS 1 message per interval — so the real agent's size, memory and
// CPU are reported as ratios against it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func main() {
	broker := flag.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	user := flag.String("user", "", "MQTT username")
	pass := flag.String("password", "", "MQTT password")
	topic := flag.String("topic", "bench/baseline", "topic to publish on")
	interval := flag.Duration("interval", time.Minute, "time between messages")
	flag.Parse()

	opts := paho.NewClientOptions().AddBroker(*broker).SetClientID(fmt.Sprintf("baseline-%d", os.Getpid())).
		SetUsername(*user).SetPassword(*pass).SetCleanSession(false).SetAutoReconnect(true)
	c := paho.NewClient(opts)
	if t := c.Connect(); t.WaitTimeout(10*time.Second) && t.Error() != nil {
		fmt.Fprintln(os.Stderr, "pahoclient:", t.Error())
		os.Exit(1)
	}
	payload := []byte(strings.Repeat("x", 1024))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for {
		c.Publish(*topic, 1, false, payload).WaitTimeout(10 * time.Second)
		select {
		case <-stop:
			c.Disconnect(250)
			return
		case <-tick.C:
		}
	}
}
