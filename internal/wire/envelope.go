package wire

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Version is the envelope version this code writes and accepts.
const Version = 1

// MaxPayload is the largest MQTT payload accepted, compressed or not; a
// gzip'd payload must also inflate to at most MaxPayload.
const MaxPayload = 256 << 10

// gzipMagic starts every gzip stream; a JSON document never starts with it.
var gzipMagic = []byte{0x1f, 0x8b}

// Envelope wraps every up message but presence:
//
//	{"v":1,"device":"…","seq":N,"at":"RFC3339","kind":"health","body":{…}}
//
// Seq is per device, strictly increasing and persisted by the agent; the
// server deduplicates on (Device, Seq).
type Envelope struct {
	V      int             `json:"v"`
	Device string          `json:"device"`
	Seq    uint64          `json:"seq"`
	At     time.Time       `json:"at"`
	Kind   Channel         `json:"kind"`
	Body   json.RawMessage `json:"body"`
}

// Encode returns the MQTT payload for env. V is set to Version. A payload
// over compressAbove bytes is gzip'd; one still over MaxPayload is refused.
func Encode(env Envelope) ([]byte, error) {
	env.V = Version
	if err := env.check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode %s envelope: %w", env.Kind, err)
	}
	if len(b) > compressAbove {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(b)
		zw.Close()
		b = buf.Bytes()
	}
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("encode %s envelope: %w (%d bytes)", env.Kind, ErrTooLarge, len(b))
	}
	return b, nil
}

// compressAbove is the size past which Encode gzips: inventories, mostly.
const compressAbove = 16 << 10

// NewEnvelope marshals body into an envelope of the given kind.
func NewEnvelope(device string, seq uint64, at time.Time, kind Channel, body any) (Envelope, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s body: %w", kind, err)
	}
	return Envelope{V: Version, Device: device, Seq: seq, At: at.UTC(), Kind: kind, Body: b}, nil
}

// Decode parses and validates an up payload: size, optional gzip, JSON,
// version, required fields, and the body of its kind (see DecodeBody). The
// returned envelope's Body is always plain JSON.
func Decode(payload []byte) (Envelope, error) {
	env, _, err := DecodeFull(payload)
	return env, err
}

// DecodeFull is Decode that also returns the decoded body, as DecodeBody
// does, so that a caller needing both parses the body only once.
func DecodeFull(payload []byte) (Envelope, any, error) {
	var env Envelope
	payload, err := plainPayload(payload)
	if err != nil {
		return env, nil, err
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		return env, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if env.V != Version {
		return env, nil, fmt.Errorf("%w: v=%d, want %d", ErrVersion, env.V, Version)
	}
	if err := env.check(); err != nil {
		return env, nil, err
	}
	body, err := DecodeBody(env.Kind, env.Body)
	if err != nil {
		return env, nil, err
	}
	return env, body, nil
}

// plainPayload checks the size of an up payload and inflates it if gzip'd.
func plainPayload(payload []byte) ([]byte, error) {
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), MaxPayload)
	}
	if !bytes.HasPrefix(payload, gzipMagic) {
		return payload, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrMalformed, err)
	}
	plain, err := io.ReadAll(io.LimitReader(zr, MaxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrMalformed, err)
	}
	if len(plain) > MaxPayload {
		return nil, fmt.Errorf("%w: inflates past %d bytes", ErrTooLarge, MaxPayload)
	}
	return plain, nil
}

func (env Envelope) check() error {
	switch {
	case !ValidDeviceID(env.Device):
		return fmt.Errorf("%w: device %q", ErrInvalid, env.Device)
	case env.Seq == 0:
		return fmt.Errorf("%w: seq must be at least 1", ErrInvalid)
	case env.At.IsZero():
		return fmt.Errorf("%w: at is missing", ErrInvalid)
	case env.At.Year() < 2000 || env.At.Year() > 9999:
		return fmt.Errorf("%w: at %s is out of range", ErrInvalid, env.At.Format(time.RFC3339))
	case len(env.Body) == 0 || string(env.Body) == "null":
		return fmt.Errorf("%w: body is missing", ErrInvalid)
	}
	switch env.Kind {
	case ChanInventory, ChanHealth, ChanNet, ChanEvent:
		return nil
	}
	return fmt.Errorf("%w: kind %q", ErrInvalid, env.Kind)
}

// DecodeBody parses and validates the body of an envelope of the given kind,
// returning *Inventory, *Health, *Net or *Event.
func DecodeBody(kind Channel, body []byte) (any, error) {
	var v interface{ validate() error }
	switch kind {
	case ChanInventory:
		v = new(Inventory)
	case ChanHealth:
		v = new(Health)
	case ChanNet:
		v = new(Net)
	case ChanEvent:
		v = new(Event)
	default:
		return nil, fmt.Errorf("%w: kind %q", ErrInvalid, kind)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, fmt.Errorf("%w: %s body: %v", ErrMalformed, kind, err)
	}
	if err := v.validate(); err != nil {
		return nil, fmt.Errorf("%s body: %w", kind, err)
	}
	return v, nil
}
