package release

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Binaries that can be released.
const (
	BinaryAgent   = "vigil-agent"
	BinaryUpdater = "vigil-updater"
)

// Binaries lists the releasable binaries.
var Binaries = []string{BinaryAgent, BinaryUpdater}

// Arches lists the Linux architectures (GOARCH names) a build may target.
var Arches = []string{"amd64", "arm64", "arm", "386", "riscv64", "ppc64le", "s390x", "loong64"}

// HashAlgorithm is the only hash the repository records.
const HashAlgorithm = "sha256"

// MaxArtifactSize bounds an uploaded build.
const MaxArtifactSize = 512 << 20

// Target identifies one build in the repository.
type Target struct {
	Binary  string // BinaryAgent or BinaryUpdater
	Version string
	Arch    string // GOARCH
}

// Path is the TUF target path: "<binary>/<version>/linux-<arch>".
func (t Target) Path() string { return t.Binary + "/" + t.Version + "/linux-" + t.Arch }

// ArtifactName is the file name release tooling gives the build: "<binary>-linux-<arch>".
func (t Target) ArtifactName() string { return t.Binary + "-linux-" + t.Arch }

// BlobPath is where the build is stored and served with consistent
// snapshots: "<binary>/<version>/<sha256hex>.linux-<arch>".
func (t Target) BlobPath(sha256hex string) string {
	return ConsistentTargetPath(t.Path(), sha256hex)
}

// ConsistentTargetPath prefixes the base name of a target path with its hash,
// as TUF clients request it when consistent snapshots are on.
func ConsistentTargetPath(targetPath, sha256hex string) string {
	dir, base := path.Split(targetPath)
	return dir + sha256hex + "." + base
}

func validBinary(b string) bool { return slices.Contains(Binaries, b) }
func validArch(a string) bool   { return slices.Contains(Arches, a) }

// ParseArtifactName splits "<binary>-linux-<arch>" (as make release-artifacts
// names files) into binary and arch.
func ParseArtifactName(name string) (binary, arch string, err error) {
	for _, b := range Binaries {
		if a, ok := strings.CutPrefix(name, b+"-linux-"); ok && validArch(a) {
			return b, a, nil
		}
	}
	return "", "", fmt.Errorf("artifact %q: want <binary>-linux-<arch> with binary in %v and arch in %v: %w",
		name, Binaries, Arches, ErrInvalidName)
}

// ParseTargetPath parses "<binary>/<version>/linux-<arch>".
func ParseTargetPath(p string) (Target, error) {
	parts := strings.Split(p, "/")
	if len(parts) == 3 && validBinary(parts[0]) {
		if a, ok := strings.CutPrefix(parts[2], "linux-"); ok && validArch(a) {
			if _, err := ParseVersion(parts[1]); err == nil {
				return Target{Binary: parts[0], Version: parts[1], Arch: a}, nil
			}
		}
	}
	return Target{}, fmt.Errorf("target path %q: want <binary>/<version>/linux-<arch>: %w", p, ErrInvalidName)
}

// TargetCustom is the custom metadata of every target. It is signed with the
// rest of targets.json.
type TargetCustom struct {
	// Version of the build; equal to the version in the target path.
	Version string `json:"version"`
	// Channels currently pointing at this version (e.g. "stable", "beta").
	Channels []string `json:"channels"`
	// MinVersion is the floor: updaters refuse to install a version of this
	// binary below the highest MinVersion of its published targets.
	MinVersion string `json:"min_version"`
	// AllowDowngrade lets an updater install this version over a higher one.
	AllowDowngrade bool `json:"allow_downgrade,omitempty"`
}

// ParseCustom decodes and checks a target's custom metadata.
func ParseCustom(tf *metadata.TargetFiles) (TargetCustom, error) {
	var c TargetCustom
	if tf.Custom == nil {
		return c, fmt.Errorf("target %s: no custom metadata: %w", tf.Path, ErrInvalidMetadata)
	}
	if err := json.Unmarshal(*tf.Custom, &c); err != nil {
		return c, fmt.Errorf("target %s: custom metadata: %v: %w", tf.Path, err, ErrInvalidMetadata)
	}
	return c, nil
}

func setCustom(tf *metadata.TargetFiles, c TargetCustom) error {
	if c.Channels == nil {
		c.Channels = []string{}
	}
	slices.Sort(c.Channels)
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	raw := json.RawMessage(b)
	tf.Custom = &raw
	return nil
}

// maxChannelLen bounds a channel name.
const maxChannelLen = 32

// ValidateChannel checks a channel name: lower-case letters, digits and '-',
// starting with a letter, at most 32 characters.
func ValidateChannel(c string) error {
	ok := len(c) > 0 && len(c) <= maxChannelLen && c[0] >= 'a' && c[0] <= 'z'
	for _, r := range c {
		ok = ok && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}
	if !ok {
		return fmt.Errorf("channel %q: want [a-z][a-z0-9-]{0,31}: %w", c, ErrInvalidName)
	}
	return nil
}

// sha256Of returns the hex sha256 of a target file ("" if none).
func sha256Of(tf *metadata.TargetFiles) string {
	return hex.EncodeToString(tf.Hashes[HashAlgorithm])
}

// validateTarget checks one entry of targets metadata as Repo writes it.
func validateTarget(p string, tf *metadata.TargetFiles) (Target, TargetCustom, error) {
	t, err := ParseTargetPath(p)
	if err != nil {
		return t, TargetCustom{}, err
	}
	if len(tf.Hashes) != 1 || len(tf.Hashes[HashAlgorithm]) != 32 {
		return t, TargetCustom{}, fmt.Errorf("target %s: want exactly one sha256 hash: %w", p, ErrInvalidMetadata)
	}
	if tf.Length <= 0 || tf.Length > MaxArtifactSize {
		return t, TargetCustom{}, fmt.Errorf("target %s: length %d: %w", p, tf.Length, ErrInvalidMetadata)
	}
	c, err := ParseCustom(tf)
	if err != nil {
		return t, c, err
	}
	if c.Version != t.Version {
		return t, c, fmt.Errorf("target %s: custom version %q differs from path: %w", p, c.Version, ErrInvalidMetadata)
	}
	if c.MinVersion != "" {
		if _, err := ParseVersion(c.MinVersion); err != nil {
			return t, c, fmt.Errorf("target %s: min_version: %w", p, err)
		}
	}
	for _, ch := range c.Channels {
		if err := ValidateChannel(ch); err != nil {
			return t, c, fmt.Errorf("target %s: %w", p, err)
		}
	}
	return t, c, nil
}

// ChannelVersion returns the version that channel points to for binary in
// targets (verified targets metadata): the version of the targets of binary
// whose custom channels list channel; if several do, the highest. ok is false
// when no target of binary is on the channel.
func ChannelVersion(targets *metadata.TargetsType, binary, channel string) (version string, ok bool) {
	var best Version
	for p, tf := range targets.Targets {
		t, err := ParseTargetPath(p)
		if err != nil || t.Binary != binary {
			continue
		}
		c, err := ParseCustom(tf)
		if err != nil || !slices.Contains(c.Channels, channel) {
			continue
		}
		v, err := ParseVersion(t.Version)
		if err != nil {
			continue
		}
		if !ok || v.Compare(best) > 0 {
			best, ok = v, true
		}
	}
	if !ok {
		return "", false
	}
	return best.String(), true
}

// Floor returns the highest min_version among the targets of binary ("" if none).
func Floor(targets *metadata.TargetsType, binary string) string {
	var best Version
	found := false
	for p, tf := range targets.Targets {
		t, err := ParseTargetPath(p)
		if err != nil || t.Binary != binary {
			continue
		}
		c, err := ParseCustom(tf)
		if err != nil || c.MinVersion == "" {
			continue
		}
		v, err := ParseVersion(c.MinVersion)
		if err != nil {
			continue
		}
		if !found || v.Compare(best) > 0 {
			best, found = v, true
		}
	}
	if !found {
		return ""
	}
	return best.String()
}
