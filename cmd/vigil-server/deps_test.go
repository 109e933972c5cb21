package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps fails if vigil-server links a package it must never link. Run with -count=1: the test
// cache can hide a newly added import.
func TestDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	bad := map[string]string{
		"github.com/vigilhq/vigil/agent":   "server packages never import the agent",
		"github.com/vigilhq/vigil/updater": "server packages never import the updater",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for prefix, reason := range bad {
			if pkg == prefix || strings.HasPrefix(pkg, prefix+"/") {
				t.Errorf("vigil-server links %s: %s", pkg, reason)
			}
		}
	}
}
