package fleet

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kit limits.
const (
	maxKitDevices     = 64
	maxKitAccessories = 64
	maxKitNotes       = 32
)

// cleanItems cleans a list of names (accessories), dropping duplicates by
// NameKey.
func cleanItems(what string, items []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, it := range items {
		it, err := cleanName(what, it)
		if err != nil {
			return nil, err
		}
		if k := NameKey(it); !seen[k] {
			seen[k] = true
			out = append(out, it)
		}
	}
	if len(out) > maxKitAccessories {
		return nil, fmt.Errorf("%w: at most %d %ss", ErrInvalid, maxKitAccessories, what)
	}
	return out, nil
}

// CreateKit makes a kit. label must be unique (by NameKey); home, when
// given, is a venue id or name; accessories is the checklist. Logistics
// and admins only.
func (f *Fleet) CreateKit(by Principal, label, home string, accessories []string) (Kit, error) {
	if !by.Allowed(RoleLogistics) {
		return Kit{}, fmt.Errorf("%w: role %s may not create kits", ErrForbidden, by.Role)
	}
	label, err := cleanName("label", label)
	if err != nil {
		return Kit{}, err
	}
	acc, err := cleanItems("accessory", accessories)
	if err != nil {
		return Kit{}, err
	}
	id, err := f.newID("k")
	if err != nil {
		return Kit{}, fmt.Errorf("create kit: %w", err)
	}
	now := f.now()
	k := Kit{ID: id, Label: label, Devices: []string{}, Accessories: acc, CreatedAt: now, UpdatedAt: now}
	err = f.update(func(l lookup) error {
		if other, err := l.tx.KitIDByLabel(NameKey(label)); err == nil {
			return fmt.Errorf("%w: a kit labelled %s already exists (%s)", ErrConflict, label, other)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if strings.TrimSpace(home) != "" {
			v, err := l.venue(home)
			if err != nil {
				return err
			}
			k.Home = v.ID
		}
		if err := l.tx.PutKit(k); err != nil {
			return err
		}
		return f.audit(l.tx, AuditEvent{Actor: by.Name, Action: ActionKitCreated, Subject: "kit:" + k.ID, After: jsonValue(k)})
	})
	if err != nil {
		return Kit{}, err
	}
	return k, nil
}

// changeKit runs fn on a kit that is not on loan, inside one write
// transaction, and writes it back.
func (f *Fleet) changeKit(by Principal, ref, verb string, fn func(l lookup, k *Kit) error) (Kit, error) {
	if !by.Allowed(RoleLogistics) {
		return Kit{}, fmt.Errorf("%w: role %s may not %s kits", ErrForbidden, by.Role, verb)
	}
	var out Kit
	err := f.update(func(l lookup) error {
		k, err := l.kit(ref)
		if err != nil {
			return err
		}
		if err := fn(l, &k); err != nil {
			return err
		}
		k.UpdatedAt = f.now()
		out = k
		return l.tx.PutKit(k)
	})
	return out, err
}

// refuseOnLoan is the error for changing the devices of a kit that is out.
func refuseOnLoan(k Kit) error {
	if k.Loan == "" {
		return nil
	}
	return fmt.Errorf("%w: %s is on loan (%s); change its devices after its check-in", ErrConflict, k.Label, k.Loan)
}

// AddToKit puts devices (ids or asset tags) in a kit. A device belongs to
// one kit at most; a kit on loan cannot change; lost and retired devices
// cannot join. All devices join, or none.
func (f *Fleet) AddToKit(by Principal, kit string, devices []string) (Kit, error) {
	return f.moveDevices(by, kit, devices, func(l lookup, k *Kit, d *Device) (bool, error) {
		switch {
		case d.Kit == k.ID:
			return false, nil
		case d.Kit != "":
			other, err := l.tx.Kit(d.Kit)
			if err != nil {
				return false, err
			}
			return false, fmt.Errorf("%w: %s is already in %s; remove it from there first", ErrConflict, d.AssetTag, other.Label)
		case d.State == StateLost || d.State == StateRetired || d.State == StateOnLoan:
			return false, fmt.Errorf("%w: %s is %s and cannot join a kit", ErrConflict, d.AssetTag, d.State)
		case len(k.Devices) >= maxKitDevices:
			return false, fmt.Errorf("%w: a kit holds at most %d devices", ErrInvalid, maxKitDevices)
		}
		d.Kit = k.ID
		k.Devices = append(k.Devices, d.ID)
		return true, nil
	})
}

// RemoveFromKit takes devices out of a kit that is not on loan.
func (f *Fleet) RemoveFromKit(by Principal, kit string, devices []string) (Kit, error) {
	return f.moveDevices(by, kit, devices, func(l lookup, k *Kit, d *Device) (bool, error) {
		i := slices.Index(k.Devices, d.ID)
		if i < 0 {
			return false, fmt.Errorf("%w: %s is not in %s", ErrInvalid, d.AssetTag, k.Label)
		}
		k.Devices = slices.Delete(k.Devices, i, i+1)
		d.Kit = ""
		return true, nil
	})
}

// moveDevices runs move on each device named, for a kit that is not on
// loan, inside one transaction; each device move says it changed is
// written and audited.
func (f *Fleet) moveDevices(by Principal, kit string, devices []string, move func(l lookup, k *Kit, d *Device) (bool, error)) (Kit, error) {
	if len(devices) == 0 {
		return Kit{}, fmt.Errorf("%w: name at least one device", ErrInvalid)
	}
	return f.changeKit(by, kit, "change", func(l lookup, k *Kit) error {
		if err := refuseOnLoan(*k); err != nil {
			return err
		}
		for _, ref := range devices {
			d, err := l.device(ref)
			if err != nil {
				return err
			}
			before := d.Kit
			changed, err := move(l, k, &d)
			if err != nil {
				return err
			}
			if !changed {
				continue
			}
			d.UpdatedAt = f.now()
			if err := l.tx.PutDevice(d); err != nil {
				return err
			}
			if err := f.audit(l.tx, AuditEvent{
				Actor: by.Name, Action: ActionKitDevices, Device: d.ID, Subject: "kit:" + k.ID,
				Before: jsonString(before), After: jsonString(d.Kit),
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// Restock marks missing accessories as present again: items, or all of
// them when items is empty.
func (f *Fleet) Restock(by Principal, kit string, items []string) (Kit, error) {
	return f.changeKit(by, kit, "restock", func(l lookup, k *Kit) error {
		if len(k.Missing) == 0 {
			return fmt.Errorf("%w: nothing is missing from %s", ErrConflict, k.Label)
		}
		before := slices.Clone(k.Missing)
		if len(items) == 0 {
			k.Missing = nil
		}
		for _, it := range items {
			i := slices.IndexFunc(k.Missing, func(m string) bool { return NameKey(m) == NameKey(it) })
			if i < 0 {
				return fmt.Errorf("%w: %q is not missing from %s (missing: %s)", ErrInvalid, it, k.Label, strings.Join(k.Missing, ", "))
			}
			k.Missing = slices.Delete(k.Missing, i, i+1)
		}
		return f.audit(l.tx, AuditEvent{
			Actor: by.Name, Action: ActionKitRestocked, Subject: "kit:" + k.ID,
			Before: jsonValue(before), After: jsonValue(k.Missing),
		})
	})
}

func (k *Kit) addNote(n Note) {
	k.Notes = append(k.Notes, n)
	if len(k.Notes) > maxKitNotes {
		k.Notes = append([]Note(nil), k.Notes[len(k.Notes)-maxKitNotes:]...)
	}
}

// Kit returns the kit with this id or label.
func (f *Fleet) Kit(ref string) (Kit, error) {
	var k Kit
	err := f.view(func(l lookup) (err error) { k, err = l.kit(ref); return err })
	return k, err
}

// KitStatus returns a kit with the readiness of each device, from its
// state, the wipe gate and live telemetry.
func (f *Fleet) KitStatus(ref string) (KitStatus, error) {
	var st KitStatus
	err := f.view(func(l lookup) error {
		k, err := l.kit(ref)
		if err != nil {
			return err
		}
		st, err = f.kitStatus(l, k, true)
		return err
	})
	return st, err
}

// kitStatus builds a kit's status inside a transaction; with live, each
// device's telemetry is read and flagged, and ready devices go through
// the wipe gate.
func (f *Fleet) kitStatus(l lookup, k Kit, live bool) (KitStatus, error) {
	st := KitStatus{Kit: k}
	if k.Home != "" {
		if v, err := l.tx.Venue(k.Home); err == nil {
			st.HomeName = v.Name
		} else if !errors.Is(err, ErrNotFound) {
			return st, err
		}
	}
	now := f.now()
	if k.Loan != "" {
		loan, err := l.tx.Loan(k.Loan)
		if err != nil {
			return st, fmt.Errorf("loan %s of %s: %w", k.Loan, k.Label, err)
		}
		st.Loan = &LoanStatus{Loan: loan, Overdue: loan.OverdueAt(now)}
	}
	incomplete, notReady := len(k.Devices) == 0 || len(k.Missing) > 0, false
	for _, id := range k.Devices {
		d, err := l.tx.Device(id)
		if err != nil {
			return st, fmt.Errorf("device %s of %s: %w", id, k.Label, err)
		}
		kd := KitDevice{Device: d, Ready: d.State == StateReady}
		missing := d.State == StateOnLoan && d.Loan != k.Loan
		if live {
			if kd.Ready {
				if kd.GateClosed, err = f.gateClosed(l.tx, d); err != nil {
					return st, err
				}
				if kd.GateClosed != "" {
					kd.Ready, kd.Why = false, "ready, but "+kd.GateClosed
				}
			}
			if kd.Live, err = f.liveOf(d.ID); err != nil {
				return st, err
			}
			kd.Flags = f.flags(d, kd.Live, st.Loan, now)
			if st.Loan != nil && slices.Contains(kd.Flags, FlagPossiblyLost) {
				st.Loan.PossiblyLost = append(st.Loan.PossiblyLost, d.AssetTag)
			}
		}
		if missing {
			kd.Flags = append(kd.Flags, FlagMissing)
		}
		if !kd.Ready && kd.Why == "" {
			kd.Why = f.why(d)
		}
		switch {
		case missing || d.State == StateLost || d.State == StateRetired:
			incomplete = true
		case !kd.Ready && d.State != StateOnLoan:
			notReady = true
		}
		st.Devices = append(st.Devices, kd)
	}
	switch {
	case k.Loan != "":
		st.State = KitOnLoan
	case incomplete:
		st.State = KitIncomplete
	case notReady:
		st.State = KitMaintenance
	default:
		st.State = KitAvailable
	}
	return st, nil
}

// gateClosed says why d fails the wipe gate ("has not been wiped since
// its return on …"), or "" when it passes.
func (f *Fleet) gateClosed(tx Tx, d Device) (string, error) {
	err := f.gate(tx, d)
	if err == nil || !errors.Is(err, ErrNotWiped) {
		return "", err
	}
	s := err.Error()
	for _, p := range []string{ErrConflict.Error() + ": ", ErrNotWiped.Error() + ": ", d.AssetTag + " "} {
		s = strings.TrimPrefix(s, p)
	}
	return s, nil
}

// liveOf reads a device's telemetry; without a Telemetry it never reported.
func (f *Fleet) liveOf(device string) (Live, error) {
	if f.cfg.Telemetry == nil {
		return Live{}, nil
	}
	lv, err := f.cfg.Telemetry.Live(device)
	if err != nil {
		return Live{}, fmt.Errorf("telemetry of %s: %w", device, err)
	}
	return lv, nil
}

// flags lists the warnings live telemetry gives about d: the kinds of
// checkout's pre-flight shortfalls (a hotspot that reports no modem has
// no SIM either), then possibly lost while out on loan, and a changed
// hardware.
func (f *Fleet) flags(d Device, lv Live, loan *LoanStatus, now time.Time) []string {
	var out []string
	for _, sf := range f.preflight(d, lv, now) {
		kind := sf.Kind
		if kind == ShortfallNoModem {
			kind = FlagNoSIM
		}
		out = append(out, kind)
	}
	if loan != nil && d.Loan == loan.ID && silentSince(lv, loan.OutAt, now) > f.cfg.LostAfter {
		out = append(out, FlagPossiblyLost)
	}
	if d.HardwareChanged {
		out = append(out, FlagHardwareChanged)
	}
	return out
}

// silentSince is how long a device on a loan that went out at out has
// said nothing: since its last report, or since checkout when it never
// reported (or reported only before).
func silentSince(lv Live, out, now time.Time) time.Duration {
	last := lv.LastSeen
	if !lv.Reported || last.Before(out) {
		last = out
	}
	return now.Sub(last)
}

// day and moment format dates for people, in the fleet's time zone.
func (f *Fleet) day(t time.Time) string    { return t.In(f.cfg.Location).Format("2 Jan") }
func (f *Fleet) moment(t time.Time) string { return t.In(f.cfg.Location).Format("2 Jan 15:04") }

// why says why a device that is not ready is not.
func (f *Fleet) why(d Device) string {
	since := d.StateChangedAt
	if since.IsZero() {
		since = d.UpdatedAt
	}
	reason := ""
	if d.StateReason != "" {
		reason = ": " + d.StateReason
	}
	switch d.State {
	case StateIntake:
		if d.EnrolledAt.IsZero() {
			return "imported on " + f.day(since) + ", never enrolled nor wiped"
		}
		return "never wiped since its enrolment on " + f.day(d.EnrolledAt)
	case StateNeedsWipe:
		if !d.LastReturnedAt.IsZero() {
			return "needs_wipe since return on " + f.day(d.LastReturnedAt)
		}
		return "needs_wipe since " + f.day(since) + reason
	case StateWiping:
		return "being wiped since " + f.moment(since)
	case StateWipeFailed:
		return "wipe failed on " + f.day(since) + reason
	case StateWiped:
		return "wiped on " + f.day(since) + ", not provisioned yet"
	case StateProvisioning:
		return "being provisioned since " + f.moment(since)
	case StateOnLoan:
		return "on loan since " + f.day(since)
	case StateMaintenance:
		return "in maintenance since " + f.day(since) + reason
	case StateLost:
		return "lost since " + f.day(since) + reason
	case StateRetired:
		return "retired on " + f.day(since)
	}
	return string(d.State)
}

// Kits returns at most limit kits (0: all) by label, after the kit
// labelled after, each with its state (from its devices' states; the
// devices' live telemetry is left out).
func (f *Fleet) Kits(after string, limit int) ([]KitStatus, error) {
	if limit < 0 {
		return nil, fmt.Errorf("%w: limit must not be negative", ErrInvalid)
	}
	kits, err := f.cfg.Store.Kits(NameKey(after), limit)
	if err != nil {
		return nil, fmt.Errorf("list kits: %w", err)
	}
	out := make([]KitStatus, 0, len(kits))
	err = f.view(func(l lookup) error {
		for _, k := range kits {
			st, err := f.kitStatus(l, k, false)
			if err != nil {
				return err
			}
			out = append(out, st)
		}
		return nil
	})
	return out, err
}
