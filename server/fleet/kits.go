package fleet

// CreateKit makes a kit. label must be unique (by NameKey); home, when
// given, is a venue id or name; accessories is the checklist.
func (f *Fleet) CreateKit(by Principal, label, home string, accessories []string) (Kit, error) {
	return Kit{}, errUnimplemented
}

// AddToKit puts devices (ids or asset tags) in a kit. A device belongs to
// one kit at most; a kit on loan cannot change.
func (f *Fleet) AddToKit(by Principal, kit string, devices []string) (Kit, error) {
	return Kit{}, errUnimplemented
}

// RemoveFromKit takes devices out of a kit.
func (f *Fleet) RemoveFromKit(by Principal, kit string, devices []string) (Kit, error) {
	return Kit{}, errUnimplemented
}

// Restock marks missing accessories as present again: items, or all of
// them when items is empty.
func (f *Fleet) Restock(by Principal, kit string, items []string) (Kit, error) {
	return Kit{}, errUnimplemented
}

// Kit returns the kit with this id or label.
func (f *Fleet) Kit(ref string) (Kit, error) {
	return Kit{}, errUnimplemented
}

// KitStatus returns a kit with the readiness of each device, from its
// state, the wipe gate and live telemetry.
func (f *Fleet) KitStatus(ref string) (KitStatus, error) {
	return KitStatus{}, errUnimplemented
}

// Kits returns at most limit kits (0: all) by label, after the kit
// labelled after, each with its state (from its devices' states; the
// devices' live telemetry is left out).
func (f *Fleet) Kits(after string, limit int) ([]KitStatus, error) {
	return nil, errUnimplemented
}
