// Package fleet is the domain of the Valise server: devices, their hardware
// identity and lifecycle state, enrolment, per-device MQTT credentials, the
// API tokens of people, wipe and provisioning jobs, wipe certificates and
// the audit log.
//
// It does no I/O of its own. It declares the small Store interfaces it needs
// (see store.go) and the server wires in the bbolt implementation of
// server/store. It imports neither net/http, the MQTT broker nor bbolt; a
// test keeps it that way.
//
// Enrolment runs inside one write transaction of the store (Store.Enroll):
// the token check, the fingerprint match, the asset tag sequence, the device
// record, its identifier indexes, its MQTT credential and the token's use
// count all commit together or not at all. Two concurrent enrolments with a
// one-use token therefore give exactly one device.
//
// # Lifecycle and audit
//
// Only this package changes a device's State, and only through the
// transition table of lifecycle.go (CanTransition). Every change, and every
// enrolment, wipe request, wipe start, success or failure, stored
// certificate and provisioning step, appends an AuditEvent in the same
// store transaction as the change it records: either both are on disk or
// neither. The log is hash-chained (see AuditEvent); VerifyAudit walks it
// and names the first event altered or removed.
//
// # The wipe gate
//
// A device becomes ready only from provisioning and only if the gate holds
// (Gate): its latest certificate verifies (device signature by a key the
// device presented at enrolment, or the server's for imported evidence;
// countersignature by this server's key), succeeded, finished after the
// device's last return, and names the device's current hardware (serial,
// UUID, IMEI, and every wiped disk among its disks). The check runs inside
// the transaction that would make the device ready, whichever path asks.
//
// # Jobs
//
// RequestWipes makes wipe jobs whose ids are the ids of the signed commands
// the API sends; HandleEvent acts on what agents answer (progress, result,
// refusal), ExpireJobs fails jobs whose agent went silent. A successful
// result's certificate is verified, chained to the asset's previous one,
// countersigned with Config.ServerKey and stored. StartProvision makes a
// provisioning job and a single-use enrolment token bound to the device;
// the device's re-enrolment with it ends the job.
//
// Secrets (enrolment tokens, API tokens, MQTT passwords) are high-entropy
// random strings shown once; the store keeps only their SHA-256, compared in
// constant time where a comparison happens.
package fleet
