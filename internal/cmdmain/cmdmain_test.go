package cmdmain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"
)

func TestReport(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{name: "success", err: nil, code: ExitOK, stderr: ""},
		{name: "failure", err: errors.New("cannot reach the server"), code: ExitFailure,
			stderr: "tool: cannot reach the server\n"},
		{name: "failure on several lines", err: errors.New("server said:\n  no\tway  "), code: ExitFailure,
			stderr: "tool: server said: no way\n"},
		{name: "usage", err: Usage(nil, errors.New("unknown command \"fly\"")), code: ExitUsage,
			stderr: "tool: unknown command \"fly\"\nRun 'tool --help' for usage.\n"},
		{name: "usage of a command", err: &UsageError{Err: errors.New("missing argument DEVICE"), Help: "tool devices show"}, code: ExitUsage,
			stderr: "tool: missing argument DEVICE\nRun 'tool devices show --help' for usage.\n"},
		{name: "wrapped usage", err: fmt.Errorf("enroll: %w", Usage(nil, errors.New("bad pin"))), code: ExitUsage,
			stderr: "tool: enroll: bad pin\nRun 'tool --help' for usage.\n"},
		{name: "exit coder", err: cli.Exit("half done", 3), code: 3, stderr: "tool: half done\n"},
		{name: "exit coder without a code", err: cli.Exit("done?", 0), code: ExitFailure, stderr: "tool: done?\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := Report(&stderr, "tool", tt.err)
			if code != tt.code {
				t.Errorf("Report = %d, want %d", code, tt.code)
			}
			if diff := cmp.Diff(tt.stderr, stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// testRun is the run of a small command, made the way Valise's are.
func testRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	app := &cli.App{
		Name:      "tool",
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{{
			Name:  "serve",
			Flags: []cli.Flag{LogLevelFlag(), &cli.IntFlag{Name: "port"}},
			Action: func(c *cli.Context) error {
				if err := NoArgs(c); err != nil {
					return err
				}
				log, err := NewLogger(c, c.App.ErrWriter)
				if err != nil {
					return err
				}
				log.Debug("debugging")
				log.Info("serving")
				if c.Int("port") == 1 {
					return cli.Exit("port 1 is taken", 4)
				}
				return nil
			},
		}},
	}
	return RunApp(ctx, app, args)
}

func TestRunApp(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // what Reporting told, after the logs
	}{
		{name: "ok", args: []string{"serve"}, code: ExitOK},
		{name: "unknown command", args: []string{"fly"}, code: ExitUsage,
			stderr: "tool: unknown command \"fly\"\nRun 'tool --help' for usage.\n"},
		{name: "unknown flag", args: []string{"--nope"}, code: ExitUsage,
			stderr: "tool: flag provided but not defined: -nope\nRun 'tool --help' for usage.\n"},
		{name: "unknown flag of a command", args: []string{"serve", "--nope"}, code: ExitUsage,
			stderr: "tool: flag provided but not defined: -nope\nRun 'tool serve --help' for usage.\n"},
		{name: "flag without value", args: []string{"serve", "--port"}, code: ExitUsage,
			stderr: "tool: flag needs an argument: -port\nRun 'tool serve --help' for usage.\n"},
		{name: "invalid value", args: []string{"serve", "--port", "high"}, code: ExitUsage,
			stderr: "tool: invalid value \"high\" for flag -port: parse error\nRun 'tool serve --help' for usage.\n"},
		{name: "stray argument", args: []string{"serve", "now"}, code: ExitUsage,
			stderr: "tool: unexpected argument \"now\"\nRun 'tool serve --help' for usage.\n"},
		{name: "bad log level", args: []string{"serve", "--log-level", "loud"}, code: ExitUsage,
			stderr: "tool: --log-level \"loud\": want debug, info, warn or error\nRun 'tool serve --help' for usage.\n"},
		{name: "exit code of the action, no os.Exit", args: []string{"serve", "--port", "1"}, code: 4,
			stderr: "tool: port 1 is taken\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvLogLevel, "")
			var stdout, stderr bytes.Buffer
			code := Reporting("tool", testRun)(t.Context(), append([]string{"tool"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			// The logs come first, one "level=… msg=…" line each.
			got := stderr.String()
			for strings.HasPrefix(got, "time=") {
				_, got, _ = strings.Cut(got, "\n")
			}
			if diff := cmp.Diff(tt.stderr, got); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   string
		wants []string // messages logged
	}{
		{name: "default info", args: []string{"serve"}, wants: []string{"serving"}},
		{name: "debug", args: []string{"serve", "--log-level", "debug"}, wants: []string{"debugging", "serving"}},
		{name: "error", args: []string{"serve", "--log-level", "error"}},
		{name: "from the environment", args: []string{"serve"}, env: "debug", wants: []string{"debugging", "serving"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvLogLevel, tt.env)
			var stderr bytes.Buffer
			if err := testRun(t.Context(), append([]string{"tool"}, tt.args...), io.Discard, &stderr); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if _, msg, ok := strings.Cut(line, " msg="); ok {
					got = append(got, msg)
				}
			}
			if diff := cmp.Diff(tt.wants, got); diff != "" {
				t.Errorf("logged (-want +got):\n%s", diff)
			}
		})
	}
}
