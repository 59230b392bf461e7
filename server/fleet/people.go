package fleet

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxName bounds names, labels and free-text fields of people, venues and
// kits.
const maxName = 128

// cleanName trims s and checks it is a name: 1 to maxName characters, no
// control characters. what names the field in errors.
func cleanName(what, s string) (string, error) {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" || utf8.RuneCountInString(s) > maxName {
		return "", fmt.Errorf("%w: %s must be 1 to %d characters", ErrInvalid, what, maxName)
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "", fmt.Errorf("%w: %s has control characters", ErrInvalid, what)
	}
	return s, nil
}

// lookup resolves references inside one transaction, so that what a
// change reads and what it writes agree.
type lookup struct{ tx Tx }

// device returns the device a reference names: its id, or its asset tag
// in any case.
func (l lookup) device(ref string) (Device, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > maxName {
		return Device{}, fmt.Errorf("%w: empty or overlong device reference", ErrInvalid)
	}
	d, err := l.tx.Device(strings.ToLower(ref))
	if !errors.Is(err, ErrNotFound) {
		return d, err
	}
	id, err := l.tx.DeviceIDByTag(strings.ToUpper(ref))
	if errors.Is(err, ErrNotFound) {
		return Device{}, fmt.Errorf("%w: no device matches %s", ErrNotFound, ref)
	}
	if err != nil {
		return Device{}, err
	}
	return l.tx.Device(id)
}

// user returns the user with this id, or the one user with this name.
func (l lookup) user(ref string) (User, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > maxName {
		return User{}, fmt.Errorf("%w: empty or overlong user reference", ErrInvalid)
	}
	u, err := l.tx.User(ref)
	if !errors.Is(err, ErrNotFound) {
		return u, err
	}
	ids, err := l.tx.UserIDsByName(NameKey(ref))
	if err != nil {
		return User{}, err
	}
	switch len(ids) {
	case 0:
		return User{}, fmt.Errorf("%w: no user matches %s", ErrNotFound, ref)
	case 1:
		return l.tx.User(ids[0])
	}
	return User{}, fmt.Errorf("%w: %d users are named %s; give an id: %s", ErrInvalid, len(ids), ref, strings.Join(ids, ", "))
}

// venue returns the venue with this id or name.
func (l lookup) venue(ref string) (Venue, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > maxName {
		return Venue{}, fmt.Errorf("%w: empty or overlong venue reference", ErrInvalid)
	}
	v, err := l.tx.Venue(ref)
	if !errors.Is(err, ErrNotFound) {
		return v, err
	}
	id, err := l.tx.VenueIDByName(NameKey(ref))
	if errors.Is(err, ErrNotFound) {
		return Venue{}, fmt.Errorf("%w: no venue matches %s", ErrNotFound, ref)
	}
	if err != nil {
		return Venue{}, err
	}
	return l.tx.Venue(id)
}

// kit returns the kit with this id or label.
func (l lookup) kit(ref string) (Kit, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > maxName {
		return Kit{}, fmt.Errorf("%w: empty or overlong kit reference", ErrInvalid)
	}
	k, err := l.tx.Kit(ref)
	if !errors.Is(err, ErrNotFound) {
		return k, err
	}
	id, err := l.tx.KitIDByLabel(NameKey(ref))
	if errors.Is(err, ErrNotFound) {
		return Kit{}, fmt.Errorf("%w: no kit matches %s", ErrNotFound, ref)
	}
	if err != nil {
		return Kit{}, err
	}
	return l.tx.Kit(id)
}

// view runs fn with a lookup over one read transaction.
func (f *Fleet) view(fn func(l lookup) error) error {
	return f.cfg.Store.View(func(tx Tx) error { return fn(lookup{tx}) })
}

// update runs fn with a lookup over one write transaction.
func (f *Fleet) update(fn func(l lookup) error) error {
	return f.cfg.Store.Update(func(tx Tx) error { return fn(lookup{tx}) })
}

// newUser writes a user and their first API token inside tx and returns
// the token's secret.
func (f *Fleet) newUser(tx Tx, name string, role Role, by string) (User, string, error) {
	name, err := cleanName("name", name)
	if err != nil {
		return User{}, "", err
	}
	if !role.Valid() {
		return User{}, "", fmt.Errorf("%w: role %q is not one of %v", ErrInvalid, role, Roles)
	}
	secret, err := f.secret(prefixAPIToken)
	if err != nil {
		return User{}, "", err
	}
	uid, err := f.newID("u")
	if err != nil {
		return User{}, "", err
	}
	tid, err := f.newID("a")
	if err != nil {
		return User{}, "", err
	}
	now := f.now()
	u := User{ID: uid, Name: name, Role: role, CreatedAt: now, CreatedBy: by}
	if err := tx.PutUser(u); err != nil {
		return User{}, "", err
	}
	t := APIToken{ID: tid, Hash: HashSecret(secret), User: uid, Name: name, Role: role, CreatedAt: now}
	if err := tx.PutAPIToken(t); err != nil {
		return User{}, "", err
	}
	actor := by
	if actor == "" {
		actor = ActorServer
	}
	if err := f.audit(tx, AuditEvent{
		Actor: actor, Action: ActionUserCreated, Subject: "user:" + uid,
		After: jsonValue(map[string]string{"name": name, "role": string(role)}),
	}); err != nil {
		return User{}, "", err
	}
	return u, secret, nil
}

// venueName is the name of the venue with this id, for certificates,
// audit events and messages: "" for none, the id itself for a venue that
// cannot be read.
func venueName(tx Tx, id string) string {
	if id == "" {
		return ""
	}
	v, err := tx.Venue(id)
	if err != nil {
		return id
	}
	return v.Name
}

// CreateUser adds a person and makes their API token, whose secret is
// returned once. Only an admin may.
func (f *Fleet) CreateUser(by Principal, name string, role Role) (User, string, error) {
	if !by.Allowed() {
		return User{}, "", fmt.Errorf("%w: only an admin may add users", ErrForbidden)
	}
	var (
		u      User
		secret string
	)
	err := f.cfg.Store.Update(func(tx Tx) error {
		var err error
		u, secret, err = f.newUser(tx, name, role, by.Name)
		return err
	})
	if err != nil {
		return User{}, "", fmt.Errorf("add user: %w", err)
	}
	return u, secret, nil
}

// Users returns every user, by name.
func (f *Fleet) Users() ([]User, error) {
	us, err := f.cfg.Store.Users()
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	slices.SortFunc(us, func(a, b User) int {
		return cmpKeys(NameKey(a.Name), a.ID, NameKey(b.Name), b.ID)
	})
	return us, nil
}

func cmpKeys(a1, a2, b1, b2 string) int {
	if c := strings.Compare(a1, b1); c != 0 {
		return c
	}
	return strings.Compare(a2, b2)
}

// User returns the user with this id, or the one user with this name.
func (f *Fleet) User(ref string) (User, error) {
	var u User
	err := f.view(func(l lookup) (err error) { u, err = l.user(ref); return err })
	return u, err
}

// DisableUser disables a user: their tokens stop working at once. Only an
// admin may, and not on themselves.
func (f *Fleet) DisableUser(by Principal, ref string) (User, error) {
	if !by.Allowed() {
		return User{}, fmt.Errorf("%w: only an admin may disable users", ErrForbidden)
	}
	var u User
	err := f.update(func(l lookup) error {
		var err error
		if u, err = l.user(ref); err != nil {
			return err
		}
		if u.ID == by.ID {
			return fmt.Errorf("%w: you cannot disable yourself", ErrConflict)
		}
		if !u.DisabledAt.IsZero() {
			return fmt.Errorf("%w: %s is already disabled", ErrConflict, u.Name)
		}
		u.DisabledAt = f.now()
		if err := l.tx.PutUser(u); err != nil {
			return err
		}
		return f.audit(l.tx, AuditEvent{Actor: by.Name, Action: ActionUserDisabled, Subject: "user:" + u.ID})
	})
	return u, err
}

// validINSEE reports whether s is a code officiel géographique: five
// characters, digits but for Corsica's 2A/2B.
func validINSEE(s string) bool {
	if len(s) != 5 {
		return false
	}
	if s[0] == '2' && (s[1] == 'A' || s[1] == 'B') {
		s = "20" + s[2:]
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// CheckVenue cleans a venue's fields and reports the first bad one.
func CheckVenue(v Venue) (Venue, error) {
	var err error
	if v.Name, err = cleanName("name", v.Name); err != nil {
		return v, err
	}
	if !slices.Contains(VenueKinds, v.Kind) {
		return v, fmt.Errorf("%w: kind %q is not one of %v", ErrInvalid, v.Kind, VenueKinds)
	}
	if v.Commune, err = cleanName("commune", v.Commune); err != nil {
		return v, err
	}
	v.INSEE = strings.ToUpper(strings.TrimSpace(v.INSEE))
	if v.INSEE != "" && !validINSEE(v.INSEE) {
		return v, fmt.Errorf("%w: INSEE code %q is not five digits (2A/2B for Corsica)", ErrInvalid, v.INSEE)
	}
	if (v.Lat == nil) != (v.Lon == nil) {
		return v, fmt.Errorf("%w: give both latitude and longitude, or neither", ErrInvalid)
	}
	if v.Lat != nil && (math.IsNaN(*v.Lat) || *v.Lat < -90 || *v.Lat > 90 || math.IsNaN(*v.Lon) || *v.Lon < -180 || *v.Lon > 180) {
		return v, fmt.Errorf("%w: coordinates %v, %v are out of range", ErrInvalid, *v.Lat, *v.Lon)
	}
	v.Contact = strings.TrimSpace(v.Contact)
	if utf8.RuneCountInString(v.Contact) > 256 {
		return v, fmt.Errorf("%w: contact is longer than 256 characters", ErrInvalid)
	}
	return v, nil
}

// CreateVenue adds a venue; its name must be unique (by NameKey).
// Logistics and admins only.
func (f *Fleet) CreateVenue(by Principal, v Venue) (Venue, error) {
	if !by.Allowed(RoleLogistics) {
		return Venue{}, fmt.Errorf("%w: role %s may not add venues", ErrForbidden, by.Role)
	}
	v, err := CheckVenue(v)
	if err != nil {
		return Venue{}, err
	}
	if v.ID, err = f.newID("v"); err != nil {
		return Venue{}, fmt.Errorf("add venue: %w", err)
	}
	v.CreatedAt = f.now()
	v.UpdatedAt = v.CreatedAt
	err = f.update(func(l lookup) error {
		if id, err := l.tx.VenueIDByName(NameKey(v.Name)); err == nil {
			return fmt.Errorf("%w: a venue named %s already exists (%s)", ErrConflict, v.Name, id)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := l.tx.PutVenue(v); err != nil {
			return err
		}
		return f.audit(l.tx, AuditEvent{Actor: by.Name, Action: ActionVenueCreated, Subject: "venue:" + v.ID, After: jsonValue(v)})
	})
	return v, err
}

// Venues returns every venue, by name.
func (f *Fleet) Venues() ([]Venue, error) {
	vs, err := f.cfg.Store.Venues()
	if err != nil {
		return nil, fmt.Errorf("list venues: %w", err)
	}
	slices.SortFunc(vs, func(a, b Venue) int { return cmpKeys(NameKey(a.Name), a.ID, NameKey(b.Name), b.ID) })
	return vs, nil
}

// Venue returns the venue with this id or name.
func (f *Fleet) Venue(ref string) (Venue, error) {
	var v Venue
	err := f.view(func(l lookup) (err error) { v, err = l.venue(ref); return err })
	return v, err
}

// Assign assigns devices for the long term to a venue: the devices named,
// or every device of kit (whose home becomes the venue too). Logistics
// and admins only. Every device changes, or none.
func (f *Fleet) Assign(by Principal, devices []string, kit, venue string) ([]Device, error) {
	if !by.Allowed(RoleLogistics) {
		return nil, fmt.Errorf("%w: role %s may not assign devices", ErrForbidden, by.Role)
	}
	if (len(devices) == 0) == (kit == "") {
		return nil, fmt.Errorf("%w: give devices or a kit, not both", ErrInvalid)
	}
	var out []Device
	err := f.update(func(l lookup) error {
		v, err := l.venue(venue)
		if err != nil {
			return err
		}
		refs := devices
		if kit != "" {
			k, err := l.kit(kit)
			if err != nil {
				return err
			}
			if len(k.Devices) == 0 {
				return fmt.Errorf("%w: %s has no devices", ErrConflict, k.Label)
			}
			refs = k.Devices
			if k.Home != v.ID {
				before := k.Home
				k.Home, k.UpdatedAt = v.ID, f.now()
				if err := l.tx.PutKit(k); err != nil {
					return err
				}
				if err := f.audit(l.tx, AuditEvent{
					Actor: by.Name, Action: ActionAssigned, Subject: "kit:" + k.ID,
					Before: jsonString(before), After: jsonString(v.ID),
				}); err != nil {
					return err
				}
			}
		}
		seen := map[string]bool{}
		for _, ref := range refs {
			d, err := l.device(ref)
			if err != nil {
				return err
			}
			if seen[d.ID] {
				continue
			}
			seen[d.ID] = true
			if d.Venue != v.ID {
				before := d.Venue
				d.Venue, d.UpdatedAt = v.ID, f.now()
				if err := l.tx.PutDevice(d); err != nil {
					return err
				}
				if err := f.audit(l.tx, AuditEvent{
					Actor: by.Name, Action: ActionAssigned, Device: d.ID, Subject: "venue:" + v.ID,
					Before: jsonString(before), After: jsonString(v.ID),
				}); err != nil {
					return err
				}
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
