package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
)

// venueKinds are the kinds of venues, in the order help shows them.
var venueKinds = []string{apitype.VenueFranceServices, apitype.VenueMairie, apitype.VenueMediatheque,
	apitype.VenueEPN, apitype.VenueAssociation, apitype.VenueOther}

func (e *env) venuesCommand() *cli.Command {
	return &cli.Command{
		Name:  "venues",
		Usage: "the places where médiateurs receive the public",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a venue",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "the venue's `NAME`, unique: \"France Services Baugé\""},
					&cli.StringFlag{Name: "kind", Usage: "what it is: " + strings.Join(venueKinds, ", ")},
					&cli.StringFlag{Name: "commune", Usage: "the `COMMUNE` it is in"},
					&cli.StringFlag{Name: "insee", Usage: "the commune's INSEE `CODE` (5 characters: 49018, 2A004)"},
					&cli.Float64Flag{Name: "lat", Usage: "latitude in degrees (WGS 84), with --lon"},
					&cli.Float64Flag{Name: "lon", Usage: "longitude in degrees (WGS 84), with --lat"},
					&cli.StringFlag{Name: "contact", Usage: "who to call there: name, phone, e-mail"},
					jsonFlag(),
				},
				Action: e.venuesAdd,
			},
			{
				Name:      "list",
				Usage:     "list the venues by name",
				ArgsUsage: " ",
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.venuesList,
			},
			{
				Name:      "show",
				Usage:     "show a venue",
				ArgsUsage: venueArg,
				Flags:     []cli.Flag{jsonFlag()},
				Action:    e.venuesShow,
			},
		},
	}
}

func (e *env) venuesAdd(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	name, err := required(c, "name", `the venue's name, e.g. --name "France Services Baugé"`)
	if err != nil {
		return err
	}
	kind := strings.ToLower(strings.TrimSpace(c.String("kind")))
	switch {
	case kind == "":
		return cmdmain.Usagef(c, "--kind is required: %s", strings.Join(venueKinds, ", "))
	case !slices.Contains(venueKinds, kind):
		return cmdmain.Usagef(c, "--kind %q is not a kind of venue: use %s", c.String("kind"), strings.Join(venueKinds, ", "))
	}
	commune, err := required(c, "commune", `the commune it is in, e.g. --commune "Baugé-en-Anjou"`)
	if err != nil {
		return err
	}
	insee := strings.ToUpper(strings.TrimSpace(c.String("insee")))
	if insee != "" && !validINSEE(insee) {
		return cmdmain.Usagef(c, "--insee %q is not an INSEE code: 5 digits (49018), or 2A/2B and 3 digits in Corsica", c.String("insee"))
	}
	req := apitype.VenueRequest{Name: name, Kind: kind, Commune: commune, INSEE: insee, Contact: strings.TrimSpace(c.String("contact"))}
	switch {
	case c.IsSet("lat") != c.IsSet("lon"):
		return cmdmain.Usagef(c, "--lat and --lon go together: give both or neither")
	case c.IsSet("lat"):
		lat, lon := c.Float64("lat"), c.Float64("lon")
		if math.IsNaN(lat) || lat < -90 || lat > 90 {
			return cmdmain.Usagef(c, "--lat %v is not a latitude: give degrees between -90 and 90", lat)
		}
		if math.IsNaN(lon) || lon < -180 || lon > 180 {
			return cmdmain.Usagef(c, "--lon %v is not a longitude: give degrees between -180 and 180", lon)
		}
		req.Lat, req.Lon = &lat, &lon
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	v, err := cl.CreateVenue(c.Context, req)
	if err != nil {
		return explain(c, err)
	}
	return output(e, c, v, func(w io.Writer, v apitype.Venue) {
		fmt.Fprintf(w, "Added venue %s, %s in %s (venue %s).\n", v.Name, v.Kind, v.Commune, v.ID)
	})
}

// validINSEE reports whether s has the shape of an INSEE commune code:
// five digits, or 2A or 2B and three digits.
func validINSEE(s string) bool {
	if len(s) != 5 {
		return false
	}
	start := 0
	if strings.HasPrefix(s, "2A") || strings.HasPrefix(s, "2B") {
		start = 2
	}
	for _, r := range s[start:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (e *env) venuesList(c *cli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	venues, err := cl.Venues(c.Context)
	if err != nil {
		return explain(c, err)
	}
	return output(e, c, venues, func(w io.Writer, venues []apitype.Venue) {
		if len(venues) == 0 {
			fmt.Fprintln(w, `No venue yet. To add one: valise venues add --name "France Services Baugé" --kind france_services --commune "Baugé-en-Anjou"`)
			return
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "NAME\tKIND\tCOMMUNE\tINSEE\tCONTACT")
		for _, v := range venues {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, v.Kind, v.Commune, orDash(v.INSEE), orDash(cmdmain.OneLine(v.Contact)))
		}
		tw.Flush()
		fmt.Fprintf(w, "%d %s\n", len(venues), plural(len(venues), "venue"))
	})
}

func (e *env) venuesShow(c *cli.Context) error {
	pos, err := args(c, venueArg)
	if err != nil {
		return err
	}
	cl, err := e.client(c)
	if err != nil {
		return err
	}
	v, err := cl.Venue(c.Context, pos[0])
	if err != nil {
		return notFound(c, "venue", pos[0], err)
	}
	return output(e, c, v, func(out io.Writer, v apitype.Venue) {
		w := tabwriter.NewWriter(out, 17, 0, 2, ' ', 0)
		defer w.Flush()
		fmt.Fprintln(w, e.bold(v.Name))
		row(w, "ID", v.ID)
		row(w, "Kind", v.Kind)
		row(w, "Commune", join(" ", v.Commune, parenthesized("INSEE "+v.INSEE, v.INSEE != "")))
		if v.Lat != nil && v.Lon != nil {
			row(w, "Coordinates", fmt.Sprintf("%.5f, %.5f", *v.Lat, *v.Lon))
		}
		row(w, "Contact", orDash(cmdmain.OneLine(v.Contact)))
		row(w, "Added", e.when(v.CreatedAt))
	})
}

// parenthesized returns "(s)" when cond holds, else "".
func parenthesized(s string, cond bool) string {
	if !cond {
		return ""
	}
	return "(" + s + ")"
}
