package wipe

import "errors"

// Kinds of wipe errors, compared with errors.Is.
var (
	// ErrUnsafe means the target was refused: it holds the running root or
	// a mounted filesystem, it is removable, or it is neither a block
	// device nor a regular file.
	ErrUnsafe = errors.New("unsafe wipe target")
	// ErrUnsupported means the method asked for is not supported by the
	// disk, or a tool it needs is missing.
	ErrUnsupported = errors.New("wipe method not supported")
	// ErrFrozen means the ATA security feature set of the drive is frozen
	// (by the firmware at boot), so a security erase cannot start.
	ErrFrozen = errors.New("ATA security frozen")
	// ErrVerify means the verification after the erasure failed: the
	// medium does not read back as it should.
	ErrVerify = errors.New("verification failed")
	// ErrErase means the erasure itself failed (I/O error, tool failure).
	ErrErase = errors.New("erasure failed")
	// ErrOptions means an Options field is invalid.
	ErrOptions = errors.New("invalid wipe options")
)
