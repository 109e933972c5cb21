package updater_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/updater"
	"github.com/vigilhq/vigil/updater/internal/tuftest"
)

// refTimeRepo serves a fresh repository (timestamp valid for one day, snapshot seven).
func refTimeRepo(t *testing.T) (*tuftest.Repo, string) {
	t.Helper()
	repo := tuftest.New(t)
	srv := httptest.NewServer(repo.Handler())
	t.Cleanup(srv.Close)
	return repo, srv.URL + "/tuf/metadata/"
}

// refTimeClient is a TUF client of the repository whose reference time is now (nil: the system
// clock, as in vigil-updater), with its own metadata cache.
func refTimeClient(t *testing.T, repo *tuftest.Repo, url string, now func() time.Time) *updater.TUFClient {
	t.Helper()
	c, err := updater.NewTUFClient(updater.TUFConfig{MetadataURL: url, MetadataDir: t.TempDir(),
		TrustedRoot: repo.RootJSON(1), Now: now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func skewed(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }

// TestRefTimeSystemClock: without TUFConfig.Now (vigil-updater) expiry is judged by the system
// clock: fresh metadata is accepted, a timestamp that expired an hour ago is refused.
func TestRefTimeSystemClock(t *testing.T) {
	repo, url := refTimeRepo(t)
	c := refTimeClient(t, repo, url, nil)
	if _, err := c.Refresh(t.Context()); err != nil {
		t.Fatalf("fresh metadata: %v", err)
	}
	repo.PublishTimestamp(time.Now().Add(-time.Hour))
	_, err := c.Refresh(t.Context())
	mustIs(t, err, updater.ErrSecurity, &metadata.ErrExpiredMetadata{})
}

// TestRefTimeAhead: a clock two days ahead refuses a timestamp that is still valid for a day
// (the installed version keeps running until the clock is right); the same metadata passes on
// the system clock, so it is the clock that decides.
func TestRefTimeAhead(t *testing.T) {
	repo, url := refTimeRepo(t)
	_, err := refTimeClient(t, repo, url, skewed(48*time.Hour)).Refresh(t.Context())
	mustIs(t, err, updater.ErrSecurity, &metadata.ErrExpiredMetadata{})
	if _, err := refTimeClient(t, repo, url, nil).Refresh(t.Context()); err != nil {
		t.Fatalf("the same metadata on the system clock: %v", err)
	}
}

// TestRefTimeBehind: a clock two days behind accepts a timestamp that expired an hour ago (TUF
// has no not-before time, and expiry is all a clock decides: a slow clock widens a freeze
// attack by its skew), still refuses one that expired before its own time, and still refuses
// replayed metadata: version numbers, not the clock, stop rollbacks.
func TestRefTimeBehind(t *testing.T) {
	repo, url := refTimeRepo(t)
	behind := refTimeClient(t, repo, url, skewed(-48*time.Hour))
	if _, err := behind.Refresh(t.Context()); err != nil {
		t.Fatalf("fresh metadata: %v", err)
	}
	expired := repo.PublishTimestamp(time.Now().Add(-time.Hour))
	if _, err := behind.Refresh(t.Context()); err != nil {
		t.Fatalf("a timestamp expired an hour ago, two days behind: %v", err)
	}
	_, err := refTimeClient(t, repo, url, nil).Refresh(t.Context())
	mustIs(t, err, &metadata.ErrExpiredMetadata{}) // the same timestamp on the system clock

	repo.PublishTimestamp(time.Now().Add(24 * time.Hour))
	if _, err := behind.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	repo.WriteMetadata("timestamp.json", expired) // replay the older version
	_, err = behind.Refresh(t.Context())
	mustIs(t, err, updater.ErrSecurity, &metadata.ErrBadVersionNumber{})

	repo.PublishTimestamp(time.Now().Add(-72 * time.Hour)) // expired before the slow clock's time too
	_, err = behind.Refresh(t.Context())
	mustIs(t, err, updater.ErrSecurity, &metadata.ErrExpiredMetadata{})
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
