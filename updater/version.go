package updater

import (
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/releasespec"
)

// What a release is (version order, target paths, custom metadata, channels, the floor, the
// downgrade rule) is package releasespec, which package release writes metadata by: the updater
// installs by the same code. The updater does not import release, which links the signing code.

// Binaries the updater installs.
const (
	BinaryAgent   = releasespec.BinaryAgent
	BinaryUpdater = releasespec.BinaryUpdater
)

// TargetPath is the TUF target path of a build: "<binary>/<version>/linux-<arch>".
func TargetPath(binary, version, arch string) string {
	return releasespec.Target{Binary: binary, Version: version, Arch: arch}.Path()
}

// listing is the view releasespec's rules read of verified targets.
func listing(targets map[string]*metadata.TargetFiles) releasespec.Listing {
	l := make(releasespec.Listing, len(targets))
	for p, tf := range targets {
		if tf != nil && tf.Custom != nil {
			l[p] = *tf.Custom
		} else {
			l[p] = nil
		}
	}
	return l
}

// parseBuild checks the signed entry tf listed under path: path and custom metadata well-formed
// and naming the same version. A failure is a SecurityError: signed metadata that breaks the rules.
func parseBuild(path string, tf *metadata.TargetFiles) (releasespec.Build, error) {
	var custom []byte
	if tf.Custom != nil {
		custom = *tf.Custom
	}
	b, err := releasespec.ParseBuild(path, custom)
	if err != nil {
		return b, &SecurityError{Op: "target " + path, Err: err}
	}
	return b, nil
}
