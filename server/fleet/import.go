package fleet

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/valise-numerique/valise/internal/wire"
)

// RowError is one bad field of an imported row.
type RowError struct {
	// Line is the row's line number in the file (the header is line 1).
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// String words the error as imports report it: "line 4, serial: same
// serial as line 2".
func (e RowError) String() string {
	switch {
	case e.Line == 0 && e.Column == "":
		return e.Message
	case e.Line == 0:
		return e.Column + ": " + e.Message
	case e.Column == "":
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return fmt.Sprintf("line %d, %s: %s", e.Line, e.Column, e.Message)
}

// ImportReport is what an import did, or would do in a dry run.
type ImportReport struct {
	Kind    string `json:"kind"` // devices, venues, kits
	DryRun  bool   `json:"dry_run"`
	Rows    int    `json:"rows"`
	Created int    `json:"created"`
	// Updated counts the rows that change an existing record; Unchanged
	// the rows that match one and change nothing (an export imported
	// back).
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// Errors are the bad fields, when the import is refused.
	Errors []RowError `json:"errors,omitempty"`
}

// DeviceRow is one device of an import: a device known before any agent
// enrols on it (from a refurbisher's delivery note or a Snipe-IT export).
// Venue and Kit are names or ids; Status is a lifecycle state or a
// Snipe-IT status label.
type DeviceRow struct {
	Line         int
	AssetTag     string
	Serial       string
	Model        string
	Manufacturer string
	Class        string
	Venue        string
	Status       string
	// Supplier, PurchasedOn and WarrantyEnd are the device's origin.
	Supplier    string
	PurchasedOn time.Time
	WarrantyEnd time.Time
}

// VenueRow is one venue of an import.
type VenueRow struct {
	Line  int
	Venue Venue
}

// KitRow is one kit of an import: Devices are asset tags or serials,
// Home a venue name or id.
type KitRow struct {
	Line        int
	Label       string
	Home        string
	Devices     []string
	Accessories []string
}

// MaxImportRows bounds the rows of one import, which is one transaction
// that the server's other writes wait for.
const MaxImportRows = 20_000

// Import limits of fields.
const (
	maxAssetTag = 32
	maxText     = 128
)

// errBadRows aborts the transaction of an import with bad rows.
var errBadRows = errors.New("bad rows")

// rowErrors collects the bad fields of an import.
type rowErrors []RowError

func (e *rowErrors) add(line int, col, format string, args ...any) {
	*e = append(*e, RowError{Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
}

// field adds err, a fleet error about one field, without its kind.
func (e *rowErrors) field(line int, col string, err error) {
	msg := err.Error()
	for _, k := range []error{ErrInvalid, ErrNotFound, ErrConflict} {
		msg = strings.TrimPrefix(msg, k.Error()+": ")
	}
	e.add(line, col, "%s", msg)
}

// runImport checks the caller's role and the size of the import, then runs
// check inside one transaction (a read one for a dry run) and, when every
// row is good and this is no dry run, write in the same transaction.
func (f *Fleet) runImport(by Principal, kind string, rows int, dryRun bool,
	check func(l lookup, errs *rowErrors, rep *ImportReport) error, write func(l lookup) error) (ImportReport, error) {
	rep := ImportReport{Kind: kind, DryRun: dryRun, Rows: rows}
	if !by.Allowed(RoleLogistics) {
		return ImportReport{}, fmt.Errorf("%w: role %s may not import %s", ErrForbidden, by.Role, kind)
	}
	if rows > MaxImportRows {
		return ImportReport{}, fmt.Errorf("%w: %d rows; an import holds at most %d", ErrInvalid, rows, MaxImportRows)
	}
	var errs rowErrors
	run := func(l lookup) error {
		if err := check(l, &errs, &rep); err != nil {
			return err
		}
		if len(errs) > 0 {
			return errBadRows
		}
		if dryRun {
			return nil
		}
		return write(l)
	}
	var err error
	if dryRun {
		err = f.view(run)
	} else {
		err = f.update(run)
	}
	switch {
	case errors.Is(err, errBadRows):
		lines := make(map[int]bool)
		out := make([]string, len(errs))
		for i, e := range errs {
			lines[e.Line] = true
			out[i] = e.String()
		}
		n := fmt.Sprintf("%d bad rows", len(lines))
		if len(lines) == 1 {
			n = "1 bad row"
		}
		return ImportReport{Kind: kind, DryRun: dryRun, Rows: rows, Errors: errs},
			&RefusedError{Kind: ErrInvalid, Summary: n + "; nothing was imported", Lines: out}
	case err != nil:
		return ImportReport{}, fmt.Errorf("import %s: %w", kind, err)
	}
	return rep, nil
}

// text checks a free-text cell: at most maxText characters, no control
// characters; spaces are collapsed.
func (e *rowErrors) text(line int, col, s string) string {
	s = strings.Join(strings.Fields(s), " ")
	switch {
	case utf8.RuneCountInString(s) > maxText:
		e.add(line, col, "longer than %d characters", maxText)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		e.add(line, col, "has control characters")
	}
	return s
}

// venueCache resolves the venues an import names, once each.
type venueCache map[string]*Venue

func (c venueCache) get(l lookup, ref string) (*Venue, error) {
	k := NameKey(ref)
	if v, ok := c[k]; ok {
		return v, nil
	}
	v, err := l.venue(ref)
	if errors.Is(err, ErrNotFound) {
		c[k] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c[k] = &v
	return &v, nil
}

// importStatuses maps what a file may say of a device's status to a
// lifecycle state, by NameKey: Valise's states and Snipe-IT's labels.
var importStatuses = map[string]State{
	"lost/stolen": StateLost, "lost": StateLost, "stolen": StateLost, "perdu": StateLost, "vole": StateLost,
	"broken": StateMaintenance, "out for repair": StateMaintenance, "out for diagnostics": StateMaintenance,
	"en panne": StateMaintenance, "en reparation": StateMaintenance,
	"archived": StateRetired, "retired": StateRetired, "reforme": StateRetired,
	// An imported device was never wiped here: whatever Snipe-IT says, it
	// starts at intake.
	"ready to deploy": StateIntake, "pending": StateIntake, "deployable": StateIntake, "deployed": StateIntake,
	"undeployable": StateIntake, "": StateIntake,
}

// newStates are the states an imported device may start in.
var newStates = []State{StateIntake, StateMaintenance, StateLost, StateRetired}

// importStatus returns the state a status cell names.
func importStatus(s string) (State, bool) {
	if st := State(strings.ToLower(strings.TrimSpace(s))); st.Valid() {
		return st, true
	}
	st, ok := importStatuses[NameKey(s)]
	return st, ok
}

// validTag reports whether an asset tag (upper case) can be printed on a
// label and typed: 1 to maxAssetTag visible ASCII characters.
func validTag(tag string) bool {
	if tag == "" || len(tag) > maxAssetTag {
		return false
	}
	for _, c := range []byte(tag) {
		if c <= ' ' || c >= 0x7f || c == ',' || c == ';' {
			return false
		}
	}
	return true
}

// deviceSummary is what an import audits of a device.
func deviceSummary(d Device, venue string) map[string]string {
	m := map[string]string{
		"asset_tag": d.AssetTag, "serial": d.Serial, "class": d.Class, "state": string(d.State),
		"manufacturer": d.Vendor, "model": d.Model, "venue": venue, "supplier": d.Supplier,
	}
	if !d.PurchasedOn.IsZero() {
		m["purchased_on"] = d.PurchasedOn.Format(time.DateOnly)
	}
	if !d.WarrantyEnd.IsZero() {
		m["warranty_end"] = d.WarrantyEnd.Format(time.DateOnly)
	}
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}

// ImportDevices validates every row against the file and the fleet, and
// writes them all in one transaction, or nothing: any bad row gives a
// *RefusedError (ErrInvalid) with one line per bad field, and the report's
// Errors list them. dryRun validates only. Logistics and admins only.
//
// A row whose asset tag or serial matches a device updates its
// descriptive fields (manufacturer, model, venue, origin; its class until
// it enrols, when its enrolment token decides; a serial only when the
// device has none), never its state; an empty cell leaves its field as it
// is. Any other row makes a device, which needs its asset
// tag (the label on it: devices without one get theirs at enrolment); it
// starts in intake, or in maintenance, lost or retired as its status
// says, and its serial goes in its fingerprint, so that the agent that
// later enrols on it is matched to it. Hotspot and tablet serials that are
// IMEIs go in the fingerprint's IMEIs.
func (f *Fleet) ImportDevices(by Principal, rows []DeviceRow, dryRun bool) (ImportReport, error) {
	type planned struct {
		d      Device
		before map[string]string
		venue  string
		line   int
	}
	var plan []planned
	now := f.now()
	check := func(l lookup, errs *rowErrors, rep *ImportReport) error {
		venues := venueCache{}
		tagLine, serialLine, deviceLine := map[string]int{}, map[string]int{}, map[string]int{}
		for _, r := range rows {
			n := len(*errs)
			tag := strings.ToUpper(strings.TrimSpace(r.AssetTag))
			raw := strings.TrimSpace(r.Serial)
			if tag != "" && !validTag(tag) {
				errs.add(r.Line, "asset tag", "%q is not an asset tag: 1 to %d letters, digits or signs, no spaces", r.AssetTag, maxAssetTag)
				tag = ""
			}
			if line, dup := tagLine[tag]; dup && tag != "" {
				errs.add(r.Line, "asset tag", "same asset tag as line %d", line)
			} else if tag != "" {
				tagLine[tag] = r.Line
			}
			serial, imei := "", ""
			if raw != "" {
				if serial = wire.NormalizeSerial(raw); serial == "" {
					errs.add(r.Line, "serial", "%q is a placeholder or too short, not a serial number", raw)
				}
				if isDigits(raw) {
					imei = wire.NormalizeIMEI(raw)
				}
				if line, dup := serialLine[serial]; dup && serial != "" {
					errs.add(r.Line, "serial", "same serial as line %d", line)
				} else if serial != "" {
					serialLine[serial] = r.Line
				}
			}
			if tag == "" && serial == "" && len(*errs) == n {
				errs.add(r.Line, "asset tag", "give the device's asset tag or its serial")
			}
			class := strings.ToLower(strings.TrimSpace(r.Class))
			if class != "" && !wire.ValidClass(class) {
				errs.add(r.Line, "class", "%q is not one of laptop, tablet, hotspot, other", r.Class)
			}
			vendor := errs.text(r.Line, "manufacturer", r.Manufacturer)
			model := errs.text(r.Line, "model", r.Model)
			supplier := errs.text(r.Line, "supplier", r.Supplier)
			if r.PurchasedOn.After(now) {
				errs.add(r.Line, "purchase date", "%s is in the future", r.PurchasedOn.Format(time.DateOnly))
			}
			state, ok := importStatus(r.Status)
			if !ok {
				errs.add(r.Line, "status", "%q is not a status: use intake, maintenance, lost or retired, or Snipe-IT's Ready to Deploy, Pending, Deployed, Broken, Out for Repair, Lost/Stolen, Archived", r.Status)
			}
			var venue *Venue
			if ref := strings.TrimSpace(r.Venue); ref != "" {
				v, err := venues.get(l, ref)
				if err != nil {
					return err
				}
				if v == nil {
					errs.add(r.Line, "venue", "no venue is named %q; import the venues first or fix the name", ref)
				}
				venue = v
			}

			// Which device is it?
			byTag, bySerial := "", ""
			if tag != "" {
				id, err := l.tx.DeviceIDByTag(tag)
				if err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				byTag = id
			}
			for _, key := range []string{IdentSerial + ":" + serial, IdentIMEI + ":" + imei} {
				if bySerial != "" || strings.HasSuffix(key, ":") {
					continue
				}
				id, err := l.tx.IdentOwner(key)
				if err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				bySerial = id
			}
			var d Device
			var before map[string]string
			switch {
			case byTag != "" && bySerial != "" && byTag != bySerial:
				other, err := l.tx.Device(bySerial)
				if err != nil {
					return err
				}
				errs.add(r.Line, "serial", "%s is the serial of %s, not of %s", raw, other.AssetTag, tag)
			case byTag != "" || bySerial != "":
				id := cmp.Or(byTag, bySerial)
				cur, err := l.tx.Device(id)
				if err != nil {
					return err
				}
				if line, dup := deviceLine[id]; dup {
					errs.add(r.Line, "asset tag", "same device (%s) as line %d", cur.AssetTag, line)
				}
				deviceLine[id] = r.Line
				if byTag == "" && tag != "" {
					errs.add(r.Line, "asset tag", "the device with serial %s is %s, not %s", raw, cur.AssetTag, tag)
				}
				if byTag != "" && serial != "" && bySerial == "" && cur.Serial != "" && cur.Serial != serial && cur.Serial != imei {
					errs.add(r.Line, "serial", "%s has serial %s, not %s", cur.AssetTag, cur.Serial, raw)
				}
				d, before = cur, deviceSummary(cur, venueName(l.tx, cur.Venue))
				if d.Serial == "" && serial != "" {
					setSerial(&d, serial, imei, cmp.Or(class, d.Class))
				}
			default:
				if tag == "" && serial != "" {
					errs.add(r.Line, "asset tag", "no device has serial %s: a new device needs its asset tag (the label on it)", raw)
				}
				if ok && !slices.Contains(newStates, state) {
					errs.add(r.Line, "status", "a new device cannot start %s: it was never wiped here; use intake, maintenance, lost or retired", state)
				}
				d = Device{AssetTag: tag, Class: cmp.Or(class, wire.ClassOther), State: state,
					StateChangedAt: now, StateReason: "imported"}
				setSerial(&d, serial, imei, d.Class)
			}
			if len(*errs) > n {
				continue
			}
			if d.EnrolledAt.IsZero() { // an enrolled device's class is its enrolment token's
				d.Class = cmp.Or(class, d.Class)
			}
			d.Vendor, d.Model, d.Supplier = cmp.Or(vendor, d.Vendor), cmp.Or(model, d.Model), cmp.Or(supplier, d.Supplier)
			if !r.PurchasedOn.IsZero() {
				d.PurchasedOn = r.PurchasedOn
			}
			if !r.WarrantyEnd.IsZero() {
				d.WarrantyEnd = r.WarrantyEnd
			}
			vname := venueName(l.tx, d.Venue)
			if venue != nil {
				d.Venue, vname = venue.ID, venue.Name
			}
			switch {
			case before == nil:
				rep.Created++
			case maps.Equal(before, deviceSummary(d, vname)):
				rep.Unchanged++
				continue
			default:
				rep.Updated++
			}
			plan = append(plan, planned{d: d, before: before, venue: vname, line: r.Line})
		}
		return nil
	}
	write := func(l lookup) error {
		// bbolt splits a page only when the transaction commits: keys put
		// in order append to it, keys put at random move it all each time.
		// So devices go in asset tag order, the order of most of their
		// indexes, and new ones get their random ids in ascending order.
		slices.SortFunc(plan, func(a, b planned) int { return CompareAssetTags(a.d.AssetTag, b.d.AssetTag) })
		var ids []string
		taken := map[string]bool{}
		for _, p := range plan {
			if p.d.ID != "" {
				continue
			}
			id := ""
			for id == "" || taken[id] {
				var err error
				if id, err = f.freeDeviceID(l.tx); err != nil {
					return err
				}
			}
			taken[id] = true
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for i := range plan {
			if plan[i].d.ID == "" {
				plan[i].d.ID, ids = ids[0], ids[1:]
			}
		}
		for _, p := range plan {
			d := p.d
			d.UpdatedAt = now
			if err := l.tx.PutDevice(d); err != nil {
				return err
			}
			e := AuditEvent{Actor: by.Name, Action: ActionImported, Device: d.ID,
				After: jsonValue(deviceSummary(d, p.venue)), Reason: fmt.Sprintf("line %d of a devices import", p.line)}
			if p.before != nil {
				e.Before = jsonValue(p.before)
			}
			if err := f.audit(l.tx, e); err != nil {
				return err
			}
		}
		return nil
	}
	return f.runImport(by, "devices", len(rows), dryRun, check, write)
}

func isDigits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// setSerial gives a device the serial of an import, in its fingerprint
// too: an IMEI for hotspots and tablets, the system serial otherwise.
func setSerial(d *Device, serial, imei, class string) {
	if serial == "" {
		return
	}
	if imei != "" && (class == wire.ClassHotspot || class == wire.ClassTablet) {
		d.Serial = imei
		d.Fingerprint.IMEIs = append(d.Fingerprint.IMEIs, imei)
	} else {
		d.Serial = serial
		d.Fingerprint.SystemSerial = serial
	}
	d.Fingerprint.AssetTag = d.AssetTag
	d.Fingerprint = d.Fingerprint.Normalize()
}

// venueKinds maps what a file may say of a venue's kind, by NameKey.
var venueKinds = map[string]VenueKind{
	"france services": VenueFranceServices, "maison france services": VenueFranceServices, "msap": VenueFranceServices,
	"mairie": VenueMairie, "town hall": VenueMairie, "hotel de ville": VenueMairie,
	"mediatheque": VenueMediatheque, "bibliotheque": VenueMediatheque, "library": VenueMediatheque,
	"epn": VenueEPN, "espace public numerique": VenueEPN,
	"association": VenueAssociation, "asso": VenueAssociation,
	"other": VenueOther, "autre": VenueOther,
}

// ImportVenues is ImportDevices for venues: a row whose name (by NameKey)
// is a venue's updates it (empty cells leave fields as they are); any
// other row adds a venue, which needs its kind and commune.
func (f *Fleet) ImportVenues(by Principal, rows []VenueRow, dryRun bool) (ImportReport, error) {
	type planned struct {
		v      Venue
		before *Venue
		line   int
	}
	var plan []planned
	now := f.now()
	check := func(l lookup, errs *rowErrors, rep *ImportReport) error {
		nameLine := map[string]int{}
		for _, r := range rows {
			n := len(*errs)
			in := r.Venue
			name, err := cleanName("name", in.Name)
			if err != nil {
				errs.field(r.Line, "name", err)
			}
			key := NameKey(name)
			if line, dup := nameLine[key]; dup && name != "" {
				errs.add(r.Line, "name", "same venue as line %d", line)
			} else if name != "" {
				nameLine[key] = r.Line
			}
			kind := VenueKind("")
			if s := strings.TrimSpace(string(in.Kind)); s != "" {
				if k, ok := venueKinds[NameKey(s)]; ok {
					kind = k
				} else if k := VenueKind(strings.ToLower(s)); slices.Contains(VenueKinds, k) {
					kind = k
				} else {
					errs.add(r.Line, "kind", "%q is not one of france_services, mairie, mediatheque, epn, association, other", s)
				}
			}
			commune := errs.text(r.Line, "commune", in.Commune)
			insee := strings.ToUpper(strings.TrimSpace(in.INSEE))
			if insee != "" && !validINSEE(insee) {
				errs.add(r.Line, "insee", "%q is not an INSEE code: five digits (2A or 2B and three digits in Corsica)", in.INSEE)
			}
			if (in.Lat == nil) != (in.Lon == nil) {
				missing := "longitude"
				if in.Lat == nil {
					missing = "latitude"
				}
				errs.add(r.Line, missing, "give both latitude and longitude, or neither")
			}
			if in.Lat != nil && (math.IsNaN(*in.Lat) || *in.Lat < -90 || *in.Lat > 90) {
				errs.add(r.Line, "latitude", "%v is not between -90 and 90", *in.Lat)
			}
			if in.Lon != nil && (math.IsNaN(*in.Lon) || *in.Lon < -180 || *in.Lon > 180) {
				errs.add(r.Line, "longitude", "%v is not between -180 and 180", *in.Lon)
			}
			contact := strings.TrimSpace(in.Contact)
			if utf8.RuneCountInString(contact) > 256 {
				errs.add(r.Line, "contact", "longer than 256 characters")
			}
			if name == "" {
				continue
			}
			var v Venue
			var before *Venue
			id, err := l.tx.VenueIDByName(key)
			switch {
			case err == nil:
				cur, err := l.tx.Venue(id)
				if err != nil {
					return err
				}
				v, before = cur, &cur
			case errors.Is(err, ErrNotFound):
				if strings.TrimSpace(string(in.Kind)) == "" {
					errs.add(r.Line, "kind", "a new venue needs its kind: france_services, mairie, mediatheque, epn, association or other")
				}
				if commune == "" {
					errs.add(r.Line, "commune", "a new venue needs its commune")
				}
				v = Venue{Name: name, CreatedAt: now}
			default:
				return err
			}
			v.Name = name
			v.Kind = cmp.Or(kind, v.Kind)
			v.Commune = cmp.Or(commune, v.Commune)
			v.INSEE = cmp.Or(insee, v.INSEE)
			v.Contact = cmp.Or(contact, v.Contact)
			if in.Lat != nil {
				v.Lat, v.Lon = in.Lat, in.Lon
			}
			if len(*errs) > n {
				continue
			}
			if _, err := CheckVenue(v); err != nil {
				errs.field(r.Line, "", err)
				continue
			}
			switch {
			case before == nil:
				rep.Created++
			case sameVenue(*before, v):
				rep.Unchanged++
				continue
			default:
				rep.Updated++
			}
			plan = append(plan, planned{v: v, before: before, line: r.Line})
		}
		return nil
	}
	write := func(l lookup) error {
		for _, p := range plan {
			v := p.v
			v.UpdatedAt = now
			if v.ID == "" {
				id, err := f.newID("v")
				if err != nil {
					return err
				}
				v.ID = id
			}
			if err := l.tx.PutVenue(v); err != nil {
				return err
			}
			e := AuditEvent{Actor: by.Name, Action: ActionImported, Subject: "venue:" + v.ID, After: jsonValue(v),
				Reason: fmt.Sprintf("line %d of a venues import", p.line)}
			if p.before != nil {
				e.Before = jsonValue(*p.before)
			}
			if err := f.audit(l.tx, e); err != nil {
				return err
			}
		}
		return nil
	}
	return f.runImport(by, "venues", len(rows), dryRun, check, write)
}

func sameVenue(a, b Venue) bool {
	eq := func(x, y *float64) bool { return (x == nil && y == nil) || (x != nil && y != nil && *x == *y) }
	return a.Name == b.Name && a.Kind == b.Kind && a.Commune == b.Commune && a.INSEE == b.INSEE &&
		a.Contact == b.Contact && eq(a.Lat, b.Lat) && eq(a.Lon, b.Lon)
}

// importDevice resolves a device of a kits file: its id, asset tag or
// serial (or IMEI).
func importDevice(l lookup, ref string) (Device, bool, error) {
	d, err := l.device(ref)
	if err == nil {
		return d, true, nil
	}
	if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalid) {
		return Device{}, false, err
	}
	var keys []string
	if s := wire.NormalizeSerial(ref); s != "" {
		keys = append(keys, IdentSerial+":"+s)
	}
	if isDigits(ref) {
		if s := wire.NormalizeIMEI(ref); s != "" {
			keys = append(keys, IdentIMEI+":"+s)
		}
	}
	for _, k := range keys {
		id, err := l.tx.IdentOwner(k)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Device{}, false, err
		}
		if id != "" {
			d, err := l.tx.Device(id)
			return d, err == nil, err
		}
	}
	return Device{}, false, nil
}

// ImportKits is ImportDevices for kits: a row whose label (by NameKey) is
// a kit's updates it, any other row makes a kit. A devices cell that is
// not empty makes the kit hold exactly those devices (asset tags, serials
// or ids); an accessories cell replaces the checklist; empty cells leave
// the kit as it is. A device already in a kit that the file does not take
// it out of, or lost, retired or on loan, is a bad row; so is any change
// to a kit on loan.
func (f *Fleet) ImportKits(by Principal, rows []KitRow, dryRun bool) (ImportReport, error) {
	type planned struct {
		k      Kit
		before *Kit
		line   int
	}
	var plan []planned
	now := f.now()
	check := func(l lookup, errs *rowErrors, rep *ImportReport) error {
		venues := venueCache{}
		type resolved struct {
			row     KitRow
			k       Kit
			before  *Kit
			devices []Device // nil: leave the kit's devices
		}
		var kits []resolved
		labelLine := map[string]int{}
		for _, r := range rows {
			n := len(*errs)
			label, err := cleanName("label", r.Label)
			if err != nil {
				errs.field(r.Line, "label", err)
			}
			key := NameKey(label)
			if line, dup := labelLine[key]; dup && label != "" {
				errs.add(r.Line, "label", "same kit as line %d", line)
			} else if label != "" {
				labelLine[key] = r.Line
			}
			home := ""
			if ref := strings.TrimSpace(r.Home); ref != "" {
				v, err := venues.get(l, ref)
				if err != nil {
					return err
				}
				if v == nil {
					errs.add(r.Line, "home", "no venue is named %q; import the venues first or fix the name", ref)
				} else {
					home = v.ID
				}
			}
			acc, err := cleanItems("accessory", r.Accessories)
			if err != nil {
				errs.field(r.Line, "accessories", err)
			}
			var devices []Device
			if len(r.Devices) > maxKitDevices {
				errs.add(r.Line, "devices", "%d devices; a kit holds at most %d", len(r.Devices), maxKitDevices)
			}
			for _, ref := range r.Devices {
				d, ok, err := importDevice(l, ref)
				if err != nil {
					return err
				}
				if !ok {
					errs.add(r.Line, "devices", "no device has the asset tag or serial %s", ref)
					continue
				}
				devices = append(devices, d)
			}
			if len(*errs) > n || label == "" {
				continue
			}
			k := Kit{Label: label, Devices: []string{}, CreatedAt: now}
			var before *Kit
			id, err := l.tx.KitIDByLabel(key)
			switch {
			case err == nil:
				cur, err := l.tx.Kit(id)
				if err != nil {
					return err
				}
				k, before = cur, &cur
				k.Devices = slices.Clone(cur.Devices)
				k.Label = label
			case !errors.Is(err, ErrNotFound):
				return err
			}
			k.Home = cmp.Or(home, k.Home)
			if len(r.Accessories) > 0 {
				k.Accessories = acc
			}
			if len(r.Devices) == 0 {
				devices = nil
			} else if devices == nil {
				devices = []Device{}
			}
			kits = append(kits, resolved{row: r, k: k, before: before, devices: devices})
		}

		// A device may leave the kit it is in when the file also lists
		// that kit without it.
		released := map[string]bool{}
		for _, rk := range kits {
			if rk.before == nil || rk.devices == nil {
				continue
			}
			for _, id := range rk.before.Devices {
				if !slices.ContainsFunc(rk.devices, func(d Device) bool { return d.ID == id }) {
					released[id] = true
				}
			}
		}
		kitLabels := map[string]string{}
		deviceLine := map[string]int{}
		for i := range kits {
			rk := &kits[i]
			line, n := rk.row.Line, len(*errs)
			if rk.devices != nil {
				rk.k.Devices = rk.k.Devices[:0]
				for _, d := range rk.devices {
					if other, dup := deviceLine[d.ID]; dup {
						if other == line {
							errs.add(line, "devices", "%s is listed twice", d.AssetTag)
						} else {
							errs.add(line, "devices", "%s is also listed on line %d", d.AssetTag, other)
						}
						continue
					}
					deviceLine[d.ID] = line
					if d.Kit != "" && d.Kit != rk.k.ID && !released[d.ID] {
						other, ok := kitLabels[d.Kit]
						if !ok {
							k, err := l.tx.Kit(d.Kit)
							if err != nil && !errors.Is(err, ErrNotFound) {
								return err
							}
							other = cmp.Or(k.Label, d.Kit)
							kitLabels[d.Kit] = other
						}
						errs.add(line, "devices", "%s is already in %s; take it out there first", d.AssetTag, other)
						continue
					}
					if d.Kit != rk.k.ID || rk.k.ID == "" {
						if d.State == StateLost || d.State == StateRetired || d.State == StateOnLoan || d.Loan != "" {
							errs.add(line, "devices", "%s is %s and cannot join a kit", d.AssetTag, d.State)
							continue
						}
					}
					rk.k.Devices = append(rk.k.Devices, d.ID)
				}
			}
			if len(*errs) > n {
				continue
			}
			switch {
			case rk.before == nil:
				rep.Created++
			case sameKit(*rk.before, rk.k):
				rep.Unchanged++
				continue
			case rk.before.Loan != "":
				errs.add(line, "label", "%s is on loan (%s); it cannot change before its check-in", rk.before.Label, rk.before.Loan)
				continue
			default:
				rep.Updated++
			}
			plan = append(plan, planned{k: rk.k, before: rk.before, line: line})
		}
		return nil
	}
	write := func(l lookup) error {
		// Take devices out first, so that one moving from a kit to
		// another ends in the second.
		for i := range plan {
			p := &plan[i]
			if p.k.ID == "" {
				id, err := f.newID("k")
				if err != nil {
					return err
				}
				p.k.ID = id
			}
			if p.before == nil {
				continue
			}
			for _, id := range p.before.Devices {
				if slices.Contains(p.k.Devices, id) {
					continue
				}
				if err := f.moveDevice(l, by, id, p.k.ID, "", p.line); err != nil {
					return err
				}
			}
		}
		for _, p := range plan {
			for _, id := range p.k.Devices {
				if p.before != nil && slices.Contains(p.before.Devices, id) {
					continue
				}
				if err := f.moveDevice(l, by, id, p.k.ID, p.k.ID, p.line); err != nil {
					return err
				}
			}
			k := p.k
			k.UpdatedAt = now
			if err := l.tx.PutKit(k); err != nil {
				return err
			}
			e := AuditEvent{Actor: by.Name, Action: ActionImported, Subject: "kit:" + k.ID, After: jsonValue(k),
				Reason: fmt.Sprintf("line %d of a kits import", p.line)}
			if p.before != nil {
				e.Before = jsonValue(*p.before)
			}
			if err := f.audit(l.tx, e); err != nil {
				return err
			}
		}
		return nil
	}
	return f.runImport(by, "kits", len(rows), dryRun, check, write)
}

// moveDevice sets the kit of a device (to "" to take it out of kit) and
// audits it.
func (f *Fleet) moveDevice(l lookup, by Principal, id, kit, to string, line int) error {
	d, err := l.tx.Device(id)
	if err != nil {
		return err
	}
	from := d.Kit
	d.Kit, d.UpdatedAt = to, f.now()
	if err := l.tx.PutDevice(d); err != nil {
		return err
	}
	return f.audit(l.tx, AuditEvent{
		Actor: by.Name, Action: ActionKitDevices, Device: d.ID, Subject: "kit:" + kit,
		Before: jsonString(from), After: jsonString(to), Reason: fmt.Sprintf("line %d of a kits import", line),
	})
}

func sameKit(a, b Kit) bool {
	return a.Label == b.Label && a.Home == b.Home && slices.Equal(a.Devices, b.Devices) && slices.Equal(a.Accessories, b.Accessories)
}
