package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// maxBinaryBytes is the budget for the stripped vigil-agent binary as `make build` makes it.
// The figures behind it, and what links what, are in docs/BENCHMARKS.md ("Agent footprint").
const maxBinaryBytes = 8_000_000

// TestBinarySize builds the agent exactly as `make build` does and fails if it is over budget.
// Skipped under -short (it runs the go command).
func TestBinarySize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "vigil-agent")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version=0.0.0-sizetest", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stripped vigil-agent: %d bytes (budget %d)", fi.Size(), maxBinaryBytes)
	if fi.Size() > maxBinaryBytes {
		t.Errorf("stripped vigil-agent is %d bytes, over the budget of %d by %d: find what links what with "+
			"`go version -m` and `go tool nm -size -sort size`", fi.Size(), maxBinaryBytes, fi.Size()-maxBinaryBytes)
	}
}
