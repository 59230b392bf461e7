package wire

import (
	"encoding/json"
	"fmt"
	"time"
)

// DecodeAs is DecodeFull for a payload that must be of the given kind (the
// channel of the topic it came on), made for the server's ingest path: the
// body is decoded straight into its type in the same JSON pass as the
// envelope, instead of being scanned as raw JSON and parsed again. The
// returned envelope's Body is the decoded body encoded again, so fields
// this version of the protocol does not know are dropped from it.
//
// It refuses what Decode refuses, with the same sentinel errors, and an
// envelope whose kind is not kind with ErrInvalid.
func DecodeAs(payload []byte, kind Channel) (Envelope, any, error) {
	plain, err := plainPayload(payload)
	if err != nil {
		return Envelope{}, nil, err
	}
	switch kind {
	case ChanInventory:
		return decodeAs[Inventory](plain, kind)
	case ChanHealth:
		return decodeAs[Health](plain, kind)
	case ChanNet:
		return decodeAs[Net](plain, kind)
	case ChanEvent:
		return decodeAs[Event](plain, kind)
	}
	return Envelope{}, nil, fmt.Errorf("%w: kind %q", ErrInvalid, kind)
}

// typedEnvelope is Envelope with a body of a known type.
type typedEnvelope[T any] struct {
	V      int       `json:"v"`
	Device string    `json:"device"`
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Kind   Channel   `json:"kind"`
	Body   *T        `json:"body"`
}

func decodeAs[T any, PT interface {
	*T
	validate() error
}](plain []byte, kind Channel) (Envelope, any, error) {
	var te typedEnvelope[T]
	if err := json.Unmarshal(plain, &te); err != nil {
		// A newer version may have another body: say so rather than
		// "malformed".
		var probe struct {
			V int `json:"v"`
		}
		if json.Unmarshal(plain, &probe) == nil && probe.V != Version {
			return Envelope{}, nil, fmt.Errorf("%w: v=%d, want %d", ErrVersion, probe.V, Version)
		}
		return Envelope{}, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	env := Envelope{V: te.V, Device: te.Device, Seq: te.Seq, At: te.At, Kind: te.Kind}
	if env.V != Version {
		return env, nil, fmt.Errorf("%w: v=%d, want %d", ErrVersion, env.V, Version)
	}
	if te.Body != nil {
		b, err := json.Marshal(te.Body)
		if err != nil {
			return env, nil, fmt.Errorf("%w: %s body: %v", ErrMalformed, kind, err)
		}
		env.Body = b
	}
	if err := env.check(); err != nil {
		return env, nil, err
	}
	if env.Kind != kind {
		return env, nil, fmt.Errorf("%w: %s envelope on the %s topic", ErrInvalid, env.Kind, kind)
	}
	if err := PT(te.Body).validate(); err != nil {
		return env, nil, fmt.Errorf("%s body: %w", kind, err)
	}
	return env, te.Body, nil
}
