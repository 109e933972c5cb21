// Package server holds Vigil's domain types and the Service that implements the server's behaviour
// over a Store: enrollment, report ingestion, groups and pins, hosts, users and their dashboard
// sessions, API tokens and the audit log.
//
// Trust model: hosts are authenticated by a per-host credential, scripts by API tokens and people by
// dashboard session IDs; all are random secrets the server stores only as SHA-256 hashes (they carry
// 256 bits of entropy, so a slow hash buys nothing). Passwords, which do not, are stored as argon2id
// hashes (password.go), and sign-in is limited per account and per address (login.go). An API token
// belongs to a user and never acts above that user's current role. Everything a host sends is untrusted:
// it is decoded under named limits and validated by package wire before the Service sees it. A host
// can only write its own reports and read its own desired version.
//
// Service is safe for concurrent use. Stores must be too.
package server
