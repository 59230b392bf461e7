package collect

import (
	"net"
	"syscall"
	"unsafe"
)

// From linux/sockios.h and linux/ethtool.h, the same on every architecture.
const (
	siocEthtool     = 0x8946 // SIOCETHTOOL
	ethtoolPermAddr = 0x20   // ETHTOOL_GPERMADDR
)

// permanentMAC asks the kernel for an interface's burnt-in address, as
// `ethtool -P` does, through the SIOCETHTOOL ioctl (no privilege needed).
// It returns "" when the driver does not know it.
func permanentMAC(name string) string {
	if len(name) >= syscall.IFNAMSIZ {
		return ""
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer syscall.Close(fd)
	// struct ethtool_perm_addr { __u32 cmd; __u32 size; __u8 data[]; }
	var req struct {
		cmd, size uint32
		data      [32]byte
	}
	req.cmd, req.size = ethtoolPermAddr, uint32(len(req.data))
	// struct ifreq: the name, then a union whose ifr_data points at req;
	// the union is padded to its largest member (struct ifmap, 24 bytes).
	var ifr struct {
		name [syscall.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [24 - unsafe.Sizeof(uintptr(0))]byte
	}
	copy(ifr.name[:], name)
	ifr.data = unsafe.Pointer(&req)
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), siocEthtool, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return ""
	}
	if req.size != 6 {
		return ""
	}
	return net.HardwareAddr(req.data[:6]).String()
}
