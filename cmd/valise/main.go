// Command valise is the command-line client of a Valise server, for
// technicians, logistics staff and médiateurs. It talks only to the HTTP API
// (see internal/apiclient): tables for people, --json for scripts.
//
// Exit codes: 0 success, 1 failure (one line on stderr: "valise: <reason>",
// or one per failed device for wipes), 2 bad usage (unknown command or
// flag, missing argument, a wipe that needs a confirmation nobody can type).
package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/valise-numerique/valise/internal/cmdmain"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() { cmdmain.Main(run) }

// run runs the CLI with args (args[0] is the program name) and returns the
// exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{
		stdin:  stdin,
		stdout: stdout,
		stderr: stderr,
		now:    time.Now,
		loc:    time.Local,
		color:  isTerminal(stdout) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb",
		tty:    isTerminal(stdout) && os.Getenv("TERM") != "dumb",
		// A person answers a confirmation only on a terminal.
		stdinTTY:  isTerminal(stdin),
		pollEvery: time.Second,
	}
	return e.run(ctx, args)
}

// isTerminal reports whether w (a writer or reader) is a character device
// (a terminal), so that output piped to a file or another program never
// carries colour codes and a script is never asked questions.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
