package fleet

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config configures a Fleet.
type Config struct {
	// Store keeps devices and tokens. Required.
	Store Store
	// Dedupe is reset for a device when it re-enrols. Optional.
	Dedupe DedupeResetter
	// AssetTagPrefix starts every asset tag the fleet numbers; "VAL-" by
	// default, giving VAL-0001, VAL-0002…
	AssetTagPrefix string
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// Rand is the source of ids and secrets; crypto/rand by default.
	Rand io.Reader
	// Logger receives identity conflicts and hardware changes.
	Logger *slog.Logger
	// ServerKey is the server's ed25519 key: it countersigns wipe
	// certificates and signs imported evidence. Without it wipe results
	// are refused and the wipe gate stays closed.
	ServerKey ed25519.PrivateKey
	// WipeCommandTTL is how long a wipe or provision command waits for an
	// offline device; 7 days by default.
	WipeCommandTTL time.Duration
	// WipeSilence is how long a running wipe may go without news from its
	// agent before its job fails; 1 hour by default.
	WipeSilence time.Duration
	// Telemetry reads devices' reports for checkout's pre-flight,
	// check-in's hardware comparison and the "possibly lost" flag.
	// Without it those checks see devices that never reported.
	Telemetry Telemetry
	// Location is the time zone of dates in messages ("since return on
	// 12 Nov"); time.Local by default.
	Location *time.Location
	// Preflight is how recently a device must have been seen for checkout
	// not to warn; 15 minutes by default. MinCharge is the battery charge
	// (%) below which it warns; 50 by default.
	Preflight time.Duration
	MinCharge float64
	// LostAfter is how long a device on loan may stay silent before it is
	// flagged possibly lost; 72 hours by default.
	LostAfter time.Duration
}

func (c *Config) setDefaults() {
	if c.AssetTagPrefix == "" {
		c.AssetTagPrefix = "VAL-"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.WipeCommandTTL == 0 {
		c.WipeCommandTTL = 7 * 24 * time.Hour
	}
	if c.WipeSilence == 0 {
		c.WipeSilence = time.Hour
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.Preflight == 0 {
		c.Preflight = 15 * time.Minute
	}
	if c.MinCharge == 0 {
		c.MinCharge = 50
	}
	if c.LostAfter == 0 {
		c.LostAfter = 72 * time.Hour
	}
}

// Validate reports the first bad field of c.
func (c Config) Validate() error {
	if c.Store == nil {
		return fmt.Errorf("fleet config: Store is required")
	}
	if strings.TrimSpace(c.AssetTagPrefix) != c.AssetTagPrefix || len(c.AssetTagPrefix) > 16 {
		return fmt.Errorf("fleet config: AssetTagPrefix %q must be at most 16 characters without spaces", c.AssetTagPrefix)
	}
	if c.ServerKey != nil && len(c.ServerKey) != ed25519.PrivateKeySize {
		return fmt.Errorf("fleet config: ServerKey must be an ed25519 private key")
	}
	if c.WipeCommandTTL < time.Minute || c.WipeSilence < time.Minute {
		return fmt.Errorf("fleet config: WipeCommandTTL and WipeSilence must be at least 1m")
	}
	return nil
}

// Fleet is the fleet domain. It is safe for concurrent use: every change
// goes through one store transaction.
type Fleet struct {
	cfg Config
	log *slog.Logger

	liveMu sync.Mutex
	live   map[string]*liveJob // wipe job id -> progress not yet written
}

// New returns a Fleet over cfg.Store.
func New(cfg Config) (*Fleet, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Fleet{cfg: cfg, log: cfg.Logger}, nil
}

func (f *Fleet) now() time.Time { return f.cfg.Now().UTC() }

// Role is what a person may do.
type Role string

// Roles, from least to most powerful in the field; admin may do everything.
const (
	RoleMediateur  Role = "mediateur"
	RoleLogistics  Role = "logistics"
	RoleTechnician Role = "technician"
	RoleAdmin      Role = "admin"
)

// Roles lists every role.
var Roles = []Role{RoleMediateur, RoleLogistics, RoleTechnician, RoleAdmin}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Principal is the person behind an API token: ID is their user id.
type Principal struct {
	ID   string
	Name string
	Role Role
}

// Allowed reports whether p holds one of roles; admin holds them all.
func (p Principal) Allowed(roles ...Role) bool {
	return p.Role == RoleAdmin || slices.Contains(roles, p.Role)
}

// HashSecret returns the hex SHA-256 of a secret, the form stores keep.
// Secrets are 192 bits or more of randomness, so a fast hash is enough.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// equalHash compares two hex hashes in constant time.
func equalHash(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// secret returns prefix + 32 random bytes in unpadded base64url.
func (f *Fleet) secret(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(f.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix + 12 random lowercase base32 characters (60 bits),
// which satisfies wire.ValidDeviceID.
func (f *Fleet) newID(prefix string) (string, error) {
	b := make([]byte, 8)
	if _, err := io.ReadFull(f.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return prefix + idEncoding.EncodeToString(b)[:12], nil
}

// Secret prefixes make a leaked secret recognisable by scanners and people.
const (
	prefixEnrollToken = "vet_"
	prefixAPIToken    = "vat_"
)

// Authenticate returns the principal of an API bearer token, or an error
// wrapping ErrUnauthorized. The token's user decides the name and role; a
// disabled user's tokens are refused.
func (f *Fleet) Authenticate(bearer string) (Principal, error) {
	unknown := fmt.Errorf("%w: unknown API token", ErrUnauthorized)
	if !strings.HasPrefix(bearer, prefixAPIToken) || len(bearer) > 128 {
		return Principal{}, unknown
	}
	return f.AuthenticateHash(HashSecret(bearer))
}

// AuthenticateHash is Authenticate for a token known only by its hash
// (HashSecret): the web dashboard keeps the hash, never the token, in its
// sessions and checks it again on every request.
func (f *Fleet) AuthenticateHash(h string) (Principal, error) {
	unknown := fmt.Errorf("%w: unknown API token", ErrUnauthorized)
	if len(h) != sha256.Size*2 {
		return Principal{}, unknown
	}
	t, err := f.cfg.Store.APIToken(h)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, unknown
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if !equalHash(t.Hash, h) {
		return Principal{}, unknown
	}
	if t.User == "" {
		return Principal{ID: t.ID, Name: t.Name, Role: t.Role}, nil
	}
	u, err := f.cfg.Store.User(t.User)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, unknown
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if !u.DisabledAt.IsZero() {
		return Principal{}, fmt.Errorf("%w: the user of this token is disabled", ErrUnauthorized)
	}
	return Principal{ID: u.ID, Name: u.Name, Role: u.Role}, nil
}

// CreateAPIToken adds a user with this name and role and returns their
// token's record and secret, shown once. It checks no principal: it is for
// the server's own set-up and for tests; people go through CreateUser.
func (f *Fleet) CreateAPIToken(name string, role Role) (APIToken, string, error) {
	var (
		u      User
		secret string
	)
	err := f.cfg.Store.Update(func(tx Tx) error {
		var err error
		u, secret, err = f.newUser(tx, name, role, "")
		return err
	})
	if err != nil {
		return APIToken{}, "", fmt.Errorf("create API token: %w", err)
	}
	return APIToken{Hash: HashSecret(secret), User: u.ID, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt}, secret, nil
}

// BootstrapAdmin makes the first admin, named "admin", when there is no
// enabled admin yet. It hands the token's secret to save (the server
// writes it to a file) before committing, so a failure never leaves a
// working token nobody has. It reports whether it made one.
func (f *Fleet) BootstrapAdmin(save func(secret string) error) (bool, error) {
	users, err := f.cfg.Store.Users()
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	for _, u := range users {
		if u.Role == RoleAdmin && u.DisabledAt.IsZero() {
			return false, nil
		}
	}
	err = f.cfg.Store.Update(func(tx Tx) error {
		_, secret, err := f.newUser(tx, "admin", RoleAdmin, "")
		if err != nil {
			return err
		}
		return save(secret)
	})
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	return true, nil
}

// AuthenticateDevice checks a device's MQTT username and password and
// returns its device id. It implements the broker's Authenticator.
func (f *Fleet) AuthenticateDevice(username, password string) (string, bool) {
	if username == "" || password == "" || len(password) > 256 {
		return "", false
	}
	c, err := f.cfg.Store.Credential(username)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			f.log.Error("read MQTT credential", "username", username, "err", err)
		}
		return "", false
	}
	if !equalHash(c.Hash, HashSecret(password)) {
		return "", false
	}
	return c.DeviceID, true
}

// Device returns the device a reference names: its id, or its asset tag in
// any case.
func (f *Fleet) Device(ref string) (Device, error) {
	var d Device
	err := f.view(func(l lookup) (err error) { d, err = l.device(ref); return err })
	return d, err
}

// DeviceCounts returns how many devices are in each lifecycle state.
func (f *Fleet) DeviceCounts() (map[State]int, error) {
	c, err := f.cfg.Store.DeviceCounts()
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	return c, nil
}

// Devices returns the devices that match filter, sorted by asset tag: a
// page of them when filter has a Limit.
func (f *Fleet) Devices(filter Filter) ([]Device, error) {
	if filter.Limit < 0 {
		return nil, fmt.Errorf("%w: limit must not be negative", ErrInvalid)
	}
	out, err := f.cfg.Store.DeviceList(filter)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}
