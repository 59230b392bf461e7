package broker

import "errors"

var (
	// ErrConfig means a Config field is missing or unusable.
	ErrConfig = errors.New("invalid broker config")
	// ErrStarted means Start was called twice, or after Close.
	ErrStarted = errors.New("broker already started or closed")
	// ErrNotConnected means the external broker is not connected now.
	ErrNotConnected = errors.New("not connected to the mqtt broker")
)
