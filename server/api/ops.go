package api

import (
	"net/http"

	"github.com/valise-numerique/valise/server/fleet"
)

func (a *API) createUser(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) listUsers(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) disableUser(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) createVenue(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) listVenues(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) showVenue(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) createKit(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) listKits(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) showKit(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) addKitDevices(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) removeKitDevices(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) restockKit(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) checkout(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) checkin(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) listLoans(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) showLoan(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) assign(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) setState(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
