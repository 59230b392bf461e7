package simulate

import "errors"

// Sentinel errors of the simulator, compared with errors.Is.
var (
	// ErrNeedEnrolment means some simulated device has no state yet and no
	// server or token was given to enrol it.
	ErrNeedEnrolment = errors.New("simulated devices need enrolment")
)
