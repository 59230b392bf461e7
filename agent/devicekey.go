package agent

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// DeviceKeyFile is the device's ed25519 private key in a state dir: the
// base64 of the 64-byte private key on one line, mode 0600. The agent makes
// it at enrolment and sends its public half to the server; it signs the
// device's wipe certificates.
const DeviceKeyFile = "device.key"

// LoadDeviceKey reads the device key of stateDir.
func LoadDeviceKey(stateDir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(stateDir, DeviceKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load device key %s: %w (enrol again to make one)", path, ErrNoDeviceKey)
	}
	if err != nil {
		return nil, fmt.Errorf("load device key %s: %w", path, err)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("load device key %s: %w: not the base64 of a %d-byte ed25519 private key", path, ErrBadState, ed25519.PrivateKeySize)
	}
	key := ed25519.PrivateKey(raw)
	// The last 32 bytes are the public key: check they belong to the seed.
	if !bytes.Equal(ed25519.NewKeyFromSeed(key.Seed()), key) {
		return nil, fmt.Errorf("load device key %s: %w: public half does not match the seed", path, ErrBadState)
	}
	return key, nil
}

// deviceKey returns the device key of dir, or a new one (not yet saved)
// when dir has none. created tells which.
func deviceKey(dir string, random io.Reader) (key ed25519.PrivateKey, created bool, err error) {
	key, err = LoadDeviceKey(dir)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, ErrNoDeviceKey) {
		return nil, false, err
	}
	_, key, err = ed25519.GenerateKey(random)
	if err != nil {
		return nil, false, fmt.Errorf("make device key: %w", err)
	}
	return key, true, nil
}

// saveDeviceKey writes key to dir/device.key, 0600, atomically.
func saveDeviceKey(dir string, key ed25519.PrivateKey) error {
	return writeFileAtomic(filepath.Join(dir, DeviceKeyFile), []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
}

// writeFileAtomic writes data to path through a synced temporary file
// renamed over it, then syncs the dir. It creates the dir (0700) if needed.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: not every platform syncs directories
		d.Close()
	}
	return nil
}
