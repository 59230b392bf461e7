package wire

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCommandSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	cmd := Command{ID: "c1", Device: "abc123", Type: CmdCollectNow, IssuedAt: t0, ExpiresAt: t0.Add(10 * time.Minute), Nonce: "n1"}
	good, err := SignCommand(priv, cmd)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := SignCommand(otherPriv, cmd)
	var sc SignedCommand
	json.Unmarshal(good, &sc)
	sc.Payload = strings.Replace(sc.Payload, "A", "B", 1)
	tampered, _ := json.Marshal(sc)

	tests := []struct {
		name    string
		payload []byte
		device  string
		now     time.Time
		want    error
	}{
		{"valid", good, "abc123", t0.Add(time.Minute), nil},
		{"other key", forged, "abc123", t0.Add(time.Minute), ErrSignature},
		{"tampered", tampered, "abc123", t0.Add(time.Minute), ErrSignature},
		{"other device", good, "xyz789", t0.Add(time.Minute), ErrWrongDevice},
		{"expired", good, "abc123", t0.Add(10 * time.Minute), ErrExpired},
		{"from the future", good, "abc123", t0.Add(-time.Hour), ErrExpired},
		{"garbage", []byte("{"), "abc123", t0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyCommand(pub, tt.payload, tt.device, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyCommand error = %v, want %v", err, tt.want)
			}
			if err == nil && (got.ID != "c1" || got.Nonce != "n1" || got.Type != CmdCollectNow) {
				t.Fatalf("VerifyCommand = %+v", got)
			}
		})
	}
	if _, err := SignCommand(priv, Command{ID: "c2", Device: "abc123", Type: CmdReboot}); !errors.Is(err, ErrInvalid) {
		t.Errorf("signing a command without nonce or expiry: %v", err)
	}
}
