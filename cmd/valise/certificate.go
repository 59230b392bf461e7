package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/certificate"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

// maxCertFile bounds a certificate or server key file read from disk.
const maxCertFile = 16 << 20

const certRefArg = "ID|TAG|CERT-ID"

func (e *env) certificateCommand() *cli.Command {
	return &cli.Command{
		Name:  "certificate",
		Usage: "wipe certificates: show, verify offline, import external evidence",
		Subcommands: []*cli.Command{
			{
				Name:      "show",
				Usage:     "show the latest certificate of a device, or a given certificate",
				ArgsUsage: certRefArg,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "pdf", Usage: "also write the certificate as a PDF to `FILE`, for filing"},
					&cli.BoolFlag{Name: "json", Usage: "print the certificate file itself (signed JSON), to keep or verify"},
				},
				Action: e.certificateShow,
			},
			{
				Name:      "list",
				Usage:     "list the certificates of a device, newest first",
				ArgsUsage: refArg,
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.certificateList,
			},
			{
				Name:      "verify",
				Usage:     "check a certificate file offline: format, signatures, server key, content, chain",
				ArgsUsage: "FILE",
				Description: "Checks the file with no network, unless --server is given here (the global\n" +
					"--server and VALISE_SERVER are not used). Without --server-key (a file holding\n" +
					"the key GET /api/v1/server-key serves: base64, PEM or that JSON) the file is only\n" +
					"shown consistent, not countersigned by your server.\n" +
					"Exits 0 if the certificate is valid, 1 if not, naming the check that failed.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "server-key", Usage: "the server's public key, from `FILE`"},
					&cli.StringFlag{Name: "server", Usage: "fetch the server's public key from the server at `URL` instead"},
					&cli.StringFlag{Name: "prev", Usage: "the asset's previous certificate `FILE`, to check the chain"},
					&cli.BoolFlag{Name: "unsigned", Usage: "accept a file the server has not countersigned yet (the copy valise-agent wipe --certificate-out writes)"},
					jsonFlag(),
				},
				Action: e.certificateVerify,
			},
			{
				Name:      "import",
				Usage:     "attach the log of an nwipe (ShredOS) wipe to a device as external evidence",
				ArgsUsage: refArg + " LOG",
				Description: "The server accepts the log only if the wiped drive's serial is one of the\n" +
					"device's disks; the certificate it makes is marked as external evidence.",
				Flags:  []cli.Flag{jsonFlag()},
				Action: e.certificateImport,
			},
		},
	}
}

func (e *env) certificateShow(c *cli.Context) error {
	pos, err := args(c, certRefArg)
	if err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	id, data, err := findCertificate(c, cl, pos[0])
	if err != nil {
		return err
	}
	if file := c.String("pdf"); file != "" {
		pdf, err := cl.CertificatePDF(c.Context, id)
		if err != nil {
			return explain(c, err)
		}
		if err := os.WriteFile(file, pdf, 0o644); err != nil {
			return fmt.Errorf("write the PDF: %w", err)
		}
		msg := e.stdout
		if e.wantJSON(c) {
			msg = e.stderr
		}
		fmt.Fprintf(msg, "Wrote certificate %s to %s (%d bytes).\n", id, file, len(pdf))
	}
	if e.wantJSON(c) {
		_, err := e.stdout.Write(data)
		return err
	}
	w := &errWriter{w: e.stdout}
	e.printCertificate(w, data)
	return w.err
}

func (e *env) certificateList(c *cli.Context) error {
	return onDevice(e, c, func(cl *apiclient.Client, ref string) ([]apitype.CertificateInfo, error) {
		return cl.Certificates(c.Context, ref)
	}, e.printCertificates)
}

// printCertificates prints the wipe certificates of the device ref.
func (e *env) printCertificates(w io.Writer, ref string, certs []apitype.CertificateInfo) {
	if len(certs) == 0 {
		fmt.Fprintf(w, "%s has no wipe certificate yet: valise wipe %s\n", ref, ref)
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "CERTIFICATE\tFINISHED\tRESULT\tMETHODS\tCATEGORY\tJOB\tEVIDENCE\tSHA-256")
	for _, ci := range certs {
		evidence := "agent"
		if ci.External {
			evidence = "external"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ci.ID, e.clock(ci.Finished), ci.Result,
			orDash(strings.Join(ci.Methods, ", ")), orDash(ci.Category), orDash(ci.Job), evidence, shortHash(ci.Hash))
	}
	tw.Flush()
}

// findCertificate fetches the certificate ref names: a certificate id, or
// a device whose latest certificate it takes.
func findCertificate(c *cli.Context, cl *apiclient.Client, ref string) (string, []byte, error) {
	data, err := cl.CertificateFile(c.Context, ref)
	if err == nil {
		return ref, data, nil
	}
	if !apiclient.IsNotFound(err) {
		return "", nil, explain(c, err)
	}
	certs, err := cl.Certificates(c.Context, ref)
	switch {
	case apiclient.IsNotFound(err):
		return "", nil, fmt.Errorf("no device or certificate matches %s", ref)
	case err != nil:
		return "", nil, explain(c, err)
	case len(certs) == 0:
		return "", nil, fmt.Errorf("%s has no wipe certificate yet: valise wipe %s", ref, ref)
	}
	data, err = cl.CertificateFile(c.Context, certs[0].ID)
	if err != nil {
		return "", nil, explain(c, err)
	}
	return certs[0].ID, data, nil
}

// printCertificate prints the readable summary of a certificate file,
// with the result of its checks against the keys it carries.
func (e *env) printCertificate(out io.Writer, data []byte) {
	f, err := certificate.ParseFile(data)
	if err != nil {
		fmt.Fprintf(out, "Not a certificate file: %v\n", err)
		return
	}
	cert, err := f.Decode()
	if err != nil {
		fmt.Fprintf(out, "Not a certificate file: %v\n", err)
		return
	}
	w := tabwriter.NewWriter(out, 17, 0, 2, ' ', 0)
	defer w.Flush()
	result := cert.Result
	if result != certificate.ResultSucceeded {
		result = e.warn(result)
	}
	fmt.Fprintln(w, e.bold("Certificate "+cert.ID)+" · "+result)
	a := cert.Asset
	row(w, "Asset", join(" · ", orDash(a.AssetTag), a.Class, vendorModel(a.Vendor, a.Model), prefixed("serial ", a.Serial)))
	if a.UUID != "" {
		row(w, "UUID", a.UUID)
	}
	if a.IMEI != "" {
		row(w, "IMEI", a.IMEI)
	}
	row(w, "Device ID", orDash(a.DeviceID))
	if cert.JobID != "" {
		row(w, "Job", cert.JobID)
	}
	row(w, "Operator", orDash(cert.Operator))
	if cert.SourceVenue != "" {
		row(w, "Source venue", cert.SourceVenue)
	}
	row(w, "Destination", orDash(cert.Destination))
	row(w, "Started", e.clock(cert.Started))
	row(w, "Finished", e.clock(cert.Finished)+" ("+eta(cert.Finished.Sub(cert.Started))+")")
	row(w, "Tool", orDash(join(" ", cert.Tool.Name, cert.Tool.Version)))
	if x := cert.External; x != nil {
		row(w, "Evidence", join(", ", "external: "+join(" ", x.Tool, x.Version)+" log", prefixed("sha256 ", x.LogSHA256), prefixed("imported by ", x.ImportedBy)))
	}
	for _, m := range cert.Media {
		label := "Medium " + m.Name
		row(w, label, join(" · ", m.Type, m.Model, prefixed("serial ", m.Serial), prefixed("firmware ", m.Firmware),
			gb(uint64(max(m.CapacityBytes, 0))), prefixed("HPA ", m.HPA), prefixed("DCO ", m.DCO)))
		v := m.Verification
		row(w, "", join(" · ", m.Method+" ("+m.Category+")", prefixed("pattern ", m.Pattern),
			"verification "+join(" ", v.Method, v.Result), checked(v), m.Result))
		if m.Error != "" {
			row(w, "", e.warn("error: "+cmdmain.OneLine(m.Error)))
		}
	}
	if cert.PrevHash != "" {
		row(w, "Previous", "certificate sha256 "+cert.PrevHash)
	} else {
		row(w, "Previous", "none: the asset's first certificate")
	}
	sum := sha256.Sum256(data)
	row(w, "SHA-256", hex.EncodeToString(sum[:]))
	deviceKey := orDash(f.DeviceKey)
	if cert.External != nil && f.DeviceKey == f.ServerKey {
		deviceKey += " (the server's: no device signed imported evidence)"
	}
	row(w, "Device key", deviceKey)
	row(w, "Server key", orDefault(f.ServerKey, "not countersigned"))
	if _, _, err := certificate.Verify(data, certificate.VerifyOptions{}); err != nil {
		row(w, "Signatures", e.warn("INVALID: "+cmdmain.OneLine(err.Error())))
	} else {
		row(w, "Signatures", "valid against the keys above; check the server key: valise certificate verify --server-key")
	}
}

// checked says how much a verification read: "256.1 GB checked", "1000 samples".
func checked(v certificate.Verification) string {
	var parts []string
	if v.BytesChecked > 0 {
		parts = append(parts, gb(uint64(v.BytesChecked))+" checked")
	}
	if v.Samples > 0 {
		parts = append(parts, fmt.Sprintf("%d samples", v.Samples))
	}
	if v.Seed != "" {
		parts = append(parts, "seed "+v.Seed)
	}
	return strings.Join(parts, ", ")
}

// verifyCheck is one of the checks of certificate.Verify, in its order.
type verifyCheck struct {
	name string
	err  error
}

var verifyChecks = []verifyCheck{
	{"format", certificate.ErrFormat},
	{"device signature", certificate.ErrDeviceSignature},
	{"device key", certificate.ErrDeviceKey},
	{"server countersignature", certificate.ErrServerSignature},
	{"server key", certificate.ErrServerKey},
	{"content", certificate.ErrContent},
	{"chain", certificate.ErrChain},
}

// Results of a check, as verify prints them.
const (
	checkPassed  = "passed"
	checkFailed  = "failed"
	checkSkipped = "skipped"     // nothing to check it against
	checkNotRun  = "not_checked" // an earlier check failed
)

// checkResult is one line of verify's report.
type checkResult struct {
	Check  string `json:"check"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// verifyReport is what verify --json prints.
type verifyReport struct {
	File        string                   `json:"file"`
	Valid       bool                     `json:"valid"`
	Error       string                   `json:"error,omitempty"`
	Checks      []checkResult            `json:"checks"`
	Certificate *certificate.Certificate `json:"certificate,omitempty"`
}

func (e *env) certificateVerify(c *cli.Context) error {
	pos, err := args(c, "FILE")
	if err != nil {
		return err
	}
	if c.String("server-key") != "" && c.String("server") != "" {
		return cmdmain.Usagef(c, "give --server-key or --server, not both")
	}
	data, err := readFile(pos[0], "certificate")
	if err != nil {
		return err
	}
	opts := certificate.VerifyOptions{Unsigned: c.Bool("unsigned")}
	keyFrom := ""
	switch {
	case c.String("server-key") != "":
		raw, err := readFile(c.String("server-key"), "server key")
		if err != nil {
			return err
		}
		if opts.ServerKey, err = parseServerKey(raw); err != nil {
			return fmt.Errorf("server key %s: %w", c.String("server-key"), err)
		}
		keyFrom = "the key in " + c.String("server-key")
	case c.String("server") != "":
		cl, err := apiclient.New(c.String("server"), c.String("token"), apiclient.WithVersion(version))
		if err != nil {
			return fmt.Errorf("%w (--server)", err)
		}
		k, err := cl.ServerKey(c.Context)
		if err != nil {
			return explain(c, err)
		}
		if opts.ServerKey, err = parseServerKey([]byte(k.Key)); err != nil {
			return fmt.Errorf("the key served by %s: %w", cl.BaseURL(), err)
		}
		keyFrom = "the key served by " + cl.BaseURL()
	}
	if p := c.String("prev"); p != "" {
		raw, err := readFile(p, "previous certificate")
		if err != nil {
			return err
		}
		prev, err := certificate.ParseFile(raw)
		if err != nil {
			return fmt.Errorf("previous certificate %s: not a certificate file: %v", p, err)
		}
		opts.Prev = &prev
	}

	cert, f, verr := certificate.Verify(data, opts)
	report := verifyReport{File: pos[0], Valid: verr == nil, Checks: checkResults(cert, f, opts, keyFrom, verr)}
	if verr != nil {
		report.Error = verr.Error()
	}
	if cert.ID != "" {
		report.Certificate = &cert
	}
	if e.wantJSON(c) {
		if err := writeJSON(e.stdout, report); err != nil {
			return err
		}
	} else {
		w := &errWriter{w: e.stdout}
		e.printVerify(w, report, cert)
		if w.err != nil {
			return w.err
		}
	}
	if verr != nil {
		return fmt.Errorf("certificate %s is invalid: %s", pos[0], cmdmain.OneLine(verr.Error()))
	}
	return nil
}

// checkResults turns Verify's outcome into one result per check: those
// before the failed one passed (or had nothing to check against), those
// after it did not run.
func checkResults(cert certificate.Certificate, f certificate.File, opts certificate.VerifyOptions, keyFrom string, verr error) []checkResult {
	failed := len(verifyChecks)
	if verr != nil {
		failed = -1
		for i, ch := range verifyChecks {
			if errors.Is(verr, ch.err) {
				failed = i
				break
			}
		}
		if failed < 0 { // an error of no known check: blame the format
			failed = 0
		}
	}
	results := make([]checkResult, len(verifyChecks))
	for i, ch := range verifyChecks {
		r := checkResult{Check: ch.name}
		switch {
		case i == failed:
			r.Result, r.Detail = checkFailed, reason(verr, ch.err)
		case i > failed:
			r.Result = checkNotRun
		default:
			r.Result, r.Detail = passedDetail(ch.err, cert, f, opts, keyFrom)
		}
		results[i] = r
	}
	return results
}

// passedDetail says what a check that did not fail established.
func passedDetail(check error, cert certificate.Certificate, f certificate.File, opts certificate.VerifyOptions, keyFrom string) (string, string) {
	switch check {
	case certificate.ErrFormat:
		return checkPassed, fmt.Sprintf("canonical certificate file, version %d", cert.Version)
	case certificate.ErrDeviceSignature:
		return checkPassed, "signed by device key " + f.DeviceKey
	case certificate.ErrDeviceKey:
		return checkSkipped, "no device key given: the signature is checked against the key in the file"
	case certificate.ErrServerSignature:
		if f.ServerSig == "" {
			return checkSkipped, "not countersigned yet, accepted with --unsigned: the agent's own copy"
		}
		return checkPassed, "countersigned by server key " + f.ServerKey
	case certificate.ErrServerKey:
		if f.ServerSig == "" {
			return checkSkipped, "not countersigned yet"
		}
		if opts.ServerKey == nil {
			return checkSkipped, "no server key given: anyone could have countersigned it; give --server-key FILE"
		}
		return checkPassed, "countersigned with " + keyFrom
	case certificate.ErrContent:
		return checkPassed, fmt.Sprintf("%s, %d %s", cert.Result, len(cert.Media), plural(len(cert.Media), "medium"))
	case certificate.ErrChain:
		switch {
		case opts.Prev != nil:
			return checkPassed, "follows the previous certificate " + cert.PrevHash
		case cert.PrevHash == "":
			return checkSkipped, "the asset's first certificate"
		}
		return checkSkipped, "the previous certificate is not given (--prev FILE)"
	}
	return checkPassed, ""
}

// reason is the failed check's explanation, without the check's name.
func reason(err, check error) string {
	msg := err.Error()
	if r, ok := strings.CutPrefix(msg, check.Error()+": "); ok {
		return r
	}
	return msg
}

// checkMarks are the marks of each result.
var checkMarks = map[string]string{checkPassed: "✓", checkFailed: "✗", checkSkipped: "–", checkNotRun: "·"}

func (e *env) printVerify(w io.Writer, r verifyReport, cert certificate.Certificate) {
	if cert.ID != "" {
		what := orDash(cert.Asset.AssetTag)
		if vm := vendorModel(cert.Asset.Vendor, cert.Asset.Model); vm != "" {
			what += " (" + vm + ")"
		}
		fmt.Fprintf(w, "Certificate %s of %s, %s %s\n", cert.ID, what, cert.Result, e.clock(cert.Finished))
	} else {
		fmt.Fprintf(w, "%s\n", r.File)
	}
	tw := newTable(w)
	for _, ch := range r.Checks {
		detail := ch.Detail
		switch ch.Result {
		case checkNotRun:
			detail = "not checked"
		case checkFailed:
			detail = e.warn(cmdmain.OneLine(detail))
		}
		fmt.Fprintf(tw, "  %s %s\t%s\n", checkMarks[ch.Result], ch.Check, detail)
	}
	tw.Flush()
	if r.Valid {
		fmt.Fprintln(w, "Valid.")
	} else {
		fmt.Fprintln(w, e.warn("INVALID."))
	}
}

// readFile reads a small local file, with a message naming what it is.
func readFile(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the %s: %w", what, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCertFile+1))
	if err != nil {
		return nil, fmt.Errorf("read the %s %s: %w", what, path, err)
	}
	if len(data) > maxCertFile {
		return nil, fmt.Errorf("the %s %s is over %d MiB: not a certificate", what, path, maxCertFile>>20)
	}
	return data, nil
}

// parseServerKey reads an ed25519 public key written as base64, as a PEM
// block (PKIX "PUBLIC KEY" or the 32 raw bytes) or as the JSON answer of
// GET /api/v1/server-key.
func parseServerKey(data []byte) (ed25519.PublicKey, error) {
	s := bytes.TrimSpace(data)
	if bytes.HasPrefix(s, []byte("{")) {
		var k apitype.ServerKey
		if err := json.Unmarshal(s, &k); err != nil {
			return nil, fmt.Errorf("not the JSON of /api/v1/server-key: %v", err)
		}
		if k.Key == "" {
			return parseServerKey([]byte(k.PEM))
		}
		return parseServerKey([]byte(k.Key))
	}
	if block, _ := pem.Decode(s); block != nil {
		if len(block.Bytes) == ed25519.PublicKeySize {
			return ed25519.PublicKey(block.Bytes), nil
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %s: %v", block.Type, err)
		}
		key, ok := pub.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an ed25519 public key", pub)
		}
		return key, nil
	}
	raw, err := base64.StdEncoding.DecodeString(string(s))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("not an ed25519 public key (base64, PEM, or the JSON of /api/v1/server-key)")
	}
	return ed25519.PublicKey(raw), nil
}

func (e *env) certificateImport(c *cli.Context) error {
	pos, err := args(c, refArg, "LOG")
	if err != nil {
		return err
	}
	log, err := os.ReadFile(pos[1])
	if err != nil {
		return fmt.Errorf("read the nwipe log: %w", err)
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	info, err := cl.ImportNwipeLog(c.Context, pos[0], log)
	if err != nil {
		return deviceError(c, pos[0], err)
	}
	if e.wantJSON(c) {
		return writeJSON(e.stdout, info)
	}
	return e.printImported(info)
}

func (e *env) printImported(info apitype.CertificateInfo) error {
	w := &errWriter{w: e.stdout}
	fmt.Fprintf(w, "Imported as external evidence for %s: certificate %s, %s (%s, %s), finished %s.\n",
		orDefault(info.AssetTag, info.Device), info.ID, info.Result, strings.Join(info.Methods, ", "), orDash(info.Category), e.clock(info.Finished))
	fmt.Fprintf(w, "Show it with: valise certificate show %s\n", info.ID)
	return w.err
}
