package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/agent/collect"
	"github.com/valise-numerique/valise/internal/wire"
)

// memoryLimit is the soft heap limit of a lone agent: the garbage
// collector works harder near it, which keeps the resident size small on
// devices with little memory.
const memoryLimit = 8 << 20

// runCommand is `valise-agent run`.
func runCommand(stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run the agent: report inventory, health and connectivity until stopped",
		UsageText: "valise-agent run --state DIR [--interval 60s]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state", Required: true, EnvVars: []string{"VALISE_AGENT_STATE"}, Usage: "state `DIR` written by enroll"},
			&cli.DurationFlag{Name: "interval", EnvVars: []string{"VALISE_INTERVAL"}, Usage: "time between health and net samples (default: the server's, 60s)"},
			logFlag,
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			log, err := newLogger(c, stderr)
			if err != nil {
				return err
			}
			if c.Duration("interval") < 0 {
				return usageError{fmt.Errorf("--interval %s is negative", c.Duration("interval"))}
			}
			st, err := agent.LoadState(c.String("state"))
			if err != nil {
				return err
			}
			debug.SetMemoryLimit(memoryLimit)
			col, err := collect.New(collect.Config{BrokerAddr: brokerAddr(st.MQTTURL), Logger: log})
			if err != nil {
				return err
			}
			return agent.Run(c.Context, agent.Config{
				StateDir:     c.String("state"),
				Source:       col,
				Hash:         collect.InventoryHash,
				Interval:     c.Duration("interval"),
				FreeOSMemory: true,
				AgentVersion: version,
				Logger:       log,
			})
		},
	}
}

// brokerAddr returns host:port of an MQTT URL, for the round-trip probe,
// or "" if it has none.
func brokerAddr(mqttURL string) string {
	u, err := url.Parse(mqttURL)
	if err != nil || u.Host == "" {
		return ""
	}
	if u.Port() != "" {
		return u.Host
	}
	port := "1883"
	if u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts" {
		port = "8883"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// nopSource stands for the collector while options are validated.
type nopSource struct{}

func (nopSource) Inventory(context.Context) wire.Inventory { return wire.Inventory{} }
func (nopSource) Health(context.Context) wire.Health       { return wire.Health{} }
func (nopSource) Net(context.Context) wire.Net             { return wire.Net{} }
