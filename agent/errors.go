package agent

import "errors"

// Sentinel errors of the agent runtime, compared with errors.Is.
var (
	// ErrNotEnrolled means the state dir holds no state.json: run enroll first.
	ErrNotEnrolled = errors.New("not enrolled")
	// ErrBadState means state.json is unreadable or misses a field.
	ErrBadState = errors.New("bad agent state")
	// ErrEnrollRefused means the server answered the enrolment with an error.
	ErrEnrollRefused = errors.New("enrolment refused")
	// ErrBadResponse means the server's enrolment answer is not what the protocol says.
	ErrBadResponse = errors.New("bad enrolment answer")
	// ErrCommandRefused means a command was not obeyed: forged, foreign,
	// expired, replayed or of a type this agent does not run.
	ErrCommandRefused = errors.New("command refused")
)
