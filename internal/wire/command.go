package wire

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Command types.
const (
	CmdCollectNow        = "collect_now"
	CmdWipe              = "wipe"
	CmdProvision         = "provision"
	CmdRotateCredentials = "rotate_credentials"
	CmdSetConfig         = "set_config"
	CmdLocate            = "locate"
	CmdReboot            = "reboot"
)

// Command is what the server asks of one device. It travels signed, inside
// a SignedCommand, on the device's cmd topic.
type Command struct {
	ID        string          `json:"id"`
	Device    string          `json:"device"`
	Type      string          `json:"type"`
	IssuedAt  time.Time       `json:"issued_at"`
	ExpiresAt time.Time       `json:"expires_at"`
	Nonce     string          `json:"nonce"`
	Args      json.RawMessage `json:"args,omitempty"`
}

// SignedCommand is the payload of a cmd message: the command's JSON and its
// ed25519 signature by the server's command key, both base64.
type SignedCommand struct {
	Payload string `json:"payload"`
	Sig     string `json:"sig"`
}

// SignCommand returns the MQTT payload carrying c signed with key.
func SignCommand(key ed25519.PrivateKey, c Command) ([]byte, error) {
	if c.ID == "" || c.Type == "" || c.Nonce == "" || !ValidDeviceID(c.Device) {
		return nil, fmt.Errorf("sign command: %w: id, type, nonce and device are required", ErrInvalid)
	}
	if !c.ExpiresAt.After(c.IssuedAt) {
		return nil, fmt.Errorf("sign command: %w: expires_at must follow issued_at", ErrInvalid)
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("sign command: %w", err)
	}
	return json.Marshal(SignedCommand{
		Payload: base64.StdEncoding.EncodeToString(body),
		Sig:     base64.StdEncoding.EncodeToString(ed25519.Sign(key, body)),
	})
}

// commandSkew is how far in the future a command's issued_at may be, to
// allow for clocks that are a little off.
const commandSkew = 5 * time.Minute

// VerifyCommand checks a cmd payload: signature by pub, addressed to device,
// issued no later than now (with a little skew) and not expired. It does
// not check the nonce: the caller keeps the nonces it has seen.
func VerifyCommand(pub ed25519.PublicKey, payload []byte, device string, now time.Time) (Command, error) {
	var c Command
	if len(payload) > MaxPayload {
		return c, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(payload))
	}
	var sc SignedCommand
	if err := json.Unmarshal(payload, &sc); err != nil {
		return c, fmt.Errorf("%w: command: %v", ErrMalformed, err)
	}
	body, err := base64.StdEncoding.DecodeString(sc.Payload)
	if err != nil {
		return c, fmt.Errorf("%w: command payload: %v", ErrMalformed, err)
	}
	sig, err := base64.StdEncoding.DecodeString(sc.Sig)
	if err != nil {
		return c, fmt.Errorf("%w: command signature: %v", ErrMalformed, err)
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, body, sig) {
		return c, fmt.Errorf("%w: command is not signed by the server's key", ErrSignature)
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return c, fmt.Errorf("%w: command: %v", ErrMalformed, err)
	}
	switch {
	case c.Device != device:
		return c, fmt.Errorf("%w: command %s is for %q, not %q", ErrWrongDevice, c.ID, c.Device, device)
	case c.ID == "" || c.Type == "" || c.Nonce == "":
		return c, fmt.Errorf("%w: command lacks id, type or nonce", ErrInvalid)
	case c.IssuedAt.After(now.Add(commandSkew)):
		return c, fmt.Errorf("%w: command %s issued in the future (%s)", ErrExpired, c.ID, c.IssuedAt.Format(time.RFC3339))
	case !now.Before(c.ExpiresAt):
		return c, fmt.Errorf("%w: command %s expired at %s", ErrExpired, c.ID, c.ExpiresAt.Format(time.RFC3339))
	}
	return c, nil
}
