package web

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valise-numerique/valise/server/fleet"
)

// months are the French abbreviations of the months, January first.
var months = [12]string{"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."}

// frDay formats the date of t in loc: "12 nov.", with the year when it is
// not now's.
func frDay(t, now time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "—"
	}
	t = t.In(loc)
	s := strconv.Itoa(t.Day()) + " " + months[t.Month()-1]
	if t.Year() != now.In(loc).Year() {
		s += " " + strconv.Itoa(t.Year())
	}
	return s
}

// frMoment formats t in loc as people read it: "12 nov. 14:03".
func frMoment(t, now time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "—"
	}
	return frDay(t, now, loc) + " " + t.In(loc).Format("15:04")
}

// frAgo says how long ago t was: "il y a 5 min", "il y a 3 h",
// "il y a 2 j".
func frAgo(t, now time.Time) string {
	if t.IsZero() {
		return "jamais"
	}
	return frSince(now.Sub(t))
}

// stateNames are the lifecycle states in French, as a device is feminine
// ("une machine").
var stateNames = map[fleet.State]string{
	fleet.StateIntake:       "arrivée",
	fleet.StateNeedsWipe:    "à effacer",
	fleet.StateWiping:       "effacement en cours",
	fleet.StateWipeFailed:   "effacement échoué",
	fleet.StateWiped:        "effacée",
	fleet.StateProvisioning: "préparation",
	fleet.StateReady:        "prête",
	fleet.StateOnLoan:       "en prêt",
	fleet.StateMaintenance:  "maintenance",
	fleet.StateLost:         "perdue",
	fleet.StateRetired:      "retirée",
}

// french is the French of k in names, or k itself when names lacks it.
func french[K ~string](names map[K]string, k K) string {
	if n, ok := names[k]; ok {
		return n
	}
	return string(k)
}

func frState(s fleet.State) string { return french(stateNames, s) }

var kitStateNames = map[fleet.KitState]string{
	fleet.KitAvailable:   "disponible",
	fleet.KitOnLoan:      "en prêt",
	fleet.KitIncomplete:  "incomplet",
	fleet.KitMaintenance: "en maintenance",
}

func frKitState(s fleet.KitState) string { return french(kitStateNames, s) }

var flagNames = map[string]string{
	fleet.FlagSilent:          "silencieux",
	fleet.FlagNeverReported:   "n’a jamais donné de nouvelles",
	fleet.FlagLowCharge:       "batterie à charger",
	fleet.FlagNoSIM:           "pas de carte SIM",
	fleet.FlagPossiblyLost:    "peut-être perdu",
	fleet.FlagHardwareChanged: "matériel changé",
	fleet.FlagMissing:         "manquant au retour",
}

func frFlag(f string) string { return french(flagNames, f) }

var classNames = map[string]string{
	"laptop":  "ordinateur portable",
	"tablet":  "tablette",
	"hotspot": "routeur 4G",
	"other":   "autre",
}

func frClass(c string) string { return french(classNames, c) }

var venueKindNames = map[fleet.VenueKind]string{
	fleet.VenueFranceServices: "France Services",
	fleet.VenueMairie:         "mairie",
	fleet.VenueMediatheque:    "médiathèque",
	fleet.VenueEPN:            "espace public numérique",
	fleet.VenueAssociation:    "association",
	fleet.VenueOther:          "autre",
}

func frVenueKind(k fleet.VenueKind) string { return french(venueKindNames, k) }

var roleNames = map[fleet.Role]string{
	fleet.RoleMediateur:  "médiateur",
	fleet.RoleLogistics:  "logistique",
	fleet.RoleTechnician: "technicien",
	fleet.RoleAdmin:      "administrateur",
}

func frRole(r fleet.Role) string { return french(roleNames, r) }

var actionNames = map[string]string{
	fleet.ActionEnrol:              "enrôlement",
	fleet.ActionState:              "changement d’état",
	fleet.ActionReturned:           "retour",
	fleet.ActionWipeRequested:      "effacement demandé",
	fleet.ActionWipeStarted:        "effacement commencé",
	fleet.ActionWipeSucceeded:      "effacement réussi",
	fleet.ActionWipeFailed:         "effacement échoué",
	fleet.ActionCertificate:        "certificat d’effacement",
	fleet.ActionProvisionRequested: "préparation demandée",
	fleet.ActionProvisionSucceeded: "préparation réussie",
	fleet.ActionProvisionFailed:    "préparation échouée",
	fleet.ActionKitDevices:         "composition du kit",
	fleet.ActionCheckout:           "sortie en prêt",
	fleet.ActionCheckin:            "retour de prêt",
	fleet.ActionAssigned:           "affectation",
	fleet.ActionHardwareChanged:    "matériel changé",
	fleet.ActionImported:           "import",
}

func frAction(a string) string { return french(actionNames, a) }

// frWhy says in French why a device that is not ready is not, from its
// state and dates (the fleet's own words are in English).
func frWhy(d fleet.Device, now time.Time, loc *time.Location) string {
	since := d.StateChangedAt
	if since.IsZero() {
		since = d.UpdatedAt
	}
	day, moment := frDay(since, now, loc), frMoment(since, now, loc)
	reason := ""
	if d.StateReason != "" {
		reason = " : " + d.StateReason
	}
	switch d.State {
	case fleet.StateIntake:
		return "jamais effacée depuis son enrôlement le " + frDay(d.EnrolledAt, now, loc)
	case fleet.StateNeedsWipe:
		if !d.LastReturnedAt.IsZero() {
			return "à effacer depuis son retour le " + frDay(d.LastReturnedAt, now, loc)
		}
		return "à effacer depuis le " + day + reason
	case fleet.StateWiping:
		return "effacement en cours depuis le " + moment
	case fleet.StateWipeFailed:
		return "effacement échoué le " + day + reason
	case fleet.StateWiped:
		return "effacée le " + day + ", pas encore préparée"
	case fleet.StateProvisioning:
		return "préparation en cours depuis le " + moment
	case fleet.StateOnLoan:
		return "en prêt depuis le " + day
	case fleet.StateMaintenance:
		return "en maintenance depuis le " + day + reason
	case fleet.StateLost:
		return "perdue depuis le " + day + reason
	case fleet.StateRetired:
		return "retirée le " + day
	case fleet.StateReady:
		return "prête"
	}
	return frState(d.State)
}

// kitWhy is frWhy for a device of a kit: a device that is ready but fails
// the wipe gate says so, with the fleet's reason.
func kitWhy(kd fleet.KitDevice, now time.Time, loc *time.Location) string {
	if kd.Ready {
		return ""
	}
	if kd.GateClosed != "" {
		return "prête, mais aucun certificat d’effacement valide depuis son dernier retour (" + kd.GateClosed + ")"
	}
	return frWhy(kd.Device, now, loc)
}

// pct formats a percentage: "85 %", or "—" when unknown.
func pct(v *float64) string {
	if v == nil {
		return "—"
	}
	return strconv.FormatFloat(*v, 'f', 0, 64) + " %"
}

// bytesFR formats a size in decimal units with a French decimal comma.
func bytesFR(n uint64) string {
	units := []string{"o", "ko", "Mo", "Go", "To"}
	v, i := float64(n), 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if i == 0 || v >= 100 {
		s = strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strings.Replace(s, ".", ",", 1) + " " + units[i]
}

// frShortfall words a warning of checkout's pre-flight in French.
func frShortfall(sf fleet.Shortfall) string {
	switch sf.Kind {
	case fleet.FlagNeverReported:
		return sf.AssetTag + " : n’a jamais donné de nouvelles ; allumez-le et vérifiez qu’il se connecte"
	case fleet.FlagSilent:
		return sf.AssetTag + " : vu pour la dernière fois " + frSince(sf.Silent)
	case fleet.FlagLowCharge:
		return sf.AssetTag + " : batterie à " + pct(&sf.Charge) + " ; chargez-le avant le départ"
	case fleet.FlagNoSIM:
		return sf.AssetTag + " : pas de carte SIM"
	case fleet.ShortfallNoModem:
		return sf.AssetTag + " : aucun modem 4G détecté"
	case fleet.ShortfallAccessories:
		return "accessoires manquants depuis le dernier retour : " + strings.Join(sf.Items, ", ")
	}
	return sf.String()
}

// frSince says how long ago something was, from its age: "il y a 5 min".
func frSince(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "à l’instant"
	case d < time.Hour:
		return fmt.Sprintf("il y a %d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("il y a %d h", int(d.Hours()))
	}
	return fmt.Sprintf("il y a %d j", int(d.Hours()/24))
}

// frChange says what an audit event changed: "à effacer → prête", with
// its reason.
func frChange(e fleet.AuditEvent) string {
	var before, after string
	short := func(raw []byte) string {
		var s string
		if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || len(s) > 80 {
			return ""
		}
		if e.Action == fleet.ActionState {
			return frState(fleet.State(s))
		}
		return s
	}
	before, after = short(e.Before), short(e.After)
	var parts []string
	switch {
	case e.Action == fleet.ActionKitDevices && after != "":
		parts = append(parts, "entrée dans le kit")
	case e.Action == fleet.ActionKitDevices:
		parts = append(parts, "sortie du kit")
	case e.Action == fleet.ActionAssigned:
		parts = append(parts, "nouveau lieu d’affectation")
	case before != "" && after != "":
		parts = append(parts, before+" → "+after)
	case after != "":
		parts = append(parts, "→ "+after)
	}
	if e.Reason != "" {
		parts = append(parts, e.Reason)
	}
	return strings.Join(parts, " — ")
}

// num formats a number, or a pointer to one, without decimals: "-61";
// "—" for a nil pointer.
func num(v any) string {
	switch n := v.(type) {
	case float64:
		return strconv.FormatFloat(n, 'f', 0, 64)
	case *float64:
		if n == nil {
			return "—"
		}
		return strconv.FormatFloat(*n, 'f', 0, 64)
	case int64:
		return strconv.FormatInt(n, 10)
	case *int64:
		if n == nil {
			return "—"
		}
		return strconv.FormatInt(*n, 10)
	}
	return fmt.Sprint(v)
}

// frActor names who made an audit event: a person's name, the server, or
// a device's agent.
func frActor(a string) string {
	switch {
	case a == fleet.ActorServer:
		return "le serveur"
	case strings.HasPrefix(a, "agent:"):
		return "l’agent de l’appareil"
	}
	return a
}
