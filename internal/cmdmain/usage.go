package cmdmain

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// UsageError is a command line that cannot run: ExitUsage.
type UsageError struct {
	// Err says what is wrong.
	Err error
	// Help is the command whose help to read ("valise devices show"); empty
	// means the program's.
	Help string
}

// Error implements error.
func (u *UsageError) Error() string { return u.Err.Error() }

// Unwrap returns Err.
func (u *UsageError) Unwrap() error { return u.Err }

// Usage marks err as bad usage in c's command, which the hint then names
// (c may be nil: the program's help). A nil err stays nil.
func Usage(c *cli.Context, err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{Err: err, Help: helpName(c)}
}

// Usagef is bad usage in c's command, which the hint then names.
func Usagef(c *cli.Context, format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...), Help: helpName(c)}
}

// helpName is the command line whose --help documents c's command.
func helpName(c *cli.Context) string {
	if c == nil || c.Command == nil || c.Command.HelpName == "" || c.App == nil || c.Command.HelpName == c.App.Name {
		return ""
	}
	return c.Command.HelpName
}

// OnUsageError is the cli.OnUsageErrorFunc of the commands: a *UsageError
// naming the command.
func OnUsageError(c *cli.Context, err error, _ bool) error {
	return &UsageError{Err: err, Help: helpName(c)}
}

// NoArgs refuses positional arguments to c's command.
func NoArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return Usagef(c, "unexpected argument %q", c.Args().First())
	}
	return nil
}

// flagErrors start the flag parser's own errors, which urfave/cli returns
// without going through OnUsageError in some paths.
var flagErrors = []string{"flag provided but not defined", "flag needs an argument", "invalid value", "Required flag"}

// isFlagError tells the flag parser's own errors.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range flagErrors {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
