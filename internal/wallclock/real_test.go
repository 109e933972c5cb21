//go:build !vigil_fakeclock

package wallclock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestNormalBuildIgnoresOffsetFile: without the tag, an offset file named in the environment
// changes nothing.
func TestNormalBuildIgnoresOffsetFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "offset")
	if err := os.WriteFile(file, []byte("25h"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_FAKECLOCK_FILE", file)
	if Faked || Override != nil {
		t.Fatal("normal build has a fake clock")
	}
	base := time.Now()
	if got := Stamp(base); got != base {
		t.Errorf("Stamp changed the time by %v", got.Sub(base))
	}
	if d := time.Until(Now()); d > time.Minute || d < -time.Minute {
		t.Errorf("Now is %v off the system clock", d)
	}
}
