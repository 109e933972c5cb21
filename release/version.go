package release

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a semver-like release version: MAJOR.MINOR.PATCH with an
// optional pre-release ("1.2.3-rc.1"). Build metadata ("+...") and a leading
// "v" are not accepted, so a version string has exactly one spelling.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 string // without the "-"; "" for a release
}

// maxVersionLen bounds a version string.
const maxVersionLen = 64

// ParseVersion parses a version string.
func ParseVersion(s string) (Version, error) {
	bad := func(why string) (Version, error) {
		return Version{}, fmt.Errorf("version %q: %s: %w", s, why, ErrInvalidName)
	}
	if len(s) == 0 || len(s) > maxVersionLen {
		return bad("empty or too long")
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
		for _, id := range strings.Split(pre, ".") {
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
	return strconv.ParseUint(s, 10, 64)
}

// String formats v.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// Compare returns -1, 0 or +1 as v is lower than, equal to or higher than w,
// with semver precedence: a pre-release is lower than its release, and
// pre-release identifiers compare numerically when both are numbers,
// lexically otherwise, numbers lower than words.
func (v Version) Compare(w Version) int {
	for _, d := range [][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
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
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func compareIdent(a, b string) int {
	an, bn := isDigits(a), isDigits(b)
	switch {
	case an && bn:
		x, _ := strconv.ParseUint(a, 10, 64)
		y, _ := strconv.ParseUint(b, 10, 64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
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
