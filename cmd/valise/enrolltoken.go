package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/internal/wire"
)

// enrollClasses are the classes a token may give, in the order help shows
// them.
var enrollClasses = []string{wire.ClassLaptop, wire.ClassTablet, wire.ClassHotspot, wire.ClassOther}

func (e *env) enrollTokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "enroll-token",
		Usage: "enrolment tokens, which let new devices join the fleet",
		Subcommands: []*cli.Command{{
			Name:      "create",
			Usage:     "create a token and print the command that enrols a device with it",
			ArgsUsage: " ",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "class", Usage: "class of the devices: " + strings.Join(enrollClasses, ", ")},
				&cli.IntFlag{Name: "uses", Value: 1, Usage: "how many devices may enrol with the token"},
				&cli.StringFlag{Name: "expires", Value: "24h", Usage: "validity of the token (30m, 24h, 7d)"},
				&cli.StringFlag{Name: "kit", Usage: "kit the devices join"},
				&cli.StringFlag{Name: "venue", Usage: "venue the devices are assigned to"},
				jsonFlag(),
			},
			Action: e.enrollTokenCreate,
		}},
	}
}

func (e *env) enrollTokenCreate(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	class := strings.ToLower(strings.TrimSpace(c.String("class")))
	switch {
	case class == "":
		return cmdmain.Usagef(c, "--class is required: %s", strings.Join(enrollClasses, ", "))
	case !wire.ValidClass(class):
		return cmdmain.Usagef(c, "--class %q is not a device class: use %s", c.String("class"), strings.Join(enrollClasses, ", "))
	}
	uses := c.Int("uses")
	if uses < 1 {
		return cmdmain.Usagef(c, "--uses %d: a token must allow at least 1 enrolment", uses)
	}
	expires, err := parseDuration(c.String("expires"))
	if err != nil || expires <= 0 {
		return cmdmain.Usagef(c, "--expires %q: give a positive duration such as 30m, 24h or 7d", c.String("expires"))
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	tok, err := cl.CreateEnrollToken(c.Context, apitype.EnrollTokenRequest{
		Class:   class,
		Uses:    uses,
		Expires: expires.String(),
		Kit:     c.String("kit"),
		Venue:   c.String("venue"),
	})
	if err != nil {
		return explain(c, err)
	}
	if e.wantJSON(c) {
		return writeJSON(e.stdout, tok)
	}
	return e.printEnrollToken(tok, cl.BaseURL(), c.String("kit"), c.String("venue"))
}

func (e *env) printEnrollToken(tok apitype.EnrollToken, server, kit, venue string) error {
	w := &errWriter{w: e.stdout}
	what := fmt.Sprintf("%d %s", tok.Uses, plural(tok.Uses, tok.Class))
	if tok.Class == wire.ClassOther {
		what = fmt.Sprintf("%d %s", tok.Uses, plural(tok.Uses, "device"))
	}
	fmt.Fprintf(w, "Enrolment token for %s", what)
	var where []string
	if kit != "" {
		where = append(where, "kit "+kit)
	}
	if venue != "" {
		where = append(where, "venue "+venue)
	}
	if len(where) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(where, ", "))
	}
	fmt.Fprintf(w, ", valid until %s (%s).\n", e.clock(tok.ExpiresAt), e.until(tok.ExpiresAt))
	fmt.Fprintf(w, "The token is shown only this once. On each device, as root, run:\n\n")
	join := tok.Join
	if join == "" {
		join = fmt.Sprintf("valise-agent enroll --server %s --token %s", server, tok.Token)
	}
	fmt.Fprintf(w, "  %s\n", join)
	return w.err
}

// plural returns word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
