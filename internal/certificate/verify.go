package certificate

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// VerifyOptions say what Verify checks beyond the file itself.
type VerifyOptions struct {
	// ServerKey, when set, is the key the countersignature must be made
	// with (the server's public key, pinned). When nil, the key in the file
	// is used: the file is consistent, but not proven to come from a given
	// server.
	ServerKey ed25519.PublicKey
	// DeviceKey, when set, is the key the device signature must be made with.
	DeviceKey ed25519.PublicKey
	// Unsigned accepts a file the server has not countersigned yet (the
	// agent's own copy, or the server's check before countersigning).
	Unsigned bool
	// Prev, when set, is the asset's previous certificate file: PrevHash
	// must be its hash.
	Prev *File
}

// Verify parses a certificate file and runs every check: format, device
// signature, device key, server countersignature, server key, content and
// chain. The error wraps the sentinel of the first check that failed.
func Verify(data []byte, opts VerifyOptions) (Certificate, File, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Certificate{}, f, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	canon, err := f.Marshal()
	if err != nil || !bytes.Equal(canon, data) {
		return Certificate{}, f, fmt.Errorf("%w: the file is not in its canonical form (changed by hand or by another tool)", ErrFormat)
	}
	c, err := f.Decode()
	if err != nil {
		return c, f, err
	}
	if inner, err := json.Marshal(c); err != nil || !bytes.Equal(inner, f.signed()) {
		return c, f, fmt.Errorf("%w: the certificate part is not in its canonical form", ErrFormat)
	}
	if c.Version != Version {
		return c, f, fmt.Errorf("%w: version %d, want %d", ErrFormat, c.Version, Version)
	}
	if err := f.checkDevice(); err != nil {
		return c, f, err
	}
	if opts.DeviceKey != nil && f.DeviceKey != base64.StdEncoding.EncodeToString(opts.DeviceKey) {
		return c, f, fmt.Errorf("%w: signed by %s, not by the device's key %s", ErrDeviceKey, f.DeviceKey, base64.StdEncoding.EncodeToString(opts.DeviceKey))
	}
	if f.ServerSig == "" && !opts.Unsigned {
		return c, f, fmt.Errorf("%w: the server has not countersigned this certificate", ErrServerSignature)
	}
	if f.ServerSig == "" && f.ServerKey != "" {
		return c, f, fmt.Errorf("%w: a server key without a countersignature", ErrServerSignature)
	}
	if f.ServerSig != "" {
		key, err := b64.DecodeString(f.ServerKey)
		if err != nil || len(key) != ed25519.PublicKeySize {
			return c, f, fmt.Errorf("%w: server key is not an ed25519 public key", ErrServerSignature)
		}
		sig, err := b64.DecodeString(f.ServerSig)
		if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(key, f.countersigned(), sig) {
			return c, f, fmt.Errorf("%w: the certificate or its device signature changed after the server countersigned it", ErrServerSignature)
		}
		if opts.ServerKey != nil && !bytes.Equal(key, opts.ServerKey) {
			return c, f, fmt.Errorf("%w: countersigned by %s, not by the expected server key %s", ErrServerKey, f.ServerKey, base64.StdEncoding.EncodeToString(opts.ServerKey))
		}
	}
	if err := c.check(); err != nil {
		return c, f, err
	}
	if opts.Prev != nil {
		if want := opts.Prev.Hash(); c.PrevHash != want {
			return c, f, fmt.Errorf("%w: prev_hash %q, but the previous certificate hashes to %q", ErrChain, c.PrevHash, want)
		}
		prev, err := opts.Prev.Decode()
		if err != nil {
			return c, f, fmt.Errorf("%w: the previous certificate does not decode: %v", ErrChain, err)
		}
		if !sameAsset(prev.Asset, c.Asset) {
			return c, f, fmt.Errorf("%w: the previous certificate is of asset %s, this one of %s", ErrChain, prev.Asset.label(), c.Asset.label())
		}
	}
	return c, f, nil
}

// Verify runs Verify on the canonical bytes of f: for a file decoded from
// a message rather than read from disk.
func (f File) Verify(opts VerifyOptions) (Certificate, error) {
	data, err := f.Marshal()
	if err != nil {
		return Certificate{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	c, _, err := Verify(data, opts)
	return c, err
}

// sameAsset reports whether two certificates are of the same asset: the
// device id when both have one, else the asset tag.
func sameAsset(a, b Asset) bool {
	if a.DeviceID != "" && b.DeviceID != "" {
		return a.DeviceID == b.DeviceID
	}
	return a.AssetTag == b.AssetTag
}

func (a Asset) label() string {
	if a.AssetTag != "" {
		return a.AssetTag
	}
	return a.DeviceID
}

// check finds contradictions inside a certificate.
func (c *Certificate) check() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: no certificate id", ErrContent)
	case c.Asset.DeviceID == "" && c.Asset.AssetTag == "":
		return fmt.Errorf("%w: no asset", ErrContent)
	case len(c.Media) == 0:
		return fmt.Errorf("%w: no medium", ErrContent)
	case c.Finished.Before(c.Started):
		return fmt.Errorf("%w: finished before it started", ErrContent)
	case c.Result != ResultSucceeded && c.Result != ResultFailed:
		return fmt.Errorf("%w: result %q", ErrContent, c.Result)
	case c.External != nil && c.External.LogSHA256 == "":
		return fmt.Errorf("%w: external evidence without the hash of its log", ErrContent)
	}
	for _, m := range c.Media {
		switch {
		case m.Result != ResultSucceeded && m.Result != ResultFailed:
			return fmt.Errorf("%w: medium %s: result %q", ErrContent, m.Name, m.Result)
		case m.Finished.Before(m.Started):
			return fmt.Errorf("%w: medium %s finished before it started", ErrContent, m.Name)
		case m.Result == ResultSucceeded && !validCategory(m.Category):
			return fmt.Errorf("%w: medium %s succeeded with category %q", ErrContent, m.Name, m.Category)
		case c.Result == ResultSucceeded && (m.Result != ResultSucceeded || m.Verification.Result != VerificationPassed):
			return fmt.Errorf("%w: certificate succeeded but medium %s %s (verification %s)", ErrContent, m.Name, m.Result, m.Verification.Result)
		}
	}
	return nil
}

func validCategory(s string) bool {
	return s == CategoryClear || s == CategoryPurge || s == CategoryNone
}
