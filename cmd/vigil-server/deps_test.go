package main

import (
	"testing"

	"github.com/vigilhq/vigil/depstest"
)

// TestDeps fails if vigil-server links a package it must never link. Run with -count=1: the test
// cache can hide a newly added import.
func TestDeps(t *testing.T) {
	depstest.Forbid(t, "vigil-server", map[string]string{
		"github.com/vigilhq/vigil/agent":   "server packages never import the agent",
		"github.com/vigilhq/vigil/updater": "server packages never import the updater",
	})
}
