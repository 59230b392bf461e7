package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/internal/wire"
)

// wipeMethod is a --method name and the wire method it asks for.
type wipeMethod struct{ name, wire string }

// wipeMethods are the --method names, in the order help shows them. They
// are the wire names, except that nvme-sanitize means the crypto erase
// variant (wire.MethodNVMeSanitizeCrypto), the quickest Purge; auto lets
// the agent's probe choose the strongest method each disk supports.
var wipeMethods = []wipeMethod{
	{"auto", ""},
	{"overwrite", wire.MethodOverwrite},
	{"luks", wire.MethodLUKS},
	{"discard", wire.MethodDiscard},
	{"nvme-sanitize", wire.MethodNVMeSanitizeCrypto},
	{"nvme-sanitize-block", wire.MethodNVMeSanitizeBlock},
	{"nvme-format", wire.MethodNVMeFormat},
	{"ata-erase", wire.MethodATAErase},
	{"ata-sanitize", wire.MethodATASanitize},
}

// wireMethod returns the wire method of a --method name ("" for auto).
func wireMethod(name string) (string, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == wire.MethodNVMeSanitizeCrypto {
		return name, true
	}
	for _, m := range wipeMethods {
		if m.name == name {
			return m.wire, true
		}
	}
	return "", false
}

func methodNames() []string {
	names := make([]string, len(wipeMethods))
	for i, m := range wipeMethods {
		names[i] = m.name
	}
	return names
}

var (
	verifyModes  = []string{wire.VerifyFull, wire.VerifySample}
	destinations = []string{"reuse", "donation", "recycling"}
)

// confirmEach is how many devices a technician confirms one asset tag at
// a time; for more, the count of devices is typed instead.
const confirmEach = 3

// maxPollFailures is how many polls in a row may fail before --wait gives
// up (the wipes go on regardless).
const maxPollFailures = 10

func (e *env) wipeCommand() *cli.Command {
	return &cli.Command{
		Name:      "wipe",
		Usage:     "erase every internal disk of devices, verify it and certify it",
		ArgsUsage: refArg + "…",
		Description: "Asks the devices (by id or asset tag) to erase their internal disks with the given\n" +
			"method, verify the result and send a signed certificate. The wipe starts as soon\n" +
			"as a device is online. Unless --yes is given, the asset tag of each device (or the\n" +
			"number of devices, for more than " + strconv.Itoa(confirmEach) + ") must be typed to confirm.\n\n" +
			"Methods: auto lets each device choose the strongest method its disks support;\n" +
			"nvme-sanitize is the NVMe sanitize crypto erase (nvme-sanitize-block the block erase).\n\n" +
			"With --wait, shows a progress bar per device until every job ends, and exits 0\n" +
			"only if every wipe succeeded.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "method", Value: "auto", Usage: "erasure method: " + strings.Join(methodNames(), ", ")},
			&cli.StringFlag{Name: "verify", Value: wire.VerifyFull, Usage: "verification of an overwrite: full (read every byte back) or sample (NIST SP 800-88 sampling)"},
			&cli.StringFlag{Name: "destination", Value: "reuse", Usage: "what happens to the devices next, for the certificate: " + strings.Join(destinations, ", ")},
			&cli.StringFlag{Name: "kit", Usage: "wipe every device of this kit (id or label), besides the devices named"},
			&cli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation (scripts)"},
			&cli.BoolFlag{Name: "wait", Usage: "follow the jobs with a progress bar per device until they end"},
			jsonFlag(),
		},
		Action: e.wipe,
		Subcommands: []*cli.Command{{
			Name:      "status",
			Usage:     "list the wipe jobs: state, progress, errors",
			ArgsUsage: " ",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "active", Usage: "only the jobs not ended yet"},
				jsonFlag(),
			},
			Action: e.wipeStatus,
		}},
	}
}

func (e *env) wipe(c *cli.Context) error {
	refs, err := positional(c)
	if err != nil {
		return err
	}
	if len(refs) == 0 && c.String("kit") == "" {
		return cmdmain.Usagef(c, "missing argument %s (or --kit)", refArg)
	}
	method, ok := wireMethod(c.String("method"))
	if !ok {
		return cmdmain.Usagef(c, "--method %q is not a wipe method: use %s", c.String("method"), strings.Join(methodNames(), ", "))
	}
	verify := strings.ToLower(strings.TrimSpace(c.String("verify")))
	if !slices.Contains(verifyModes, verify) {
		return cmdmain.Usagef(c, "--verify %q: use full or sample", c.String("verify"))
	}
	dest := strings.ToLower(strings.TrimSpace(c.String("destination")))
	if !slices.Contains(destinations, dest) {
		return cmdmain.Usagef(c, "--destination %q: use %s", c.String("destination"), strings.Join(destinations, ", "))
	}
	refs = uniqueRefs(refs)
	if !c.Bool("yes") && !e.stdinTTY {
		return cmdmain.Usagef(c, "refusing to wipe without confirmation: nobody can type it (stdin is not a terminal); give --yes to confirm in a script")
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	if ref := c.String("kit"); ref != "" {
		k, err := cl.Kit(c.Context, ref)
		if err != nil {
			return explain(c, err)
		}
		if len(k.Devices) == 0 {
			return fmt.Errorf("%s has no devices to wipe", k.Label)
		}
		for _, d := range k.Devices {
			refs = append(refs, d.ID)
		}
	}
	// Resolve every device first: nothing is asked for if one is unknown,
	// and a device named twice (by id and by tag) is wiped once.
	var devs []apitype.DeviceDetail
	var unique []string
	for _, ref := range refs {
		d, err := cl.Device(c.Context, ref)
		if err != nil {
			return deviceError(c, ref, err)
		}
		if !slices.ContainsFunc(devs, func(x apitype.DeviceDetail) bool { return x.ID == d.ID }) {
			devs, unique = append(devs, d), append(unique, ref)
		}
	}
	refs = unique
	if !c.Bool("yes") {
		if err := e.confirmWipe(devs); err != nil {
			return err
		}
	}
	jobs, err := cl.CreateWipes(c.Context, apitype.WipeRequest{Devices: refs, Method: method, Verify: verify, Destination: dest})
	if err != nil {
		return explain(c, err)
	}
	if !c.Bool("wait") {
		if e.wantJSON(c) {
			return writeJSON(e.stdout, jobs)
		}
		return e.printRequested(jobs)
	}
	final, err := e.waitWipes(c, cl, jobs)
	if err != nil {
		return err
	}
	if e.wantJSON(c) {
		if err := writeJSON(e.stdout, final); err != nil {
			return err
		}
	}
	return e.wipeOutcome(c, final)
}

// uniqueRefs drops repeated device references, whatever their case.
func uniqueRefs(refs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range refs {
		k := strings.ToLower(strings.TrimSpace(r))
		if !seen[k] {
			seen[k] = true
			out = append(out, strings.TrimSpace(r))
		}
	}
	return out
}

// confirmWipe lists the devices about to be wiped on stderr and asks for
// their asset tags (or their count) on stdin.
func (e *env) confirmWipe(devs []apitype.DeviceDetail) error {
	w := &errWriter{w: e.stderr}
	fmt.Fprintf(w, "This erases ALL DATA on %d %s, for good:\n", len(devs), plural(len(devs), "device"))
	tw := newTable(w)
	for _, d := range devs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", tagOrID(d.Device), orDash(vendorModel(d.Vendor, d.Model)),
			"serial "+orDash(d.Serial), d.State)
	}
	tw.Flush()
	in := bufio.NewReader(e.stdin)
	notConfirmed := errors.New("not confirmed: nothing was wiped")
	if len(devs) > confirmEach {
		fmt.Fprintf(w, "Type the number of devices (%d) to confirm: ", len(devs))
		if answer, err := readAnswer(in); err != nil || answer != strconv.Itoa(len(devs)) {
			fmt.Fprintln(w)
			return notConfirmed
		}
		return w.err
	}
	for _, d := range devs {
		want := tagOrID(d.Device)
		fmt.Fprintf(w, "Type the asset tag %s to confirm: ", want)
		if answer, err := readAnswer(in); err != nil || !strings.EqualFold(answer, want) {
			fmt.Fprintln(w)
			return notConfirmed
		}
	}
	return w.err
}

// readAnswer reads one line typed by the user, trimmed.
func readAnswer(in *bufio.Reader) (string, error) {
	line, err := in.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// tagOrID is how a device is named to people: its asset tag, or its id
// when it has none.
func tagOrID(d apitype.Device) string {
	if d.AssetTag != "" {
		return d.AssetTag
	}
	return d.ID
}

func jobTag(j apitype.WipeJob) string {
	if j.AssetTag != "" {
		return j.AssetTag
	}
	return j.Device
}

// tellFailed says on stderr why the wipe of a job failed, one line per
// device.
func (e *env) tellFailed(j apitype.WipeJob) {
	fmt.Fprintf(e.stderr, "valise: %s: wipe failed: %s\n", jobTag(j), cmdmain.OneLine(orDefault(j.Error, "no reason given")))
}

// printRequested says which wipes the server queued.
func (e *env) printRequested(jobs []apitype.WipeJob) error {
	w := &errWriter{w: e.stdout}
	tw := newTable(w)
	failed := 0
	for _, j := range jobs {
		if j.State == apitype.JobFailed { // the command could not even be sent
			failed++
			e.tellFailed(j)
			continue
		}
		fmt.Fprintf(tw, "Wipe of %s requested\tjob %s\tmethod %s\tverify %s\n", jobTag(j), j.ID, methodLabel(j.Method), orDash(j.Verify))
	}
	tw.Flush()
	if failed < len(jobs) {
		fmt.Fprintln(w, "Each device starts as soon as it is online. Follow them with: valise wipe status --active")
	}
	if w.err == nil && failed > 0 {
		return &toldError{msg: fmt.Sprintf("%d wipes failed", failed)}
	}
	return w.err
}

func methodLabel(m string) string {
	if m == "" {
		return wire.MethodAuto
	}
	return m
}

// ended reports whether a job reached its last state.
func ended(state string) bool {
	return state == apitype.JobSucceeded || state == apitype.JobFailed
}

// waitWipes polls the jobs every e.pollEvery, drawing their progress,
// until every one has ended. The wipes go on on the devices if it stops
// early (interrupted, server lost).
func (e *env) waitWipes(c *cli.Context, cl *apiclient.Client, jobs []apitype.WipeJob) ([]apitype.WipeJob, error) {
	jobs = slices.Clone(jobs)
	var p *progress
	if !e.wantJSON(c) {
		p = newProgress(e.stdout, e.tty)
		p.update(jobs)
	}
	failures := 0
	for {
		done := true
		for _, j := range jobs {
			done = done && ended(j.State)
		}
		if done {
			return jobs, nil
		}
		if !e.pause(c.Context) {
			return nil, errors.New("interrupted: the wipes go on on the devices; follow them with valise wipe status --active")
		}
		for i, j := range jobs {
			if ended(j.State) {
				continue
			}
			got, err := cl.WipeJob(c.Context, j.ID)
			if err != nil {
				if c.Context.Err() != nil {
					break
				}
				if failures++; failures >= maxPollFailures {
					return nil, fmt.Errorf("lost track of the jobs (%v); the wipes go on on the devices: valise wipe status --active", explain(c, err))
				}
				continue
			}
			failures = 0
			jobs[i] = got
		}
		if p != nil {
			p.update(jobs)
		}
	}
}

// pause waits e.pollEvery between two polls of --wait; false when ctx
// ends first.
func (e *env) pause(ctx context.Context) bool {
	timer := time.NewTimer(e.pollEvery)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// wipeOutcome ends a waited wipe: a line on stderr per failed device and
// exit code 1 if any failed.
func (e *env) wipeOutcome(c *cli.Context, jobs []apitype.WipeJob) error {
	failed := 0
	for _, j := range jobs {
		if j.State != apitype.JobSucceeded {
			failed++
			e.tellFailed(j)
		}
	}
	if !e.wantJSON(c) {
		switch {
		case failed == 0 && len(jobs) == 1:
			fmt.Fprintf(e.stdout, "Wiped and certified: %s (certificate %s).\n", jobTag(jobs[0]), orDash(jobs[0].Certificate))
		case failed == 0:
			fmt.Fprintf(e.stdout, "All %d wipes succeeded and are certified.\n", len(jobs))
		default:
			fmt.Fprintf(e.stdout, "%d of %d %s failed.\n", failed, len(jobs), plural(len(jobs), "wipe"))
		}
	}
	if failed > 0 {
		return &toldError{msg: fmt.Sprintf("%d wipes failed", failed)}
	}
	return nil
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func (e *env) wipeStatus(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	jobs, err := cl.WipeJobs(c.Context, c.Bool("active"))
	if err != nil {
		return explain(c, err)
	}
	if e.wantJSON(c) {
		return writeJSON(e.stdout, jobs)
	}
	w := &errWriter{w: e.stdout}
	if len(jobs) == 0 {
		if c.Bool("active") {
			fmt.Fprintln(w, "No wipe is running.")
		} else {
			fmt.Fprintln(w, "No wipe yet. To wipe a device: valise wipe VAL-0001")
		}
		return w.err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "JOB\tASSET TAG\tMETHOD\tSTATE\tPROGRESS\tSTARTED\tFINISHED\tERROR")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, jobTag(j), methodLabel(j.Method), j.State,
			jobPercent(j), e.optClock(j.StartedAt), e.optClock(j.FinishedAt), orDash(cmdmain.OneLine(j.Error)))
	}
	tw.Flush()
	return w.err
}

// optClock formats an optional time; a dash when unset.
func (e *env) optClock(t *time.Time) string {
	if t == nil || t.IsZero() {
		return dash
	}
	return e.clock(*t)
}
