package store

import (
	"errors"

	"github.com/valise-numerique/valise/internal/wire"
	"github.com/valise-numerique/valise/server/fleet"
)

var errTODO = errors.New("store: not implemented yet")

func (s *Store) User(id string) (fleet.User, error)                { return fleet.User{}, errTODO }
func (s *Store) Users() ([]fleet.User, error)                      { return nil, errTODO }
func (s *Store) Venue(id string) (fleet.Venue, error)              { return fleet.Venue{}, errTODO }
func (s *Store) Venues() ([]fleet.Venue, error)                    { return nil, errTODO }
func (s *Store) Kit(id string) (fleet.Kit, error)                  { return fleet.Kit{}, errTODO }
func (s *Store) KitIDByLabel(key string) (string, error)           { return "", errTODO }
func (s *Store) Kits(after string, limit int) ([]fleet.Kit, error) { return nil, errTODO }
func (s *Store) Loan(id string) (fleet.Loan, error)                { return fleet.Loan{}, errTODO }
func (s *Store) Loans(q fleet.LoanQuery) ([]fleet.Loan, error)     { return nil, errTODO }
func (s *Store) DeviceList(f fleet.Filter) ([]fleet.Device, error) { return nil, errTODO }
func (s *Store) AuditPage(subject string, before uint64, limit int) ([][]byte, error) {
	return nil, errTODO
}
func (s *Store) Live(device string) (fleet.Live, error) { return fleet.Live{}, errTODO }
func (s *Store) LatestInventory(device string) (wire.Inventory, bool, error) {
	return wire.Inventory{}, false, errTODO
}

func (c changeTx) User(id string) (fleet.User, error)         { return fleet.User{}, errTODO }
func (c changeTx) UserIDsByName(key string) ([]string, error) { return nil, errTODO }
func (c changeTx) PutUser(u fleet.User) error                 { return errTODO }
func (c changeTx) PutAPIToken(t fleet.APIToken) error         { return errTODO }
func (c changeTx) Venue(id string) (fleet.Venue, error)       { return fleet.Venue{}, errTODO }
func (c changeTx) VenueIDByName(key string) (string, error)   { return "", errTODO }
func (c changeTx) PutVenue(v fleet.Venue) error               { return errTODO }
func (c changeTx) Kit(id string) (fleet.Kit, error)           { return fleet.Kit{}, errTODO }
func (c changeTx) KitIDByLabel(key string) (string, error)    { return "", errTODO }
func (c changeTx) PutKit(k fleet.Kit) error                   { return errTODO }
func (c changeTx) Loan(id string) (fleet.Loan, error)         { return fleet.Loan{}, errTODO }
func (c changeTx) PutLoan(l fleet.Loan) error                 { return errTODO }
func (c changeTx) DeviceIDByTag(tag string) (string, error)   { return "", errTODO }
func (c changeTx) IdentOwner(key string) (string, error)      { return "", errTODO }
