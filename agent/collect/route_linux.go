package collect

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// collectRoute finds the default route with the lowest metric in
// /proc/net/route, or in /proc/net/ipv6_route on an IPv6-only link.
func collectRoute(ctx context.Context, c *Collector, n *wire.Net) error {
	iface, gw, err := defaultRoute4(c.path("/proc/net/route"))
	if err != nil {
		return err
	}
	if iface == "" {
		iface, gw = defaultRoute6(c.path("/proc/net/ipv6_route"))
	}
	n.DefaultRoute, n.Gateway = iface, gw
	return nil
}

func defaultRoute4(path string) (iface, gw string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("read routes: %w", err)
	}
	defer f.Close()
	best := uint64(math.MaxUint64)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
		fl := strings.Fields(sc.Text())
		if len(fl) < 8 || fl[1] != "00000000" || fl[7] != "00000000" {
			continue
		}
		flags, _ := strconv.ParseUint(fl[3], 16, 32)
		metric, err := strconv.ParseUint(fl[6], 10, 64)
		if err != nil || flags&0x1 == 0 || metric >= best { // RTF_UP
			continue
		}
		best, iface, gw = metric, fl[0], ""
		if b, err := hex.DecodeString(fl[2]); err == nil && len(b) == 4 && flags&0x2 != 0 { // RTF_GATEWAY
			var a [4]byte
			binary.LittleEndian.PutUint32(a[:], binary.BigEndian.Uint32(b))
			gw = netip.AddrFrom4(a).String()
		}
	}
	return iface, gw, sc.Err()
}

func defaultRoute6(path string) (iface, gw string) {
	f, err := os.Open(path)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	best := uint64(math.MaxUint64)
	zero := strings.Repeat("0", 32)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// dest plen src splen nexthop metric refcnt use flags iface
		fl := strings.Fields(sc.Text())
		if len(fl) < 10 || fl[0] != zero || fl[1] != "00" || fl[9] == "lo" {
			continue
		}
		flags, _ := strconv.ParseUint(fl[8], 16, 32)
		metric, err := strconv.ParseUint(fl[5], 16, 32)
		if err != nil || flags&0x1 == 0 || flags&0x200 != 0 || metric >= best { // RTF_UP, not RTF_REJECT
			continue
		}
		best, iface, gw = metric, fl[9], ""
		if b, err := hex.DecodeString(fl[4]); err == nil && len(b) == 16 && fl[4] != zero {
			gw = netip.AddrFrom16([16]byte(b)).String()
		}
	}
	return iface, gw
}
