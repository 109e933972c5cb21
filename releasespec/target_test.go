package releasespec

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestTargetPath(t *testing.T) {
	valid := []struct {
		path string
		want Target
	}{
		{"vigil-agent/1.2.3/linux-amd64", Target{BinaryAgent, "1.2.3", "amd64"}},
		{"vigil-updater/2.0.0-rc.1/linux-arm64", Target{BinaryUpdater, "2.0.0-rc.1", "arm64"}},
		{"vigil-agent/0.0.1/linux-loong64", Target{BinaryAgent, "0.0.1", "loong64"}},
	}
	for _, tt := range valid {
		got, err := ParseTargetPath(tt.path)
		if err != nil || got != tt.want {
			t.Errorf("ParseTargetPath(%q) = %+v, %v; want %+v", tt.path, got, err, tt.want)
		}
		if p := tt.want.Path(); p != tt.path {
			t.Errorf("%+v.Path() = %q, want %q", tt.want, p, tt.path)
		}
	}
	invalid := []string{
		"", "vigil-agent", "vigil-agent/1.2/linux-amd64", "vigil-agent/v1.2.3/linux-amd64",
		"vigil-agent/1.2.3/amd64", "vigil-agent/1.2.3/linux-sparc", "vigil-agent/1.2.3/darwin-amd64",
		"vigil-server/1.2.3/linux-amd64", "x/1.2.3/linux-amd64", "vigil-agent/1.2.3/linux-amd64/x",
		"/vigil-agent/1.2.3/linux-amd64", "vigil-agent//1.2.3/linux-amd64", "../vigil-agent/1.2.3/linux-amd64",
		"vigil-agent/1.2.3/linux-amd64.exe", "dir/artifact.txt",
		"vigil-agent/" + strings.Repeat("1", MaxTargetPathLen) + "/linux-amd64",
	}
	for _, p := range invalid {
		if got, err := ParseTargetPath(p); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("ParseTargetPath(%q) = %+v, %v; want ErrInvalidTarget", p, got, err)
		}
	}
}

func TestListsAreCopies(t *testing.T) {
	b, a := Binaries(), Arches()
	b[0], a[0] = "evil", "evil"
	if slices.Contains(Binaries(), "evil") || slices.Contains(Arches(), "evil") {
		t.Fatal("a caller changed the package's lists")
	}
	if _, err := ParseTargetPath("evil/1.0.0/linux-amd64"); err == nil {
		t.Fatal("a caller's edit made a binary valid")
	}
}

// FuzzParseTargetPath: whatever parses is a known build and formats back to the same path.
func FuzzParseTargetPath(f *testing.F) {
	f.Add("vigil-agent/1.2.3/linux-amd64")
	f.Add("vigil-updater/1.0.0-rc.1/linux-riscv64")
	f.Add("vigil-agent/1.2.3/linux-amd64/../x")
	f.Fuzz(func(t *testing.T, p string) {
		tg, err := ParseTargetPath(p)
		if err != nil {
			if !errors.Is(err, ErrInvalidTarget) {
				t.Fatalf("ParseTargetPath(%q): %v does not match ErrInvalidTarget", p, err)
			}
			return
		}
		if tg.Path() != p || !slices.Contains(binaries, tg.Binary) || !slices.Contains(arches, tg.Arch) {
			t.Fatalf("ParseTargetPath(%q) = %+v (path %q)", p, tg, tg.Path())
		}
		if _, err := ParseVersion(tg.Version); err != nil {
			t.Fatalf("ParseTargetPath(%q) accepted version %q: %v", p, tg.Version, err)
		}
	})
}
