package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
	"github.com/valise-numerique/valise/server/store"
)

// Dashboard settings.
const (
	// weakBattery is the battery health (%) below which a device is listed
	// as needing attention.
	weakBattery = 60
	// watchReads bounds the telemetry summaries the dashboard reads to
	// find weak batteries.
	watchReads = 500
	// shortList bounds the device lists of the dashboard.
	shortList = 20
	// maxOptions bounds the choices of a select in a form; past it, the
	// form asks for a name.
	maxOptions = 200
)

// count is a number read from a bounded page: Over when the page was full.
type count struct {
	N    int
	Over bool
}

func (c count) String() string {
	if c.Over {
		return strconv.Itoa(c.N) + "+"
	}
	return strconv.Itoa(c.N)
}

type stateCount struct {
	State fleet.State
	Count count
}

type kitCount struct {
	State fleet.KitState
	Count count
}

// watched is a device the dashboard points at, and why.
type watched struct {
	Device fleet.Device
	Health *float64
	Why    string
}

type dashboardData struct {
	Devices     []stateCount
	DeviceTotal count
	Kits        []kitCount
	KitTotal    count
	Open        count
	Overdue     []fleet.LoanStatus
	OverdueN    count
	NeedsWipe   []fleet.Device
	NeedsWipeN  count
	Watch       []watched
	WatchFrom   int
}

// dashboard shows the whole fleet at a glance. Devices are counted by
// the store's counters; every other figure comes from a bounded page of
// the store: past it, a count reads "500+".
func (w *Web) dashboard(rw http.ResponseWriter, r *http.Request, q *req) {
	var d dashboardData
	counts, err := w.cfg.Fleet.DeviceCounts()
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	for _, s := range fleet.States {
		if n := counts[s]; n > 0 {
			d.Devices = append(d.Devices, stateCount{State: s, Count: count{N: n}})
			d.DeviceTotal.N += n
		}
	}
	d.NeedsWipeN = count{N: counts[fleet.StateNeedsWipe]}
	if d.NeedsWipe, err = w.cfg.Fleet.Devices(fleet.Filter{State: fleet.StateNeedsWipe, Limit: shortList}); err != nil {
		w.fail(rw, r, q, err)
		return
	}

	kits, err := w.cfg.Fleet.Kits("", countPage+1)
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	d.KitTotal = count{N: min(len(kits), countPage), Over: len(kits) > countPage}
	kc := map[fleet.KitState]int{}
	for _, k := range kits[:d.KitTotal.N] {
		kc[k.State]++
	}
	for _, s := range []fleet.KitState{fleet.KitAvailable, fleet.KitOnLoan, fleet.KitMaintenance, fleet.KitIncomplete} {
		if kc[s] > 0 {
			d.Kits = append(d.Kits, kitCount{State: s, Count: count{N: kc[s], Over: d.KitTotal.Over}})
		}
	}

	open, err := w.cfg.Fleet.Loans(q.who, fleet.LoanFilter{Open: true, Limit: countPage + 1})
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	d.Open = count{N: min(len(open), countPage), Over: len(open) > countPage}
	overdue, err := w.cfg.Fleet.Loans(q.who, fleet.LoanFilter{Overdue: true, Limit: countPage + 1})
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	d.OverdueN = count{N: min(len(overdue), countPage), Over: len(overdue) > countPage}
	d.Overdue = overdue[:min(shortList, len(overdue))]

	// Devices that need attention: a changed part (free to see), or a weak
	// battery, read from the summaries of the devices in service, a
	// bounded number of them.
	reads := 0
	for _, s := range []fleet.State{fleet.StateOnLoan, fleet.StateReady, fleet.StateMaintenance, fleet.StateProvisioning, fleet.StateNeedsWipe} {
		if reads >= watchReads {
			break
		}
		devs, err := w.cfg.Fleet.Devices(fleet.Filter{State: s, Limit: watchReads - reads})
		if err != nil {
			w.fail(rw, r, q, err)
			return
		}
		for _, dev := range devs {
			reads++
			sum, err := w.cfg.Telemetry.Summary(dev.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				w.fail(rw, r, q, err)
				return
			}
			health := sum.BatteryHealth
			var why []string
			if health != nil && *health < weakBattery {
				why = append(why, "batterie à "+pct(health)+" de sa capacité d’origine")
			}
			if dev.HardwareChanged {
				why = append(why, "matériel changé")
			}
			if len(why) > 0 && len(d.Watch) < shortList {
				d.Watch = append(d.Watch, watched{Device: dev, Health: health, Why: strings.Join(why, ", ")})
			}
		}
	}
	d.WatchFrom = reads
	w.render(rw, r, http.StatusOK, "dashboard", view{Title: "Tableau de bord", Nav: "home", Who: &q.who, CSRF: q.sess.csrf, Data: d})
}

type kitsData struct {
	Kits []fleet.KitStatus
	// Next is the label to start the next page after; "" on the last.
	Next  string
	After string
}

func (w *Web) kits(rw http.ResponseWriter, r *http.Request, q *req) {
	after := strings.TrimSpace(r.URL.Query().Get("after"))
	kits, err := w.cfg.Fleet.Kits(after, listPage+1)
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	d := kitsData{Kits: kits, After: after}
	if len(kits) > listPage {
		d.Kits = kits[:listPage]
		d.Next = kits[listPage-1].Kit.Label
	}
	w.render(rw, r, http.StatusOK, "kits", view{Title: "Kits", Nav: "kits", Who: &q.who, CSRF: q.sess.csrf, Data: d})
}

// kitData is a kit's page: its status and the forms the viewer may use.
type kitData struct {
	Status fleet.KitStatus
	// Refused lists, after a refused checkout, each blocking device and
	// why.
	Refused []string

	CanCheckout bool
	CanCheckin  bool
	// Lender is true for logistics and admins: they choose the borrower
	// and may override the wipe gate.
	Lender   bool
	Venues   []fleet.Venue
	Users    []fleet.User
	DueValue string
	DueMin   string
	Home     string
	// VenueText and UserText ask for a name in a text field instead of a
	// list, when the list would weigh too much over weak 4G.
	VenueText, UserText bool
	HomeName            string
	// Form holds what was typed, when the page comes back with an error.
	Form map[string]string
}

// kitPage gathers what a kit's page shows.
func (w *Web) kitPage(q *req, ref string) (kitData, error) {
	st, err := w.cfg.Fleet.KitStatus(ref)
	if err != nil {
		return kitData{}, err
	}
	d := kitData{Status: st, Home: st.Kit.Home, Form: map[string]string{}}
	who := q.who
	mayLend := who.Allowed(fleet.RoleMediateur, fleet.RoleLogistics)
	d.Lender = who.Allowed(fleet.RoleLogistics)
	d.CanCheckout = mayLend && st.Loan == nil
	d.CanCheckin = st.Loan != nil && (d.Lender || (who.Role == fleet.RoleMediateur && st.Loan.Borrower == who.ID))
	if d.CanCheckout {
		if d.Venues, err = w.cfg.Fleet.Venues(); err != nil {
			return d, err
		}
		if d.Lender {
			users, err := w.cfg.Fleet.Users()
			if err != nil {
				return d, err
			}
			for _, u := range users {
				if u.DisabledAt.IsZero() {
					d.Users = append(d.Users, u)
				}
			}
			slices.SortStableFunc(d.Users, func(a, b fleet.User) int {
				am, bm := a.Role == fleet.RoleMediateur, b.Role == fleet.RoleMediateur
				switch {
				case am && !bm:
					return -1
				case bm && !am:
					return 1
				}
				return 0
			})
		}
		d.VenueText, d.UserText, d.HomeName = len(d.Venues) > maxOptions, len(d.Users) > maxOptions, st.HomeName
		if d.VenueText {
			d.Venues = nil
		}
		if d.UserText {
			d.Users = nil
		}
		now := w.now().In(w.cfg.Location)
		d.DueValue = now.AddDate(0, 0, 7).Format(time.DateOnly)
		d.DueMin = now.Format(time.DateOnly)
	}
	return d, nil
}

func (w *Web) kit(rw http.ResponseWriter, r *http.Request, q *req) {
	d, err := w.kitPage(q, r.PathValue("ref"))
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	v := view{Title: d.Status.Kit.Label, Nav: "kits", Who: &q.who, CSRF: q.sess.csrf, Data: d}
	switch r.URL.Query().Get("fait") {
	case "sortie":
		v.Notice = "Le kit est sorti. Bon prêt !"
	case "retour":
		v.Notice = "Le retour du kit est enregistré ; ses appareils attendent leur effacement."
	}
	w.render(rw, r, http.StatusOK, "kit", v)
}

type loansData struct {
	Loans []fleet.LoanStatus
	Full  bool
}

// loans lists the open loans, overdue first; a médiateur sees their own.
func (w *Web) loans(rw http.ResponseWriter, r *http.Request, q *req) {
	loans, err := w.cfg.Fleet.Loans(q.who, fleet.LoanFilter{Open: true, Limit: countPage + 1})
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	d := loansData{Loans: loans, Full: len(loans) > countPage}
	if d.Full {
		d.Loans = loans[:countPage]
	}
	slices.SortStableFunc(d.Loans, func(a, b fleet.LoanStatus) int {
		switch {
		case a.Overdue && !b.Overdue:
			return -1
		case b.Overdue && !a.Overdue:
			return 1
		case a.Overdue:
			return a.DueAt.Compare(b.DueAt)
		}
		return 0
	})
	w.render(rw, r, http.StatusOK, "loans", view{Title: "Prêts", Nav: "loans", Who: &q.who, CSRF: q.sess.csrf, Data: d})
}

// names resolves kit and venue ids to their labels for one page.
type names struct {
	w      *Web
	kits   map[string]string
	venues map[string]string
}

func (w *Web) names() (*names, error) {
	vs, err := w.cfg.Fleet.Venues()
	if err != nil {
		return nil, err
	}
	n := &names{w: w, kits: map[string]string{}, venues: map[string]string{}}
	for _, v := range vs {
		n.venues[v.ID] = v.Name
	}
	return n, nil
}

func (n *names) kit(id string) string {
	if id == "" {
		return ""
	}
	if l, ok := n.kits[id]; ok {
		return l
	}
	l := id
	if k, err := n.w.cfg.Fleet.Kit(id); err == nil {
		l = k.Label
	}
	n.kits[id] = l
	return l
}

func (n *names) venue(id string) string {
	if v, ok := n.venues[id]; ok {
		return v
	}
	return id
}

type deviceRow struct {
	Device    fleet.Device
	KitLabel  string
	VenueName string
	Reported  bool
	Summary   store.Summary
}

type devicesData struct {
	Rows   []deviceRow
	State  fleet.State
	States []fleet.State
	After  string
	Next   string
}

func (w *Web) devices(rw http.ResponseWriter, r *http.Request, q *req) {
	qs := r.URL.Query()
	state := fleet.State(qs.Get("state"))
	if state != "" && !state.Valid() {
		w.fail(rw, r, q, errInvalidf("l’état %q n’existe pas", state))
		return
	}
	after := strings.ToUpper(strings.TrimSpace(qs.Get("after")))
	devs, err := w.cfg.Fleet.Devices(fleet.Filter{State: state, After: after, Limit: listPage + 1})
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	d := devicesData{State: state, States: fleet.States, After: after}
	if len(devs) > listPage {
		devs = devs[:listPage]
		d.Next = devs[listPage-1].AssetTag
	}
	n, err := w.names()
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	for _, dev := range devs {
		row := deviceRow{Device: dev, KitLabel: n.kit(dev.Kit), VenueName: n.venue(dev.Venue)}
		if row.Summary, err = w.cfg.Telemetry.Summary(dev.ID); err == nil {
			row.Reported = true
		} else if !errors.Is(err, store.ErrNotFound) {
			w.fail(rw, r, q, err)
			return
		}
		d.Rows = append(d.Rows, row)
	}
	w.render(rw, r, http.StatusOK, "devices", view{Title: "Appareils", Nav: "devices", Who: &q.who, CSRF: q.sess.csrf, Data: d})
}

type deviceData struct {
	Device    fleet.Device
	KitLabel  string
	VenueName string
	Reported  bool
	Summary   store.Summary
	Health    *wire.Health
	HealthAt  time.Time
	Net       *wire.Net
	NetAt     time.Time
	Events    []fleet.AuditEvent
	// GateClosed says why a ready device fails the wipe gate.
	GateClosed string
}

// device shows one device: identity, state and why, where it is, its
// latest health and connectivity, notes and recent history.
func (w *Web) device(rw http.ResponseWriter, r *http.Request, q *req) {
	dev, err := w.cfg.Fleet.Device(r.PathValue("ref"))
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	n, err := w.names()
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	d := deviceData{Device: dev, KitLabel: n.kit(dev.Kit), VenueName: n.venue(dev.Venue)}
	if dev.State == fleet.StateReady {
		if d.GateClosed, err = w.cfg.Fleet.GateClosed(dev.ID); err != nil {
			w.fail(rw, r, q, err)
			return
		}
	}
	if d.Summary, err = w.cfg.Telemetry.Summary(dev.ID); err == nil {
		d.Reported = true
	} else if !errors.Is(err, store.ErrNotFound) {
		w.fail(rw, r, q, err)
		return
	}
	if body, at, err := w.cfg.Telemetry.Latest(dev.ID, wire.ChanHealth); err == nil {
		var h wire.Health
		if err := json.Unmarshal(body, &h); err == nil {
			d.Health, d.HealthAt = &h, at
		} else {
			w.log.Error("decode latest health", "device", dev.ID, "err", err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		w.fail(rw, r, q, err)
		return
	}
	if body, at, err := w.cfg.Telemetry.Latest(dev.ID, wire.ChanNet); err == nil {
		var nt wire.Net
		if err := json.Unmarshal(body, &nt); err == nil {
			d.Net, d.NetAt = &nt, at
		} else {
			w.log.Error("decode latest net", "device", dev.ID, "err", err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		w.fail(rw, r, q, err)
		return
	}
	if d.Events, err = w.cfg.Fleet.AuditPage(dev.ID, 0, 20); err != nil {
		w.fail(rw, r, q, err)
		return
	}
	w.render(rw, r, http.StatusOK, "device", view{Title: dev.AssetTag, Nav: "devices", Who: &q.who, CSRF: q.sess.csrf, Data: d})
}

func (w *Web) venues(rw http.ResponseWriter, r *http.Request, q *req) {
	vs, err := w.cfg.Fleet.Venues()
	if err != nil {
		w.fail(rw, r, q, err)
		return
	}
	w.render(rw, r, http.StatusOK, "venues", view{Title: "Lieux", Nav: "venues", Who: &q.who, CSRF: q.sess.csrf, Data: vs})
}
