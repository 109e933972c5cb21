// Package tuftest builds small signed TUF repositories for tests, with full control over every
// role, so tests can publish builds, replay or expire metadata and play a compromised server.
// It is test-only: nothing outside tests imports it.
package tuftest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/releasespec"
)

// Custom is a target's custom metadata.
type Custom = releasespec.Custom

type key struct {
	signer signature.Signer
	key    *metadata.Key
}

// Repo is a repository on disk: Dir/metadata and Dir/targets, consistent snapshots on. Methods
// are safe for concurrent use with the Handler.
type Repo struct {
	t   testing.TB
	Dir string

	mu        sync.Mutex
	keys      map[string]*key
	Root      *metadata.Metadata[metadata.RootType]
	Targets   *metadata.Metadata[metadata.TargetsType]
	Snapshot  *metadata.Metadata[metadata.SnapshotType]
	Timestamp *metadata.Metadata[metadata.TimestampType]
	rootJSON  map[int64][]byte

	// Intercept, when set, may answer a request itself (return true) before the files are served.
	Intercept func(w http.ResponseWriter, r *http.Request) bool
	// Requests counts requests by path.
	Requests map[string]int
}

func newKey(t testing.TB) *key {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signature.LoadED25519Signer(priv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &key{signer: s, key: k}
}

// New creates and publishes version 1 of every role, with no targets.
func New(t testing.TB) *Repo {
	t.Helper()
	r := &Repo{t: t, Dir: t.TempDir(), keys: map[string]*key{}, rootJSON: map[int64][]byte{}, Requests: map[string]int{}}
	for _, d := range []string{"metadata", "targets"} {
		if err := os.MkdirAll(filepath.Join(r.Dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	r.Root = metadata.Root(now.Add(365 * 24 * time.Hour))
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		k := newKey(t)
		r.keys[role] = k
		if err := r.Root.Signed.AddKey(k.key, role); err != nil {
			t.Fatal(err)
		}
	}
	r.Targets = metadata.Targets(now.Add(90 * 24 * time.Hour))
	r.Snapshot = metadata.Snapshot(now.Add(7 * 24 * time.Hour))
	r.Timestamp = metadata.Timestamp(now.Add(24 * time.Hour))
	r.publishRoot()
	r.Targets.Signed.Version = 0
	r.Snapshot.Signed.Version = 0
	r.Timestamp.Signed.Version = 0
	r.Publish()
	return r
}

func sign[T metadata.Roles](t testing.TB, md *metadata.Metadata[T], k *key) []byte {
	md.ClearSignatures()
	if _, err := md.Sign(k.signer); err != nil {
		t.Fatal(err)
	}
	b, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *Repo) write(name string, data []byte) {
	if err := os.WriteFile(filepath.Join(r.Dir, "metadata", name), data, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *Repo) publishRoot() {
	b := sign(r.t, r.Root, r.keys[metadata.ROOT])
	r.rootJSON[r.Root.Signed.Version] = b
	r.write(fmt.Sprintf("%d.root.json", r.Root.Signed.Version), b)
	r.write("root.json", b)
}

// RootJSON returns the signed root of a version (the initial trust anchor is RootJSON(1)).
func (r *Repo) RootJSON(v int64) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rootJSON[v]
}

// AddTarget adds (or replaces) a target with a sha256 hash and custom metadata and stores its
// content; Publish makes it visible.
func (r *Repo) AddTarget(targetPath string, data []byte, custom Custom) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sum := sha256.Sum256(data)
	hexsum := hex.EncodeToString(sum[:])
	if custom.Channels == nil {
		custom.Channels = []string{}
	}
	cj, _ := json.Marshal(custom)
	raw := json.RawMessage(cj)
	r.Targets.Signed.Targets[targetPath] = &metadata.TargetFiles{
		Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}, Custom: &raw, Path: targetPath,
	}
	dir, base := path.Split(targetPath)
	p := filepath.Join(r.Dir, "targets", filepath.FromSlash(dir), hexsum+"."+base)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// SetChannels replaces the channels of an existing target.
func (r *Repo) SetChannels(targetPath string, channels ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tf := r.Targets.Signed.Targets[targetPath]
	var c Custom
	_ = json.Unmarshal(*tf.Custom, &c)
	c.Channels = channels
	cj, _ := json.Marshal(c)
	raw := json.RawMessage(cj)
	tf.Custom = &raw
}

// TargetBlob returns the file path of a target's stored content.
func (r *Repo) TargetBlob(targetPath string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	tf := r.Targets.Signed.Targets[targetPath]
	dir, base := path.Split(targetPath)
	return filepath.Join(r.Dir, "targets", filepath.FromSlash(dir), hex.EncodeToString(tf.Hashes["sha256"])+"."+base)
}

// Publish signs and writes a new targets, snapshot and timestamp.
func (r *Repo) Publish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Targets.Signed.Version++
	tb := sign(r.t, r.Targets, r.keys[metadata.TARGETS])
	r.write(fmt.Sprintf("%d.targets.json", r.Targets.Signed.Version), tb)
	r.Snapshot.Signed.Version++
	r.Snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(r.Targets.Signed.Version)
	sb := sign(r.t, r.Snapshot, r.keys[metadata.SNAPSHOT])
	r.write(fmt.Sprintf("%d.snapshot.json", r.Snapshot.Signed.Version), sb)
	r.publishTimestampLocked(r.Timestamp.Signed.Expires)
}

// ForgeTargets publishes targets metadata changed by mutate and signed with the snapshot key (which
// a compromised server holds, but which root does not trust for targets), then snapshot and
// timestamp properly signed with the online keys: what a compromised server can produce.
func (r *Repo) ForgeTargets(mutate func(*metadata.TargetsType)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mutate(&r.Targets.Signed)
	r.Targets.Signed.Version++
	tb := sign(r.t, r.Targets, r.keys[metadata.SNAPSHOT])
	r.write(fmt.Sprintf("%d.targets.json", r.Targets.Signed.Version), tb)
	r.Snapshot.Signed.Version++
	r.Snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(r.Targets.Signed.Version)
	sb := sign(r.t, r.Snapshot, r.keys[metadata.SNAPSHOT])
	r.write(fmt.Sprintf("%d.snapshot.json", r.Snapshot.Signed.Version), sb)
	r.publishTimestampLocked(r.Timestamp.Signed.Expires)
}

// PublishTimestampFor signs a new timestamp (higher version) that points at an older snapshot
// version: a replay a server holding the timestamp key can attempt.
func (r *Repo) PublishTimestampFor(snapshotVersion int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Timestamp.Signed.Version++
	r.Timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(snapshotVersion)
	r.write("timestamp.json", sign(r.t, r.Timestamp, r.keys[metadata.TIMESTAMP]))
}

// PublishTimestamp re-signs timestamp only, with the given expiry (as the server's online key
// does), and returns its bytes.
func (r *Repo) PublishTimestamp(expires time.Time) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publishTimestampLocked(expires)
}

func (r *Repo) publishTimestampLocked(expires time.Time) []byte {
	r.Timestamp.Signed.Version++
	r.Timestamp.Signed.Expires = expires
	r.Timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(r.Snapshot.Signed.Version)
	b := sign(r.t, r.Timestamp, r.keys[metadata.TIMESTAMP])
	r.write("timestamp.json", b)
	return b
}

// ReadMetadata returns a published metadata file.
func (r *Repo) ReadMetadata(name string) []byte {
	b, err := os.ReadFile(filepath.Join(r.Dir, "metadata", name))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// WriteMetadata overwrites a published metadata file (a compromised or replaying server).
func (r *Repo) WriteMetadata(name string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.write(name, data)
}

// RotateRoot publishes root version N+1 signed by the current root key, with a new timestamp key.
func (r *Repo) RotateRoot() {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.keys[metadata.TIMESTAMP]
	nk := newKey(r.t)
	oldID, err := old.key.ID()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.Root.Signed.RevokeKey(oldID, metadata.TIMESTAMP); err != nil {
		r.t.Fatal(err)
	}
	if err := r.Root.Signed.AddKey(nk.key, metadata.TIMESTAMP); err != nil {
		r.t.Fatal(err)
	}
	r.keys[metadata.TIMESTAMP] = nk
	r.Root.Signed.Version++
	r.publishRoot()
}

// Handler serves /tuf/metadata/ and /tuf/targets/ (with Range support).
func (r *Repo) Handler() http.Handler {
	files := http.FileServer(http.Dir(r.Dir))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.Requests[req.URL.Path]++
		icpt := r.Intercept
		r.mu.Unlock()
		if icpt != nil && icpt(w, req) {
			return
		}
		p, ok := strings.CutPrefix(req.URL.Path, "/tuf")
		if !ok {
			http.NotFound(w, req)
			return
		}
		req = req.Clone(req.Context())
		req.URL.Path = p
		files.ServeHTTP(w, req)
	})
}

// SetIntercept sets Intercept.
func (r *Repo) SetIntercept(f func(w http.ResponseWriter, r *http.Request) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Intercept = f
}

// RequestCount returns how many requests asked for path.
func (r *Repo) RequestCount(p string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Requests[p]
}

// Key is a signing key for delegated roles.
type Key struct{ k *key }

// NewKey returns a fresh ed25519 key.
func NewKey(t testing.TB) *Key { return &Key{newKey(t)} }

// Public is the key as metadata names it (for a delegation's keys).
func (k *Key) Public() *metadata.Key { return k.k.key }

// ID is the key's ID.
func (k *Key) ID() string {
	id, err := k.k.key.ID()
	if err != nil {
		panic(err)
	}
	return id
}

// PublishDelegated writes delegated role name (md, at its version) signed by every key in keys and
// lists it in the snapshot's meta; the next Publish signs the snapshot that names it.
func (r *Repo) PublishDelegated(name string, md *metadata.Metadata[metadata.TargetsType], keys ...*Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	md.ClearSignatures()
	for _, k := range keys {
		if _, err := md.Sign(k.k.signer); err != nil {
			r.t.Fatal(err)
		}
	}
	b, err := md.ToBytes(false)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(fmt.Sprintf("%d.%s.json", md.Signed.Version, name), b)
	r.Snapshot.Signed.Meta[name+".json"] = metadata.MetaFile(md.Signed.Version)
}
