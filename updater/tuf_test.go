package updater_test

import (
	"testing"

	"github.com/vigilhq/vigil/updater"
)

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
