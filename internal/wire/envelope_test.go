package wire

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func mustEnvelope(t testing.TB, kind Channel, body any) []byte {
	t.Helper()
	env, err := NewEnvelope("d7k3m9q2xa4bc", 42, t0, kind, body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	charge, health := 81.0, 64.25
	h := Health{
		Batteries:     []Battery{{Name: "BAT0", ChargePercent: &charge, HealthPercent: &health}},
		UptimeSeconds: 3600,
	}
	env, err := Decode(mustEnvelope(t, ChanHealth, h))
	if err != nil {
		t.Fatal(err)
	}
	if env.Device != "d7k3m9q2xa4bc" || env.Seq != 42 || !env.At.Equal(t0) || env.Kind != ChanHealth {
		t.Fatalf("envelope = %+v", env)
	}
	got, err := DecodeBody(env.Kind, env.Body)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&h, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestEncodeCompressesLargeInventory(t *testing.T) {
	inv := Inventory{Class: ClassLaptop}
	for i := 0; i < 300; i++ {
		inv.NICs = append(inv.NICs, NIC{Name: "veth" + strings.Repeat("x", 40), Virtual: true})
	}
	b := mustEnvelope(t, ChanInventory, inv)
	if !bytes.HasPrefix(b, gzipMagic) {
		t.Fatalf("payload of %d bytes is not gzip'd", len(b))
	}
	env, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := DecodeBody(ChanInventory, env.Body)
	if n := len(got.(*Inventory).NICs); n != 300 {
		t.Fatalf("decoded %d NICs, want 300", n)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestDecodeRejects(t *testing.T) {
	valid := string(mustEnvelope(t, ChanNet, Net{DefaultRoute: "wlan0"}))
	replace := func(old, new string) []byte { return []byte(strings.Replace(valid, old, new, 1)) }
	bomb := gz(bytes.Repeat([]byte(" "), MaxPayload+10))
	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", []byte("\x00\x01hello"), ErrMalformed},
		{"truncated", []byte(valid[:len(valid)/2]), ErrMalformed},
		{"array", []byte(`[1,2,3]`), ErrMalformed},
		{"version 2", replace(`"v":1`, `"v":2`), ErrVersion},
		{"no version", replace(`"v":1,`, ``), ErrVersion},
		{"bad device", replace(`"device":"d7k3m9q2xa4bc"`, `"device":"../etc"`), ErrInvalid},
		{"seq zero", replace(`"seq":42`, `"seq":0`), ErrInvalid},
		{"negative seq", replace(`"seq":42`, `"seq":-1`), ErrMalformed},
		{"no time", replace(`"at":"2026-11-23T10:00:00Z",`, ``), ErrInvalid},
		{"unknown kind", replace(`"kind":"net"`, `"kind":"cmd"`), ErrInvalid},
		{"null body", replace(`"body":{"default_route":"wlan0"}`, `"body":null`), ErrInvalid},
		{"body of wrong shape", replace(`"body":{"default_route":"wlan0"}`, `"body":{"interfaces":"eth0"}`), ErrMalformed},
		{"too large", bytes.Repeat([]byte("a"), MaxPayload+1), ErrTooLarge},
		{"gzip bomb", bomb, ErrTooLarge},
		{"broken gzip", []byte{0x1f, 0x8b, 0x08, 0x00, 0x01}, ErrMalformed},
		{"charge over 100", mustEnvelope(t, ChanHealth, json.RawMessage(`{"batteries":[{"name":"BAT0","charge_percent":140}]}`)), ErrInvalid},
		{"event without type", mustEnvelope(t, ChanEvent, json.RawMessage(`{"ok":true}`)), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.payload)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode error = %v, want %v", err, tt.want)
			}
			if Reason(err) == "other" {
				t.Errorf("Reason(%v) = other", err)
			}
		})
	}
}

func TestTopics(t *testing.T) {
	tp := Topics{Prefix: "fleet/v1/"}
	if got := tp.Device("abc123", ChanHealth); got != "fleet/v1/dev/abc123/health" {
		t.Fatalf("Device topic = %q", got)
	}
	if got := tp.UpFilter(); got != "fleet/v1/dev/+/+" {
		t.Fatalf("UpFilter = %q", got)
	}
	id, c, err := tp.Parse("fleet/v1/dev/abc123/presence")
	if err != nil || id != "abc123" || c != ChanPresence {
		t.Fatalf("Parse = %q %q %v", id, c, err)
	}
	for _, bad := range []string{
		"valise/v1/dev/abc123/health", // other prefix
		"fleet/v1/dev/abc123",
		"fleet/v1/dev/abc123/health/extra",
		"fleet/v1/dev/+/health",
		"fleet/v1/dev/ABC123/health",
		"fleet/v1/dev/abc123/shell",
		"fleet/v1/dev//health",
	} {
		if _, _, err := tp.Parse(bad); !errors.Is(err, ErrTopic) {
			t.Errorf("Parse(%q) error = %v, want ErrTopic", bad, err)
		}
	}
	if _, _, err := (Topics{}).Parse(DefaultPrefix + "/dev/abc123/net"); err != nil {
		t.Errorf("zero Topics does not parse the default prefix: %v", err)
	}
}

// FuzzDecode checks that no payload makes Decode panic, and that whatever
// it accepts encodes back to a payload it accepts again with the same
// envelope. The seed corpus runs in every `go test`.
func FuzzDecode(f *testing.F) {
	pct := 55.5
	f.Add(mustEnvelope(f, ChanHealth, Health{Batteries: []Battery{{Name: "BAT1", HealthPercent: &pct}}}))
	f.Add(mustEnvelope(f, ChanNet, Net{Cellular: []Cellular{{Operator: "Orange F", OperatorCode: "20801"}}}))
	f.Add(mustEnvelope(f, ChanInventory, Inventory{Class: ClassHotspot, Modems: []Modem{{IMEI: "861234567890123"}}}))
	f.Add(mustEnvelope(f, ChanEvent, Event{Type: EventCommandResult, Command: "c1", OK: true}))
	f.Add([]byte(`{"v":1,"device":"abc","seq":1,"at":"2026-01-01T00:00:00Z","kind":"health","body":{}}`))
	f.Add([]byte(`{"v":1}`))
	f.Add(gz([]byte(`{"v":1,"device":"abc","seq":1,"at":"2026-01-01T00:00:00Z","kind":"net","body":{}}`)))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, payload []byte) {
		env, err := Decode(payload)
		if err != nil {
			if Reason(err) == "other" {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		again, err := Encode(env)
		if err != nil {
			t.Fatalf("accepted envelope does not encode: %v", err)
		}
		env2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded envelope rejected: %v", err)
		}
		if env2.Device != env.Device || env2.Seq != env.Seq || env2.Kind != env.Kind || !env2.At.Equal(env.At) {
			t.Fatalf("round trip changed the envelope: %+v vs %+v", env, env2)
		}
	})
}
