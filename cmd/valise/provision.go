package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

// profileNames are the profiles shipped with Valise, for help and
// completion; a server may have others.
var profileNames = []string{"laptop-linux", "laptop-windows", "tablet-android", "hotspot-hilink", "hotspot-openwrt"}

func (e *env) provisionCommand() *cli.Command {
	return &cli.Command{
		Name:      "provision",
		Usage:     "reinstall a wiped device with a profile; it becomes ready once it re-enrols",
		ArgsUsage: refArg,
		Description: "Sends the device its profile's bundle (agent config, Wi-Fi, apps, kiosk) with a\n" +
			"single-use enrolment token bound to it. The device must be wiped; it becomes ready\n" +
			"when it re-enrols as the same hardware and its wipe certificate still holds.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "profile", Usage: "profile `NAME`: " + strings.Join(profileNames, ", ") + "…"},
			&cli.BoolFlag{Name: "wait", Usage: "follow the job until it ends"},
			jsonFlag(),
		},
		Action: e.provision,
	}
}

func (e *env) provision(c *cli.Context) error {
	pos, err := args(c, refArg)
	if err != nil {
		return err
	}
	profile := strings.TrimSpace(c.String("profile"))
	if profile == "" {
		return cmdmain.Usagef(c, "--profile is required: %s…", strings.Join(profileNames, ", "))
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	job, err := cl.CreateProvision(c.Context, apitype.ProvisionRequest{Device: pos[0], Profile: profile})
	if err != nil {
		return explain(c, err) // a 404 may be the device's or the profile's: the server says which
	}
	if !c.Bool("wait") {
		if e.wantJSON(c) {
			return writeJSON(e.stdout, job)
		}
		_, err := fmt.Fprintf(e.stdout, "Provisioning of %s with profile %s requested (job %s). It starts as soon as the device is online;\n"+
			"the device becomes ready when it re-enrols. Follow it with: valise devices history %s\n",
			orDefault(job.AssetTag, pos[0]), job.Profile, job.ID, orDefault(job.AssetTag, pos[0]))
		return err
	}
	if job, err = e.waitProvision(c, cl, job); err != nil {
		return err
	}
	if e.wantJSON(c) {
		if err := writeJSON(e.stdout, job); err != nil {
			return err
		}
	}
	tag := orDefault(job.AssetTag, pos[0])
	if job.State != apitype.JobSucceeded {
		return fmt.Errorf("%s: provisioning failed: %s", tag, cmdmain.OneLine(orDefault(job.Error, "no reason given")))
	}
	if !e.wantJSON(c) {
		fmt.Fprintf(e.stdout, "%s is provisioned with %s and ready.\n", tag, job.Profile)
	}
	return nil
}

// waitProvision polls a provisioning job every e.pollEvery until it ends,
// printing each state it goes through.
func (e *env) waitProvision(c *cli.Context, cl *apiclient.Client, job apitype.ProvisionJob) (apitype.ProvisionJob, error) {
	shown, failures := "", 0
	for {
		if job.State != shown && !e.wantJSON(c) {
			fmt.Fprintf(e.stdout, "%s  %s\n", orDefault(job.AssetTag, job.Device), provisionStates[job.State])
			shown = job.State
		}
		if ended(job.State) {
			return job, nil
		}
		if !e.pause(c.Context) {
			return job, errors.New("interrupted: the provisioning goes on on the device; follow it with valise devices history " + orDefault(job.AssetTag, job.Device))
		}
		got, err := cl.ProvisionJob(c.Context, job.ID)
		if err != nil {
			if c.Context.Err() == nil {
				if failures++; failures < maxPollFailures {
					continue
				}
			}
			return job, fmt.Errorf("lost track of job %s (%v); the provisioning goes on on the device", job.ID, explain(c, err))
		}
		failures, job = 0, got
	}
}

// provisionStates say what each job state means for the device.
var provisionStates = map[string]string{
	apitype.JobRequested: "requested",
	apitype.JobSent:      "sent, waiting for the device",
	apitype.JobRunning:   "installing the profile",
	apitype.JobSucceeded: "re-enrolled: ready",
	apitype.JobFailed:    "failed",
}
