package fleet

// CreateUser adds a person and makes their API token, whose secret is
// returned once. Only an admin may.
func (f *Fleet) CreateUser(by Principal, name string, role Role) (User, string, error) {
	return User{}, "", errUnimplemented
}

// Users returns every user, by name.
func (f *Fleet) Users() ([]User, error) { return nil, errUnimplemented }

// User returns the user with this id, or the one user with this name.
func (f *Fleet) User(ref string) (User, error) { return User{}, errUnimplemented }

// DisableUser disables a user: their tokens stop working at once. Only an
// admin may, and not on themselves.
func (f *Fleet) DisableUser(by Principal, ref string) (User, error) {
	return User{}, errUnimplemented
}

// CreateVenue adds a venue; its name must be unique (by NameKey).
func (f *Fleet) CreateVenue(by Principal, v Venue) (Venue, error) {
	return Venue{}, errUnimplemented
}

// Venues returns every venue, by name.
func (f *Fleet) Venues() ([]Venue, error) { return nil, errUnimplemented }

// Venue returns the venue with this id or name.
func (f *Fleet) Venue(ref string) (Venue, error) { return Venue{}, errUnimplemented }

// Assign assigns devices for the long term to a venue: the devices named,
// or every device of kit (whose home becomes the venue too).
func (f *Fleet) Assign(by Principal, devices []string, kit, venue string) ([]Device, error) {
	return nil, errUnimplemented
}
