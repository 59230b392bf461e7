package fleet

import (
	"time"
)

// CheckoutRequest asks to lend a kit.
type CheckoutRequest struct {
	// Kit is the kit's id or label.
	Kit string
	// To is the borrower, a user id or name; empty means the caller.
	To string
	// Venue is the destination venue's id or name.
	Venue string
	// Due is when the kit is due back.
	Due time.Time
	// Override, when set, is the reason a logistics user or an admin
	// lets the kit out with devices that are not ready.
	Override string
}

// CheckinRequest records a kit's return.
type CheckinRequest struct {
	// Kit is the kit's id or label.
	Kit string
	// Missing lists what did not come back: accessories of the kit's
	// checklist, or devices of the loan (id or asset tag).
	Missing []string
	// Lost lists devices (of Missing, or not) the user declares lost:
	// they go to lost. A missing device that is not declared lost stays
	// on loan, flagged missing, until someone finds it or declares it lost.
	Lost []string
	// Damaged lists devices that came back damaged: they go to
	// maintenance with the note.
	Damaged []Damage
}

// LoanFilter selects loans for Loans. References are ids or names.
type LoanFilter struct {
	Open    bool
	Overdue bool
	User    string
	Venue   string
	Kit     string
	Limit   int
}

// RefusedError is a refusal that lists each reason: the blocking devices
// of a checkout, the bad rows of an import. It wraps its Kind (ErrConflict,
// ErrInvalid); Details has one line per reason.
type RefusedError struct {
	Kind    error
	Summary string
	Lines   []string
}

func (e *RefusedError) Error() string { return e.Kind.Error() + ": " + e.Summary }

func (e *RefusedError) Unwrap() error { return e.Kind }

// Details returns one line per reason.
func (e *RefusedError) Details() []string { return e.Lines }

// Checkout lends a kit: every device goes on_loan in one transaction with
// the loan, unless a device is not ready (the error is a *RefusedError
// naming each one and why) or the kit is already out ("already out since
// …, to …"). Médiateurs may check out only to themselves; only logistics
// and admins may override. The pre-flight's warnings are kept on the loan.
func (f *Fleet) Checkout(by Principal, req CheckoutRequest) (Loan, error) {
	return Loan{}, errUnimplemented
}

// Checkin records a kit's return; see CheckinRequest. Every device that
// came back goes to needs_wipe (or maintenance when damaged), its
// hardware is compared with the hardware at checkout, and the loan is
// closed. Médiateurs may check in only their own loans.
func (f *Fleet) Checkin(by Principal, req CheckinRequest) (LoanStatus, error) {
	return LoanStatus{}, errUnimplemented
}

// Loans returns the loans filter selects, newest first. A médiateur sees
// only their own.
func (f *Fleet) Loans(by Principal, filter LoanFilter) ([]LoanStatus, error) {
	return nil, errUnimplemented
}

// LoanStatus returns one loan. A médiateur may see only their own.
func (f *Fleet) LoanStatus(by Principal, id string) (LoanStatus, error) {
	return LoanStatus{}, errUnimplemented
}
