package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	gnet "github.com/shirou/gopsutil/v4/net"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectInterfaces reports every network interface: kind and state from
// sysfs, MAC, addresses, and byte counters since boot from gopsutil
// (/proc/net/dev under the root).
func collectInterfaces(ctx context.Context, c *Collector, n *wire.Net) error {
	dir := c.path("/sys/class/net")
	names := listDir(dir)
	if names == nil {
		return fmt.Errorf("list network interfaces: %w", ErrNoData)
	}
	addrs, addrErr := c.addrs(ctx)
	counters := map[string]gnet.IOCountersStat{}
	stats, countErr := gnet.IOCountersWithContext(c.psContext(ctx), true)
	if countErr != nil {
		countErr = fmt.Errorf("read interface counters: %w", countErr)
	}
	for _, s := range stats {
		counters[s.Name] = s
	}
	for _, name := range names {
		p := filepath.Join(dir, name)
		if !exists(p + "/type") { // bonding_masters and other files
			continue
		}
		n.Interfaces = append(n.Interfaces, wire.Interface{
			Name:      name,
			Kind:      interfaceKind(p, name),
			MAC:       readString(p + "/address"),
			Up:        interfaceUp(p),
			Addresses: addrs[name],
			RxBytes:   counters[name].BytesRecv,
			TxBytes:   counters[name].BytesSent,
		})
	}
	return errors.Join(addrErr, countErr)
}

// interfaceKind classifies an interface from its sysfs entry.
func interfaceKind(p, name string) string {
	typ := readString(p + "/type")
	switch {
	case typ == "772" || name == "lo":
		return wire.IfLoopback
	case exists(p+"/wireless") || exists(p+"/phy80211"):
		return wire.IfWiFi
	case readKeyValues(p + "/uevent")["DEVTYPE"] == "wwan" || strings.HasPrefix(name, "wwan"):
		return wire.IfCellular
	case !exists(p + "/device"):
		return wire.IfVirtual
	case typ == "1":
		return wire.IfEthernet
	}
	return wire.IfOther
}

// interfaceUp reports whether an interface can carry traffic: its
// operational state is up, or unknown (loopback, some tunnel and wwan
// drivers) while it is administratively up.
func interfaceUp(p string) bool {
	switch readString(p + "/operstate") {
	case "up":
		return true
	case "unknown":
		flags, err := strconv.ParseUint(strings.TrimPrefix(readString(p+"/flags"), "0x"), 16, 32)
		return err == nil && flags&0x1 != 0 // IFF_UP
	}
	return false
}

// interfaceAddrs returns the addresses (CIDR) of each interface: from the
// kernel on the live system, from a recorded `ip -j addr show` under a
// recorded root (nothing when there is no recording).
func (c *Collector) interfaceAddrs(ctx context.Context) (map[string][]string, error) {
	m := map[string][]string{}
	if !c.live() {
		out, err := c.exec(ctx, "ip", "-j", "addr", "show")
		if missingTool(err) {
			return m, nil
		}
		if err != nil {
			return m, err
		}
		return parseIPAddr(out)
	}
	ifs, err := gnet.InterfacesWithContext(ctx)
	if err != nil {
		return m, fmt.Errorf("list interface addresses: %w", err)
	}
	for _, i := range ifs {
		for _, a := range i.Addrs {
			m[i.Name] = append(m[i.Name], a.Addr)
		}
	}
	return m, nil
}

// parseIPAddr reads the JSON of `ip -j addr show` (iproute2).
func parseIPAddr(out []byte) (map[string][]string, error) {
	var links []struct {
		IfName   string `json:"ifname"`
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("parse ip -j addr: %w", err)
	}
	m := map[string][]string{}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if a.Local != "" {
				m[l.IfName] = append(m[l.IfName], a.Local+"/"+strconv.Itoa(a.PrefixLen))
			}
		}
	}
	return m, nil
}
