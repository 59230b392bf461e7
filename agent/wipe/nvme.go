package wipe

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// NVMeController is what Wipe reads of `nvme id-ctrl -o json`.
type NVMeController struct {
	Serial   string `json:"sn"`
	Model    string `json:"mn"`
	Firmware string `json:"fr"`
	OACS     uint64 `json:"oacs"`    // bit 1: Format NVM supported
	FNA      uint64 `json:"fna"`     // bit 2: crypto erase supported as part of secure erase
	SANICAP  uint64 `json:"sanicap"` // bit 0: crypto erase, bit 1: block erase, bit 2: overwrite
}

// ParseNVMeIDCtrl parses the JSON output of `nvme id-ctrl DEV -o json`.
func ParseNVMeIDCtrl(out []byte) (NVMeController, error) {
	var c NVMeController
	if err := json.Unmarshal(out, &c); err != nil {
		return c, fmt.Errorf("parse nvme id-ctrl: %w", err)
	}
	c.Serial, c.Model, c.Firmware = strings.TrimSpace(c.Serial), strings.TrimSpace(c.Model), strings.TrimSpace(c.Firmware)
	return c, nil
}

// Methods lists the NVMe methods the controller supports, strongest first.
func (c NVMeController) Methods() []string {
	var m []string
	if c.SANICAP&1 != 0 {
		m = append(m, wire.MethodNVMeSanitizeCrypto)
	}
	if c.SANICAP&2 != 0 {
		m = append(m, wire.MethodNVMeSanitizeBlock)
	}
	if c.OACS&2 != 0 {
		m = append(m, wire.MethodNVMeFormat)
	}
	return m
}

// SanitizeStatus is the state of the last NVMe sanitize, from the
// sanitize log.
type SanitizeStatus struct {
	Status   int     // SSTAT bits 2:0: 0 never, 1 succeeded, 2 in progress, 3 failed, 4 succeeded (no-deallocate)
	Progress float64 // 0 to 1 while in progress
}

// Done reports whether the sanitize ended, and OK whether it succeeded.
func (s SanitizeStatus) Done() bool { return s.Status != 2 }

// OK reports whether the last sanitize succeeded.
func (s SanitizeStatus) OK() bool { return s.Status == 1 || s.Status == 4 }

var sstatPrefix = regexp.MustCompile(`^\((\d+)\)`)

// ParseNVMeSanitizeLog parses `nvme sanitize-log DEV -o json`: an object
// keyed by the device name whose "sstat" is a number (nvme-cli 1.x) or an
// object whose "status" reads "(N) text" (nvme-cli 2.x).
func ParseNVMeSanitizeLog(out []byte) (SanitizeStatus, error) {
	var root map[string]struct {
		SPROG int64           `json:"sprog"`
		SSTAT json.RawMessage `json:"sstat"`
	}
	if err := json.Unmarshal(out, &root); err != nil {
		return SanitizeStatus{}, fmt.Errorf("parse nvme sanitize-log: %w", err)
	}
	for _, dev := range root {
		s := SanitizeStatus{Progress: float64(dev.SPROG) / 65536}
		var n int
		var obj struct {
			Status string `json:"status"`
		}
		switch {
		case json.Unmarshal(dev.SSTAT, &n) == nil:
			s.Status = n & 7
		case json.Unmarshal(dev.SSTAT, &obj) == nil && sstatPrefix.MatchString(obj.Status):
			v, _ := strconv.Atoi(sstatPrefix.FindStringSubmatch(obj.Status)[1])
			s.Status = v & 7
		default:
			return s, fmt.Errorf("parse nvme sanitize-log: no sstat")
		}
		if s.Status != 2 {
			s.Progress = 1
		}
		return s, nil
	}
	return SanitizeStatus{}, fmt.Errorf("parse nvme sanitize-log: empty log")
}

// probeNVMe reads the controller's identity and capabilities.
func probeNVMe(ctx context.Context, p *Probe, rec *recorder) {
	out, err := rec.run(ctx, "nvme", "id-ctrl", p.Disk.Path, "-o", "json")
	if err != nil {
		return
	}
	c, err := ParseNVMeIDCtrl([]byte(out))
	if err != nil {
		return
	}
	p.Disk.Serial = or(c.Serial, p.Disk.Serial)
	p.Disk.Model = or(c.Model, p.Disk.Model)
	p.Disk.Firmware = or(c.Firmware, p.Disk.Firmware)
	p.Methods = append(p.Methods, c.Methods()...)
	p.fna = c.FNA
}

// NVMeCommand returns the command line that starts method on dev: a
// sanitize (crypto erase: sanact 4, block erase: sanact 2) or a format
// with secure erase (SES 2, crypto, when the controller supports it, else
// SES 1, user data erase).
func NVMeCommand(method, dev string, fna uint64) []string {
	switch method {
	case wire.MethodNVMeSanitizeCrypto:
		return []string{"nvme", "sanitize", dev, "--sanact=4"}
	case wire.MethodNVMeSanitizeBlock:
		return []string{"nvme", "sanitize", dev, "--sanact=2"}
	}
	ses := "--ses=1"
	if fna&4 != 0 {
		ses = "--ses=2"
	}
	return []string{"nvme", "format", dev, ses, "--force"}
}

// nvmeErase runs an NVMe sanitize or format, then checks the device's
// status: the sanitize log for a sanitize (polled until it ends), the
// command's status for a format.
func nvmeErase(ctx context.Context, p Probe, method string, o *Options, rec *recorder, m *certificate.Medium) error {
	dev := p.Disk.Path
	m.Verification = certificate.Verification{Method: VerifyDeviceStatus, Result: VerifyNotDone}
	cmd := NVMeCommand(method, dev, p.fna)
	if out, err := rec.run(ctx, cmd[0], cmd[1:]...); err != nil {
		return fmt.Errorf("%w: %s: %v: %s", ErrErase, strings.Join(cmd, " "), err, firstLine(out))
	}
	if method == wire.MethodNVMeFormat {
		m.Verification.Result = VerifyPassed
		m.Verification.Detail = "format with secure erase completed without error"
		return nil
	}
	for {
		out, err := rec.poll(ctx, "nvme", "sanitize-log", dev, "-o", "json")
		if err != nil {
			m.Verification.Result = VerifyFailed
			return fmt.Errorf("%w: nvme sanitize-log %s: %v", ErrVerify, dev, err)
		}
		st, err := ParseNVMeSanitizeLog([]byte(out))
		if err != nil {
			m.Verification.Result = VerifyFailed
			return fmt.Errorf("%w: %v", ErrVerify, err)
		}
		if o.Progress != nil {
			done := int64(st.Progress * float64(p.Disk.Size))
			o.Progress(wire.WipeProgress{Job: o.Job, Disk: p.Disk.Name, Phase: wire.PhaseErasing, DoneBytes: done, TotalBytes: p.Disk.Size})
		}
		if st.Done() {
			if !st.OK() {
				m.Verification.Result = VerifyFailed
				return fmt.Errorf("%w: the sanitize log of %s says the sanitize failed (status %d)", ErrErase, dev, st.Status)
			}
			m.Verification.Result = VerifyPassed
			m.Verification.Detail = fmt.Sprintf("sanitize log status %d: completed successfully", st.Status)
			return nil
		}
		if err := sleep(ctx, o.PollEvery); err != nil {
			return fmt.Errorf("%w: cancelled while the device sanitizes (it goes on by itself): %v", ErrErase, err)
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
