package release

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"

	"github.com/vigilhq/vigil/signing"
)

// Config configures a Repo.
type Config struct {
	// Storage holds the repository. Required.
	Storage Storage
	// OnlineKeys are the server's snapshot and timestamp keys (one key may
	// serve both roles; during an online-key rotation, list old and new).
	// For each role the Repo signs with the keys the current root lists for
	// it. Required for everything that publishes. An online key that the root
	// trusts for root or targets is refused.
	OnlineKeys []signing.Signer
	// Expiry sets metadata lifetimes. Zero fields take DefaultExpiryPolicy values.
	Expiry ExpiryPolicy
	// MaxBlobBytes bounds one uploaded build. Defaults to (and may not exceed)
	// MaxArtifactSize, which clients enforce too.
	MaxBlobBytes int64
	// MaxStagedBytes bounds the builds uploaded but not published yet, all
	// together (uploads in progress included). Defaults to DefaultMaxStagedBytes.
	MaxStagedBytes int64
	// StagedTTL is how long PruneStaging keeps an uploaded build that no
	// pending draft names. Defaults to DefaultStagedTTL.
	StagedTTL time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Logger receives operational messages. Defaults to slog.Default() if nil.
	Logger *slog.Logger
}

// Defaults of Config's staging limits.
const (
	// DefaultMaxStagedBytes: 2 GiB, room for a release of every binary and
	// architecture (a few tens of MiB each) many times over.
	DefaultMaxStagedBytes = 2 << 30
	// DefaultStagedTTL: a day. `vigilctl release stage` drafts right after
	// uploading, so an upload no draft names after a day was abandoned.
	DefaultStagedTTL = 24 * time.Hour
)

func (c *Config) validate() error {
	if c.Storage == nil {
		return errors.New("release: Config.Storage is required")
	}
	if c.MaxBlobBytes == 0 {
		c.MaxBlobBytes = MaxArtifactSize
	}
	if c.MaxBlobBytes < 0 || c.MaxBlobBytes > MaxArtifactSize {
		return fmt.Errorf("release: per-build upload limit %d not in 1..%d (vigil-server --release-max-blob-bytes)", c.MaxBlobBytes, MaxArtifactSize)
	}
	if c.MaxStagedBytes == 0 {
		c.MaxStagedBytes = DefaultMaxStagedBytes
	}
	if c.MaxStagedBytes < c.MaxBlobBytes {
		return fmt.Errorf("release: staging limit %d is below the per-build limit %d, so no build could be uploaded (vigil-server --release-max-staged-bytes, --release-max-blob-bytes)", c.MaxStagedBytes, c.MaxBlobBytes)
	}
	if c.StagedTTL == 0 {
		c.StagedTTL = DefaultStagedTTL
	}
	if c.StagedTTL < 0 {
		return fmt.Errorf("release: Config.StagedTTL %s is negative", c.StagedTTL)
	}
	c.Expiry = c.Expiry.withDefaults()
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Log attribute keys.
const (
	logRole    = "role"
	logVersion = "version"
	logExpires = "expires"
	logDraft   = "draft"
)

// Repo is the server side of the release repository. It never holds offline
// keys: it stores drafts, checks signatures release engineers add, and signs
// snapshot and timestamp with its online keys.
//
// Every operation reads the repository state from Storage. Repo is safe for
// concurrent use; changes made through one Repo are serialized.
type Repo struct {
	cfg Config
	mu  sync.Mutex

	stagingMu sync.Mutex // guards inFlight
	inFlight  int64      // bytes of uploads in progress, reserved against MaxStagedBytes
}

// New returns a Repo over cfg.Storage, which may be empty (see Init).
func New(cfg Config) (*Repo, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Repo{cfg: cfg}, nil
}

// state is the published repository.
type state struct {
	root      *metadata.Metadata[metadata.RootType]
	rootJSON  []byte
	timestamp *metadata.Metadata[metadata.TimestampType] // nil before the first publish of targets
	snapshot  *metadata.Metadata[metadata.SnapshotType]  // nil before the first publish of targets
	targets   *metadata.Metadata[metadata.TargetsType]   // nil before the first publish of targets
	targetsJS []byte
}

func (st *state) targetsVersion() int64 {
	if st.targets == nil {
		return 0
	}
	return st.targets.Signed.Version
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// load reads the published state. ErrNotInitialized if there is no root.
func (r *Repo) load(ctx context.Context) (*state, error) {
	s := r.cfg.Storage
	rootJSON, err := s.GetMetadata(ctx, "root.json")
	if isNotExist(err) {
		return nil, ErrNotInitialized
	}
	if err != nil {
		return nil, fmt.Errorf("read root: %w", err)
	}
	root, err := parseRoot(rootJSON)
	if err != nil {
		return nil, err
	}
	// root.json is written after <N>.root.json: after a crash between the
	// two, the versioned file is the truth (clients probe for it).
	for {
		next, err := s.GetMetadata(ctx, versioned(root.Signed.Version+1, metadata.ROOT))
		if isNotExist(err) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read root: %w", err)
		}
		if root, err = parseRoot(next); err != nil {
			return nil, err
		}
		rootJSON = next
	}
	st := &state{root: root, rootJSON: rootJSON}
	tsJSON, err := s.GetMetadata(ctx, "timestamp.json")
	if isNotExist(err) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read timestamp: %w", err)
	}
	if st.timestamp, err = metadata.Timestamp().FromBytes(tsJSON); err != nil {
		return nil, fmt.Errorf("parse timestamp: %w", err)
	}
	sm, ok := st.timestamp.Signed.Meta["snapshot.json"]
	if !ok {
		return nil, fmt.Errorf("timestamp has no snapshot.json: %w", ErrInvalidMetadata)
	}
	snJSON, err := s.GetMetadata(ctx, versioned(sm.Version, metadata.SNAPSHOT))
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	if st.snapshot, err = metadata.Snapshot().FromBytes(snJSON); err != nil {
		return nil, fmt.Errorf("parse snapshot: %w", err)
	}
	tm, ok := st.snapshot.Signed.Meta["targets.json"]
	if !ok {
		return nil, fmt.Errorf("snapshot has no targets.json: %w", ErrInvalidMetadata)
	}
	if st.targetsJS, err = s.GetMetadata(ctx, versioned(tm.Version, metadata.TARGETS)); err != nil {
		return nil, fmt.Errorf("read targets: %w", err)
	}
	if st.targets, err = parseTargets(st.targetsJS); err != nil {
		return nil, err
	}
	return st, nil
}

func versioned(v int64, role string) string {
	return strconv.FormatInt(v, 10) + "." + role + ".json"
}

// onlineSigners returns, for role, the online keys root trusts for it, at
// least its threshold of them.
func (r *Repo) onlineSigners(ctx context.Context, root *metadata.RootType, role string) ([]signing.Signer, error) {
	rl := root.Roles[role]
	var out []signing.Signer
	for _, k := range r.cfg.OnlineKeys {
		if slices.Contains(rl.KeyIDs, k.KeyID()) {
			if cs, ok := k.(contextSigner); ok {
				out = append(out, cs.WithContext(ctx))
			} else {
				out = append(out, k)
			}
		}
	}
	if len(out) < rl.Threshold {
		return nil, fmt.Errorf("%d of the server's online keys are %s keys in root version %d, %d needed: %w",
			len(out), role, root.Version, rl.Threshold, ErrOnlineKeys)
	}
	return out[:rl.Threshold], nil
}

// checkOnlineKeys makes sure the server can sign snapshot and timestamp
// under root, and that it holds no key root trusts for an offline role.
func (r *Repo) checkOnlineKeys(ctx context.Context, root *metadata.RootType) error {
	for _, k := range r.cfg.OnlineKeys {
		for _, role := range []string{metadata.ROOT, metadata.TARGETS} {
			if slices.Contains(root.Roles[role].KeyIDs, k.KeyID()) {
				return fmt.Errorf("online key %s is a %s key: %w", k.KeyID(), role, ErrOnlineKeys)
			}
		}
	}
	for _, role := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if _, err := r.onlineSigners(ctx, root, role); err != nil {
			return err
		}
	}
	return nil
}

func sign[T metadata.Roles](md *metadata.Metadata[T], signers []signing.Signer) error {
	md.ClearSignatures()
	for _, s := range signers {
		if _, err := md.Sign(s); err != nil {
			return fmt.Errorf("sign with online key %s: %w", s.KeyID(), err)
		}
	}
	return nil
}

func metaFile(version int64, data []byte) *metadata.MetaFiles {
	sum := sha256.Sum256(data)
	return &metadata.MetaFiles{Version: version, Length: int64(len(data)), Hashes: metadata.Hashes{HashAlgorithm: sum[:]}}
}

// onlineFiles signs a snapshot naming targets (targetsJSON, targetsVersion)
// and a timestamp naming that snapshot, both one version above st's.
func (r *Repo) onlineFiles(ctx context.Context, root *metadata.RootType, st *state, targetsJSON []byte, targetsVersion int64, now time.Time) ([]MetadataFile, error) {
	snSigners, err := r.onlineSigners(ctx, root, metadata.SNAPSHOT)
	if err != nil {
		return nil, err
	}
	tsSigners, err := r.onlineSigners(ctx, root, metadata.TIMESTAMP)
	if err != nil {
		return nil, err
	}
	sn := metadata.Snapshot(expiry(now, r.cfg.Expiry.Snapshot))
	if st.snapshot != nil {
		sn.Signed.Version = st.snapshot.Signed.Version + 1
	}
	sn.Signed.Meta = map[string]*metadata.MetaFiles{"targets.json": metaFile(targetsVersion, targetsJSON)}
	if err := sign(sn, snSigners); err != nil {
		return nil, err
	}
	snJSON, err := sn.ToBytes(false)
	if err != nil {
		return nil, err
	}
	ts, err := r.timestampFor(root, st, sn.Signed.Version, snJSON, tsSigners, now)
	if err != nil {
		return nil, err
	}
	return []MetadataFile{{versioned(sn.Signed.Version, metadata.SNAPSHOT), snJSON}, ts}, nil
}

func (r *Repo) timestampFor(root *metadata.RootType, st *state, snVersion int64, snJSON []byte, signers []signing.Signer, now time.Time) (MetadataFile, error) {
	ts := metadata.Timestamp(expiry(now, r.cfg.Expiry.Timestamp))
	if st.timestamp != nil {
		ts.Signed.Version = st.timestamp.Signed.Version + 1
	}
	ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": metaFile(snVersion, snJSON)}
	if err := sign(ts, signers); err != nil {
		return MetadataFile{}, err
	}
	b, err := ts.ToBytes(false)
	return MetadataFile{"timestamp.json", b}, err
}

// selfCheck runs the TUF client workflow of go-tuf over a set about to be
// published, at time now, so the repository never publishes what a client
// would reject.
func selfCheck(rootJSON []byte, files []MetadataFile, targetsJSON []byte, now time.Time) error {
	byName := map[string][]byte{}
	for _, f := range files {
		byName[f.Name] = f.Data
	}
	tm, err := trustedmetadata.New(rootJSON)
	if err != nil {
		return fmt.Errorf("self-check root: %w", err)
	}
	tm.RefTime = now.UTC()
	ts, err := tm.UpdateTimestamp(byName["timestamp.json"])
	if err != nil {
		return fmt.Errorf("self-check timestamp: %w", err)
	}
	snName := versioned(ts.Signed.Meta["snapshot.json"].Version, metadata.SNAPSHOT)
	if _, err := tm.UpdateSnapshot(byName[snName], false); err != nil {
		return fmt.Errorf("self-check snapshot: %w", err)
	}
	if _, err := tm.UpdateTargets(targetsJSON); err != nil {
		return fmt.Errorf("self-check targets: %w", err)
	}
	return nil
}

// Init creates the repository from root metadata version 1, built and signed
// offline (BuildRoot, SignMetadata) to its own root threshold and listing
// this server's online keys for snapshot and timestamp.
//
// targetsJSON is optional. When given (EmptyTargets signed to the targets
// threshold), it is published as targets version 1 together with the first
// snapshot and timestamp, and clients can refresh at once. When nil, only the
// root is published; the first Publish creates targets version 1, and until
// then clients fail to refresh (there is no timestamp yet).
func (r *Repo) Init(ctx context.Context, rootJSON, targetsJSON []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.load(ctx); err == nil {
		return ErrAlreadyInitialized
	} else if !errors.Is(err, ErrNotInitialized) {
		return err
	}
	if _, err := r.cfg.Storage.GetMetadata(ctx, "1.root.json"); err == nil {
		return ErrAlreadyInitialized
	}
	now := r.cfg.Now()
	root, err := parseRoot(rootJSON)
	if err != nil {
		return err
	}
	if root.Signed.Version != 1 {
		return fmt.Errorf("initial root has version %d, want 1: %w", root.Signed.Version, ErrInvalidRoot)
	}
	if err := r.acceptRoot(ctx, nil, root, now); err != nil {
		return err
	}
	files := []MetadataFile{{versioned(1, metadata.ROOT), rootJSON}, {"root.json", rootJSON}}
	var blobs []string
	if targetsJSON != nil {
		st := &state{root: root, rootJSON: rootJSON}
		var tf MetadataFile
		tf, blobs, err = r.acceptTargets(ctx, &root.Signed, st, targetsJSON, now)
		if err != nil {
			return err
		}
		online, err := r.onlineFiles(ctx, &root.Signed, st, targetsJSON, 1, now)
		if err != nil {
			return err
		}
		if err := selfCheck(rootJSON, online, targetsJSON, now); err != nil {
			return err
		}
		files = append(files, tf)
		files = append(files, online...)
	}
	if err := r.publishBlobs(ctx, blobs); err != nil {
		return err
	}
	if err := r.cfg.Storage.PublishMetadata(ctx, files); err != nil {
		return fmt.Errorf("publish initial metadata: %w", err)
	}
	r.cfg.Logger.InfoContext(ctx, "Release repository initialized.", logVersion, 1, "with_targets", targetsJSON != nil)
	return nil
}

// acceptRoot checks a root about to be published: structure, its own
// threshold, the previous root's threshold (if prev is not nil), expiry and
// the online keys.
func (r *Repo) acceptRoot(ctx context.Context, prev *metadata.RootType, root *metadata.Metadata[metadata.RootType], now time.Time) error {
	if err := validateRoot(&root.Signed); err != nil {
		return err
	}
	if root.Signed.Expires.Before(now) {
		return fmt.Errorf("root version %d expired at %s: %w", root.Signed.Version, root.Signed.Expires, ErrExpired)
	}
	if prev != nil {
		rep, err := checkSignatures(prev, metadata.ROOT, root.Signed, root.Signatures)
		if err != nil {
			return err
		}
		// Signatures by keys of only one of the two roots are expected here:
		// check the previous root's threshold and validity of its keys.
		rep.Unknown = nil
		if err := rep.Err(); err != nil {
			return fmt.Errorf("new root against root version %d: %w", prev.Version, err)
		}
	}
	rep, err := checkSignatures(&root.Signed, metadata.ROOT, root.Signed, root.Signatures)
	if err != nil {
		return err
	}
	if prev != nil {
		rep.Unknown = nil // the previous root's keys
	}
	if err := rep.Err(); err != nil {
		return fmt.Errorf("root version %d against itself: %w", root.Signed.Version, err)
	}
	return r.checkOnlineKeys(ctx, &root.Signed)
}

// acceptTargets checks signed targets metadata about to be published as the
// next targets version under root and returns it as a file to publish, with
// the storage names of the builds it adds (to PublishBlob first).
func (r *Repo) acceptTargets(ctx context.Context, root *metadata.RootType, st *state, targetsJSON []byte, now time.Time) (MetadataFile, []string, error) {
	md, err := parseTargets(targetsJSON)
	if err != nil {
		return MetadataFile{}, nil, err
	}
	if want := st.targetsVersion() + 1; md.Signed.Version != want {
		return MetadataFile{}, nil, fmt.Errorf("targets version %d, want %d: %w", md.Signed.Version, want, ErrStaleDraft)
	}
	if err := validateTargetsContent(&md.Signed); err != nil {
		return MetadataFile{}, nil, err
	}
	if md.Signed.Expires.Before(now) {
		return MetadataFile{}, nil, fmt.Errorf("targets version %d expired at %s: %w", md.Signed.Version, md.Signed.Expires, ErrExpired)
	}
	rep, err := checkSignatures(root, metadata.TARGETS, md.Signed, md.Signatures)
	if err != nil {
		return MetadataFile{}, nil, err
	}
	if err := rep.Err(); err != nil {
		return MetadataFile{}, nil, err
	}
	blobs, err := r.checkBlobs(ctx, st, &md.Signed)
	if err != nil {
		return MetadataFile{}, nil, err
	}
	return MetadataFile{versioned(md.Signed.Version, metadata.TARGETS), targetsJSON}, blobs, nil
}

// checkBlobs verifies the stored blob of every target that is new or
// changed compared to the published targets, and returns their storage names.
func (r *Repo) checkBlobs(ctx context.Context, st *state, t *metadata.TargetsType) ([]string, error) {
	var names []string
	for p, tf := range t.Targets {
		if st.targets != nil {
			if old, ok := st.targets.Signed.Targets[p]; ok && old.Equal(*tf) {
				continue
			}
		}
		name := ConsistentTargetPath(p, sha256Of(tf))
		if err := r.verifyBlob(ctx, name, tf.Length, tf.Hashes[HashAlgorithm]); err != nil {
			return nil, fmt.Errorf("target %s: %w", p, err)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// publishBlobs makes verified builds servable, before the metadata naming them
// is published. A publish that fails after this leaves them in the served
// directory, where no client is served them (only what the current signed
// targets name is), and publishing again is a no-op for them.
func (r *Repo) publishBlobs(ctx context.Context, names []string) error {
	for _, n := range names {
		if err := r.cfg.Storage.PublishBlob(ctx, n); err != nil {
			return fmt.Errorf("publish build %s: %w", n, err)
		}
	}
	return nil
}

// RefreshResult says what RefreshOnline re-signed.
type RefreshResult struct {
	Snapshot         bool      // a new snapshot was signed
	Timestamp        bool      // a new timestamp was signed
	TimestampVersion int64     // current timestamp version
	TimestampExpires time.Time // current timestamp expiry
}

// RefreshOnline re-signs the timestamp when less than half of its lifetime is
// left at now, or when the current root no longer trusts its signature
// (online key rotation); likewise the snapshot, which also forces a new
// timestamp. It does nothing before targets were first published. The
// server calls it from a leader-only ticker, e.g. every 10 minutes; with the
// default policy the timestamp is then re-signed about every 12 hours.
func (r *Repo) RefreshOnline(ctx context.Context, now time.Time) (RefreshResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.load(ctx)
	if err != nil {
		return RefreshResult{}, err
	}
	if st.timestamp == nil {
		return RefreshResult{}, nil
	}
	root := &st.root.Signed
	stale := func(expires time.Time, period time.Duration, role string, signed any, sigs []metadata.Signature) bool {
		if expires.Sub(now) < period/2 {
			return true
		}
		rep, err := checkSignatures(root, role, signed, sigs)
		return err != nil || rep.Err() != nil
	}
	res := RefreshResult{TimestampVersion: st.timestamp.Signed.Version, TimestampExpires: st.timestamp.Signed.Expires}
	res.Snapshot = stale(st.snapshot.Signed.Expires, r.cfg.Expiry.Snapshot, metadata.SNAPSHOT, st.snapshot.Signed, st.snapshot.Signatures)
	res.Timestamp = res.Snapshot || stale(st.timestamp.Signed.Expires, r.cfg.Expiry.Timestamp, metadata.TIMESTAMP, st.timestamp.Signed, st.timestamp.Signatures)
	for _, w := range []struct {
		role    string
		expires time.Time
		period  time.Duration
	}{
		{metadata.TARGETS, st.targets.Signed.Expires, r.cfg.Expiry.Targets},
		{metadata.ROOT, root.Expires, r.cfg.Expiry.Root},
	} {
		if w.expires.Sub(now) < w.period/4 {
			r.cfg.Logger.WarnContext(ctx, "Offline-signed metadata expires soon. Release engineers must re-sign it.",
				logRole, w.role, logExpires, w.expires)
		}
	}
	if !res.Timestamp {
		return res, nil
	}
	var files []MetadataFile
	if res.Snapshot {
		files, err = r.onlineFiles(ctx, root, st, st.targetsJS, st.targets.Signed.Version, now)
	} else {
		snJSON, gerr := r.cfg.Storage.GetMetadata(ctx, versioned(st.snapshot.Signed.Version, metadata.SNAPSHOT))
		if gerr != nil {
			return res, gerr
		}
		var signers []signing.Signer
		if signers, err = r.onlineSigners(ctx, root, metadata.TIMESTAMP); err == nil {
			var f MetadataFile
			f, err = r.timestampFor(root, st, st.snapshot.Signed.Version, snJSON, signers, now)
			files = []MetadataFile{f}
			files = append(files, MetadataFile{versioned(st.snapshot.Signed.Version, metadata.SNAPSHOT), snJSON})
		}
	}
	if err != nil {
		return res, err
	}
	if err := selfCheck(st.rootJSON, files, st.targetsJS, now); err != nil {
		return res, err
	}
	if err := r.cfg.Storage.PublishMetadata(ctx, files); err != nil {
		return res, fmt.Errorf("publish refreshed metadata: %w", err)
	}
	ts, _ := metadata.Timestamp().FromBytes(fileNamed(files, "timestamp.json"))
	res.TimestampVersion, res.TimestampExpires = ts.Signed.Version, ts.Signed.Expires
	r.cfg.Logger.InfoContext(ctx, "Online metadata re-signed.", "snapshot", res.Snapshot, logVersion, res.TimestampVersion, logExpires, res.TimestampExpires)
	return res, nil
}

func fileNamed(files []MetadataFile, name string) []byte {
	for _, f := range files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

// RotateRoot publishes newRootJSON as the next root version. It must be the
// current version + 1 and carry a threshold of valid signatures from the
// current root's root keys and a threshold from its own root keys; it must
// list this server's online keys for snapshot and timestamp.
//
// If the new root changes the targets keys so that the published targets no
// longer meet the threshold (a revoked targets key), targetsJSON must be the
// next targets version (same targets, new version and expiry: see
// Repo.Renew and Draft, or build it offline) signed to the new root's
// targets threshold; it is published in the same set. Otherwise targetsJSON
// may be nil. New snapshot and timestamp metadata are always signed, so that
// online-key rotations take effect at once.
//
// Pending drafts keep their signatures, but Publish checks them against the
// new root: signatures from revoked keys make it fail with ErrUnknownKey
// (remove them with RemoveSignature).
func (r *Repo) RotateRoot(ctx context.Context, newRootJSON, targetsJSON []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.load(ctx)
	if err != nil {
		return err
	}
	now := r.cfg.Now()
	nr, err := parseRoot(newRootJSON)
	if err != nil {
		return err
	}
	if want := st.root.Signed.Version + 1; nr.Signed.Version != want {
		return fmt.Errorf("new root has version %d, want %d: %w", nr.Signed.Version, want, ErrInvalidRoot)
	}
	if err := r.acceptRoot(ctx, &st.root.Signed, nr, now); err != nil {
		return err
	}
	files := []MetadataFile{{versioned(nr.Signed.Version, metadata.ROOT), newRootJSON}, {"root.json", newRootJSON}}
	targetsNow, targetsVersion := st.targetsJS, st.targetsVersion()
	var blobs []string
	if targetsJSON != nil {
		tf, newBlobs, err := r.acceptTargets(ctx, &nr.Signed, st, targetsJSON, now)
		blobs = newBlobs
		if err != nil {
			return fmt.Errorf("targets for root version %d: %w", nr.Signed.Version, err)
		}
		files = append(files, tf)
		targetsNow, targetsVersion = targetsJSON, targetsVersion+1
	} else if st.targets != nil {
		rep, err := checkSignatures(&nr.Signed, metadata.TARGETS, st.targets.Signed, st.targets.Signatures)
		if err != nil {
			return err
		}
		if !rep.ThresholdMet() {
			return fmt.Errorf("published targets would have %d of %d signatures under root version %d; supply re-signed targets: %w",
				len(rep.Valid), rep.Threshold, nr.Signed.Version, ErrThresholdNotMet)
		}
	}
	if targetsNow != nil {
		online, err := r.onlineFiles(ctx, &nr.Signed, st, targetsNow, targetsVersion, now)
		if err != nil {
			return err
		}
		if err := selfCheck(newRootJSON, online, targetsNow, now); err != nil {
			return err
		}
		files = append(files, online...)
	}
	if err := r.publishBlobs(ctx, blobs); err != nil {
		return err
	}
	if err := r.cfg.Storage.PublishMetadata(ctx, files); err != nil {
		return fmt.Errorf("publish root version %d: %w", nr.Signed.Version, err)
	}
	r.cfg.Logger.InfoContext(ctx, "Root rotated.", logVersion, nr.Signed.Version, "targets_resigned", targetsJSON != nil)
	return nil
}

// RoleStatus is the state of one role.
type RoleStatus struct {
	Role      string    `json:"role"`
	Version   int64     `json:"version"` // 0: not published yet
	Expires   time.Time `json:"expires"`
	Threshold int       `json:"threshold"`
	KeyIDs    []string  `json:"keyids"`
	Online    bool      `json:"online"` // signed by the server
}

// Status is the state of the repository, for `vigilctl repo status`.
type Status struct {
	Initialized bool         `json:"initialized"`
	Roles       []RoleStatus `json:"roles"`  // root, targets, snapshot, timestamp
	Drafts      []string     `json:"drafts"` // pending draft names
}

// Status reports versions and expiries of every role and the pending drafts.
func (r *Repo) Status(ctx context.Context) (Status, error) {
	st, err := r.load(ctx)
	if errors.Is(err, ErrNotInitialized) {
		return Status{Roles: []RoleStatus{}, Drafts: []string{}}, nil
	}
	if err != nil {
		return Status{}, err
	}
	out := Status{Initialized: true}
	root := &st.root.Signed
	for _, role := range topLevelRoles {
		rs := RoleStatus{Role: role, Threshold: root.Roles[role].Threshold, KeyIDs: slices.Clone(root.Roles[role].KeyIDs),
			Online: role == metadata.SNAPSHOT || role == metadata.TIMESTAMP}
		switch {
		case role == metadata.ROOT:
			rs.Version, rs.Expires = root.Version, root.Expires
		case st.timestamp == nil:
		case role == metadata.TARGETS:
			rs.Version, rs.Expires = st.targets.Signed.Version, st.targets.Signed.Expires
		case role == metadata.SNAPSHOT:
			rs.Version, rs.Expires = st.snapshot.Signed.Version, st.snapshot.Signed.Expires
		case role == metadata.TIMESTAMP:
			rs.Version, rs.Expires = st.timestamp.Signed.Version, st.timestamp.Signed.Expires
		}
		out.Roles = append(out.Roles, rs)
	}
	if out.Drafts, err = r.draftNames(ctx); err != nil {
		return out, err
	}
	return out, nil
}

// Root returns the current root metadata (for vigilctl to verify and edit).
func (r *Repo) Root(ctx context.Context) ([]byte, error) {
	st, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	return st.rootJSON, nil
}

// Targets returns the published targets metadata, or nil if none yet.
func (r *Repo) Targets(ctx context.Context) ([]byte, error) {
	st, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	return st.targetsJS, nil
}
