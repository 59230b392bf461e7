package fleet

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
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
	// After is the id of the loan a page starts after; Limit bounds it.
	After string
	Limit int
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

// Loan limits.
const (
	// MaxLoanDays bounds how far ahead a loan may be due.
	MaxLoanDays = 366
	// maxReason bounds override reasons and damage notes.
	maxReason = 1024
)

// overridable are the states a device may leave for a loan through an
// override: it is here and idle, only its wipe or provisioning is not
// done. A device being wiped or provisioned, out, lost or retired cannot
// go out, whoever asks.
var overridable = []State{StateIntake, StateNeedsWipe, StateWipeFailed, StateWiped, StateMaintenance, StateReady}

func cleanReason(what, s string) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxReason {
		return "", fmt.Errorf("%w: %s is longer than %d characters", ErrInvalid, what, maxReason)
	}
	return s, nil
}

// pre is what a change reads outside its transaction: the telemetry of
// the kit's devices. A device that joined the kit in between is seen as
// never reported, which only adds a warning.
type pre struct {
	live map[string]Live      // checkout's pre-flight
	hw   map[string]*Hardware // the hardware compared at check-in
}

// preRead reads the hardware of devices, and their live telemetry when
// withLive.
func (f *Fleet) preRead(devices []string, withLive bool) (pre, error) {
	p := pre{live: map[string]Live{}, hw: map[string]*Hardware{}}
	for _, id := range devices {
		if withLive {
			lv, err := f.liveOf(id)
			if err != nil {
				return p, err
			}
			p.live[id] = lv
		}
		if f.cfg.Telemetry == nil {
			continue
		}
		h, ok, err := f.cfg.Telemetry.LatestHardware(id)
		if err != nil {
			return p, fmt.Errorf("hardware of %s: %w", id, err)
		}
		if ok {
			p.hw[id] = &h
		}
	}
	return p, nil
}

// Checkout lends a kit: every device goes on_loan in one transaction with
// the loan, unless a device is not ready (the error is a *RefusedError
// naming each one and why) or the kit is already out ("already out since
// …, to …"). Médiateurs may check out only to themselves; only logistics
// and admins may override. The pre-flight's warnings are kept on the loan.
func (f *Fleet) Checkout(by Principal, req CheckoutRequest) (Loan, error) {
	if !by.Allowed(RoleMediateur, RoleLogistics) {
		return Loan{}, fmt.Errorf("%w: role %s may not check kits out", ErrForbidden, by.Role)
	}
	override, err := cleanReason("override reason", req.Override)
	if err != nil {
		return Loan{}, err
	}
	if override != "" && !by.Allowed(RoleLogistics) {
		return Loan{}, fmt.Errorf("%w: only logistics staff or an admin may override the wipe gate", ErrForbidden)
	}
	now := f.now()
	switch {
	case req.Due.IsZero():
		return Loan{}, fmt.Errorf("%w: a due date is required", ErrInvalid)
	case !req.Due.After(now):
		return Loan{}, fmt.Errorf("%w: due date %s is in the past", ErrInvalid, f.moment(req.Due))
	case req.Due.Sub(now) > MaxLoanDays*24*time.Hour:
		return Loan{}, fmt.Errorf("%w: due date %s is more than %d days ahead", ErrInvalid, f.day(req.Due), MaxLoanDays)
	}
	k, err := f.Kit(req.Kit)
	if err != nil {
		return Loan{}, err
	}
	p, err := f.preRead(k.Devices, true)
	if err != nil {
		return Loan{}, fmt.Errorf("checkout of %s: %w", k.Label, err)
	}
	id, err := f.newID("l")
	if err != nil {
		return Loan{}, fmt.Errorf("checkout of %s: %w", k.Label, err)
	}
	var loan Loan
	err = f.update(func(l lookup) error {
		k, err := l.tx.Kit(k.ID)
		if err != nil {
			return err
		}
		if k.Loan != "" {
			out, err := l.tx.Loan(k.Loan)
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: %s is already out since %s, to %s (loan %s)", ErrConflict, k.Label, f.moment(out.OutAt), out.BorrowerName, out.ID)
		}
		if len(k.Devices) == 0 {
			return fmt.Errorf("%w: %s has no devices", ErrConflict, k.Label)
		}
		borrower, err := f.borrower(l, by, req.To)
		if err != nil {
			return err
		}
		venue, err := l.venue(req.Venue)
		if err != nil {
			return err
		}
		loan = Loan{
			ID: id, Kit: k.ID, KitLabel: k.Label, Borrower: borrower.ID, BorrowerName: borrower.Name,
			Venue: venue.ID, VenueName: venue.Name, OutAt: now, DueAt: req.Due.UTC(), By: by.Name, Override: override,
		}
		if len(k.Missing) > 0 {
			loan.Preflight = append(loan.Preflight, Shortfall{Kind: ShortfallAccessories, Items: slices.Clone(k.Missing)})
		}
		devs := make([]Device, 0, len(k.Devices))
		var blocking []string
		for _, did := range k.Devices {
			d, err := l.tx.Device(did)
			if err != nil {
				return err
			}
			if why, err := f.blocking(l.tx, d, override != ""); err != nil {
				return err
			} else if why != "" {
				blocking = append(blocking, d.AssetTag+": "+why)
			}
			loan.Preflight = append(loan.Preflight, f.preflight(d, p.live[d.ID], now)...)
			loan.Devices = append(loan.Devices, LoanDevice{ID: d.ID, AssetTag: d.AssetTag, Class: d.Class, Hardware: p.hw[d.ID]})
			devs = append(devs, d)
		}
		if len(blocking) > 0 {
			what := "are not ready"
			if override != "" {
				what = "cannot go out, even with an override"
			}
			return &RefusedError{Kind: ErrConflict, Summary: fmt.Sprintf("%s cannot go out: %d of its %d devices %s", k.Label, len(blocking), len(devs), what), Lines: blocking}
		}
		for i := range devs {
			d := &devs[i]
			reason := "checkout " + loan.ID
			if d.State != StateReady {
				reason = "checkout " + loan.ID + " by override: " + override
			}
			if err := f.goOnLoan(l.tx, d, by.Name, reason); err != nil {
				return err
			}
			d.Loan = loan.ID
			if err := l.tx.PutDevice(*d); err != nil {
				return err
			}
		}
		k.Loan, k.UpdatedAt = loan.ID, now
		if err := l.tx.PutKit(k); err != nil {
			return err
		}
		if err := l.tx.PutLoan(loan); err != nil {
			return err
		}
		return f.audit(l.tx, AuditEvent{Actor: by.Name, Action: ActionCheckout, Subject: "kit:" + k.ID, After: jsonValue(loan), Reason: override})
	})
	if err != nil {
		return Loan{}, err
	}
	return loan, nil
}

// borrower resolves the borrower of a checkout: the caller when ref is
// empty. A médiateur borrows only for themselves.
func (f *Fleet) borrower(l lookup, by Principal, ref string) (User, error) {
	if strings.TrimSpace(ref) == "" {
		ref = by.ID
	}
	u, err := l.user(ref)
	if err != nil {
		return User{}, err
	}
	if by.Role == RoleMediateur && u.ID != by.ID {
		return User{}, fmt.Errorf("%w: a médiateur may check kits out only to themselves", ErrForbidden)
	}
	if !u.DisabledAt.IsZero() {
		return User{}, fmt.Errorf("%w: %s is disabled", ErrConflict, u.Name)
	}
	return u, nil
}

// blocking says why d may not go out, or "" if it may: it must be ready
// and pass the wipe gate, or, with an override, be in an overridable
// state.
func (f *Fleet) blocking(tx Tx, d Device, override bool) (string, error) {
	if override {
		if slices.Contains(overridable, d.State) {
			return "", nil
		}
		return f.why(d), nil
	}
	if d.State != StateReady {
		return f.why(d), nil
	}
	closed, err := f.gateClosed(tx, d)
	if closed != "" {
		closed = "ready, but " + closed
	}
	return closed, err
}

// goOnLoan moves d to on_loan: through the transition table from ready,
// or from another overridable state by override, audited with its reason.
func (f *Fleet) goOnLoan(tx Tx, d *Device, actor, reason string) error {
	if d.State == StateReady {
		return f.transition(tx, d, StateOnLoan, actor, reason)
	}
	from, now := d.State, f.now()
	d.State, d.StateChangedAt, d.StateReason, d.UpdatedAt = StateOnLoan, now, reason, now
	return f.audit(tx, AuditEvent{
		Actor: actor, Action: ActionState, Device: d.ID,
		Before: jsonString(string(from)), After: jsonString(string(StateOnLoan)), Reason: reason,
	})
}

// preflight lists the shortfalls of d's live telemetry at checkout.
func (f *Fleet) preflight(d Device, lv Live, now time.Time) []Shortfall {
	var out []Shortfall
	short := func(kind string) Shortfall { return Shortfall{Kind: kind, AssetTag: d.AssetTag} }
	switch {
	case !lv.Reported:
		out = append(out, short(FlagNeverReported))
	case now.Sub(lv.LastSeen) > f.cfg.Preflight:
		s := short(FlagSilent)
		s.Silent = now.Sub(lv.LastSeen).Truncate(time.Second)
		out = append(out, s)
	}
	if lv.Charge != nil && *lv.Charge < f.cfg.MinCharge {
		s := short(FlagLowCharge)
		s.Charge = *lv.Charge
		out = append(out, s)
	}
	if d.Class == "hotspot" {
		switch {
		case lv.SIM == nil && lv.Reported:
			out = append(out, short(ShortfallNoModem))
		case lv.SIM != nil && !*lv.SIM:
			out = append(out, short(FlagNoSIM))
		}
	}
	return out
}

// roundAgo shows a duration the way people say it: 40 min, 3 h, 2 days.
func roundAgo(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// Checkin records a kit's return; see CheckinRequest. Every device that
// came back goes to needs_wipe (or maintenance when damaged), its
// hardware is compared with the hardware at checkout, and the loan is
// closed. Médiateurs may check in only their own loans.
func (f *Fleet) Checkin(by Principal, req CheckinRequest) (LoanStatus, error) {
	if !by.Allowed(RoleMediateur, RoleLogistics) {
		return LoanStatus{}, fmt.Errorf("%w: role %s may not check kits in", ErrForbidden, by.Role)
	}
	for i, dm := range req.Damaged {
		note, err := cleanReason("damage note", dm.Note)
		if err != nil {
			return LoanStatus{}, err
		}
		if note == "" {
			return LoanStatus{}, fmt.Errorf("%w: say what is damaged on %s", ErrInvalid, dm.Device)
		}
		req.Damaged[i].Note = note
	}
	k, err := f.Kit(req.Kit)
	if err != nil {
		return LoanStatus{}, err
	}
	if k.Loan == "" {
		return LoanStatus{}, fmt.Errorf("%w: %s is not out", ErrConflict, k.Label)
	}
	p, err := f.preRead(k.Devices, false)
	if err != nil {
		return LoanStatus{}, fmt.Errorf("check-in of %s: %w", k.Label, err)
	}
	var loan Loan
	err = f.update(func(l lookup) error {
		k, err := l.tx.Kit(k.ID)
		if err != nil {
			return err
		}
		if k.Loan == "" {
			return fmt.Errorf("%w: %s is not out", ErrConflict, k.Label)
		}
		if loan, err = l.tx.Loan(k.Loan); err != nil {
			return err
		}
		if by.Role == RoleMediateur && loan.Borrower != by.ID {
			return fmt.Errorf("%w: %s was lent to %s; only they or logistics staff may check it in", ErrForbidden, k.Label, loan.BorrowerName)
		}
		c, err := f.sortCheckin(l, k, loan, req)
		if err != nil {
			return err
		}
		now := f.now()
		for _, ld := range loan.Devices {
			d, err := l.tx.Device(ld.ID)
			if err != nil {
				return err
			}
			if d.Loan != loan.ID {
				continue // lost or found during the loan: already dealt with
			}
			switch {
			case c.lost[d.ID]:
				loan.MissingDevices = append(loan.MissingDevices, d.ID)
				d.Loan = ""
				if err := f.transition(l.tx, &d, StateLost, by.Name, "declared lost at the check-in of "+loan.ID); err != nil {
					return err
				}
			case c.missing[d.ID]:
				loan.MissingDevices = append(loan.MissingDevices, d.ID)
				d.addNote(Note{At: now, Kind: FlagMissing, Text: fmt.Sprintf("missing at the check-in of %s on %s; check it in when found, or declare it lost", loan.ID, f.day(now))})
				d.UpdatedAt = now
			default:
				d.Loan = ""
				to, reason := StateNeedsWipe, "returned from "+loan.ID
				if note, ok := c.damaged[d.ID]; ok {
					loan.Damaged = append(loan.Damaged, Damage{Device: d.ID, Note: note})
					to, reason = StateMaintenance, "damaged: "+note
					k.addNote(Note{At: now, Kind: "damaged", Text: d.AssetTag + ": " + note})
				}
				if err := f.returned(l.tx, &d, by.Name, now, to, reason); err != nil {
					return err
				}
				if ld.Hardware != nil && p.hw[d.ID] != nil {
					for _, what := range ld.Hardware.Changes(*p.hw[d.ID]) {
						loan.HardwareChanges = append(loan.HardwareChanges, HardwareChange{Device: d.ID, AssetTag: d.AssetTag, What: what})
						d.HardwareChanged = true
						d.addNote(Note{At: now, Kind: NoteHardwareChanged, Text: "during " + loan.ID + ": " + what})
						k.addNote(Note{At: now, Kind: NoteHardwareChanged, Text: d.AssetTag + ": " + what})
						if err := f.audit(l.tx, AuditEvent{Actor: by.Name, Action: ActionHardwareChanged, Device: d.ID, Subject: "kit:" + k.ID, Reason: what}); err != nil {
							return err
						}
					}
				}
			}
			if err := l.tx.PutDevice(d); err != nil {
				return err
			}
		}
		loan.ReturnedAt, loan.ReturnedBy, loan.MissingAccessories = now, by.Name, c.accessories
		for _, a := range c.accessories {
			if !slices.ContainsFunc(k.Missing, func(m string) bool { return NameKey(m) == NameKey(a) }) {
				k.Missing = append(k.Missing, a)
			}
		}
		k.Loan, k.UpdatedAt = "", now
		if err := l.tx.PutKit(k); err != nil {
			return err
		}
		if err := l.tx.PutLoan(loan); err != nil {
			return err
		}
		return f.audit(l.tx, AuditEvent{Actor: by.Name, Action: ActionCheckin, Subject: "kit:" + k.ID, After: jsonValue(loan)})
	})
	if err != nil {
		return LoanStatus{}, err
	}
	return f.statuses([]Loan{loan}, f.now())[0], nil
}

// checkin is what a check-in request says, resolved against the loan.
type checkin struct {
	missing, lost map[string]bool   // device ids
	damaged       map[string]string // device id -> note
	accessories   []string
}

// sortCheckin resolves a check-in's lists: each missing item must be a
// device of the loan or an accessory of the kit; lost and damaged devices
// must be devices of the loan.
func (f *Fleet) sortCheckin(l lookup, k Kit, loan Loan, req CheckinRequest) (checkin, error) {
	c := checkin{missing: map[string]bool{}, lost: map[string]bool{}, damaged: map[string]string{}}
	loanDevice := func(ref string) (string, bool) {
		for _, ld := range loan.Devices {
			if strings.EqualFold(ld.ID, ref) || strings.EqualFold(ld.AssetTag, strings.TrimSpace(ref)) {
				return ld.ID, true
			}
		}
		return "", false
	}
	for _, it := range req.Missing {
		if id, ok := loanDevice(it); ok {
			c.missing[id] = true
			continue
		}
		i := slices.IndexFunc(k.Accessories, func(a string) bool { return NameKey(a) == NameKey(it) })
		if i < 0 {
			return c, fmt.Errorf("%w: %q is neither a device of loan %s nor an accessory of %s (accessories: %s)",
				ErrInvalid, it, loan.ID, k.Label, strings.Join(k.Accessories, ", "))
		}
		if !slices.Contains(c.accessories, k.Accessories[i]) {
			c.accessories = append(c.accessories, k.Accessories[i])
		}
	}
	for _, ref := range req.Lost {
		id, ok := loanDevice(ref)
		if !ok {
			return c, fmt.Errorf("%w: %s is not a device of loan %s", ErrInvalid, ref, loan.ID)
		}
		c.lost[id] = true
	}
	for _, dm := range req.Damaged {
		id, ok := loanDevice(dm.Device)
		if !ok {
			return c, fmt.Errorf("%w: %s is not a device of loan %s", ErrInvalid, dm.Device, loan.ID)
		}
		if c.missing[id] || c.lost[id] {
			return c, fmt.Errorf("%w: %s cannot be both missing and damaged", ErrInvalid, dm.Device)
		}
		c.damaged[id] = dm.Note
	}
	return c, nil
}

// returned records that d came back at at: its LastReturnedAt is set (no
// certificate older than that opens the wipe gate), and it goes to state
// to when the lifecycle allows.
func (f *Fleet) returned(tx Tx, d *Device, actor string, at time.Time, to State, reason string) error {
	before := d.LastReturnedAt
	d.LastReturnedAt = at.UTC()
	if err := f.audit(tx, AuditEvent{
		Actor: actor, Action: ActionReturned, Device: d.ID,
		Before: jsonTime(before), After: jsonTime(d.LastReturnedAt), Reason: reason,
	}); err != nil {
		return err
	}
	if !CanTransition(d.State, to) {
		return nil // e.g. already needs_wipe, or wiping: the gate is closed anyway
	}
	return f.transition(tx, d, to, actor, reason)
}

// statuses adds what is true now to loans: overdue, and which devices of
// open loans have been silent too long. The last-seen times of every
// device out come in one read.
func (f *Fleet) statuses(loans []Loan, now time.Time) []LoanStatus {
	var ids []string
	for _, l := range loans {
		if l.Open() {
			for _, ld := range l.Devices {
				ids = append(ids, ld.ID)
			}
		}
	}
	seen, known := map[string]time.Time{}, true
	if len(ids) > 0 && f.cfg.Telemetry != nil {
		var err error
		if seen, err = f.cfg.Telemetry.LastSeen(ids); err != nil {
			// Flag nothing rather than every device: say it in the log.
			f.log.Error("read last seen of devices on loan", "err", err)
			known = false
		}
	}
	sts := make([]LoanStatus, 0, len(loans))
	for _, l := range loans {
		st := LoanStatus{Loan: l}
		if l.Open() {
			st.Overdue = l.OverdueAt(now)
			for _, ld := range l.Devices {
				if !known {
					break
				}
				last, ok := seen[ld.ID]
				if silentSince(Live{Reported: ok, LastSeen: last}, l.OutAt, now) > f.cfg.LostAfter {
					st.PossiblyLost = append(st.PossiblyLost, ld.AssetTag)
				}
			}
		}
		sts = append(sts, st)
	}
	return sts
}

// Loans returns the loans filter selects, newest first. A médiateur sees
// only their own.
func (f *Fleet) Loans(by Principal, filter LoanFilter) ([]LoanStatus, error) {
	if filter.Limit < 0 {
		return nil, fmt.Errorf("%w: limit must not be negative", ErrInvalid)
	}
	now := f.now()
	q := LoanQuery{Open: filter.Open || filter.Overdue, After: strings.ToLower(strings.TrimSpace(filter.After)), Limit: filter.Limit}
	if filter.Overdue {
		q.DueBefore = now
	}
	err := f.view(func(l lookup) error {
		if filter.User != "" {
			u, err := l.user(filter.User)
			if err != nil {
				return err
			}
			q.User = u.ID
		}
		if filter.Venue != "" {
			v, err := l.venue(filter.Venue)
			if err != nil {
				return err
			}
			q.Venue = v.ID
		}
		if filter.Kit != "" {
			k, err := l.kit(filter.Kit)
			if err != nil {
				return err
			}
			q.Kit = k.ID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if by.Role == RoleMediateur {
		if q.User != "" && q.User != by.ID {
			return nil, fmt.Errorf("%w: a médiateur sees only their own loans", ErrForbidden)
		}
		q.User = by.ID
	}
	loans, err := f.cfg.Store.Loans(q)
	if err != nil {
		return nil, fmt.Errorf("list loans: %w", err)
	}
	return f.statuses(loans, now), nil
}

// LoanStatus returns one loan. A médiateur may see only their own.
func (f *Fleet) LoanStatus(by Principal, id string) (LoanStatus, error) {
	id = strings.TrimSpace(id)
	if id == "" || len(id) > maxName {
		return LoanStatus{}, fmt.Errorf("%w: empty or overlong loan id", ErrInvalid)
	}
	l, err := f.cfg.Store.Loan(strings.ToLower(id))
	if errors.Is(err, ErrNotFound) {
		return LoanStatus{}, fmt.Errorf("%w: no loan %s", ErrNotFound, id)
	}
	if err != nil {
		return LoanStatus{}, fmt.Errorf("read loan %s: %w", id, err)
	}
	if by.Role == RoleMediateur && l.Borrower != by.ID {
		return LoanStatus{}, fmt.Errorf("%w: loan %s is not yours", ErrForbidden, id)
	}
	return f.statuses([]Loan{l}, f.now())[0], nil
}
