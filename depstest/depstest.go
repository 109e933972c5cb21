// Package depstest is the shared body of each binary's TestDeps (cmd/*/deps_test.go): it lists
// what the package in the current directory links with `go list -deps` and fails the test for every
// forbidden package, with the reason. Test support only; no binary imports it.
package depstest

import (
	"os/exec"
	"strings"
	"testing"
)

// Forbid fails t for each package the binary in the current directory links that is, or is below,
// a key of bad; the value says why it must not. Skipped under -short (it runs the go command). Run
// with -count=1: the test cache can hide a newly added import.
func Forbid(t *testing.T, binary string, bad map[string]string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for prefix, reason := range bad {
			if pkg == prefix || strings.HasPrefix(pkg, prefix+"/") {
				t.Errorf("%s links %s: %s", binary, pkg, reason)
			}
		}
	}
}
