package certificate

import "errors"

// The checks of Verify, one sentinel each; the error wraps the one that failed.
var (
	// ErrFormat means the file is not a canonical certificate file.
	ErrFormat = errors.New("format check failed")
	// ErrDeviceSignature means the device's signature does not verify.
	ErrDeviceSignature = errors.New("device signature check failed")
	// ErrServerSignature means the server's countersignature is missing or does not verify.
	ErrServerSignature = errors.New("server countersignature check failed")
	// ErrServerKey means the file was countersigned by another key than the one expected.
	ErrServerKey = errors.New("server key check failed")
	// ErrDeviceKey means the file was signed by another key than the device's.
	ErrDeviceKey = errors.New("device key check failed")
	// ErrChain means PrevHash does not match the previous certificate.
	ErrChain = errors.New("chain check failed")
	// ErrContent means a field is missing or contradicts another (a
	// succeeded certificate with a failed medium, no media, no asset).
	ErrContent = errors.New("content check failed")

	// ErrNwipeLog means a text is not an nwipe log, or one where no drive
	// was wiped.
	ErrNwipeLog = errors.New("not a usable nwipe log")
	// ErrSerialMismatch means no drive of an nwipe log is the device's disk.
	ErrSerialMismatch = errors.New("disk serial does not match")
)
