package updater_test

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/updater"
	"github.com/vigilhq/vigil/updater/internal/tuftest"
)

// delegationRepo publishes: targets delegates A ("a/*") and B ("b/*"), each to its own key; A
// delegates C for "a/*" to key cA, B delegates C for "b/*" to key cB. C lists a/x and b/y and is
// signed by the keys in cSigners. It returns the repository's metadata URL.
func delegationRepo(t *testing.T, cSigners func(cA, cB *tuftest.Key) []*tuftest.Key) (*tuftest.Repo, string) {
	t.Helper()
	repo := tuftest.New(t)
	exp := time.Now().Add(30 * 24 * time.Hour)
	kA, kB, cA, cB := tuftest.NewKey(t), tuftest.NewKey(t), tuftest.NewKey(t), tuftest.NewKey(t)
	delegate := func(md *metadata.Metadata[metadata.TargetsType], child string, k *tuftest.Key, path string) {
		if md.Signed.Delegations == nil {
			md.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
		}
		md.Signed.Delegations.Keys[k.ID()] = k.Public()
		md.Signed.Delegations.Roles = append(md.Signed.Delegations.Roles,
			metadata.DelegatedRole{Name: child, KeyIDs: []string{k.ID()}, Threshold: 1, Paths: []string{path}})
	}
	a, b, c := metadata.Targets(exp), metadata.Targets(exp), metadata.Targets(exp)
	delegate(a, "C", cA, "a/*")
	delegate(b, "C", cB, "b/*")
	for _, p := range []string{"a/x", "b/y"} {
		tf, err := metadata.TargetFile().FromBytes(p, []byte("content of "+p), "sha256")
		if err != nil {
			t.Fatal(err)
		}
		c.Signed.Targets[p] = tf
	}
	repo.PublishDelegated("A", a, kA)
	repo.PublishDelegated("B", b, kB)
	repo.PublishDelegated("C", c, cSigners(cA, cB)...)
	delegate(repo.Targets, "A", kA, "a/*")
	delegate(repo.Targets, "B", kB, "b/*")
	repo.Publish()
	srv := httptest.NewServer(repo.Handler())
	t.Cleanup(srv.Close)
	return repo, srv.URL + "/tuf/metadata/"
}

// TestCachedRoleIsVerifiedAgainstCurrentDelegator is the conformance case
// test_cached_role_is_verified_against_current_delegator: role C, trusted once through A, must
// not be trusted for a target reached through B unless B's keys for C signed it. go-tuf v2.4.2
// keeps every delegated role it loaded in its trusted set and, on a later lookup, returns it for
// any delegator without checking that delegator's keys; the client drops those before each lookup
// so go-tuf loads C again and verifies it against the delegator it reaches it through.
func TestCachedRoleIsVerifiedAgainstCurrentDelegator(t *testing.T) {
	repo, url := delegationRepo(t, func(cA, _ *tuftest.Key) []*tuftest.Key { return []*tuftest.Key{cA} })
	dir := t.TempDir()
	newClient := func() *updater.TUFClient {
		c, err := updater.NewTUFClient(updater.TUFConfig{MetadataURL: url, MetadataDir: dir,
			TrustedRoot: repo.RootJSON(1), Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	r, err := newClient().Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Through A, C is properly signed (cA): a/x resolves, and C is now cached.
	if _, err := r.Target("a/x"); err != nil {
		t.Fatalf("a/x through A: %v", err)
	}
	// Through B, C needs cB's signature, which it lacks: the cached C must not be used.
	if tf, err := r.Target("b/y"); err == nil {
		t.Fatalf("b/y resolved through B from a C that B's key never signed: %+v", tf)
	} else if !errors.Is(err, updater.ErrSecurity) && !errors.Is(err, updater.ErrUnknownVersion) {
		t.Fatalf("b/y: %v, want a security failure or not found", err)
	}
	// The same with C cached on disk and a new client (a later poll), B looked up first.
	r2, err := newClient().Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Target("b/y"); err == nil {
		t.Fatal("b/y resolved through B from the cached C on disk")
	}
	if _, err := r2.Target("a/x"); err != nil {
		t.Fatalf("a/x through A after the refusal: %v", err)
	}
}

// TestDelegatedRoleSignedForBothDelegators: C signed by both delegators' keys resolves through
// each, so the re-verification refuses only what it must.
func TestDelegatedRoleSignedForBothDelegators(t *testing.T) {
	repo, url := delegationRepo(t, func(cA, cB *tuftest.Key) []*tuftest.Key { return []*tuftest.Key{cA, cB} })
	c, err := updater.NewTUFClient(updater.TUFConfig{MetadataURL: url, MetadataDir: t.TempDir(),
		TrustedRoot: repo.RootJSON(1), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/x", "b/y", "a/x"} {
		if _, err := r.Target(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
