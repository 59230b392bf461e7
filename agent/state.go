package agent

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// Files of a state dir.
const (
	StateFile = "state.json" // State, mode 0600: it holds the MQTT password
	SpoolFile = "spool.db"   // the outbox, see package spool
)

// State is what enrolment leaves in the state dir, in StateFile.
type State struct {
	Server      string           `json:"server"` // the API's base URL
	DeviceID    string           `json:"device_id"`
	AssetTag    string           `json:"asset_tag"`
	Class       string           `json:"class"`
	MQTTURL     string           `json:"mqtt_url"`
	TopicPrefix string           `json:"topic_prefix"`
	Username    string           `json:"username"`
	Password    string           `json:"password"`
	CommandKey  string           `json:"command_key"` // server's ed25519 public key, base64
	Config      wire.AgentConfig `json:"config"`
	// CAPin is the join command's --ca-pin the device enrolled with; the
	// pinned CA itself is kept in CAFile.
	CAPin      string    `json:"ca_pin,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

// Validate reports the first missing or malformed field of s.
func (s State) Validate() error {
	switch {
	case !wire.ValidDeviceID(s.DeviceID):
		return fmt.Errorf("%w: device_id %q", ErrBadState, s.DeviceID)
	case s.MQTTURL == "":
		return fmt.Errorf("%w: mqtt_url is empty", ErrBadState)
	case s.Username == "":
		return fmt.Errorf("%w: username is empty", ErrBadState)
	}
	if _, err := s.commandKey(); err != nil {
		return err
	}
	return nil
}

func (s State) commandKey() (ed25519.PublicKey, error) {
	k, err := base64.StdEncoding.DecodeString(s.CommandKey)
	if err != nil || len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: command_key is not a base64 ed25519 public key", ErrBadState)
	}
	return ed25519.PublicKey(k), nil
}

// LoadState reads dir/state.json.
func LoadState(dir string) (State, error) {
	var s State
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("load state %s: %w (run valise-agent enroll first)", path, ErrNotEnrolled)
	}
	if err != nil {
		return s, fmt.Errorf("load state %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("load state %s: %w: %v", path, ErrBadState, err)
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("load state %s: %w", path, err)
	}
	return s, nil
}

// SaveState writes s to dir/state.json atomically (temporary file, fsync,
// rename, fsync of the dir), mode 0600. It creates dir (0700) if needed.
func SaveState(dir string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save state %s: %w", dir, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, StateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
