package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/vigilhq/vigil/signing"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// keyCache shares generated keys between tests of one run (never written to
// disk): ed25519 generation is cheap, but this keeps the fixture fast.
var (
	keyMu  sync.Mutex
	keyGen = map[string]*signing.Key{}
)

func testKey(t testing.TB, name string) *signing.Key {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyGen[name]; ok {
		return k
	}
	typ := signing.KeyTypeED25519
	switch {
	case strings.HasPrefix(name, "ecdsa"):
		typ = signing.KeyTypeECDSAP256
	case strings.HasPrefix(name, "rsa"):
		typ = signing.KeyTypeRSAPSS
	}
	k, err := signing.Generate(typ)
	if err != nil {
		t.Fatal(err)
	}
	keyGen[name] = k
	return k
}

// fixture is a repository with 2-of-3 root and targets thresholds and one
// online key for snapshot and timestamp, served over HTTP.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	clock   *clock
	dir     string
	storage *DirStorage
	repo    *Repo
	root    []*signing.Key
	targets []*signing.Key
	online  *signing.Key
	srv     *httptest.Server
	root1   []byte // the initial root, the client's trust anchor
}

type fixtureOpts struct {
	targets []signing.Signer // default: three ed25519 keys
}

func newFixture(t *testing.T) *fixture { return newFixtureOpts(t, fixtureOpts{}) }

func newFixtureOpts(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	f := &fixture{
		t:     t,
		ctx:   context.Background(),
		clock: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		dir:   t.TempDir(),
	}
	f.root = []*signing.Key{testKey(t, "root1"), testKey(t, "root2"), testKey(t, "root3")}
	f.targets = []*signing.Key{testKey(t, "targets1"), testKey(t, "ecdsa-targets2"), testKey(t, "rsa-targets3")}
	f.online = testKey(t, "online")
	var err error
	if f.storage, err = NewDirStorage(f.dir); err != nil {
		t.Fatal(err)
	}
	f.repo, err = New(Config{
		Storage:    f.storage,
		OnlineKeys: []signing.Signer{f.online},
		Now:        f.clock.Now,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	targetSigners := o.targets
	if targetSigners == nil {
		for _, k := range f.targets {
			targetSigners = append(targetSigners, k)
		}
	}
	rootJSON, err := BuildRoot(RootSpec{
		Expires:   f.clock.Now().Add(365 * 24 * time.Hour),
		Root:      RoleKeys{Keys: tufKeys(f.root...), Threshold: 2},
		Targets:   RoleKeys{Keys: tufKeys(targetSigners...), Threshold: 2},
		Snapshot:  RoleKeys{Keys: tufKeys(f.online)},
		Timestamp: RoleKeys{Keys: tufKeys(f.online)},
	})
	if err != nil {
		t.Fatal(err)
	}
	rootJSON = f.sign(rootJSON, f.root[0], f.root[1])
	targetsJSON, err := EmptyTargets(f.clock.Now().Add(90 * 24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	targetsJSON = f.sign(targetsJSON, targetSigners[1], targetSigners[2])
	if err := f.repo.Init(f.ctx, rootJSON, targetsJSON); err != nil {
		t.Fatalf("Init: %v", err)
	}
	f.root1 = rootJSON

	mux := http.NewServeMux()
	mux.Handle("/metadata/", http.StripPrefix("/metadata/", http.FileServer(http.Dir(f.storage.MetadataPath()))))
	mux.Handle("/targets/", http.StripPrefix("/targets/", http.FileServer(http.Dir(f.storage.TargetsPath()))))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func tufKeys[S signing.Signer](ks ...S) []*metadata.Key {
	var out []*metadata.Key
	for _, k := range ks {
		out = append(out, k.TUFKey())
	}
	return out
}

// sign adds the signatures of keys to root or targets metadata.
func (f *fixture) sign(data []byte, keys ...signing.Signer) []byte {
	f.t.Helper()
	for _, k := range keys {
		var err error
		if data, _, err = SignMetadata(f.ctx, data, k); err != nil {
			f.t.Fatalf("SignMetadata: %v", err)
		}
	}
	return data
}

// signDraft signs a draft offline with each key and adds the signature.
func (f *fixture) signDraft(name string, keys ...signing.Signer) DraftInfo {
	f.t.Helper()
	var di DraftInfo
	for _, k := range keys {
		d, err := f.repo.Draft(f.ctx, name)
		if err != nil {
			f.t.Fatal(err)
		}
		_, sig, err := SignMetadata(f.ctx, d, k)
		if err != nil {
			f.t.Fatal(err)
		}
		if di, err = f.repo.AddSignature(f.ctx, name, sig); err != nil {
			f.t.Fatalf("AddSignature(%s): %v", k.KeyID(), err)
		}
	}
	return di
}

// upload uploads builds (artifact name → content) for version.
func (f *fixture) upload(version string, builds map[string]string) []ArtifactInfo {
	f.t.Helper()
	var arts []ArtifactInfo
	for name, body := range builds {
		sum := sha256.Sum256([]byte(body))
		a := ArtifactInfo{Name: name, Length: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
		if err := f.repo.UploadArtifact(f.ctx, version, a, strings.NewReader(body)); err != nil {
			f.t.Fatalf("UploadArtifact: %v", err)
		}
		arts = append(arts, a)
	}
	return arts
}

// release uploads, stages, signs (targets keys 1 and 2) and publishes version.
func (f *fixture) release(version string, builds map[string]string, opts StageOptions) {
	f.t.Helper()
	if _, err := f.repo.Stage(f.ctx, version, f.upload(version, builds), opts); err != nil {
		f.t.Fatalf("Stage: %v", err)
	}
	f.signDraft(version, f.targets[0], f.targets[1])
	if err := f.repo.Publish(f.ctx, version); err != nil {
		f.t.Fatalf("Publish: %v", err)
	}
}

// client is a stock go-tuf updater over the fixture's HTTP server, with its
// own metadata cache; trust is the initial root.
type client struct {
	f        *fixture
	cacheDir string
}

func (f *fixture) newClient() *client {
	return &client{f: f, cacheDir: f.t.TempDir()}
}

// updater makes a new go-tuf updater (one per refresh, as vigil-updater
// does), trusting the newest root in the cache, at reference time now.
func (c *client) updater(now time.Time) (*updater.Updater, error) {
	trusted := c.f.root1
	if b, err := readFile(filepath.Join(c.cacheDir, "metadata", "root.json")); err == nil {
		trusted = b
	}
	cfg, err := config.New(c.f.srv.URL+"/metadata", trusted)
	if err != nil {
		return nil, err
	}
	cfg.RemoteTargetsURL = c.f.srv.URL + "/targets"
	cfg.LocalMetadataDir = filepath.Join(c.cacheDir, "metadata")
	cfg.LocalTargetsDir = filepath.Join(c.cacheDir, "targets")
	// Not SetDefaultFetcherRetry(…, 0): zero tries means retry forever, 404s included.
	if err := cfg.SetDefaultFetcherHTTPClient(&http.Client{Timeout: 10 * time.Second}); err != nil {
		return nil, err
	}
	up, err := updater.New(cfg)
	if err != nil {
		return nil, err
	}
	up.UnsafeSetRefTime(now.UTC())
	return up, nil
}

// refresh refreshes at now and returns the updater.
func (c *client) refresh(now time.Time) (*updater.Updater, error) {
	up, err := c.updater(now)
	if err != nil {
		return nil, err
	}
	return up, up.Refresh()
}

// download fetches a target with a refreshed updater.
func (c *client) download(up *updater.Updater, path string) ([]byte, error) {
	ti, err := up.GetTargetInfo(path)
	if err != nil {
		return nil, err
	}
	_, data, err := up.DownloadTarget(ti, filepath.Join(c.cacheDir, "dl-"+hex.EncodeToString([]byte(path))), "")
	return data, err
}

func readFile(p string) ([]byte, error) {
	f, err := openFile(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}
