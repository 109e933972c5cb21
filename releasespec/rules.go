package releasespec

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Listing is what the install rules read from verified targets metadata: every target path with
// its signed custom metadata (nil when it has none). Entries that are not well-formed Vigil
// builds (ParseBuild fails) are ignored by ChannelVersion and Floor.
type Listing map[string]json.RawMessage

// builds yields the well-formed builds of binary in l; arch "" means every architecture.
func (l Listing) builds(binary, arch string, yield func(Build)) {
	for p, raw := range l {
		b, err := ParseBuild(p, raw)
		if err != nil || b.Target.Binary != binary || (arch != "" && b.Target.Arch != arch) {
			continue
		}
		yield(b)
	}
}

// ChannelVersion returns the version channel points to for binary: the highest version among
// the builds of binary whose signed channels list it, counting only builds for arch unless arch
// is "". ok is false when no such build exists.
func ChannelVersion(l Listing, binary, arch, channel string) (version string, ok bool) {
	var best Version
	l.builds(binary, arch, func(b Build) {
		if slices.Contains(b.Custom.Channels, channel) && (!ok || b.Version.Compare(best) > 0) {
			best, ok = b.Version, true
		}
	})
	if !ok {
		return "", false
	}
	return best.String(), true
}

// floor returns the highest min_version among the builds of binary, of any architecture.
func floor(l Listing, binary string) (Version, bool) {
	var best Version
	found := false
	l.builds(binary, "", func(b Build) {
		if b.Custom.MinVersion == "" {
			return
		}
		v, _ := ParseVersion(b.Custom.MinVersion) // ParseCustom checked it
		if !found || v.Compare(best) > 0 {
			best, found = v, true
		}
	})
	return best, found
}

// Floor returns the version floor of binary: the highest min_version among its builds, of any
// architecture ("" when none sets one). No version of binary below it may be installed, so
// raising it in one signed release retires every older build.
func Floor(l Listing, binary string) string {
	if v, ok := floor(l, binary); ok {
		return v.String()
	}
	return ""
}

// CheckInstall decides whether an updater that has version installed ("" for a first install)
// may install build b, whose entry is in the verified listing l. It refuses a version below the
// floor of b's binary (ErrBelowFloor) and a version below the installed one unless b's signed
// metadata allows a downgrade (ErrDowngrade); an installed version that does not parse is an
// ErrInvalidVersion. Local rules (quarantine) are the updater's own.
func CheckInstall(l Listing, b Build, installed string) error {
	if f, ok := floor(l, b.Target.Binary); ok && b.Version.Compare(f) < 0 {
		return fmt.Errorf("%s %s is below the signed floor %s: %w", b.Target.Binary, b.Version, f, ErrBelowFloor)
	}
	if installed == "" {
		return nil
	}
	cur, err := ParseVersion(installed)
	if err != nil {
		return fmt.Errorf("installed %s: %w", b.Target.Binary, err)
	}
	if b.Version.Compare(cur) < 0 && !b.Custom.AllowDowngrade {
		return fmt.Errorf("%s %s is below the installed %s: %w", b.Target.Binary, b.Version, cur, ErrDowngrade)
	}
	return nil
}
