package wire

import "time"

// EnrollPath is the HTTP path, on the server's API, where agents enrol.
const EnrollPath = "/api/v1/enroll"

// EnrollRequest is what an agent posts to EnrollPath. The token is the
// enrolment token of the join command.
type EnrollRequest struct {
	Token        string      `json:"token"`
	Fingerprint  Fingerprint `json:"fingerprint"`
	Inventory    Inventory   `json:"inventory"`
	AgentVersion string      `json:"agent_version,omitempty"`
	// DeviceKey is the ed25519 public key (base64) the agent made at
	// enrolment; it signs the device's wipe certificates.
	DeviceKey string `json:"device_key,omitempty"`
	// ProvisionJob is set when a device re-enrols at the end of a
	// provisioning job, with the single-use token of its bundle.
	ProvisionJob string `json:"provision_job,omitempty"`
}

// EnrollResponse is the server's answer: who the device is and how it talks
// to the broker. Password is shown once; the server keeps only its hash.
type EnrollResponse struct {
	DeviceID string `json:"device_id"`
	AssetTag string `json:"asset_tag"`
	Class    string `json:"class"`
	// Known is true when the fingerprint matched a device already enrolled.
	Known bool `json:"known"`
	// MQTTURL is where the agent connects: tcp://host:1883, ssl://host:8883.
	MQTTURL     string `json:"mqtt_url"`
	TopicPrefix string `json:"topic_prefix"`
	Username    string `json:"username"`
	Password    string `json:"password"`
	// CommandKey is the server's ed25519 public key for commands, base64.
	CommandKey string      `json:"command_key"`
	Config     AgentConfig `json:"config"`
	// CACert is the PEM of the CA the server's HTTPS and MQTT-over-TLS
	// certificates chain to (the one the join command's --ca-pin names);
	// the agent keeps it as the only root for ssl:// MQTT URLs. Empty when
	// the server runs without TLS.
	CACert string `json:"ca_cert,omitempty"`
}

// AgentConfig is the part of an agent's configuration the server decides.
type AgentConfig struct {
	// Interval between health and net samples.
	Interval Duration `json:"interval"`
	// InventoryInterval is how often the inventory is re-collected (and sent
	// only if its hash changed).
	InventoryInterval Duration `json:"inventory_interval"`
}

// Duration is a time.Duration that reads and writes as a Go duration string
// ("60s") in JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
