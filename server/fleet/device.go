package fleet

import (
	"cmp"
	"strconv"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// State is a device's lifecycle state. Only this package changes it.
type State string

// Lifecycle states, as in the design:
//
//	intake -> needs_wipe -> wiping -> wiped -> provisioning -> ready -> on_loan -> needs_wipe ...
//	                  \-> wipe_failed -> (retry) wiping            \-> maintenance -> needs_wipe
//	any -> lost ; lost -> needs_wipe (found) ; wiped -> retired (donated / recycled)
const (
	StateIntake       State = "intake" // enrolled, never wiped by us
	StateNeedsWipe    State = "needs_wipe"
	StateWiping       State = "wiping"
	StateWipeFailed   State = "wipe_failed"
	StateWiped        State = "wiped"
	StateProvisioning State = "provisioning"
	StateReady        State = "ready"
	StateOnLoan       State = "on_loan"
	StateMaintenance  State = "maintenance"
	StateLost         State = "lost"
	StateRetired      State = "retired"
)

// States lists every lifecycle state in the order of the cycle.
var States = []State{
	StateIntake, StateNeedsWipe, StateWiping, StateWipeFailed, StateWiped,
	StateProvisioning, StateReady, StateOnLoan, StateMaintenance, StateLost, StateRetired,
}

// Valid reports whether s is one of the lifecycle states.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Note kinds.
const (
	// NoteHardwareChanged records that a re-enrolment matched the device
	// with other parts than before.
	NoteHardwareChanged = "hardware_changed"
	// NoteEnrolled records a first enrolment or a re-enrolment.
	NoteEnrolled = "enrolled"
	// NoteIdentityConflict records that the device's fingerprint shares
	// identifiers with other devices it was not merged with.
	NoteIdentityConflict = "identity_conflict"
)

// maxNotes bounds Device.Notes; the oldest are dropped first. The audit
// log keeps the full story.
const maxNotes = 32

// Note is a dated remark on a device that people should see.
type Note struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
}

// Device is one managed device as the fleet knows it. Telemetry (online,
// last seen, battery) lives in the store's telemetry buckets, not here.
type Device struct {
	ID       string `json:"id"`
	AssetTag string `json:"asset_tag"`
	Class    string `json:"class"`
	State    State  `json:"state"`
	Vendor   string `json:"vendor,omitempty"`
	Model    string `json:"model,omitempty"`
	Serial   string `json:"serial,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// Fingerprint is the normalised hardware identity of the last enrolment.
	Fingerprint  wire.Fingerprint `json:"fingerprint"`
	AgentVersion string           `json:"agent_version,omitempty"`
	// EnrolledAt is the first enrolment; LastEnrolledAt the latest one.
	EnrolledAt     time.Time `json:"enrolled_at"`
	LastEnrolledAt time.Time `json:"last_enrolled_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// HardwareChanged is set when a re-enrolment matched this device with
	// other parts than before; it stays set until someone clears it.
	HardwareChanged bool `json:"hardware_changed,omitempty"`
	// Kit is the id of the kit the device belongs to; Venue the id of the
	// venue it is assigned to for the long term.
	Kit   string `json:"kit,omitempty"`
	Venue string `json:"venue,omitempty"`
	// Loan is the id of the open loan the device is out on.
	Loan string `json:"loan,omitempty"`
	// Origin: who refurbished or sold the device, when it was acquired
	// and when its warranty ends (from an import).
	Supplier    string    `json:"supplier,omitempty"`
	PurchasedOn time.Time `json:"purchased_on,omitzero"`
	WarrantyEnd time.Time `json:"warranty_end,omitzero"`
	// Notes are the latest remarks (hardware changes, identity conflicts).
	Notes []Note `json:"notes,omitempty"`

	// StateChangedAt is when State last changed; StateReason says why.
	StateChangedAt time.Time `json:"state_changed_at,omitzero"`
	StateReason    string    `json:"state_reason,omitempty"`
	// DeviceKey is the ed25519 public key (base64) the agent made at its
	// latest enrolment; it signs the device's wipe certificates.
	// DeviceKeys lists every key the device has had, newest last, so that
	// certificates signed before a reinstall still verify.
	DeviceKey  string   `json:"device_key,omitempty"`
	DeviceKeys []string `json:"device_keys,omitempty"`
	// LastReturnedAt is the end of the device's latest loan: a certificate
	// older than that does not open the wipe gate.
	LastReturnedAt time.Time `json:"last_returned_at,omitzero"`
	// LastCertificate and LastCertHash are the id and file hash of the
	// device's latest stored certificate, the head of its chain.
	LastCertificate string `json:"last_certificate,omitempty"`
	LastCertHash    string `json:"last_cert_hash,omitempty"`
}

func (d *Device) addNote(n Note) {
	d.Notes = append(d.Notes, n)
	if len(d.Notes) > maxNotes {
		d.Notes = append([]Note(nil), d.Notes[len(d.Notes)-maxNotes:]...)
	}
}

// Filter selects devices in Devices. Empty fields match everything.
type Filter struct {
	Class string
	State State
	// Kit and Venue are ids.
	Kit   string
	Venue string
	// After is the asset tag the page starts after; Limit bounds the page
	// (0: no bound).
	After string
	Limit int
}

// Match reports whether d passes the filter's Class, State, Kit and Venue.
func (f Filter) Match(d Device) bool {
	return (f.Class == "" || d.Class == f.Class) && (f.State == "" || d.State == f.State) &&
		(f.Kit == "" || d.Kit == f.Kit) && (f.Venue == "" || d.Venue == f.Venue)
}

// CompareAssetTags orders asset tags naturally: by the text before the
// trailing number, then by that number, so VAL-0999 < VAL-1000 < VAL-10000.
func CompareAssetTags(a, b string) int {
	pa, na := splitTag(a)
	pb, nb := splitTag(b)
	if c := strings.Compare(pa, pb); c != 0 {
		return c
	}
	if c := cmp.Compare(na, nb); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func splitTag(s string) (string, uint64) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.ParseUint(s[i:], 10, 64)
	if err != nil {
		return s, 0
	}
	return s[:i], n
}
