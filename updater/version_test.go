package updater_test

import (
	"encoding/json"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/updater"
)

// TestAgreesWithRelease checks that the updater's mirror of the release rules (it cannot import
// release, which links signing) decides exactly as package release does.
func TestAgreesWithRelease(t *testing.T) {
	versions := []string{"1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0", "1.0.0-rc.1", "1.0.0-rc.2", "1.0.0-rc.10",
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "0.9.0", "01.0.0", "1.0", "v1.0.0", "1.0.0+b", "1.0.0-", ""}
	for _, a := range versions {
		for _, b := range versions {
			want, werr := release.CompareVersions(a, b)
			got, gerr := updater.CompareVersions(a, b)
			if (werr == nil) != (gerr == nil) || want != got {
				t.Errorf("CompareVersions(%q, %q) = %d, %v; release says %d, %v", a, b, got, gerr, want, werr)
			}
		}
	}
	targets := map[string]*metadata.TargetFiles{}
	add := func(p string, c updater.Custom) {
		b, _ := json.Marshal(c)
		raw := json.RawMessage(b)
		targets[p] = &metadata.TargetFiles{Length: 1, Hashes: metadata.Hashes{"sha256": make([]byte, 32)}, Custom: &raw, Path: p}
	}
	add("vigil-agent/1.0.0/linux-amd64", updater.Custom{Version: "1.0.0", Channels: []string{"stable"}})
	add("vigil-agent/1.1.0/linux-amd64", updater.Custom{Version: "1.1.0", Channels: []string{"beta"}, MinVersion: "0.9.0"})
	add("vigil-agent/1.2.0-rc.1/linux-amd64", updater.Custom{Version: "1.2.0-rc.1", Channels: []string{"beta"}, MinVersion: "1.0.0"})
	add("vigil-updater/3.0.0/linux-amd64", updater.Custom{Version: "3.0.0", Channels: []string{"stable"}, MinVersion: "2.0.0"})
	tt := &metadata.TargetsType{Targets: targets}
	for _, bin := range []string{updater.BinaryAgent, updater.BinaryUpdater} {
		for _, ch := range []string{"stable", "beta", "nightly"} {
			wv, wok := release.ChannelVersion(tt, bin, ch)
			gv, gok := updater.ChannelVersion(targets, bin, "", ch)
			if wv != gv || wok != gok {
				t.Errorf("ChannelVersion(%s, %s) = %q %v; release says %q %v", bin, ch, gv, gok, wv, wok)
			}
		}
		if w, g := release.Floor(tt, bin), updater.Floor(targets, bin); w != g {
			t.Errorf("Floor(%s) = %q; release says %q", bin, g, w)
		}
		for p, tf := range targets {
			rc, _ := release.ParseCustom(tf)
			uc, _ := updater.ParseCustom(tf)
			if rc.Version != uc.Version || rc.MinVersion != uc.MinVersion || rc.AllowDowngrade != uc.AllowDowngrade || len(rc.Channels) != len(uc.Channels) {
				t.Errorf("ParseCustom(%s) = %+v; release says %+v", p, uc, rc)
			}
		}
		if got, want := updater.TargetPath(bin, "1.0.0", "arm64"), (release.Target{Binary: bin, Version: "1.0.0", Arch: "arm64"}).Path(); got != want {
			t.Errorf("TargetPath = %q, release says %q", got, want)
		}
	}
}

func TestNoChangeRefreshFetchesOnlyTimestamp(t *testing.T) {
	h := newHarness(t)
	u, err := updater.New(h.config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.TUF().Refresh(h.ctx); err != nil {
		t.Fatal(err)
	}
	r0, b0 := u.TUF().Stats()
	if _, err := u.TUF().Refresh(h.ctx); err != nil {
		t.Fatal(err)
	}
	r1, b1 := u.TUF().Stats()
	ts := len(h.repo.ReadMetadata("timestamp.json"))
	t.Logf("no-change refresh: %d requests, %d bytes (timestamp.json is %d bytes; the other request is the 404 for the next root)", r1-r0, b1-b0, ts)
	if r1-r0 != 2 {
		t.Errorf("no-change refresh made %d requests, want 2 (next root 404 + timestamp)", r1-r0)
	}
	if b1-b0 > int64(ts)+200 {
		t.Errorf("no-change refresh fetched %d bytes", b1-b0)
	}
}

func TestCacheDirPermissions(t *testing.T) {
	dir := t.TempDir()
	if err := updater.CheckCacheDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := osChmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	mustIs(t, updater.CheckCacheDir(dir), updater.ErrInsecureCache)
}
