// Package cmdmain is the shared main of Valise's commands (valise,
// valise-agent, valise-server): a context that SIGINT and SIGTERM cancel,
// one line on stderr for a failure, exit codes (0 success, 1 failure, 2 bad
// usage, with the "Run '… --help' for usage." hint), the urfave/cli
// settings that keep errors coming back to run, and the --log-level flag.
//
// A command's main is one line around its run function, which tests drive
// with buffers:
//
//	func main() { cmdmain.Main(cmdmain.Reporting("valise-agent", run)) }
//
// Nothing here but Main exits the process.
package cmdmain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Exit codes of the commands.
const (
	// ExitOK is a success.
	ExitOK = 0
	// ExitFailure is a failure, told in one line on stderr.
	ExitFailure = 1
	// ExitUsage is a command line that cannot run: unknown command or
	// flag, missing argument, invalid value.
	ExitUsage = 2
)

// RunFunc runs one command line (args[0] is the program name) and returns
// its exit code, having written what it has to say to stdout and stderr.
type RunFunc func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int

// Main runs run with os.Args and the standard streams, under a context
// that SIGINT and SIGTERM cancel, and exits with the code run returns.
func Main(run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Reporting makes a RunFunc of a run that returns an error: the error is
// told on stderr by Report, as name's.
func Reporting(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) RunFunc {
	return func(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
		return Report(stderr, name, run(ctx, args, stdout, stderr))
	}
}

// Report tells err on w as one line "name: reason" and returns its exit
// code (see ExitCode); a usage error gets a second line naming the help to
// read. A nil err says nothing and returns ExitOK.
func Report(w io.Writer, name string, err error) int {
	code := ExitCode(err)
	if code == ExitOK {
		return code
	}
	fmt.Fprintf(w, "%s: %s\n", name, OneLine(err.Error()))
	var u *UsageError
	if errors.As(err, &u) {
		help := u.Help
		if help == "" {
			help = name
		}
		fmt.Fprintf(w, "Run '%s --help' for usage.\n", help)
	}
	return code
}

// ExitCode is the exit code of an error of run: ExitOK for nil, ExitUsage
// for a *UsageError, the code of a cli.ExitCoder that has one, ExitFailure
// for anything else.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.As(err, new(*UsageError)) {
		return ExitUsage
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() > 0 {
		return ec.ExitCode()
	}
	return ExitFailure
}

// OneLine keeps a message on one line, whatever a server or a library put
// in it.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
