package releasespec

import (
	"fmt"
	"slices"
	"strings"
)

// The binaries a release holds.
const (
	BinaryAgent   = "vigil-agent"
	BinaryUpdater = "vigil-updater"
)

var (
	binaries = []string{BinaryAgent, BinaryUpdater}
	arches   = []string{"amd64", "arm64", "arm", "386", "riscv64", "ppc64le", "s390x", "loong64"}
)

// Binaries returns the binaries a release may hold.
func Binaries() []string { return slices.Clone(binaries) }

// Arches returns the Linux architectures (GOARCH names) a build may target.
func Arches() []string { return slices.Clone(arches) }

// MaxTargetPathLen bounds a target path: longer paths are refused before they are split.
const MaxTargetPathLen = 128

// Target identifies one build.
type Target struct {
	Binary  string // BinaryAgent or BinaryUpdater
	Version string
	Arch    string // GOARCH
}

// Path is the TUF target path: "<binary>/<version>/linux-<arch>".
func (t Target) Path() string { return t.Binary + "/" + t.Version + "/linux-" + t.Arch }

// ParseTargetPath parses "<binary>/<version>/linux-<arch>" with a known binary, a valid version
// and a known architecture. Errors match ErrInvalidTarget.
func ParseTargetPath(p string) (Target, error) {
	if len(p) <= MaxTargetPathLen {
		parts := strings.Split(p, "/")
		if len(parts) == 3 && slices.Contains(binaries, parts[0]) {
			if a, ok := strings.CutPrefix(parts[2], "linux-"); ok && slices.Contains(arches, a) {
				if _, err := ParseVersion(parts[1]); err == nil {
					return Target{Binary: parts[0], Version: parts[1], Arch: a}, nil
				}
			}
		}
		return Target{}, fmt.Errorf("target path %q: want <binary>/<version>/linux-<arch>: %w", p, ErrInvalidTarget)
	}
	return Target{}, fmt.Errorf("target path of %d bytes: at most %d: %w", len(p), MaxTargetPathLen, ErrInvalidTarget)
}
