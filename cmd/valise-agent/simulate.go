package main

import (
	"io"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/agent/simulate"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

// simulateCommand is `valise-agent simulate`.
func simulateCommand(stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "simulate",
		Usage: "run a simulated fleet of N devices (real agent code, synthetic hardware)",
		UsageText: "valise-agent simulate --count N --server URL --token T [--ca-pin sha256:HEX] [--interval D] [--state DIR] [--class C] [--disk-mib 8]\n\n" +
			"The token must allow N uses. Devices keep their state under DIR/sim-NNN/; running\n" +
			"again on the same DIR needs no token and brings back the same devices.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "count", Required: true, Usage: "number of simulated devices `N`"},
			&cli.StringFlag{Name: "server", EnvVars: []string{"VALISE_SERVER"}, Usage: "server API `URL` (to enrol new devices)"},
			&cli.StringFlag{Name: "token", EnvVars: []string{"VALISE_ENROLL_TOKEN"}, Usage: "enrolment `TOKEN` allowing N uses"},
			&cli.StringFlag{Name: "ca-pin", EnvVars: []string{"VALISE_CA_PIN"}, Usage: "`sha256:HEX` of the server's CA, for an https:// server"},
			&cli.DurationFlag{Name: "interval", Usage: "time between health and net samples (default: the server's)"},
			&cli.StringFlag{Name: "state", Value: "./valise-sim", Usage: "state `DIR` of the simulated devices"},
			&cli.StringFlag{Name: "class", Usage: "make every device a laptop, tablet or hotspot (default: a mix, then the token's class)"},
			&cli.Uint64Flag{Name: "seed", Usage: "fleet seed: same seed, same devices (default: kept in DIR)"},
			&cli.IntFlag{Name: "disk-mib", Value: simulate.DefaultDiskBytes >> 20, Usage: "size in `MiB` of each laptop's and tablet's disk image, which wipe commands really erase (0: none, wipes refused)"},
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
			opts := simulate.Options{
				Count: c.Int("count"), Server: c.String("server"), Token: c.String("token"), CAPin: c.String("ca-pin"),
				StateDir: c.String("state"), Interval: c.Duration("interval"), Class: c.String("class"),
				Seed: c.Uint64("seed"), Logger: log, DiskBytes: int64(c.Int("disk-mib")) << 20,
			}
			if c.Int("disk-mib") <= 0 {
				opts.DiskBytes = -1
			}
			if err := opts.Validate(); err != nil {
				return cmdmain.Usage(c, err)
			}
			return simulate.Run(c.Context, opts)
		},
	}
}
