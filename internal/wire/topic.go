package wire

import (
	"fmt"
	"strings"
)

// DefaultPrefix is the topic prefix used unless configured otherwise.
const DefaultPrefix = "valise/v1"

// Channel is the last level of a device topic.
type Channel string

// The channels of a device, as in the protocol table of the design.
const (
	ChanInventory Channel = "inventory" // up, QoS 1: full hardware inventory
	ChanHealth    Channel = "health"    // up, QoS 1: battery, disks, storage, memory…
	ChanNet       Channel = "net"       // up, QoS 1: interfaces, Wi-Fi, cellular
	ChanEvent     Channel = "event"     // up, QoS 1: command results, local events
	ChanPresence  Channel = "presence"  // up, QoS 1, retained: "online" / "offline" (Last Will)
	ChanCmd       Channel = "cmd"       // down, QoS 1: signed commands
)

// Presence payloads.
const (
	PresenceOnline  = "online"
	PresenceOffline = "offline"
)

// Up reports whether devices publish on c.
func (c Channel) Up() bool {
	switch c {
	case ChanInventory, ChanHealth, ChanNet, ChanEvent, ChanPresence:
		return true
	}
	return false
}

// Topics builds and parses topics under one prefix. The zero value uses
// DefaultPrefix.
type Topics struct {
	Prefix string
}

func (t Topics) prefix() string {
	if t.Prefix == "" {
		return DefaultPrefix
	}
	return strings.TrimSuffix(t.Prefix, "/")
}

// Device returns the topic of a device's channel: {prefix}/dev/{id}/{channel}.
func (t Topics) Device(id string, c Channel) string {
	return t.prefix() + "/dev/" + id + "/" + string(c)
}

// UpFilter is the subscription filter that matches every device's channels:
// {prefix}/dev/+/+ (the server filters out cmd).
func (t Topics) UpFilter() string {
	return t.prefix() + "/dev/+/+"
}

// Parse splits a device topic into its device id and channel. It fails with
// ErrTopic for anything that is not {prefix}/dev/{valid id}/{known channel}.
func (t Topics) Parse(topic string) (id string, c Channel, err error) {
	rest, ok := strings.CutPrefix(topic, t.prefix()+"/dev/")
	if !ok {
		return "", "", fmt.Errorf("%w: %q is not under %s/dev/", ErrTopic, topic, t.prefix())
	}
	id, ch, ok := strings.Cut(rest, "/")
	if !ok || !ValidDeviceID(id) {
		return "", "", fmt.Errorf("%w: %q has no valid device id", ErrTopic, topic)
	}
	switch c := Channel(ch); c {
	case ChanInventory, ChanHealth, ChanNet, ChanEvent, ChanPresence, ChanCmd:
		return id, c, nil
	}
	return "", "", fmt.Errorf("%w: %q has unknown channel %q", ErrTopic, topic, ch)
}

// ValidDeviceID reports whether s can be a device id: 3 to 64 characters of
// a-z, 0-9, '-' and '_', starting with a letter or digit. Such an id is safe
// in a topic level, a URL path and a file name.
func ValidDeviceID(s string) bool {
	if len(s) < 3 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9':
		case (b == '-' || b == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}
