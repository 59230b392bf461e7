package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/agent/spool"
	"github.com/valise-numerique/valise/agent/wipe"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/internal/wire"
)

// The terminal ends of the wipe command; tests replace them.
var (
	// wipeStdin is where the confirmation is read.
	wipeStdin io.Reader = os.Stdin
	// wipeStdinIsTerminal tells whether someone can type a confirmation.
	wipeStdinIsTerminal = func() bool { return isTerminal(os.Stdin) }
	// wipeNow is the clock of the command.
	wipeNow = time.Now
)

// isTerminal reports whether f looks like a terminal: a character device
// other than the null device.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// spoolWait bounds the wait for the spool while `valise-agent run` holds
// it; a variable for tests.
var spoolWait = 10 * time.Second

// wipeCommand is `valise-agent wipe`: the maintenance-mode wipe of one
// disk, run from a live USB or PXE image, without any network.
func wipeCommand() *cli.Command {
	return &cli.Command{
		Name:      "wipe",
		Usage:     "erase and verify a disk in maintenance mode (from a live image, no network needed)",
		UsageText: "valise-agent wipe --disk /dev/sdX [--method auto] [--verify full|sample] [--yes] [--state DIR] [--certificate-out FILE] [--allow-removable]",
		Description: "Probes the disk, prints what it will do, asks to type the disk's name to\n" +
			"confirm (unless --yes; without a terminal --yes is required), erases it with\n" +
			"the strongest method it supports (or --method) and verifies the result.\n\n" +
			"It then writes a certificate signed with the device key of --state DIR\n" +
			"(device.key), to --certificate-out if given, and queues it in the state dir's\n" +
			"spool: `valise-agent run` uploads it once the network is back. Stop\n" +
			"`valise-agent run` first (it holds the spool). Without --state the\n" +
			"certificate is signed with a one-time key the server does not know.\n\n" +
			"Never wipes the disk holding the running system; mounted filesystems of the\n" +
			"target are allowed (maintenance mode), removable disks only with\n" +
			"--allow-removable. Exit 0 only if the disk was erased and verified.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "disk", Required: true, Usage: "the disk to erase: `DEV` (/dev/sda, /dev/nvme0n1), or a regular file"},
			&cli.StringFlag{Name: "method", Value: wire.MethodAuto, Usage: "auto, overwrite, luks, discard, nvme-sanitize-crypto, nvme-sanitize-block, nvme-format, ata-erase or ata-sanitize"},
			&cli.StringFlag{Name: "verify", Value: wire.VerifyFull, Usage: "full (read every byte back) or sample (NIST SP 800-88 sampling)"},
			&cli.StringFlag{Name: "pattern", Value: wipe.PatternZeros, Usage: "overwrite pattern: zeros or random"},
			&cli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation"},
			&cli.StringFlag{Name: "state", EnvVars: []string{"VALISE_AGENT_STATE"}, Usage: "state `DIR` of the enrolled agent: device key, identity and spool"},
			&cli.StringFlag{Name: "certificate-out", Usage: "write the certificate to `FILE`"},
			&cli.BoolFlag{Name: "allow-removable", Usage: "allow erasing a removable or USB disk"},
			&cli.StringFlag{Name: "operator", EnvVars: []string{"USER"}, Usage: "technician recorded in the certificate (default $USER)"},
			&cli.StringFlag{Name: "asset-tag", Usage: "asset tag recorded in the certificate when the state dir has none"},
			&cli.StringFlag{Name: "destination", Value: "reuse", Usage: "what happens to the device next: reuse, donation or recycling"},
			&cli.StringFlag{Name: "root", Value: "/", Hidden: true, Usage: "read /proc and /sys under `DIR` (tests)"},
		},
		Action: func(c *cli.Context) error {
			if err := cmdmain.NoArgs(c); err != nil {
				return err
			}
			o := maintenanceOptions{
				Disk: c.String("disk"), Yes: c.Bool("yes"), State: c.String("state"),
				CertificateOut: c.String("certificate-out"), Operator: c.String("operator"),
				AssetTag: c.String("asset-tag"), Destination: c.String("destination"),
				Wipe: wipe.Options{
					Method: c.String("method"), Verify: c.String("verify"), Pattern: c.String("pattern"),
					AllowRemovable: c.Bool("allow-removable"), Maintenance: true, Root: c.String("root"),
				},
			}
			if err := o.Wipe.Validate(); err != nil {
				return cmdmain.Usage(c, err)
			}
			return runMaintenanceWipe(c.Context, c.App.Writer, c.App.ErrWriter, o)
		},
	}
}

// maintenanceOptions are the flags of the wipe command.
type maintenanceOptions struct {
	Disk           string
	Yes            bool
	State          string
	CertificateOut string
	Operator       string
	AssetTag       string
	Destination    string
	Wipe           wipe.Options
}

// runMaintenanceWipe probes, confirms, wipes, certifies and queues.
func runMaintenanceWipe(ctx context.Context, stdout, stderr io.Writer, o maintenanceOptions) error {
	p, err := wipe.ProbeDisk(ctx, o.Disk, o.Wipe)
	if err != nil {
		return err
	}
	method, chooseErr := wipe.Choose(p, o.Wipe.Method)
	printPlan(stdout, p, method, o.Wipe.Verify)
	if err := wipe.CheckSafe(p, o.Wipe.AllowRemovable, true); err != nil {
		return err
	}
	if chooseErr != nil {
		return chooseErr
	}
	if !o.Yes {
		if err := confirm(stderr, p.Disk); err != nil {
			return err
		}
	}
	pr := &progressPrinter{w: stderr, terminal: isTerminalWriter(stderr), every: 5 * time.Second}
	o.Wipe.Progress = pr.print
	o.Wipe.Now = wipeNow
	started := wipeNow().UTC()
	m, wipeErr := wipe.Wipe(ctx, o.Disk, o.Wipe)
	pr.done()

	file, keyNote, err := maintenanceCertificate(o, m, started)
	if err != nil {
		return fmt.Errorf("wipe %s: %s; certificate: %w", o.Disk, m.Result, err)
	}
	body, err := file.Marshal()
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	cert, _ := file.Decode()
	fmt.Fprintf(stdout, "result:      %s", m.Result)
	if m.Result == certificate.ResultSucceeded {
		fmt.Fprintf(stdout, " (%s, %s, verification %s %s)\n", m.Method, m.Category, m.Verification.Method, m.Verification.Result)
	} else {
		fmt.Fprintf(stdout, ": %s\n", m.Error)
	}
	fmt.Fprintf(stdout, "certificate: %s, %s\n", cert.ID, keyNote)
	var saveErr error
	if o.CertificateOut != "" {
		if err := os.WriteFile(o.CertificateOut, body, 0o644); err != nil {
			saveErr = fmt.Errorf("write certificate: %w", err)
		} else {
			fmt.Fprintf(stdout, "written to:  %s\n", o.CertificateOut)
		}
	}
	if o.State != "" {
		if err := queueCertificate(o.State, cert, m, body, stdout); err != nil {
			// Keep the evidence in the state dir rather than lose it.
			keep := filepath.Join(o.State, "certificates", cert.ID+".json")
			if e := os.MkdirAll(filepath.Dir(keep), 0o700); e == nil {
				if e := os.WriteFile(keep, body, 0o600); e == nil {
					fmt.Fprintf(stdout, "kept in:     %s (not queued for upload)\n", keep)
				}
			}
			saveErr = errors.Join(saveErr, err)
		}
	} else if o.CertificateOut == "" {
		fmt.Fprintln(stderr, "valise-agent: no --state and no --certificate-out: the certificate is printed below only")
		stdout.Write(body)
	}
	if wipeErr != nil {
		return errors.Join(fmt.Errorf("wipe %s: %w", o.Disk, wipeErr), saveErr)
	}
	return saveErr
}

// printPlan says what the wipe is going to do.
func printPlan(w io.Writer, p wipe.Probe, method, verify string) {
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-12s %s\n", k+":", v)
		}
	}
	line("disk", p.Disk.Path+" ("+p.Disk.Name+", "+p.Disk.Type+")")
	line("model", p.Disk.Model)
	line("serial", p.Disk.Serial)
	line("firmware", p.Disk.Firmware)
	line("size", fmt.Sprintf("%s (%d bytes)", humanBytes(float64(p.Disk.Size)), p.Disk.Size))
	if p.HPA != wipe.StateAbsent || p.DCO != wipe.StateAbsent {
		line("HPA/DCO", p.HPA+"/"+p.DCO)
	}
	if p.Frozen {
		line("security", "frozen")
	}
	if len(p.Mounted) > 0 {
		line("mounted", strings.Join(p.Mounted, ", "))
	}
	line("methods", strings.Join(p.Methods, ", "))
	if method != "" {
		v := "device status"
		if method == wire.MethodOverwrite || method == wire.MethodDiscard {
			v = verify
		}
		line("method", fmt.Sprintf("%s (%s), verification %s", method, wipe.Category(method, p), v))
	}
}

// confirm asks to type the disk's name.
func confirm(stderr io.Writer, d wipe.Disk) error {
	if !wipeStdinIsTerminal() {
		return cmdmain.Usage(nil, errors.New("no terminal to confirm on: pass --yes to wipe without confirmation"))
	}
	fmt.Fprintf(stderr, "Everything on %s will be destroyed. Type its name (%s) to go on: ", d.Path, d.Name)
	line, err := bufio.NewReader(wipeStdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read confirmation: %w", err)
	}
	line = strings.TrimSpace(line)
	if line != d.Name && line != d.Path {
		return fmt.Errorf("not confirmed (typed %q, not %q): nothing was erased", line, d.Name)
	}
	return nil
}

// maintenanceCertificate builds and signs the certificate of a wipe. The
// note says which key signed it.
func maintenanceCertificate(o maintenanceOptions, m certificate.Medium, started time.Time) (certificate.File, string, error) {
	suffix := make([]byte, 4)
	rand.Read(suffix)
	c := certificate.Certificate{
		Version:     certificate.Version,
		ID:          "cert-m-" + started.Format("20060102T150405Z") + "-" + hex.EncodeToString(suffix),
		Asset:       maintenanceAsset(o),
		Media:       []certificate.Medium{m},
		Operator:    or(o.Operator, "unknown"),
		Destination: o.Destination,
		Tool:        certificate.Tool{Name: "valise-agent", Version: version},
		Started:     started,
		Finished:    m.Finished,
		Result:      m.Result,
	}
	if c.Finished.Before(c.Started) {
		c.Finished = c.Started
	}
	var key ed25519.PrivateKey
	note := "signed with the device key"
	if o.State != "" {
		k, err := agent.LoadDeviceKey(o.State)
		if err == nil {
			key = k
		} else {
			note = "signed with a one-time key (" + err.Error() + "): the server cannot tie it to the device's key"
		}
	} else {
		note = "signed with a one-time key (no --state): the server cannot tie it to a device key"
	}
	if key == nil {
		var err error
		if _, key, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return certificate.File{}, "", err
		}
	}
	f, err := certificate.Sign(c, key)
	return f, note, err
}

// maintenanceAsset identifies the device: the state's identity when there
// is one, --asset-tag, and the firmware's (DMI) identity when readable.
func maintenanceAsset(o maintenanceOptions) certificate.Asset {
	var a certificate.Asset
	if o.State != "" {
		if st, err := agent.LoadState(o.State); err == nil {
			a.DeviceID, a.AssetTag, a.Class = st.DeviceID, st.AssetTag, st.Class
		}
	}
	if o.AssetTag != "" {
		a.AssetTag = o.AssetTag
	}
	if a.DeviceID == "" && a.AssetTag == "" {
		a.AssetTag = "untagged"
	}
	dmi := filepath.Join(or(o.Wipe.Root, "/"), "sys/class/dmi/id")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dmi, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	a.Vendor, a.Model = read("sys_vendor"), read("product_name")
	a.Serial = wire.NormalizeSerial(read("product_serial"))
	a.UUID = wire.NormalizeUUID(read("product_uuid"))
	return a
}

// queueCertificate appends the wipe_result event to the state dir's spool.
func queueCertificate(stateDir string, cert certificate.Certificate, m certificate.Medium, body []byte, stdout io.Writer) error {
	result := wire.WipeResult{OK: m.Result == certificate.ResultSucceeded, Error: m.Error, Certificate: body}
	data, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("queue certificate: %w", err)
	}
	ev := wire.Event{
		Type:    wire.EventWipeResult,
		OK:      result.OK,
		Message: fmt.Sprintf("maintenance-mode wipe of %s: %s (certificate %s)", m.Name, m.Result, cert.ID),
		Data:    data,
	}
	seq, err := agent.QueueEvent(stateDir, ev, spoolWait, wipeNow)
	if errors.Is(err, spool.ErrLocked) {
		return fmt.Errorf("queue certificate: %w: stop `valise-agent run` (systemctl stop valise-agent) during a maintenance wipe", err)
	}
	if err != nil {
		return fmt.Errorf("queue certificate: %w", err)
	}
	fmt.Fprintf(stdout, "queued:      event %d in %s, uploaded by `valise-agent run` once online\n", seq, filepath.Join(stateDir, agent.SpoolFile))
	return nil
}

// isTerminalWriter reports whether w is a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// progressPrinter shows wipe progress: one line refreshed with \r on a
// terminal, a line every few seconds (and at the end of each phase)
// otherwise.
type progressPrinter struct {
	w        io.Writer
	terminal bool
	every    time.Duration
	last     time.Time
	phase    string
	open     bool // a \r line is on screen
}

func (p *progressPrinter) print(w wire.WipeProgress) {
	now := wipeNow()
	end := w.TotalBytes > 0 && w.DoneBytes == w.TotalBytes
	if !p.terminal && w.Phase == p.phase && !end && now.Sub(p.last) < p.every {
		return
	}
	p.last, p.phase = now, w.Phase
	text := fmt.Sprintf("%-9s %s", w.Phase, w.Disk)
	if w.TotalBytes > 0 {
		text = fmt.Sprintf("%-9s %s  %s / %s (%.0f%%)", w.Phase, w.Disk, humanBytes(float64(w.DoneBytes)), humanBytes(float64(w.TotalBytes)),
			100*float64(w.DoneBytes)/float64(w.TotalBytes))
		if w.RateBps > 0 {
			text += fmt.Sprintf("  %s/s", humanBytes(w.RateBps))
			if left := w.TotalBytes - w.DoneBytes; left > 0 {
				text += "  ETA " + time.Duration(float64(left)/w.RateBps*float64(time.Second)).Round(time.Second).String()
			}
		}
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", text)
		p.open = true
		if end {
			fmt.Fprintln(p.w)
			p.open = false
		}
		return
	}
	fmt.Fprintln(p.w, text)
}

// done ends a refreshed line left open.
func (p *progressPrinter) done() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

// humanBytes writes n bytes in SI units, as disk makers count them.
func humanBytes(n float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for n >= 1000 && i < len(units)-1 {
		n /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", n, units[i])
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
