package main

import (
	"testing"

	"github.com/vigilhq/vigil/depstest"
)

// TestDeps fails if vigil-updater links a package it must never link. Run with -count=1: the test
// cache can hide a newly added import.
//
// The updater links go-tuf (and, through it, sigstore's signature verifiers): it verifies. It does
// not link package release: release authors repositories and links package signing (key
// generation, private-key loading, KMS signers). The rules both need (target names, custom
// metadata, version order, channels, floor) are package releasespec, standard library only,
// which both import.
func TestDeps(t *testing.T) {
	depstest.Forbid(t, "vigil-updater", map[string]string{
		"github.com/vigilhq/vigil/signing":               "the updater verifies, never signs",
		"github.com/vigilhq/vigil/release":               "links signing; the updater only verifies",
		"github.com/vigilhq/vigil/server":                "the updater never links server code",
		"github.com/vigilhq/vigil/agent":                 "the agent is a separate, supervised binary",
		"github.com/sigstore/sigstore/pkg/signature/kms": "no KMS signers in the updater",
		"database/sql":                        "no database in the updater",
		"modernc.org/sqlite":                  "no database in the updater",
		"github.com/jackc/pgx/v5":             "no database in the updater",
		"github.com/gorilla/mux":              "no server in the updater",
		"github.com/spf13/cobra":              "binary size: the standard flag package is enough",
		"github.com/prometheus/client_golang": "the updater serves nothing",
	})
}
