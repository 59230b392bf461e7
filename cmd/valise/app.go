package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apiclient"
	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

// Defaults and environment variables of the global flags.
const (
	defaultServer = "http://127.0.0.1:8080"
	envServer     = "VALISE_SERVER"
	envToken      = "VALISE_TOKEN"
	envCACert     = "VALISE_CA_CERT"
	envCAPin      = "VALISE_CA_PIN"
)

// trustHint tells people how to trust a server that has its own CA.
const trustHint = "pass --ca-cert valise-data/ca.crt or --ca-pin from the server's log"

// tokenHint tells people where the admin token of a server lives.
const tokenHint = "set " + envToken + ", e.g. export " + envToken + "=$(cat valise-data/admin.token)"

// env is what a run of the CLI reads and writes; tests fill it with buffers,
// a fixed clock and a fixed time zone.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	loc            *time.Location // times are shown in this zone
	color          bool           // stdout is a terminal that takes colour
	tty            bool           // stdout is a terminal: progress is redrawn in place
	stdinTTY       bool           // stdin is a terminal: a person can confirm
	pollEvery      time.Duration  // how often --wait asks the server about jobs

	args       []string // the command line, for shell completion
	globalJSON bool     // --json given before the command
}

// run runs one command line and returns its exit code.
func (e *env) run(ctx context.Context, args []string) int {
	args = completionArgs(args)
	e.args = args
	err := e.newApp().RunContext(ctx, args)
	var (
		helped errHelpShown
		told   *toldError
	)
	switch {
	case errors.As(err, &told):
		return cmdmain.ExitFailure
	case errors.As(err, &helped):
		err = helped.err
	}
	return cmdmain.Report(e.stderr, "valise", err)
}

func (e *env) newApp() *cli.App {
	app := &cli.App{
		Name:                 "valise",
		Usage:                "manage the Valise fleet: devices, wipes, certificates, provisioning",
		Version:              version,
		Reader:               e.stdin,
		Writer:               e.stdout,
		ErrWriter:            e.stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		// Errors are printed once, by run; nothing may call os.Exit.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "server",
				Usage:   "URL of the Valise server",
				Value:   defaultServer,
				EnvVars: []string{envServer},
			},
			&cli.StringFlag{
				Name:    "token",
				Usage:   "API token (the admin one is in the server's data directory, admin.token)",
				EnvVars: []string{envToken},
			},
			&cli.StringFlag{
				Name:      "ca-cert",
				Usage:     "PEM file of the CA to trust for an https server (the server's is valise-data/ca.crt)",
				EnvVars:   []string{envCACert},
				TakesFile: true,
			},
			&cli.StringFlag{
				Name:    "ca-pin",
				Usage:   "trust exactly the CA with this pin (sha256:…, in the server's log and join commands)",
				EnvVars: []string{envCAPin},
			},
			jsonFlag(),
		},
		Before: func(c *cli.Context) error {
			e.globalJSON = c.Bool("json")
			return nil
		},
		Action: groupAction,
		Commands: []*cli.Command{
			e.enrollTokenCommand(),
			e.devicesCommand(),
			e.wipeCommand(),
			e.certificateCommand(),
			e.provisionCommand(),
			e.usersCommand(),
			e.venuesCommand(),
			e.kitsCommand(),
			e.loansCommand(),
			e.auditCommand(),
			e.importCommand(),
			e.exportCommand(),
			e.completionCommand(),
		},
	}
	e.setupCommands(app.Commands)
	app.BashComplete = e.complete
	return app
}

// setupCommands gives every command the usage-error handler, a --json flag,
// and the completion that reads the arguments given to run rather than
// os.Args.
func (e *env) setupCommands(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
		c.HideHelpCommand = true
		if c.BashComplete == nil {
			c.BashComplete = e.complete
		}
		if !hasFlag(c.Flags, "json") {
			c.Flags = append(c.Flags, jsonFlag())
		}
		if len(c.Subcommands) > 0 {
			if c.Action == nil {
				c.Action = groupAction
			}
			// "valise devices --json list": remember it for the subcommand.
			c.Before = func(c *cli.Context) error {
				e.globalJSON = e.globalJSON || c.Bool("json")
				return nil
			}
		}
		e.setupCommands(c.Subcommands)
	}
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
		return undefinedFlag(c, name)
	}
	return cmdmain.OnUsageError(c, err, false)
}

// undefinedFlag is the usage error for a flag the command does not take;
// a global flag given after the command gets told where it goes.
func undefinedFlag(c *cli.Context, flag string) error {
	name, _, _ := strings.Cut(strings.TrimLeft(flag, "-"), "=")
	if g := lookupFlag(c.App.Flags, name); g != nil && c.Command.HelpName != "" && c.Command.HelpName != c.App.Name {
		env := ""
		if sf, ok := g.(*cli.StringFlag); ok && len(sf.EnvVars) > 0 {
			env = " or set " + sf.EnvVars[0]
		}
		return cmdmain.Usagef(c, "--%s is a global flag: put it before the command (valise --%s … %s)%s",
			name, name, strings.TrimPrefix(c.Command.HelpName, c.App.Name+" "), env)
	}
	return cmdmain.Usagef(c, "flag provided but not defined: %s", flag)
}

// groupAction runs when a command that only groups others is given no
// known subcommand: help without arguments, a usage error otherwise.
func groupAction(c *cli.Context) error {
	if c.Args().Present() {
		name := c.Command.HelpName
		if name == "" {
			name = c.App.Name
		}
		return cmdmain.Usagef(c, "unknown command %q for %q", c.Args().First(), name)
	}
	if c.Command.HelpName == "" || c.Command.HelpName == c.App.Name {
		return cli.ShowAppHelp(c)
	}
	return cli.ShowSubcommandHelp(c)
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts instead of text"}
}

// wantJSON reports whether --json was given, before or after the command.
func (e *env) wantJSON(c *cli.Context) bool {
	return e.globalJSON || c.Bool("json")
}

// client returns an API client for the --server, --token, --ca-cert and
// --ca-pin flags.
func (e *env) client(c *cli.Context) (*apiclient.Client, error) {
	opts := []apiclient.Option{apiclient.WithVersion(version)}
	caFile, pin := c.String("ca-cert"), c.String("ca-pin")
	switch {
	case caFile != "" && pin != "":
		return nil, cmdmain.Usagef(c, "--ca-cert and --ca-pin both name the CA to trust: give one")
	case caFile != "":
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read --ca-cert: %w", err)
		}
		opts = append(opts, apiclient.WithCACert(pem))
	case pin != "":
		opts = append(opts, apiclient.WithCAPin(pin))
	}
	cl, err := apiclient.New(c.String("server"), c.String("token"), opts...)
	switch {
	case errors.Is(err, apiclient.ErrBadCA) && caFile != "":
		return nil, cmdmain.Usagef(c, "--ca-cert %s: %v", caFile, errors.Unwrap(err))
	case errors.Is(err, apiclient.ErrBadCA):
		return nil, cmdmain.Usagef(c, "--ca-pin: %v", errors.Unwrap(err))
	case err != nil:
		return nil, fmt.Errorf("%w (--server or %s)", err, envServer)
	}
	return cl, nil
}

// explain turns an API or transport error into the one line people read.
func explain(c *cli.Context, err error) error {
	var (
		te *apiclient.TransportError
		ae *apiclient.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted")
	case errors.Is(err, apiclient.ErrPinMismatch):
		return fmt.Errorf("the server's certificate does not match --ca-pin %s: check the pin in the server's log (ca_pin=…)", c.String("ca-pin"))
	case errors.Is(err, apiclient.ErrUntrusted) && c.String("ca-cert") != "":
		return fmt.Errorf("the server's certificate is not signed by --ca-cert %s: is it this server's ca.crt?", c.String("ca-cert"))
	case errors.Is(err, apiclient.ErrUntrusted):
		return errors.New(apiclient.ErrUntrusted.Error() + ": " + trustHint)
	case errors.As(err, &te):
		return fmt.Errorf("%w — is valise-server running? (%s)", err, envServer)
	case !errors.As(err, &ae):
		return err
	}
	switch {
	case ae.Code == apitype.CodeUnauthorized && c.String("token") == "":
		return fmt.Errorf("no API token: %s", tokenHint)
	case ae.Code == apitype.CodeUnauthorized:
		return fmt.Errorf("the server refused the token (401): %s", tokenHint)
	case ae.Code == apitype.CodeForbidden:
		return fmt.Errorf("not allowed with this token (403): %s", ae.Message)
	case ae.Status >= 500:
		return fmt.Errorf("server error (%d): %s", ae.Status, ae.Message)
	}
	return errors.New(ae.Message)
}

// args checks the positional arguments of c against names, accepting
// flags written after them ("devices show VAL-0001 --json"), which the flag
// package would otherwise take for arguments.
func args(c *cli.Context, names ...string) ([]string, error) {
	pos, err := positional(c)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) < len(names):
		return nil, cmdmain.Usagef(c, "missing argument %s", names[len(pos)])
	case len(pos) > len(names):
		return nil, cmdmain.Usagef(c, "unexpected argument %q", pos[len(names)])
	}
	return pos, nil
}

// positional returns the positional arguments of c, setting the flags
// written among them.
func positional(c *cli.Context) ([]string, error) {
	var pos []string
	in := c.Args().Slice()
	for i := 0; i < len(in); i++ {
		a := in[i]
		if a == "--" {
			pos = append(pos, in[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := lookupFlag(c.Command.Flags, name)
		if f == nil {
			return nil, undefinedFlag(c, a)
		}
		if f == cli.HelpFlag {
			return nil, errHelpShown{cli.ShowSubcommandHelp(c)}
		}
		if _, isBool := f.(*cli.BoolFlag); isBool {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 >= len(in) {
				return nil, cmdmain.Usagef(c, "flag needs an argument: %s", a)
			}
			i++
			value = in[i]
		}
		if err := c.Set(name, value); err != nil {
			return nil, cmdmain.Usagef(c, "invalid value %q for flag %s: %v", value, a, err)
		}
	}
	return pos, nil
}

func hasFlag(flags []cli.Flag, name string) bool { return lookupFlag(flags, name) != nil }

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}
