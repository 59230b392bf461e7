package collect

import (
	"context"
	"path/filepath"
	"slices"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectTemperatures reads hwmon sensors (temp*_input, millidegrees, named
// "<chip>/<label>") and the thermal zones that have no hwmon device of
// their own ("thermal/<type>"). Readings outside
// -40…150 °C are sensor garbage and left out.
func collectTemperatures(ctx context.Context, c *Collector, h *wire.Health) error {
	add := func(sensor, path string) {
		v, ok := readInt(path)
		if !ok {
			return
		}
		if t := float64(v) / 1000; t > -40 && t < 150 {
			h.Temperatures = append(h.Temperatures, wire.Temperature{Sensor: sensor, Celsius: round1(t)})
		}
	}
	hwmon := c.path("/sys/class/hwmon")
	chips := map[string]bool{}
	for _, hw := range listDir(hwmon) {
		dir := filepath.Join(hwmon, hw)
		chip := firstNonEmpty(readString(dir+"/name"), hw)
		chips[chip] = true
		for _, f := range listDir(dir) {
			base, ok := strings.CutSuffix(f, "_input")
			if !ok || !strings.HasPrefix(base, "temp") {
				continue
			}
			label := firstNonEmpty(readString(dir+"/"+base+"_label"), base)
			add(chip+"/"+label, filepath.Join(dir, f))
		}
	}
	thermal := c.path("/sys/class/thermal")
	for _, z := range listDir(thermal) {
		if !strings.HasPrefix(z, "thermal_zone") {
			continue
		}
		dir := filepath.Join(thermal, z)
		typ := firstNonEmpty(readString(dir+"/type"), z)
		if chips[typ] { // the thermal zone already has a hwmon device (acpitz)
			continue
		}
		add("thermal/"+typ, dir+"/temp")
	}
	slices.SortStableFunc(h.Temperatures, func(a, b wire.Temperature) int { return strings.Compare(a.Sensor, b.Sensor) })
	return nil
}
