//go:build vigil_fakeclock

package wallclock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFakeClockFollowsFile: run with -tags vigil_fakeclock. Each call reads the file anew.
func TestFakeClockFollowsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "offset")
	t.Setenv(FileEnv, file)
	for _, d := range []time.Duration{0, 25 * time.Hour, -12 * time.Hour} {
		if err := os.WriteFile(file, []byte(d.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		base := time.Now()
		if got := Stamp(base).Sub(base); got != d {
			t.Errorf("Stamp offset = %v, want %v", got, d)
		}
		if off := Override().Sub(time.Now()) - d; off > time.Minute || off < -time.Minute {
			t.Errorf("Override is %v off the system clock plus %v", off, d)
		}
	}
	if err := os.WriteFile(file, []byte("soon"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("a malformed offset file did not panic")
		}
	}()
	Now()
}
