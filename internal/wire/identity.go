package wire

import (
	"regexp"
	"slices"
	"strings"
)

// Fingerprint is the hardware identity a device presents at enrolment. Every
// field is normalised (see Normalize): placeholders are dropped, so an empty
// field means "unknown", never "matches anything".
type Fingerprint struct {
	UUID            string   `json:"uuid,omitempty"`             // SMBIOS system UUID, lower case
	SystemSerial    string   `json:"system_serial,omitempty"`    // SMBIOS system serial
	BaseboardSerial string   `json:"baseboard_serial,omitempty"` // SMBIOS baseboard serial
	MACs            []string `json:"macs,omitempty"`             // permanent MACs of onboard, physical NICs
	DiskSerials     []string `json:"disk_serials,omitempty"`     // serials of internal disks
	IMEIs           []string `json:"imeis,omitempty"`            // modems of hotspots and tablets
	AssetTag        string   `json:"asset_tag,omitempty"`        // given by a technician
}

// FingerprintOf derives the fingerprint of an inventory. Removable and
// virtual disks and virtual NICs are left out: a USB stick or a docker
// bridge says nothing about which machine this is.
func FingerprintOf(inv *Inventory) Fingerprint {
	f := Fingerprint{
		UUID:            inv.System.UUID,
		SystemSerial:    inv.System.Serial,
		BaseboardSerial: inv.Baseboard.Serial,
	}
	for _, n := range inv.NICs {
		if n.Virtual || n.Bus == "usb" {
			continue
		}
		mac := n.PermanentMAC
		if mac == "" {
			mac = n.MAC
		}
		f.MACs = append(f.MACs, mac)
	}
	for _, d := range inv.Disks {
		if d.Removable || d.Type == DiskVirtual || d.Bus == "usb" {
			continue
		}
		f.DiskSerials = append(f.DiskSerials, d.Serial)
	}
	for _, m := range inv.Modems {
		f.IMEIs = append(f.IMEIs, m.IMEI)
	}
	return f.Normalize()
}

// Normalize returns f with every identifier in canonical form and every
// placeholder removed; lists are sorted and deduplicated.
func (f Fingerprint) Normalize() Fingerprint {
	out := Fingerprint{
		UUID:            NormalizeUUID(f.UUID),
		SystemSerial:    NormalizeSerial(f.SystemSerial),
		BaseboardSerial: NormalizeSerial(f.BaseboardSerial),
		AssetTag:        strings.ToUpper(strings.TrimSpace(f.AssetTag)),
	}
	out.MACs = normList(f.MACs, NormalizeMAC)
	out.DiskSerials = normList(f.DiskSerials, NormalizeSerial)
	out.IMEIs = normList(f.IMEIs, NormalizeIMEI)
	return out
}

// Empty reports whether f holds no identifier at all.
func (f Fingerprint) Empty() bool {
	return f.UUID == "" && f.SystemSerial == "" && f.BaseboardSerial == "" &&
		len(f.MACs) == 0 && len(f.DiskSerials) == 0 && len(f.IMEIs) == 0 && f.AssetTag == ""
}

func normList(in []string, norm func(string) string) []string {
	var out []string
	for _, s := range in {
		if n := norm(s); n != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// badUUIDs are SMBIOS UUIDs that firmware vendors ship on many machines.
var badUUIDs = map[string]bool{
	"00000000-0000-0000-0000-000000000000": true,
	"ffffffff-ffff-ffff-ffff-ffffffffffff": true,
	"03000200-0400-0500-0006-000700080009": true,
	"00020003-0004-0005-0006-000700080009": true,
	"12345678-1234-5678-90ab-cddeefaabbcc": true,
}

// NormalizeUUID lower-cases an SMBIOS UUID and returns "" for anything that
// is not a UUID or is a known placeholder (all zeros, all F, the AMI
// 03000200-0400-0500-0006-000700080009 family).
func NormalizeUUID(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !uuidRe.MatchString(s) || badUUIDs[s] {
		return ""
	}
	return s
}

// placeholderSerials are serials written by firmware that was never filled in.
var placeholderSerials = map[string]bool{
	"to be filled by o.e.m.": true, "to be filled by oem": true,
	"default string": true, "system serial number": true, "chassis serial number": true,
	"base board serial number": true, "not specified": true, "not applicable": true,
	"not available": true, "none": true, "unknown": true, "n/a": true, "na": true,
	"oem": true, "o.e.m.": true, "serial": true, "invalid": true, "empty": true,
	"0": true, "00000000": true, "0000000000": true, "123456789": true, "1234567890": true,
	"0123456789": true, "xxxxxxxxxx": true, "ffffffff": true, "sn12345678": true,
}

// NormalizeSerial trims a serial number and returns "" for placeholders such
// as "To be filled by O.E.M.", "Default string" or "123456789", for serials
// of one repeated character, and for ones shorter than 4 characters.
func NormalizeSerial(s string) string {
	s = strings.Trim(strings.TrimSpace(s), "\x00")
	if len(s) < 4 || placeholderSerials[strings.ToLower(s)] {
		return ""
	}
	if strings.Count(s, s[:1]) == len(s) { // "0000000", "XXXXXX", "......."
		return ""
	}
	return strings.ToUpper(s)
}

// NormalizeMAC returns a MAC as lower-case colon-separated hex, or "" for
// anything that is not a unicast, globally or locally administered physical
// address (all zeros, broadcast, multicast).
func NormalizeMAC(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.ReplaceAll(s, "-", ":")
	if len(s) != 17 {
		return ""
	}
	for i := 0; i < 17; i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return ""
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	if s == "00:00:00:00:00:00" || s == "ff:ff:ff:ff:ff:ff" {
		return ""
	}
	if first := strings.IndexByte("0123456789abcdef", s[1]); first&1 == 1 { // multicast bit
		return ""
	}
	return s
}

// NormalizeIMEI returns the 15 digits of an IMEI, or "" if s does not hold
// 14 to 16 digits (IMEI, IMEI with check digit, IMEISV) or holds only zeros.
func NormalizeIMEI(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '/':
		default:
			return ""
		}
	}
	d := b.String()
	if len(d) < 14 || len(d) > 16 || strings.Trim(d, "0") == "" {
		return ""
	}
	if len(d) != 15 { // bare IMEI or IMEISV: recompute the Luhn check digit
		d = d[:14] + imeiCheckDigit(d[:14])
	}
	return d
}

func imeiCheckDigit(d14 string) string {
	sum := 0
	for i, r := range d14 {
		n := int(r - '0')
		if i%2 == 1 {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return string(rune('0' + (10-sum%10)%10))
}
