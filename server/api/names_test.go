package api_test

import (
	"testing"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/server/fleet"
)

// TestAPINamesAreTheFleets keeps the names the API documents for clients
// (apitype) equal to the fleet's, which the server answers with.
func TestAPINamesAreTheFleets(t *testing.T) {
	for api, fl := range map[string]string{
		apitype.RoleMediateur: string(fleet.RoleMediateur), apitype.RoleLogistics: string(fleet.RoleLogistics),
		apitype.RoleTechnician: string(fleet.RoleTechnician), apitype.RoleAdmin: string(fleet.RoleAdmin),
		apitype.VenueFranceServices: string(fleet.VenueFranceServices), apitype.VenueMairie: string(fleet.VenueMairie),
		apitype.VenueMediatheque: string(fleet.VenueMediatheque), apitype.VenueEPN: string(fleet.VenueEPN),
		apitype.VenueAssociation: string(fleet.VenueAssociation), apitype.VenueOther: string(fleet.VenueOther),
		apitype.KitAvailable: string(fleet.KitAvailable), apitype.KitOnLoan: string(fleet.KitOnLoan),
		apitype.KitIncomplete: string(fleet.KitIncomplete), apitype.KitMaintenance: string(fleet.KitMaintenance),
		apitype.FlagSilent: fleet.FlagSilent, apitype.FlagNeverReported: fleet.FlagNeverReported,
		apitype.FlagLowCharge: fleet.FlagLowCharge, apitype.FlagNoSIM: fleet.FlagNoSIM,
		apitype.FlagPossiblyLost: fleet.FlagPossiblyLost, apitype.FlagHardwareChanged: fleet.FlagHardwareChanged,
		apitype.FlagMissing: fleet.FlagMissing,
	} {
		if api != fl {
			t.Errorf("apitype says %q where the fleet says %q", api, fl)
		}
	}
	if len(fleet.Roles) != 4 || len(fleet.VenueKinds) != 6 {
		t.Errorf("the fleet has %d roles and %d venue kinds; apitype names 4 and 6", len(fleet.Roles), len(fleet.VenueKinds))
	}
}
