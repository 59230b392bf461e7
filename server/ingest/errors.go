package ingest

import "errors"

var (
	// ErrClosed means the Ingester was closed; the message was not stored.
	ErrClosed = errors.New("ingester closed")
	// ErrConfig means a Config field is missing or out of range.
	ErrConfig = errors.New("invalid ingest config")
)
