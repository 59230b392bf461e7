package cmdmain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"
)

// RunApp runs app with args and returns its error, for Report. It first
// sets what every command of Valise wants: errors come back here (nothing
// calls os.Exit), no "help" command, usage errors of the app and its
// commands become *UsageError, and an unknown command is bad usage.
func RunApp(ctx context.Context, app *cli.App, args []string) error {
	app.ExitErrHandler = func(*cli.Context, error) {}
	app.HideHelpCommand = true
	if app.OnUsageError == nil {
		app.OnUsageError = OnUsageError
	}
	for _, cmd := range app.Commands {
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = OnUsageError
		}
	}
	if len(app.Commands) > 0 && len(args) > 1 && !strings.HasPrefix(args[1], "-") && app.Command(args[1]) == nil {
		return Usage(nil, fmt.Errorf("unknown command %q", args[1]))
	}
	err := app.RunContext(ctx, args)
	if err != nil && !errors.As(err, new(*UsageError)) && isFlagError(err) {
		return Usage(nil, err)
	}
	return err
}

// EnvLogLevel is the environment variable of the --log-level flag.
const EnvLogLevel = "VALISE_LOG_LEVEL"

// LogLevelFlag returns the --log-level flag of the long-running commands.
func LogLevelFlag() cli.Flag {
	return &cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{EnvLogLevel},
		Usage: "debug, info, warn or error"}
}

// NewLogger returns a text logger to w at the level of c's --log-level
// (see LogLevelFlag; empty means info); an unknown level is bad usage.
func NewLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if s := c.String("log-level"); s != "" && level.UnmarshalText([]byte(s)) != nil {
		return nil, Usagef(c, "--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
}
