package apiclient

import (
	"context"
	"errors"

	"github.com/valise-numerique/valise/internal/apitype"
)

var errTODO = errors.New("apiclient: not implemented yet")

// LoanFilter selects loans in Loans; references are ids or names.
type LoanFilter struct {
	Open, Overdue    bool
	User, Venue, Kit string
	Limit            int
}

// CreateUser adds a user; the answer carries their token, once.
func (c *Client) CreateUser(ctx context.Context, req apitype.UserRequest) (apitype.User, error) {
	return apitype.User{}, errTODO
}

// Users lists the users by name.
func (c *Client) Users(ctx context.Context) ([]apitype.User, error) { return nil, errTODO }

// DisableUser disables a user, by id or name.
func (c *Client) DisableUser(ctx context.Context, ref string) (apitype.User, error) {
	return apitype.User{}, errTODO
}

// CreateVenue adds a venue.
func (c *Client) CreateVenue(ctx context.Context, req apitype.VenueRequest) (apitype.Venue, error) {
	return apitype.Venue{}, errTODO
}

// Venues lists the venues by name.
func (c *Client) Venues(ctx context.Context) ([]apitype.Venue, error) { return nil, errTODO }

// Venue returns a venue by id or name.
func (c *Client) Venue(ctx context.Context, ref string) (apitype.Venue, error) {
	return apitype.Venue{}, errTODO
}

// CreateKit makes a kit.
func (c *Client) CreateKit(ctx context.Context, req apitype.KitRequest) (apitype.Kit, error) {
	return apitype.Kit{}, errTODO
}

// Kits lists every kit by label (paging through the server's pages).
func (c *Client) Kits(ctx context.Context) ([]apitype.Kit, error) { return nil, errTODO }

// Kit returns a kit, by id or label, with each device's readiness.
func (c *Client) Kit(ctx context.Context, ref string) (apitype.Kit, error) {
	return apitype.Kit{}, errTODO
}

// AddKitDevices puts devices in a kit.
func (c *Client) AddKitDevices(ctx context.Context, kit string, devices []string) (apitype.Kit, error) {
	return apitype.Kit{}, errTODO
}

// RemoveKitDevices takes devices out of a kit.
func (c *Client) RemoveKitDevices(ctx context.Context, kit string, devices []string) (apitype.Kit, error) {
	return apitype.Kit{}, errTODO
}

// RestockKit marks missing accessories present again (all when items is
// empty).
func (c *Client) RestockKit(ctx context.Context, kit string, items []string) (apitype.Kit, error) {
	return apitype.Kit{}, errTODO
}

// Checkout lends a kit.
func (c *Client) Checkout(ctx context.Context, kit string, req apitype.CheckoutRequest) (apitype.Loan, error) {
	return apitype.Loan{}, errTODO
}

// Checkin records a kit's return.
func (c *Client) Checkin(ctx context.Context, kit string, req apitype.CheckinRequest) (apitype.Loan, error) {
	return apitype.Loan{}, errTODO
}

// Loans lists loans, newest first.
func (c *Client) Loans(ctx context.Context, f LoanFilter) ([]apitype.Loan, error) {
	return nil, errTODO
}

// Loan returns one loan.
func (c *Client) Loan(ctx context.Context, id string) (apitype.Loan, error) {
	return apitype.Loan{}, errTODO
}

// Assign assigns devices, or a kit's devices, to a venue.
func (c *Client) Assign(ctx context.Context, req apitype.AssignRequest) ([]apitype.Device, error) {
	return nil, errTODO
}

// SetState moves a device to another lifecycle state.
func (c *Client) SetState(ctx context.Context, ref string, req apitype.SetStateRequest) (apitype.Device, error) {
	return apitype.Device{}, errTODO
}

// Audit returns audit events, newest last: the last limit of the whole
// log, or of one device.
func (c *Client) Audit(ctx context.Context, device string, limit int) ([]apitype.Event, error) {
	return nil, errTODO
}

// VerifyAudit asks the server to verify the audit log's chain.
func (c *Client) VerifyAudit(ctx context.Context) (apitype.AuditVerify, error) {
	return apitype.AuditVerify{}, errTODO
}
