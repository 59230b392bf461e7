package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/agent/collect"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

// enrollCommand is `valise-agent enroll`.
func enrollCommand(stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "enroll",
		Usage:     "enrol this device with the server (the join command of `valise enroll-token create`)",
		UsageText: "valise-agent enroll --server URL --token T [--ca-pin sha256:HEX] [--state DIR] [--asset-tag TAG]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Required: true, EnvVars: []string{"VALISE_SERVER"}, Usage: "server API `URL`"},
			&cli.StringFlag{Name: "token", Required: true, EnvVars: []string{"VALISE_ENROLL_TOKEN"}, Usage: "enrolment `TOKEN`"},
			&cli.StringFlag{Name: "ca-pin", EnvVars: []string{"VALISE_CA_PIN"}, Usage: "`sha256:HEX` of the server's CA certificate: an https:// server is trusted only if it matches"},
			&cli.StringFlag{Name: "state", Value: defaultState(), EnvVars: []string{"VALISE_AGENT_STATE"}, Usage: "state `DIR` (created 0700)"},
			&cli.StringFlag{Name: "asset-tag", Usage: "asset `TAG` printed on the device's label, if it has one"},
			cmdmain.LogLevelFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := cmdmain.NoArgs(c); err != nil {
				return err
			}
			log, err := cmdmain.NewLogger(c, stderr)
			if err != nil {
				return err
			}
			opts := agent.EnrollOptions{
				Server: c.String("server"), Token: c.String("token"), CAPin: c.String("ca-pin"), StateDir: c.String("state"),
				AssetTag: c.String("asset-tag"), AgentVersion: version, Logger: log,
			}
			// Validate before collecting: a typo should not wait for the inventory.
			opts.Source = nopSource{}
			if err := opts.Validate(); err != nil {
				return cmdmain.Usage(c, err)
			}
			col, err := collect.New(collect.Config{Logger: log})
			if err != nil {
				return err
			}
			opts.Source = col
			resp, err := agent.Enroll(c.Context, opts)
			if err != nil {
				return err
			}
			how := "enrolled"
			if resp.Known {
				how = "enrolled again (hardware recognised)"
			}
			fmt.Fprintf(c.App.Writer, "%s as %s: device %s, class %s\nstate written to %s; start the agent with: valise-agent run --state %s\n",
				how, resp.AssetTag, resp.DeviceID, resp.Class, filepath.Join(opts.StateDir, agent.StateFile), opts.StateDir)
			return nil
		},
	}
}
