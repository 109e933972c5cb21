package releasespec

import (
	"encoding/json"
	"fmt"
)

// Limits on custom metadata. Signed metadata is trusted only as far as these go: a build entry
// beyond them is malformed, whoever signed it.
const (
	// MaxCustomSize bounds the custom metadata of one target, in bytes.
	MaxCustomSize = 4 << 10
	// MaxChannels bounds the channels one target may be on.
	MaxChannels = 32
	// MaxChannelLen bounds a channel name.
	MaxChannelLen = 32
)

// Custom is the custom metadata of every target, signed with the rest of targets.json.
type Custom struct {
	// Version of the build; equal to the version in the target path.
	Version string `json:"version"`
	// Channels currently pointing at this version (e.g. "stable", "beta").
	Channels []string `json:"channels"`
	// MinVersion is the floor: updaters refuse to install a version of this binary below the
	// highest MinVersion of its targets (see Floor). "" sets none.
	MinVersion string `json:"min_version"`
	// AllowDowngrade lets an updater install this version over a higher one.
	AllowDowngrade bool `json:"allow_downgrade,omitempty"`
}

// ValidateChannel checks a channel name: lower-case letters, digits and '-', starting with a
// letter, at most MaxChannelLen bytes. Errors match ErrInvalidChannel.
func ValidateChannel(c string) error {
	ok := len(c) > 0 && len(c) <= MaxChannelLen && c[0] >= 'a' && c[0] <= 'z'
	for i := 0; ok && i < len(c); i++ {
		b := c[i]
		ok = b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-'
	}
	if !ok {
		if len(c) > MaxChannelLen {
			c = c[:MaxChannelLen] + "…"
		}
		return fmt.Errorf("channel %q: want [a-z][a-z0-9-]{0,%d}: %w", c, MaxChannelLen-1, ErrInvalidChannel)
	}
	return nil
}

// ParseCustom decodes and checks a target's custom metadata: at most MaxCustomSize bytes, a
// valid version, a valid min_version when set, at most MaxChannels valid channel names. Fields
// it does not know are ignored, so metadata signed for newer updaters still parses. Errors match
// ErrInvalidCustom (and ErrInvalidVersion or ErrInvalidChannel when one of those is the cause).
func ParseCustom(raw []byte) (Custom, error) {
	var c Custom
	switch {
	case len(raw) == 0:
		return Custom{}, fmt.Errorf("no custom metadata: %w", ErrInvalidCustom)
	case len(raw) > MaxCustomSize:
		return Custom{}, fmt.Errorf("custom metadata of %d bytes: at most %d: %w", len(raw), MaxCustomSize, ErrInvalidCustom)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Custom{}, fmt.Errorf("custom metadata: %v: %w", err, ErrInvalidCustom)
	}
	if _, err := ParseVersion(c.Version); err != nil {
		return Custom{}, fmt.Errorf("custom metadata: %w: %w", err, ErrInvalidCustom)
	}
	if c.MinVersion != "" {
		if _, err := ParseVersion(c.MinVersion); err != nil {
			return Custom{}, fmt.Errorf("custom metadata: min_version: %w: %w", err, ErrInvalidCustom)
		}
	}
	if len(c.Channels) > MaxChannels {
		return Custom{}, fmt.Errorf("custom metadata: %d channels, at most %d: %w", len(c.Channels), MaxChannels, ErrInvalidCustom)
	}
	for _, ch := range c.Channels {
		if err := ValidateChannel(ch); err != nil {
			return Custom{}, fmt.Errorf("custom metadata: %w: %w", err, ErrInvalidCustom)
		}
	}
	return c, nil
}

// Build is one well-formed entry of targets metadata: its path and signed custom metadata, which
// agree on the version.
type Build struct {
	Target  Target
	Version Version // Target.Version, parsed
	Custom  Custom
}

// ParseBuild parses the path and custom metadata of one target and checks that they name the
// same version. Errors match ErrInvalidTarget or ErrInvalidCustom.
func ParseBuild(path string, custom []byte) (Build, error) {
	t, err := ParseTargetPath(path)
	if err != nil {
		return Build{}, err
	}
	c, err := ParseCustom(custom)
	if err != nil {
		return Build{}, fmt.Errorf("target %s: %w", path, err)
	}
	if c.Version != t.Version {
		return Build{}, fmt.Errorf("target %s: custom version %q differs from the path: %w", path, c.Version, ErrInvalidCustom)
	}
	v, _ := ParseVersion(t.Version) // ParseTargetPath checked it
	return Build{Target: t, Version: v, Custom: c}, nil
}
