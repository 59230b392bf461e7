package simulate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/valise-numerique/valise/internal/wire"
)

// model is one kind of device the simulator imitates.
type model struct {
	class      string
	vendor     string // SMBIOS system vendor, or maker
	product    string // SMBIOS product name / marketing model
	family     string
	chassis    string // SMBIOS chassis type code
	chassisTxt string
	cpu        string
	cores      int
	memGiB     uint64
	disk       wire.Disk // Serial filled per device
	wifiOUI    string
	ethOUI     string  // "" when the model has no Ethernet port
	battery    float64 // design capacity, Wh (0: no battery)
	modem      *wire.Modem
	imeiTAC    string
	os         wire.OS
	serial     func(h []byte) string
	bios       wire.BIOS
}

// models by class. The figures are those of the real machines.
var models = map[string][]model{
	wire.ClassLaptop: {
		{vendor: "LENOVO", product: "20L5CTO1WW", family: "ThinkPad T480", chassis: "10", chassisTxt: "Notebook",
			cpu: "Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz", cores: 4, memGiB: 8,
			disk:    wire.Disk{Name: "nvme0n1", Model: "SAMSUNG MZVLB256HAHQ-000L7", SizeBytes: 256060514304, Type: wire.DiskNVMe, Bus: "nvme"},
			wifiOUI: "8c:16:45", ethOUI: "54:e1:ad", battery: 24.05,
			bios:   wire.BIOS{Vendor: "LENOVO", Version: "N24ET74W (1.49 )", Date: "07/19/2022"},
			serial: alnum("PF", 6)},
		{vendor: "LENOVO", product: "20J5S0LN00", family: "ThinkPad L470", chassis: "10", chassisTxt: "Notebook",
			cpu: "Intel(R) Core(TM) i5-7200U CPU @ 2.50GHz", cores: 2, memGiB: 8,
			disk:    wire.Disk{Name: "sda", Model: "LITEON CV3-8D256-11", SizeBytes: 256060514304, Type: wire.DiskSSD, Bus: "sata"},
			wifiOUI: "e4:a7:a0", ethOUI: "c8:5b:76", battery: 46.8,
			bios:   wire.BIOS{Vendor: "LENOVO", Version: "R0FET56W (1.36 )", Date: "03/11/2021"},
			serial: alnum("PF", 6)},
		{vendor: "Dell Inc.", product: "Latitude 5490", family: "Latitude", chassis: "10", chassisTxt: "Notebook",
			cpu: "Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz", cores: 4, memGiB: 8,
			disk:    wire.Disk{Name: "sda", Model: "TOSHIBA KSG60ZMV256G M.2 2280 256GB", SizeBytes: 256060514304, Type: wire.DiskSSD, Bus: "sata"},
			wifiOUI: "9c:b6:d0", ethOUI: "d4:81:d7", battery: 42,
			bios:   wire.BIOS{Vendor: "Dell Inc.", Version: "1.27.0", Date: "06/13/2023"},
			serial: alnum("", 7)},
		{vendor: "Dell Inc.", product: "Latitude E7470", family: "Latitude", chassis: "9", chassisTxt: "Laptop",
			cpu: "Intel(R) Core(TM) i5-6300U CPU @ 2.40GHz", cores: 2, memGiB: 8,
			disk:    wire.Disk{Name: "sda", Model: "ST500LM021-1KJ152", SizeBytes: 500107862016, Type: wire.DiskHDD, Bus: "sata"},
			wifiOUI: "18:5e:0f", ethOUI: "34:e6:d7", battery: 55,
			bios:   wire.BIOS{Vendor: "Dell Inc.", Version: "1.36.3", Date: "06/26/2023"},
			serial: alnum("", 7)},
		{vendor: "HP", product: "HP EliteBook 840 G5", family: "103C_5336AN HP EliteBook", chassis: "10", chassisTxt: "Notebook",
			cpu: "Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz", cores: 4, memGiB: 16,
			disk:    wire.Disk{Name: "nvme0n1", Model: "SAMSUNG MZVLB512HAJQ-000H1", SizeBytes: 512110190592, Type: wire.DiskNVMe, Bus: "nvme"},
			wifiOUI: "f4:96:34", ethOUI: "94:c6:91", battery: 50,
			bios:   wire.BIOS{Vendor: "HP", Version: "Q78 Ver. 01.25.00", Date: "08/18/2023"},
			serial: alnum("5CG", 7)},
		{vendor: "FUJITSU", product: "LIFEBOOK E548", family: "LIFEBOOK-FTS", chassis: "10", chassisTxt: "Notebook",
			cpu: "Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz", cores: 4, memGiB: 8,
			disk:    wire.Disk{Name: "sda", Model: "SAMSUNG MZ7LH256HAJD-00000", SizeBytes: 256060514304, Type: wire.DiskSSD, Bus: "sata"},
			wifiOUI: "7c:2a:31", ethOUI: "4c:52:62", battery: 45,
			bios:   wire.BIOS{Vendor: "FUJITSU // Phoenix Technologies Ltd.", Version: "Version 2.24", Date: "12/09/2021"},
			serial: alnum("DSAB", 6)},
	},
	wire.ClassTablet: {
		{vendor: "samsung", product: "SM-T515", family: "Galaxy Tab A 10.1 LTE", chassis: "30", chassisTxt: "Tablet",
			cpu: "Exynos 7904", cores: 8, memGiB: 2,
			disk:    wire.Disk{Name: "mmcblk0", Model: "DF4032", SizeBytes: 31268536320, Type: wire.DiskEMMC, Bus: "mmc"},
			wifiOUI: "8c:f5:a3", battery: 23.1,
			modem: &wire.Modem{Manufacturer: "Samsung", Model: "Shannon 327"}, imeiTAC: "35288610",
			os:     wire.OS{Name: "Android", Version: "11", Kernel: "4.4.177", Arch: "arm64"},
			serial: alnum("R52", 8)},
		{vendor: "LENOVO", product: "TB-X605L", family: "Lenovo Tab M10 LTE", chassis: "30", chassisTxt: "Tablet",
			cpu: "Qualcomm Snapdragon 450", cores: 8, memGiB: 3,
			disk:    wire.Disk{Name: "mmcblk0", Model: "hC8aP>", SizeBytes: 31268536320, Type: wire.DiskEMMC, Bus: "mmc"},
			wifiOUI: "40:1c:83", battery: 18.5,
			modem: &wire.Modem{Manufacturer: "Qualcomm", Model: "X6 LTE"}, imeiTAC: "86717004",
			os:     wire.OS{Name: "Android", Version: "10", Kernel: "3.18.120", Arch: "arm64"},
			serial: alnum("HA0", 5)},
		{vendor: "samsung", product: "SM-P610", family: "Galaxy Tab S6 Lite", chassis: "30", chassisTxt: "Tablet",
			cpu: "Exynos 9611", cores: 8, memGiB: 4,
			disk:    wire.Disk{Name: "mmcblk0", Model: "DA4064", SizeBytes: 62537072640, Type: wire.DiskEMMC, Bus: "mmc"},
			wifiOUI: "a8:2b:b9", battery: 27.3,
			os:     wire.OS{Name: "Android", Version: "13", Kernel: "4.14.113", Arch: "arm64"},
			serial: alnum("R52", 8)},
	},
	wire.ClassHotspot: {
		{vendor: "Huawei", product: "E5576-320", family: "Mobile WiFi", chassis: "", chassisTxt: "Hotspot",
			cpu: "Balong V7R11", cores: 2,
			wifiOUI: "e0:19:54", battery: 5.7,
			modem: &wire.Modem{Manufacturer: "Huawei", Model: "E5576-320", Firmware: "21.180.99.01.00"}, imeiTAC: "86150803",
			os:     wire.OS{Name: "HiLink", Version: "21.180.99.01.00"},
			serial: alnum("G4P", 13)},
		{vendor: "GL.iNet", product: "GL-X750V2", family: "Spitz", chassis: "", chassisTxt: "Router",
			cpu: "Qualcomm Atheros QCA9531", cores: 1, memGiB: 0,
			disk:    wire.Disk{Name: "mtdblock6", Model: "NOR flash", SizeBytes: 16777216, Type: wire.DiskUnknown, Bus: "spi"},
			wifiOUI: "94:83:c4", ethOUI: "94:83:c4",
			modem: &wire.Modem{Manufacturer: "Quectel", Model: "EC25", Firmware: "EC25EFAR06A06M4G"}, imeiTAC: "86710703",
			os:     wire.OS{Name: "OpenWrt", Version: "22.03.4", Kernel: "5.10.176", Arch: "mipsle"},
			serial: alnum("", 16)},
		{vendor: "GL.iNet", product: "GL-E750", family: "Mudi", chassis: "", chassisTxt: "Hotspot",
			cpu: "Qualcomm Atheros QCA9531", cores: 1,
			disk:    wire.Disk{Name: "mmcblk0", Model: "SD card", SizeBytes: 7948206080, Type: wire.DiskSD, Bus: "mmc", Removable: true},
			wifiOUI: "94:83:c4", ethOUI: "94:83:c4", battery: 26.6,
			modem: &wire.Modem{Manufacturer: "Quectel", Model: "EP06-E", Firmware: "EP06ELAR04A04M4G"}, imeiTAC: "86468704",
			os:     wire.OS{Name: "OpenWrt", Version: "22.03.4", Kernel: "5.10.176", Arch: "mipsle"},
			serial: alnum("", 16)},
	},
}

// operators are the French networks a SIM may be on, with their MCC-MNC.
var operators = []struct{ name, code string }{
	{"Orange F", "20801"}, {"SFR", "20810"}, {"Bouygues Telecom", "20820"}, {"Free", "20815"},
}

// mixClass is the class of device index when the simulator is not told one:
// three laptops for one tablet and one hotspot.
func mixClass(index int) string {
	switch index % 5 {
	case 3:
		return wire.ClassTablet
	case 4:
		return wire.ClassHotspot
	}
	return wire.ClassLaptop
}

// Device is one simulated device: a fixed hardware identity and figures
// that drift from sample to sample (battery charge, signal, data used…).
// It implements agent.Source. Everything about it follows from its seed,
// index and class, so the same arguments give the same device, which the
// server then recognises at enrolment.
type Device struct {
	Index int
	Class string

	m    model
	inv  wire.Inventory
	mu   sync.Mutex
	rng  *rand.Rand
	n    uint64 // samples taken
	st   dynamics
	imei string
}

// dynamics is the state that changes between samples.
type dynamics struct {
	healthPct   float64 // battery full/design, fixed
	cycles      int
	charge      float64
	charging    bool
	diskWear    int64 // NVMe percentage used, or SATA SSD wear, %
	reallocated int64 // HDD reallocated sectors
	powerOnH    int64
	usedPct     float64
	rsrp        float64
	wifiDBm     float64
	operator    int
	rx, tx      uint64
	uptime      uint64
}

// NewDevice returns simulated device index of the given class (a
// wire.Class*; "" picks one by index, three laptops for one tablet and one
// hotspot). Devices of different seeds never share an identifier.
func NewDevice(seed uint64, index int, class string) *Device {
	if class == "" || class == wire.ClassOther {
		class = mixClass(index)
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("valise-simulate/%d/%s/%d", seed, class, index)))
	rng := rand.New(rand.NewPCG(binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16])))
	ms := models[class]
	m := ms[rng.IntN(len(ms))]
	d := &Device{Index: index, Class: class, m: m, rng: rng}
	d.inv = d.inventory(h[:])
	d.st = d.initial()
	return d
}

// inventory builds the fixed part of the device from the identity bytes h.
func (d *Device) inventory(h []byte) wire.Inventory {
	m := d.m
	id := h[16:]
	inv := wire.Inventory{
		Class:    d.Class,
		Hostname: fmt.Sprintf("valise-%s-%03d", d.Class, d.Index),
		OS:       m.os,
		System:   wire.System{Vendor: m.vendor, Model: m.product, Family: m.family, Serial: m.serial(h)},
		Chassis:  wire.Chassis{Type: m.chassis, Description: m.chassisTxt, Vendor: m.vendor},
		BIOS:     m.bios,
		CPU:      wire.CPU{Model: m.cpu, Sockets: 1, Cores: m.cores, Threads: m.cores},
		Memory:   wire.Memory{TotalBytes: m.memGiB << 30},
	}
	if inv.OS.Name == "" {
		inv.OS = wire.OS{Name: "Debian GNU/Linux", Version: "12 (bookworm)", Kernel: "6.1.0-28-amd64", Arch: "amd64"}
	}
	if d.Class == wire.ClassLaptop {
		var u [16]byte
		copy(u[:], id)
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
		inv.System.UUID = fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
		inv.Baseboard = wire.Baseboard{Vendor: m.vendor, Product: m.product, Serial: alnum("L1HF", 8)(h[4:])}
	}
	if m.disk.Name != "" {
		disk := m.disk
		disk.Serial = alnum("S4", 10)(h[8:])
		inv.Disks = []wire.Disk{disk}
	}
	inv.NICs = append(inv.NICs, wire.NIC{Name: "wlan0", MAC: mac(m.wifiOUI, h[20:]), PermanentMAC: mac(m.wifiOUI, h[20:]), Wireless: true, Bus: "pci"})
	if m.ethOUI != "" {
		inv.NICs = append(inv.NICs, wire.NIC{Name: "eth0", MAC: mac(m.ethOUI, h[23:]), PermanentMAC: mac(m.ethOUI, h[23:]), Bus: "pci"})
	}
	if m.battery > 0 {
		inv.Batteries = []wire.BatteryInfo{{Name: "BAT0", Manufacturer: m.vendor, Technology: "Li-ion", DesignCapacityWh: m.battery, Serial: alnum("", 5)(h[12:])}}
	}
	if m.modem != nil {
		mod := *m.modem
		d.imei = imei(m.imeiTAC, h[26:])
		mod.IMEI = d.imei
		inv.Modems = []wire.Modem{mod}
	}
	return inv
}

// initial draws the starting figures: a realistic spread of worn
// refurbished batteries (about one in five under 70 %), disk wear, signal.
func (d *Device) initial() dynamics {
	r := d.rng
	st := dynamics{
		healthPct: 55 + 45*math.Sqrt(r.Float64()),
		charge:    20 + 80*r.Float64(),
		charging:  r.IntN(2) == 0,
		powerOnH:  int64(2000 + r.IntN(25000)),
		usedPct:   15 + 70*r.Float64(),
		rsrp:      -120 + 45*r.Float64(),
		wifiDBm:   -80 + 45*r.Float64(),
		operator:  r.IntN(len(operators)),
		uptime:    uint64(60 + r.IntN(86400)),
	}
	st.cycles = int((100-st.healthPct)*12) + r.IntN(60)
	switch d.m.disk.Type {
	case wire.DiskNVMe, wire.DiskSSD:
		st.diskWear = int64(r.IntN(60))
	case wire.DiskHDD:
		if r.IntN(4) == 0 {
			st.reallocated = int64(8 + r.IntN(200))
		}
	}
	return st
}

// Inventory returns the device's fixed inventory.
func (d *Device) Inventory(context.Context) wire.Inventory {
	inv := d.inv
	inv.Collectors = []wire.CollectorRun{{Name: "simulated", DurationMS: 0.1}}
	return inv
}

// step advances the drifting figures by one sample. Callers hold d.mu.
func (d *Device) step() {
	r, st := d.rng, &d.st
	d.n++
	st.uptime += 60
	if st.charging {
		st.charge += 4 + 4*r.Float64()
		if st.charge >= 100 {
			st.charge, st.charging = 100, false
		}
	} else {
		st.charge -= 1 + 2*r.Float64()
		if st.charge <= 15 {
			st.charging = true
			st.cycles++
		}
	}
	st.charge = clamp(st.charge, 0, 100)
	st.rsrp = clamp(st.rsrp+4*(r.Float64()-0.5), -120, -75)
	st.wifiDBm = clamp(st.wifiDBm+3*(r.Float64()-0.5), -85, -35)
	st.usedPct = clamp(st.usedPct+0.05*r.Float64(), 1, 99)
	st.rx += uint64(50_000 + r.IntN(4_000_000))
	st.tx += uint64(10_000 + r.IntN(600_000))
	if d.n%60 == 0 {
		st.powerOnH++
	}
}

// Health returns the next health sample.
func (d *Device) Health(context.Context) wire.Health {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.step()
	st := d.st
	h := wire.Health{
		UptimeSeconds: st.uptime,
		Memory: &wire.MemoryUsage{
			TotalBytes:     d.inv.Memory.TotalBytes,
			AvailableBytes: uint64(float64(d.inv.Memory.TotalBytes) * (0.3 + 0.4*d.rng.Float64())),
		},
		Load:       &wire.Load{Load1: round(2 * d.rng.Float64()), Load5: round(1.5 * d.rng.Float64()), Load15: round(d.rng.Float64())},
		Collectors: []wire.CollectorRun{{Name: "simulated", DurationMS: 0.1}},
	}
	if h.Memory.TotalBytes > 0 {
		h.Memory.UsedPercent = round(100 * (1 - float64(h.Memory.AvailableBytes)/float64(h.Memory.TotalBytes)))
	}
	if d.m.battery > 0 {
		status := "Discharging"
		if st.charging {
			status = "Charging"
		}
		full := d.m.battery * st.healthPct / 100
		h.Batteries = []wire.Battery{{
			Name: "BAT0", Status: status,
			ChargePercent: ptr(round(st.charge)), HealthPercent: ptr(round(st.healthPct)),
			FullWh: round(full), DesignWh: d.m.battery, CycleCount: ptr(st.cycles),
		}}
	}
	if len(d.inv.Disks) > 0 {
		disk := d.inv.Disks[0]
		dh := wire.DiskHealth{Name: disk.Name, Model: disk.Model, Serial: disk.Serial, SmartAvailable: true,
			Passed: ptr(true), PowerOnHours: ptr(st.powerOnH), TemperatureC: ptr(round(32 + 8*d.rng.Float64()))}
		switch disk.Type {
		case wire.DiskNVMe:
			dh.PercentageUsed, dh.MediaErrors, dh.AvailableSpare = ptr(st.diskWear), ptr(int64(0)), ptr(100-st.diskWear/4)
		case wire.DiskHDD:
			dh.ReallocatedSectors, dh.PendingSectors = ptr(st.reallocated), ptr(int64(0))
		case wire.DiskSSD:
			dh.ReallocatedSectors = ptr(int64(0))
		default:
			dh.SmartAvailable, dh.Passed, dh.PowerOnHours = false, nil, nil
		}
		h.Disks = []wire.DiskHealth{dh}
		total := disk.SizeBytes * 95 / 100
		h.Filesystems = []wire.Filesystem{{
			Mountpoint: "/", Device: "/dev/" + disk.Name, FSType: "ext4", TotalBytes: total,
			FreeBytes: uint64(float64(total) * (1 - st.usedPct/100)), UsedPercent: round(st.usedPct),
		}}
	}
	return h
}

// Net returns the next connectivity sample.
func (d *Device) Net(context.Context) wire.Net {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.st
	n := wire.Net{Collectors: []wire.CollectorRun{{Name: "simulated", DurationMS: 0.1}}}
	wlan := wire.Interface{Name: "wlan0", Kind: wire.IfWiFi, MAC: d.inv.NICs[0].MAC, Up: true,
		Addresses: []string{fmt.Sprintf("192.168.8.%d/24", 100+d.Index%150)}}
	if d.m.modem == nil {
		wlan.RxBytes, wlan.TxBytes = st.rx, st.tx
		n.DefaultRoute, n.Gateway = "wlan0", "192.168.8.1"
		n.WiFi = &wire.WiFi{Interface: "wlan0", SSID: ssids[d.Index%len(ssids)], SignalDBm: ptr(round(st.wifiDBm)),
			Quality: ptr(round(clamp(2*(st.wifiDBm+100), 0, 100))), FrequencyMHz: 2437, BitrateMbps: 72.2}
		n.Interfaces = []wire.Interface{wlan}
		return n
	}
	op := operators[st.operator]
	rsrp := round(st.rsrp)
	n.Interfaces = []wire.Interface{wlan, {Name: "wwan0", Kind: wire.IfCellular, Up: true,
		Addresses: []string{fmt.Sprintf("10.%d.%d.%d/30", 40+d.Index%50, d.Index%250, 1+d.Index%250)},
		RxBytes:   st.rx, TxBytes: st.tx}}
	n.DefaultRoute = "wwan0"
	n.Cellular = []wire.Cellular{{
		Modem: "0", Manufacturer: d.m.modem.Manufacturer, Model: d.m.modem.Model, IMEI: d.imei,
		ICCID: "8933" + d.imei, // a French SIM (89 33…), one per device
		State: "connected", Operator: op.name, OperatorCode: op.code, AccessTech: "lte",
		SignalPercent: ptr(round(clamp((rsrp+120)*100/45, 0, 100))),
		RSRP:          ptr(rsrp), RSRQ: ptr(round(-3 - 17*(-75-rsrp)/45)), SINR: ptr(round(25 - 30*(-75-rsrp)/45)),
		RxBytes: st.rx, TxBytes: st.tx,
	}}
	return n
}

var ssids = []string{"France-Services", "Mediatheque-Publique", "Mairie-Invites", "EPN-Wifi", "Valise-Kit"}

// alnum returns a serial formatter: prefix and n upper-case letters or
// digits drawn from the identity bytes.
func alnum(prefix string, n int) func(h []byte) string {
	const chars = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	return func(h []byte) string {
		var b strings.Builder
		b.WriteString(prefix)
		for i := 0; i < n; i++ {
			b.WriteByte(chars[int(h[i%len(h)]+byte(i*7))%len(chars)])
		}
		return b.String()
	}
}

// mac returns oui followed by three bytes of h.
func mac(oui string, h []byte) string {
	return fmt.Sprintf("%s:%02x:%02x:%02x", oui, h[0], h[1], h[2])
}

// imei returns a 15-digit IMEI: the type allocation code, a serial drawn
// from h, and the Luhn check digit.
func imei(tac string, h []byte) string {
	s := tac + fmt.Sprintf("%06d", binary.BigEndian.Uint32(h[:4])%1_000_000)
	sum := 0
	for i, r := range s {
		n := int(r - '0')
		if i%2 == 1 {
			if n *= 2; n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return s + string(rune('0'+(10-sum%10)%10))
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

func round(v float64) float64 { return math.Round(v*10) / 10 }

func ptr[T any](v T) *T { return &v }
