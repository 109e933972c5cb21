package updater_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilhq/vigil/updater"
	"github.com/vigilhq/vigil/updater/internal/tuftest"
)

// TestFirstInstallFollowsGroupPin: before the agent has enrolled, the first install asks the
// server with the enrollment token and installs the group's pin or channel, not "stable".
func TestFirstInstallFollowsGroupPin(t *testing.T) {
	for _, tt := range []struct {
		name             string
		version, channel string // the group's pin
		token            string
		want             string
	}{
		{"pinned below stable", "1.0.0", "", testEnrollToken, "1.0.0"},
		{"pinned to a version in no channel", "0.9.0", "", testEnrollToken, "0.9.0"},
		{"following beta", "", "beta", testEnrollToken, "1.2.0"},
		{"group pins nothing: stable", "", "", testEnrollToken, "2.0.0"},
		{"no token: stable", "0.9.0", "", "", "2.0.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.publish("good-2.0.0", tuftest.Custom{Channels: []string{"stable"}})
			h.publish("good-1.2.0", tuftest.Custom{Channels: []string{"beta"}})
			h.publish("good-0.9.0", tuftest.Custom{})
			if err := os.Remove(filepath.Join(h.state, "agent", "credential")); err != nil {
				t.Fatal(err)
			}
			h.setDesired(tt.version, tt.channel)
			cfg := h.config()
			cfg.EnrollToken = tt.token
			u, err := updater.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := u.InstallDesired(h.ctx); err != nil || v != tt.want {
				t.Fatalf("InstallDesired = %q, %v; want %s", v, err, tt.want)
			}
		})
	}
}

// TestFirstInstallRefusesWithoutAnswer: a token the server refuses stops the first install
// rather than installing "stable" in place of the operator's choice.
func TestFirstInstallRefusesWithoutAnswer(t *testing.T) {
	h := newHarness(t)
	if err := os.Remove(filepath.Join(h.state, "agent", "credential")); err != nil {
		t.Fatal(err)
	}
	cfg := h.config()
	cfg.EnrollToken = "vge_unknown"
	u, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := u.InstallDesired(h.ctx); err == nil {
		t.Fatalf("InstallDesired with a refused token installed %s", v)
	}
}
