package api

import (
	"net/http"

	"github.com/valise-numerique/valise/server/fleet"
)

func (a *API) importCSV(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
func (a *API) exportCSV(w http.ResponseWriter, r *http.Request, p fleet.Principal) {
	a.fail(w, r, errNotImplemented)
}
