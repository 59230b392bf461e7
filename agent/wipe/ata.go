package wipe

import (
	"context"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/wire"
)

// ATAIdentity is what Wipe reads of `hdparm -I`.
type ATAIdentity struct {
	Model, Serial, Firmware string
	// Security feature set: supported, enabled (a password is set), locked, frozen.
	SecuritySupported, SecurityEnabled, Locked, Frozen bool
	EnhancedErase                                      bool
	// Sanitize feature set and its operations.
	Sanitize, CryptoScramble, BlockErase bool
}

var hdparmField = regexp.MustCompile(`(?m)^\s*(Model Number|Serial Number|Firmware Revision):\s*(.*?)\s*$`)

// ParseHdparmIdentify parses the output of `hdparm -I DEV`.
func ParseHdparmIdentify(out string) ATAIdentity {
	var id ATAIdentity
	for _, m := range hdparmField.FindAllStringSubmatch(out, -1) {
		switch m[1] {
		case "Model Number":
			id.Model = m[2]
		case "Serial Number":
			id.Serial = m[2]
		case "Firmware Revision":
			id.Firmware = m[2]
		}
	}
	section := ""
	for _, line := range strings.Split(out, "\n") {
		if line != "" && line[0] != ' ' && line[0] != '\t' {
			section, _, _ = strings.Cut(line, ":")
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch section {
		case "Security":
			not := f[0] == "not"
			word := f[len(f)-1]
			if not {
				f = f[1:]
			}
			if len(f) == 0 {
				continue
			}
			switch {
			case f[0] == "supported" && len(f) == 1:
				id.SecuritySupported = !not
			case f[0] == "supported:" && word == "erase":
				id.EnhancedErase = !not && strings.Contains(line, "enhanced")
			case f[0] == "enabled":
				id.SecurityEnabled = !not
			case f[0] == "locked":
				id.Locked = !not
			case f[0] == "frozen":
				id.Frozen = !not
			}
		case "Commands/features":
			feature := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
			switch {
			case strings.HasPrefix(feature, "SANITIZE feature set"):
				id.Sanitize = true
			case strings.HasPrefix(feature, "CRYPTO_SCRAMBLE_EXT"):
				id.CryptoScramble = true
			case strings.HasPrefix(feature, "BLOCK_ERASE_EXT"):
				id.BlockErase = true
			}
		}
	}
	return id
}

// Methods lists the ATA methods the drive supports, strongest first.
func (id ATAIdentity) Methods() []string {
	var m []string
	if id.Sanitize && (id.CryptoScramble || id.BlockErase) {
		m = append(m, wire.MethodATASanitize)
	}
	if id.SecuritySupported && !id.Locked {
		m = append(m, wire.MethodATAErase)
	}
	return m
}

var (
	hpaLine      = regexp.MustCompile(`max sectors\s*=\s*(\d+)/(\d+),\s*HPA is (enabled|disabled)`)
	dcoRealMax   = regexp.MustCompile(`Real max sectors:\s*(\d+)`)
	sanitizeProg = regexp.MustCompile(`Progress:\s*0x[0-9a-fA-F]+\s*\((\d+)%\)`)
)

// ParseHdparmHPA parses `hdparm -N DEV`: the HPA state and the native max
// sectors.
func ParseHdparmHPA(out string) (state string, native int64) {
	m := hpaLine.FindStringSubmatch(out)
	if m == nil {
		return StateUnknown, 0
	}
	native, _ = strconv.ParseInt(m[2], 10, 64)
	if m[3] == "enabled" || m[1] != m[2] {
		return StatePresent, native
	}
	return StateAbsent, native
}

// ParseHdparmDCO parses `hdparm --dco-identify DEV` against the native max
// sectors: a DCO hides sectors when its real max is larger.
func ParseHdparmDCO(out string, native int64) string {
	m := dcoRealMax.FindStringSubmatch(out)
	if m == nil || native == 0 {
		return StateUnknown
	}
	real, _ := strconv.ParseInt(m[1], 10, 64)
	if real > native {
		return StatePresent
	}
	return StateAbsent
}

// ATASanitizeState is the answer of `hdparm --sanitize-status`.
type ATASanitizeState struct {
	InProgress, Frozen, Failed, Succeeded bool
	Percent                               int
}

// ParseHdparmSanitizeStatus parses `hdparm --sanitize-status DEV`.
func ParseHdparmSanitizeStatus(out string) ATASanitizeState {
	var s ATASanitizeState
	switch {
	case strings.Contains(out, "SD2") || strings.Contains(out, "In Process"):
		s.InProgress = true
		if m := sanitizeProg.FindStringSubmatch(out); m != nil {
			s.Percent, _ = strconv.Atoi(m[1])
		}
	case strings.Contains(out, "SD1") || strings.Contains(out, "Sanitize Frozen"):
		s.Frozen = true
	case strings.Contains(out, "SD3") || strings.Contains(out, "Failed") || strings.Contains(out, "With Error"):
		s.Failed = true
	case strings.Contains(out, "SD4") || strings.Contains(out, "Completed Without Error") || strings.Contains(out, "succeeded"):
		s.Succeeded, s.Percent = true, 100
	}
	return s
}

// probeATA reads the drive's identity, security and sanitize features, and
// its HPA and DCO states.
func probeATA(ctx context.Context, p *Probe, rec *recorder) {
	dev := p.Disk.Path
	p.HPA, p.DCO = StateUnknown, StateUnknown
	out, err := rec.run(ctx, "hdparm", "-I", dev)
	if err != nil {
		return
	}
	id := ParseHdparmIdentify(out)
	p.Disk.Serial = or(id.Serial, p.Disk.Serial)
	p.Disk.Model = or(id.Model, p.Disk.Model)
	p.Disk.Firmware = or(id.Firmware, p.Disk.Firmware)
	p.Methods = append(p.Methods, id.Methods()...)
	p.Frozen = id.Frozen
	p.enhanced = id.EnhancedErase
	p.cryptoScramble = id.CryptoScramble
	var native int64
	if out, err := rec.run(ctx, "hdparm", "-N", dev); err == nil {
		p.HPA, native = ParseHdparmHPA(out)
	}
	if out, err := rec.run(ctx, "hdparm", "--dco-identify", dev); err == nil {
		p.DCO = ParseHdparmDCO(out, native)
	}
}

// ATACommands returns the command lines of an ATA erasure of dev: for a
// security erase, setting a one-time user password then erasing with it
// (enhanced when supported; the erase clears the password); for a
// sanitize, the crypto scramble or block erase command.
func ATACommands(method, dev, password string, enhanced, cryptoScramble bool) [][]string {
	if method == wire.MethodATASanitize {
		op := "--sanitize-block-erase"
		if cryptoScramble {
			op = "--sanitize-crypto-scramble"
		}
		return [][]string{{"hdparm", "--yes-i-know-what-i-am-doing", op, dev}}
	}
	erase := "--security-erase"
	if enhanced {
		erase = "--security-erase-enhanced"
	}
	return [][]string{
		{"hdparm", "--user-master", "u", "--security-set-pass", password, dev},
		{"hdparm", "--user-master", "u", erase, password, dev},
	}
}

// ataErase runs an ATA security erase or sanitize and checks the drive's
// status afterwards.
func ataErase(ctx context.Context, p Probe, method string, o *Options, rec *recorder, m *certificate.Medium) error {
	dev := p.Disk.Path
	m.Verification = certificate.Verification{Method: VerifyDeviceStatus, Result: VerifyNotDone}
	pw := make([]byte, 6)
	if _, err := fullRead(o.Rand, pw); err != nil {
		return fmt.Errorf("%w: password: %v", ErrErase, err)
	}
	for _, cmd := range ATACommands(method, dev, "valise-"+hex.EncodeToString(pw), p.enhanced, p.cryptoScramble) {
		if out, err := rec.run(ctx, cmd[0], cmd[1:]...); err != nil {
			return fmt.Errorf("%w: %s: %v: %s", ErrErase, strings.Join(cmd[:len(cmd)-1], " "), err, firstLine(out))
		}
	}
	if method == wire.MethodATAErase {
		out, err := rec.run(ctx, "hdparm", "-I", dev)
		if err != nil {
			m.Verification.Result = VerifyFailed
			return fmt.Errorf("%w: hdparm -I %s: %v", ErrVerify, dev, err)
		}
		if id := ParseHdparmIdentify(out); id.SecurityEnabled || id.Locked {
			m.Verification.Result = VerifyFailed
			return fmt.Errorf("%w: %s still has a security password after the erase", ErrVerify, dev)
		}
		m.Verification.Result = VerifyPassed
		m.Verification.Detail = "hdparm -I after the erase: security not enabled, not locked"
		return nil
	}
	for {
		out, err := rec.poll(ctx, "hdparm", "--sanitize-status", dev)
		if err != nil {
			m.Verification.Result = VerifyFailed
			return fmt.Errorf("%w: hdparm --sanitize-status %s: %v", ErrVerify, dev, err)
		}
		st := ParseHdparmSanitizeStatus(out)
		if o.Progress != nil {
			o.Progress(wire.WipeProgress{Job: o.Job, Disk: p.Disk.Name, Phase: wire.PhaseErasing, DoneBytes: p.Disk.Size * int64(st.Percent) / 100, TotalBytes: p.Disk.Size})
		}
		switch {
		case st.Succeeded:
			m.Verification.Result = VerifyPassed
			m.Verification.Detail = "sanitize status: last sanitize operation completed without error"
			return nil
		case st.Failed, st.Frozen:
			m.Verification.Result = VerifyFailed
			return fmt.Errorf("%w: the sanitize status of %s says it failed or is frozen", ErrErase, dev)
		case !st.InProgress:
			m.Verification.Result = VerifyFailed
			return fmt.Errorf("%w: unexpected sanitize status of %s: %s", ErrVerify, dev, firstLine(out))
		}
		if err := sleep(ctx, o.PollEvery); err != nil {
			return fmt.Errorf("%w: cancelled while the drive sanitizes (it goes on by itself): %v", ErrErase, err)
		}
	}
}
