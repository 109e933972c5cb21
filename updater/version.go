package updater

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// The updater does not import package release: release links the signing code, and the updater
// verifies, it never signs. The few rules both sides must agree on (target names, custom metadata,
// version order, channels, floor) are mirrored here, and TestAgreesWithRelease checks them against
// package release on the same inputs.

// Binaries the updater installs.
const (
	BinaryAgent   = "vigil-agent"
	BinaryUpdater = "vigil-updater"
)

// TargetPath is the TUF target path of a build: "<binary>/<version>/linux-<arch>".
func TargetPath(binary, version, arch string) string {
	return binary + "/" + version + "/linux-" + arch
}

// Custom is the signed custom metadata of a target (release.TargetCustom).
type Custom struct {
	Version        string   `json:"version"`
	Channels       []string `json:"channels"`
	MinVersion     string   `json:"min_version"`
	AllowDowngrade bool     `json:"allow_downgrade,omitempty"`
}

// maxVersionLen bounds a version string.
const maxVersionLen = 64

// ParseCustom decodes a target's custom metadata.
func ParseCustom(tf *metadata.TargetFiles) (Custom, error) {
	var c Custom
	if tf == nil || tf.Custom == nil {
		return c, fmt.Errorf("target has no custom metadata")
	}
	if err := json.Unmarshal(*tf.Custom, &c); err != nil {
		return c, fmt.Errorf("target custom metadata: %w", err)
	}
	return c, nil
}

// version is MAJOR.MINOR.PATCH[-PRE] with semver precedence, as release.Version.
type version struct {
	n   [3]uint64
	pre string
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parseNum(s string) (uint64, error) {
	if !isDigits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%q is not a number without leading zeros", s)
	}
	return strconv.ParseUint(s, 10, 64)
}

// parseVersion parses a version string.
func parseVersion(s string) (version, error) {
	var v version
	if s == "" || len(s) > maxVersionLen {
		return v, fmt.Errorf("version %q: empty or too long", s)
	}
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", s)
	}
	for i, p := range parts {
		n, err := parseNum(p)
		if err != nil {
			return v, fmt.Errorf("version %q: %v", s, err)
		}
		v.n[i] = n
	}
	if hasPre {
		if pre == "" {
			return v, fmt.Errorf("version %q: empty pre-release", s)
		}
		for _, id := range strings.Split(pre, ".") {
			if id == "" {
				return v, fmt.Errorf("version %q: empty pre-release identifier", s)
			}
			for _, c := range id {
				if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
					return v, fmt.Errorf("version %q: bad pre-release character", s)
				}
			}
			if isDigits(id) {
				if _, err := parseNum(id); err != nil {
					return v, fmt.Errorf("version %q: %v", s, err)
				}
			}
		}
		v.pre = pre
	}
	return v, nil
}

func (v version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.n[0], v.n[1], v.n[2])
	if v.pre != "" {
		s += "-" + v.pre
	}
	return s
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (v version) compare(w version) int {
	for i := range v.n {
		if c := cmpUint(v.n[i], w.n[i]); c != 0 {
			return c
		}
	}
	switch {
	case v.pre == w.pre:
		return 0
	case v.pre == "":
		return 1
	case w.pre == "":
		return -1
	}
	a, b := strings.Split(v.pre, "."), strings.Split(w.pre, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		an, bn := isDigits(a[i]), isDigits(b[i])
		var c int
		switch {
		case an && bn:
			x, _ := strconv.ParseUint(a[i], 10, 64)
			y, _ := strconv.ParseUint(b[i], 10, 64)
			c = cmpUint(x, y)
		case an:
			c = -1
		case bn:
			c = 1
		default:
			c = strings.Compare(a[i], b[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmpUint(uint64(len(a)), uint64(len(b)))
}

// CompareVersions returns -1, 0 or +1 as a is lower than, equal to or higher than b
// (semver precedence, as release.CompareVersions).
func CompareVersions(a, b string) (int, error) {
	va, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	return va.compare(vb), nil
}

// targetsOf yields (version, custom) of every well-formed target of binary for arch.
func targetsOf(targets map[string]*metadata.TargetFiles, binary, arch string) map[string]Custom {
	out := map[string]Custom{}
	for p, tf := range targets {
		parts := strings.Split(p, "/")
		if len(parts) != 3 || parts[0] != binary {
			continue
		}
		if arch != "" && parts[2] != "linux-"+arch {
			continue
		}
		if _, err := parseVersion(parts[1]); err != nil {
			continue
		}
		c, err := ParseCustom(tf)
		if err != nil || c.Version != parts[1] {
			continue
		}
		out[p] = c
	}
	return out
}

// ChannelVersion returns the version a channel points to for binary in verified targets: the
// highest version whose signed channels list it (release.ChannelVersion). Only targets built for
// arch count when arch is not empty.
func ChannelVersion(targets map[string]*metadata.TargetFiles, binary, arch, channel string) (string, bool) {
	var best version
	ok := false
	for _, c := range targetsOf(targets, binary, arch) {
		if !slices.Contains(c.Channels, channel) {
			continue
		}
		v, _ := parseVersion(c.Version)
		if !ok || v.compare(best) > 0 {
			best, ok = v, true
		}
	}
	if !ok {
		return "", false
	}
	return best.String(), true
}

// Floor returns the highest signed min_version among the targets of binary ("" if none), as
// release.Floor.
func Floor(targets map[string]*metadata.TargetFiles, binary string) string {
	var best version
	ok := false
	for _, c := range targetsOf(targets, binary, "") {
		if c.MinVersion == "" {
			continue
		}
		v, err := parseVersion(c.MinVersion)
		if err != nil {
			continue
		}
		if !ok || v.compare(best) > 0 {
			best, ok = v, true
		}
	}
	if !ok {
		return ""
	}
	return best.String()
}
