package main

import (
	"testing"

	"github.com/vigilhq/vigil/depstest"
)

// TestDeps fails if vigil-agent links a package it must never link. Run with -count=1: the test
// cache can hide a newly added import.
func TestDeps(t *testing.T) {
	depstest.Forbid(t, "vigil-agent", map[string]string{
		"database/sql":                            "no database in the agent",
		"modernc.org/sqlite":                      "no database in the agent",
		"github.com/jackc/pgx/v5":                 "no database in the agent",
		"github.com/theupdateframework/go-tuf/v2": "the agent observes, it does not update",
		"github.com/sigstore/sigstore":            "the agent never signs or verifies releases",
		"github.com/vigilhq/vigil/server":         "the agent never links server code",
		"github.com/vigilhq/vigil/updater":        "updating is the supervisor's job",
		"github.com/vigilhq/vigil/signing":        "the agent never signs",
		"github.com/vigilhq/vigil/release":        "the agent never authors releases",
		"os/exec":                                 "the agent never runs anything",
		"github.com/godbus/dbus/v5":               "links os/exec; the agent has its own read-only D-Bus client",
		"github.com/spf13/cobra":                  "binary size: the agent uses the standard flag package",
		"github.com/prometheus/client_golang":     "binary size: the agent pushes wire reports, it serves no metrics",
		"net/http/pprof":                          "the agent listens on no socket and serves no debug endpoints",
		"expvar":                                  "the agent listens on no socket and serves no debug endpoints",
		"text/template":                           "binary size: the agent renders nothing",
		"gopkg.in/yaml.v3":                        "one YAML library: the agent reads its configuration with go.yaml.in/yaml/v3",
	})
}
