package provisioning

import "errors"

// Sentinel errors, wrapped with context; compare them with errors.Is.
var (
	// ErrProfile means a profile file is not valid TOML, holds an unknown
	// key, lacks a required field or has a value out of range.
	ErrProfile = errors.New("invalid profile")
	// ErrNoProfile means no profile has the name asked for.
	ErrNoProfile = errors.New("no such profile")
	// ErrInput means a BundleInput field is missing or unusable: a value
	// the profile needs is empty, a URL or pin is malformed, a value holds
	// a control character, or the device's class is not the profile's.
	ErrInput = errors.New("invalid bundle input")
	// ErrInstaller means a renderer does not apply to the bundle: its
	// profile does not list that installer, or the bundle lacks what the
	// installer needs (the agent's download URL and checksum).
	ErrInstaller = errors.New("installer does not apply")
)
