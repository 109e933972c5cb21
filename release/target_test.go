package release

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/releasespec"
)

// The rules themselves are tested in releasespec; these tests check release's adapters: its
// sentinels, the artifact and blob names, and the go-tuf views.

func TestSpecErrorsMatchReleaseSentinels(t *testing.T) {
	if _, err := ParseVersion("v1.2.3"); !errors.Is(err, ErrInvalidName) || !errors.Is(err, releasespec.ErrInvalidVersion) {
		t.Errorf("ParseVersion: %v; want ErrInvalidName and releasespec.ErrInvalidVersion", err)
	}
	if v, err := ParseVersion("1.2.3-rc.1"); err != nil || v.String() != "1.2.3-rc.1" {
		t.Errorf("ParseVersion(1.2.3-rc.1) = %v, %v", v, err)
	}
	if _, err := parseTargetPath("vigil-agent/1.2/linux-amd64"); !errors.Is(err, ErrInvalidName) || !errors.Is(err, releasespec.ErrInvalidTarget) {
		t.Errorf("parseTargetPath: %v", err)
	}
	if err := validateChannel("Stable"); !errors.Is(err, ErrInvalidName) || !errors.Is(err, releasespec.ErrInvalidChannel) {
		t.Errorf("validateChannel: %v", err)
	}
	raw := json.RawMessage(`{"version":"1.2.4"}`)
	tf := &metadata.TargetFiles{Length: 1, Hashes: metadata.Hashes{HashAlgorithm: make([]byte, 32)}, Custom: &raw}
	if _, _, err := validateTarget("vigil-agent/1.2.3/linux-amd64", tf); !errors.Is(err, ErrInvalidMetadata) || !errors.Is(err, releasespec.ErrInvalidCustom) {
		t.Errorf("validateTarget with a custom version that differs from the path: %v", err)
	}
	if _, _, err := validateTarget("vigil-agent/1.2.4/linux-x", tf); !errors.Is(err, ErrInvalidName) {
		t.Errorf("validateTarget with a bad path: %v", err)
	}
	raw = json.RawMessage(`{"version":"1.2.3"}`)
	tf.Hashes["sha512"] = make([]byte, 64)
	if _, _, err := validateTarget("vigil-agent/1.2.3/linux-amd64", tf); !errors.Is(err, ErrInvalidMetadata) {
		t.Errorf("validateTarget with two hashes: %v", err)
	}
	if _, err := ParseCustom(&metadata.TargetFiles{Path: "vigil-agent/1.2.3/linux-amd64"}); !errors.Is(err, ErrInvalidMetadata) {
		t.Errorf("ParseCustom without custom metadata: %v", err)
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
				if !errors.Is(err, ErrInvalidName) {
					t.Errorf("error %v does not match ErrInvalidName", err)
				}
				return
			}
			tg := Target{Binary: b, Version: "1.2.3", Arch: a}
			back, err := parseTargetPath(tg.Path())
			if err != nil || back != tg || artifactName(tg) != tt.name {
				t.Errorf("target path round trip: %v %v", back, err)
			}
			if got, want := blobPath(tg, "ab12"), b+"/1.2.3/ab12.linux-"+a; got != want {
				t.Errorf("blobPath = %q, want %q", got, want)
			}
		})
	}
}

func TestChannelVersionAndFloorReadTargetsMetadata(t *testing.T) {
	targets := &metadata.TargetsType{Targets: map[string]*metadata.TargetFiles{}}
	add := func(p, custom string) {
		raw := json.RawMessage(custom)
		targets.Targets[p] = &metadata.TargetFiles{Length: 1, Path: p, Custom: &raw}
	}
	add("vigil-agent/1.0.0/linux-amd64", `{"version":"1.0.0","channels":["stable"],"min_version":"0.5.0"}`)
	add("vigil-agent/1.1.0/linux-arm64", `{"version":"1.1.0","channels":["stable"],"min_version":"1.0.0"}`)
	targets.Targets["vigil-agent/2.0.0/linux-amd64"] = &metadata.TargetFiles{Length: 1} // no custom metadata: ignored
	if v, ok := ChannelVersion(targets, BinaryAgent, "stable"); !ok || v != "1.1.0" {
		t.Errorf("ChannelVersion = %q, %v; want 1.1.0 (any architecture)", v, ok)
	}
	if v := Floor(targets, BinaryAgent); v != "1.0.0" {
		t.Errorf("Floor = %q, want 1.0.0", v)
	}
}
