package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/releasespec"
)

// RenewDraft is the name of the draft Renew makes.
const RenewDraft = "renew"

// draftSuffix is appended to a draft name in Storage.
const draftSuffix = ".targets.json"

// checkDraftName accepts a release version or RenewDraft.
func checkDraftName(name string) error {
	if name == RenewDraft {
		return nil
	}
	_, err := ParseVersion(name)
	return err
}

// ArtifactInfo describes an uploaded build, by the name release tooling gives
// it ("vigil-agent-linux-amd64").
type ArtifactInfo struct {
	Name   string `json:"name"`
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"` // hex
}

func (a ArtifactInfo) target(version string) (Target, []byte, error) {
	b, arch, err := ParseArtifactName(a.Name)
	if err != nil {
		return Target{}, nil, err
	}
	sum, err := hex.DecodeString(a.SHA256)
	if err != nil || len(sum) != sha256.Size || strings.ToLower(a.SHA256) != a.SHA256 {
		return Target{}, nil, fmt.Errorf("artifact %s: sha256 %q is not 64 lower-case hex digits: %w", a.Name, a.SHA256, ErrInvalidName)
	}
	if a.Length <= 0 || a.Length > MaxArtifactSize {
		return Target{}, nil, fmt.Errorf("artifact %s: length %d not in 1..%d: %w", a.Name, a.Length, MaxArtifactSize, ErrBlobMismatch)
	}
	return Target{Binary: b, Version: version, Arch: arch}, sum, nil
}

// verifyingReader reads exactly length bytes whose sha256 is sum, and reports
// a mismatch as an error instead of io.EOF, so Storage.PutBlob never commits
// a wrong file.
type verifyingReader struct {
	r      io.Reader
	h      hash.Hash
	n, max int64
	sum    []byte
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if rem := v.max + 1 - v.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	if v.n > v.max {
		return n, fmt.Errorf("more than %d bytes: %w", v.max, ErrBlobMismatch)
	}
	if err == io.EOF {
		if v.n != v.max {
			return n, fmt.Errorf("got %d bytes, want %d: %w", v.n, v.max, ErrBlobMismatch)
		}
		if !bytes.Equal(v.h.Sum(nil), v.sum) {
			return n, fmt.Errorf("sha256 %x, want %x: %w", v.h.Sum(nil), v.sum, ErrBlobMismatch)
		}
	}
	return n, err
}

// UploadArtifact stages the build a (body r) of release version, content
// addressed, after checking that it has a's length and sha256; on a
// mismatch nothing is stored and the error wraps ErrBlobMismatch. The build
// is not served to clients until a published targets version names it. It
// is refused with ErrNotInitialized before the repository exists, with
// ErrBlobTooLarge over Config.MaxBlobBytes and with ErrStagingFull when it
// would take the staged builds past Config.MaxStagedBytes. It is
// idempotent; uploading a build does not stage it in a draft (see Stage).
func (r *Repo) UploadArtifact(ctx context.Context, version string, a ArtifactInfo, body io.Reader) error {
	if _, err := ParseVersion(version); err != nil {
		return err
	}
	t, sum, err := a.target(version)
	if err != nil {
		return err
	}
	if a.Length > r.cfg.MaxBlobBytes {
		return fmt.Errorf("%w: %s is %d bytes, the limit is %d (vigil-server --release-max-blob-bytes)", ErrBlobTooLarge, a.Name, a.Length, r.cfg.MaxBlobBytes)
	}
	if _, err := r.load(ctx); errors.Is(err, ErrNotInitialized) {
		return fmt.Errorf("%w: create it with `vigilctl repo init` before uploading builds", ErrNotInitialized)
	} else if err != nil {
		return err
	}
	name := blobPath(t, a.SHA256)
	release, err := r.reserveStaging(ctx, name, a.Length)
	if err != nil {
		return err
	}
	defer release()
	vr := &verifyingReader{r: body, h: sha256.New(), max: a.Length, sum: sum}
	if err := r.cfg.Storage.PutBlob(ctx, name, vr); err != nil {
		return fmt.Errorf("store %s: %w", a.Name, err)
	}
	return nil
}

// verifyBlob checks a stored blob's length and sha256.
func (r *Repo) verifyBlob(ctx context.Context, name string, length int64, sum []byte) error {
	rc, err := r.cfg.Storage.OpenBlob(ctx, name)
	if isNotExist(err) {
		return fmt.Errorf("%s: %w", name, ErrBlobMissing)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	vr := &verifyingReader{r: rc, h: sha256.New(), max: length, sum: sum}
	if _, err := io.Copy(io.Discard, vr); err != nil {
		return fmt.Errorf("stored %s: %w", name, err)
	}
	return nil
}

// StageOptions are the signed properties of a new release.
type StageOptions struct {
	// Channels to put the release on at once (moved from other versions).
	Channels []string
	// MinVersion is the floor recorded with the release; "" keeps the
	// current floor of each binary (see Floor), so floors never drop by accident.
	MinVersion string
	// AllowDowngrade lets updaters install this release over a higher version.
	AllowDowngrade bool
}

// DraftInfo describes a pending draft.
type DraftInfo struct {
	Name           string          `json:"name"` // a release version, or RenewDraft
	TargetsVersion int64           `json:"targets_version"`
	Expires        time.Time       `json:"expires"`
	Stale          bool            `json:"stale"` // another targets change was published since; Publish would fail
	Signatures     SignatureReport `json:"signatures"`
	Diff           TargetsDiff     `json:"diff"`
}

// Stage drafts the next targets metadata adding release version with the
// builds in artifacts, which must have been uploaded (UploadArtifact); each
// stored build is checked again. The draft (name: version) must then be
// signed to the targets threshold and published. A version already
// published gives ErrReleaseExists; a pending draft of that name ErrDraftPending.
func (r *Repo) Stage(ctx context.Context, version string, artifacts []ArtifactInfo, opts StageOptions) (DraftInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := ParseVersion(version); err != nil {
		return DraftInfo{}, err
	}
	if len(artifacts) == 0 {
		return DraftInfo{}, fmt.Errorf("stage %s: no artifacts: %w", version, ErrInvalidName)
	}
	for _, c := range opts.Channels {
		if err := validateChannel(c); err != nil {
			return DraftInfo{}, err
		}
	}
	if opts.MinVersion != "" {
		if _, err := ParseVersion(opts.MinVersion); err != nil {
			return DraftInfo{}, fmt.Errorf("min version: %w", err)
		}
	}
	st, err := r.load(ctx)
	if err != nil {
		return DraftInfo{}, err
	}
	if err := r.noDraft(ctx, version); err != nil {
		return DraftInfo{}, err
	}
	md := r.nextTargets(st)
	for p, tf := range md.Signed.Targets {
		if c, err := ParseCustom(tf); err == nil && c.Version == version {
			return DraftInfo{}, fmt.Errorf("%s (%s): %w", version, p, ErrReleaseExists)
		}
	}
	seen := map[string]bool{}
	binaries := map[string]bool{}
	for _, a := range artifacts {
		t, sum, err := a.target(version)
		if err != nil {
			return DraftInfo{}, err
		}
		if seen[a.Name] {
			return DraftInfo{}, fmt.Errorf("artifact %s listed twice: %w", a.Name, ErrInvalidName)
		}
		seen[a.Name] = true
		binaries[t.Binary] = true
		if err := r.verifyBlob(ctx, blobPath(t, a.SHA256), a.Length, sum); err != nil {
			return DraftInfo{}, err
		}
		floor := opts.MinVersion
		if floor == "" {
			floor = Floor(&md.Signed, t.Binary)
		}
		tf := &metadata.TargetFiles{Length: a.Length, Hashes: metadata.Hashes{HashAlgorithm: sum}, Path: t.Path()}
		if err := setCustom(tf, TargetCustom{Version: version, Channels: slices.Clone(opts.Channels), MinVersion: floor, AllowDowngrade: opts.AllowDowngrade}); err != nil {
			return DraftInfo{}, err
		}
		md.Signed.Targets[t.Path()] = tf
	}
	for _, c := range opts.Channels {
		for b := range binaries {
			if err := moveChannel(&md.Signed, b, c, version); err != nil {
				return DraftInfo{}, err
			}
		}
	}
	return r.saveDraft(ctx, st, version, md)
}

// Promote drafts the next targets metadata pointing channel at the published
// release version: every target of version gets the channel, and the other
// versions of the same binaries lose it. Like Stage, the draft (name:
// version) needs the targets threshold before Publish; the server alone
// cannot move a channel.
func (r *Repo) Promote(ctx context.Context, version, channel string) (DraftInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := ParseVersion(version); err != nil {
		return DraftInfo{}, err
	}
	if err := validateChannel(channel); err != nil {
		return DraftInfo{}, err
	}
	st, err := r.load(ctx)
	if err != nil {
		return DraftInfo{}, err
	}
	if err := r.noDraft(ctx, version); err != nil {
		return DraftInfo{}, err
	}
	md := r.nextTargets(st)
	binaries := map[string]bool{}
	for p := range md.Signed.Targets {
		if t, err := parseTargetPath(p); err == nil && t.Version == version {
			binaries[t.Binary] = true
		}
	}
	if len(binaries) == 0 {
		return DraftInfo{}, fmt.Errorf("%s: %w", version, ErrUnknownRelease)
	}
	before, _ := md.ToBytes(false)
	for b := range binaries {
		if err := moveChannel(&md.Signed, b, channel, version); err != nil {
			return DraftInfo{}, err
		}
	}
	if after, _ := md.ToBytes(false); bytes.Equal(before, after) {
		return DraftInfo{}, fmt.Errorf("%s is already on %s: %w", version, channel, ErrNoChange)
	}
	return r.saveDraft(ctx, st, version, md)
}

// moveChannel puts every target of binary at version on channel and takes it
// off the other versions of binary.
func moveChannel(t *metadata.TargetsType, binary, channel, version string) error {
	for p, tf := range t.Targets {
		tt, err := parseTargetPath(p)
		if err != nil || tt.Binary != binary {
			continue
		}
		c, err := ParseCustom(tf)
		if err != nil {
			return err
		}
		has := slices.Contains(c.Channels, channel)
		switch {
		case tt.Version == version && !has:
			c.Channels = append(c.Channels, channel)
		case tt.Version != version && has:
			c.Channels = slices.DeleteFunc(c.Channels, func(s string) bool { return s == channel })
		default:
			continue
		}
		if err := setCustom(tf, c); err != nil {
			return err
		}
	}
	return nil
}

// Renew drafts the next targets metadata with the same targets and a fresh
// expiry (name RenewDraft): release engineers sign it before targets expire,
// and after a root rotation that revoked a targets key.
func (r *Repo) Renew(ctx context.Context) (DraftInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.load(ctx)
	if err != nil {
		return DraftInfo{}, err
	}
	if err := r.noDraft(ctx, RenewDraft); err != nil {
		return DraftInfo{}, err
	}
	return r.saveDraft(ctx, st, RenewDraft, r.nextTargets(st))
}

// nextTargets copies the published targets (or an empty one) as the next
// version, unsigned, with a fresh expiry.
func (r *Repo) nextTargets(st *state) *metadata.Metadata[metadata.TargetsType] {
	md := metadata.Targets(expiry(r.cfg.Now(), r.cfg.Expiry.Targets))
	if st.targets != nil {
		c, _ := parseTargets(st.targetsJS)
		md.Signed.Targets = c.Signed.Targets
		md.Signed.Version = c.Signed.Version + 1
	}
	return md
}

func (r *Repo) noDraft(ctx context.Context, name string) error {
	_, err := r.cfg.Storage.GetDraft(ctx, name+draftSuffix)
	if err == nil {
		return fmt.Errorf("draft %s: %w", name, ErrDraftPending)
	}
	if !isNotExist(err) {
		return err
	}
	return nil
}

func (r *Repo) saveDraft(ctx context.Context, st *state, name string, md *metadata.Metadata[metadata.TargetsType]) (DraftInfo, error) {
	if err := validateTargetsContent(&md.Signed); err != nil {
		return DraftInfo{}, err
	}
	b, err := md.ToBytes(true)
	if err != nil {
		return DraftInfo{}, err
	}
	if err := r.cfg.Storage.PutDraft(ctx, name+draftSuffix, b); err != nil {
		return DraftInfo{}, fmt.Errorf("store draft %s: %w", name, err)
	}
	r.cfg.Logger.InfoContext(ctx, "Targets draft created.", logDraft, name, logVersion, md.Signed.Version)
	return draftInfo(st, name, md, b)
}

func draftInfo(st *state, name string, md *metadata.Metadata[metadata.TargetsType], b []byte) (DraftInfo, error) {
	di := DraftInfo{Name: name, TargetsVersion: md.Signed.Version, Expires: md.Signed.Expires}
	di.Stale = md.Signed.Version != st.targetsVersion()+1
	rep, err := checkSignatures(&st.root.Signed, metadata.TARGETS, md.Signed, md.Signatures)
	if err != nil {
		return di, err
	}
	di.Signatures = rep
	if !di.Stale {
		if di.Diff, err = DiffTargets(st.targetsJS, b); err != nil {
			return di, err
		}
	}
	return di, nil
}

func (r *Repo) readDraft(ctx context.Context, name string) (*metadata.Metadata[metadata.TargetsType], []byte, error) {
	if err := checkDraftName(name); err != nil {
		return nil, nil, err
	}
	b, err := r.cfg.Storage.GetDraft(ctx, name+draftSuffix)
	if isNotExist(err) {
		return nil, nil, fmt.Errorf("draft %s: %w", name, ErrNoDraft)
	}
	if err != nil {
		return nil, nil, err
	}
	md, err := parseTargets(b)
	if err != nil {
		return nil, nil, err
	}
	return md, b, nil
}

// Draft returns the draft's targets metadata with the signatures collected so
// far: what a release engineer downloads, checks with DiffTargets against
// the published targets (Targets) and signs with SignMetadata.
func (r *Repo) Draft(ctx context.Context, name string) ([]byte, error) {
	_, b, err := r.readDraft(ctx, name)
	return b, err
}

// DraftStatus describes a pending draft: signatures present and missing
// against the current root, and its diff to the published targets.
func (r *Repo) DraftStatus(ctx context.Context, name string) (DraftInfo, error) {
	st, err := r.load(ctx)
	if err != nil {
		return DraftInfo{}, err
	}
	md, b, err := r.readDraft(ctx, name)
	if err != nil {
		return DraftInfo{}, err
	}
	return draftInfo(st, name, md, b)
}

// Discard deletes a pending draft, and the staged builds it named that no
// other pending draft names, so they stop counting against the staging quota.
func (r *Repo) Discard(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	md, _, err := r.readDraft(ctx, name)
	if err != nil {
		return err
	}
	if err := r.cfg.Storage.DeleteDraft(ctx, name+draftSuffix); err != nil {
		return err
	}
	named, err := r.draftBlobs(ctx)
	if err != nil {
		r.cfg.Logger.WarnContext(ctx, "Discarded draft's staged builds kept: pending drafts unreadable.", logDraft, name, "error", err)
		return nil
	}
	for p, tf := range md.Signed.Targets {
		b := ConsistentTargetPath(p, sha256Of(tf))
		if named[b] {
			continue
		}
		if err := r.cfg.Storage.DeleteStagedBlob(ctx, b); err != nil {
			r.cfg.Logger.WarnContext(ctx, "Discarded draft's staged build not deleted.", logDraft, name, "blob", b, "error", err)
		}
	}
	return nil
}

// AddSignature adds a release engineer's signature to a draft after checking
// it: the key must be a targets key of the current root (else ErrUnknownKey)
// and the signature must verify over the draft (else ErrBadSignature). A
// second signature by the same key is ignored. It returns the draft's status.
func (r *Repo) AddSignature(ctx context.Context, name string, sig metadata.Signature) (DraftInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.load(ctx)
	if err != nil {
		return DraftInfo{}, err
	}
	md, b, err := r.readDraft(ctx, name)
	if err != nil {
		return DraftInfo{}, err
	}
	if slices.ContainsFunc(md.Signatures, func(s metadata.Signature) bool { return s.KeyID == sig.KeyID }) {
		return draftInfo(st, name, md, b)
	}
	rep, err := checkSignatures(&st.root.Signed, metadata.TARGETS, md.Signed, []metadata.Signature{sig})
	if err != nil {
		return DraftInfo{}, err
	}
	rep.Threshold = 1
	if err := rep.Err(); err != nil {
		return DraftInfo{}, fmt.Errorf("draft %s: %w", name, err)
	}
	md.Signatures = append(md.Signatures, metadata.Signature{KeyID: sig.KeyID, Signature: sig.Signature})
	if b, err = md.ToBytes(true); err != nil {
		return DraftInfo{}, err
	}
	if err := r.cfg.Storage.PutDraft(ctx, name+draftSuffix, b); err != nil {
		return DraftInfo{}, err
	}
	r.cfg.Logger.InfoContext(ctx, "Targets draft signed.", logDraft, name, "keyid", sig.KeyID)
	return draftInfo(st, name, md, b)
}

// AddSignatures adds every signature of signedJSON, the draft as signed
// offline by SignMetadata, after checking that its signed part is the
// draft's. Each signature is checked as by AddSignature.
func (r *Repo) AddSignatures(ctx context.Context, name string, signedJSON []byte) (DraftInfo, error) {
	up, err := parseTargets(signedJSON)
	if err != nil {
		return DraftInfo{}, err
	}
	md, _, err := r.readDraft(ctx, name)
	if err != nil {
		return DraftInfo{}, err
	}
	a, err := cjson.EncodeCanonical(md.Signed)
	if err != nil {
		return DraftInfo{}, err
	}
	b, err := cjson.EncodeCanonical(up.Signed)
	if err != nil {
		return DraftInfo{}, fmt.Errorf("canonicalize uploaded metadata: %v: %w", err, ErrInvalidMetadata)
	}
	if !bytes.Equal(a, b) {
		return DraftInfo{}, fmt.Errorf("uploaded metadata differs from draft %s: %w", name, ErrBadSignature)
	}
	var di DraftInfo
	for _, s := range up.Signatures {
		if di, err = r.AddSignature(ctx, name, s); err != nil {
			return di, err
		}
	}
	if len(up.Signatures) == 0 {
		return r.DraftStatus(ctx, name)
	}
	return di, nil
}

// RemoveSignature drops the signature of keyID from a draft (for example one
// made with a key a root rotation has since revoked).
func (r *Repo) RemoveSignature(ctx context.Context, name, keyID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	md, _, err := r.readDraft(ctx, name)
	if err != nil {
		return err
	}
	md.Signatures = slices.DeleteFunc(md.Signatures, func(s metadata.Signature) bool { return s.KeyID == keyID })
	b, err := md.ToBytes(true)
	if err != nil {
		return err
	}
	return r.cfg.Storage.PutDraft(ctx, name+draftSuffix, b)
}

// Publish publishes a draft as the next targets metadata. It is refused with
// ErrUnknownKey, ErrBadSignature or ErrThresholdNotMet unless every signature
// on the draft verifies with a targets key of the current root and they
// reach the targets threshold; with ErrStaleDraft if another targets change
// was published since the draft was made; with ErrBlobMismatch or
// ErrBlobMissing if a new build is not stored intact. Then the server signs
// a new snapshot and timestamp and publishes the set, timestamp last.
func (r *Repo) Publish(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.load(ctx)
	if err != nil {
		return err
	}
	_, b, err := r.readDraft(ctx, name)
	if err != nil {
		return err
	}
	now := r.cfg.Now()
	tf, blobs, err := r.acceptTargets(ctx, &st.root.Signed, st, b, now)
	if err != nil {
		return fmt.Errorf("publish %s: %w", name, err)
	}
	online, err := r.onlineFiles(ctx, &st.root.Signed, st, b, st.targetsVersion()+1, now)
	if err != nil {
		return err
	}
	if err := selfCheck(st.rootJSON, online, b, now); err != nil {
		return err
	}
	if err := r.publishBlobs(ctx, blobs); err != nil {
		return err
	}
	if err := r.cfg.Storage.PublishMetadata(ctx, append([]MetadataFile{tf}, online...)); err != nil {
		return fmt.Errorf("publish %s: %w", name, err)
	}
	if err := r.cfg.Storage.DeleteDraft(ctx, name+draftSuffix); err != nil {
		r.cfg.Logger.WarnContext(ctx, "Published draft could not be deleted.", logDraft, name, "error", err)
	}
	r.cfg.Logger.InfoContext(ctx, "Targets published.", logDraft, name, logVersion, st.targetsVersion()+1)
	return nil
}

func (r *Repo) draftNames(ctx context.Context) ([]string, error) {
	names, err := r.cfg.Storage.ListDrafts(ctx)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, n := range names {
		if d, ok := strings.CutSuffix(n, draftSuffix); ok && checkDraftName(d) == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// Artifact is one build of a release.
type Artifact struct {
	Target
	Path   string `json:"path"` // TUF target path
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"`
}

// Release is one version as `vigilctl release ls` shows it.
type Release struct {
	Version        string     `json:"version"`
	Published      bool       `json:"published"`
	Artifacts      []Artifact `json:"artifacts"` // published builds, or the draft's if not published
	Channels       []string   `json:"channels"`  // published channels
	MinVersion     string     `json:"min_version"`
	AllowDowngrade bool       `json:"allow_downgrade"`
	Draft          *DraftInfo `json:"draft,omitempty"` // pending draft named by this version
}

// Releases lists published and drafted releases, highest version first.
func (r *Repo) Releases(ctx context.Context) ([]Release, error) {
	st, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	byVersion := map[string]*Release{}
	get := func(v string) *Release {
		if byVersion[v] == nil {
			byVersion[v] = &Release{Version: v, Artifacts: []Artifact{}, Channels: []string{}}
		}
		return byVersion[v]
	}
	collect := func(t *metadata.TargetsType, published bool) {
		for p, tf := range t.Targets {
			tt, c, err := validateTarget(p, tf)
			if err != nil {
				continue
			}
			rel := get(tt.Version)
			if published != rel.Published && len(rel.Artifacts) > 0 {
				continue // a draft's copy of a published release
			}
			rel.Published = published
			rel.Artifacts = append(rel.Artifacts, Artifact{Target: tt, Path: p, Length: tf.Length, SHA256: sha256Of(tf)})
			rel.MinVersion, rel.AllowDowngrade = c.MinVersion, c.AllowDowngrade
			if published {
				for _, ch := range c.Channels {
					if !slices.Contains(rel.Channels, ch) {
						rel.Channels = append(rel.Channels, ch)
					}
				}
			}
		}
	}
	if st.targets != nil {
		collect(&st.targets.Signed, true)
	}
	names, err := r.draftNames(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == RenewDraft {
			continue
		}
		md, b, err := r.readDraft(ctx, n)
		if err != nil {
			return nil, err
		}
		rel := get(n)
		if !rel.Published {
			for p, tf := range md.Signed.Targets {
				if tt, err := parseTargetPath(p); err == nil && tt.Version == n {
					collect(&metadata.TargetsType{Targets: map[string]*metadata.TargetFiles{p: tf}}, false)
				}
			}
		}
		di, err := draftInfo(st, n, md, b)
		if err != nil {
			return nil, err
		}
		rel.Draft = &di
	}
	out := make([]Release, 0, len(byVersion))
	for _, rel := range byVersion {
		sort.Slice(rel.Artifacts, func(i, j int) bool { return rel.Artifacts[i].Path < rel.Artifacts[j].Path })
		sort.Strings(rel.Channels)
		out = append(out, *rel)
	}
	sort.Slice(out, func(i, j int) bool {
		c, _ := releasespec.CompareVersions(out[i].Version, out[j].Version)
		return c > 0
	})
	return out, nil
}
