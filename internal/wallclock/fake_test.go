//go:build vigil_fakeclock

package wallclock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestOffsetFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "offset")
	t.Setenv(FileEnv, file)
	for _, tt := range []struct {
		name, content string
		write         bool
		want          time.Duration
	}{
		{"no file", "", false, 0},
		{"empty", "", true, 0},
		{"ahead", "25h\n", true, 25 * time.Hour},
		{"behind", "-12h", true, -12 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(file)
			if tt.write {
				if err := os.WriteFile(file, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			base := time.Now()
			if got := Stamp(base).Sub(base); got != tt.want {
				t.Errorf("Stamp offset = %v, want %v", got, tt.want)
			}
			if d := Now().Sub(time.Now()) - tt.want; d > time.Minute || d < -time.Minute {
				t.Errorf("Now is %v off the system clock plus %v", d, tt.want)
			}
		})
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
