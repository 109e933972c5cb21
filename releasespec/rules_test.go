package releasespec

import (
	"encoding/json"
	"errors"
	"testing"
)

// listing builds a Listing; a Custom with an empty Version is stored as no custom metadata.
func listing(t *testing.T, entries map[string]Custom) Listing {
	t.Helper()
	l := Listing{}
	for p, c := range entries {
		if c.Version == "" {
			l[p] = nil
			continue
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		l[p] = b
	}
	return l
}

func fleetListing(t *testing.T) Listing {
	l := listing(t, map[string]Custom{
		"vigil-agent/1.0.0/linux-amd64":      {Version: "1.0.0", Channels: []string{"stable"}},
		"vigil-agent/1.0.0/linux-arm64":      {Version: "1.0.0", Channels: []string{"stable"}},
		"vigil-agent/1.1.0/linux-amd64":      {Version: "1.1.0", Channels: []string{"beta"}, MinVersion: "0.9.0"},
		"vigil-agent/1.2.0-rc.1/linux-amd64": {Version: "1.2.0-rc.1", Channels: []string{"beta"}, MinVersion: "1.0.0"},
		"vigil-agent/0.9.0/linux-arm64":      {Version: "0.9.0", Channels: []string{"old"}},
		"vigil-updater/3.0.0/linux-amd64":    {Version: "3.0.0", Channels: []string{"stable"}, MinVersion: "2.0.0"},
		"vigil-updater/2.0.0/linux-arm64":    {Version: "2.0.0", Channels: []string{"stable"}},
		// Malformed entries: ignored by every rule, whatever they claim.
		"vigil-agent/9.0.0/linux-amd64":   {Version: "9.9.9", Channels: []string{"stable", "beta"}, MinVersion: "9.0.0"},
		"vigil-agent/8.0.0/linux-sparc":   {Version: "8.0.0", Channels: []string{"stable"}, MinVersion: "8.0.0"},
		"vigil-agent/7.0.0/linux-amd64/x": {Version: "7.0.0", Channels: []string{"stable"}},
		"vigil-agent/6.0.0/linux-amd64":   {}, // no custom metadata
		"dir/artifact.txt":                {Version: "5.0.0", Channels: []string{"stable"}, MinVersion: "5.0.0"},
	})
	l["vigil-agent/4.0.0/linux-amd64"] = json.RawMessage(`{"version":"4.0.0","channels":["stable"],"min_version":"4.0.0"`)
	return l
}

func TestChannelVersion(t *testing.T) {
	l := fleetListing(t)
	tests := []struct {
		binary, arch, channel string
		want                  string // "" for none
	}{
		{BinaryAgent, "amd64", "stable", "1.0.0"},
		{BinaryAgent, "amd64", "beta", "1.2.0-rc.1"}, // the highest on the channel, pre-release or not
		{BinaryAgent, "arm64", "beta", ""},           // no arm64 build on beta
		{BinaryAgent, "arm64", "old", "0.9.0"},
		{BinaryAgent, "amd64", "old", ""},
		{BinaryAgent, "", "old", "0.9.0"}, // any architecture
		{BinaryAgent, "amd64", "nightly", ""},
		{BinaryUpdater, "amd64", "stable", "3.0.0"},
		{BinaryUpdater, "arm64", "stable", "2.0.0"},
		{BinaryUpdater, "", "stable", "3.0.0"},
		{BinaryUpdater, "amd64", "beta", ""},
		{"vigil-server", "amd64", "stable", ""},
	}
	for _, tt := range tests {
		got, ok := ChannelVersion(l, tt.binary, tt.arch, tt.channel)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("ChannelVersion(%s, %q, %s) = %q, %v; want %q", tt.binary, tt.arch, tt.channel, got, ok, tt.want)
		}
	}
	if v, ok := ChannelVersion(nil, BinaryAgent, "", "stable"); ok || v != "" {
		t.Errorf("ChannelVersion(nil) = %q, %v", v, ok)
	}
}

func TestFloor(t *testing.T) {
	l := fleetListing(t)
	if got := Floor(l, BinaryAgent); got != "1.0.0" {
		t.Errorf("Floor(agent) = %q, want 1.0.0 (the highest well-formed min_version)", got)
	}
	if got := Floor(l, BinaryUpdater); got != "2.0.0" {
		t.Errorf("Floor(updater) = %q, want 2.0.0", got)
	}
	if got := Floor(listing(t, map[string]Custom{"vigil-agent/1.0.0/linux-amd64": {Version: "1.0.0"}}), BinaryAgent); got != "" {
		t.Errorf("Floor without min_version = %q, want none", got)
	}
	// Floors compare by precedence, not as strings.
	l = listing(t, map[string]Custom{
		"vigil-agent/1.10.0/linux-amd64": {Version: "1.10.0", MinVersion: "1.10.0"},
		"vigil-agent/1.9.0/linux-amd64":  {Version: "1.9.0", MinVersion: "1.9.0"},
		"vigil-agent/2.0.0/linux-amd64":  {Version: "2.0.0", MinVersion: "1.10.0-rc.1"},
	})
	if got := Floor(l, BinaryAgent); got != "1.10.0" {
		t.Errorf("Floor = %q, want 1.10.0", got)
	}
}

func TestCheckInstall(t *testing.T) {
	l := listing(t, map[string]Custom{
		"vigil-agent/0.9.0/linux-amd64":      {Version: "0.9.0"},
		"vigil-agent/0.9.5/linux-amd64":      {Version: "0.9.5", AllowDowngrade: true},
		"vigil-agent/1.0.0/linux-amd64":      {Version: "1.0.0"},
		"vigil-agent/1.2.0/linux-amd64":      {Version: "1.2.0", AllowDowngrade: true},
		"vigil-agent/1.5.0-rc.1/linux-amd64": {Version: "1.5.0-rc.1"},
		"vigil-agent/2.0.0/linux-amd64":      {Version: "2.0.0", MinVersion: "1.0.0"},
		"vigil-updater/0.1.0/linux-amd64":    {Version: "0.1.0"}, // other binary: other floor
	})
	tests := []struct {
		name, path, installed string
		want                  error
	}{
		{"upgrade", "vigil-agent/2.0.0/linux-amd64", "1.0.0", nil},
		{"first install", "vigil-agent/1.0.0/linux-amd64", "", nil},
		{"same version", "vigil-agent/1.0.0/linux-amd64", "1.0.0", nil},
		{"pre-release above installed", "vigil-agent/1.5.0-rc.1/linux-amd64", "1.2.0", nil},
		{"at the floor", "vigil-agent/1.0.0/linux-amd64", "1.0.0", nil},
		{"below the floor", "vigil-agent/0.9.0/linux-amd64", "", ErrBelowFloor},
		{"below the floor, downgrade allowed", "vigil-agent/0.9.5/linux-amd64", "2.0.0", ErrBelowFloor},
		{"downgrade", "vigil-agent/1.0.0/linux-amd64", "2.0.0", ErrDowngrade},
		{"downgrade below a pre-release", "vigil-agent/1.0.0/linux-amd64", "1.0.1-rc.1", ErrDowngrade},
		{"signed downgrade", "vigil-agent/1.2.0/linux-amd64", "2.0.0", nil},
		{"other binary's floor", "vigil-updater/0.1.0/linux-amd64", "", nil},
		{"installed version malformed", "vigil-agent/2.0.0/linux-amd64", "2.0", ErrInvalidVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ParseBuild(tt.path, l[tt.path])
			if err != nil {
				t.Fatal(err)
			}
			err = CheckInstall(l, b, tt.installed)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("CheckInstall(%s over %q) = %v, want %v", tt.path, tt.installed, err, tt.want)
			}
		})
	}
}
