package wire

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Device classes.
const (
	ClassLaptop  = "laptop"
	ClassTablet  = "tablet"
	ClassHotspot = "hotspot"
	ClassOther   = "other"
)

// ValidClass reports whether c is one of the device classes.
func ValidClass(c string) bool {
	switch c {
	case ClassLaptop, ClassTablet, ClassHotspot, ClassOther:
		return true
	}
	return false
}

// CollectorRun records one collector's run inside a report: a broken sensor
// shows up here and never loses the rest of the report.
type CollectorRun struct {
	Name       string  `json:"name"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"`
}

// Inventory is the full hardware inventory of a device. Fields a collector
// could not read are left empty; see Collectors for why.
type Inventory struct {
	Class      string         `json:"class"` // derived from the chassis: laptop, tablet, hotspot, other
	Hostname   string         `json:"hostname,omitempty"`
	OS         OS             `json:"os"`
	System     System         `json:"system"`
	Chassis    Chassis        `json:"chassis"`
	Baseboard  Baseboard      `json:"baseboard"`
	BIOS       BIOS           `json:"bios"`
	CPU        CPU            `json:"cpu"`
	Memory     Memory         `json:"memory"`
	Disks      []Disk         `json:"disks,omitempty"`
	NICs       []NIC          `json:"nics,omitempty"`
	GPUs       []GPU          `json:"gpus,omitempty"`
	Batteries  []BatteryInfo  `json:"batteries,omitempty"`
	Modems     []Modem        `json:"modems,omitempty"`
	Collectors []CollectorRun `json:"collectors,omitempty"`
}

// OS describes the running operating system.
type OS struct {
	Name    string `json:"name,omitempty"` // "Debian GNU/Linux", "Windows 11 Pro", "Android"
	Version string `json:"version,omitempty"`
	Kernel  string `json:"kernel,omitempty"`
	Arch    string `json:"arch,omitempty"` // GOARCH
}

// System is the SMBIOS system (type 1) record.
type System struct {
	Vendor  string `json:"vendor,omitempty"`
	Model   string `json:"model,omitempty"` // product name
	Version string `json:"version,omitempty"`
	Serial  string `json:"serial,omitempty"`
	UUID    string `json:"uuid,omitempty"`
	SKU     string `json:"sku,omitempty"`
	Family  string `json:"family,omitempty"`
}

// Chassis is the SMBIOS chassis (type 3) record.
type Chassis struct {
	Type        string `json:"type,omitempty"`        // SMBIOS code as text: "10"
	Description string `json:"description,omitempty"` // "Notebook"
	Vendor      string `json:"vendor,omitempty"`
	Serial      string `json:"serial,omitempty"`
	AssetTag    string `json:"asset_tag,omitempty"`
}

// Baseboard is the SMBIOS baseboard (type 2) record.
type Baseboard struct {
	Vendor  string `json:"vendor,omitempty"`
	Product string `json:"product,omitempty"`
	Version string `json:"version,omitempty"`
	Serial  string `json:"serial,omitempty"`
}

// BIOS is the SMBIOS BIOS (type 0) record.
type BIOS struct {
	Vendor  string `json:"vendor,omitempty"`
	Version string `json:"version,omitempty"`
	Date    string `json:"date,omitempty"`
}

// CPU summarises the processors.
type CPU struct {
	Model   string `json:"model,omitempty"`
	Vendor  string `json:"vendor,omitempty"`
	Sockets int    `json:"sockets,omitempty"`
	Cores   int    `json:"cores,omitempty"`
	Threads int    `json:"threads,omitempty"`
}

// Memory is the installed memory; Modules only where readable (root).
type Memory struct {
	TotalBytes uint64         `json:"total_bytes,omitempty"`
	Modules    []MemoryModule `json:"modules,omitempty"`
}

// MemoryModule is one DIMM/SO-DIMM (SMBIOS type 17).
type MemoryModule struct {
	Locator    string `json:"locator,omitempty"`
	SizeBytes  uint64 `json:"size_bytes"`
	Type       string `json:"type,omitempty"` // DDR4…
	SpeedMTs   int    `json:"speed_mts,omitempty"`
	Vendor     string `json:"vendor,omitempty"`
	Serial     string `json:"serial,omitempty"`
	PartNumber string `json:"part_number,omitempty"`
}

// Disk media types.
const (
	DiskHDD     = "hdd"
	DiskSSD     = "ssd"
	DiskNVMe    = "nvme"
	DiskEMMC    = "emmc"
	DiskSD      = "sd"
	DiskVirtual = "virtual"
	DiskUnknown = "unknown"
)

// Disk is one block device that is a whole disk (no partitions, no loop or
// RAM devices).
type Disk struct {
	Name      string `json:"name"` // kernel name: sda, nvme0n1, mmcblk0
	Model     string `json:"model,omitempty"`
	Serial    string `json:"serial,omitempty"`
	Vendor    string `json:"vendor,omitempty"`
	Firmware  string `json:"firmware,omitempty"`
	SizeBytes uint64 `json:"size_bytes"`
	Type      string `json:"type"`          // one of the Disk* media types
	Bus       string `json:"bus,omitempty"` // sata, nvme, usb, mmc, scsi, virtio
	Removable bool   `json:"removable"`
}

// NIC is a network interface card.
type NIC struct {
	Name         string `json:"name"`
	MAC          string `json:"mac,omitempty"`
	PermanentMAC string `json:"permanent_mac,omitempty"` // burnt-in address, when the kernel exposes it
	Virtual      bool   `json:"virtual"`
	Wireless     bool   `json:"wireless"`
	Driver       string `json:"driver,omitempty"`
	Vendor       string `json:"vendor,omitempty"`
	Product      string `json:"product,omitempty"`
	Bus          string `json:"bus,omitempty"` // pci, usb, sdio…
}

// GPU is a graphics card.
type GPU struct {
	Vendor  string `json:"vendor,omitempty"`
	Product string `json:"product,omitempty"`
	Driver  string `json:"driver,omitempty"`
	Address string `json:"address,omitempty"` // PCI address
}

// BatteryInfo identifies a battery; its state is in Health.
type BatteryInfo struct {
	Name               string  `json:"name"` // BAT0
	Manufacturer       string  `json:"manufacturer,omitempty"`
	Model              string  `json:"model,omitempty"`
	Serial             string  `json:"serial,omitempty"`
	Technology         string  `json:"technology,omitempty"`
	DesignCapacityWh   float64 `json:"design_capacity_wh,omitempty"`
	DesignCapacitymAh  float64 `json:"design_capacity_mah,omitempty"`
	DesignVoltageVolts float64 `json:"design_voltage_v,omitempty"`
}

// Modem is a cellular modem's identity.
type Modem struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Firmware     string `json:"firmware,omitempty"`
	IMEI         string `json:"imei,omitempty"`
}

// Health is a device's health sample.
type Health struct {
	Batteries     []Battery      `json:"batteries,omitempty"`
	Disks         []DiskHealth   `json:"disks,omitempty"`
	Filesystems   []Filesystem   `json:"filesystems,omitempty"`
	Memory        *MemoryUsage   `json:"memory,omitempty"`
	Load          *Load          `json:"load,omitempty"`
	Temperatures  []Temperature  `json:"temperatures,omitempty"`
	UptimeSeconds uint64         `json:"uptime_seconds,omitempty"`
	Collectors    []CollectorRun `json:"collectors,omitempty"`
}

// Battery is one battery's state. HealthPercent is full capacity over design
// capacity (energy or charge, whichever the battery reports).
type Battery struct {
	Name          string   `json:"name"`
	Status        string   `json:"status,omitempty"` // Charging, Discharging, Full, Not charging, Unknown
	ChargePercent *float64 `json:"charge_percent,omitempty"`
	HealthPercent *float64 `json:"health_percent,omitempty"`
	FullWh        float64  `json:"full_wh,omitempty"`
	DesignWh      float64  `json:"design_wh,omitempty"`
	FullmAh       float64  `json:"full_mah,omitempty"`
	DesignmAh     float64  `json:"design_mah,omitempty"`
	CycleCount    *int     `json:"cycle_count,omitempty"`
	PowerW        *float64 `json:"power_w,omitempty"` // draw or charge rate, when known
}

// DiskHealth is one disk's SMART state as smartctl reports it.
type DiskHealth struct {
	Name                 string   `json:"name"`
	Model                string   `json:"model,omitempty"`
	Serial               string   `json:"serial,omitempty"`
	SmartAvailable       bool     `json:"smart_available"`
	Passed               *bool    `json:"passed,omitempty"`
	PowerOnHours         *int64   `json:"power_on_hours,omitempty"`
	PowerCycles          *int64   `json:"power_cycles,omitempty"`
	ReallocatedSectors   *int64   `json:"reallocated_sectors,omitempty"`   // ATA 5
	ReportedUncorrect    *int64   `json:"reported_uncorrect,omitempty"`    // ATA 187
	PendingSectors       *int64   `json:"pending_sectors,omitempty"`       // ATA 197
	OfflineUncorrectable *int64   `json:"offline_uncorrectable,omitempty"` // ATA 198
	PercentageUsed       *int64   `json:"percentage_used,omitempty"`       // NVMe
	MediaErrors          *int64   `json:"media_errors,omitempty"`          // NVMe
	AvailableSpare       *int64   `json:"available_spare,omitempty"`       // NVMe, %
	CriticalWarning      *int64   `json:"critical_warning,omitempty"`      // NVMe bit field
	TemperatureC         *float64 `json:"temperature_c,omitempty"`         // current
	SmartctlExitStatus   int      `json:"smartctl_exit_status,omitempty"`  // bit mask, see smartctl(8)
	Error                string   `json:"error,omitempty"`                 // why SMART could not be read
}

// Filesystem is one mounted filesystem's usage.
type Filesystem struct {
	Mountpoint  string  `json:"mountpoint"`
	Device      string  `json:"device,omitempty"`
	FSType      string  `json:"fstype,omitempty"`
	TotalBytes  uint64  `json:"total_bytes"`
	FreeBytes   uint64  `json:"free_bytes"`
	UsedPercent float64 `json:"used_percent"`
}

// MemoryUsage is the memory in use.
type MemoryUsage struct {
	TotalBytes     uint64  `json:"total_bytes"`
	AvailableBytes uint64  `json:"available_bytes"`
	UsedPercent    float64 `json:"used_percent"`
	SwapTotalBytes uint64  `json:"swap_total_bytes,omitempty"`
	SwapUsedBytes  uint64  `json:"swap_used_bytes,omitempty"`
}

// Load is the system load average.
type Load struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
}

// Temperature is one sensor's reading.
type Temperature struct {
	Sensor  string  `json:"sensor"`
	Celsius float64 `json:"celsius"`
}

// Net is a device's connectivity sample.
type Net struct {
	Interfaces      []Interface    `json:"interfaces,omitempty"`
	DefaultRoute    string         `json:"default_route,omitempty"` // interface name
	Gateway         string         `json:"gateway,omitempty"`
	WiFi            *WiFi          `json:"wifi,omitempty"`
	Cellular        []Cellular     `json:"cellular,omitempty"`
	BrokerRTTMillis *float64       `json:"broker_rtt_ms,omitempty"`
	Collectors      []CollectorRun `json:"collectors,omitempty"`
}

// Interface kinds.
const (
	IfEthernet = "ethernet"
	IfWiFi     = "wifi"
	IfCellular = "cellular"
	IfLoopback = "loopback"
	IfVirtual  = "virtual"
	IfOther    = "other"
)

// Interface is one network interface's state and counters.
type Interface struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"` // one of the If* kinds
	MAC       string   `json:"mac,omitempty"`
	Up        bool     `json:"up"`
	Addresses []string `json:"addresses,omitempty"` // CIDR
	RxBytes   uint64   `json:"rx_bytes"`
	TxBytes   uint64   `json:"tx_bytes"`
}

// WiFi is the Wi-Fi link the device is associated with.
type WiFi struct {
	Interface    string   `json:"interface"`
	SSID         string   `json:"ssid,omitempty"`
	BSSID        string   `json:"bssid,omitempty"`
	SignalDBm    *float64 `json:"signal_dbm,omitempty"`
	Quality      *float64 `json:"quality_percent,omitempty"`
	FrequencyMHz float64  `json:"frequency_mhz,omitempty"`
	BitrateMbps  float64  `json:"bitrate_mbps,omitempty"`
}

// Cellular is one modem's registration and signal.
type Cellular struct {
	Modem         string   `json:"modem,omitempty"` // ModemManager path or index at sampling time
	Manufacturer  string   `json:"manufacturer,omitempty"`
	Model         string   `json:"model,omitempty"`
	IMEI          string   `json:"imei,omitempty"`
	ICCID         string   `json:"iccid,omitempty"`
	State         string   `json:"state,omitempty"`          // connected, registered, disabled…
	Operator      string   `json:"operator,omitempty"`       // "Orange F"
	OperatorCode  string   `json:"operator_code,omitempty"`  // MCC-MNC "20801"
	AccessTech    string   `json:"access_tech,omitempty"`    // "lte", "umts"…
	SignalPercent *float64 `json:"signal_percent,omitempty"` // ModemManager signal quality
	RSSI          *float64 `json:"rssi_dbm,omitempty"`
	RSRP          *float64 `json:"rsrp_dbm,omitempty"`
	RSRQ          *float64 `json:"rsrq_db,omitempty"`
	SINR          *float64 `json:"sinr_db,omitempty"`
	RxBytes       uint64   `json:"rx_bytes,omitempty"` // data used through this modem
	TxBytes       uint64   `json:"tx_bytes,omitempty"`
}

// Event types sent on the event channel.
const (
	EventCommandResult = "command_result" // answer to a command, Command set
	EventAgentStarted  = "agent_started"
	EventLocal         = "local" // something the agent saw locally
)

// Event is a command result or a local event.
type Event struct {
	Type    string          `json:"type"`
	Command string          `json:"command,omitempty"` // command id, for results
	OK      bool            `json:"ok"`
	Message string          `json:"message,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	At      time.Time       `json:"at,omitempty"`
}

// Validation limits, generous for real devices and tight enough that one
// message cannot blow up the server's store.
const (
	maxItems  = 512  // entries of any list in a body
	maxString = 1024 // bytes of any string field checked
)

func (v *Inventory) validate() error {
	if v.Class != "" && !ValidClass(v.Class) {
		return fmt.Errorf("%w: class %q", ErrInvalid, v.Class)
	}
	if err := lists(len(v.Disks), len(v.NICs), len(v.GPUs), len(v.Batteries), len(v.Modems), len(v.Memory.Modules), len(v.Collectors)); err != nil {
		return err
	}
	for _, s := range []string{v.Hostname, v.System.Serial, v.System.UUID, v.System.Vendor, v.System.Model} {
		if len(s) > maxString {
			return fmt.Errorf("%w: string of %d bytes", ErrInvalid, len(s))
		}
	}
	return nil
}

func (v *Health) validate() error {
	if err := lists(len(v.Batteries), len(v.Disks), len(v.Filesystems), len(v.Temperatures), len(v.Collectors)); err != nil {
		return err
	}
	for _, b := range v.Batteries {
		if err := percent("charge_percent", b.ChargePercent, 100); err != nil {
			return err
		}
		// A new battery may hold a little more than its design capacity.
		if err := percent("health_percent", b.HealthPercent, 200); err != nil {
			return err
		}
	}
	for _, f := range v.Filesystems {
		if f.UsedPercent < 0 || f.UsedPercent > 100 || math.IsNaN(f.UsedPercent) {
			return fmt.Errorf("%w: used_percent %v", ErrInvalid, f.UsedPercent)
		}
	}
	return nil
}

func (v *Net) validate() error {
	if err := lists(len(v.Interfaces), len(v.Cellular), len(v.Collectors)); err != nil {
		return err
	}
	for _, c := range v.Cellular {
		if err := percent("signal_percent", c.SignalPercent, 100); err != nil {
			return err
		}
	}
	return nil
}

func (v *Event) validate() error {
	if v.Type == "" {
		return fmt.Errorf("%w: event type is missing", ErrInvalid)
	}
	if len(v.Type) > 64 || len(v.Command) > 128 || len(v.Message) > 4096 {
		return fmt.Errorf("%w: event field too long", ErrInvalid)
	}
	return nil
}

func lists(n ...int) error {
	for _, l := range n {
		if l > maxItems {
			return fmt.Errorf("%w: list of %d entries, limit %d", ErrInvalid, l, maxItems)
		}
	}
	return nil
}

func percent(name string, p *float64, max float64) error {
	if p != nil && (*p < 0 || *p > max || math.IsNaN(*p)) {
		return fmt.Errorf("%w: %s %v out of range", ErrInvalid, name, *p)
	}
	return nil
}
