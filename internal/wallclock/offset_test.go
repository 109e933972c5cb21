package wallclock

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadOffset(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content string
		write         bool
		want          time.Duration
		wantErr       bool
	}{
		{"no file", "", false, 0, false},
		{"empty", "", true, 0, false},
		{"ahead", "25h\n", true, 25 * time.Hour, false},
		{"behind", " -12h ", true, -12 * time.Hour, false},
		{"not a duration", "soon", true, 0, true},
		{"too long", strings.Repeat("1", maxOffsetFile+1) + "h", true, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if tt.write {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readOffset(path)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("readOffset(%q) = %v, %v; want %v, error %v", tt.content, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
