package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/valise-numerique/valise/internal/apitype"
)

// headerNextAfter is the header of a full page of devices or kits: what to
// ask the next page after.
const headerNextAfter = "X-Next-After"

// maxPages bounds the pages a listing reads, so that a server that never
// ends its pages cannot keep the client in a loop.
const maxPages = 10000

// LoanFilter selects loans in Loans; references are ids or names.
type LoanFilter struct {
	Open, Overdue    bool
	User, Venue, Kit string
	Limit            int
}

// AuditFilter selects a page of the audit log in AuditPage. At most one
// of Device, Kit, Loan, Venue and User may be set (ids or names; Loan an
// id); none selects the whole log.
type AuditFilter struct {
	Device, Kit, Venue, User string
	// Before keeps the events whose seq is below it; 0 reads from the
	// newest.
	Before uint64
	// Limit is the size of the page; 0 is the server's default (100).
	Limit int
}

// CreateUser adds a user; the answer carries their token, once.
func (c *Client) CreateUser(ctx context.Context, req apitype.UserRequest) (apitype.User, error) {
	var u apitype.User
	if strings.TrimSpace(req.Name) == "" {
		return u, fmt.Errorf("add user: the name is empty")
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/users", nil, req, &u)
	return u, err
}

// Users lists the users by name.
func (c *Client) Users(ctx context.Context) ([]apitype.User, error) {
	us := []apitype.User{}
	if err := c.do(ctx, http.MethodGet, "/api/v1/users", nil, nil, &us); err != nil {
		return nil, err
	}
	return nonNil(us), nil
}

// DisableUser disables a user, by id or name.
func (c *Client) DisableUser(ctx context.Context, ref string) (apitype.User, error) {
	var u apitype.User
	if err := checkName("user", ref); err != nil {
		return u, err
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/users/"+url.PathEscape(ref)+"/disable", nil, nil, &u)
	return u, err
}

// CreateVenue adds a venue.
func (c *Client) CreateVenue(ctx context.Context, req apitype.VenueRequest) (apitype.Venue, error) {
	var v apitype.Venue
	if strings.TrimSpace(req.Name) == "" {
		return v, fmt.Errorf("add venue: the name is empty")
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/venues", nil, req, &v)
	return v, err
}

// Venues lists the venues by name.
func (c *Client) Venues(ctx context.Context) ([]apitype.Venue, error) {
	vs := []apitype.Venue{}
	if err := c.do(ctx, http.MethodGet, "/api/v1/venues", nil, nil, &vs); err != nil {
		return nil, err
	}
	return nonNil(vs), nil
}

// Venue returns a venue by id or name.
func (c *Client) Venue(ctx context.Context, ref string) (apitype.Venue, error) {
	var v apitype.Venue
	if err := checkName("venue", ref); err != nil {
		return v, err
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/venues/"+url.PathEscape(ref), nil, nil, &v)
	return v, err
}

// CreateKit makes a kit.
func (c *Client) CreateKit(ctx context.Context, req apitype.KitRequest) (apitype.Kit, error) {
	var k apitype.Kit
	if strings.TrimSpace(req.Label) == "" {
		return k, fmt.Errorf("create kit: the label is empty")
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/kits", nil, req, &k)
	return k, err
}

// Kits lists every kit by label (paging through the server's pages).
func (c *Client) Kits(ctx context.Context) ([]apitype.Kit, error) {
	kits := []apitype.Kit{}
	err := c.pages(ctx, "/api/v1/kits", url.Values{}, func(data []byte) error {
		var page []apitype.Kit
		if err := c.decode(http.MethodGet, "/api/v1/kits", data, &page); err != nil {
			return err
		}
		kits = append(kits, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return kits, nil
}

// Kit returns a kit, by id or label, with each device's readiness.
func (c *Client) Kit(ctx context.Context, ref string) (apitype.Kit, error) {
	var k apitype.Kit
	if err := checkName("kit", ref); err != nil {
		return k, err
	}
	err := c.do(ctx, http.MethodGet, kitPath(ref, ""), nil, nil, &k)
	return k, err
}

// AddKitDevices puts devices in a kit.
func (c *Client) AddKitDevices(ctx context.Context, kit string, devices []string) (apitype.Kit, error) {
	return c.kitDevices(ctx, kit, "/devices", devices)
}

// RemoveKitDevices takes devices out of a kit.
func (c *Client) RemoveKitDevices(ctx context.Context, kit string, devices []string) (apitype.Kit, error) {
	return c.kitDevices(ctx, kit, "/devices/remove", devices)
}

func (c *Client) kitDevices(ctx context.Context, kit, sub string, devices []string) (apitype.Kit, error) {
	var k apitype.Kit
	if err := checkName("kit", kit); err != nil {
		return k, err
	}
	if len(devices) == 0 {
		return k, fmt.Errorf("kit %s: no device given", kit)
	}
	for _, d := range devices {
		if err := checkRef(d); err != nil {
			return k, err
		}
	}
	err := c.do(ctx, http.MethodPost, kitPath(kit, sub), nil, apitype.KitDevicesRequest{Devices: devices}, &k)
	return k, err
}

// RestockKit marks missing accessories present again (all when items is
// empty).
func (c *Client) RestockKit(ctx context.Context, kit string, items []string) (apitype.Kit, error) {
	var k apitype.Kit
	if err := checkName("kit", kit); err != nil {
		return k, err
	}
	err := c.do(ctx, http.MethodPost, kitPath(kit, "/restock"), nil, apitype.RestockRequest{Items: items}, &k)
	return k, err
}

// Checkout lends a kit. A refusal is an *Error whose Details name each
// device that blocks it.
func (c *Client) Checkout(ctx context.Context, kit string, req apitype.CheckoutRequest) (apitype.Loan, error) {
	var l apitype.Loan
	if err := checkName("kit", kit); err != nil {
		return l, err
	}
	if req.Due.IsZero() {
		return l, fmt.Errorf("checkout of %s: no due date given", kit)
	}
	err := c.do(ctx, http.MethodPost, kitPath(kit, "/checkout"), nil, req, &l)
	return l, err
}

// Checkin records a kit's return.
func (c *Client) Checkin(ctx context.Context, kit string, req apitype.CheckinRequest) (apitype.Loan, error) {
	var l apitype.Loan
	if err := checkName("kit", kit); err != nil {
		return l, err
	}
	err := c.do(ctx, http.MethodPost, kitPath(kit, "/checkin"), nil, req, &l)
	return l, err
}

// Loans lists loans, newest first: every page of them, or only the first
// f.Limit.
func (c *Client) Loans(ctx context.Context, f LoanFilter) ([]apitype.Loan, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("loans: limit must not be negative")
	}
	q := url.Values{}
	if f.Open {
		q.Set("open", "true")
	}
	if f.Overdue {
		q.Set("overdue", "true")
	}
	for k, v := range map[string]string{"user": f.User, "venue": f.Venue, "kit": f.Kit} {
		if v != "" {
			q.Set(k, v)
		}
	}
	loans := []apitype.Loan{}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
		if err := c.do(ctx, http.MethodGet, "/api/v1/loans", q, nil, &loans); err != nil {
			return nil, err
		}
		return nonNil(loans), nil
	}
	err := c.pages(ctx, "/api/v1/loans", q, func(data []byte) error {
		var page []apitype.Loan
		if err := c.decode(http.MethodGet, "/api/v1/loans", data, &page); err != nil {
			return err
		}
		loans = append(loans, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return loans, nil
}

// Loan returns one loan.
func (c *Client) Loan(ctx context.Context, id string) (apitype.Loan, error) {
	var l apitype.Loan
	if err := checkID("loan", id); err != nil {
		return l, err
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/loans/"+url.PathEscape(id), nil, nil, &l)
	return l, err
}

// Assign assigns devices, or a kit's devices, to a venue.
func (c *Client) Assign(ctx context.Context, req apitype.AssignRequest) ([]apitype.Device, error) {
	switch {
	case strings.TrimSpace(req.Venue) == "":
		return nil, fmt.Errorf("assign: no venue given")
	case len(req.Devices) == 0 && strings.TrimSpace(req.Kit) == "":
		return nil, fmt.Errorf("assign: give devices or a kit")
	case len(req.Devices) > 0 && req.Kit != "":
		return nil, fmt.Errorf("assign: give devices or a kit, not both")
	}
	for _, d := range req.Devices {
		if err := checkRef(d); err != nil {
			return nil, err
		}
	}
	devs := []apitype.Device{}
	if err := c.do(ctx, http.MethodPost, "/api/v1/assignments", nil, req, &devs); err != nil {
		return nil, err
	}
	return nonNil(devs), nil
}

// SetState moves a device to another lifecycle state.
func (c *Client) SetState(ctx context.Context, ref string, req apitype.SetStateRequest) (apitype.Device, error) {
	var d apitype.Device
	if err := checkRef(ref); err != nil {
		return d, err
	}
	if strings.TrimSpace(req.State) == "" {
		return d, fmt.Errorf("set state of %s: no state given", ref)
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(ref)+"/state", nil, req, &d)
	return d, err
}

// AuditPage returns one page of the audit log, newest last. To read
// further back, ask again with Before set to the first event's Seq.
func (c *Client) AuditPage(ctx context.Context, f AuditFilter) ([]apitype.Event, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("audit: limit must not be negative")
	}
	q := url.Values{}
	var given []string
	for _, s := range []struct{ param, ref string }{
		{"device", f.Device}, {"kit", f.Kit}, {"venue", f.Venue}, {"user", f.User},
	} {
		if s.ref != "" {
			q.Set(s.param, s.ref)
			given = append(given, s.param)
		}
	}
	if len(given) > 1 {
		return nil, fmt.Errorf("audit: give one of %s, not several", strings.Join(given, ", "))
	}
	if f.Before > 0 {
		q.Set("before", strconv.FormatUint(f.Before, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	evs := []apitype.Event{}
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit", q, nil, &evs); err != nil {
		return nil, err
	}
	return nonNil(evs), nil
}

// VerifyAudit asks the server to verify the audit log's chain.
func (c *Client) VerifyAudit(ctx context.Context) (apitype.AuditVerify, error) {
	var av apitype.AuditVerify
	err := c.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, nil, &av)
	return av, err
}

// pages GETs path with q, then again with after= the X-Next-After of each
// answer while it has one, handing each answer's body to page.
func (c *Client) pages(ctx context.Context, path string, q url.Values, page func(data []byte) error) error {
	after := ""
	for range maxPages {
		data, h, err := c.exchange(ctx, http.MethodGet, path, q, "", nil, "application/json", maxAnswer)
		if err != nil {
			return err
		}
		if err := page(data); err != nil {
			return err
		}
		next := h.Get(headerNextAfter)
		if next == "" {
			return nil
		}
		if next == after {
			return fmt.Errorf("GET %s: %w: the page after %q starts there again", path, ErrBadAnswer, after)
		}
		after = next
		q.Set("after", after)
	}
	return fmt.Errorf("GET %s: %w: more than %d pages", path, ErrBadAnswer, maxPages)
}

func kitPath(ref, sub string) string {
	return "/api/v1/kits/" + url.PathEscape(ref) + sub
}

func checkName(what, ref string) error {
	if strings.TrimSpace(ref) == "" {
		return fmt.Errorf("%s id or name is empty", what)
	}
	return nil
}
