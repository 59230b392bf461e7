package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// usageError is a command line that cannot run: exit code 2.
type usageError struct {
	msg  string
	help string // command whose help to suggest: "valise devices show"
}

func (e *usageError) Error() string { return e.msg }

// errHelpShown stops a command whose help was asked for after its
// arguments ("devices show VAL-0001 --help"); err is the printing error.
type errHelpShown struct{ err error }

func (e errHelpShown) Error() string { return "help shown" }

// usagef makes a usageError that suggests the help of the running command.
func usagef(c *cli.Context, format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...), help: c.Command.HelpName}
}

// toldError is a failure already explained on stderr (one line per failed
// device): run exits 1 without printing it again.
type toldError struct{ msg string }

func (e *toldError) Error() string { return e.msg }
