package ingest

import (
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/store"
)

// Figures extracts the history figures from a decoded body (*wire.Health
// or *wire.Net; other bodies have none):
//
//   - battery_health: the worst battery's health %, battery_charge: its charge
//     (or the first charge reported when no battery reports its health);
//   - disk_wear: the highest NVMe percentage used;
//   - storage_free: the free % of the fullest filesystem;
//   - wifi_signal: the Wi-Fi signal in dBm;
//   - cell_signal and cell_rsrp: of the first modem that reports them;
//   - data_used: received + sent bytes of the default-route interface, or of
//     the modems when that interface is not listed.
func Figures(body any) []store.Figure {
	switch b := body.(type) {
	case *wire.Health:
		return healthFigures(b)
	case *wire.Net:
		return netFigures(b)
	}
	return nil
}

func healthFigures(h *wire.Health) []store.Figure {
	var out []store.Figure
	var worst *wire.Battery
	for k := range h.Batteries {
		b := &h.Batteries[k]
		if b.HealthPercent != nil && (worst == nil || *b.HealthPercent < *worst.HealthPercent) {
			worst = b
		}
	}
	if worst != nil {
		out = append(out, store.Figure{Metric: apitype.MetricBatteryHealth, Value: *worst.HealthPercent})
		if worst.ChargePercent != nil {
			out = append(out, store.Figure{Metric: apitype.MetricBatteryCharge, Value: *worst.ChargePercent})
		}
	} else {
		for _, b := range h.Batteries {
			if b.ChargePercent != nil {
				out = append(out, store.Figure{Metric: apitype.MetricBatteryCharge, Value: *b.ChargePercent})
				break
			}
		}
	}
	wear, haveWear := int64(0), false
	for _, d := range h.Disks {
		if d.PercentageUsed != nil && (!haveWear || *d.PercentageUsed > wear) {
			wear, haveWear = *d.PercentageUsed, true
		}
	}
	if haveWear {
		out = append(out, store.Figure{Metric: apitype.MetricDiskWear, Value: float64(wear)})
	}
	if len(h.Filesystems) > 0 {
		used := h.Filesystems[0].UsedPercent
		for _, f := range h.Filesystems[1:] {
			used = max(used, f.UsedPercent)
		}
		out = append(out, store.Figure{Metric: apitype.MetricStorageFree, Value: 100 - used})
	}
	return out
}

func netFigures(n *wire.Net) []store.Figure {
	var out []store.Figure
	if n.WiFi != nil && n.WiFi.SignalDBm != nil {
		out = append(out, store.Figure{Metric: apitype.MetricWiFiSignal, Value: *n.WiFi.SignalDBm})
	}
	var signal, rsrp *float64
	for _, c := range n.Cellular {
		if signal == nil {
			signal = c.SignalPercent
		}
		if rsrp == nil {
			rsrp = c.RSRP
		}
	}
	if signal != nil {
		out = append(out, store.Figure{Metric: apitype.MetricCellSignal, Value: *signal})
	}
	if rsrp != nil {
		out = append(out, store.Figure{Metric: apitype.MetricCellRSRP, Value: *rsrp})
	}
	if n.DefaultRoute != "" {
		for _, i := range n.Interfaces {
			if i.Name == n.DefaultRoute {
				return append(out, store.Figure{Metric: apitype.MetricDataUsed, Value: float64(i.RxBytes + i.TxBytes)})
			}
		}
	}
	if len(n.Cellular) > 0 {
		var used uint64
		for _, c := range n.Cellular {
			used += c.RxBytes + c.TxBytes
		}
		if used > 0 {
			out = append(out, store.Figure{Metric: apitype.MetricDataUsed, Value: float64(used)})
		}
	}
	return out
}
