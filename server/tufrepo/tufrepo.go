package tufrepo

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/release"
	"github.com/vigilhq/vigil/signing"
)

// Defaults of Config.
const (
	// RepoDirName is the repository directory under the data directory.
	RepoDirName = "tuf"
	// DefaultRefreshInterval is how often the leader checks whether timestamp or snapshot need
	// re-signing. With the default expiry policy they are re-signed about every 12 hours.
	DefaultRefreshInterval = 10 * time.Minute
)

// Leader decides which replica re-signs the online metadata. pgstore.Leader (an advisory
// lock) and alert.Solo implement it.
type Leader interface {
	// TryAcquire returns whether this process is leader now.
	TryAcquire(ctx context.Context) (bool, error)
	// Release gives leadership up. Idempotent.
	Release(ctx context.Context) error
}

// Config configures a Repository.
type Config struct {
	// DataDir is the server's data directory; the online keys live in DataDir/tuf-keys. Required.
	DataDir string
	// RepoDir holds the repository (metadata, targets, drafts). Default DataDir/tuf. Replicas
	// share one directory (and must then share the online keys and passphrase too).
	RepoDir string
	// PassphraseFile holds the passphrase the online keys are encrypted with, best outside
	// DataDir (a secrets mount, a systemd credential). Empty, and no Passphrase: a random
	// passphrase generated once into DataDir/tuf-keys/passphrase, which protects the keys only as
	// well as the data directory's permissions do (see the package doc).
	PassphraseFile string
	// Passphrase is the passphrase itself (vigil-server takes it from VIGIL_ONLINE_KEY_PASSPHRASE).
	// At most one of Passphrase and PassphraseFile may be set.
	Passphrase []byte
	// Leader decides whether this process re-signs timestamp and snapshot. Nil: it always does
	// (a single process; with several, a lost race fails with release.ErrConflict, harmlessly).
	Leader Leader
	// RefreshInterval defaults to DefaultRefreshInterval.
	RefreshInterval time.Duration
	// Expiry sets metadata lifetimes; zero fields take release.DefaultExpiryPolicy values.
	Expiry release.ExpiryPolicy
	// MaxBlobBytes bounds one uploaded build; default (and at most) release.MaxArtifactSize.
	MaxBlobBytes int64
	// MaxStagedBytes bounds the uploaded builds not yet published, all together; default
	// release.DefaultMaxStagedBytes (2 GiB).
	MaxStagedBytes int64
	// StagedTTL is how long an uploaded build that no pending draft names is kept; default
	// release.DefaultStagedTTL (24 h). The leader removes older ones every RefreshInterval.
	StagedTTL time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Repository is the server's release repository.
type Repository struct {
	cfg     Config
	storage *release.DirStorage
	reader  *release.Repo // without keys: reads the published state for Handler

	servedMu sync.Mutex
	served   servedTargets // what Handler serves under /tuf/targets/, cached

	mu   sync.Mutex // guards repo and keys, set once the online keys are loaded
	repo *release.Repo
	keys OnlineKeys
}

// Open loads (or, on first start, generates) the online keys and opens the repository
// directory.
func Open(cfg Config) (*Repository, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("tufrepo: Config.DataDir is required")
	}
	if cfg.RepoDir == "" {
		cfg.RepoDir = filepath.Join(cfg.DataDir, RepoDirName)
	}
	if cfg.StagedTTL == 0 {
		cfg.StagedTTL = release.DefaultStagedTTL
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PassphraseFile != "" && cfg.Passphrase != nil {
		return nil, errors.New("online key passphrase: give a file or the passphrase itself, not both")
	}
	if cfg.Passphrase != nil && len(cfg.Passphrase) == 0 {
		return nil, errors.New("online key passphrase: empty")
	}
	if cfg.PassphraseFile != "" && insideDir(cfg.PassphraseFile, cfg.DataDir) {
		cfg.Logger.Warn("The online key passphrase file is inside the data directory: whoever copies the directory has the keys. Keep it elsewhere.",
			"passphrase_file", cfg.PassphraseFile, "data_dir", cfg.DataDir)
	}
	st, err := release.NewDirStorage(cfg.RepoDir)
	if err != nil {
		return nil, err
	}
	reader, err := release.New(cfg.releaseConfig(st, nil))
	if err != nil {
		return nil, err
	}
	r := &Repository{cfg: cfg, storage: st, reader: reader}
	// Existing keys are loaded now, so a wrong passphrase fails the start. Missing ones are
	// generated on first need (the first `vigilctl repo init` asks for them): each costs a
	// deliberately slow scrypt derivation, which a server that never hosts releases, and every
	// test that starts one, should not pay.
	if haveKeys(filepath.Join(cfg.DataDir, KeysDir)) {
		if _, err := r.load(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// insideDir reports whether path lies in dir (after making both absolute and clean).
func insideDir(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// load loads or generates the online keys once and builds the release.Repo over them.
func (r *Repository) load() (*release.Repo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.repo != nil {
		return r.repo, nil
	}
	keysDir := filepath.Join(r.cfg.DataDir, KeysDir)
	snap, ts, created, err := onlineKeys(keysDir, r.cfg.PassphraseFile, r.cfg.Passphrase)
	if err != nil {
		return nil, err
	}
	if r.cfg.PassphraseFile == "" && r.cfg.Passphrase == nil {
		r.cfg.Logger.Info("The online TUF keys' passphrase is the generated one beside them: they are protected by the data directory's permissions only (see SECURITY.md).",
			"passphrase_file", filepath.Join(keysDir, passphraseFileName))
	}
	if created {
		r.cfg.Logger.Info("Generated the release repository's online snapshot and timestamp keys.",
			"dir", keysDir, "snapshot_keyid", snap.KeyID(), "timestamp_keyid", ts.KeyID())
	}
	repo, err := release.New(r.cfg.releaseConfig(r.storage, []signing.Signer{snap, ts}))
	if err != nil {
		return nil, err
	}
	r.repo = repo
	r.keys = OnlineKeys{Snapshot: []*metadata.Key{snap.TUFKey()}, Timestamp: []*metadata.Key{ts.TUFKey()}}
	return repo, nil
}

func (c Config) releaseConfig(st release.Storage, online []signing.Signer) release.Config {
	return release.Config{
		Storage: st, OnlineKeys: online, Expiry: c.Expiry, Now: c.Now, Logger: c.Logger,
		MaxBlobBytes: c.MaxBlobBytes, MaxStagedBytes: c.MaxStagedBytes, StagedTTL: c.StagedTTL,
	}
}

// Repo is the release repository the API drives. The first call may generate the online keys.
func (r *Repository) Repo() (*release.Repo, error) { return r.load() }

// OnlineKeys returns the public online keys, generating them on first use.
func (r *Repository) OnlineKeys() (OnlineKeys, error) {
	if _, err := r.load(); err != nil {
		return OnlineKeys{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys, nil
}

// Dir is the repository directory.
func (r *Repository) Dir() string { return r.cfg.RepoDir }

// Run re-signs timestamp and snapshot when they need it, at once and then every
// RefreshInterval, while this process is leader, until ctx is done. It then gives leadership up.
func (r *Repository) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.RefreshInterval)
	defer t.Stop()
	for {
		r.Refresh(ctx)
		select {
		case <-ctx.Done():
			if r.cfg.Leader != nil {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				_ = r.cfg.Leader.Release(rctx)
				cancel()
			}
			return
		case <-t.C:
		}
	}
}

// Refresh runs one refresh cycle (see Run) and reports whether this process was leader.
func (r *Repository) Refresh(ctx context.Context) bool {
	if r.cfg.Leader != nil {
		ok, err := r.cfg.Leader.TryAcquire(ctx)
		if err != nil {
			r.cfg.Logger.WarnContext(ctx, "Release repository leadership check failed; not re-signing this cycle.", "err", err)
			return false
		}
		if !ok {
			return false
		}
	}
	if _, err := os.Stat(filepath.Join(r.storage.MetadataPath(), "root.json")); errors.Is(err, fs.ErrNotExist) {
		return true // not initialized: nothing to sign, and no reason to load the keys
	}
	repo, err := r.load()
	if err != nil {
		r.cfg.Logger.ErrorContext(ctx, "Release repository online keys unavailable; not re-signing.", "err", err)
		return true
	}
	if n, err := repo.PruneStaging(ctx, r.cfg.Now()); err != nil {
		r.cfg.Logger.ErrorContext(ctx, "Removing abandoned uploads from the release repository's staging failed.", "err", err)
	} else if n > 0 {
		r.cfg.Logger.InfoContext(ctx, "Removed uploaded builds that no pending draft names.", "builds", n, "older_than", r.cfg.StagedTTL)
	}
	res, err := repo.RefreshOnline(ctx, r.cfg.Now())
	switch {
	case errors.Is(err, release.ErrNotInitialized), errors.Is(err, context.Canceled):
	case err != nil:
		r.cfg.Logger.ErrorContext(ctx, "Re-signing the release repository's online metadata failed.", "err", err)
	case res.Snapshot || res.Timestamp:
		r.cfg.Logger.InfoContext(ctx, "Re-signed the release repository's online metadata.",
			"snapshot", res.Snapshot, "timestamp_version", res.TimestampVersion, "timestamp_expires", res.TimestampExpires)
	}
	return true
}

// Releases lists the repository's published and drafted releases (release.Repo.Releases). A
// repository that is not initialized has none; one whose online keys were never generated cannot
// have been initialized, and is answered without generating them (a slow key derivation).
func (r *Repository) Releases(ctx context.Context) ([]release.Release, error) {
	r.mu.Lock()
	loaded := r.repo != nil
	r.mu.Unlock()
	if !loaded && !haveKeys(filepath.Join(r.cfg.DataDir, KeysDir)) {
		return nil, nil
	}
	repo, err := r.load()
	if err != nil {
		return nil, err
	}
	rels, err := repo.Releases(ctx)
	if errors.Is(err, release.ErrNotInitialized) {
		return nil, nil
	}
	return rels, err
}

// Initialized reports whether the repository has been initialized (root metadata exists), without
// loading or generating the online keys, so a page that only needs to say "not initialized" costs
// no key derivation.
func (r *Repository) Initialized() bool {
	_, err := os.Stat(filepath.Join(r.storage.MetadataPath(), "root.json"))
	return err == nil
}
