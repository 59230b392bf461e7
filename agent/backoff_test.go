package agent

import (
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		name    string
		attempt int
		r       float64
		want    time.Duration
	}{
		{"first, top of the range", 0, 0.999999, time.Second - time.Microsecond},
		{"first, jittered", 0, 0.5, 500 * time.Millisecond},
		{"third doubles twice", 2, 0.5, 2 * time.Second},
		{"capped", 20, 0.5, 150 * time.Second},
		{"huge attempt stays capped", 1000, 0.999999, 5*time.Minute - 300*time.Microsecond},
		{"zero jitter", 5, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := Backoff{Min: time.Second, Max: 5 * time.Minute, Rand: func() float64 { return tc.r }}
			if got := b.Delay(tc.attempt); got != tc.want {
				t.Errorf("Delay(%d) with rand %v = %v, want %v", tc.attempt, tc.r, got, tc.want)
			}
		})
	}
}

func TestAckStore(t *testing.T) {
	pub := func(mid uint16) packets.ControlPacket {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.Qos, p.MessageID = 1, mid
		return p
	}
	sub := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sub.MessageID = 9
	tests := []struct {
		name string
		ops  func(s *ackStore)
		mid  uint16
		want bool
	}{
		{"published, no PUBACK", func(s *ackStore) { s.Put("o.5", pub(5)) }, 5, false},
		{"published and PUBACKed", func(s *ackStore) { s.Put("o.5", pub(5)); s.Del("o.5") }, 5, true},
		{"id reused after the PUBACK", func(s *ackStore) { s.Put("o.5", pub(5)); s.Del("o.5"); s.Put("o.5", pub(5)) }, 5, false},
		{"SUBACK is not a PUBACK", func(s *ackStore) { s.Put("o.9", sub); s.Del("o.9") }, 9, false},
		{"inbound delete is not a PUBACK", func(s *ackStore) { s.Put("i.5", pub(5)); s.Del("i.5") }, 5, false},
		{"never published", func(s *ackStore) { s.Del("o.5") }, 5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newAckStore()
			s.Open()
			tc.ops(s)
			if got := s.takeAck(tc.mid); got != tc.want {
				t.Errorf("takeAck(%d) = %v, want %v", tc.mid, got, tc.want)
			}
			if s.takeAck(tc.mid) {
				t.Errorf("takeAck(%d) twice reported a PUBACK twice", tc.mid)
			}
		})
	}
}
