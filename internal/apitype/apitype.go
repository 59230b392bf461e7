// Package apitype holds the request and response bodies of the HTTP API
// (/api/v1), shared by the server's handlers and the Go client so that both
// sides always agree on the JSON.
package apitype

import (
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// Error codes of ErrorBody, one per kind of failure; the HTTP status follows
// from the code.
const (
	CodeBadRequest   = "bad_request"  // 400: the request is malformed or a field is invalid
	CodeUnauthorized = "unauthorized" // 401: no token, or an unknown one
	CodeForbidden    = "forbidden"    // 403: the token's role may not do this
	CodeNotFound     = "not_found"    // 404: no such device, token…
	CodeConflict     = "conflict"     // 409: the state forbids it now
	CodeGone         = "gone"         // 410: an enrolment token used up or expired
	CodeTooLarge     = "too_large"    // 413: the body is over the limit
	CodeInternal     = "internal"     // 500: the server's fault; details are in its log
	CodeUnavailable  = "unavailable"  // 503: shutting down, store busy
)

// ErrorBody is the body of every error answer:
//
//	{"error":{"code":"not_found","message":"no device VAL-0099"}}
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the code and a message safe and useful to show a user.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details has one line per reason when there are several: each device
	// that blocks a checkout, each bad field of an import.
	Details []string `json:"details,omitempty"`
}

// Device is one row of the fleet: identity, lifecycle state and the figures
// people look at first. Pointers are nil when never reported.
type Device struct {
	ID       string `json:"id"`
	AssetTag string `json:"asset_tag"`
	Class    string `json:"class"`
	State    string `json:"state"`
	Vendor   string `json:"vendor,omitempty"`
	Model    string `json:"model,omitempty"`
	Serial   string `json:"serial,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// Online is true while the device holds an MQTT session.
	Online     bool       `json:"online"`
	LastSeen   *time.Time `json:"last_seen,omitempty"`
	EnrolledAt time.Time  `json:"enrolled_at"`
	// BatteryHealth is the worst battery's full/design capacity, in %.
	BatteryHealth *float64 `json:"battery_health,omitempty"`
	// BatteryCharge is the charge of the same battery, in %.
	BatteryCharge *float64 `json:"battery_charge,omitempty"`
	// Kit and Venue are ids; KitLabel and VenueName are for people.
	Kit       string `json:"kit,omitempty"`
	KitLabel  string `json:"kit_label,omitempty"`
	Venue     string `json:"venue,omitempty"`
	VenueName string `json:"venue_name,omitempty"`
	// Loan is the id of the open loan the device is out on.
	Loan string `json:"loan,omitempty"`
	// Supplier, PurchasedOn and WarrantyEnd are the device's origin, as an
	// import gave them.
	Supplier    string     `json:"supplier,omitempty"`
	PurchasedOn *time.Time `json:"purchased_on,omitempty"`
	WarrantyEnd *time.Time `json:"warranty_end,omitempty"`
	// HardwareChanged is set when a re-enrolment matched this device with
	// other parts (disk, RAM, serial) than before.
	HardwareChanged bool `json:"hardware_changed,omitempty"`
}

// DeviceDetail is one device with its latest reports and recent history.
type DeviceDetail struct {
	Device
	Inventory *wire.Inventory `json:"inventory,omitempty"`
	Health    *wire.Health    `json:"health,omitempty"`
	Net       *wire.Net       `json:"net,omitempty"`
	// Reported is when each kind of report was last received, by kind.
	Reported map[string]time.Time `json:"reported,omitempty"`
	// History holds the recent samples of each figure, by metric name.
	History map[string][]Point `json:"history,omitempty"`
	// Notes are dated remarks people should see, oldest first: hardware
	// changes and identity conflicts found at enrolment.
	Notes []Note `json:"notes,omitempty"`
}

// Note kinds.
const (
	NoteHardwareChanged  = "hardware_changed"  // matched with other parts than before
	NoteIdentityConflict = "identity_conflict" // shares identifiers with other devices
	NoteEnrolled         = "enrolled"          // something an enrolment changed
)

// Note is a dated remark on a device.
type Note struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
}

// Point is one sample of a figure.
type Point struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
}

// History metric names, as stored by ingest and accepted by the history
// endpoint.
const (
	MetricBatteryHealth = "battery_health" // % of design capacity, worst battery
	MetricBatteryCharge = "battery_charge" // %, same battery
	MetricDiskWear      = "disk_wear"      // %, NVMe percentage used, worst disk
	MetricStorageFree   = "storage_free"   // % free of the fullest filesystem
	MetricWiFiSignal    = "wifi_signal"    // dBm
	MetricCellSignal    = "cell_signal"    // % signal quality
	MetricCellRSRP      = "cell_rsrp"      // dBm
	MetricDataUsed      = "data_used"      // bytes through the default route since boot
)

// Metrics lists every history metric name.
var Metrics = []string{
	MetricBatteryHealth, MetricBatteryCharge, MetricDiskWear, MetricStorageFree,
	MetricWiFiSignal, MetricCellSignal, MetricCellRSRP, MetricDataUsed,
}

// History is the answer of GET /api/v1/devices/{id}/history?metric=M.
type History struct {
	Device string  `json:"device"`
	Metric string  `json:"metric"`
	Points []Point `json:"points"`
}

// EnrollTokenRequest is the body of POST /api/v1/enroll-tokens.
type EnrollTokenRequest struct {
	Class string `json:"class"`
	// Uses is how many devices may enrol with the token; 0 means 1.
	Uses int `json:"uses,omitempty"`
	// Expires is a Go duration ("24h"); empty means 24h.
	Expires string `json:"expires,omitempty"`
	Kit     string `json:"kit,omitempty"`
	Venue   string `json:"venue,omitempty"`
}

// EnrollToken is a created enrolment token. Token is shown only once.
type EnrollToken struct {
	ID        string    `json:"id"`
	Token     string    `json:"token,omitempty"`
	Class     string    `json:"class"`
	Uses      int       `json:"uses"`
	Used      int       `json:"used"`
	ExpiresAt time.Time `json:"expires_at"`
	// Join is the one-line command that enrols a device with this token.
	Join string `json:"join,omitempty"`
}
