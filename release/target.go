package release

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/releasespec"
)

// What a release is (versions, target paths, custom metadata, channels, floors) is defined once,
// in package releasespec, which the updater imports too. This file adapts it to go-tuf's types
// and to release's sentinels (ErrInvalidName, ErrInvalidMetadata).

// Binaries that can be released.
const (
	BinaryAgent   = releasespec.BinaryAgent
	BinaryUpdater = releasespec.BinaryUpdater
)

// HashAlgorithm is the only hash the repository records.
const HashAlgorithm = "sha256"

// MaxArtifactSize bounds an uploaded build.
const MaxArtifactSize = 512 << 20

// Version is a release version (releasespec.Version).
type Version = releasespec.Version

// Target identifies one build in the repository (releasespec.Target).
type Target = releasespec.Target

// TargetCustom is the custom metadata of every target (releasespec.Custom). It is signed with
// the rest of targets.json.
type TargetCustom = releasespec.Custom

// specError keeps a releasespec error's message and sentinels and adds release's own sentinel,
// so callers of release branch on ErrInvalidName or ErrInvalidMetadata as before.
type specError struct{ err, kind error }

func (e *specError) Error() string   { return e.err.Error() }
func (e *specError) Unwrap() []error { return []error{e.err, e.kind} }

func invalidName(err error) error {
	if err == nil {
		return nil
	}
	return &specError{err: err, kind: ErrInvalidName}
}

func invalidMetadata(err error) error {
	if err == nil {
		return nil
	}
	return &specError{err: err, kind: ErrInvalidMetadata}
}

// ParseVersion parses a version string (releasespec.ParseVersion). Errors match ErrInvalidName.
func ParseVersion(s string) (Version, error) {
	v, err := releasespec.ParseVersion(s)
	return v, invalidName(err)
}

// parseTargetPath is releasespec.ParseTargetPath with errors matching ErrInvalidName.
func parseTargetPath(p string) (Target, error) {
	t, err := releasespec.ParseTargetPath(p)
	return t, invalidName(err)
}

// validateChannel is releasespec.ValidateChannel with errors matching ErrInvalidName.
func validateChannel(c string) error { return invalidName(releasespec.ValidateChannel(c)) }

// artifactName is the file name release tooling gives a build: "<binary>-linux-<arch>".
func artifactName(t Target) string { return t.Binary + "-linux-" + t.Arch }

// blobPath is where a build is stored and served with consistent snapshots:
// "<binary>/<version>/<sha256hex>.linux-<arch>".
func blobPath(t Target, sha256hex string) string {
	return ConsistentTargetPath(t.Path(), sha256hex)
}

// ConsistentTargetPath prefixes the base name of a target path with its hash,
// as TUF clients request it when consistent snapshots are on.
func ConsistentTargetPath(targetPath, sha256hex string) string {
	dir, base := path.Split(targetPath)
	return dir + sha256hex + "." + base
}

// ParseArtifactName splits "<binary>-linux-<arch>" (as make release-artifacts
// names files) into binary and arch.
func ParseArtifactName(name string) (binary, arch string, err error) {
	for _, b := range releasespec.Binaries() {
		if a, ok := strings.CutPrefix(name, b+"-linux-"); ok && slices.Contains(releasespec.Arches(), a) {
			return b, a, nil
		}
	}
	return "", "", fmt.Errorf("artifact %q: want <binary>-linux-<arch> with binary in %v and arch in %v: %w",
		name, releasespec.Binaries(), releasespec.Arches(), ErrInvalidName)
}

// customBytes returns a target's raw custom metadata (nil if none).
func customBytes(tf *metadata.TargetFiles) []byte {
	if tf == nil || tf.Custom == nil {
		return nil
	}
	return *tf.Custom
}

// ParseCustom decodes and checks a target's custom metadata (releasespec.ParseCustom). Errors
// match ErrInvalidMetadata.
func ParseCustom(tf *metadata.TargetFiles) (TargetCustom, error) {
	c, err := releasespec.ParseCustom(customBytes(tf))
	if err != nil {
		return c, invalidMetadata(fmt.Errorf("target %s: %w", tf.Path, err))
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

// sha256Of returns the hex sha256 of a target file ("" if none).
func sha256Of(tf *metadata.TargetFiles) string {
	return hex.EncodeToString(tf.Hashes[HashAlgorithm])
}

// validateTarget checks one entry of targets metadata as Repo writes it.
func validateTarget(p string, tf *metadata.TargetFiles) (Target, TargetCustom, error) {
	b, err := releasespec.ParseBuild(p, customBytes(tf))
	switch {
	case err == nil:
	case errors.Is(err, releasespec.ErrInvalidTarget):
		return Target{}, TargetCustom{}, invalidName(err)
	default:
		return b.Target, TargetCustom{}, invalidMetadata(err)
	}
	if len(tf.Hashes) != 1 || len(tf.Hashes[HashAlgorithm]) != 32 {
		return b.Target, b.Custom, fmt.Errorf("target %s: want exactly one sha256 hash: %w", p, ErrInvalidMetadata)
	}
	if tf.Length <= 0 || tf.Length > MaxArtifactSize {
		return b.Target, b.Custom, fmt.Errorf("target %s: length %d: %w", p, tf.Length, ErrInvalidMetadata)
	}
	return b.Target, b.Custom, nil
}

// listing is the view releasespec's rules read of targets metadata.
func listing(targets *metadata.TargetsType) releasespec.Listing {
	l := make(releasespec.Listing, len(targets.Targets))
	for p, tf := range targets.Targets {
		l[p] = customBytes(tf)
	}
	return l
}

// ChannelVersion returns the version that channel points to for binary in
// targets (verified targets metadata), of any architecture (releasespec.ChannelVersion).
// ok is false when no target of binary is on the channel.
func ChannelVersion(targets *metadata.TargetsType, binary, channel string) (version string, ok bool) {
	return releasespec.ChannelVersion(listing(targets), binary, "", channel)
}

// Floor returns the highest min_version among the targets of binary ("" if none)
// (releasespec.Floor).
func Floor(targets *metadata.TargetsType, binary string) string {
	return releasespec.Floor(listing(targets), binary)
}
