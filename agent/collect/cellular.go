package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// mmModem is the part of `mmcli -m N -J` the agent uses. mmcli prints every
// value as a string and "--" for a missing one.
type mmModem struct {
	Modem struct {
		DBusPath string `json:"dbus-path"`
		ThreeGPP struct {
			IMEI              string `json:"imei"`
			OperatorCode      string `json:"operator-code"`
			OperatorName      string `json:"operator-name"`
			RegistrationState string `json:"registration-state"`
		} `json:"3gpp"`
		Generic struct {
			AccessTechnologies  json.RawMessage `json:"access-technologies"` // a list, or a string before ModemManager 1.10
			EquipmentIdentifier string          `json:"equipment-identifier"`
			Manufacturer        string          `json:"manufacturer"`
			Model               string          `json:"model"`
			Revision            string          `json:"revision"`
			Ports               []string        `json:"ports"`
			SignalQuality       struct {
				Value string `json:"value"`
			} `json:"signal-quality"`
			SIM   string `json:"sim"`
			State string `json:"state"`
		} `json:"generic"`
	} `json:"modem"`
}

// mmSignal is `mmcli -m N --signal-get -J`: one object per technology.
type mmSignal struct {
	Modem struct {
		Signal map[string]map[string]string `json:"signal"`
	} `json:"modem"`
}

// mmSIM is `mmcli -i N -J`.
type mmSIM struct {
	SIM struct {
		Properties struct {
			ICCID string `json:"iccid"`
		} `json:"properties"`
	} `json:"sim"`
}

// mmValue turns mmcli's "--" into "".
func mmValue(s string) string {
	if s == "--" {
		return ""
	}
	return strings.TrimSpace(s)
}

// mmNumber parses an mmcli number ("-97.00"), nil for "--".
func mmNumber(s string) *float64 {
	f, err := strconv.ParseFloat(mmValue(s), 64)
	if err != nil {
		return nil
	}
	return &f
}

// mmModems lists ModemManager's modems by index. The index changes when a
// modem is replugged, so it is looked up at every collection. No mmcli, or
// no ModemManager running, means no modem.
func (c *Collector) mmModems(ctx context.Context) ([]string, error) {
	out, err := c.exec(ctx, "mmcli", "-L", "-J")
	if missingTool(err) || (err != nil && strings.Contains(err.Error(), "ModemManager")) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var l struct {
		List []string `json:"modem-list"`
	}
	if err := json.Unmarshal(out, &l); err != nil {
		return nil, fmt.Errorf("parse mmcli -L: %w", err)
	}
	idx := make([]string, 0, len(l.List))
	for _, p := range l.List {
		idx = append(idx, path.Base(p))
	}
	return idx, nil
}

func (c *Collector) mmModem(ctx context.Context, idx string) (mmModem, error) {
	var m mmModem
	out, err := c.exec(ctx, "mmcli", "-m", idx, "-J")
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(out, &m); err != nil {
		return m, fmt.Errorf("parse mmcli -m %s: %w", idx, err)
	}
	return m, nil
}

// collectModems reports the identity of each ModemManager modem.
func collectModems(ctx context.Context, c *Collector, inv *wire.Inventory) error {
	idx, err := c.mmModems(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, i := range idx {
		m, err := c.mmModem(ctx, i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g := m.Modem.Generic
		inv.Modems = append(inv.Modems, wire.Modem{
			Manufacturer: mmValue(g.Manufacturer),
			Model:        mmValue(g.Model),
			Firmware:     mmValue(g.Revision),
			IMEI:         firstNonEmpty(mmValue(m.Modem.ThreeGPP.IMEI), mmValue(g.EquipmentIdentifier)),
		})
	}
	return errors.Join(errs...)
}

// collectCellular reports registration, signal and data use of each
// ModemManager modem. Extended signal values (RSSI, RSRP, RSRQ, SINR) need
// ModemManager to poll them: when it does not, the collector enables the
// polling once per modem (`--signal-setup=60`) and the values appear from
// the next sample on.
func collectCellular(ctx context.Context, c *Collector, n *wire.Net) error {
	idx, err := c.mmModems(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, i := range idx {
		m, err := c.mmModem(ctx, i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g, t := m.Modem.Generic, m.Modem.ThreeGPP
		cell := wire.Cellular{
			Modem:         i,
			Manufacturer:  mmValue(g.Manufacturer),
			Model:         mmValue(g.Model),
			IMEI:          firstNonEmpty(mmValue(t.IMEI), mmValue(g.EquipmentIdentifier)),
			State:         mmValue(g.State),
			Operator:      mmValue(t.OperatorName),
			OperatorCode:  mmValue(t.OperatorCode),
			AccessTech:    accessTech(g.AccessTechnologies),
			SignalPercent: mmNumber(g.SignalQuality.Value),
		}
		if sim := mmValue(g.SIM); sim != "" && sim != "/" {
			cell.ICCID, err = c.mmICCID(ctx, path.Base(sim))
			if err != nil {
				errs = append(errs, err)
			}
		}
		if err := c.mmSignal(ctx, i, cell.IMEI, &cell); err != nil {
			errs = append(errs, err)
		}
		for _, p := range g.Ports {
			if name, ok := strings.CutSuffix(p, " (net)"); ok {
				dir := c.path("/sys/class/net", name, "statistics")
				cell.RxBytes += readUint(dir + "/rx_bytes")
				cell.TxBytes += readUint(dir + "/tx_bytes")
			}
		}
		n.Cellular = append(n.Cellular, cell)
	}
	return errors.Join(errs...)
}

// accessTech joins ModemManager's access technologies ("lte", "umts, hsdpa").
func accessTech(raw json.RawMessage) string {
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		list = strings.Split(s, ",")
	}
	var out []string
	for _, s := range list {
		if s = mmValue(s); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

func (c *Collector) mmICCID(ctx context.Context, sim string) (string, error) {
	out, err := c.exec(ctx, "mmcli", "-i", sim, "-J")
	if err != nil {
		return "", err
	}
	var s mmSIM
	if err := json.Unmarshal(out, &s); err != nil {
		return "", fmt.Errorf("parse mmcli -i %s: %w", sim, err)
	}
	return mmValue(s.SIM.Properties.ICCID), nil
}

// signalKeys are the technologies of `--signal-get`, best first: the first
// one with a value fills the sample.
var signalKeys = []string{"5g", "lte", "umts", "gsm", "evdo", "cdma1x"}

func (c *Collector) mmSignal(ctx context.Context, idx, id string, cell *wire.Cellular) error {
	out, err := c.exec(ctx, "mmcli", "-m", idx, "--signal-get", "-J")
	if err != nil {
		return err
	}
	var s mmSignal
	if err := json.Unmarshal(out, &s); err != nil {
		return fmt.Errorf("parse mmcli --signal-get: %w", err)
	}
	sig := s.Modem.Signal
	for _, tech := range signalKeys {
		v := sig[tech]
		rssi, rsrp, rsrq := mmNumber(v["rssi"]), mmNumber(v["rsrp"]), mmNumber(v["rsrq"])
		sinr := mmNumber(firstNonEmpty(mmValue(v["snr"]), mmValue(v["sinr"]), mmValue(v["s/n"])))
		if rssi == nil && rsrp == nil && rsrq == nil && sinr == nil {
			continue
		}
		cell.RSSI, cell.RSRP, cell.RSRQ, cell.SINR = rssi, rsrp, rsrq, sinr
		return nil
	}
	if rate := mmValue(sig["refresh"]["rate"]); rate == "" || rate == "0" {
		c.mu.Lock()
		done := c.signalSetUp[id]
		c.signalSetUp[id] = true
		c.mu.Unlock()
		if !done {
			// Failure is harmless: the sample simply lacks these values.
			if _, err := c.exec(ctx, "mmcli", "-m", idx, "--signal-setup=60"); err != nil {
				c.log.Debug("enable modem signal polling", "modem", idx, "error", err)
			}
		}
	}
	return nil
}
