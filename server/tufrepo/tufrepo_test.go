package tufrepo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/signing"
)

func keyID(k *metadata.Key) string {
	id, _ := k.ID()
	return id
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestOnlineKeysEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(Config{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, KeysDir)
	if _, err := os.Stat(keys); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("online keys made before anything needed them: %v", err)
	}
	a, err := r.OnlineKeys()
	if err != nil {
		t.Fatal(err)
	}
	if keyID(a.Snapshot[0]) == keyID(a.Timestamp[0]) {
		t.Error("snapshot and timestamp share a key")
	}
	if m := mode(t, keys); m != 0o700 {
		t.Errorf("%s mode %o, want 700", keys, m)
	}
	for _, f := range []string{snapshotKeyFile, timestampKeyFile, passphraseFileName} {
		p := filepath.Join(keys, f)
		if m := mode(t, p); m != 0o600 {
			t.Errorf("%s mode %o, want 600", p, m)
		}
	}
	for _, f := range []string{snapshotKeyFile, timestampKeyFile} {
		b, _ := os.ReadFile(filepath.Join(keys, f))
		if !bytes.Contains(b, []byte("ENCRYPTED SIGSTORE PRIVATE KEY")) || bytes.Contains(b, []byte("BEGIN PRIVATE KEY")) {
			t.Errorf("%s is not an encrypted key file:\n%s", f, b)
		}
	}
}

// TestOnlineKeysSurviveRestart: a restart loads the same keys, and without the generated
// passphrase the keys cannot be loaded.
func TestOnlineKeysSurviveRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("derives more scrypt keys; skipped with -short")
	}
	dir := t.TempDir()
	r, err := Open(Config{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a, err := r.OnlineKeys()
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, KeysDir)
	again, err := Open(Config{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	b, err := again.OnlineKeys()
	if err != nil {
		t.Fatal(err)
	}
	if keyID(a.Snapshot[0]) != keyID(b.Snapshot[0]) || keyID(a.Timestamp[0]) != keyID(b.Timestamp[0]) {
		t.Fatal("online keys changed across restarts")
	}
	// Without the generated passphrase the keys cannot be loaded: the server says why.
	os.Remove(filepath.Join(keys, passphraseFileName))
	if _, err := Open(Config{DataDir: dir, Logger: quiet}); err == nil {
		t.Fatal("opened the keys without their passphrase")
	}
}

func TestOnlineKeysPassphraseFile(t *testing.T) {
	if testing.Short() {
		t.Skip("four scrypt key derivations; skipped with -short")
	}
	dir := t.TempDir()
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("operator secret\n"), 0o600)
	r, err := Open(Config{DataDir: dir, PassphraseFile: pass, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.OnlineKeys(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeysDir, passphraseFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a passphrase was generated although a file was given: %v", err)
	}
	os.WriteFile(pass, []byte("wrong\n"), 0o600)
	if _, err := Open(Config{DataDir: dir, PassphraseFile: pass, Logger: quiet}); err == nil {
		t.Fatal("opened the keys with a wrong passphrase")
	}
	if _, err := Open(Config{DataDir: dir, PassphraseFile: filepath.Join(dir, "missing"), Logger: quiet}); err == nil {
		t.Fatal("opened with a missing passphrase file")
	}
}

// TestOnlineKeysPassphraseGiven: the passphrase can be given itself (VIGIL_ONLINE_KEY_PASSPHRASE);
// then none is written into the data directory, the keys open again with it and not with another,
// and a file and a passphrase together are refused.
func TestOnlineKeysPassphraseGiven(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt key derivations; skipped with -short")
	}
	dir := t.TempDir()
	r, err := Open(Config{DataDir: dir, Passphrase: []byte("from the environment"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.OnlineKeys(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, KeysDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, KeysDir, e.Name()))
		if e.Name() == passphraseFileName || bytes.Contains(b, []byte("from the environment")) {
			t.Fatalf("the passphrase was written into the data directory (%s)", e.Name())
		}
	}
	if _, err := Open(Config{DataDir: dir, Passphrase: []byte("from the environment"), Logger: quiet}); err != nil {
		t.Fatalf("reopen with the same passphrase: %v", err)
	}
	if _, err := Open(Config{DataDir: dir, Passphrase: []byte("another"), Logger: quiet}); err == nil {
		t.Fatal("opened the keys with a wrong passphrase")
	}
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("from the environment\n"), 0o600)
	if _, err := Open(Config{DataDir: dir, PassphraseFile: pass, Passphrase: []byte("x"), Logger: quiet}); err == nil {
		t.Fatal("accepted a passphrase file and a passphrase together")
	}
	if _, err := Open(Config{DataDir: dir, Passphrase: []byte{}, Logger: quiet}); err == nil {
		t.Fatal("accepted an empty passphrase")
	}
}

// TestPassphraseFileInsideDataDirWarned: a passphrase file inside the data directory works but is
// called out in the log, since it protects nothing against a copy of the directory.
func TestPassphraseFileInsideDataDirWarned(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		path string
		warn bool
	}{
		{filepath.Join(dir, "secrets", "pass"), true},
		{filepath.Join(t.TempDir(), "pass"), false},
		{dir + "-other/pass", false},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		if _, err := Open(Config{DataDir: dir, PassphraseFile: c.path, Logger: log}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(buf.String(), "inside the data directory"); got != c.warn {
			t.Errorf("%s: warned %t, want %t\n%s", c.path, got, c.warn, buf.String())
		}
	}
}

type fakeLeader struct{ leader bool }

func (f *fakeLeader) TryAcquire(context.Context) (bool, error) { return f.leader, nil }
func (f *fakeLeader) Release(context.Context) error            { f.leader = false; return nil }

func TestRefreshOnlyOnLeader(t *testing.T) {
	l := &fakeLeader{}
	r, err := Open(Config{DataDir: t.TempDir(), Leader: l, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if r.Refresh(t.Context()) {
		t.Fatal("a follower refreshed")
	}
	l.leader = true
	if !r.Refresh(t.Context()) { // not initialized: nothing to do, no error
		t.Fatal("the leader did not refresh")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r.Run(ctx) // returns at once and gives leadership up
	if l.leader {
		t.Fatal("Run did not release leadership")
	}
}

func TestHandler(t *testing.T) {
	r, err := Open(Config{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	md := r.storage.MetadataPath()
	for name, body := range map[string]string{
		"timestamp.json": `{"t":1}`, "root.json": `{"r":1}`, "1.root.json": `{"r":1}`, ".tmp-1-timestamp.json": "partial",
	} {
		os.WriteFile(filepath.Join(md, name), []byte(body), 0o644)
	}
	os.WriteFile(filepath.Join(r.Dir(), release.DraftsDir, "1.0.0.targets.json"), []byte("draft"), 0o644)
	os.MkdirAll(filepath.Join(r.storage.TargetsPath(), "vigil-agent", "1.0.0"), 0o755)
	blob := "vigil-agent/1.0.0/" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.linux-amd64"
	os.WriteFile(filepath.Join(r.storage.TargetsPath(), filepath.FromSlash(blob)), []byte("0123456789"), 0o644)
	os.Symlink(filepath.Join(r.Dir(), release.DraftsDir, "1.0.0.targets.json"), filepath.Join(md, "2.root.json"))

	h := r.Handler()
	for _, tt := range []struct {
		method, path, rng string
		status            int
		cache, body       string
	}{
		{"GET", "/tuf/metadata/timestamp.json", "", 200, "no-store", `{"t":1}`},
		{"GET", "/tuf/metadata/root.json", "", 200, "no-cache", `{"r":1}`},
		{"GET", "/tuf/metadata/1.root.json", "", 200, cacheImmutable, `{"r":1}`},
		{"HEAD", "/tuf/metadata/1.root.json", "", 200, cacheImmutable, ""},
		{"GET", "/tuf/metadata/3.root.json", "", 404, "no-store", ""},
		{"GET", "/tuf/metadata/2.root.json", "", 404, "no-store", ""}, // symlink out of the directory
		{"GET", "/tuf/metadata/.tmp-1-timestamp.json", "", 404, "no-store", ""},
		{"GET", "/tuf/metadata/../drafts/1.0.0.targets.json", "", 404, "no-store", ""},
		{"GET", "/tuf/targets/../drafts/1.0.0.targets.json", "", 404, "no-store", ""},
		{"GET", "/tuf/targets/" + blob, "", 404, "no-store", ""}, // in the directory, but no signed metadata names it
		{"GET", "/tuf/targets/vigil-agent/1.0.0", "", 404, "no-store", ""},
		{"POST", "/tuf/metadata/root.json", "", 405, "no-store", ""},
	} {
		req := httptest.NewRequest(tt.method, "/", nil)
		req.URL.Path = tt.path
		if tt.rng != "" {
			req.Header.Set("Range", tt.rng)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status || rec.Header().Get("Cache-Control") != tt.cache || (tt.body != "" && rec.Body.String() != tt.body) {
			t.Errorf("%s %s: %d %q %q, want %d %q %q", tt.method, tt.path, rec.Code, rec.Header().Get("Cache-Control"), rec.Body.String(), tt.status, tt.cache, tt.body)
		}
		if rec.Code == http.StatusOK && tt.method == "GET" && rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: Content-Type %q", tt.path, rec.Header().Get("Content-Type"))
		}
	}
}

// publishedRepo initializes r with a 1-of-1 root and targets key and publishes release 1.0.0
// with one agent build; it returns the build's content, the repository and the targets key.
func publishedRepo(t *testing.T, r *Repository) (body string, repo *release.Repo, targetsKey *signing.Key) {
	t.Helper()
	ctx := t.Context()
	rootKey, err := signing.Generate(signing.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	targetsKey, err = signing.Generate(signing.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	online, err := r.OnlineKeys()
	if err != nil {
		t.Fatal(err)
	}
	rootJSON, err := release.BuildRoot(release.RootSpec{
		Expires:   time.Now().Add(365 * 24 * time.Hour),
		Root:      release.RoleKeys{Keys: []*metadata.Key{rootKey.TUFKey()}, Threshold: 1},
		Targets:   release.RoleKeys{Keys: []*metadata.Key{targetsKey.TUFKey()}, Threshold: 1},
		Snapshot:  release.RoleKeys{Keys: online.Snapshot, Threshold: 1},
		Timestamp: release.RoleKeys{Keys: online.Timestamp, Threshold: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rootJSON, _, err = release.SignMetadata(ctx, rootJSON, rootKey); err != nil {
		t.Fatal(err)
	}
	if repo, err = r.Repo(); err != nil {
		t.Fatal(err)
	}
	body = "agent 1.0.0 amd64"
	sum := sha256.Sum256([]byte(body))
	a := release.ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
	// Before the repository exists, an upload is refused and says what to do.
	if err := repo.UploadArtifact(ctx, "1.0.0", a, strings.NewReader(body)); !errors.Is(err, release.ErrNotInitialized) || !strings.Contains(err.Error(), "vigilctl repo init") {
		t.Fatalf("upload before init: %v", err)
	}
	if err := repo.Init(ctx, rootJSON, nil); err != nil {
		t.Fatal(err)
	}
	if err := repo.UploadArtifact(ctx, "1.0.0", a, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Stage(ctx, "1.0.0", []release.ArtifactInfo{a}, release.StageOptions{}); err != nil {
		t.Fatal(err)
	}
	publishSigned(t, repo, "1.0.0", targetsKey)
	return body, repo, targetsKey
}

// publishSigned signs draft name with key and publishes it.
func publishSigned(t *testing.T, repo *release.Repo, name string, key *signing.Key) {
	t.Helper()
	draft, err := repo.Draft(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	_, sig, err := release.SignMetadata(t.Context(), draft, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.AddSignature(t.Context(), name, sig); err != nil {
		t.Fatal(err)
	}
	if err := repo.Publish(t.Context(), name); err != nil {
		t.Fatal(err)
	}
}

// TestHandlerServesOnlySignedTargets: /tuf/targets/ serves a build only once signed targets
// metadata names it, by its hash-named path (cached for good); an uploaded build no metadata
// names, or a file dropped into the directory, is a 404.
func TestHandlerServesOnlySignedTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("generates online keys (scrypt); skipped with -short")
	}
	r, err := Open(Config{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	body, repo, targetsKey := publishedRepo(t, r)
	sum := sha256.Sum256([]byte(body))
	hashed := "vigil-agent/1.0.0/" + hex.EncodeToString(sum[:]) + ".linux-amd64"

	// A second build, uploaded (and even staged in a draft) but not published.
	other := "agent 1.1.0 amd64"
	osum := sha256.Sum256([]byte(other))
	oa := release.ArtifactInfo{Name: "vigil-agent-linux-amd64", Length: int64(len(other)), SHA256: hex.EncodeToString(osum[:])}
	if err := repo.UploadArtifact(t.Context(), "1.1.0", oa, strings.NewReader(other)); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Stage(t.Context(), "1.1.0", []release.ArtifactInfo{oa}, release.StageOptions{}); err != nil {
		t.Fatal(err)
	}
	unpublished := "vigil-agent/1.1.0/" + oa.SHA256 + ".linux-amd64"
	// A file planted in the served directory itself (an old server's unstaged upload).
	planted := "vigil-agent/9.9.9/" + strings.Repeat("ab", 32) + ".linux-amd64"
	os.MkdirAll(filepath.Join(r.storage.TargetsPath(), "vigil-agent", "9.9.9"), 0o700)
	os.WriteFile(filepath.Join(r.storage.TargetsPath(), filepath.FromSlash(planted)), []byte("planted"), 0o600)

	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	for _, tt := range []struct {
		path   string
		status int
		cache  string
	}{
		{"/tuf/targets/" + hashed, 200, cacheImmutable},
		{"/tuf/targets/vigil-agent/1.0.0/linux-amd64", 404, cacheNoStore}, // consistent snapshots: hash-named only
		{"/tuf/targets/" + unpublished, 404, cacheNoStore},
		{"/tuf/targets/vigil-agent/1.1.0/linux-amd64", 404, cacheNoStore},
		{"/tuf/targets/" + planted, 404, cacheNoStore},
		{"/tuf/targets/vigil-agent/1.0.0/" + strings.Repeat("0", 64) + ".linux-amd64", 404, cacheNoStore},
	} {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Cache-Control") != tt.cache {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, resp.StatusCode, resp.Header.Get("Cache-Control"), tt.status, tt.cache)
		}
		if tt.status == 200 && string(b) != body {
			t.Errorf("GET %s: body %q", tt.path, b)
		}
	}
	// Once a signed targets version names 1.1.0, it is served (the handler re-reads what it
	// serves when timestamp.json changes).
	publishSigned(t, repo, "1.1.0", targetsKey)
	resp, err := http.Get(srv.URL + "/tuf/targets/" + unpublished)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != other || resp.Header.Get("Cache-Control") != cacheImmutable {
		t.Errorf("GET %s after publishing: %d %q %q", unpublished, resp.StatusCode, resp.Header.Get("Cache-Control"), b)
	}
}
