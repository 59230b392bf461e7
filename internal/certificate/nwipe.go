package certificate

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/wire"
)

// Results of a drive in an nwipe log, from its summary table.
const (
	NwipeErased     = "erased"     // " Erased "
	NwipeFailed     = "failed"     // "-FAILED-" (or nwipe's "INSANITY")
	NwipeAborted    = "aborted"    // "UABORTED": stopped by the user
	NwipeIncomplete = "incomplete" // the log ends before nwipe's summary
)

// Verification modes of nwipe (--verify).
const (
	NwipeVerifyOff  = "off"
	NwipeVerifyLast = "last"
	NwipeVerifyAll  = "all"
)

// NwipeLog is what an nwipe log (ShredOS, or nwipe --logfile) says about a
// run. Times carry no zone in the log: they are read as UTC, the clock of
// ShredOS.
type NwipeLog struct {
	// Version of nwipe ("0.33"), from its banner.
	Version string
	// Method is nwipe's label of the method ("Fill With Zeros", "PRNG Stream").
	Method string
	// Verify is NwipeVerifyOff, NwipeVerifyLast or NwipeVerifyAll.
	Verify string
	Rounds int
	// Blank is true when a final blanking (zeros) pass was asked for.
	Blank bool
	PRNG  string
	// PDFReportDir is where nwipe 0.35 and later wrote their own PDF
	// certificates, when the log says so.
	PDFReportDir string
	// Drives are the drives nwipe wiped (its summary table), in its order.
	Drives []NwipeDrive
}

// NwipeDrive is one drive of an nwipe run.
type NwipeDrive struct {
	Device string // /dev/sda
	Bus    string // nwipe's type: ATA, NVME, USB, VIRT…
	Model  string
	Serial string // as logged; "XXXXXXXX" when nwipe ran with --quiet
	// SizeBytes is the exact size when nwipe logged it, else derived from
	// its human-readable size (SizeText).
	SizeBytes int64
	SizeText  string
	Method    string
	Verify    string
	Rounds    int
	// Result is NwipeErased, NwipeFailed, NwipeAborted or NwipeIncomplete.
	Result string
	// Status is the drive's status as written in the summary table.
	Status                                string
	PassErrors, VerifyErrors, FsyncErrors int64
	BytesWritten, BytesRead               int64
	Throughput                            string // as in the summary table ("140 MB/s")
	Duration                              time.Duration
	Started, Finished                     time.Time
	// HiddenArea is the HPA/DCO state nwipe 0.35+ logs: "absent",
	// "present", "unknown", or "" when not logged.
	HiddenArea string
	// Lines are the log lines that name the drive, for the certificate's
	// raw answers.
	Lines []string
}

var (
	nwipeLine    = regexp.MustCompile(`^\[(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)\]\s+(?:nwipe:\s+)?(\w+):\s?(.*)$`)
	nwipeTotal   = regexp.MustCompile(`^\[(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)\] Total Throughput\s+(.*?), (.*), (\d+)R\+(N?B)\+(NV|VL|VA)\s*$`)
	nwipeStatus  = regexp.MustCompile(`^([! ])\s*(\S+) \|(.{8})\|\s*(.*?)/s \| (\d+):(\d\d):(\d\d) \| (.*)$`)
	nwipeErrors  = regexp.MustCompile(`^([! ])\s*(\S+) \|\s*(\d+) \|\s*(\d+) \|\s*(\d+)\s*$`)
	nwipeVersion = regexp.MustCompile(`\bnwipe (\d+\.\d+[\w.\-]*)`)
	nwipeGeom    = regexp.MustCompile(`^(/\S+), sect/blk/dev \d+/\d+/(\d+)$`)
	nwipeBytes   = regexp.MustCompile(`^(\d+) bytes (written to|read from) (/\S+)$`)
	nwipeSerial  = regexp.MustCompile(`^(/\S+) has serial number (.*)$`)
	nwipeHidden  = regexp.MustCompile(`^(No hidden areas on|HIDDEN AREA DETECTED! on|HIDDEN AREA INDETERMINATE! on) (/\S+)`)
	nwipeInvoke  = regexp.MustCompile(`^Invoking method '.*' on (/\S+)$`)
)

const nwipeTime = "2006/01/02 15:04:05"

// ParseNwipeLog reads an nwipe log: the program options, each drive found
// (model, serial, size), its wipe and the summary tables nwipe writes at
// the end (error summary and drive status, with the PDF report line of
// nwipe 0.35 and later). It reads logs of nwipe 0.28 (the first with the
// summary table) and later; lines it does not know are skipped, and
// messages nwipe wrapped onto indented lines are joined. The error wraps
// ErrNwipeLog when the text is not an nwipe log or no drive was wiped.
func ParseNwipeLog(r io.Reader) (NwipeLog, error) {
	var (
		log     NwipeLog
		drives  = map[string]*NwipeDrive{} // by device path
		order   []string
		byShort = map[string]string{} // "sda" -> "/dev/sda"
		table   string                // "", "errors", "status"
		lines   int
		errRows = map[string][3]int64{}
		rows    []statusRow
	)
	drive := func(dev string) *NwipeDrive {
		d, ok := drives[dev]
		if !ok {
			d = &NwipeDrive{Device: dev}
			drives[dev] = d
			order = append(order, dev)
			byShort[dev[strings.LastIndexByte(dev, '/')+1:]] = dev
		}
		return d
	}

	all, err := nwipeLines(r)
	if err != nil {
		return log, err
	}
	for _, text := range all {
		if m := nwipeTotal.FindStringSubmatch(text); m != nil {
			lines++
			log.Rounds, _ = strconv.Atoi(m[4])
			log.Blank = m[5] == "B"
			log.Verify = map[string]string{"NV": NwipeVerifyOff, "VL": NwipeVerifyLast, "VA": NwipeVerifyAll}[m[6]]
			if log.Method == "" {
				log.Method = m[3]
			}
			continue
		}
		switch {
		case strings.Contains(text, "* Error Summary *"):
			table = "errors"
			continue
		case strings.Contains(text, "* Drive Status *"):
			table = "status"
			continue
		case strings.HasPrefix(text, "Creating PDF report in "):
			log.PDFReportDir = strings.TrimSpace(strings.TrimPrefix(text, "Creating PDF report in "))
			continue
		}
		if table != "" {
			if m := nwipeErrors.FindStringSubmatch(text); m != nil && table == "errors" {
				errRows[m[2]] = [3]int64{atoi64(m[3]), atoi64(m[4]), atoi64(m[5])}
				continue
			}
			if m := nwipeStatus.FindStringSubmatch(text); m != nil && table == "status" {
				h, _ := strconv.Atoi(m[5])
				mi, _ := strconv.Atoi(m[6])
				s, _ := strconv.Atoi(m[7])
				rows = append(rows, statusRow{
					short: m[2], status: m[3], throughput: strings.TrimSpace(m[4]) + "/s",
					duration:    time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(s)*time.Second,
					modelSerial: m[8],
				})
				continue
			}
		}
		m := nwipeLine.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		lines++
		at, err := time.ParseInLocation(nwipeTime, m[1], time.UTC)
		if err != nil {
			continue
		}
		msg := strings.TrimSpace(m[3])

		// Program options and version.
		if v := nwipeVersion.FindStringSubmatch(msg); v != nil && log.Version == "" &&
			(m[2] == "info" && strings.HasPrefix(msg, "nwipe ") || strings.HasPrefix(msg, "banner")) {
			log.Version = v[1]
		}
		if k, v, ok := strings.Cut(msg, "="); ok && !strings.HasPrefix(msg, "Found ") {
			v = strings.TrimSpace(v)
			switch strings.TrimSpace(k) {
			case "method":
				log.Method = v
			case "prng":
				log.PRNG = v
			case "rounds":
				log.Rounds, _ = strconv.Atoi(v)
			case "verify":
				switch {
				case strings.HasPrefix(v, "0"):
					log.Verify = NwipeVerifyOff
				case strings.HasPrefix(v, "1"):
					log.Verify = NwipeVerifyLast
				case strings.HasPrefix(v, "2"):
					log.Verify = NwipeVerifyAll
				}
			}
		}
		switch {
		case msg == "do not perform a final blank pass":
			log.Blank = false
		case msg == "perform a final blank pass":
			log.Blank = true
		}

		// Drives.
		if rest, ok := strings.CutPrefix(msg, "Found "); ok {
			parseFound(rest, drive)
		}
		if g := nwipeGeom.FindStringSubmatch(msg); g != nil {
			drive(g[1]).SizeBytes = atoi64(g[2])
		}
		if s := nwipeSerial.FindStringSubmatch(msg); s != nil && drive(s[1]).Serial == "" {
			drive(s[1]).Serial = strings.TrimSpace(s[2])
		}
		if b := nwipeBytes.FindStringSubmatch(msg); b != nil {
			d := drive(b[3])
			n := atoi64(b[1])
			if b[2] == "written to" {
				d.BytesWritten = max(d.BytesWritten, n)
			} else {
				d.BytesRead = max(d.BytesRead, n)
			}
		}
		if h := nwipeHidden.FindStringSubmatch(msg); h != nil {
			switch {
			case strings.HasPrefix(h[1], "No"):
				drive(h[2]).HiddenArea = "absent"
			case strings.Contains(h[1], "DETECTED"):
				drive(h[2]).HiddenArea = "present"
			default:
				drive(h[2]).HiddenArea = "unknown"
			}
		}
		if i := nwipeInvoke.FindStringSubmatch(msg); i != nil && drive(i[1]).Started.IsZero() {
			drive(i[1]).Started = at
		}
		// Every line naming a drive: its raw record and its last time.
		for _, dev := range order {
			if mentions(msg, dev) {
				d := drives[dev]
				d.Lines = append(d.Lines, text)
				if !d.Started.IsZero() && at.After(d.Finished) {
					d.Finished = at
				}
			}
		}
	}
	if lines == 0 {
		return log, fmt.Errorf("%w: no line in nwipe's format", ErrNwipeLog)
	}

	// The summary table lists the drives wiped; without it (nwipe killed,
	// log cut), the drives a method was invoked on, incomplete.
	if len(rows) == 0 {
		for _, dev := range order {
			if d := drives[dev]; !d.Started.IsZero() {
				d.Result = NwipeIncomplete
				log.Drives = append(log.Drives, *d)
			}
		}
	}
	for _, row := range rows {
		dev, ok := byShort[row.short]
		if !ok {
			dev = "/dev/" + row.short
		}
		d := drive(dev)
		d.Status = strings.TrimSpace(row.status)
		switch d.Status {
		case "Erased":
			d.Result = NwipeErased
		case "UABORTED":
			d.Result = NwipeAborted
		default:
			d.Result = NwipeFailed
		}
		d.Throughput, d.Duration = row.throughput, row.duration
		if e, ok := errRows[row.short]; ok {
			d.PassErrors, d.VerifyErrors, d.FsyncErrors = e[0], e[1], e[2]
			if d.Result == NwipeErased && e[0]+e[1]+e[2] > 0 {
				d.Result = NwipeFailed
			}
		}
		model, serial := splitModelSerial(row.modelSerial, d.Model)
		if d.Model == "" {
			d.Model = model
		}
		if d.Serial == "" {
			d.Serial = serial
		}
		if end := d.Started.Add(d.Duration); !d.Started.IsZero() && end.After(d.Finished) {
			d.Finished = end
		}
		log.Drives = append(log.Drives, *d)
	}
	for i := range log.Drives {
		d := &log.Drives[i]
		d.Method, d.Verify, d.Rounds = log.Method, log.Verify, log.Rounds
		if d.SizeBytes == 0 {
			d.SizeBytes = max(d.BytesWritten, sizeFromText(d.SizeText))
		}
	}
	if len(log.Drives) == 0 {
		return log, fmt.Errorf("%w: no drive was wiped", ErrNwipeLog)
	}
	return log, nil
}

// nwipeIndent is the width of a log line's time stamp and level: nwipe
// wraps long messages (the kernel version) onto lines indented by it.
const nwipeIndent = len("[2024/07/30 10:25:26]    info: ")

// nwipeLines reads the log's lines, joining the continuation lines of a
// wrapped message to it.
func nwipeLines(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		text := strings.TrimRight(sc.Text(), "\r")
		n := len(out)
		if n > 0 && strings.HasPrefix(out[n-1], "[") && len(text) > nwipeIndent && strings.TrimLeft(text[:nwipeIndent], " ") == "" {
			out[n-1] += text[nwipeIndent:]
			continue
		}
		out = append(out, text)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read nwipe log: %w", err)
	}
	return out, nil
}

type statusRow struct {
	short, status, throughput, modelSerial string
	duration                               time.Duration
}

// parseFound reads "Found /dev/sda, ATA, WDC WD1600AAJS-2, 160 GB, S/N=WD-X"
// (older versions: "Found /dev/sdc, ATA WDC WD1600AAJS-2, 160GB, S/N=W").
func parseFound(rest string, drive func(string) *NwipeDrive) {
	f := strings.Split(rest, ", ")
	if len(f) < 4 || !strings.HasPrefix(f[len(f)-1], "S/N=") {
		return
	}
	d := drive(strings.TrimSpace(f[0]))
	d.Serial = strings.TrimSpace(strings.TrimPrefix(f[len(f)-1], "S/N="))
	d.SizeText = strings.TrimSpace(f[len(f)-2])
	if len(f) == 4 {
		d.Model = strings.TrimSpace(f[1])
		return
	}
	d.Bus = strings.TrimSpace(f[1])
	d.Model = strings.TrimSpace(strings.Join(f[2:len(f)-2], ", "))
}

// splitModelSerial splits the "model/serial" column of the drive status
// table, where the model is cut to 17 characters.
func splitModelSerial(s, model string) (string, string) {
	s = strings.TrimSpace(s)
	if model != "" {
		cut := model[:min(len(model), 17)]
		if rest, ok := strings.CutPrefix(s, cut+"/"); ok {
			return model, rest
		}
	}
	m, serial, _ := strings.Cut(s, "/")
	return m, serial
}

// mentions reports whether msg names the device dev, not one whose name
// merely starts with it (/dev/sda in /dev/sdaa).
func mentions(msg, dev string) bool {
	for i := 0; ; {
		j := strings.Index(msg[i:], dev)
		if j < 0 {
			return false
		}
		end := i + j + len(dev)
		if end == len(msg) || !isNameByte(msg[end]) {
			return true
		}
		i = end
	}
}

func isNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

// sizeFromText reads nwipe's human-readable sizes ("67 MB", "160GB",
// "4 TB"), which are in powers of 1000.
func sizeFromText(s string) int64 {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0
	}
	unit := strings.ToUpper(strings.TrimSpace(s[i:]))
	mult := map[string]float64{"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15}[unit]
	return int64(n * mult)
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// maxRawLog bounds the log lines kept as a drive's raw answers.
const maxRawLog = 8 << 10

// FromNwipe makes a certificate from a technician's nwipe log: the drive of
// the log whose serial matches diskSerial (both normalised as
// wire.NormalizeSerial), wiped by overwriting (NIST SP 800-88 Clear) and
// verified as nwipe's --verify says. raw is the log's bytes, whose SHA-256
// goes into the certificate's External record with the operator who
// imported it. The certificate succeeds only if nwipe erased the drive
// without error and verified it; a drive that failed or was aborted gives
// a failed certificate. The error wraps ErrSerialMismatch, naming both
// serials, when no drive of the log is the device's disk.
//
// The certificate's ID is derived from the log's hash and the serial, so
// the same evidence imported twice has the same ID; it is not signed.
func FromNwipe(log NwipeLog, asset Asset, diskSerial string, operator string, raw []byte) (Certificate, error) {
	if len(raw) == 0 {
		return Certificate{}, fmt.Errorf("%w: the log's bytes are missing", ErrNwipeLog)
	}
	want := wire.NormalizeSerial(diskSerial)
	var logged []string
	var d *NwipeDrive
	for i := range log.Drives {
		got := wire.NormalizeSerial(log.Drives[i].Serial)
		logged = append(logged, fmt.Sprintf("%s %q", log.Drives[i].Device, log.Drives[i].Serial))
		if want != "" && got == want {
			d = &log.Drives[i]
			break
		}
	}
	if want == "" {
		return Certificate{}, fmt.Errorf("%w: the device's disk has no usable serial (%q) to match the log against", ErrSerialMismatch, diskSerial)
	}
	if d == nil {
		return Certificate{}, fmt.Errorf("%w: the log wiped %s, not the device's disk with serial %q (a log written with nwipe --quiet hides serials)",
			ErrSerialMismatch, strings.Join(logged, ", "), diskSerial)
	}

	sum := sha256.Sum256(raw)
	logHash := hex.EncodeToString(sum[:])
	idSum := sha256.Sum256([]byte(logHash + "\x00" + want))

	m := Medium{
		Name:          d.Device,
		Type:          nwipeBusType(d.Bus),
		Model:         d.Model,
		Serial:        d.Serial,
		CapacityBytes: d.SizeBytes,
		HPA:           hiddenState(d.HiddenArea),
		DCO:           hiddenState(d.HiddenArea),
		Method:        wire.MethodOverwrite,
		Category:      CategoryClear,
		Pattern:       nwipePattern(d.Method),
		Commands: []Command{{
			Command: fmt.Sprintf("nwipe %s: method %q, %d round(s), verify %s, final blank pass %s",
				log.Version, d.Method, d.Rounds, d.Verify, yesNo(log.Blank)),
			ExitCode: nwipeExit(d.Result),
			Output:   truncateLines(d.Lines, maxRawLog),
		}},
		Started:  d.Started,
		Finished: d.Finished,
		Result:   ResultSucceeded,
		Verification: Verification{
			Method:       wire.VerifyFull,
			Result:       VerificationPassed,
			BytesChecked: d.BytesRead,
			Detail: fmt.Sprintf("nwipe --verify=%s: read back in full by nwipe; %d verification error(s), %d write error(s), %d sync error(s)",
				d.Verify, d.VerifyErrors, d.PassErrors, d.FsyncErrors),
		},
	}
	switch {
	case d.Verify == NwipeVerifyOff || d.Verify == "":
		m.Verification = Verification{Method: "none", Result: VerificationNotDone, Detail: "nwipe ran with --verify=off"}
		m.Result, m.Error = ResultFailed, "nwipe did not verify the drive (--verify=off): not accepted as sanitisation"
	case d.VerifyErrors > 0:
		m.Verification.Result = VerificationFailed
	case d.Result != NwipeErased:
		m.Verification.Result = VerificationNotDone
		m.Verification.Detail = fmt.Sprintf("nwipe --verify=%s: the wipe did not complete; %d write error(s), %d sync error(s)",
			d.Verify, d.PassErrors, d.FsyncErrors)
	}
	if d.Result != NwipeErased {
		m.Result = ResultFailed
		m.Error = fmt.Sprintf("nwipe status %q (%s)", d.Status, d.Result)
	} else if m.Verification.Result != VerificationPassed {
		m.Result = ResultFailed
		if m.Error == "" {
			m.Error = "nwipe verification " + m.Verification.Result
		}
	}

	c := Certificate{
		Version:  Version,
		ID:       "ext-" + hex.EncodeToString(idSum[:8]),
		Asset:    asset,
		Media:    []Medium{m},
		Operator: operator,
		Tool:     Tool{Name: "nwipe", Version: log.Version},
		Started:  d.Started,
		Finished: d.Finished,
		Result:   m.Result,
		External: &External{Tool: "nwipe", Version: log.Version, LogSHA256: logHash, ImportedBy: operator},
	}
	return c, nil
}

// FromNwipeDisks is FromNwipe for a device with several disks: the
// certificate is of the log's drive that is one of them, and the error,
// when none is, names every serial on both sides.
func FromNwipeDisks(log NwipeLog, asset Asset, diskSerials []string, operator string, raw []byte) (Certificate, error) {
	for _, s := range diskSerials {
		c, err := FromNwipe(log, asset, s, operator, raw)
		if !errors.Is(err, ErrSerialMismatch) {
			return c, err
		}
	}
	var logged []string
	for _, d := range log.Drives {
		logged = append(logged, fmt.Sprintf("%s %q", d.Device, d.Serial))
	}
	return Certificate{}, fmt.Errorf("%w: the log wiped %s, none of the device's disks %q (a log written with nwipe --quiet hides serials)",
		ErrSerialMismatch, strings.Join(logged, ", "), diskSerials)
}

func nwipeBusType(bus string) string {
	switch strings.ToUpper(bus) {
	case "NVME":
		return wire.DiskNVMe
	case "VIRT":
		return wire.DiskVirtual
	case "MMC":
		return wire.DiskEMMC
	}
	return wire.DiskUnknown
}

func hiddenState(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func nwipePattern(method string) string {
	switch strings.ToLower(method) {
	case "fill with zeros", "zero", "quick":
		return "zeros"
	case "fill with ones", "one":
		return "ones"
	case "prng stream", "random", "prng", "stream":
		return "random"
	}
	return strings.ToLower(method)
}

func nwipeExit(result string) int {
	if result == NwipeErased {
		return 0
	}
	return 1
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// truncateLines joins lines, keeping the last ones when they exceed max
// bytes: the end of a wipe says how it went.
func truncateLines(lines []string, max int) string {
	s := strings.Join(lines, "\n")
	if len(s) <= max {
		return s
	}
	cut := s[len(s)-max:]
	if i := strings.IndexByte(cut, '\n'); i >= 0 {
		cut = cut[i+1:]
	}
	return "[…]\n" + cut
}
