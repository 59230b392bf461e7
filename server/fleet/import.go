package fleet

import (
	"fmt"
	"time"
)

// RowError is one bad field of an imported row.
type RowError struct {
	// Line is the row's line number in the file (the header is line 1).
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// String words the error as imports report it: "line 4, serial: same
// serial as line 2".
func (e RowError) String() string {
	switch {
	case e.Line == 0 && e.Column == "":
		return e.Message
	case e.Line == 0:
		return e.Column + ": " + e.Message
	case e.Column == "":
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return fmt.Sprintf("line %d, %s: %s", e.Line, e.Column, e.Message)
}

// ImportReport is what an import did, or would do in a dry run.
type ImportReport struct {
	Kind    string `json:"kind"` // devices, venues, kits
	DryRun  bool   `json:"dry_run"`
	Rows    int    `json:"rows"`
	Created int    `json:"created"`
	// Updated counts the rows that change an existing record; Unchanged
	// the rows that match one and change nothing (an export imported
	// back).
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	// Errors are the bad fields, when the import is refused.
	Errors []RowError `json:"errors,omitempty"`
}

// DeviceRow is one device of an import: a device known before any agent
// enrols on it (from a refurbisher's delivery note or a Snipe-IT export).
// Venue and Kit are names or ids; Status is a lifecycle state or a
// Snipe-IT status label.
type DeviceRow struct {
	Line         int
	AssetTag     string
	Serial       string
	Model        string
	Manufacturer string
	Class        string
	Venue        string
	Status       string
	// Supplier, PurchasedOn and WarrantyEnd are the device's origin.
	Supplier    string
	PurchasedOn time.Time
	WarrantyEnd time.Time
}

// VenueRow is one venue of an import.
type VenueRow struct {
	Line  int
	Venue Venue
}

// KitRow is one kit of an import: Devices are asset tags or serials,
// Home a venue name or id.
type KitRow struct {
	Line        int
	Label       string
	Home        string
	Devices     []string
	Accessories []string
}

// ImportDevices validates every row against the file and the fleet, and
// writes them all in one transaction, or nothing: any bad row gives a
// *RefusedError (ErrInvalid) with one line per RowError. dryRun validates
// only. Logistics and admins only.
func (f *Fleet) ImportDevices(by Principal, rows []DeviceRow, dryRun bool) (ImportReport, error) {
	return ImportReport{}, errUnimplemented
}

// ImportVenues is ImportDevices for venues.
func (f *Fleet) ImportVenues(by Principal, rows []VenueRow, dryRun bool) (ImportReport, error) {
	return ImportReport{}, errUnimplemented
}

// ImportKits is ImportDevices for kits.
func (f *Fleet) ImportKits(by Principal, rows []KitRow, dryRun bool) (ImportReport, error) {
	return ImportReport{}, errUnimplemented
}
