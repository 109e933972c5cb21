package main

import (
	"testing"

	"github.com/vigilhq/vigil/depstest"
)

// TestDeps fails if vigil-sim links a package it must never link: it speaks the wire protocol as
// an agent does, from the outside. Run with -count=1: the test cache can hide a newly added import.
func TestDeps(t *testing.T) {
	depstest.Forbid(t, "vigil-sim", map[string]string{
		"github.com/vigilhq/vigil/server":  "the simulator is a client: it must not share code with what it measures",
		"github.com/vigilhq/vigil/agent":   "the simulator reimplements the agent's protocol behaviour; linking agent links its collectors",
		"github.com/vigilhq/vigil/updater": "the simulator only polls desired; no TUF client",
		"database/sql":                     "no database in the simulator",
		"modernc.org/sqlite":               "no database in the simulator",
		"github.com/jackc/pgx/v5":          "no database in the simulator",
	})
}
