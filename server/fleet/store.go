package fleet

import "time"

// Store is what the fleet needs from storage. Methods report a missing
// record with an error for which errors.Is(err, ErrNotFound) holds. Values
// returned are copies the caller owns.
type Store interface {
	DeviceStore
	TokenStore
	ChangeStore
	OpsStore
}

// DeviceStore runs enrolments; devices are read through transactions
// (Tx) and pages (OpsStore.DeviceList).
type DeviceStore interface {
	// Enroll runs fn inside one write transaction, with the enrolment token
	// whose hash is tokenHash (ErrNotFound if none). Whatever fn writes
	// through tx, and the token as fn leaves it (its use count), commit
	// together when fn returns nil; nothing is written when it fails.
	Enroll(tokenHash string, fn func(tok *EnrollToken, tx EnrollTx) error) error
}

// EnrollTx is the view of the write transaction that Store.Enroll hands
// to the fleet. It is valid only inside that call.
type EnrollTx interface {
	Tx
	// IdentOwner returns the id of the device that owns an identifier key
	// (see IdentKeys), or "" if none does.
	IdentOwner(key string) (string, error)
	// TagOwner returns the id of the device with this asset tag, or "".
	TagOwner(tag string) (string, error)
	// NextAssetSeq returns the next number of the asset tag sequence.
	NextAssetSeq() (uint64, error)
	// PutCredential writes (replaces) an MQTT credential.
	PutCredential(c Credential) error
}

// TokenStore keeps enrolment tokens, MQTT credentials and API tokens,
// each by the hash of its secret (credentials by username).
type TokenStore interface {
	// PutEnrollToken writes (replaces) an enrolment token.
	PutEnrollToken(t EnrollToken) error
	// Credential returns the MQTT credential of a username.
	Credential(username string) (Credential, error)
	// PutAPIToken writes (replaces) an API token.
	PutAPIToken(t APIToken) error
	// APIToken returns the API token with this hash.
	APIToken(hash string) (APIToken, error)
	// APITokens returns every API token, in no particular order.
	APITokens() ([]APIToken, error)
}

// DedupeResetter forgets the telemetry deduplication state of a device. A
// re-enrolled device runs a fresh agent whose seq restarts at 1.
type DedupeResetter interface {
	ResetDedupe(device string) error
}

// EnrollToken is an enrolment token as stored: only the hash of its
// secret.
type EnrollToken struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"`
	Class     string    `json:"class"`
	Uses      int       `json:"uses"`
	Used      int       `json:"used"`
	Kit       string    `json:"kit,omitempty"`
	Venue     string    `json:"venue,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Device, when set, binds the token to one device: only a device whose
	// fingerprint matches it may enrol with it (provisioning bundles).
	Device string `json:"device,omitempty"`
	// ProvisionJob is the provisioning job whose bundle carries the token.
	ProvisionJob string `json:"provision_job,omitempty"`
}

// Credential is a device's MQTT account: username (the device id) and the
// hash of its password.
type Credential struct {
	Username  string    `json:"username"`
	DeviceID  string    `json:"device_id"`
	Hash      string    `json:"hash"`
	CreatedAt time.Time `json:"created_at"`
}

// APIToken is a person's API token as stored: only the hash of its secret.
// User is the id of the person (see User); Name and Role repeat theirs at
// the time the token was made, and the user's record decides.
type APIToken struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"`
	User      string    `json:"user,omitempty"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// ChangeStore runs the fleet's changes and reads what they wrote: wipe
// and provisioning jobs, certificates and the audit log.
type ChangeStore interface {
	// Update runs fn inside one write transaction: whatever fn writes
	// through tx commits together when fn returns nil, nothing otherwise.
	Update(fn func(tx Tx) error) error
	// View runs fn inside one read transaction: tx's writes fail.
	View(fn func(tx Tx) error) error
	// WipeJob returns the wipe job with this id.
	WipeJob(id string) (WipeJob, error)
	// WipeJobs returns the wipe jobs, only the unfinished ones when
	// active, in no particular order.
	WipeJobs(active bool) ([]WipeJob, error)
	// ProvisionJob returns the provisioning job with this id.
	ProvisionJob(id string) (ProvisionJob, error)
	// ProvisionJobs returns every provisioning job, in no particular order.
	ProvisionJobs() ([]ProvisionJob, error)
	// Certificate returns the record of a stored certificate and its file.
	Certificate(id string) (CertRecord, []byte, error)
	// Certificates returns the records of a device's certificates, oldest
	// first.
	Certificates(device string) ([]CertRecord, error)
	// WalkAudit calls fn for every stored audit event in key order, with
	// the sequence number of its key and a copy of its stored bytes.
	WalkAudit(fn func(seq uint64, raw []byte) error) error
	// AuditHead returns the sequence number and hash of the last audit
	// event appended (0 and "" for an empty log).
	AuditHead() (uint64, string, error)
	// DeviceAudit returns the stored bytes of a device's audit events,
	// oldest first.
	DeviceAudit(device string) ([][]byte, error)
}

// Tx is the view of a write transaction the fleet changes things through.
// It is valid only inside the call that hands it over.
type Tx interface {
	// Device returns the device with this id.
	Device(id string) (Device, error)
	// PutDevice writes d and its indexes: its asset tag, and every key of
	// IdentKeys(d.Fingerprint), which it takes over from any device that
	// held it; keys of its previous fingerprint that it no longer has are
	// released.
	PutDevice(d Device) error
	// AuditHead returns the sequence number and hash of the last audit
	// event (0 and "" for an empty log).
	AuditHead() (uint64, string, error)
	// PutAudit appends e, whose Seq is the head's plus one, indexes it
	// under its device and makes it the head.
	PutAudit(e AuditEvent) error
	// WipeJob returns the wipe job with this id.
	WipeJob(id string) (WipeJob, error)
	// PutWipeJob writes (replaces) a wipe job.
	PutWipeJob(j WipeJob) error
	// ProvisionJob returns the provisioning job with this id.
	ProvisionJob(id string) (ProvisionJob, error)
	// PutProvisionJob writes (replaces) a provisioning job.
	PutProvisionJob(j ProvisionJob) error
	// Certificate returns the record of a stored certificate and its file.
	Certificate(id string) (CertRecord, []byte, error)
	// PutCertificate stores a new certificate record and its file, and
	// indexes it under its device.
	PutCertificate(rec CertRecord, file []byte) error
	// PutEnrollToken writes (replaces) an enrolment token.
	PutEnrollToken(t EnrollToken) error

	OpsTx
}

// OpsStore reads what daily operations write: users, venues, kits, loans,
// and pages of devices and audit events through indexes, so that a page
// costs what it holds rather than the size of the fleet.
type OpsStore interface {
	// User returns the user with this id.
	User(id string) (User, error)
	// Users returns every user, in no particular order.
	Users() ([]User, error)
	// Venue returns the venue with this id.
	Venue(id string) (Venue, error)
	// Venues returns every venue, in no particular order.
	Venues() ([]Venue, error)
	// Kit returns the kit with this id.
	Kit(id string) (Kit, error)
	// KitIDByLabel returns the id of the kit whose NameKey(Label) is key.
	KitIDByLabel(key string) (string, error)
	// Kits returns at most limit kits (0: all) in the order of
	// NameKey(Label), starting after the kit whose label key is after.
	Kits(after string, limit int) ([]Kit, error)
	// Loan returns the loan with this id.
	Loan(id string) (Loan, error)
	// Loans returns the loans q selects, newest OutAt first, through the
	// narrowest index q allows (see LoanQuery).
	Loans(q LoanQuery) ([]Loan, error)
	// DeviceCounts returns how many devices are in each state, from
	// counters kept with every write.
	DeviceCounts() (map[State]int, error)
	// DeviceList returns the devices f selects in CompareAssetTags order,
	// after f.After, at most f.Limit (0: all). With f.State set it reads
	// only that state's index; a page costs O(page).
	DeviceList(f Filter) ([]Device, error)
	// AuditPage returns the stored bytes of at most limit audit events,
	// newest first, with a sequence number below before (0: from the
	// newest); with subject set, only that subject's events (a device id,
	// or "kit:<id>", "venue:<id>", "user:<id>").
	AuditPage(subject string, before uint64, limit int) ([][]byte, error)
}

// OpsTx is the part of a write transaction that daily operations use.
// Each Put writes the record and its indexes: users by NameKey(Name),
// venues by NameKey(Name), kits by NameKey(Label), loans by kit, borrower,
// venue, and while open by due date; PutKit and PutVenue refuse (ErrConflict)
// a name key that another record holds.
type OpsTx interface {
	User(id string) (User, error)
	// UserIDsByName returns the ids of the users whose NameKey(Name) is key.
	UserIDsByName(key string) ([]string, error)
	PutUser(u User) error
	// PutAPIToken writes (replaces) an API token.
	PutAPIToken(t APIToken) error

	Venue(id string) (Venue, error)
	// VenueIDByName returns the id of the venue whose NameKey(Name) is key.
	VenueIDByName(key string) (string, error)
	PutVenue(v Venue) error

	Kit(id string) (Kit, error)
	// KitIDByLabel returns the id of the kit whose NameKey(Label) is key.
	KitIDByLabel(key string) (string, error)
	PutKit(k Kit) error

	Loan(id string) (Loan, error)
	PutLoan(l Loan) error

	// DeviceIDByTag returns the id of the device with this asset tag
	// (exact, upper case).
	DeviceIDByTag(tag string) (string, error)
	// IdentOwner returns the id of the device that owns an identifier key
	// (see IdentKeys), or "" if none does.
	IdentOwner(key string) (string, error)
}

// LoanQuery selects loans. Empty fields match everything. The store reads
// the narrowest index that applies, in this order: open loans by due date
// (DueBefore), Kit, User, Venue, then open loans or all loans, newest
// first; the other fields filter.
type LoanQuery struct {
	Open bool
	// DueBefore, when set, keeps only open loans due before it.
	DueBefore time.Time
	Kit       string
	User      string
	Venue     string
	// After is the id of the loan the page starts after, in the order
	// of the answer; Limit bounds the answer (0: no bound).
	After string
	Limit int
}

// Telemetry is what daily operations read of devices' reports: the
// pre-flight of a checkout, the hardware compared at check-in, the
// "possibly lost" flag. The server wires the store's telemetry.
type Telemetry interface {
	// Live returns what the device last said of itself; the zero Live
	// when it never reported.
	Live(device string) (Live, error)
	// LastSeen returns when each device was last heard from, for many
	// devices at once; one that never reported is not in the map.
	LastSeen(devices []string) (map[string]time.Time, error)
	// LatestHardware returns HardwareOf the device's newest inventory,
	// and false when it never sent one.
	LatestHardware(device string) (Hardware, bool, error)
}

// Live is a device's latest telemetry as operations need it.
type Live struct {
	// Reported is false when the device never sent anything.
	Reported bool
	LastSeen time.Time
	Online   bool
	// Charge and BatteryHealth are in %, nil when never reported.
	Charge, BatteryHealth *float64
	// SIM says whether a modem of the device has a SIM (an ICCID), nil
	// when the device reported no cellular modem.
	SIM *bool
}
