package releasespec

import (
	"errors"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	valid := []struct {
		in   string
		want Version
	}{
		{"0.0.0", Version{}},
		{"1.2.3", Version{1, 2, 3, ""}},
		{"10.20.30", Version{10, 20, 30, ""}},
		{"1.2.3-rc.1", Version{1, 2, 3, "rc.1"}},
		{"1.2.3-0", Version{1, 2, 3, "0"}},
		{"1.2.3-alpha-1.x-y", Version{1, 2, 3, "alpha-1.x-y"}},
		{"1.2.3-0a.01a", Version{1, 2, 3, "0a.01a"}}, // alphanumeric identifiers may start with 0
		{"18446744073709551615.0.0", Version{Major: 1<<64 - 1}},
		{"1.0.0-" + strings.Repeat("a", MaxVersionLen-6), Version{1, 0, 0, strings.Repeat("a", MaxVersionLen-6)}},
	}
	for _, tt := range valid {
		v, err := ParseVersion(tt.in)
		if err != nil || v != tt.want {
			t.Errorf("ParseVersion(%q) = %+v, %v; want %+v", tt.in, v, err, tt.want)
			continue
		}
		if v.String() != tt.in {
			t.Errorf("ParseVersion(%q).String() = %q", tt.in, v.String())
		}
	}
	invalid := []string{
		"", "1", "1.2", "1.2.3.4", "v1.2.3", "V1.2.3", " 1.2.3", "1.2.3 ", "01.2.3", "1.02.3", "1.2.03",
		"1.2.3-", "1.2.3-a..b", "1.2.3-.a", "1.2.3-a.", "1.2.3+build", "1.2.3-rc+b", "1.2.3-01", "1.2.3-rc.00",
		"1.2.x", "-1.2.3", "1.-2.3", "1.2.3-ü", "1.2.3-a_b", "1..3", "18446744073709551616.0.0",
		"1.0.0-99999999999999999999", "1.0.0-" + strings.Repeat("a", MaxVersionLen-5),
	}
	for _, s := range invalid {
		if v, err := ParseVersion(s); !errors.Is(err, ErrInvalidVersion) {
			t.Errorf("ParseVersion(%q) = %+v, %v; want ErrInvalidVersion", s, v, err)
		}
	}
}

func TestParseVersionErrorIsBounded(t *testing.T) {
	_, err := ParseVersion(strings.Repeat("9", 1<<20))
	if !errors.Is(err, ErrInvalidVersion) || len(err.Error()) > 2*MaxVersionLen+100 {
		t.Errorf("error for a 1 MiB version: %d bytes, %v", len(err.Error()), errors.Unwrap(err))
	}
}

// ascending lists versions in strictly increasing precedence, as implemented: every pair is
// checked, so the order is total, antisymmetric and transitive on these.
var ascending = []string{
	"0.0.0", "0.0.1", "0.9.0",
	"1.0.0-0", "1.0.0-2", "1.0.0-10", "1.0.0-a", // numbers below words, numbers numerically
	"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
	"1.0.0-rc.1", "1.0.0-rc.2", "1.0.0-rc.10", "1.0.0",
	"1.0.1", "1.1.0", "1.9.9", "1.10.0", "2.0.0-rc.1", "2.0.0", "10.0.0",
}

func TestCompareVersions(t *testing.T) {
	for i, a := range ascending {
		for j, b := range ascending {
			want := cmpUint(uint64(i), uint64(j))
			if got, err := CompareVersions(a, b); err != nil || got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d", a, b, got, err, want)
			}
		}
	}
	for _, bad := range [][2]string{{"1.0", "1.0.0"}, {"1.0.0", "v1.0.0"}} {
		if _, err := CompareVersions(bad[0], bad[1]); !errors.Is(err, ErrInvalidVersion) {
			t.Errorf("CompareVersions(%q, %q): %v, want ErrInvalidVersion", bad[0], bad[1], err)
		}
	}
}

// FuzzParseVersion: whatever parses has exactly one spelling (it re-renders to the input and
// compares equal only to itself), and Compare is antisymmetric and transitive.
func FuzzParseVersion(f *testing.F) {
	for i, v := range ascending {
		f.Add(v, ascending[(i+3)%len(ascending)], ascending[(i+7)%len(ascending)])
	}
	f.Add("1.2.3-01", "01.0.0", "1.0.0+b")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		va, erra := ParseVersion(a)
		vb, errb := ParseVersion(b)
		vc, errc := ParseVersion(c)
		for _, p := range []struct {
			s   string
			v   Version
			err error
		}{{a, va, erra}, {b, vb, errb}, {c, vc, errc}} {
			if p.err != nil {
				if !errors.Is(p.err, ErrInvalidVersion) {
					t.Fatalf("ParseVersion(%q) error %v does not match ErrInvalidVersion", p.s, p.err)
				}
				continue
			}
			if p.v.String() != p.s || len(p.s) > MaxVersionLen {
				t.Fatalf("ParseVersion(%q) = %+v, renders %q", p.s, p.v, p.v.String())
			}
			if p.v.Compare(p.v) != 0 {
				t.Fatalf("%q does not compare equal to itself", p.s)
			}
		}
		if erra != nil || errb != nil {
			return
		}
		ab, ba := va.Compare(vb), vb.Compare(va)
		if ab != -ba || (ab == 0) != (a == b) {
			t.Fatalf("Compare(%q, %q) = %d, reverse %d", a, b, ab, ba)
		}
		if errc != nil {
			return
		}
		if ab <= 0 && vb.Compare(vc) <= 0 && va.Compare(vc) > 0 {
			t.Fatalf("not transitive: %q <= %q <= %q but %q > %q", a, b, c, a, c)
		}
	})
}
