package wire

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalizeSerial(t *testing.T) {
	tests := map[string]string{
		"  PF1ABCDE ":            "PF1ABCDE",
		"pf1abcde":               "PF1ABCDE",
		"To be filled by O.E.M.": "",
		"Default string":         "",
		"123456789":              "",
		"System Serial Number":   "",
		"0000000000":             "",
		"XXXXXXXX":               "",
		"ABC":                    "",
		"5CG8123XYZ\x00":         "5CG8123XYZ",
	}
	for in, want := range tests {
		if got := NormalizeSerial(in); got != want {
			t.Errorf("NormalizeSerial(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeUUID(t *testing.T) {
	tests := map[string]string{
		"4C4C4544-0042-3510-8056-B4C04F4B4D32": "4c4c4544-0042-3510-8056-b4c04f4b4d32",
		"03000200-0400-0500-0006-000700080009": "",
		"00000000-0000-0000-0000-000000000000": "",
		"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF": "",
		"not-a-uuid":                           "",
		"":                                     "",
	}
	for in, want := range tests {
		if got := NormalizeUUID(in); got != want {
			t.Errorf("NormalizeUUID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeMACAndIMEI(t *testing.T) {
	macs := map[string]string{
		"8C-16-45-AB-CD-EF": "8c:16:45:ab:cd:ef",
		"00:00:00:00:00:00": "",
		"ff:ff:ff:ff:ff:ff": "",
		"01:00:5e:00:00:01": "", // multicast
		"8c:16:45:ab:cd":    "",
	}
	for in, want := range macs {
		if got := NormalizeMAC(in); got != want {
			t.Errorf("NormalizeMAC(%q) = %q, want %q", in, got, want)
		}
	}
	imeis := map[string]string{
		"490154203237518":    "490154203237518",
		"49015420323751":     "490154203237518", // check digit added
		"4901542032375101":   "490154203237518", // IMEISV
		"49-015420-323751-8": "490154203237518",
		"000000000000000":    "",
		"12345":              "",
		"4901542032375x8":    "",
	}
	for in, want := range imeis {
		if got := NormalizeIMEI(in); got != want {
			t.Errorf("NormalizeIMEI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFingerprintOf(t *testing.T) {
	inv := Inventory{
		System:    System{Serial: "To be filled by O.E.M.", UUID: "03000200-0400-0500-0006-000700080009"},
		Baseboard: Baseboard{Serial: "L1HF81G00AB"},
		NICs: []NIC{
			{Name: "enp0s31f6", MAC: "8c:16:45:00:00:01", PermanentMAC: "8C:16:45:00:00:02"},
			{Name: "docker0", MAC: "02:42:ac:11:00:01", Virtual: true},
			{Name: "enx001", MAC: "00:e0:4c:00:00:03", Bus: "usb"},
		},
		Disks: []Disk{
			{Name: "nvme0n1", Serial: "S4EWNX0N123456", Type: DiskNVMe},
			{Name: "sdb", Serial: "USB-STICK-1", Removable: true},
		},
		Modems: []Modem{{IMEI: "49015420323751"}},
	}
	want := Fingerprint{
		BaseboardSerial: "L1HF81G00AB",
		MACs:            []string{"8c:16:45:00:00:02"},
		DiskSerials:     []string{"S4EWNX0N123456"},
		IMEIs:           []string{"490154203237518"},
	}
	if diff := cmp.Diff(want, FingerprintOf(&inv)); diff != "" {
		t.Errorf("FingerprintOf (-want +got):\n%s", diff)
	}
	if !(Fingerprint{SystemSerial: "Default string"}).Normalize().Empty() {
		t.Error("a fingerprint of placeholders is not empty")
	}
}
