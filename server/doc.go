// Package server holds Vigil's domain types and the Service that implements the server's behaviour
// over a Store: enrollment, report ingestion, groups and pins, hosts, API tokens and the audit log.
//
// Trust model: hosts are authenticated by a per-host credential and operators by API tokens; both are
// random secrets the server stores only as SHA-256 hashes (they carry 256 bits of entropy, so a slow
// hash buys nothing; passwords, which do not, use a slow hash). Everything a host sends is untrusted:
// it is decoded under named limits and validated by package wire before the Service sees it. A host
// can only write its own reports and read its own desired version.
//
// Service is safe for concurrent use. Stores must be too.
package server
