package store

import "errors"

var (
	// ErrLocked means another process holds the store file.
	ErrLocked = errors.New("store file is locked by another process")
	// ErrSchema means the file was written by a newer server.
	ErrSchema = errors.New("unknown schema version")
	// ErrNotFound means the record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt means a stored record cannot be decoded.
	ErrCorrupt = errors.New("corrupt record")
	// ErrInvalid means a record handed to the store lacks a required field.
	ErrInvalid = errors.New("invalid record")
)
