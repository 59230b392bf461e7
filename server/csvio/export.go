package csvio

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/server/fleet"
)

// Source is what an export reads of the fleet.
type Source interface {
	Devices(filter fleet.Filter) ([]fleet.Device, error)
	Device(ref string) (fleet.Device, error)
	Venues() ([]fleet.Venue, error)
	Kits(after string, limit int) ([]fleet.KitStatus, error)
	Loans(by fleet.Principal, filter fleet.LoanFilter) ([]fleet.LoanStatus, error)
}

// pageSize is how many devices or kits an export reads at a time.
const pageSize = 1000

// ExportKinds lists what Export writes.
var ExportKinds = []string{KindDevices, KindLoans, KindVenues, KindKits}

// Export writes the CSV file of kind (devices, loans, venues or kits) to
// w: a header row with the columns import reads, then one row per record,
// by asset tag, label or name (loans newest first). It reads the fleet a
// page at a time; nothing is written to w before the first page is read,
// so an error that comes back with nothing written can still be answered
// as such.
func Export(src Source, by fleet.Principal, kind string, w io.Writer) error {
	switch kind {
	case KindDevices:
		return exportDevices(src, w)
	case KindVenues:
		return exportVenues(src, w)
	case KindKits:
		return exportKits(src, w)
	case KindLoans:
		return exportLoans(src, by, w)
	}
	return fmt.Errorf("%w: cannot export %q: export %s", fleet.ErrInvalid, kind, strings.Join(ExportKinds, ", "))
}

func venueNames(src Source) (map[string]string, error) {
	vs, err := src.Venues()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	names := make(map[string]string, len(vs))
	for _, v := range vs {
		names[v.ID] = v.Name
	}
	return names, nil
}

func exportDevices(src Source, w io.Writer) error {
	venues, err := venueNames(src)
	if err != nil {
		return err
	}
	page, err := src.Devices(fleet.Filter{Limit: pageSize})
	if err != nil {
		return fmt.Errorf("export devices: %w", err)
	}
	cw, err := NewWriter(w, []string{ColAssetTag, ColSerial, ColClass, ColManufacturer, ColModel,
		ColVenue, ColStatus, ColSupplier, ColPurchased, ColWarranty})
	if err != nil {
		return err
	}
	for len(page) > 0 {
		for _, d := range page {
			err := cw.Write(d.AssetTag, d.Serial, d.Class, d.Vendor, d.Model, venues[d.Venue],
				string(d.State), d.Supplier, Date(d.PurchasedOn), Date(d.WarrantyEnd))
			if err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			break
		}
		if page, err = src.Devices(fleet.Filter{After: page[len(page)-1].AssetTag, Limit: pageSize}); err != nil {
			return fmt.Errorf("export devices: %w", err)
		}
	}
	return cw.Flush()
}

func exportVenues(src Source, w io.Writer) error {
	vs, err := src.Venues()
	if err != nil {
		return fmt.Errorf("export venues: %w", err)
	}
	cw, err := NewWriter(w, Venues.Names())
	if err != nil {
		return err
	}
	for _, v := range vs {
		if err := cw.Write(v.Name, string(v.Kind), v.Commune, v.INSEE, coord(v.Lat), coord(v.Lon), v.Contact); err != nil {
			return err
		}
	}
	return cw.Flush()
}

func coord(x *float64) string {
	if x == nil {
		return ""
	}
	return strconv.FormatFloat(*x, 'f', -1, 64)
}

func exportKits(src Source, w io.Writer) error {
	venues, err := venueNames(src)
	if err != nil {
		return err
	}
	page, err := src.Kits("", pageSize)
	if err != nil {
		return fmt.Errorf("export kits: %w", err)
	}
	cw, err := NewWriter(w, Kits.Names())
	if err != nil {
		return err
	}
	tags := map[string]string{}
	for _, ks := range page {
		for _, kd := range ks.Devices {
			tags[kd.Device.ID] = kd.Device.AssetTag
		}
	}
	for len(page) > 0 {
		for _, ks := range page {
			k := ks.Kit
			devs := make([]string, 0, len(k.Devices))
			for _, id := range k.Devices {
				tag, ok := tags[id]
				if !ok {
					d, err := src.Device(id)
					if err != nil {
						return fmt.Errorf("export kits: kit %s: %w", k.Label, err)
					}
					tag = d.AssetTag
				}
				devs = append(devs, tag)
			}
			if err := cw.Write(k.Label, venues[k.Home], strings.Join(devs, " "), strings.Join(k.Accessories, "; ")); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			break
		}
		if page, err = src.Kits(page[len(page)-1].Kit.Label, pageSize); err != nil {
			return fmt.Errorf("export kits: %w", err)
		}
		for _, ks := range page {
			for _, kd := range ks.Devices {
				tags[kd.Device.ID] = kd.Device.AssetTag
			}
		}
	}
	return cw.Flush()
}

func exportLoans(src Source, by fleet.Principal, w io.Writer) error {
	loans, err := src.Loans(by, fleet.LoanFilter{})
	if err != nil {
		return fmt.Errorf("export loans: %w", err)
	}
	cw, err := NewWriter(w, Loans.Names())
	if err != nil {
		return err
	}
	for _, l := range loans {
		overdue := "no"
		if l.Overdue {
			overdue = "yes"
		}
		err := cw.Write(l.KitLabel, l.BorrowerName, l.VenueName, Time(l.OutAt), Time(l.DueAt),
			Time(l.ReturnedAt), l.Override, overdue)
		if err != nil {
			return err
		}
	}
	return cw.Flush()
}
