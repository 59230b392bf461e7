package collect

import "errors"

// Sentinel errors, wrapped with context by the collectors; compare them with
// errors.Is.
var (
	// ErrUnsupported means a collector has no implementation for this
	// operating system.
	ErrUnsupported = errors.New("not supported on this operating system")
	// ErrNotRecorded means a command was not run because the collector reads
	// a recorded root (Config.Root) that holds no recorded output for it; it
	// also wraps exec.ErrNotFound, so a collector treats it as a missing tool.
	ErrNotRecorded = errors.New("no recorded output")
	// ErrNoData means a source exists but held nothing usable.
	ErrNoData = errors.New("no data")
)
