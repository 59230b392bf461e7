package csvio

import (
	"fmt"
	"strings"
	"time"

	"github.com/valise-numerique/valise/server/fleet"
)

// Kinds of files.
const (
	KindDevices = "devices"
	KindVenues  = "venues"
	KindKits    = "kits"
	KindLoans   = "loans"
)

// Column names of the files, as exports write them.
const (
	ColAssetTag     = "asset tag"
	ColSerial       = "serial"
	ColClass        = "class"
	ColCategory     = "category"
	ColManufacturer = "manufacturer"
	ColModel        = "model"
	ColVenue        = "venue"
	ColStatus       = "status"
	ColSupplier     = "supplier"
	ColPurchased    = "purchase date"
	ColWarranty     = "warranty expires"

	ColName      = "name"
	ColKind      = "kind"
	ColCommune   = "commune"
	ColINSEE     = "insee"
	ColLatitude  = "latitude"
	ColLongitude = "longitude"
	ColContact   = "contact"

	ColLabel       = "label"
	ColHome        = "home"
	ColDevices     = "devices"
	ColAccessories = "accessories"

	ColKit      = "kit"
	ColBorrower = "borrower"
	ColOut      = "out"
	ColDue      = "due"
	ColReturned = "returned"
	ColOverride = "override"
	ColOverdue  = "overdue"
)

// Devices is the schema of a devices file. Its column names are Valise's,
// Snipe-IT's asset export ones (Asset Tag, Serial, Model, Manufacturer,
// Location, Status, Category, Supplier, Purchase Date, Warranty Expires)
// and French ones; Snipe-IT's other columns are skipped.
var Devices = Schema{
	Kind: KindDevices,
	Columns: []Column{
		{ColAssetTag, []string{"tag", "asset", "étiquette", "numéro d'inventaire", "n° d'inventaire", "inventaire"}},
		{ColSerial, []string{"serial number", "numéro de série", "n° de série", "no de série", "sn"}},
		{ColClass, []string{"classe"}},
		{ColCategory, []string{"catégorie"}},
		{ColManufacturer, []string{"fabricant", "vendor", "marque", "constructeur"}},
		{ColModel, []string{"modèle"}},
		{ColVenue, []string{"location", "lieu", "site"}},
		{ColStatus, []string{"statut", "status label", "état"}},
		{ColSupplier, []string{"fournisseur", "reconditionneur", "refurbisher"}},
		{ColPurchased, []string{"purchased", "date d'achat", "date d'acquisition", "acquisition"}},
		{ColWarranty, []string{"warranty end", "fin de garantie"}},
	},
	Ignored: []string{
		"id", "company", "asset name", "name", "image", "device image", "model no.", "model number",
		"checked out to", "employee number", "default location", "purchase cost", "age",
		"order number", "eol", "warranty", "notes", "checkouts", "checkins", "requests",
		"created at", "updated at", "checkout date", "last checkout", "expected checkin",
		"last audit", "next audit date", "byod", "checkin/checkout", "actions",
	},
	Required: [][]string{{ColAssetTag, ColSerial}},
}

// Venues is the schema of a venues file.
var Venues = Schema{
	Kind: KindVenues,
	Columns: []Column{
		{ColName, []string{"nom", "venue", "lieu"}},
		{ColKind, []string{"type", "genre"}},
		{ColCommune, []string{"city", "ville"}},
		{ColINSEE, []string{"code insee", "insee code", "cog", "code commune"}},
		{ColLatitude, []string{"lat"}},
		{ColLongitude, []string{"lon", "lng", "long"}},
		{ColContact, nil},
	},
	Required: [][]string{{ColName}},
}

// Kits is the schema of a kits file.
var Kits = Schema{
	Kind: KindKits,
	Columns: []Column{
		{ColLabel, []string{"kit", "nom", "name", "étiquette"}},
		{ColHome, []string{"home venue", "venue", "lieu", "lieu d'attache", "location"}},
		{ColDevices, []string{"appareils", "équipements", "assets"}},
		{ColAccessories, []string{"accessoires"}},
	},
	Required: [][]string{{ColLabel}},
}

// Loans lists the columns of a loans export; loans are not imported.
var Loans = Schema{
	Kind: KindLoans,
	Columns: []Column{
		{ColKit, nil}, {ColBorrower, nil}, {ColVenue, nil}, {ColOut, nil}, {ColDue, nil},
		{ColReturned, nil}, {ColOverride, nil}, {ColOverdue, nil},
	},
}

// DeviceRows turns the rows of a devices file into fleet rows. Cells that
// do not parse (dates) are reported and left zero.
func DeviceRows(f *File) ([]fleet.DeviceRow, []fleet.RowError) {
	var errs []fleet.RowError
	out := make([]fleet.DeviceRow, 0, len(f.Rows))
	for _, r := range f.Rows {
		d := fleet.DeviceRow{
			Line:         r.Line,
			AssetTag:     r.Get(ColAssetTag),
			Serial:       r.Get(ColSerial),
			Model:        r.Get(ColModel),
			Manufacturer: r.Get(ColManufacturer),
			Class:        strings.ToLower(r.Get(ColClass)),
			Venue:        r.Get(ColVenue),
			Status:       r.Get(ColStatus),
			Supplier:     r.Get(ColSupplier),
		}
		if d.Class == "" && r.Get(ColCategory) != "" {
			d.Class = ClassOfCategory(r.Get(ColCategory))
		}
		for _, c := range []struct {
			col string
			dst *time.Time
		}{{ColPurchased, &d.PurchasedOn}, {ColWarranty, &d.WarrantyEnd}} {
			v := r.Get(c.col)
			if v == "" {
				continue
			}
			t, err := ParseDate(v)
			if err != nil {
				errs = append(errs, fleet.RowError{Line: r.LineOf(c.col), Column: c.col, Message: err.Error()})
				continue
			}
			*c.dst = t
		}
		out = append(out, d)
	}
	return out, errs
}

// ClassOfCategory maps a Snipe-IT category to a device class: laptops,
// notebooks -> laptop; tablets -> tablet; hotspots, routers, modems ->
// hotspot; anything else -> other.
func ClassOfCategory(category string) string {
	k := fleet.NameKey(category)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(k, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("laptop", "notebook", "portable", "chromebook"):
		return "laptop"
	case has("tablet"):
		return "tablet"
	case has("hotspot", "router", "routeur", "modem", "mifi", "4g", "5g"):
		return "hotspot"
	}
	return "other"
}

// VenueRows turns the rows of a venues file into fleet rows. Coordinates
// that do not parse are reported and left out.
func VenueRows(f *File) ([]fleet.VenueRow, []fleet.RowError) {
	var errs []fleet.RowError
	out := make([]fleet.VenueRow, 0, len(f.Rows))
	for _, r := range f.Rows {
		v := fleet.Venue{
			Name:    r.Get(ColName),
			Kind:    fleet.VenueKind(r.Get(ColKind)),
			Commune: r.Get(ColCommune),
			INSEE:   r.Get(ColINSEE),
			Contact: r.Get(ColContact),
		}
		badCoord := false
		for _, c := range []struct {
			col string
			dst **float64
		}{{ColLatitude, &v.Lat}, {ColLongitude, &v.Lon}} {
			s := r.Get(c.col)
			if s == "" {
				continue
			}
			x, err := ParseCoord(s)
			if err != nil {
				errs = append(errs, fleet.RowError{Line: r.LineOf(c.col), Column: c.col, Message: err.Error()})
				badCoord = true
				continue
			}
			*c.dst = &x
		}
		if badCoord { // reported; the fleet need not see half a position
			v.Lat, v.Lon = nil, nil
		}
		out = append(out, fleet.VenueRow{Line: r.Line, Venue: v})
	}
	return out, errs
}

// KitRows turns the rows of a kits file into fleet rows: devices are
// separated by spaces, ',' or ';'; accessories by ';' or '|'.
func KitRows(f *File) ([]fleet.KitRow, []fleet.RowError) {
	out := make([]fleet.KitRow, 0, len(f.Rows))
	for _, r := range f.Rows {
		k := fleet.KitRow{Line: r.Line, Label: r.Get(ColLabel), Home: r.Get(ColHome)}
		if devs := r.Get(ColDevices); devs != "" {
			k.Devices = strings.FieldsFunc(devs, func(c rune) bool {
				return c == ',' || c == ';' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
			})
		}
		for _, a := range strings.FieldsFunc(r.Get(ColAccessories), func(c rune) bool { return c == ';' || c == '|' || c == '\n' }) {
			if a = strings.TrimSpace(a); a != "" {
				k.Accessories = append(k.Accessories, a)
			}
		}
		out = append(out, k)
	}
	return out, nil
}

// schemaOf returns the schema of an importable kind.
func schemaOf(kind string) (Schema, error) {
	switch kind {
	case KindDevices:
		return Devices, nil
	case KindVenues:
		return Venues, nil
	case KindKits:
		return Kits, nil
	}
	return Schema{}, fmt.Errorf("%w: cannot import %q: import devices, venues or kits", fleet.ErrInvalid, kind)
}
