package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/agent"
	"github.com/valise-numerique/valise/agent/collect"
	"github.com/valise-numerique/valise/internal/cmdmain"
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
		UsageText: "valise-agent run [--state DIR] [--interval 60s]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state", Value: defaultState(), EnvVars: []string{"VALISE_AGENT_STATE"}, Usage: "state `DIR` written by enroll"},
			&cli.DurationFlag{Name: "interval", EnvVars: []string{"VALISE_INTERVAL"}, Usage: "time between health and net samples (default: the server's, 60s)"},
			&cli.BoolFlag{Name: "inventory-in-process", Usage: "collect the inventory inside the agent rather than in a short-lived child process"},
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
			if c.String("state") == "" {
				return cmdmain.Usagef(c, "--state is empty")
			}
			if c.Duration("interval") < 0 {
				return cmdmain.Usagef(c, "--interval %s is negative", c.Duration("interval"))
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
			var src agent.Source = col
			if exe, err := os.Executable(); err == nil && !c.Bool("inventory-in-process") {
				src = childInventory{Collector: col, exe: exe, log: log}
			}
			return agent.Run(c.Context, agent.Config{
				StateDir:     c.String("state"),
				Source:       src,
				Hash:         collect.InventoryHash,
				Interval:     c.Duration("interval"),
				FreeOSMemory: true,
				AgentVersion: version,
				Wiper:        agent.DiskWiper{},
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

// inventoryTimeout bounds the child process that collects the inventory.
const inventoryTimeout = 2 * time.Minute

// childInventory collects the inventory in a short-lived child process
// (valise-agent inventory --json) and health and net in the agent itself.
// The inventory is the one expensive collection (hardware database,
// every bus): done in a child, its memory peak and its code never weigh on
// the resident size of the long-running agent. If the child fails, the
// inventory is collected in process.
type childInventory struct {
	*collect.Collector
	exe string
	log *slog.Logger
}

func (s childInventory) Inventory(ctx context.Context) wire.Inventory {
	cctx, cancel := context.WithTimeout(ctx, inventoryTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, s.exe, "inventory", "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil {
		var r struct {
			Inventory *wire.Inventory `json:"inventory"`
		}
		if err = json.Unmarshal(out, &r); err == nil && r.Inventory == nil {
			err = errors.New("no inventory in its output")
		}
		if err == nil {
			return *r.Inventory
		}
	}
	s.log.Warn("inventory in a child process failed; collecting it in process", "err", err, "stderr", strings.TrimSpace(stderr.String()))
	return s.Collector.Inventory(ctx)
}

// nopSource stands for the collector while options are validated.
type nopSource struct{}

func (nopSource) Inventory(context.Context) wire.Inventory { return wire.Inventory{} }
func (nopSource) Health(context.Context) wire.Health       { return wire.Health{} }
func (nopSource) Net(context.Context) wire.Net             { return wire.Net{} }
