package tlspin

import (
	"strings"
	"testing"
)

func TestParseFingerprint(t *testing.T) {
	ok := strings.Repeat("ab", 32)
	for _, in := range []string{ok, strings.ToUpper(ok), "AB:" + strings.Repeat("ab:", 30) + "ab"} {
		if _, err := ParseFingerprint(in); err != nil {
			t.Errorf("ParseFingerprint(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "abc", strings.Repeat("ab", 31), strings.Repeat("zz", 32), strings.Repeat("ab", 33)} {
		if _, err := ParseFingerprint(in); err == nil {
			t.Errorf("ParseFingerprint(%q) accepted", in)
		}
	}
}
