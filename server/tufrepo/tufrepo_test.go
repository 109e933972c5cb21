package tufrepo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/release"
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
		{"GET", "/tuf/targets/" + blob, "bytes=2-4", 206, cacheImmutable, "234"},
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
