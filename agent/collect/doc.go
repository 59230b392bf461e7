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
// Inventory is the expensive one (it resolves PCI names from pci.ids with a
// streaming reader that keeps nothing in memory afterwards); Health and Net
// read sysfs and procfs directly and run only smartctl, iw and mmcli, and
// only when the hardware they ask about is present.
//
// A Collector is safe for concurrent use.
package collect
