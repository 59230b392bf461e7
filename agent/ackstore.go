package agent

import (
	"strconv"
	"strings"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ackStore is the paho message store of one connection. Besides holding
// the in-flight packets, as paho's MemoryStore does, it records which
// outbound publishes the broker acknowledged.
//
// Why: a paho publish token completes in several ways, and not all of them
// mean the broker has the message (a message id claimed again, a client
// disconnected by hand…). paho deletes the outbound publish "o.<mid>" from
// its store when, and before, it handles the matching PUBACK, and only
// then completes the token. So a publish whose token completed without
// error is acknowledged if and only if this store saw its deletion after
// its last Put.
//
// The agent uses a fresh client, and a fresh ackStore, per connection, so
// paho never resends anything itself: the spool is the only outbox.
type ackStore struct {
	mu       sync.Mutex
	open     bool
	messages map[string]packets.ControlPacket
	acked    map[uint16]bool
}

var _ mqtt.Store = (*ackStore)(nil)

func newAckStore() *ackStore {
	return &ackStore{messages: map[string]packets.ControlPacket{}, acked: map[uint16]bool{}}
}

func (s *ackStore) Open() {
	s.mu.Lock()
	s.open = true
	s.mu.Unlock()
}

func (s *ackStore) Close() {
	s.mu.Lock()
	s.open = false
	s.mu.Unlock()
}

func (s *ackStore) Reset() {
	s.mu.Lock()
	s.messages = map[string]packets.ControlPacket{}
	s.acked = map[uint16]bool{}
	s.mu.Unlock()
}

func (s *ackStore) Put(key string, m packets.ControlPacket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return
	}
	s.messages[key] = m
	if mid, ok := outboundMID(key); ok {
		delete(s.acked, mid) // a new message under this id: not acknowledged yet
	}
}

func (s *ackStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messages[key]
}

func (s *ackStore) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.messages))
	for k := range s.messages {
		keys = append(keys, k)
	}
	return keys
}

func (s *ackStore) Del(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[key]
	if !ok {
		return
	}
	delete(s.messages, key)
	if _, isPub := m.(*packets.PublishPacket); isPub {
		if mid, ok := outboundMID(key); ok {
			s.acked[mid] = true
		}
	}
}

// takeAck reports whether the publish with message id mid was acknowledged
// by the broker, and forgets it.
func (s *ackStore) takeAck(mid uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := s.acked[mid]
	delete(s.acked, mid)
	return ok
}

func outboundMID(key string) (uint16, bool) {
	rest, ok := strings.CutPrefix(key, "o.")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 16)
	return uint16(n), err == nil
}
