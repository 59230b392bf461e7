package apitype

import "time"

// Roles of users.
const (
	RoleMediateur  = "mediateur"
	RoleLogistics  = "logistics"
	RoleTechnician = "technician"
	RoleAdmin      = "admin"
)

// UserRequest is the body of POST /api/v1/users.
type UserRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// User is a person who uses Valise. Token, their API token, is in the
// answer that creates them and nowhere else.
type User struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	Disabled  *time.Time `json:"disabled_at,omitempty"`
	Token     string     `json:"token,omitempty"`
}

// Venue kinds.
const (
	VenueFranceServices = "france_services"
	VenueMairie         = "mairie"
	VenueMediatheque    = "mediatheque"
	VenueEPN            = "epn"
	VenueAssociation    = "association"
	VenueOther          = "other"
)

// VenueRequest is the body of POST /api/v1/venues.
type VenueRequest struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Commune string   `json:"commune"`
	INSEE   string   `json:"insee,omitempty"`
	Lat     *float64 `json:"lat,omitempty"`
	Lon     *float64 `json:"lon,omitempty"`
	Contact string   `json:"contact,omitempty"`
}

// Venue is a place where médiateurs receive the public.
type Venue struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Commune   string    `json:"commune"`
	INSEE     string    `json:"insee,omitempty"`
	Lat       *float64  `json:"lat,omitempty"`
	Lon       *float64  `json:"lon,omitempty"`
	Contact   string    `json:"contact,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// KitRequest is the body of POST /api/v1/kits.
type KitRequest struct {
	Label string `json:"label"`
	// Home is a venue id or name.
	Home        string   `json:"home,omitempty"`
	Accessories []string `json:"accessories,omitempty"`
}

// KitDevicesRequest is the body of POST /api/v1/kits/{ref}/devices and
// /devices/remove: device ids or asset tags.
type KitDevicesRequest struct {
	Devices []string `json:"devices"`
}

// RestockRequest is the body of POST /api/v1/kits/{ref}/restock: the
// accessories found again, or none for all of them.
type RestockRequest struct {
	Items []string `json:"items,omitempty"`
}

// Kit states.
const (
	KitAvailable   = "available"
	KitOnLoan      = "on_loan"
	KitIncomplete  = "incomplete"
	KitMaintenance = "maintenance"
)

// Kit is a kit and its state. Devices is filled by GET /kits/{ref} (with
// live telemetry) and by lists (without).
type Kit struct {
	ID          string      `json:"id"`
	Label       string      `json:"label"`
	State       string      `json:"state"`
	Home        string      `json:"home,omitempty"`
	HomeName    string      `json:"home_name,omitempty"`
	Accessories []string    `json:"accessories,omitempty"`
	Missing     []string    `json:"missing,omitempty"`
	Devices     []KitDevice `json:"devices"`
	Loan        *Loan       `json:"loan,omitempty"`
	Notes       []Note      `json:"notes,omitempty"`
	CreatedAt   time.Time   `json:"created_at"`
}

// KitDevice is one device of a kit with its readiness.
type KitDevice struct {
	Device
	Ready bool `json:"ready"`
	// Why says why the device is not ready.
	Why string `json:"why,omitempty"`
	// Flags: silent, never_reported, low_charge, no_sim, possibly_lost,
	// hardware_changed, missing.
	Flags []string `json:"flags,omitempty"`
}

// Device flags in kits and loans.
const (
	FlagSilent          = "silent"
	FlagNeverReported   = "never_reported"
	FlagLowCharge       = "low_charge"
	FlagNoSIM           = "no_sim"
	FlagPossiblyLost    = "possibly_lost"
	FlagHardwareChanged = "hardware_changed"
	FlagMissing         = "missing"
)

// CheckoutRequest is the body of POST /api/v1/kits/{ref}/checkout.
type CheckoutRequest struct {
	// To is the borrower's user id or name; empty means the caller.
	To string `json:"to,omitempty"`
	// Venue is the destination's id or name.
	Venue string    `json:"venue"`
	Due   time.Time `json:"due"`
	// Override is the reason to let out devices that are not ready
	// (logistics and admins only).
	Override string `json:"override,omitempty"`
}

// CheckinRequest is the body of POST /api/v1/kits/{ref}/checkin.
type CheckinRequest struct {
	// Missing: accessories of the checklist or devices that did not come
	// back.
	Missing []string `json:"missing,omitempty"`
	// Lost: devices the user declares lost.
	Lost    []string `json:"lost,omitempty"`
	Damaged []Damage `json:"damaged,omitempty"`
}

// Damage is a device that came back damaged.
type Damage struct {
	Device string `json:"device"`
	Note   string `json:"note"`
}

// HardwareChange is a part that differs between checkout and check-in.
type HardwareChange struct {
	Device   string `json:"device"`
	AssetTag string `json:"asset_tag"`
	What     string `json:"what"`
}

// Loan is a kit lent to a médiateur.
type Loan struct {
	ID           string     `json:"id"`
	Kit          string     `json:"kit"`
	KitLabel     string     `json:"kit_label"`
	Borrower     string     `json:"borrower"`
	BorrowerName string     `json:"borrower_name"`
	Venue        string     `json:"venue"`
	VenueName    string     `json:"venue_name"`
	Devices      []string   `json:"devices"` // asset tags
	OutAt        time.Time  `json:"out_at"`
	DueAt        time.Time  `json:"due_at"`
	ReturnedAt   *time.Time `json:"returned_at,omitempty"`
	By           string     `json:"by"`
	ReturnedBy   string     `json:"returned_by,omitempty"`
	Override     string     `json:"override,omitempty"`
	Warnings     []string   `json:"warnings,omitempty"`

	MissingAccessories []string         `json:"missing_accessories,omitempty"`
	MissingDevices     []string         `json:"missing_devices,omitempty"` // asset tags
	Damaged            []Damage         `json:"damaged,omitempty"`
	HardwareChanges    []HardwareChange `json:"hardware_changes,omitempty"`

	Overdue      bool     `json:"overdue"`
	PossiblyLost []string `json:"possibly_lost,omitempty"` // asset tags
}

// AssignRequest is the body of POST /api/v1/assignments: Devices (ids or
// asset tags) or every device of Kit go to Venue for the long term.
type AssignRequest struct {
	Devices []string `json:"devices,omitempty"`
	Kit     string   `json:"kit,omitempty"`
	Venue   string   `json:"venue"`
}

// SetStateRequest is the body of POST /api/v1/devices/{ref}/state.
type SetStateRequest struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// Import kinds of POST /api/v1/import/{kind} and export kinds of GET
// /api/v1/export/{kind}.
const (
	KindDevices = "devices"
	KindVenues  = "venues"
	KindKits    = "kits"
	KindLoans   = "loans"
)

// ImportReport is the answer of POST /api/v1/import/{kind}. A file with
// bad rows is refused whole: a 400 whose ErrorDetail.Details has one line
// per bad field ("line 4, serial: same as line 2").
type ImportReport struct {
	Kind    string `json:"kind"`
	DryRun  bool   `json:"dry_run"`
	Rows    int    `json:"rows"`
	Created int    `json:"created"`
	// Updated counts rows that changed an existing record; Unchanged the
	// rows that matched one and changed nothing.
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
}
