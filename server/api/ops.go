package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// Pages of the lists of daily operations.
const (
	// defaultPage and maxPage bound the pages of devices, kits and loans.
	defaultPage = 200
	maxPage     = 2000
	// defaultAuditPage and maxAuditPage bound the pages of the audit log.
	defaultAuditPage = 100
	maxAuditPage     = 1000
)

// HeaderNextAfter is the header of a full page of devices, kits or loans:
// the asset tag, label or loan id to ask the next page after (?after=),
// absent on the last page.
const HeaderNextAfter = "X-Next-After"

// createUser answers POST /api/v1/users with the user and, this once,
// their API token.
func (a *API) createUser(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	var req apitype.UserRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	role := fleet.Role(req.Role)
	if !role.Valid() {
		a.fail(w, r, fmt.Errorf("%w: role %q is not one of %s", errBadRequest, req.Role, joinRoles()))
		return
	}
	u, token, err := a.cfg.Fleet.CreateUser(p, req.Name, role)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := toUser(u)
	out.Token = token
	writeJSON(w, http.StatusCreated, out)
}

// listUsers answers GET /api/v1/users: every user by name, never a token.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	us, err := a.cfg.Fleet.Users()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]apitype.User, 0, len(us))
	for _, u := range us {
		out = append(out, toUser(u))
	}
	writeJSON(w, http.StatusOK, out)
}

// disableUser answers POST /api/v1/users/{ref}/disable.
func (a *API) disableUser(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	u, err := a.cfg.Fleet.DisableUser(p, r.PathValue("ref"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUser(u))
}

// createVenue answers POST /api/v1/venues with 201 and the venue.
func (a *API) createVenue(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	var req apitype.VenueRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.cfg.Fleet.CreateVenue(p, fleet.Venue{
		Name: req.Name, Kind: fleet.VenueKind(req.Kind), Commune: req.Commune, INSEE: req.INSEE,
		Lat: req.Lat, Lon: req.Lon, Contact: req.Contact,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toVenue(v))
}

// listVenues answers GET /api/v1/venues: every venue by name.
func (a *API) listVenues(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	vs, err := a.cfg.Fleet.Venues()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]apitype.Venue, 0, len(vs))
	for _, v := range vs {
		out = append(out, toVenue(v))
	}
	writeJSON(w, http.StatusOK, out)
}

// showVenue answers GET /api/v1/venues/{ref}, ref an id or a name.
func (a *API) showVenue(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	v, err := a.cfg.Fleet.Venue(r.PathValue("ref"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toVenue(v))
}

// createKit answers POST /api/v1/kits with 201 and the kit.
func (a *API) createKit(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	var req apitype.KitRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	k, err := a.cfg.Fleet.CreateKit(p, req.Label, req.Home, req.Accessories)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeKit(w, r, http.StatusCreated, k.ID)
}

// listKits answers GET /api/v1/kits?after=LABEL&limit=N: a page of kits by
// label, each with its state and devices but without live telemetry.
func (a *API) listKits(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	q := r.URL.Query()
	limit, err := limitParam(q, defaultPage, maxPage)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	kits, err := a.cfg.Fleet.Kits(strings.TrimSpace(q.Get("after")), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	n := a.newNames()
	out := make([]apitype.Kit, 0, len(kits))
	for _, ks := range kits {
		out = append(out, toKit(ks, n))
	}
	if len(kits) == limit {
		w.Header().Set(HeaderNextAfter, kits[len(kits)-1].Kit.Label)
	}
	writeJSON(w, http.StatusOK, out)
}

// showKit answers GET /api/v1/kits/{ref}: the kit with each device's
// readiness and live telemetry.
func (a *API) showKit(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	a.writeKit(w, r, http.StatusOK, r.PathValue("ref"))
}

// writeKit answers with the status of the kit ref, read after a change.
func (a *API) writeKit(w http.ResponseWriter, r *http.Request, status int, ref string) {
	ks, err := a.cfg.Fleet.KitStatus(ref)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, status, toKit(ks, a.newNames()))
}

// addKitDevices answers POST /api/v1/kits/{ref}/devices.
func (a *API) addKitDevices(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.changeKitDevices(w, r, p, a.cfg.Fleet.AddToKit)
}

// removeKitDevices answers POST /api/v1/kits/{ref}/devices/remove.
func (a *API) removeKitDevices(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.changeKitDevices(w, r, p, a.cfg.Fleet.RemoveFromKit)
}

func (a *API) changeKitDevices(w http.ResponseWriter, r *http.Request, p fleet.Principal, change func(fleet.Principal, string, []string) (fleet.Kit, error)) {
	var req apitype.KitDevicesRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if len(req.Devices) == 0 {
		a.fail(w, r, fmt.Errorf("%w: devices: give at least one device id or asset tag", errBadRequest))
		return
	}
	k, err := change(p, r.PathValue("ref"), req.Devices)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeKit(w, r, http.StatusOK, k.ID)
}

// restockKit answers POST /api/v1/kits/{ref}/restock.
func (a *API) restockKit(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	var req apitype.RestockRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	k, err := a.cfg.Fleet.Restock(p, r.PathValue("ref"), req.Items)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeKit(w, r, http.StatusOK, k.ID)
}

// checkout answers POST /api/v1/kits/{ref}/checkout with 201 and the loan,
// or 409 with one detail per device that blocks it.
func (a *API) checkout(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	var req apitype.CheckoutRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Due.IsZero() {
		a.fail(w, r, fmt.Errorf("%w: due is required: an RFC 3339 time such as 2026-12-05T18:00:00+01:00", errBadRequest))
		return
	}
	if strings.TrimSpace(req.Venue) == "" {
		a.fail(w, r, fmt.Errorf("%w: venue is required: the id or name of the destination venue", errBadRequest))
		return
	}
	l, err := a.cfg.Fleet.Checkout(p, fleet.CheckoutRequest{
		Kit: r.PathValue("ref"), To: req.To, Venue: req.Venue, Due: req.Due, Override: req.Override,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toLoan(fleet.LoanStatus{Loan: l, Overdue: l.OverdueAt(a.cfg.Now())}))
}

// checkin answers POST /api/v1/kits/{ref}/checkin with the closed loan.
func (a *API) checkin(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	var req apitype.CheckinRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	in := fleet.CheckinRequest{Kit: r.PathValue("ref"), Missing: req.Missing, Lost: req.Lost}
	for _, d := range req.Damaged {
		in.Damaged = append(in.Damaged, fleet.Damage{Device: d.Device, Note: d.Note})
	}
	ls, err := a.cfg.Fleet.Checkin(p, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toLoan(ls))
}

// listLoans answers GET /api/v1/loans?open=&overdue=&user=&venue=&kit=&limit=:
// loans newest first. A médiateur sees only their own, whatever the filter.
func (a *API) listLoans(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	q := r.URL.Query()
	filter := fleet.LoanFilter{User: q.Get("user"), Venue: q.Get("venue"), Kit: q.Get("kit"), After: q.Get("after")}
	var err error
	if filter.Open, err = boolParam(q, "open"); err != nil {
		a.fail(w, r, err)
		return
	}
	if filter.Overdue, err = boolParam(q, "overdue"); err != nil {
		a.fail(w, r, err)
		return
	}
	if filter.Limit, err = limitParam(q, defaultPage, maxPage); err != nil {
		a.fail(w, r, err)
		return
	}
	loans, err := a.cfg.Fleet.Loans(p, filter)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(loans) == filter.Limit {
		w.Header().Set(HeaderNextAfter, loans[len(loans)-1].ID)
	}
	out := make([]apitype.Loan, 0, len(loans))
	for _, l := range loans {
		if visible(p, l.Loan) {
			out = append(out, toLoan(l))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// showLoan answers GET /api/v1/loans/{id}. Another's loan is answered to
// a médiateur as 404, as if it did not exist: loan ids are not theirs to
// learn.
func (a *API) showLoan(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	id := r.PathValue("id")
	l, err := a.cfg.Fleet.LoanStatus(p, id)
	if err == nil && !visible(p, l.Loan) || errors.Is(err, fleet.ErrForbidden) && p.Role == fleet.RoleMediateur {
		err = fmt.Errorf("%w: no loan %s", fleet.ErrNotFound, id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toLoan(l))
}

// visible reports whether p may see loan l: a médiateur only their own.
// The fleet filters already; this holds even if it did not.
func visible(p fleet.Principal, l fleet.Loan) bool {
	return p.Role != fleet.RoleMediateur || (p.ID != "" && l.Borrower == p.ID)
}

// assign answers POST /api/v1/assignments with the devices assigned.
func (a *API) assign(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	var req apitype.AssignRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	switch {
	case strings.TrimSpace(req.Venue) == "":
		a.fail(w, r, fmt.Errorf("%w: venue is required: the id or name of the venue", errBadRequest))
		return
	case len(req.Devices) == 0 && strings.TrimSpace(req.Kit) == "":
		a.fail(w, r, fmt.Errorf("%w: give devices or a kit to assign", errBadRequest))
		return
	case len(req.Devices) > 0 && req.Kit != "":
		a.fail(w, r, fmt.Errorf("%w: give devices or a kit to assign, not both", errBadRequest))
		return
	}
	devs, err := a.cfg.Fleet.Assign(p, req.Devices, req.Kit, req.Venue)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out, err := a.devices(devs, a.newNames())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// setState answers POST /api/v1/devices/{ref}/state with the device in its
// new state.
func (a *API) setState(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	var req apitype.SetStateRequest
	if err := decode(w, r, MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	to := fleet.State(req.State)
	if !to.Valid() {
		a.fail(w, r, fmt.Errorf("%w: state %q is not one of %v", errBadRequest, req.State, fleet.States))
		return
	}
	d, err := a.cfg.Fleet.SetState(p, r.PathValue("ref"), to, req.Reason)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out, err := a.devices([]fleet.Device{d}, a.newNames())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out[0])
}

// auditSubjects are the query parameters that name the subject of GET
// /api/v1/audit, and the prefix of the subject each one gives AuditPage.
var auditSubjects = []struct{ param, prefix string }{
	{"device", ""}, {"kit", "kit:"}, {"venue", "venue:"}, {"user", "user:"},
}

// audit answers GET /api/v1/audit?device=|kit=|venue=|user=&before=SEQ&limit=N:
// a page of the log (the whole log, or one subject's events), with
// sequence numbers below before, newest last. To read further back, ask
// again with before set to the first event's seq.
func (a *API) audit(w http.ResponseWriter, r *http.Request, _ fleet.Principal) {
	q := r.URL.Query()
	subject, given := "", ""
	for _, s := range auditSubjects {
		ref := q.Get(s.param)
		if ref == "" {
			continue
		}
		if given != "" {
			a.fail(w, r, fmt.Errorf("%w: give one of %s and %s, not both", errBadRequest, given, s.param))
			return
		}
		subject, given = s.prefix+ref, s.param
	}
	var before uint64
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			a.fail(w, r, fmt.Errorf("%w: before=%q, want the seq of an event (1 or more)", errBadRequest, s))
			return
		}
		before = n
	}
	limit, err := limitParam(q, defaultAuditPage, maxAuditPage)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	evs, err := a.cfg.Fleet.AuditPage(subject, before, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	slices.Reverse(evs)
	writeJSON(w, http.StatusOK, a.newNames().events(evs))
}

// names looks up the kit labels and venue names of one answer, each at
// most once. A name that cannot be read is left out: it decorates an
// answer and does not fail it.
type names struct {
	a       *API
	kits    map[string]string
	venues  map[string]string
	devices map[string]string // asset tags
	users   map[string]string
}

func (a *API) newNames() *names {
	return &names{a: a, kits: map[string]string{}, venues: map[string]string{}, devices: map[string]string{}, users: map[string]string{}}
}

// cached returns the name of id from cache, reading it with read the first
// time; a record that cannot be read is logged and named "".
func (n *names) cached(cache map[string]string, what, id string, read func(string) (string, error)) string {
	if id == "" {
		return ""
	}
	name, ok := cache[id]
	if !ok {
		var err error
		if name, err = read(id); err != nil {
			n.a.log.Warn("read name", "of", what, "id", id, "err", err)
		}
		cache[id] = name
	}
	return name
}

func (n *names) device(id string) string {
	return n.cached(n.devices, "device", id, func(id string) (string, error) {
		d, err := n.a.cfg.Fleet.Device(id)
		return d.AssetTag, err
	})
}

func (n *names) user(id string) string {
	return n.cached(n.users, "user", id, func(id string) (string, error) {
		u, err := n.a.cfg.Fleet.User(id)
		return u.Name, err
	})
}

// subject names an audit event's subject ("kit:k…") for people.
func (n *names) subject(s string) string {
	kind, id, _ := strings.Cut(s, ":")
	switch kind {
	case "kit":
		return n.kit(id)
	case "venue":
		return n.venue(id)
	case "user":
		return n.user(id)
	}
	return ""
}

// events converts audit events, naming their device and subject.
func (n *names) events(evs []fleet.AuditEvent) []apitype.Event {
	out := make([]apitype.Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, apitype.Event{
			Seq: e.Seq, At: e.At, Actor: e.Actor, Action: e.Action,
			Device: e.Device, AssetTag: n.device(e.Device), Subject: e.Subject, SubjectName: n.subject(e.Subject),
			Before: e.Before, After: e.After, Reason: e.Reason, Hash: e.Hash,
		})
	}
	return out
}

func (n *names) kit(id string) string {
	return n.cached(n.kits, "kit", id, func(id string) (string, error) {
		k, err := n.a.cfg.Fleet.Kit(id)
		return k.Label, err
	})
}

func (n *names) venue(id string) string {
	return n.cached(n.venues, "venue", id, func(id string) (string, error) {
		v, err := n.a.cfg.Fleet.Venue(id)
		return v.Name, err
	})
}

// devices converts devices with their telemetry summary and names, reading
// the summary of each device alone.
func (a *API) devices(devs []fleet.Device, n *names) ([]apitype.Device, error) {
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.ID
	}
	sums, err := a.cfg.Telemetry.SummariesOf(ids)
	if err != nil {
		return nil, err
	}
	out := make([]apitype.Device, 0, len(devs))
	for _, d := range devs {
		s, reported := sums[d.ID]
		dev := toDevice(d, s, reported)
		dev.KitLabel, dev.VenueName = n.kit(d.Kit), n.venue(d.Venue)
		out = append(out, dev)
	}
	return out, nil
}

func toUser(u fleet.User) apitype.User {
	out := apitype.User{ID: u.ID, Name: u.Name, Role: string(u.Role), CreatedAt: u.CreatedAt}
	if !u.DisabledAt.IsZero() {
		t := u.DisabledAt
		out.Disabled = &t
	}
	return out
}

func toVenue(v fleet.Venue) apitype.Venue {
	return apitype.Venue{
		ID: v.ID, Name: v.Name, Kind: string(v.Kind), Commune: v.Commune, INSEE: v.INSEE,
		Lat: v.Lat, Lon: v.Lon, Contact: v.Contact, CreatedAt: v.CreatedAt,
	}
}

// toKit converts a kit's status. Each device carries its live telemetry
// when ks has it (KitStatus), and the kit's open loan, if any, says
// whether it is overdue and which devices may be lost.
func toKit(ks fleet.KitStatus, n *names) apitype.Kit {
	k := ks.Kit
	out := apitype.Kit{
		ID: k.ID, Label: k.Label, State: string(ks.State), Home: k.Home, HomeName: ks.HomeName,
		Accessories: k.Accessories, Missing: k.Missing, Devices: make([]apitype.KitDevice, 0, len(ks.Devices)),
		Notes: toNotes(k.Notes), CreatedAt: k.CreatedAt,
	}
	for _, kd := range ks.Devices {
		dev := toDevice(kd.Device, liveSummary(kd.Live), kd.Live.Reported)
		dev.KitLabel, dev.VenueName = k.Label, n.venue(kd.Device.Venue)
		out.Devices = append(out.Devices, apitype.KitDevice{Device: dev, Ready: kd.Ready, Why: kd.Why, Flags: kd.Flags})
	}
	if ks.Loan != nil {
		l := toLoan(*ks.Loan)
		out.Loan = &l
	}
	return out
}

// liveSummary gives what toDevice reads of a device's live telemetry.
func liveSummary(l fleet.Live) store.Summary {
	return store.Summary{LastSeen: l.LastSeen, Online: l.Online, BatteryHealth: l.BatteryHealth, BatteryCharge: l.Charge}
}

// toLoan converts a loan, naming its devices by asset tag.
func toLoan(ls fleet.LoanStatus) apitype.Loan {
	l := ls.Loan
	tags := make(map[string]string, len(l.Devices))
	out := apitype.Loan{
		ID: l.ID, Kit: l.Kit, KitLabel: l.KitLabel, Borrower: l.Borrower, BorrowerName: l.BorrowerName,
		Venue: l.Venue, VenueName: l.VenueName, Devices: make([]string, 0, len(l.Devices)),
		OutAt: l.OutAt, DueAt: l.DueAt, By: l.By, ReturnedBy: l.ReturnedBy, Override: l.Override,
		Warnings: l.Warnings(), MissingAccessories: l.MissingAccessories,
		Overdue: ls.Overdue, PossiblyLost: ls.PossiblyLost,
	}
	for _, d := range l.Devices {
		tags[d.ID] = d.AssetTag
		out.Devices = append(out.Devices, d.AssetTag)
	}
	tag := func(id string) string {
		if t := tags[id]; t != "" {
			return t
		}
		return id
	}
	if !l.ReturnedAt.IsZero() {
		t := l.ReturnedAt
		out.ReturnedAt = &t
	}
	for _, id := range l.MissingDevices {
		out.MissingDevices = append(out.MissingDevices, tag(id))
	}
	for _, d := range l.Damaged {
		out.Damaged = append(out.Damaged, apitype.Damage{Device: tag(d.Device), Note: d.Note})
	}
	for _, h := range l.HardwareChanges {
		at := h.AssetTag
		if at == "" {
			at = tag(h.Device)
		}
		out.HardwareChanges = append(out.HardwareChanges, apitype.HardwareChange{Device: h.Device, AssetTag: at, What: h.What})
	}
	return out
}

func toNotes(ns []fleet.Note) []apitype.Note {
	var out []apitype.Note
	for _, n := range ns {
		out = append(out, apitype.Note{At: n.At, Kind: n.Kind, Text: n.Text})
	}
	return out
}

// limitParam reads the limit query parameter: def when absent, 1 to max
// otherwise.
func limitParam(q url.Values, def, max int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("%w: limit=%q, want 1 to %d", errBadRequest, s, max)
	}
	return n, nil
}

// boolParam reads a true/false query parameter; absent is false.
func boolParam(q url.Values, name string) (bool, error) {
	s := q.Get(name)
	if s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%w: %s=%q, want true or false", errBadRequest, name, s)
	}
	return v, nil
}

func joinRoles() string {
	s := make([]string, len(fleet.Roles))
	for i, r := range fleet.Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
