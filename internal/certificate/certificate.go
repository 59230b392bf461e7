// Package certificate defines the wipe certificate of Valise: its fields
// (those of NIST SP 800-88 Rev. 2 Appendix G, per medium), its file format,
// its signatures and its chain. The agent signs a certificate with its
// device key, the server countersigns it with its own key, and anyone can
// verify the file offline: Verify names the check that failed.
//
// A certificate file is canonical JSON (see Marshal): a file that does not
// re-encode to the very same bytes is refused, so that any changed byte is
// detected, including bytes outside the signed part.
//
// Package certpdf, beside this one, renders a file as an A4 PDF for filing.
// ParseNwipeLog and FromNwipe turn the log of a wipe made with ShredOS/nwipe into a
// certificate marked as external evidence.
package certificate

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Version is the certificate format version.
const Version = 1

// Sanitisation categories of NIST SP 800-88.
const (
	CategoryClear = "clear"
	CategoryPurge = "purge"
	CategoryNone  = "none" // e.g. discard alone, hotspot factory reset
)

// Results.
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
)

// Verification results.
const (
	VerificationPassed  = "passed"
	VerificationFailed  = "failed"
	VerificationNotDone = "not_done"
)

// Certificate records one wipe of one asset. It never names a borrower or
// a member of the public: the operator is the technician who asked for it.
type Certificate struct {
	Version int      `json:"version"`
	ID      string   `json:"id"`
	JobID   string   `json:"job_id,omitempty"` // empty for a maintenance-mode wipe not asked by the server
	Asset   Asset    `json:"asset"`
	Media   []Medium `json:"media"`
	// Operator is who asked for the wipe (technician's name or id).
	Operator    string `json:"operator"`
	SourceVenue string `json:"source_venue,omitempty"`
	// Destination is what happens to the asset next: reuse, donation, recycling.
	Destination string    `json:"destination,omitempty"`
	Tool        Tool      `json:"tool"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Result      string    `json:"result"` // ResultSucceeded only if every medium succeeded
	// External is set when the evidence comes from another tool's log
	// (nwipe/ShredOS) imported by a technician, not from the agent.
	External *External `json:"external,omitempty"`
	// PrevHash is Hash of the asset's previous certificate file, "" for its first.
	PrevHash string `json:"prev_hash,omitempty"`
}

// Asset identifies the wiped device.
type Asset struct {
	DeviceID string `json:"device_id"`
	AssetTag string `json:"asset_tag"`
	Class    string `json:"class"`
	Vendor   string `json:"vendor,omitempty"`
	Model    string `json:"model,omitempty"`
	Serial   string `json:"serial,omitempty"`
	UUID     string `json:"uuid,omitempty"` // normalised SMBIOS UUID
	IMEI     string `json:"imei,omitempty"` // hotspots and tablets
}

// Medium is one storage medium's sanitisation record.
type Medium struct {
	Name          string `json:"name"` // kernel name or path
	Type          string `json:"type"` // wire.Disk* media type, or "file"
	Model         string `json:"model,omitempty"`
	Serial        string `json:"serial,omitempty"`
	Firmware      string `json:"firmware,omitempty"`
	CapacityBytes int64  `json:"capacity_bytes"`
	// HPA and DCO states as probed: "absent", "present", "removed", "unknown".
	HPA string `json:"hpa,omitempty"`
	DCO string `json:"dco,omitempty"`

	Method   string `json:"method"`   // wire.Method*
	Category string `json:"category"` // CategoryClear, CategoryPurge, CategoryNone
	Pattern  string `json:"pattern,omitempty"`
	// Commands are the exact commands run and the device's raw answers.
	Commands     []Command    `json:"commands,omitempty"`
	Started      time.Time    `json:"started"`
	Finished     time.Time    `json:"finished"`
	Verification Verification `json:"verification"`
	Result       string       `json:"result"`
	Error        string       `json:"error,omitempty"`
}

// Command is one command run against a medium, with its raw output.
type Command struct {
	Command  string `json:"command"`
	ExitCode int    `json:"exit_code"`
	Output   string `json:"output,omitempty"` // truncated to a few KiB
}

// Verification is how the result was checked.
type Verification struct {
	Method       string `json:"method"` // wire.VerifyFull, wire.VerifySample, "device-status", "none"
	Result       string `json:"result"` // VerificationPassed, VerificationFailed, VerificationNotDone
	BytesChecked int64  `json:"bytes_checked,omitempty"`
	Samples      int    `json:"samples,omitempty"`
	Seed         string `json:"seed,omitempty"` // of the sample positions, so an auditor can re-check
	Detail       string `json:"detail,omitempty"`
}

// Tool names the software that did the wipe.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// External is evidence from another tool's log.
type External struct {
	Tool      string `json:"tool"` // "nwipe"
	Version   string `json:"version,omitempty"`
	LogSHA256 string `json:"log_sha256"`
	// ImportedBy is the technician who attached it.
	ImportedBy string `json:"imported_by"`
}

// File is a certificate file: the certificate, the device's signature over
// its compact JSON bytes, and the server's countersignature over those bytes
// followed by the device signature.
//
// The signatures cover the compact form of Certificate, so a file keeps
// verifying whatever the layout of the JSON around it: written to disk
// (Marshal indents it), or embedded in a message where an encoder compacts
// it. Verify checks the bytes of a file on disk; a File decoded from a
// message is checked with its Verify method.
type File struct {
	Certificate json.RawMessage `json:"certificate"`
	DeviceKey   string          `json:"device_key"` // base64 ed25519 public key
	DeviceSig   string          `json:"device_sig"` // base64
	ServerKey   string          `json:"server_key,omitempty"`
	ServerSig   string          `json:"server_sig,omitempty"`
}

// Sign makes a device-signed certificate file.
func Sign(c Certificate, device ed25519.PrivateKey) (File, error) {
	if c.Version == 0 {
		c.Version = Version
	}
	body, err := canonicalBody(c)
	if err != nil {
		return File{}, fmt.Errorf("sign certificate %s: %w", c.ID, err)
	}
	return File{
		Certificate: body,
		DeviceKey:   base64.StdEncoding.EncodeToString(device.Public().(ed25519.PublicKey)),
		DeviceSig:   base64.StdEncoding.EncodeToString(ed25519.Sign(device, body)),
	}, nil
}

// canonicalBody encodes c as it will read back: encoding/json replaces
// invalid UTF-8 (a raw device answer cut in the middle of a rune) by an
// escaped U+FFFD that decodes to a different encoding, so the bytes are
// taken after one decode and encode round trip, which is a fixed point.
func canonicalBody(c Certificate) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var back Certificate
	if err := json.Unmarshal(body, &back); err != nil {
		return nil, err
	}
	return json.Marshal(back)
}

// signed returns the bytes the signatures cover: the compact certificate.
func (f *File) signed() []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, f.Certificate); err != nil {
		return f.Certificate // not JSON: no signature can match
	}
	return b.Bytes()
}

// Countersign adds the server's signature. It checks the device signature
// first: a server never countersigns what the device did not sign.
func (f *File) Countersign(server ed25519.PrivateKey) error {
	if err := f.checkDevice(); err != nil {
		return fmt.Errorf("countersign: %w", err)
	}
	f.ServerKey = base64.StdEncoding.EncodeToString(server.Public().(ed25519.PublicKey))
	f.ServerSig = base64.StdEncoding.EncodeToString(ed25519.Sign(server, f.countersigned()))
	return nil
}

func (f *File) countersigned() []byte {
	return append(f.signed(), f.DeviceSig...)
}

// Marshal returns the canonical bytes of the file, as written to disk and
// hashed for the chain.
func (f File) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Hash returns the hex SHA-256 of the file's canonical bytes: the PrevHash
// of the asset's next certificate.
func (f File) Hash() string {
	b, _ := f.Marshal()
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ParseFile decodes a certificate file, canonical or not (a file embedded
// in a message is compacted), without checking anything: Verify does.
func ParseFile(data []byte) (File, error) {
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return f, nil
}

// Decode parses the certificate inside the file without checking anything.
func (f File) Decode() (Certificate, error) {
	var c Certificate
	if err := json.Unmarshal(f.Certificate, &c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return c, nil
}

// b64 decodes keys and signatures strictly: the unused low bits of the last
// character must be zero, so that no other spelling of a key or signature
// is accepted.
var b64 = base64.StdEncoding.Strict()

func (f *File) checkDevice() error {
	key, err := b64.DecodeString(f.DeviceKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: device key is not an ed25519 public key", ErrDeviceSignature)
	}
	sig, err := b64.DecodeString(f.DeviceSig)
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(key, f.signed(), sig) {
		return fmt.Errorf("%w: the certificate was changed after the device signed it, or not signed by %s", ErrDeviceSignature, f.DeviceKey)
	}
	return nil
}
