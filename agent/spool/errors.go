package spool

import "errors"

// Sentinel errors of the spool, compared with errors.Is.
var (
	// ErrClosed means the spool was used after Close.
	ErrClosed = errors.New("spool closed")
	// ErrLocked means another process holds the spool file open.
	ErrLocked = errors.New("spool file is locked by another process")
	// ErrNonceReused means a command nonce was already seen and has not expired yet.
	ErrNonceReused = errors.New("nonce already used")
	// ErrJobRunning means BeginJob found another job in progress.
	ErrJobRunning = errors.New("another job is in progress")
	// ErrCorrupt means a record in the spool file cannot be read.
	ErrCorrupt = errors.New("corrupt spool record")
)
