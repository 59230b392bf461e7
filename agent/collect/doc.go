// Package collect reads what a Valise agent reports about its device: the
// hardware inventory, a health sample and a connectivity sample, as the
// wire.Inventory, wire.Health and wire.Net payloads.
//
// Every piece of information comes from one collector, one per file
// (battery_linux.go, smart.go, …), registered by name in one of three
// explicit maps: inventoryCollectors, healthCollectors and netCollectors.
// Collectors run one after the other in name order; each runs on its own:
// its error, or a panic, is recorded with its name and duration in the
// report's Collectors list and never loses the rest of the report.
//
// Collectors never hard-code /sys, /proc, /dev, /etc or /run: they read them
// under Config.Root, and they run external tools (smartctl, mmcli, iw, ip)
// through Config.Exec, so that tests replay trees and command outputs
// recorded on real devices (testdata/<case>/).
//
// The hardware inventory is read through github.com/jaypipes/ghw, one ghw
// module per collector (product, chassis, baseboard, bios, cpu, memory,
// disks, nics, gpus; never ghw.Host, which fails as a whole when one module
// fails), under Config.Root with ghw.WithChroot and without the tools ghw
// would run. What ghw leaves out or cannot read unprivileged is completed
// from sysfs: memory modules from the SMBIOS table, disk model and serial
// where udev has no data, permanent MACs from the driver, batteries, and
// Wi-Fi. Inventory is the expensive one: it parses pci.ids once per run,
// when there is a GPU or a PCI NIC to name, and drops it afterwards.
//
// Health and Net read memory, load, filesystems, temperatures and interface
// counters through github.com/shirou/gopsutil/v4, pointed at Config.Root
// through its context (common.EnvMap); batteries come from
// /sys/class/power_supply (gopsutil has no battery API), and smartctl, iw
// and mmcli run only when the hardware they ask about is present.
//
// A Collector is safe for concurrent use.
package collect
