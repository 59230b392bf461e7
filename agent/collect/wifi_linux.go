package collect

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectWiFi describes the Wi-Fi link of the first wireless interface that
// is up (the first one at all when none is): signal and link quality from
// /proc/net/wireless, SSID, BSSID, frequency and bit rate from `iw dev X
// link` when iw is installed. A machine without Wi-Fi has no WiFi entry.
func collectWiFi(ctx context.Context, c *Collector, n *wire.Net) error {
	dir := c.path("/sys/class/net")
	iface := ""
	for _, name := range listDir(dir) {
		p := filepath.Join(dir, name)
		if !exists(p+"/wireless") && !exists(p+"/phy80211") {
			continue
		}
		if iface == "" || interfaceUp(p) {
			iface = name
		}
		if interfaceUp(p) {
			break
		}
	}
	if iface == "" {
		return nil
	}
	w := &wire.WiFi{Interface: iface}
	n.WiFi = w
	w.Quality, w.SignalDBm = procWireless(c.path("/proc/net/wireless"), iface)
	out, err := c.exec(ctx, "iw", "dev", iface, "link")
	switch {
	case missingTool(err):
		return nil
	case err != nil:
		return err
	}
	parseIWLink(out, w)
	return nil
}

// procWireless reads an interface's link quality (out of 70, as a percent)
// and signal level (dBm) from /proc/net/wireless.
func procWireless(path, iface string) (quality, signal *float64) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != iface {
			continue
		}
		// status link level noise …
		fl := strings.Fields(rest)
		if len(fl) < 3 {
			return nil, nil
		}
		if q, err := strconv.ParseFloat(strings.TrimSuffix(fl[1], "."), 64); err == nil && q > 0 {
			quality = ptr(round1(min(q/70*100, 100)))
		}
		if s, err := strconv.ParseFloat(strings.TrimSuffix(fl[2], "."), 64); err == nil && s < 0 && s > -256 {
			signal = ptr(s)
		}
		return quality, signal
	}
	return nil, nil
}

// parseIWLink reads the output of `iw dev X link` ("Not connected." when
// the interface is not associated).
func parseIWLink(out []byte, w *wire.WiFi) {
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "Connected to "); ok {
			w.BSSID, _, _ = strings.Cut(rest, " ")
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "SSID":
			w.SSID = v
		case "freq":
			w.FrequencyMHz, _ = strconv.ParseFloat(v, 64)
		case "signal":
			if s, err := strconv.ParseFloat(strings.Fields(v + " x")[0], 64); err == nil {
				w.SignalDBm = ptr(s)
			}
		case "tx bitrate":
			w.BitrateMbps, _ = strconv.ParseFloat(strings.Fields(v + " x")[0], 64)
		}
	}
}
