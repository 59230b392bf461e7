package apiclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/valise-numerique/valise/internal/apitype"
)

func TestOpsRequests(t *testing.T) {
	ctx := context.Background()
	created := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	due := time.Date(2026, 12, 5, 18, 0, 0, 0, time.FixedZone("CET", 3600))
	lat, lon := 47.44, -0.08
	tests := []requestCase{
		{
			name:   "create user",
			status: http.StatusCreated,
			answer: `{"id":"uabc","name":"Awa Diallo","role":"mediateur","created_at":"2026-11-23T14:00:00Z","token":"vat_x"}`,
			call: func(c *Client) (any, error) {
				return c.CreateUser(ctx, apitype.UserRequest{Name: "Awa Diallo", Role: "mediateur"})
			},
			want: apitype.User{ID: "uabc", Name: "Awa Diallo", Role: "mediateur", CreatedAt: created, Token: "vat_x"},
			seen: seen{Method: "POST", Path: "/api/v1/users", ContentType: "application/json", Body: `{"name":"Awa Diallo","role":"mediateur"}`},
		},
		{
			name:   "users null is none",
			status: http.StatusOK,
			answer: `null`,
			call:   func(c *Client) (any, error) { return c.Users(ctx) },
			want:   []apitype.User{},
			seen:   seen{Method: "GET", Path: "/api/v1/users"},
		},
		{
			name:   "disable user by name",
			status: http.StatusOK,
			answer: `{"id":"uabc","name":"Awa Diallo","role":"mediateur","created_at":"2026-11-23T14:00:00Z","disabled_at":"2026-11-23T14:00:00Z"}`,
			call:   func(c *Client) (any, error) { return c.DisableUser(ctx, "Awa Diallo") },
			want:   apitype.User{ID: "uabc", Name: "Awa Diallo", Role: "mediateur", CreatedAt: created, Disabled: &created},
			seen:   seen{Method: "POST", Path: "/api/v1/users/Awa%20Diallo/disable"},
		},
		{
			name:   "create venue",
			status: http.StatusCreated,
			answer: `{"id":"vabc","name":"France Services Baugé","kind":"france_services","commune":"Baugé-en-Anjou","insee":"49018","lat":47.44,"lon":-0.08,"created_at":"2026-11-23T14:00:00Z"}`,
			call: func(c *Client) (any, error) {
				return c.CreateVenue(ctx, apitype.VenueRequest{Name: "France Services Baugé", Kind: "france_services", Commune: "Baugé-en-Anjou", INSEE: "49018", Lat: &lat, Lon: &lon})
			},
			want: apitype.Venue{ID: "vabc", Name: "France Services Baugé", Kind: "france_services", Commune: "Baugé-en-Anjou", INSEE: "49018", Lat: &lat, Lon: &lon, CreatedAt: created},
			seen: seen{Method: "POST", Path: "/api/v1/venues", ContentType: "application/json",
				Body: `{"name":"France Services Baugé","kind":"france_services","commune":"Baugé-en-Anjou","insee":"49018","lat":47.44,"lon":-0.08}`},
		},
		{
			name:   "venues",
			status: http.StatusOK,
			answer: `[{"id":"vabc","name":"Mairie","kind":"mairie","commune":"Noyant","created_at":"2026-11-23T14:00:00Z"}]`,
			call:   func(c *Client) (any, error) { return c.Venues(ctx) },
			want:   []apitype.Venue{{ID: "vabc", Name: "Mairie", Kind: "mairie", Commune: "Noyant", CreatedAt: created}},
			seen:   seen{Method: "GET", Path: "/api/v1/venues"},
		},
		{
			name:   "venue by name is escaped",
			status: http.StatusOK,
			answer: `{"id":"vabc","name":"Médiathèque d'Angers","kind":"mediatheque","commune":"Angers","created_at":"2026-11-23T14:00:00Z"}`,
			call:   func(c *Client) (any, error) { return c.Venue(ctx, "Médiathèque d'Angers") },
			want:   apitype.Venue{ID: "vabc", Name: "Médiathèque d'Angers", Kind: "mediatheque", Commune: "Angers", CreatedAt: created},
			seen:   seen{Method: "GET", Path: "/api/v1/venues/M%C3%A9diath%C3%A8que%20d%27Angers"},
		},
		{
			name:   "create kit",
			status: http.StatusCreated,
			answer: `{"id":"kabc","label":"Kit 07","state":"incomplete","home":"vabc","accessories":["chargeur x2"],"devices":[],"created_at":"2026-11-23T14:00:00Z"}`,
			call: func(c *Client) (any, error) {
				return c.CreateKit(ctx, apitype.KitRequest{Label: "Kit 07", Home: "Mairie", Accessories: []string{"chargeur x2"}})
			},
			want: apitype.Kit{ID: "kabc", Label: "Kit 07", State: "incomplete", Home: "vabc", Accessories: []string{"chargeur x2"}, Devices: []apitype.KitDevice{}, CreatedAt: created},
			seen: seen{Method: "POST", Path: "/api/v1/kits", ContentType: "application/json", Body: `{"label":"Kit 07","home":"Mairie","accessories":["chargeur x2"]}`},
		},
		{
			name:   "kit with a device",
			status: http.StatusOK,
			answer: `{"id":"kabc","label":"Kit 07","state":"maintenance","devices":[{"id":"dabc","asset_tag":"VAL-0031","class":"laptop","state":"needs_wipe","online":true,"enrolled_at":"2026-11-23T14:00:00Z","ready":false,"why":"needs_wipe since return on 12 Nov","flags":["low_charge"]}],"created_at":"2026-11-23T14:00:00Z"}`,
			call:   func(c *Client) (any, error) { return c.Kit(ctx, "Kit 07") },
			want: apitype.Kit{ID: "kabc", Label: "Kit 07", State: "maintenance", CreatedAt: created, Devices: []apitype.KitDevice{{
				Device: apitype.Device{ID: "dabc", AssetTag: "VAL-0031", Class: "laptop", State: "needs_wipe", Online: true, EnrolledAt: created},
				Why:    "needs_wipe since return on 12 Nov", Flags: []string{"low_charge"},
			}}},
			seen: seen{Method: "GET", Path: "/api/v1/kits/Kit%2007"},
		},
		{
			name:   "add kit devices",
			status: http.StatusOK,
			answer: `{"id":"kabc","label":"Kit 07","state":"maintenance","devices":[],"created_at":"2026-11-23T14:00:00Z"}`,
			call:   func(c *Client) (any, error) { return c.AddKitDevices(ctx, "kabc", []string{"VAL-0031", "VAL-0032"}) },
			want:   apitype.Kit{ID: "kabc", Label: "Kit 07", State: "maintenance", Devices: []apitype.KitDevice{}, CreatedAt: created},
			seen:   seen{Method: "POST", Path: "/api/v1/kits/kabc/devices", ContentType: "application/json", Body: `{"devices":["VAL-0031","VAL-0032"]}`},
		},
		{
			name:   "remove kit devices",
			status: http.StatusOK,
			answer: `{"id":"kabc","label":"Kit 07","state":"incomplete","devices":[],"created_at":"2026-11-23T14:00:00Z"}`,
			call:   func(c *Client) (any, error) { return c.RemoveKitDevices(ctx, "kabc", []string{"VAL-0031"}) },
			want:   apitype.Kit{ID: "kabc", Label: "Kit 07", State: "incomplete", Devices: []apitype.KitDevice{}, CreatedAt: created},
			seen:   seen{Method: "POST", Path: "/api/v1/kits/kabc/devices/remove", ContentType: "application/json", Body: `{"devices":["VAL-0031"]}`},
		},
		{
			name:   "restock all",
			status: http.StatusOK,
			answer: `{"id":"kabc","label":"Kit 07","state":"available","devices":[],"created_at":"2026-11-23T14:00:00Z"}`,
			call:   func(c *Client) (any, error) { return c.RestockKit(ctx, "kabc", nil) },
			want:   apitype.Kit{ID: "kabc", Label: "Kit 07", State: "available", Devices: []apitype.KitDevice{}, CreatedAt: created},
			seen:   seen{Method: "POST", Path: "/api/v1/kits/kabc/restock", ContentType: "application/json", Body: `{}`},
		},
		{
			name:   "checkout with override",
			status: http.StatusCreated,
			answer: `{"id":"labc","kit":"kabc","kit_label":"Kit 07","borrower":"uabc","borrower_name":"Awa","venue":"vabc","venue_name":"Mairie","devices":["VAL-0031"],"out_at":"2026-11-23T14:00:00Z","due_at":"2026-12-05T17:00:00Z","by":"Léa","override":"urgent","overdue":false}`,
			call: func(c *Client) (any, error) {
				return c.Checkout(ctx, "Kit 07", apitype.CheckoutRequest{To: "Awa", Venue: "Mairie", Due: due, Override: "urgent"})
			},
			want: apitype.Loan{ID: "labc", Kit: "kabc", KitLabel: "Kit 07", Borrower: "uabc", BorrowerName: "Awa", Venue: "vabc", VenueName: "Mairie",
				Devices: []string{"VAL-0031"}, OutAt: created, DueAt: time.Date(2026, 12, 5, 17, 0, 0, 0, time.UTC), By: "Léa", Override: "urgent"},
			seen: seen{Method: "POST", Path: "/api/v1/kits/Kit%2007/checkout", ContentType: "application/json",
				Body: `{"to":"Awa","venue":"Mairie","due":"2026-12-05T18:00:00+01:00","override":"urgent"}`},
		},
		{
			name:   "checkin with damage",
			status: http.StatusOK,
			answer: `{"id":"labc","kit":"kabc","kit_label":"Kit 07","borrower":"uabc","borrower_name":"Awa","venue":"vabc","venue_name":"Mairie","devices":["VAL-0031"],"out_at":"2026-11-23T14:00:00Z","due_at":"2026-12-05T17:00:00Z","returned_at":"2026-11-23T14:00:00Z","by":"Léa","overdue":false,"missing_accessories":["sacoche"],"damaged":[{"device":"VAL-0031","note":"écran fêlé"}]}`,
			call: func(c *Client) (any, error) {
				return c.Checkin(ctx, "kabc", apitype.CheckinRequest{Missing: []string{"sacoche"}, Damaged: []apitype.Damage{{Device: "VAL-0031", Note: "écran fêlé"}}})
			},
			want: apitype.Loan{ID: "labc", Kit: "kabc", KitLabel: "Kit 07", Borrower: "uabc", BorrowerName: "Awa", Venue: "vabc", VenueName: "Mairie",
				Devices: []string{"VAL-0031"}, OutAt: created, DueAt: time.Date(2026, 12, 5, 17, 0, 0, 0, time.UTC), ReturnedAt: &created, By: "Léa",
				MissingAccessories: []string{"sacoche"}, Damaged: []apitype.Damage{{Device: "VAL-0031", Note: "écran fêlé"}}},
			seen: seen{Method: "POST", Path: "/api/v1/kits/kabc/checkin", ContentType: "application/json",
				Body: `{"missing":["sacoche"],"damaged":[{"device":"VAL-0031","note":"écran fêlé"}]}`},
		},
		{
			name:   "loans with every filter",
			status: http.StatusOK,
			answer: `null`,
			call: func(c *Client) (any, error) {
				return c.Loans(ctx, LoanFilter{Open: true, Overdue: true, User: "Awa", Venue: "Mairie", Kit: "Kit 07", Limit: 20})
			},
			want: []apitype.Loan{},
			seen: seen{Method: "GET", Path: "/api/v1/loans", RawQuery: "kit=Kit+07&limit=20&open=true&overdue=true&user=Awa&venue=Mairie"},
		},
		{
			name:   "loan",
			status: http.StatusOK,
			answer: `{"id":"labc","kit":"kabc","kit_label":"Kit 07","borrower":"uabc","borrower_name":"Awa","venue":"vabc","venue_name":"Mairie","devices":[],"out_at":"2026-11-23T14:00:00Z","due_at":"2026-11-23T14:00:00Z","by":"Awa","overdue":true,"possibly_lost":["VAL-0031"]}`,
			call:   func(c *Client) (any, error) { return c.Loan(ctx, "labc") },
			want: apitype.Loan{ID: "labc", Kit: "kabc", KitLabel: "Kit 07", Borrower: "uabc", BorrowerName: "Awa", Venue: "vabc", VenueName: "Mairie",
				Devices: []string{}, OutAt: created, DueAt: created, By: "Awa", Overdue: true, PossiblyLost: []string{"VAL-0031"}},
			seen: seen{Method: "GET", Path: "/api/v1/loans/labc"},
		},
		{
			name:   "assign a kit",
			status: http.StatusOK,
			answer: `[{"id":"dabc","asset_tag":"VAL-0031","class":"laptop","state":"ready","online":false,"enrolled_at":"2026-11-23T14:00:00Z","venue":"vabc","venue_name":"Mairie"}]`,
			call: func(c *Client) (any, error) {
				return c.Assign(ctx, apitype.AssignRequest{Kit: "Kit 07", Venue: "Mairie"})
			},
			want: []apitype.Device{{ID: "dabc", AssetTag: "VAL-0031", Class: "laptop", State: "ready", EnrolledAt: created, Venue: "vabc", VenueName: "Mairie"}},
			seen: seen{Method: "POST", Path: "/api/v1/assignments", ContentType: "application/json", Body: `{"kit":"Kit 07","venue":"Mairie"}`},
		},
		{
			name:   "set state",
			status: http.StatusOK,
			answer: `{"id":"dabc","asset_tag":"VAL-0031","class":"laptop","state":"lost","online":false,"enrolled_at":"2026-11-23T14:00:00Z"}`,
			call: func(c *Client) (any, error) {
				return c.SetState(ctx, "VAL-0031", apitype.SetStateRequest{State: "lost", Reason: "stolen at the market"})
			},
			want: apitype.Device{ID: "dabc", AssetTag: "VAL-0031", Class: "laptop", State: "lost", EnrolledAt: created},
			seen: seen{Method: "POST", Path: "/api/v1/devices/VAL-0031/state", ContentType: "application/json", Body: `{"state":"lost","reason":"stolen at the market"}`},
		},
		{
			name:   "audit of a device",
			status: http.StatusOK,
			answer: `[{"seq":4,"at":"2026-11-23T14:00:00Z","actor":"Léa","action":"state","device":"dabc","hash":"ab"}]`,
			call:   func(c *Client) (any, error) { return c.AuditPage(ctx, AuditFilter{Device: "VAL-0031", Limit: 10}) },
			want:   []apitype.Event{{Seq: 4, At: created, Actor: "Léa", Action: "state", Device: "dabc", Hash: "ab"}},
			seen:   seen{Method: "GET", Path: "/api/v1/audit", RawQuery: "device=VAL-0031&limit=10"},
		},
		{
			name:   "audit of the whole log",
			status: http.StatusOK,
			answer: `null`,
			call:   func(c *Client) (any, error) { return c.AuditPage(ctx, AuditFilter{}) },
			want:   []apitype.Event{},
			seen:   seen{Method: "GET", Path: "/api/v1/audit"},
		},
		{
			name:   "audit page of a kit",
			status: http.StatusOK,
			answer: `[{"seq":2,"at":"2026-11-23T14:00:00Z","actor":"Léa","action":"kit_created","subject":"kit:kabc","hash":"cd"}]`,
			call: func(c *Client) (any, error) {
				return c.AuditPage(ctx, AuditFilter{Kit: "Kit 07", Before: 40, Limit: 5})
			},
			want: []apitype.Event{{Seq: 2, At: created, Actor: "Léa", Action: "kit_created", Subject: "kit:kabc", Hash: "cd"}},
			seen: seen{Method: "GET", Path: "/api/v1/audit", RawQuery: "before=40&kit=Kit+07&limit=5"},
		},
		{
			name:   "verify audit",
			status: http.StatusOK,
			answer: `{"ok":true,"events":12,"head":"ef"}`,
			call:   func(c *Client) (any, error) { return c.VerifyAudit(ctx) },
			want:   apitype.AuditVerify{OK: true, Events: 12, Head: "ef"},
			seen:   seen{Method: "GET", Path: "/api/v1/audit/verify"},
		},
	}
	runRequests(t, tests)
}

// pagedServer serves pages of JSON arrays: the answer to a request whose
// after= is k is pages[k], with X-Next-After set to next[k] when there is
// one. It records the queries it got.
func pagedServer(t *testing.T, pages map[string]string, next map[string]string) (*httptest.Server, *[]string) {
	t.Helper()
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
		after := r.URL.Query().Get("after")
		body, ok := pages[after]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"code":"bad_request","message":"no page after `+after+`"}}`)
			return
		}
		if n := next[after]; n != "" {
			w.Header().Set("X-Next-After", n)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &queries
}

func TestDevicesPagesThrough(t *testing.T) {
	dev := func(tag string) string {
		return `{"id":"d` + strings.ToLower(tag[4:]) + `","asset_tag":"` + tag + `","class":"laptop","state":"ready","online":true,"enrolled_at":"2026-11-01T10:00:00Z"}`
	}
	// The online filter may leave a page empty that is not the last.
	srv, queries := pagedServer(t, map[string]string{
		"":         "[" + dev("VAL-0001") + "," + dev("VAL-0002") + "]",
		"VAL-0002": "[]",
		"VAL-0004": "[" + dev("VAL-0005") + "]",
	}, map[string]string{"": "VAL-0002", "VAL-0002": "VAL-0004"})
	devs, err := newClient(t, srv.URL).Devices(context.Background(), DeviceFilter{State: "ready", Kit: "Kit 07", Online: true})
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, d := range devs {
		tags = append(tags, d.AssetTag)
	}
	if diff := cmp.Diff([]string{"VAL-0001", "VAL-0002", "VAL-0005"}, tags); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	want := []string{
		"/api/v1/devices?kit=Kit+07&online=true&state=ready",
		"/api/v1/devices?after=VAL-0002&kit=Kit+07&online=true&state=ready",
		"/api/v1/devices?after=VAL-0004&kit=Kit+07&online=true&state=ready",
	}
	if diff := cmp.Diff(want, *queries); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestKitsPagesThrough(t *testing.T) {
	kit := func(label string) string {
		return `{"id":"k` + label[4:] + `","label":"` + label + `","state":"available","devices":[],"created_at":"2026-11-01T10:00:00Z"}`
	}
	srv, queries := pagedServer(t, map[string]string{
		"":       "[" + kit("Kit 01") + "," + kit("Kit 02") + "]",
		"Kit 02": "[" + kit("Kit 03") + "]",
	}, map[string]string{"": "Kit 02"})
	kits, err := newClient(t, srv.URL).Kits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, k := range kits {
		labels = append(labels, k.Label)
	}
	if diff := cmp.Diff([]string{"Kit 01", "Kit 02", "Kit 03"}, labels); diff != "" {
		t.Errorf("kits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/api/v1/kits?", "/api/v1/kits?after=Kit+02"}, *queries); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestLoansPagesThrough(t *testing.T) {
	loan := func(id string) string {
		return `{"id":"` + id + `","kit":"k1","kit_label":"Kit 01","borrower":"u1","borrower_name":"Awa","venue":"v1","venue_name":"Mairie","devices":[],"out_at":"2026-11-01T10:00:00Z","due_at":"2026-11-08T10:00:00Z","by":"Awa","overdue":true}`
	}
	srv, queries := pagedServer(t, map[string]string{
		"":   "[" + loan("l3") + "," + loan("l2") + "]",
		"l2": "[" + loan("l1") + "]",
	}, map[string]string{"": "l2"})
	loans, err := newClient(t, srv.URL).Loans(context.Background(), LoanFilter{Overdue: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range loans {
		ids = append(ids, l.ID)
	}
	if diff := cmp.Diff([]string{"l3", "l2", "l1"}, ids); diff != "" {
		t.Errorf("loans (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/api/v1/loans?overdue=true", "/api/v1/loans?after=l2&overdue=true"}, *queries); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestPagesStopWhenTheServerRepeatsItself(t *testing.T) {
	srv, queries := pagedServer(t, map[string]string{"": "[]", "VAL-0002": "[]"},
		map[string]string{"": "VAL-0002", "VAL-0002": "VAL-0002"})
	_, err := newClient(t, srv.URL).Devices(context.Background(), DeviceFilter{})
	if !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("error = %v, want ErrBadAnswer", err)
	}
	if len(*queries) != 2 {
		t.Errorf("%d requests, want 2: %v", len(*queries), *queries)
	}
}

func TestPageErrorIsReturned(t *testing.T) {
	srv, _ := pagedServer(t, map[string]string{"": "[]"}, map[string]string{"": "VAL-0002"})
	_, err := newClient(t, srv.URL).Kits(context.Background())
	if !IsBadRequest(err) {
		t.Fatalf("error = %v, want the server's 400", err)
	}
}

func TestCheckoutRefusalCarriesDetails(t *testing.T) {
	srv, _ := fakeServer(t, http.StatusConflict, `{"error":{"code":"conflict","message":"kit Kit 07 cannot go out: 2 devices are not ready","details":["VAL-0031: needs_wipe since return on 12 Nov","VAL-0032: wiping"]}}`)
	_, err := newClient(t, srv.URL).Checkout(context.Background(), "Kit 07", apitype.CheckoutRequest{Venue: "Mairie", Due: time.Now().Add(time.Hour)})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
	want := Error{Status: http.StatusConflict, Code: apitype.CodeConflict, Message: "kit Kit 07 cannot go out: 2 devices are not ready",
		Details: []string{"VAL-0031: needs_wipe since return on 12 Nov", "VAL-0032: wiping"}}
	if diff := cmp.Diff(want, *e); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestOpsRefusedLocally(t *testing.T) {
	ctx := context.Background()
	calls := []struct {
		name string
		call func(c *Client) error
		want string
	}{
		{"user without name", func(c *Client) error {
			_, err := c.CreateUser(ctx, apitype.UserRequest{Name: " ", Role: "admin"})
			return err
		}, "name is empty"},
		{"disable nobody", func(c *Client) error { _, err := c.DisableUser(ctx, ""); return err }, "user id or name is empty"},
		{"venue without name", func(c *Client) error { _, err := c.CreateVenue(ctx, apitype.VenueRequest{}); return err }, "name is empty"},
		{"no venue ref", func(c *Client) error { _, err := c.Venue(ctx, " "); return err }, "venue id or name is empty"},
		{"kit without label", func(c *Client) error { _, err := c.CreateKit(ctx, apitype.KitRequest{}); return err }, "label is empty"},
		{"no kit ref", func(c *Client) error { _, err := c.Kit(ctx, ""); return err }, "kit id or name is empty"},
		{"add nothing", func(c *Client) error { _, err := c.AddKitDevices(ctx, "Kit 07", nil); return err }, "no device given"},
		{"remove an empty ref", func(c *Client) error { _, err := c.RemoveKitDevices(ctx, "Kit 07", []string{""}); return err }, "asset tag is empty"},
		{"restock no kit", func(c *Client) error { _, err := c.RestockKit(ctx, "", nil); return err }, "kit id or name is empty"},
		{"checkout without due", func(c *Client) error {
			_, err := c.Checkout(ctx, "Kit 07", apitype.CheckoutRequest{Venue: "Mairie"})
			return err
		}, "no due date"},
		{"checkin no kit", func(c *Client) error { _, err := c.Checkin(ctx, " ", apitype.CheckinRequest{}); return err }, "kit id or name is empty"},
		{"negative loan limit", func(c *Client) error { _, err := c.Loans(ctx, LoanFilter{Limit: -1}); return err }, "negative"},
		{"no loan id", func(c *Client) error { _, err := c.Loan(ctx, ""); return err }, "loan id is empty"},
		{"assign nowhere", func(c *Client) error {
			_, err := c.Assign(ctx, apitype.AssignRequest{Devices: []string{"VAL-0001"}})
			return err
		}, "no venue"},
		{"assign nothing", func(c *Client) error { _, err := c.Assign(ctx, apitype.AssignRequest{Venue: "Mairie"}); return err }, "devices or a kit"},
		{"assign both", func(c *Client) error {
			_, err := c.Assign(ctx, apitype.AssignRequest{Devices: []string{"VAL-0001"}, Kit: "Kit 07", Venue: "Mairie"})
			return err
		}, "not both"},
		{"set no state", func(c *Client) error { _, err := c.SetState(ctx, "VAL-0001", apitype.SetStateRequest{}); return err }, "no state"},
		{"audit of two subjects", func(c *Client) error {
			_, err := c.AuditPage(ctx, AuditFilter{Device: "VAL-0001", Kit: "Kit 07"})
			return err
		}, "device, kit"},
		{"negative audit limit", func(c *Client) error { _, err := c.AuditPage(ctx, AuditFilter{Limit: -1}); return err }, "negative"},
	}
	srv, got := fakeServer(t, http.StatusOK, `{}`)
	c := newClient(t, srv.URL)
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one saying %q", err, tc.want)
			}
		})
	}
	if got.Method != "" {
		t.Errorf("a request reached the server: %+v", fmt.Sprint(*got))
	}
}
