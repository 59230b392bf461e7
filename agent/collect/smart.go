package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/valise-numerique/valise/internal/wire"
)

// smartctlReport is the part of `smartctl --json -a` output the agent uses
// (smartmontools 7.x JSON format 1.0).
type smartctlReport struct {
	Smartctl struct {
		ExitStatus *int `json:"exit_status"`
		Messages   []struct {
			String   string `json:"string"`
			Severity string `json:"severity"`
		} `json:"messages"`
	} `json:"smartctl"`
	ModelName    string `json:"model_name"`
	SerialNumber string `json:"serial_number"`
	SmartSupport *struct {
		Available bool `json:"available"`
		Enabled   bool `json:"enabled"`
	} `json:"smart_support"`
	SmartStatus *struct {
		Passed *bool `json:"passed"`
	} `json:"smart_status"`
	PowerOnTime *struct {
		Hours *int64 `json:"hours"`
	} `json:"power_on_time"`
	PowerCycleCount *int64 `json:"power_cycle_count"`
	Temperature     *struct {
		Current *float64 `json:"current"`
	} `json:"temperature"`
	ATASmartAttributes *struct {
		Table []struct {
			ID  int `json:"id"`
			Raw struct {
				Value int64 `json:"value"`
			} `json:"raw"`
		} `json:"table"`
	} `json:"ata_smart_attributes"`
	NVMeLog *struct {
		CriticalWarning *int64   `json:"critical_warning"`
		AvailableSpare  *int64   `json:"available_spare"`
		PercentageUsed  *int64   `json:"percentage_used"`
		MediaErrors     *int64   `json:"media_errors"`
		PowerCycles     *int64   `json:"power_cycles"`
		PowerOnHours    *int64   `json:"power_on_hours"`
		Temperature     *float64 `json:"temperature"`
	} `json:"nvme_smart_health_information_log"`
}

// smartctl exit status bits (smartctl(8), RETURN VALUES) that mean the data
// could not be read: bad command line, device open failed, SMART or other
// ATA command failed.
const smartReadFailed = 1<<0 | 1<<1 | 1<<2

// errSmartctlOutput means smartctl printed something that is not its JSON.
var errSmartctlOutput = errors.New("smartctl output is not smartctl JSON")

// parseSmartctl turns `smartctl --json -a` output into a DiskHealth for
// disk. smartctl prints JSON even when it fails and returns a bit mask as
// exit status: failures to read are recorded on the disk (d.Error); only
// output that is not smartctl JSON is an error.
func parseSmartctl(disk wire.Disk, out []byte) (wire.DiskHealth, error) {
	d := wire.DiskHealth{Name: disk.Name, Model: disk.Model, Serial: disk.Serial}
	var r smartctlReport
	if err := json.Unmarshal(out, &r); err != nil {
		d.Error = errSmartctlOutput.Error()
		return d, fmt.Errorf("smart %s: %w: %v", disk.Name, errSmartctlOutput, err)
	}
	if r.Smartctl.ExitStatus == nil {
		d.Error = errSmartctlOutput.Error()
		return d, fmt.Errorf("smart %s: %w: no exit_status", disk.Name, errSmartctlOutput)
	}
	d.SmartctlExitStatus = *r.Smartctl.ExitStatus
	d.Model = firstNonEmpty(r.ModelName, d.Model)
	d.Serial = firstNonEmpty(r.SerialNumber, d.Serial)
	if d.SmartctlExitStatus&smartReadFailed != 0 {
		var msgs []string
		for _, m := range r.Smartctl.Messages {
			if m.Severity == "error" || len(r.Smartctl.Messages) == 1 {
				msgs = append(msgs, m.String)
			}
		}
		if len(msgs) == 0 {
			msgs = append(msgs, fmt.Sprintf("smartctl exit status %d", d.SmartctlExitStatus))
		}
		d.Error = strings.Join(msgs, "; ")
	}
	if r.SmartStatus != nil {
		d.Passed = r.SmartStatus.Passed
	}
	if r.PowerOnTime != nil {
		d.PowerOnHours = r.PowerOnTime.Hours
	}
	d.PowerCycles = r.PowerCycleCount
	if r.Temperature != nil {
		d.TemperatureC = r.Temperature.Current
	}
	if a := r.ATASmartAttributes; a != nil {
		for _, at := range a.Table {
			v := ptr(at.Raw.Value)
			switch at.ID {
			case 5:
				d.ReallocatedSectors = v
			case 187:
				d.ReportedUncorrect = v
			case 197:
				d.PendingSectors = v
			case 198:
				d.OfflineUncorrectable = v
			}
		}
	}
	if n := r.NVMeLog; n != nil {
		d.CriticalWarning, d.AvailableSpare = n.CriticalWarning, n.AvailableSpare
		d.PercentageUsed, d.MediaErrors = n.PercentageUsed, n.MediaErrors
		if d.PowerOnHours == nil {
			d.PowerOnHours = n.PowerOnHours
		}
		if d.PowerCycles == nil {
			d.PowerCycles = n.PowerCycles
		}
		if d.TemperatureC == nil {
			d.TemperatureC = n.Temperature
		}
	}
	d.SmartAvailable = d.Passed != nil || r.ATASmartAttributes != nil || r.NVMeLog != nil
	if r.SmartSupport != nil && !r.SmartSupport.Available {
		d.SmartAvailable = false
	}
	return d, nil
}

// collectSMART reads SMART data of each internal disk (not removable, not
// USB, not virtual, not eMMC or SD, which smartctl cannot read) with
// smartctl, when it is installed. A disk smartctl
// cannot read (not root, unsupported bridge) carries the reason in its
// Error; output that is not smartctl JSON is also the collector's error.
func collectSMART(ctx context.Context, c *Collector, h *wire.Health) error {
	disks, err := c.listDisks(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, disk := range disks {
		switch {
		case disk.Removable, disk.Bus == "usb":
			continue
		case disk.Type == wire.DiskVirtual, disk.Type == wire.DiskEMMC, disk.Type == wire.DiskSD:
			continue
		}
		out, runErr := c.exec(ctx, "smartctl", "--json", "-a", "/dev/"+disk.Name)
		if missingTool(runErr) {
			h.Disks = append(h.Disks, wire.DiskHealth{Name: disk.Name, Model: disk.Model, Serial: disk.Serial, Error: "smartctl is not installed"})
			continue
		}
		d, err := parseSmartctl(disk, out)
		if err != nil {
			if runErr != nil {
				err = fmt.Errorf("%w (%v)", err, runErr)
			}
			errs = append(errs, err)
		}
		h.Disks = append(h.Disks, d)
	}
	return errors.Join(errs...)
}
