package collect

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/shirou/gopsutil/v4/sensors"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectTemperatures reads the sensors through gopsutil: the hwmon sensors
// (temp*_input, named "<chip>_<label>", the label lower-cased with "_" for
// blanks: "coretemp_core_0"), or, on machines without hwmon (many ARM
// boards), the thermal zones by type. Readings outside -40…150 °C are
// sensor garbage and left out. A sensor gopsutil could not read is
// reported in the error, the others are kept.
func collectTemperatures(ctx context.Context, c *Collector, h *wire.Health) error {
	temps, err := sensors.TemperaturesWithContext(c.psContext(ctx))
	for _, t := range temps {
		if t.Temperature > -40 && t.Temperature < 150 {
			h.Temperatures = append(h.Temperatures, wire.Temperature{Sensor: t.SensorKey, Celsius: round1(t.Temperature)})
		}
	}
	slices.SortStableFunc(h.Temperatures, func(a, b wire.Temperature) int { return strings.Compare(a.Sensor, b.Sensor) })
	if err != nil {
		return fmt.Errorf("read temperatures: %w", err)
	}
	return nil
}
