package collect

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// memoryTypes names the SMBIOS memory device types (type 17, offset 0x12).
var memoryTypes = map[byte]string{
	0x12: "DDR", 0x13: "DDR2", 0x14: "DDR2 FB-DIMM", 0x18: "DDR3", 0x1A: "DDR4",
	0x1B: "LPDDR", 0x1C: "LPDDR2", 0x1D: "LPDDR3", 0x1E: "LPDDR4", 0x20: "HBM",
	0x21: "HBM2", 0x22: "DDR5", 0x23: "LPDDR5",
}

// memoryModules reads the installed memory devices from the raw SMBIOS
// table (/sys/firmware/dmi/tables/DMI, readable by root only).
func (c *Collector) memoryModules() ([]wire.MemoryModule, error) {
	path := c.path("/sys/firmware/dmi/tables/DMI")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read smbios table: %w", err)
	}
	return parseMemoryDevices(b)
}

// parseMemoryDevices returns the populated SMBIOS type 17 (memory device)
// structures of a raw SMBIOS table.
func parseMemoryDevices(b []byte) ([]wire.MemoryModule, error) {
	var mods []wire.MemoryModule
	for len(b) >= 4 {
		typ, length := b[0], int(b[1])
		if length < 4 || length > len(b) {
			return mods, fmt.Errorf("smbios structure of type %d: bad length %d", typ, length)
		}
		formatted := b[:length]
		// The string set follows the formatted area and ends with two NULs.
		end := bytes.Index(b[length:], []byte{0, 0})
		if end < 0 {
			return mods, fmt.Errorf("smbios structure of type %d: unterminated strings", typ)
		}
		strs := bytes.Split(b[length:length+end], []byte{0})
		b = b[length+end+2:]
		if typ == 127 { // end of table
			break
		}
		if typ != 17 || length < 0x1B {
			continue
		}
		str := func(off int) string {
			if off >= len(formatted) {
				return ""
			}
			i := int(formatted[off])
			if i == 0 || i > len(strs) {
				return ""
			}
			return strings.TrimSpace(string(strs[i-1]))
		}
		size := uint64(binary.LittleEndian.Uint16(formatted[0x0C:]))
		switch {
		case size == 0 || size == 0xFFFF: // empty slot, unknown size
			continue
		case size == 0x7FFF && length >= 0x20:
			size = uint64(binary.LittleEndian.Uint32(formatted[0x1C:])&0x7FFFFFFF) << 20
		case size&0x8000 != 0:
			size = (size & 0x7FFF) << 10
		default:
			size <<= 20
		}
		speed := int(binary.LittleEndian.Uint16(formatted[0x15:]))
		if speed == 0xFFFF {
			speed = 0
			if length >= 0x58 {
				speed = int(binary.LittleEndian.Uint32(formatted[0x54:]))
			}
		}
		mods = append(mods, wire.MemoryModule{
			Locator:    str(0x10),
			SizeBytes:  size,
			Type:       memoryTypes[formatted[0x12]],
			SpeedMTs:   speed,
			Vendor:     str(0x17),
			Serial:     str(0x18),
			PartNumber: str(0x1A),
		})
	}
	return mods, nil
}
