package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

// roles are the roles of users, in the order help shows them.
var roles = []string{apitype.RoleMediateur, apitype.RoleLogistics, apitype.RoleTechnician, apitype.RoleAdmin}

func (e *env) usersCommand() *cli.Command {
	return &cli.Command{
		Name:  "users",
		Usage: "the people who use Valise and their roles (admins add and disable them)",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a user and print their API token, once",
				ArgsUsage: " ",
				Description: "Roles: mediateur checks kits out and in and sees their own loans; logistics\n" +
					"manages kits, venues, loans, assignments and imports; technician wipes,\n" +
					"provisions and repairs; admin does everything, users included.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "the person's `NAME`, as colleagues know them"},
					&cli.StringFlag{Name: "role", Usage: "their role: " + strings.Join(roles, ", ")},
					jsonFlag(),
				},
				Action: e.usersAdd,
			},
			{
				Name:      "list",
				Usage:     "list the users by name",
				ArgsUsage: " ",
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.usersList,
			},
			{
				Name:      "disable",
				Usage:     "disable a user: their tokens stop working at once",
				ArgsUsage: userArg,
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.usersDisable,
			},
		},
	}
}

func (e *env) usersAdd(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	name, err := required(c, "name", `the person's name, e.g. --name "Awa Diallo"`)
	if err != nil {
		return err
	}
	role := strings.ToLower(strings.TrimSpace(c.String("role")))
	switch {
	case role == "":
		return cmdmain.Usagef(c, "--role is required: %s", strings.Join(roles, ", "))
	case !slices.Contains(roles, role):
		return cmdmain.Usagef(c, "--role %q is not a role: use %s", c.String("role"), strings.Join(roles, ", "))
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	u, err := cl.CreateUser(c.Context, apitype.UserRequest{Name: name, Role: role})
	if err != nil {
		return explain(c, err)
	}
	return output(e, c, u, func(w io.Writer, u apitype.User) {
		fmt.Fprintf(w, "Added %s, %s (user %s).\n", u.Name, u.Role, u.ID)
		fmt.Fprintf(w, "Their API token is shown only this once:\n\n  %s\n\n", u.Token)
		fmt.Fprintf(w, "Give it to %s; on their computer or phone they run:\n", u.Name)
		fmt.Fprintf(w, "  export %s=%s\n  export %s=%s\n", envServer, cl.BaseURL(), envToken, u.Token)
		fmt.Fprintf(w, "  valise %s\n", roleHint(u.Role))
	})
}

// roleHint is a first command for a user of role.
func roleHint(role string) string {
	switch role {
	case apitype.RoleMediateur:
		return "kits list"
	case apitype.RoleTechnician:
		return "devices list --state needs_wipe"
	}
	return "loans list --open"
}

func (e *env) usersList(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	users, err := cl.Users(c.Context)
	if err != nil {
		return explain(c, err)
	}
	return output(e, c, users, func(w io.Writer, users []apitype.User) {
		if len(users) == 0 {
			fmt.Fprintln(w, `No user yet. To add one: valise users add --name "Awa Diallo" --role mediateur`)
			return
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "NAME\tROLE\tID\tCREATED\tSTATUS")
		for _, u := range users {
			status := "active"
			if u.Disabled != nil {
				status = "disabled since " + e.clock(*u.Disabled)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, u.ID, e.clock(u.CreatedAt), status)
		}
		tw.Flush()
	})
}

func (e *env) usersDisable(c *cli.Context) error {
	pos, err := args(c, userArg)
	if err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	u, err := cl.DisableUser(c.Context, pos[0])
	if err != nil {
		return notFound(c, "user", pos[0], err)
	}
	return output(e, c, u, func(w io.Writer, u apitype.User) {
		fmt.Fprintf(w, "Disabled %s (%s, user %s): their tokens no longer work.\n", u.Name, u.Role, u.ID)
	})
}
