package wire

import "errors"

// Sentinel errors returned (wrapped) by the decoders. Callers compare them
// with errors.Is and use Reason to label metrics.
var (
	// ErrTooLarge means a payload, compressed or not, exceeds MaxPayload.
	ErrTooLarge = errors.New("payload too large")
	// ErrMalformed means the payload is not the JSON (or gzip'd JSON) expected.
	ErrMalformed = errors.New("malformed payload")
	// ErrVersion means the envelope carries a protocol version this code does not speak.
	ErrVersion = errors.New("unsupported version")
	// ErrInvalid means the payload parses but a field is missing or out of range.
	ErrInvalid = errors.New("invalid field")
	// ErrTopic means a topic is not one of the protocol's topics.
	ErrTopic = errors.New("unknown topic")
	// ErrWrongDevice means a message names a device other than the one it is for or from.
	ErrWrongDevice = errors.New("wrong device")
	// ErrSignature means a command's signature does not verify with the pinned key.
	ErrSignature = errors.New("bad signature")
	// ErrExpired means a command is past its expiry, or issued in the future.
	ErrExpired = errors.New("command expired")
)

// Reason returns a short stable label for err, for metrics and logs:
// "too_large", "malformed", "version", "invalid", "topic", "wrong_device",
// "signature", "expired", or "other".
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrVersion):
		return "version"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrTopic):
		return "topic"
	case errors.Is(err, ErrWrongDevice):
		return "wrong_device"
	case errors.Is(err, ErrSignature):
		return "signature"
	case errors.Is(err, ErrExpired):
		return "expired"
	}
	return "other"
}
