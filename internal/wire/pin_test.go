package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestPin(t *testing.T) {
	der := []byte("not really DER, any bytes will do")
	sum := sha256.Sum256(der)
	pin := CAPin(der)
	if want := "sha256:" + hex.EncodeToString(sum[:]); pin != want {
		t.Fatalf("CAPin = %q, want %q", pin, want)
	}
	tests := []struct {
		name    string
		pin     string
		der     []byte
		want    bool
		wantErr bool
	}{
		{name: "same", pin: pin, der: der, want: true},
		{name: "uppercase hex", pin: "sha256:" + strings.ToUpper(pin[7:]), der: der, want: true},
		{name: "other certificate", pin: pin, der: []byte("other"), want: false},
		{name: "no prefix", pin: pin[7:], der: der, wantErr: true},
		{name: "short", pin: pin[:len(pin)-2], der: der, wantErr: true},
		{name: "not hex", pin: "sha256:" + strings.Repeat("zz", 32), der: der, wantErr: true},
		{name: "empty", pin: "", der: der, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MatchPin(tt.pin, tt.der)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("MatchPin err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("MatchPin = %v, %v; want %v, nil", got, err, tt.want)
			}
		})
	}
}
