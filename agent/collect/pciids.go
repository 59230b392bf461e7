package collect

import (
	"bufio"
	"os"
	"strings"
)

// pciID is a PCI vendor and device id, as four lower-case hex digits each.
type pciID struct{ vendor, device string }

// pciIDsPaths are where distributions install the PCI ID database.
var pciIDsPaths = []string{"/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids"}

// pciNames resolves vendor and device names of ids in one streaming pass
// over pci.ids: nothing of the 1.3 MB database stays in memory, which keeps
// the agent's resident size small between inventories. Unknown ids, or a
// missing database, leave names out.
func (c *Collector) pciNames(ids []pciID) (vendors map[string]string, devices map[pciID]string) {
	vendors, devices = map[string]string{}, map[pciID]string{}
	if len(ids) == 0 {
		return vendors, devices
	}
	want := map[string]map[string]bool{}
	last := ""
	for _, id := range ids {
		if want[id.vendor] == nil {
			want[id.vendor] = map[string]bool{}
		}
		want[id.vendor][id.device] = true
		last = max(last, id.vendor)
	}
	var f *os.File
	for _, p := range pciIDsPaths {
		var err error
		if f, err = os.Open(c.path(p)); err == nil {
			break
		}
	}
	if f == nil {
		return vendors, devices
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	vendor := ""
	for sc.Scan() {
		line := sc.Bytes() // not converted: the database has 40,000 lines
		switch {
		case len(line) == 0 || line[0] == '#':
		case line[0] == 'C' && len(line) > 1 && line[1] == ' ': // device classes follow the vendors
			return vendors, devices
		case line[0] != '\t':
			if len(line) < 7 {
				continue
			}
			vendor = strings.ToLower(string(line[:4]))
			if vendor > last { // vendors are sorted: nothing left to find
				return vendors, devices
			}
			if want[vendor] != nil {
				vendors[vendor] = strings.TrimSpace(string(line[4:]))
			}
		case len(line) > 7 && line[1] != '\t' && want[vendor] != nil:
			dev := strings.ToLower(string(line[1:5]))
			if want[vendor][dev] {
				devices[pciID{vendor, dev}] = strings.TrimSpace(string(line[5:]))
			}
		}
	}
	return vendors, devices
}

// hexID turns a sysfs id ("0x8086") into four lower-case hex digits.
func hexID(s string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
}
