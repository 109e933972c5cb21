package releasespec

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly fails when releasespec imports anything outside the standard library:
// vigil-updater links it, within a size and dependency budget.
func TestStandardLibraryOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg != "github.com/vigilhq/vigil/releasespec" {
			t.Errorf("releasespec links %s", pkg)
		}
	}
}
