// Package wire defines what agents and the server exchange: MQTT topics,
// the up envelope and its payload types, the signed down commands, the
// enrolment request and answer, identity normalisation and the limits every
// decoder enforces.
//
// It depends on the standard library only, so that the agent, the server,
// the CLI and the simulator all speak exactly the same protocol.
//
// Decoding never trusts its input: Decode checks size, gzip framing, JSON
// shape, version, required fields and the body of each kind, and reports the
// first problem as an error that wraps one of the sentinel errors of
// errors.go, so callers can count rejections by reason.
package wire
