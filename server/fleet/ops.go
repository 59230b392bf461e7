package fleet

import (
	"fmt"
	"strings"
	"time"
)

// User is a person who uses Valise: a médiateur, logistics staff, a
// technician or an admin. Their API token is an APIToken whose User is
// their ID. A disabled user's tokens no longer authenticate.
type User struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Role       Role      `json:"role"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by,omitempty"`
	DisabledAt time.Time `json:"disabled_at,omitzero"`
}

// VenueKind is what kind of place a venue is.
type VenueKind string

// Venue kinds.
const (
	VenueFranceServices VenueKind = "france_services"
	VenueMairie         VenueKind = "mairie"
	VenueMediatheque    VenueKind = "mediatheque"
	VenueEPN            VenueKind = "epn" // espace public numérique
	VenueAssociation    VenueKind = "association"
	VenueOther          VenueKind = "other"
)

// VenueKinds lists every venue kind.
var VenueKinds = []VenueKind{VenueFranceServices, VenueMairie, VenueMediatheque, VenueEPN, VenueAssociation, VenueOther}

// Venue is a place where médiateurs receive the public.
type Venue struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Kind    VenueKind `json:"kind"`
	Commune string    `json:"commune"`
	// INSEE is the commune's code officiel géographique: five characters,
	// digits but for Corsica's 2A and 2B.
	INSEE   string   `json:"insee,omitempty"`
	Lat     *float64 `json:"lat,omitempty"`
	Lon     *float64 `json:"lon,omitempty"`
	Contact string   `json:"contact,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Kit is a set of devices and accessories that goes out on loan together.
type Kit struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	// Home is the id of the venue the kit lives at between loans.
	Home string `json:"home,omitempty"`
	// Devices are device ids, in the order they were added.
	Devices []string `json:"devices"`
	// Accessories is the checklist of what travels with the devices
	// ("chargeur x2", "sacoche").
	Accessories []string `json:"accessories,omitempty"`
	// Missing are accessories reported missing at a check-in, until the
	// kit is restocked.
	Missing []string `json:"missing,omitempty"`
	// Loan is the id of the open loan; "" while the kit is in.
	Loan string `json:"loan,omitempty"`
	// Notes are dated remarks (hardware changed, damage at check-in).
	Notes []Note `json:"notes,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// KitState is a kit's state, derived from its devices and loan.
type KitState string

// Kit states.
const (
	// KitAvailable: every device ready, nothing missing, not on loan.
	KitAvailable KitState = "available"
	KitOnLoan    KitState = "on_loan"
	// KitIncomplete: no devices, an accessory missing, or a device lost
	// or missing.
	KitIncomplete KitState = "incomplete"
	// KitMaintenance: some device is not ready (needs a wipe, is being
	// wiped or provisioned, is in maintenance).
	KitMaintenance KitState = "maintenance"
)

// KitStatus is a kit with what each of its devices is doing: what `kits
// show` prints and checkout decides on.
type KitStatus struct {
	Kit   Kit
	State KitState
	// HomeName is the name of the kit's home venue.
	HomeName string
	Devices  []KitDevice
	// Loan is the open loan, if any, with what is true of it now.
	Loan *LoanStatus
}

// KitDevice is one device of a kit, with its readiness.
type KitDevice struct {
	Device Device
	Live   Live
	// Ready is true when the device is ready and passes the wipe gate.
	Ready bool
	// Why says why it is not ready ("needs_wipe since return on 12 Nov").
	Why string
	// GateClosed says why a device in state ready fails the wipe gate.
	GateClosed string
	// Flags are warnings that do not block: FlagSilent, FlagLowCharge,
	// FlagNoSIM, FlagPossiblyLost, FlagHardwareChanged.
	Flags []string
}

// Flags of a device in a kit or loan.
const (
	FlagSilent          = "silent"           // not seen in the pre-flight window
	FlagNeverReported   = "never_reported"   // never sent telemetry
	FlagLowCharge       = "low_charge"       // below the pre-flight charge
	FlagNoSIM           = "no_sim"           // hotspot without a SIM
	FlagPossiblyLost    = "possibly_lost"    // silent too long while on loan
	FlagHardwareChanged = "hardware_changed" // parts differ from before
	FlagMissing         = "missing"          // reported missing at a check-in
)

// Loan is a kit lent to a médiateur for a venue. It names only the
// médiateur: nothing about the members of the public they help.
type Loan struct {
	ID       string `json:"id"`
	Kit      string `json:"kit"`
	KitLabel string `json:"kit_label"`
	// Borrower is the user id of the médiateur; BorrowerName their name.
	Borrower     string `json:"borrower"`
	BorrowerName string `json:"borrower_name"`
	Venue        string `json:"venue"`
	VenueName    string `json:"venue_name"`
	// Devices are the devices that went out, with their hardware then.
	Devices []LoanDevice `json:"devices"`

	OutAt      time.Time `json:"out_at"`
	DueAt      time.Time `json:"due_at"`
	ReturnedAt time.Time `json:"returned_at,omitzero"`
	// By and ReturnedBy are who checked the kit out and in.
	By         string `json:"by"`
	ReturnedBy string `json:"returned_by,omitempty"`
	// Override is the reason a logistics user gave to let the kit out
	// with devices that were not ready.
	Override string `json:"override,omitempty"`
	// Preflight lists what the pre-flight found short at checkout.
	Preflight []Shortfall `json:"preflight,omitempty"`

	// What the check-in found.
	MissingAccessories []string         `json:"missing_accessories,omitempty"`
	MissingDevices     []string         `json:"missing_devices,omitempty"` // device ids
	Damaged            []Damage         `json:"damaged,omitempty"`
	HardwareChanges    []HardwareChange `json:"hardware_changes,omitempty"`
}

// Warnings words the pre-flight's shortfalls in English, one line each.
func (l Loan) Warnings() []string {
	out := make([]string, 0, len(l.Preflight))
	for _, s := range l.Preflight {
		out = append(out, s.String())
	}
	return out
}

// Shortfall kinds, besides the flags FlagNeverReported, FlagSilent,
// FlagLowCharge and FlagNoSIM.
const (
	ShortfallNoModem     = "no_modem"            // a hotspot reports no cellular modem
	ShortfallAccessories = "accessories_missing" // since the last check-in
)

// Shortfall is one warning of a checkout's pre-flight, as data: people
// read it in English through String, or in their language from its
// fields.
type Shortfall struct {
	Kind string `json:"kind"`
	// AssetTag is the device it is about; "" for the kit's accessories.
	AssetTag string `json:"asset_tag,omitempty"`
	// Silent is how long a FlagSilent device had said nothing.
	Silent time.Duration `json:"silent,omitempty"`
	// Charge is the battery charge (%) of a FlagLowCharge device.
	Charge float64 `json:"charge,omitempty"`
	// Items are the missing accessories of ShortfallAccessories.
	Items []string `json:"items,omitempty"`
}

// String words s in English.
func (s Shortfall) String() string {
	switch s.Kind {
	case FlagNeverReported:
		return s.AssetTag + ": has never reported; switch it on and check it connects"
	case FlagSilent:
		return s.AssetTag + ": last seen " + roundAgo(s.Silent) + " ago"
	case FlagLowCharge:
		return fmt.Sprintf("%s: battery at %.0f %%; charge it before it goes", s.AssetTag, s.Charge)
	case FlagNoSIM:
		return s.AssetTag + ": has no SIM"
	case ShortfallNoModem:
		return s.AssetTag + ": reports no cellular modem"
	case ShortfallAccessories:
		return "accessories missing since the last check-in: " + strings.Join(s.Items, ", ")
	}
	return strings.TrimPrefix(s.AssetTag+": "+s.Kind, ": ")
}

// Open reports whether the kit is still out.
func (l Loan) Open() bool { return l.ReturnedAt.IsZero() }

// OverdueAt reports whether the kit is still out past its due time at now.
func (l Loan) OverdueAt(now time.Time) bool { return l.Open() && now.After(l.DueAt) }

// LoanDevice is a device as it went out.
type LoanDevice struct {
	ID       string `json:"id"`
	AssetTag string `json:"asset_tag"`
	Class    string `json:"class"`
	// Hardware is the device's hardware at checkout, from its latest
	// inventory; nil when it had sent none.
	Hardware *Hardware `json:"hardware,omitempty"`
}

// Damage is a device reported damaged at check-in.
type Damage struct {
	Device string `json:"device"`
	Note   string `json:"note"`
}

// HardwareChange is a difference between a device's hardware at checkout
// and at check-in.
type HardwareChange struct {
	Device   string `json:"device"`
	AssetTag string `json:"asset_tag"`
	What     string `json:"what"` // "disk S4EVNX0R (500 GB) replaced by WD-123 (256 GB)"
}

// Hardware is what a check-in compares: the parts someone could swap.
type Hardware struct {
	SystemSerial string   `json:"system_serial,omitempty"`
	MemoryBytes  uint64   `json:"memory_bytes,omitempty"`
	Disks        []string `json:"disks,omitempty"`     // "serial size", sorted
	Batteries    []string `json:"batteries,omitempty"` // "serial model design-capacity", sorted
}

// LoanStatus is a loan with what is true of it now.
type LoanStatus struct {
	Loan
	// Overdue is true for an open loan past its due time.
	Overdue bool
	// PossiblyLost lists the asset tags of devices of an open loan silent
	// for more than Config.LostAfter.
	PossiblyLost []string
}
