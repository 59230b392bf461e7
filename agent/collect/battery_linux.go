package collect

import (
	"context"
	"path/filepath"

	"github.com/valise-numerique/valise/internal/wire"
)

// batteryDirs returns the power_supply entries that are system batteries:
// type Battery, and not the battery of a peripheral (scope Device: mice,
// keyboards, headsets).
func (c *Collector) batteryDirs() []string {
	dir := c.path("/sys/class/power_supply")
	var out []string
	for _, name := range listDir(dir) {
		p := filepath.Join(dir, name)
		if readString(p+"/type") != "Battery" || readString(p+"/scope") == "Device" {
			continue
		}
		out = append(out, p)
	}
	return out
}

// collectBatteryInfo reports the identity of each battery. Energies are in
// µWh, charges in µAh and voltages in µV in sysfs.
func collectBatteryInfo(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	for _, p := range c.batteryDirs() {
		inv.Batteries = append(inv.Batteries, wire.BatteryInfo{
			Name:               filepath.Base(p),
			Manufacturer:       readString(p + "/manufacturer"),
			Model:              readString(p + "/model_name"),
			Serial:             readString(p + "/serial_number"),
			Technology:         readString(p + "/technology"),
			DesignCapacityWh:   micro(p + "/energy_full_design"),
			DesignCapacitymAh:  milli(p + "/charge_full_design"),
			DesignVoltageVolts: micro(p + "/voltage_min_design"),
		})
	}
	return nil
}

// collectBatteries reports each battery's state. Health is full capacity
// over design capacity, in energy when the battery reports energy, else in
// charge; it is left out when either is missing or zero (some firmware
// reports nothing until the first full charge).
func collectBatteries(ctx context.Context, c *Collector, h *wire.Health) error {
	for _, p := range c.batteryDirs() {
		b := wire.Battery{
			Name:      filepath.Base(p),
			Status:    readString(p + "/status"),
			FullWh:    micro(p + "/energy_full"),
			DesignWh:  micro(p + "/energy_full_design"),
			FullmAh:   milli(p + "/charge_full"),
			DesignmAh: milli(p + "/charge_full_design"),
		}
		if v, ok := readInt(p + "/capacity"); ok && v >= 0 && v <= 100 {
			b.ChargePercent = ptr(float64(v))
		}
		ef, _ := readInt(p + "/energy_full")
		ed, _ := readInt(p + "/energy_full_design")
		cf, _ := readInt(p + "/charge_full")
		cd, _ := readInt(p + "/charge_full_design")
		switch {
		case ef > 0 && ed > 0:
			b.HealthPercent = ptr(round1(float64(ef) / float64(ed) * 100))
		case cf > 0 && cd > 0:
			b.HealthPercent = ptr(round1(float64(cf) / float64(cd) * 100))
		}
		if b.HealthPercent != nil && *b.HealthPercent > 200 { // nonsense from broken firmware
			b.HealthPercent = nil
		}
		if v, ok := readInt(p + "/cycle_count"); ok && v >= 0 {
			b.CycleCount = ptr(int(v))
		}
		if v, ok := readInt(p + "/power_now"); ok && v != 0 {
			b.PowerW = ptr(round1(float64(abs(v)) / 1e6))
		} else if i, ok := readInt(p + "/current_now"); ok && i != 0 {
			if u, ok := readInt(p + "/voltage_now"); ok {
				b.PowerW = ptr(round1(float64(abs(i)) / 1e6 * float64(u) / 1e6))
			}
		}
		h.Batteries = append(h.Batteries, b)
	}
	return nil
}

// micro reads a sysfs value in micro-units and returns it in units, rounded
// to 0.01 (Wh, V).
func micro(path string) float64 {
	v, ok := readInt(path)
	if !ok || v <= 0 {
		return 0
	}
	return float64(v/10000) / 100
}

// milli reads a sysfs value in micro-units and returns it in milli-units
// (mAh).
func milli(path string) float64 {
	v, ok := readInt(path)
	if !ok || v <= 0 {
		return 0
	}
	return float64(v / 1000)
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
