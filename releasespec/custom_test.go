package releasespec

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestValidateChannel(t *testing.T) {
	for _, c := range []string{"stable", "beta", "a", "canary-2", "x" + strings.Repeat("9", MaxChannelLen-1)} {
		if err := ValidateChannel(c); err != nil {
			t.Errorf("ValidateChannel(%q) = %v", c, err)
		}
	}
	for _, c := range []string{"", "Stable", "2fast", "-beta", "be ta", "beta_1", "bêta", "a" + strings.Repeat("b", MaxChannelLen)} {
		if err := ValidateChannel(c); !errors.Is(err, ErrInvalidChannel) {
			t.Errorf("ValidateChannel(%q) = %v, want ErrInvalidChannel", c, err)
		}
	}
}

func TestParseCustom(t *testing.T) {
	channels := func(n int) string {
		cs := make([]string, n)
		for i := range cs {
			cs[i] = fmt.Sprintf("%q", fmt.Sprintf("c%d", i))
		}
		return "[" + strings.Join(cs, ",") + "]"
	}
	tests := []struct {
		name  string
		raw   string
		want  Custom
		cause error // besides ErrInvalidCustom; nil for valid input
		ok    bool
	}{
		{"full", `{"version":"1.2.3","channels":["beta","stable"],"min_version":"1.1.0","allow_downgrade":true}`,
			Custom{Version: "1.2.3", Channels: []string{"beta", "stable"}, MinVersion: "1.1.0", AllowDowngrade: true}, nil, true},
		{"minimal", `{"version":"1.2.3"}`, Custom{Version: "1.2.3"}, nil, true},
		{"null channels", `{"version":"1.2.3","channels":null,"min_version":""}`, Custom{Version: "1.2.3"}, nil, true},
		{"unknown fields ignored", `{"version":"1.2.3","channels":[],"rollout":{"x":1}}`, Custom{Version: "1.2.3", Channels: []string{}}, nil, true},
		{"most channels", `{"version":"1.2.3","channels":` + channels(MaxChannels) + `}`, Custom{}, nil, true},
		{"empty", ``, Custom{}, nil, false},
		{"null", `null`, Custom{}, ErrInvalidVersion, false},
		{"not an object", `[1,2]`, Custom{}, nil, false},
		{"truncated", `{"version":"1.2.3"`, Custom{}, nil, false},
		{"no version", `{"channels":["stable"]}`, Custom{}, ErrInvalidVersion, false},
		{"bad version", `{"version":"v1.2.3"}`, Custom{}, ErrInvalidVersion, false},
		{"version not a string", `{"version":123}`, Custom{}, nil, false},
		{"bad min_version", `{"version":"1.2.3","min_version":"1.0"}`, Custom{}, ErrInvalidVersion, false},
		{"bad channel", `{"version":"1.2.3","channels":["Stable"]}`, Custom{}, ErrInvalidChannel, false},
		{"too many channels", `{"version":"1.2.3","channels":` + channels(MaxChannels+1) + `}`, Custom{}, nil, false},
		{"too large", `{"version":"1.2.3","pad":"` + strings.Repeat("x", MaxCustomSize) + `"}`, Custom{}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCustom([]byte(tt.raw))
			if !tt.ok {
				if !errors.Is(err, ErrInvalidCustom) || (tt.cause != nil && !errors.Is(err, tt.cause)) {
					t.Fatalf("ParseCustom = %+v, %v; want ErrInvalidCustom (cause %v)", got, err, tt.cause)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCustom: %v", err)
			}
			if tt.want.Version != "" && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCustom = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseBuild(t *testing.T) {
	b, err := ParseBuild("vigil-agent/1.2.3-rc.1/linux-arm64", []byte(`{"version":"1.2.3-rc.1","channels":["beta"]}`))
	want := Build{Target: Target{BinaryAgent, "1.2.3-rc.1", "arm64"}, Version: Version{1, 2, 3, "rc.1"},
		Custom: Custom{Version: "1.2.3-rc.1", Channels: []string{"beta"}}}
	if err != nil || !reflect.DeepEqual(b, want) {
		t.Errorf("ParseBuild = %+v, %v; want %+v", b, err, want)
	}
	if _, err := ParseBuild("vigil-agent/1.2.3/linux-amd64", []byte(`{"version":"1.2.4"}`)); !errors.Is(err, ErrInvalidCustom) {
		t.Errorf("version disagreeing with the path: %v, want ErrInvalidCustom", err)
	}
	if _, err := ParseBuild("vigil-agent/1.2.3/linux-amd64", nil); !errors.Is(err, ErrInvalidCustom) {
		t.Errorf("no custom metadata: %v, want ErrInvalidCustom", err)
	}
	if _, err := ParseBuild("dir/artifact.txt", []byte(`{"version":"1.2.3"}`)); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("not a build path: %v, want ErrInvalidTarget", err)
	}
}

// FuzzParseCustom: arbitrary bytes never panic, errors match ErrInvalidCustom, and whatever
// parses is within the limits and survives a round trip through JSON unchanged.
func FuzzParseCustom(f *testing.F) {
	f.Add([]byte(`{"version":"1.2.3","channels":["beta","stable"],"min_version":"1.1.0","allow_downgrade":true}`))
	f.Add([]byte(`{"version":"1.0.0-rc.1","channels":null}`))
	f.Add([]byte(`{"version":"1.2.3","channels":["a","a"],"x":[{}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseCustom(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidCustom) {
				t.Fatalf("ParseCustom(%q): %v does not match ErrInvalidCustom", raw, err)
			}
			return
		}
		if len(raw) > MaxCustomSize || len(c.Channels) > MaxChannels {
			t.Fatalf("ParseCustom accepted %d bytes, %d channels", len(raw), len(c.Channels))
		}
		if _, err := ParseVersion(c.Version); err != nil {
			t.Fatalf("ParseCustom accepted version %q", c.Version)
		}
		for _, ch := range c.Channels {
			if ValidateChannel(ch) != nil {
				t.Fatalf("ParseCustom accepted channel %q", ch)
			}
		}
		again, _ := json.Marshal(c)
		c2, err := ParseCustom(again)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", again, c2, err, c)
		}
	})
}
