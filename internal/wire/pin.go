package wire

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// PinPrefix starts every certificate pin: join commands carry
// --ca-pin sha256:<64 hex digits>.
const PinPrefix = "sha256:"

// CAPin returns the pin of a certificate as join commands carry it:
// PinPrefix and the lowercase hex SHA-256 of its DER bytes.
func CAPin(der []byte) string {
	sum := sha256.Sum256(der)
	return PinPrefix + hex.EncodeToString(sum[:])
}

// MatchPin reports whether der is the certificate pin names. It accepts
// upper- or lowercase hex and fails with ErrInvalid when pin is not a
// well-formed sha256 pin.
func MatchPin(pin string, der []byte) (bool, error) {
	h, ok := strings.CutPrefix(pin, PinPrefix)
	want, err := hex.DecodeString(h)
	if !ok || err != nil || len(want) != sha256.Size {
		return false, fmt.Errorf("%w: pin %q is not sha256:<64 hex digits>", ErrInvalid, pin)
	}
	sum := sha256.Sum256(der)
	return subtle.ConstantTimeCompare(sum[:], want) == 1, nil
}
