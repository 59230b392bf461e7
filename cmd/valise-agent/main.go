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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		code := exitCode(err)
		hint := ""
		if code == 2 {
			hint = " (see valise-agent --help)"
		}
		fmt.Fprintln(os.Stderr, "valise-agent: "+oneLine(err)+hint)
		os.Exit(code)
	}
}

// usageError is a mistake in the command line.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// exitCode is 2 for bad usage and 1 for any other failure.
func exitCode(err error) int {
	if errors.As(err, new(usageError)) {
		return 2
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() > 0 {
		return ec.ExitCode()
	}
	return 1
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// run parses args and runs the command they name until it is done or ctx
// is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	app := &cli.App{
		Name:      "valise-agent",
		Usage:     "the Valise agent: reports this device's inventory, health and connectivity",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		// Never os.Exit from inside the library: errors come back to run.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		Commands: []*cli.Command{
			enrollCommand(stderr),
			runCommand(stderr),
			inventoryCommand(),
			simulateCommand(stderr),
			wipeCommand(),
		},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(stderr, "valise-agent: unknown command %q (see valise-agent --help)\n", name)
		},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = app.OnUsageError
	}
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") && app.Command(args[1]) == nil {
		return usageError{fmt.Errorf("unknown command %q", args[1])}
	}
	err := app.RunContext(ctx, args)
	if err != nil && !errors.As(err, new(usageError)) && isFlagError(err) {
		return usageError{err}
	}
	return err
}

// isFlagError tells the flag parser's own errors, which urfave/cli
// returns without going through OnUsageError in some paths.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"flag provided but not defined", "flag needs an argument", "invalid value", "Required flag", "Required flags"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// logFlag is the --log-level flag of the long-running commands.
var logFlag = &cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"VALISE_LOG_LEVEL"},
	Usage: "debug, info, warn or error"}

// newLogger returns a text logger to w at the level of --log-level.
func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
}

// noArgs refuses positional arguments.
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q", c.Command.Name, c.Args().First())}
	}
	return nil
}
