// Package fleet is the domain of the Valise server: devices, their hardware
// identity and lifecycle state, enrolment, per-device MQTT credentials and the
// API tokens of people.
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
// Secrets (enrolment tokens, API tokens, MQTT passwords) are high-entropy
// random strings shown once; the store keeps only their SHA-256, compared in
// constant time where a comparison happens.
package fleet
