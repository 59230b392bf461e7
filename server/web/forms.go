package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valise-numerique/valise/server/fleet"
)

// errInvalidf is a bad field of a form, in French.
func errInvalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", fleet.ErrInvalid, fmt.Sprintf(format, args...))
}

// parseDue reads the due date of the checkout form: a day (the end of it,
// in the dashboard's time zone).
func (w *Web) parseDue(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errInvalidf("indiquez la date de retour du kit")
	}
	d, err := time.ParseInLocation(time.DateOnly, s, w.cfg.Location)
	if err != nil {
		return time.Time{}, errInvalidf("la date de retour « %s » n’est pas une date (AAAA-MM-JJ)", s)
	}
	due := time.Date(d.Year(), d.Month(), d.Day(), 23, 59, 59, 0, w.cfg.Location)
	if !due.After(w.now()) {
		return time.Time{}, errInvalidf("la date de retour %s est passée", frDay(due, w.now(), w.cfg.Location))
	}
	return due, nil
}

// checkout lends the kit as the form asks; a refusal shows the kit's page
// again with each blocking device and why.
func (w *Web) checkout(rw http.ResponseWriter, r *http.Request, q *req) {
	ref, f := r.PathValue("ref"), r.PostForm
	form := map[string]string{"venue": f.Get("venue"), "due": f.Get("due"), "to": f.Get("to"), "override": f.Get("override")}
	due, err := w.parseDue(f.Get("due"))
	if err == nil && strings.TrimSpace(f.Get("venue")) == "" {
		err = errInvalidf("choisissez le lieu de destination")
	}
	if err == nil {
		var loan fleet.Loan
		loan, err = w.cfg.Fleet.Checkout(q.who, fleet.CheckoutRequest{
			Kit: ref, To: strings.TrimSpace(f.Get("to")), Venue: strings.TrimSpace(f.Get("venue")), Due: due,
			Override: strings.TrimSpace(f.Get("override")),
		})
		if err == nil {
			w.log.Info("kit checked out from the dashboard", "kit", loan.Kit, "loan", loan.ID, "by", q.who.ID)
			http.Redirect(rw, r, "/kits/"+url.PathEscape(loan.Kit)+"?fait=sortie", http.StatusSeeOther)
			return
		}
	}
	w.kitFailed(rw, r, q, ref, form, err)
}

// checkin records the kit's return as the form says: missing accessories
// and devices, devices declared lost, a damage note per device.
func (w *Web) checkin(rw http.ResponseWriter, r *http.Request, q *req) {
	ref, f := r.PathValue("ref"), r.PostForm
	req := fleet.CheckinRequest{Kit: ref}
	for _, m := range f["missing"] {
		if m = strings.TrimSpace(m); m != "" {
			req.Missing = append(req.Missing, m)
		}
	}
	for _, l := range f["lost"] {
		if l = strings.TrimSpace(l); l != "" {
			req.Lost = append(req.Lost, l)
		}
	}
	for key, vals := range f {
		dev, ok := strings.CutPrefix(key, "damage_")
		if !ok || len(vals) == 0 {
			continue
		}
		if note := strings.TrimSpace(vals[0]); note != "" {
			req.Damaged = append(req.Damaged, fleet.Damage{Device: dev, Note: note})
		}
	}
	st, err := w.cfg.Fleet.Checkin(q.who, req)
	if err != nil {
		w.kitFailed(rw, r, q, ref, nil, err)
		return
	}
	w.log.Info("kit checked in from the dashboard", "kit", st.Kit, "loan", st.ID, "by", q.who.ID)
	http.Redirect(rw, r, "/kits/"+url.PathEscape(st.Kit)+"?fait=retour", http.StatusSeeOther)
}

// kitFailed shows the kit's page again with what went wrong, and the
// status of the error; a kit that cannot be read gives the error page.
func (w *Web) kitFailed(rw http.ResponseWriter, r *http.Request, q *req, ref string, form map[string]string, err error) {
	p := problemOf(err)
	if p.Status >= 500 {
		w.fail(rw, r, q, err)
		return
	}
	d, kerr := w.kitPage(q, ref)
	if kerr != nil {
		w.fail(rw, r, q, err)
		return
	}
	if !strings.Contains(p.Message, "Rien n’a été modifié") {
		p.Message += " Rien n’a été modifié."
	}
	for k, v := range form {
		d.Form[k] = v
	}
	var refused *fleet.RefusedError
	if errors.As(err, &refused) {
		what := "ne sont pas prêts"
		if strings.TrimSpace(form["override"]) != "" {
			what = "ne peuvent pas sortir, même par dérogation"
		}
		p.Message = fmt.Sprintf("%s ne peut pas sortir : %d appareil(s) sur %d %s. Rien n’a été modifié.",
			d.Status.Kit.Label, len(refused.Details()), len(d.Status.Devices), what)
		p.Details = nil
		d.Refused = refusedLines(d.Status, refused.Details(), w.now(), w.cfg.Location)
	}
	w.render(rw, r, p.Status, "kit", view{Title: d.Status.Kit.Label, Nav: "kits", Who: &q.who, CSRF: q.sess.csrf, Problem: p, Data: d})
}

// refusedLines says in French why each blocking device of a refused
// checkout may not go out. The fleet's lines are "VAL-0031: needs_wipe
// since return on 12 Nov"; a line whose device is not in the kit is kept
// as it is.
func refusedLines(st fleet.KitStatus, lines []string, now time.Time, loc *time.Location) []string {
	out := make([]string, 0, len(lines))
	for _, line := range lines {
		tag, _, _ := strings.Cut(line, ": ")
		fr := line
		for _, kd := range st.Devices {
			if kd.Device.AssetTag == tag {
				why := kitWhy(kd, now, loc)
				if why == "" {
					why = frWhy(kd.Device, now, loc)
				}
				fr = tag + " : " + why
				break
			}
		}
		out = append(out, fr)
	}
	return out
}
