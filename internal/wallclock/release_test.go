package wallclock

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeTag is the build tag that turns the seam on.
const fakeTag = "vigil_fakeclock"

// TestReleaseBuildHasNoFakeClock: the build commands of `make build` and the release artifacts
// never name the test-only tag, and a build with the flags they use selects the real clock.
func TestReleaseBuildHasNoFakeClock(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, f := range []string{"Makefile", "deploy/release-artifacts.sh"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "go") || strings.Contains(string(b), fakeTag) {
			t.Errorf("%s: missing, or names the test-only tag %s", f, fakeTag)
		}
	}
	if strings.Contains(os.Getenv("GOFLAGS"), fakeTag) {
		t.Skipf("GOFLAGS names %s: this run is a fake-clock build", fakeTag)
	}
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-trimpath", "-f", "{{join .GoFiles \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := strings.Fields(string(out))
	if !slices.Contains(files, "real.go") || slices.Contains(files, "fake.go") {
		t.Errorf("a build without tags compiles %v, want real.go and not fake.go", files)
	}
}
