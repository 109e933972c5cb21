// Package api is the operator-API contract: every JSON request and response body that vigilctl,
// the dashboard's scripts and any other operator tool exchange with the server's /api/v1 operator
// routes (hosts, groups, pins, enrollment and API tokens, audit, alerting, the release
// repository), the error envelope and codes clients branch on, and the constants (roles, rule
// kinds, alert states) those bodies carry. It is to operators what package wire is to agents and
// updaters: a leaf that imports only the standard library and wire, so a client links neither the
// server nor its dependencies.
//
// Trust model: these are plain data shapes. Nothing here authenticates or validates; the server
// validates every body it decodes into these types (bounded by wire.MaxSmallBodyBytes or the
// named limits below), and a client must treat every answer as data from the network.
//
// The JSON of these types is the wire format documented in docs/api.md; a test checks that every
// field is documented there, and the server's tests check that it is byte for byte what the
// server's domain types encode to.
package api
