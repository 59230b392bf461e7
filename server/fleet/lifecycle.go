package fleet

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// transitions is the lifecycle of a device: from a state, the states it
// may go to. Every other change is refused. It follows the design:
//
//	intake -> needs_wipe -> wiping -> wiped | wipe_failed -> (retry) wiping
//	wiped -> provisioning -> ready -> on_loan -> needs_wipe
//	ready, on_loan -> maintenance -> needs_wipe
//	any -> lost ; lost -> needs_wipe (found) ; wiped -> retired
//
// with these additions, each of which only ever leads away from ready:
// intake may be wiped at once (it requires a wipe, like needs_wipe); a
// technician may wipe again a device that is wiped, provisioning, ready or
// in maintenance; a failed provisioning goes back to wiped.
//
// ready is reachable only from provisioning, and only through the wipe
// gate (see Gate), whoever asks.
var transitions = map[State][]State{
	StateIntake:       {StateNeedsWipe, StateWiping},
	StateNeedsWipe:    {StateWiping, StateMaintenance},
	StateWiping:       {StateWiped, StateWipeFailed},
	StateWipeFailed:   {StateWiping, StateNeedsWipe},
	StateWiped:        {StateProvisioning, StateRetired, StateWiping},
	StateProvisioning: {StateReady, StateWiped, StateWiping},
	StateReady:        {StateOnLoan, StateMaintenance, StateWiping, StateNeedsWipe},
	StateOnLoan:       {StateNeedsWipe, StateMaintenance},
	StateMaintenance:  {StateNeedsWipe, StateWiping},
	StateLost:         {StateNeedsWipe},
	StateRetired:      {},
}

// CanTransition reports whether the lifecycle allows a device to go from
// one state to another. Any state may go to lost (except lost itself).
func CanTransition(from, to State) bool {
	if !from.Valid() || !to.Valid() || from == to {
		return false
	}
	if to == StateLost {
		return true
	}
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// transition moves d to state to, inside tx, and appends the audit event
// that records it. Going to ready runs the wipe gate first. It changes d
// but does not write it: the caller puts it.
func (f *Fleet) transition(tx Tx, d *Device, to State, actor, reason string) error {
	if !CanTransition(d.State, to) {
		return fmt.Errorf("%w: %s is %s and cannot go to %s", ErrConflict, d.AssetTag, d.State, to)
	}
	if to == StateReady {
		if err := f.gate(tx, *d); err != nil {
			return err
		}
	}
	from := d.State
	now := f.now()
	d.State, d.StateChangedAt, d.StateReason, d.UpdatedAt = to, now, reason, now
	return f.audit(tx, AuditEvent{
		Actor: actor, Action: ActionState, Device: d.ID,
		Before: jsonString(string(from)), After: jsonString(string(to)), Reason: reason,
	})
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// jsonValue is the JSON of a value for an audit event; values the fleet
// passes always marshal.
func jsonValue(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// change loads a device by reference, runs fn on it inside one write
// transaction and writes it back when fn returns nil.
func (f *Fleet) change(ref string, fn func(tx Tx, d *Device) error) (Device, error) {
	d, err := f.Device(ref)
	if err != nil {
		return Device{}, err
	}
	var out Device
	err = f.cfg.Store.Update(func(tx Tx) error {
		cur, err := tx.Device(d.ID)
		if err != nil {
			return err
		}
		if err := fn(tx, &cur); err != nil {
			return err
		}
		out = cur
		return tx.PutDevice(cur)
	})
	return out, err
}

// SetState moves a device to another lifecycle state, as a person asks:
// lost, found (needs_wipe), maintenance, retired… The transition table
// decides, and ready needs the wipe gate. reason is kept in the audit log.
func (f *Fleet) SetState(by Principal, ref string, to State, reason string) (Device, error) {
	if !to.Valid() {
		return Device{}, fmt.Errorf("%w: state %q is not one of %v", ErrInvalid, to, States)
	}
	switch to {
	case StateWiping, StateWiped, StateWipeFailed, StateProvisioning:
		return Device{}, fmt.Errorf("%w: %s is reached through a wipe or provisioning job, not set by hand", ErrInvalid, to)
	case StateLost, StateOnLoan, StateNeedsWipe:
		if !by.Allowed(RoleLogistics, RoleTechnician) {
			return Device{}, fmt.Errorf("%w: role %s may not change a device's state", ErrForbidden, by.Role)
		}
	default:
		if !by.Allowed(RoleTechnician) {
			return Device{}, fmt.Errorf("%w: only a technician or an admin may set a device %s", ErrForbidden, to)
		}
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > 1024 {
		return Device{}, fmt.Errorf("%w: reason is longer than 1024 characters", ErrInvalid)
	}
	if reason == "" {
		return Device{}, fmt.Errorf("%w: say why the device goes %s (a reason is required)", ErrInvalid, to)
	}
	return f.change(ref, func(tx Tx, d *Device) error {
		if to == StateNeedsWipe && (d.State == StateOnLoan || d.State == StateLost) {
			// Found, or back after a check-in that said it was missing: a
			// return, which closes the wipe gate.
			d.Loan = ""
			return f.returned(tx, d, by.Name, f.now(), to, reason)
		}
		if to == StateLost || to == StateMaintenance {
			d.Loan = ""
		}
		return f.transition(tx, d, to, by.Name, reason)
	})
}

// RecordReturn records that a device came back from a loan at at: its
// LastReturnedAt is set (no certificate older than that opens the wipe
// gate) and it goes to needs_wipe when the lifecycle allows (from on_loan,
// ready, maintenance…). Check-in calls it for each device.
func (f *Fleet) RecordReturn(by Principal, ref string, at time.Time, reason string) (Device, error) {
	if !by.Allowed(RoleMediateur, RoleLogistics, RoleTechnician) {
		return Device{}, fmt.Errorf("%w: role %s may not check devices in", ErrForbidden, by.Role)
	}
	if at.IsZero() {
		at = f.now()
	}
	return f.change(ref, func(tx Tx, d *Device) error {
		return f.returned(tx, d, by.Name, at, StateNeedsWipe, reason)
	})
}

func jsonTime(t time.Time) json.RawMessage {
	if t.IsZero() {
		return nil
	}
	b, _ := json.Marshal(t.UTC())
	return b
}

// Gate reports whether a device passes the wipe gate now: nil if it does,
// else an error wrapping ErrConflict and ErrNotWiped that says why.
func (f *Fleet) Gate(ref string) error {
	d, err := f.Device(ref)
	if err != nil {
		return err
	}
	return f.cfg.Store.View(func(tx Tx) error { return f.gate(tx, d) })
}

// GateClosed says why a device fails the wipe gate now ("has not been
// wiped since its return on …"), or "" when it passes.
func (f *Fleet) GateClosed(ref string) (string, error) {
	d, err := f.Device(ref)
	if err != nil {
		return "", err
	}
	var closed string
	err = f.cfg.Store.View(func(tx Tx) error {
		closed, err = f.gateClosed(tx, d)
		return err
	})
	return closed, err
}
