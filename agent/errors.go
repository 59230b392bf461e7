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
	// ErrNoDeviceKey means the state dir holds no device key (device.key):
	// the device was enrolled by an agent too old to make one; enrol again.
	ErrNoDeviceKey = errors.New("no device key")
	// ErrPin means the server's TLS certificate chain does not match the
	// CA pin of the join command, or the pin is malformed.
	ErrPin = errors.New("server certificate does not match the CA pin")
	// ErrBusy means a wipe or provisioning job is already running.
	ErrBusy = errors.New("a job is already running")
	// ErrBadArgs means a command's args cannot be used.
	ErrBadArgs = errors.New("bad command args")
)
