// Package arch holds no code: its test keeps the dependency rules of the
// design, so that a stray import fails `make test` instead of a review.
//
//   - cmd -> agent | server -> internal; agent never imports server, nor the reverse;
//   - the CLI (cmd/valise) talks to the server only through internal/apiclient;
//   - server/fleet, the domain, imports neither net/http, mochi, paho nor bbolt;
//   - mochi types stay in server/broker, bbolt in server/store and agent/spool;
//   - internal/wire depends on the standard library only.
package arch
