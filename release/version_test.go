package release

import (
	"errors"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.2.3", "1.2.3", 0},
		{"1.2.3", "1.2.4", -1},
		{"1.10.0", "1.9.9", 1},
		{"2.0.0", "10.0.0", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-rc.1", "1.0.0-beta", 1},
		{"0.0.1", "0.0.0", 1},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			got, err := CompareVersions(tt.a, tt.b)
			if err != nil || got != tt.want {
				t.Errorf("CompareVersions = %d, %v; want %d", got, err, tt.want)
			}
			if back, _ := CompareVersions(tt.b, tt.a); back != -tt.want {
				t.Errorf("reverse = %d", back)
			}
		})
	}
}

func TestParseVersionRejects(t *testing.T) {
	for _, s := range []string{"", "1", "1.2", "v1.2.3", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-a..b", "1.2.3+build", "1.2.3-01", "1.2.x", "-1.2.3", "1.2.3-ü"} {
		if v, err := ParseVersion(s); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ParseVersion(%q) = %v, %v; want ErrInvalidName", s, v, err)
		}
	}
	if v, err := ParseVersion("1.2.3-rc.1"); err != nil || v.String() != "1.2.3-rc.1" {
		t.Errorf("round trip: %v %v", v, err)
	}
}

func TestArtifactAndTargetNames(t *testing.T) {
	tests := []struct {
		name         string
		binary, arch string
		ok           bool
	}{
		{"vigil-agent-linux-amd64", "vigil-agent", "amd64", true},
		{"vigil-updater-linux-arm64", "vigil-updater", "arm64", true},
		{"vigil-agent-linux-", "", "", false},
		{"vigil-agent-linux-amd64.exe", "", "", false},
		{"vigil-server-linux-amd64", "", "", false},
		{"vigil-agent-windows-amd64", "", "", false},
		{"../vigil-agent-linux-amd64", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, a, err := ParseArtifactName(tt.name)
			if (err == nil) != tt.ok || b != tt.binary || a != tt.arch {
				t.Fatalf("ParseArtifactName = %q, %q, %v", b, a, err)
			}
			if !tt.ok {
				return
			}
			tg := Target{Binary: b, Version: "1.2.3", Arch: a}
			back, err := ParseTargetPath(tg.Path())
			if err != nil || back != tg || tg.ArtifactName() != tt.name {
				t.Errorf("target path round trip: %v %v", back, err)
			}
			if got, want := tg.BlobPath("ab12"), b+"/1.2.3/ab12.linux-"+a; got != want {
				t.Errorf("BlobPath = %q, want %q", got, want)
			}
		})
	}
	for _, p := range []string{"vigil-agent/1.2/linux-amd64", "vigil-agent/1.2.3/amd64", "x/1.2.3/linux-amd64", "vigil-agent/1.2.3/linux-amd64/x"} {
		if _, err := ParseTargetPath(p); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ParseTargetPath(%q) = %v", p, err)
		}
	}
}
