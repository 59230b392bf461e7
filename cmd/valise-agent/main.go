// Command valise-agent runs on each device of the fleet:
//
//	valise-agent enroll --server URL --token T [--ca-pin sha256:HEX] [--state DIR]
//	valise-agent run [--state DIR] [--interval 60s]
//	valise-agent inventory [--json] [--root DIR]
//	valise-agent simulate --count N --server URL --token T [--interval D] [--state DIR]
//
// The state dir defaults to /var/lib/valise-agent (Windows:
// %ProgramData%\Valise\agent), where the installers of package
// provisioning run the agent from, so the server's join command works as
// printed.
//
// SIGINT and SIGTERM stop run and simulate cleanly: the offline presence is
// published and the spool closed. Exit codes: 0 success, 1 failure with a
// one-line reason on stderr, 2 bad usage.
package main

import (
	"context"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/cmdmain"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() { cmdmain.Main(cmdmain.Reporting("valise-agent", run)) }

// run parses args and runs the command they name until it is done or ctx
// is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	app := &cli.App{
		Name:      "valise-agent",
		Usage:     "the Valise agent: reports this device's inventory, health and connectivity",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			enrollCommand(stderr),
			runCommand(stderr),
			inventoryCommand(),
			simulateCommand(stderr),
			wipeCommand(),
		},
	}
	return cmdmain.RunApp(ctx, app, args)
}
