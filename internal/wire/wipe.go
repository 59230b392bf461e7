package wire

import "encoding/json"

// Wipe methods, as asked for in WipeArgs.Method and recorded per medium in
// certificates. MethodAuto lets the agent's capability probe choose the
// strongest one each disk supports.
const (
	MethodAuto               = "auto"
	MethodOverwrite          = "overwrite"            // NIST SP 800-88 Clear: pattern written over every block, then verified
	MethodLUKS               = "luks"                 // LUKS key-slot erase (cryptsetup erase): the data key is gone
	MethodDiscard            = "discard"              // blkdiscard [--secure]; alone not counted as sanitisation
	MethodNVMeSanitizeCrypto = "nvme-sanitize-crypto" // Purge
	MethodNVMeSanitizeBlock  = "nvme-sanitize-block"  // Purge
	MethodNVMeFormat         = "nvme-format"          // format with secure erase (SES=1 or 2)
	MethodATAErase           = "ata-erase"            // ATA security erase (enhanced when supported)
	MethodATASanitize        = "ata-sanitize"         // ATA sanitize (block erase / crypto scramble)
	MethodHotspotReset       = "hotspot-reset"        // factory reset + credential rotation (not media sanitisation)
)

// Verification modes of an overwrite.
const (
	VerifyFull   = "full"   // read every byte back
	VerifySample = "sample" // NIST SP 800-88 sampling: first and last blocks and ≥ 1,000 random sub-ranges
)

// WipeArgs are the args of a wipe command.
type WipeArgs struct {
	Job    string `json:"job"`
	Method string `json:"method"`           // one of the Method* constants; "" means auto
	Verify string `json:"verify,omitempty"` // VerifyFull (default) or VerifySample
	// Disks are kernel names (sda, nvme0n1); empty means every internal disk.
	Disks []string `json:"disks,omitempty"`
	// Operator, SourceVenue and Destination go into the certificate.
	Operator    string `json:"operator"`
	SourceVenue string `json:"source_venue,omitempty"`
	Destination string `json:"destination,omitempty"`
	// PrevHash is the hash of the asset's previous certificate (chain).
	PrevHash string `json:"prev_hash,omitempty"`
}

// ProvisionArgs are the args of a provision command.
type ProvisionArgs struct {
	Job     string `json:"job"`
	Profile string `json:"profile"`
	// Bundle is the rendered provisioning bundle (profile settings, agent
	// config and a single-use enrolment token bound to the device).
	Bundle json.RawMessage `json:"bundle,omitempty"`
}

// Event types of the wipe and provisioning cycle.
const (
	EventWipeProgress    = "wipe_progress"    // Data: WipeProgress
	EventWipeResult      = "wipe_result"      // Data: WipeResult; also sent for maintenance-mode wipes (Job "")
	EventProvisionResult = "provision_result" // Data: ProvisionResult
)

// Wipe phases reported in WipeProgress.
const (
	PhaseProbing   = "probing"
	PhaseErasing   = "erasing"
	PhaseVerifying = "verifying"
)

// WipeProgress is sent about once a second while a wipe runs.
type WipeProgress struct {
	Job        string  `json:"job"`
	Disk       string  `json:"disk"`
	Phase      string  `json:"phase"`
	DoneBytes  int64   `json:"done_bytes"`
	TotalBytes int64   `json:"total_bytes"`
	RateBps    float64 `json:"rate_bps,omitempty"`
}

// WipeResult ends a wipe job. Certificate is the device-signed certificate
// file (see internal/certificate), present when every medium was erased and
// verified; a failed wipe carries Error and, when useful, a certificate
// whose result is failed.
type WipeResult struct {
	Job         string          `json:"job"`
	OK          bool            `json:"ok"`
	Error       string          `json:"error,omitempty"`
	Certificate json.RawMessage `json:"certificate,omitempty"`
}

// ProvisionResult ends a provisioning job.
type ProvisionResult struct {
	Job   string `json:"job"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}
