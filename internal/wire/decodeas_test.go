package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeAsAgreesWithDecodeFull(t *testing.T) {
	pct := 71.5
	tests := []struct {
		name    string
		kind    Channel
		payload []byte
	}{
		{"health", ChanHealth, mustEnvelope(t, ChanHealth, Health{Batteries: []Battery{{Name: "BAT0", HealthPercent: &pct}}, UptimeSeconds: 7})},
		{"net", ChanNet, mustEnvelope(t, ChanNet, Net{DefaultRoute: "wlan0", Interfaces: []Interface{{Name: "wlan0", Kind: IfWiFi, RxBytes: 9}}})},
		{"gzip'd inventory", ChanInventory, gz(mustEnvelope(t, ChanInventory, Inventory{Class: ClassLaptop, Hostname: "pc-07"}))},
		{"event with data", ChanEvent, mustEnvelope(t, ChanEvent, Event{Type: EventCommandResult, Command: "c1", OK: true, Data: json.RawMessage(`{"x":[1,2]}`)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			envF, bodyF, err := DecodeFull(tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			envA, bodyA, err := DecodeAs(tt.payload, tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(bodyF, bodyA); diff != "" {
				t.Errorf("body (-DecodeFull +DecodeAs):\n%s", diff)
			}
			again, err := DecodeBody(tt.kind, envA.Body)
			if err != nil {
				t.Fatalf("DecodeBody of the re-encoded body: %v", err)
			}
			if diff := cmp.Diff(bodyF, again); diff != "" {
				t.Errorf("re-encoded body (-want +got):\n%s", diff)
			}
			envF.Body, envA.Body = nil, nil
			if diff := cmp.Diff(envF, envA); diff != "" {
				t.Errorf("envelope (-DecodeFull +DecodeAs):\n%s", diff)
			}
		})
	}
}

func TestDecodeAsRejects(t *testing.T) {
	valid := string(mustEnvelope(t, ChanNet, Net{DefaultRoute: "wlan0"}))
	replace := func(old, new string) []byte { return []byte(strings.Replace(valid, old, new, 1)) }
	tests := []struct {
		name    string
		kind    Channel
		payload []byte
		want    error
	}{
		{"garbage", ChanNet, []byte("\x00\x01hello"), ErrMalformed},
		{"truncated", ChanNet, []byte(valid[:len(valid)/2]), ErrMalformed},
		{"version 2", ChanNet, replace(`"v":1`, `"v":2`), ErrVersion},
		{"version 2, body of another shape", ChanNet, []byte(strings.Replace(strings.Replace(valid, `"v":1`, `"v":2`, 1), `"body":{"default_route":"wlan0"}`, `"body":{"interfaces":"eth0"}`, 1)), ErrVersion},
		{"bad device", ChanNet, replace(`"device":"d7k3m9q2xa4bc"`, `"device":"../etc"`), ErrInvalid},
		{"seq zero", ChanNet, replace(`"seq":42`, `"seq":0`), ErrInvalid},
		{"null body", ChanNet, replace(`"body":{"default_route":"wlan0"}`, `"body":null`), ErrInvalid},
		{"no body", ChanNet, replace(`,"body":{"default_route":"wlan0"}`, ``), ErrInvalid},
		{"body of wrong shape", ChanNet, replace(`"body":{"default_route":"wlan0"}`, `"body":{"interfaces":"eth0"}`), ErrMalformed},
		{"kind other than the topic's", ChanHealth, []byte(valid), ErrInvalid},
		{"cmd kind", ChanCmd, []byte(valid), ErrInvalid},
		{"too large", ChanNet, bytes.Repeat([]byte("a"), MaxPayload+1), ErrTooLarge},
		{"charge over 100", ChanHealth, mustEnvelope(t, ChanHealth, json.RawMessage(`{"batteries":[{"name":"BAT0","charge_percent":140}]}`)), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := DecodeAs(tt.payload, tt.kind); !errors.Is(err, tt.want) {
				t.Fatalf("DecodeAs error = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzDecodeAs checks that DecodeAs accepts exactly what DecodeFull accepts
// for the kind, with the same envelope.
func FuzzDecodeAs(f *testing.F) {
	pct := 64.0
	f.Add(mustEnvelope(f, ChanHealth, Health{Batteries: []Battery{{Name: "BAT1", HealthPercent: &pct}}}))
	f.Add(mustEnvelope(f, ChanNet, Net{Cellular: []Cellular{{Operator: "Orange F"}}}))
	f.Add(mustEnvelope(f, ChanInventory, Inventory{Class: ClassHotspot}))
	f.Add(mustEnvelope(f, ChanEvent, Event{Type: EventLocal}))
	f.Add([]byte(`{"v":1,"device":"abc","seq":1,"at":"2026-01-01T00:00:00Z","kind":"health","body":{"batteries":[{"charge_percent":101}]}}`))
	f.Add([]byte(`{"v":2,"device":"abc","seq":1,"at":"2026-01-01T00:00:00Z","kind":"net","body":[]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		if bytes.Count(payload, []byte(`"body"`)) > 1 || bytes.Count(bytes.ToLower(payload), []byte(`body`)) > 1 {
			return // duplicate keys: the typed decode merges them, the raw one keeps the last
		}
		envF, _, errF := DecodeFull(payload)
		for _, k := range []Channel{ChanInventory, ChanHealth, ChanNet, ChanEvent} {
			envA, _, errA := DecodeAs(payload, k)
			switch wantOK := errF == nil && envF.Kind == k; {
			case wantOK && errA != nil:
				t.Fatalf("DecodeFull accepts it as %s, DecodeAs refuses: %v", k, errA)
			case !wantOK && errA == nil:
				t.Fatalf("DecodeAs accepts it as %s, DecodeFull refuses (%v) or says %s", k, errF, envF.Kind)
			case wantOK && (envA.Device != envF.Device || envA.Seq != envF.Seq || !envA.At.Equal(envF.At)):
				t.Fatalf("envelopes differ: %+v vs %+v", envA, envF)
			}
		}
	})
}
