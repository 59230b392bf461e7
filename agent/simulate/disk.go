package simulate

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/agent/wipe"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// DefaultDiskBytes is the size of a simulated device's disk image.
const DefaultDiskBytes = 8 << 20

// Files of a simulated device's state dir, besides the agent's.
const (
	DiskFile    = "disk.img"     // the laptop's or tablet's disk, a file
	HotspotFile = "hotspot.json" // the hotspot's settings and SMS boxes
)

// Wiper returns what erases the device's storage when a wipe command
// arrives: for a laptop or tablet, its disk image in dir (see EnsureDisk),
// really overwritten and verified by package wipe's overwrite executor; for
// a hotspot, a factory reset with new credentials (see hotspotWiper).
func (d *Device) Wiper(dir string) agent.Wiper {
	if d.Class == wire.ClassHotspot {
		return &hotspotWiper{d: d, path: filepath.Join(dir, HotspotFile), now: time.Now}
	}
	if len(d.inv.Disks) == 0 {
		return nil
	}
	return &diskWiper{disk: d.inv.Disks[0], path: filepath.Join(dir, DiskFile)}
}

// EnsureDisk gives the device its storage in dir if it has none yet: a
// disk image of size bytes filled with pseudo-random "user data" (laptops
// and tablets), or hotspot settings with SMS in its boxes (hotspots). An
// existing one is kept as it is, wiped or not.
func (d *Device) EnsureDisk(dir string, size int64) error {
	if d.Class == wire.ClassHotspot {
		path := filepath.Join(dir, HotspotFile)
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		r := mrand.New(mrand.NewPCG(uint64(d.Index), uint64(len(d.inv.System.Serial))))
		return saveHotspot(path, hotspotState{
			SSID: d.m.product + "-" + d.inv.System.Serial[len(d.inv.System.Serial)-4:], WiFiKey: secret(16), AdminPassword: "admin",
			SMSDevice: 3 + r.IntN(40), SMSSIM: r.IntN(10), Generation: 0,
		})
	}
	if len(d.inv.Disks) == 0 {
		return nil
	}
	path := filepath.Join(dir, DiskFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("simulated disk: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("simulated disk: %w", err)
	}
	var seed [32]byte
	copy(seed[:], d.inv.System.Serial+"/"+d.inv.Disks[0].Serial)
	src := mrand.NewChaCha8(seed)
	tmp, err := os.CreateTemp(dir, DiskFile+".tmp*")
	if err != nil {
		return fmt.Errorf("simulated disk: %w", err)
	}
	defer os.Remove(tmp.Name())
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		b := buf[:min(int64(len(buf)), left)]
		src.Read(b)
		if _, err := tmp.Write(b); err != nil {
			tmp.Close()
			return fmt.Errorf("simulated disk: %w", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("simulated disk: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("simulated disk: %w", err)
	}
	return nil
}

// diskWiper erases a laptop's or tablet's disk image with package wipe,
// the executors of real disks: only the device behind it is simulated.
type diskWiper struct {
	disk wire.Disk
	path string
}

func (w *diskWiper) Targets(_ context.Context, names []string) ([]agent.WipeTarget, error) {
	for _, n := range names {
		if strings.TrimPrefix(n, "/dev/") != w.disk.Name {
			return nil, fmt.Errorf("%w: %q is not an internal disk of this device (internal disks: %s)", agent.ErrBadArgs, n, w.disk.Name)
		}
	}
	return []agent.WipeTarget{{Name: w.disk.Name, Path: w.path}}, nil
}

func (w *diskWiper) Wipe(ctx context.Context, t agent.WipeTarget, spec agent.WipeSpec) (certificate.Medium, error) {
	m, err := wipe.Wipe(ctx, t.Path, wipe.Options{Method: spec.Method, Verify: spec.Verify, Progress: spec.Progress, Job: spec.Job})
	// The record names the disk the image stands for, so that the server
	// matches it with the device's inventory; its type stays "file" and
	// the detail says what was really erased.
	m.Name, m.Model, m.Serial, m.Firmware = w.disk.Name, w.disk.Model, w.disk.Serial, w.disk.Firmware
	note := fmt.Sprintf("simulated %s: a %d-byte disk image file", w.disk.Name, m.CapacityBytes)
	if m.Verification.Detail == "" {
		m.Verification.Detail = note
	} else {
		m.Verification.Detail += "; " + note
	}
	return m, err
}

// hotspotState is a simulated hotspot's settings and SMS boxes.
type hotspotState struct {
	SSID          string `json:"ssid"`
	WiFiKey       string `json:"wifi_key"`
	AdminPassword string `json:"admin_password"`
	SMSDevice     int    `json:"sms_device"` // messages in the device's boxes
	SMSSIM        int    `json:"sms_sim"`    // messages on the SIM
	Generation    int    `json:"generation"` // factory resets so far
}

func loadHotspot(path string) (hotspotState, error) {
	var s hotspotState
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

func saveHotspot(path string, s hotspotState) error {
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// secret returns n random bytes as base64 text.
func secret(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b), "=")
}

// hotspotWiper is the wipe of a hotspot: not media sanitisation but what
// DESIGN.md asks of a hotspot going back out: its SMS boxes emptied
// (device and SIM), a factory reset, and new SSID, Wi-Fi key and admin
// password. The record says so (method hotspot-reset, category none) and
// its verification reads the settings back.
type hotspotWiper struct {
	d    *Device
	path string
	now  func() time.Time
}

func (w *hotspotWiper) Targets(_ context.Context, names []string) ([]agent.WipeTarget, error) {
	if len(names) > 0 {
		return nil, fmt.Errorf("%w: a hotspot has no disk to choose (asked for %s): its wipe is a factory reset", agent.ErrBadArgs, strings.Join(names, ", "))
	}
	return []agent.WipeTarget{{Name: "settings", Path: w.path}}, nil
}

func (w *hotspotWiper) Wipe(ctx context.Context, t agent.WipeTarget, spec agent.WipeSpec) (certificate.Medium, error) {
	m := certificate.Medium{
		Name: t.Name, Type: wire.DiskUnknown, Model: w.d.m.product, Firmware: w.d.m.os.Version,
		Method: wire.MethodHotspotReset, Category: certificate.CategoryNone, Started: w.now().UTC(),
		Verification: certificate.Verification{Method: wipe.VerifyDeviceStatus, Result: wipe.VerifyNotDone},
	}
	fail := func(err error) (certificate.Medium, error) {
		m.Result, m.Error, m.Finished = certificate.ResultFailed, err.Error(), w.now().UTC()
		return m, err
	}
	if spec.Method != "" && spec.Method != wire.MethodAuto && spec.Method != wire.MethodHotspotReset {
		return fail(fmt.Errorf("%w: a hotspot is wiped by %s, not %s", wipe.ErrUnsupported, wire.MethodHotspotReset, spec.Method))
	}
	before, err := loadHotspot(w.path)
	if err != nil {
		return fail(fmt.Errorf("read the hotspot's settings: %w", err))
	}
	if spec.Progress != nil {
		spec.Progress(wire.WipeProgress{Phase: wire.PhaseErasing, TotalBytes: 1})
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	openwrt := w.d.m.os.Name == "OpenWrt"
	after := hotspotState{
		SSID:          fmt.Sprintf("Valise-%s", strings.ToUpper(secret(3))),
		WiFiKey:       secret(18),
		AdminPassword: secret(12),
		Generation:    before.Generation + 1,
	}
	if openwrt {
		m.Commands = []certificate.Command{
			{Command: "uqmi -d /dev/cdc-wdm0 --delete-sms all (simulated)", Output: fmt.Sprintf("%d messages deleted from the SIM", before.SMSSIM)},
			{Command: "firstboot -y && reboot (simulated)", Output: "overlay erased; settings back to factory"},
			{Command: "uci set wireless.default_radio0.ssid=… key=… && passwd root (simulated)", Output: "SSID, Wi-Fi key and root password set to new random values"},
		}
	} else {
		m.Commands = []certificate.Command{
			{Command: "POST /api/sms/delete-sms (simulated HiLink API)", Output: fmt.Sprintf("<response>OK</response> %d on the device, %d on the SIM", before.SMSDevice, before.SMSSIM)},
			{Command: "POST /api/device/control <Control>2</Control> (simulated HiLink API: factory reset)", Output: "<response>OK</response>"},
			{Command: "POST /api/wlan/basic-settings, /api/wlan/security-settings, /api/user/password (simulated HiLink API)", Output: "SSID, Wi-Fi key and admin password set to new random values"},
		}
	}
	if err := saveHotspot(w.path, after); err != nil {
		return fail(fmt.Errorf("write the hotspot's settings: %w", err))
	}
	// Verification: read the settings back.
	if spec.Progress != nil {
		spec.Progress(wire.WipeProgress{Phase: wire.PhaseVerifying, DoneBytes: 1, TotalBytes: 1})
	}
	got, err := loadHotspot(w.path)
	switch {
	case err != nil:
		err = fmt.Errorf("read the settings back: %w", err)
	case got.SMSDevice != 0 || got.SMSSIM != 0:
		err = fmt.Errorf("%w: %d SMS left after the reset", wipe.ErrVerify, got.SMSDevice+got.SMSSIM)
	case got.SSID == before.SSID || got.WiFiKey == before.WiFiKey || got.AdminPassword == before.AdminPassword:
		err = fmt.Errorf("%w: a credential was not rotated", wipe.ErrVerify)
	}
	if err != nil {
		m.Verification.Result = wipe.VerifyFailed
		return fail(err)
	}
	m.Verification.Result = wipe.VerifyPassed
	m.Verification.Detail = fmt.Sprintf("read back: no SMS on the device or the SIM; SSID, Wi-Fi key and admin password changed (reset #%d)", got.Generation)
	m.Result, m.Finished = certificate.ResultSucceeded, w.now().UTC()
	return m, nil
}
