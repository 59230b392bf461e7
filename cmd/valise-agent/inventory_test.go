package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/wire"
)

// fixture is a recorded device of the collectors' tests.
func fixture(name string) string {
	return filepath.Join("..", "..", "agent", "collect", "testdata", name)
}

// runInventoryCommand runs `inventory args…` in an app of its own.
func runInventoryCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := &cli.App{
		Name: "valise-agent", Writer: &out, ErrWriter: &errOut,
		ExitErrHandler: func(*cli.Context, error) {},
		Commands:       []*cli.Command{inventoryCommand()},
	}
	err := app.RunContext(context.Background(), append([]string{"valise-agent", "inventory"}, args...))
	return out.String(), err
}

func TestInventoryJSON(t *testing.T) {
	out, err := runInventoryCommand(t, "--json", "--root", fixture("laptop-worn-battery"))
	if err != nil {
		t.Fatal(err)
	}
	var r report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("output is not one {inventory, health, net} object: %v\n%s", err, out)
	}
	got := struct {
		Class, Serial string
		Health        float64
		SSID          string
	}{r.Inventory.Class, r.Inventory.System.Serial, *r.Health.Batteries[0].HealthPercent, r.Net.WiFi.SSID}
	want := struct {
		Class, Serial string
		Health        float64
		SSID          string
	}{wire.ClassLaptop, "PF0ZQ8XM", 64.3, "Mediatheque-Publique"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inventory --json (-want +got):\n%s", diff)
	}
}

func TestInventorySummary(t *testing.T) {
	tests := []struct {
		fixture string
		want    []string
	}{
		{"laptop-worn-battery", []string{
			"System  LENOVO 20HD000MFR (ThinkPad T470)",
			"Class   laptop (chassis Notebook)",
			"CPU     Intel(R) Core(TM) i5-7300U CPU @ 2.60GHz, 2 cores, 4 threads",
			"BAT0  Discharging  health 64.3 %, charge 58 %, 743 cycles",
			"Samsung SSD 860 EVO 250GB S3YJNB0K512345A  SMART passed, 9842 h, 31 °C",
			`Wi-Fi wlp4s0: "Mediatheque-Publique", -62 dBm, quality 69 %`,
		}},
		{"desktop-hdd-reallocated", []string{
			"Class   other (chassis Desktop)",
			"Memory  16.0 GiB installed, 2 modules, 14.5 % used",
			"SMART passed, 48 reallocated sectors, 8 pending sectors, 38112 h, 37 °C",
		}},
		{"laptop-4g-usb-modem", []string{
			"cellular QUALCOMM INCORPORATED QUECTEL Mobile Broadband Module: connected, Orange F (20801), lte, signal 72 %, RSRP -97 dBm, IMEI 867962041294151, ICCID 8933014219012345678",
			"SMART: Smartctl open device: /dev/sda failed: Permission denied",
			"Wi-Fi wlp2s0: not connected",
		}},
		{"minipc-placeholder-sata-ssd", []string{
			"System  Default string (Default string)",
			"Serial  Default string  uuid 03000200-0400-0500-0006-000700080009",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			var out bytes.Buffer
			if err := runInventory(context.Background(), &out, inventoryOptions{Root: fixture(tt.fixture)}); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("summary lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "Collector errors") {
				t.Errorf("a recorded fixture shows collector errors:\n%s", out.String())
			}
		})
	}
}

func TestInventoryLive(t *testing.T) {
	out, err := runInventoryCommand(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"System", "Class", "CPU", "Memory", "Disks", "Network"} {
		if !strings.Contains(out, w) {
			t.Errorf("live summary lacks %q:\n%s", w, out)
		}
	}
}
