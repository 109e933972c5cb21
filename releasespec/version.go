package releasespec

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxVersionLen bounds a version string.
const MaxVersionLen = 64

// Version is a release version: MAJOR.MINOR.PATCH with an optional pre-release ("1.2.3-rc.1").
// Build metadata ("+...") and a leading "v" are not accepted, and numbers have no leading
// zeros, so a version has exactly one spelling: two version strings are equal exactly when
// their versions compare equal.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 string // without the "-"; "" for a release
}

// ParseVersion parses a version string. Errors match ErrInvalidVersion.
func ParseVersion(s string) (Version, error) {
	bad := func(why string) (Version, error) {
		if len(s) > MaxVersionLen {
			s = s[:MaxVersionLen] + "…"
		}
		return Version{}, fmt.Errorf("version %q: %s: %w", s, why, ErrInvalidVersion)
	}
	if len(s) == 0 || len(s) > MaxVersionLen {
		return bad(fmt.Sprintf("want 1 to %d bytes", MaxVersionLen))
	}
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return bad("want MAJOR.MINOR.PATCH")
	}
	var nums [3]uint64
	for i, p := range parts {
		n, err := parseNumeric(p)
		if err != nil {
			return bad(err.Error())
		}
		nums[i] = n
	}
	if hasPre {
		if pre == "" {
			return bad("empty pre-release")
		}
		for id := range strings.SplitSeq(pre, ".") {
			if id == "" {
				return bad("empty pre-release identifier")
			}
			for _, c := range id {
				if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
					return bad("pre-release may hold only [0-9A-Za-z-.]")
				}
			}
			if isDigits(id) {
				if _, err := parseNumeric(id); err != nil {
					return bad(err.Error())
				}
			}
		}
	}
	return Version{Major: nums[0], Minor: nums[1], Patch: nums[2], Pre: pre}, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func parseNumeric(s string) (uint64, error) {
	if !isDigits(s) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q does not fit 64 bits", s)
	}
	return n, nil
}

// String formats v; for a parsed version it is the string it was parsed from.
func (v Version) String() string {
	s := strconv.FormatUint(v.Major, 10) + "." + strconv.FormatUint(v.Minor, 10) + "." + strconv.FormatUint(v.Patch, 10)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// Compare returns -1, 0 or +1 as v is lower than, equal to or higher than w, with semver
// precedence: MAJOR, MINOR, PATCH numerically; a pre-release is lower than its release;
// pre-release identifiers compare numerically when both are numbers, in ASCII order when both
// are not, and a number is lower than a word; when one list of identifiers is a prefix of the
// other, the shorter is lower ("1.0.0-alpha" < "1.0.0-alpha.1").
func (v Version) Compare(w Version) int {
	for _, d := range [][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if c := cmpUint(d[0], d[1]); c != 0 {
			return c
		}
	}
	switch {
	case v.Pre == w.Pre:
		return 0
	case v.Pre == "":
		return 1
	case w.Pre == "":
		return -1
	}
	a, b := strings.Split(v.Pre, "."), strings.Split(w.Pre, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := compareIdent(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmpUint(uint64(len(a)), uint64(len(b)))
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

func compareIdent(a, b string) int {
	an, bn := isDigits(a), isDigits(b)
	switch {
	case an && bn:
		x, _ := strconv.ParseUint(a, 10, 64) // ParseVersion checked that both fit
		y, _ := strconv.ParseUint(b, 10, 64)
		return cmpUint(x, y)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

// CompareVersions parses and compares two version strings (see Version.Compare).
func CompareVersions(a, b string) (int, error) {
	va, err := ParseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := ParseVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}
