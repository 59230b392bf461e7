package fleet

import "errors"

// Sentinel errors of the fleet, compared with errors.Is. The API maps each to
// an HTTP status; the wrapping message says which device or token.
var (
	// ErrNotFound means no device, token or credential matches the reference.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means a request field is missing or out of range.
	ErrInvalid = errors.New("invalid request")
	// ErrUnauthorized means a secret (API token, enrolment token) is unknown.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden means the principal's role may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrTokenGone means an enrolment token is expired or used up.
	ErrTokenGone = errors.New("enrolment token no longer valid")
	// ErrConflict means the fleet's state forbids the change now.
	ErrConflict = errors.New("conflict")
	// ErrNotWiped means the wipe gate does not hold: no valid certificate
	// newer than the device's last return that matches its hardware. It
	// comes wrapped together with ErrConflict.
	ErrNotWiped = errors.New("wipe gate closed")
	// ErrUnavailable means the fleet lacks what the request needs (no
	// server key to countersign with).
	ErrUnavailable = errors.New("unavailable")
	// ErrAuditBroken means the audit log's chain does not verify.
	ErrAuditBroken = errors.New("audit log altered")
)
