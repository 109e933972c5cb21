package release

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/signing"
)

// ExpiryPolicy says how long each role's metadata is valid after it is signed.
// Zero fields take the defaults of DefaultExpiryPolicy.
type ExpiryPolicy struct {
	Root      time.Duration // default 1 year (365 days)
	Targets   time.Duration // default 3 months (90 days)
	Snapshot  time.Duration // default 1 week
	Timestamp time.Duration // default 1 day
}

// DefaultExpiryPolicy returns root 1 year, targets 3 months, snapshot 1 week, timestamp 1 day.
func DefaultExpiryPolicy() ExpiryPolicy {
	return ExpiryPolicy{
		Root:      365 * 24 * time.Hour,
		Targets:   90 * 24 * time.Hour,
		Snapshot:  7 * 24 * time.Hour,
		Timestamp: 24 * time.Hour,
	}
}

func (p ExpiryPolicy) withDefaults() ExpiryPolicy {
	d := DefaultExpiryPolicy()
	if p.Root <= 0 {
		p.Root = d.Root
	}
	if p.Targets <= 0 {
		p.Targets = d.Targets
	}
	if p.Snapshot <= 0 {
		p.Snapshot = d.Snapshot
	}
	if p.Timestamp <= 0 {
		p.Timestamp = d.Timestamp
	}
	return p
}

// expiry is now+d in UTC, truncated to whole seconds (TUF clients expect
// "2006-01-02T15:04:05Z").
func expiry(now time.Time, d time.Duration) time.Time {
	return now.UTC().Truncate(time.Second).Add(d)
}

// RoleKeys are the public keys and threshold of one role.
type RoleKeys struct {
	Keys      []*metadata.Key
	Threshold int
}

// RootSpec describes root metadata to build.
type RootSpec struct {
	Version int64     // default 1; a rotation uses the current version + 1
	Expires time.Time // default now + DefaultExpiryPolicy().Root
	Root    RoleKeys  // offline
	Targets RoleKeys  // offline
	// Snapshot and Timestamp are the server's online keys (threshold default 1).
	Snapshot  RoleKeys
	Timestamp RoleKeys
}

// BuildRoot returns unsigned root metadata for spec, ready to be signed with
// SignMetadata by the root keys (and, for a rotation, by the previous root's
// keys too). It checks the result as Repo will.
func BuildRoot(spec RootSpec) ([]byte, error) {
	if spec.Version == 0 {
		spec.Version = 1
	}
	if spec.Expires.IsZero() {
		spec.Expires = expiry(time.Now(), DefaultExpiryPolicy().Root)
	}
	md := metadata.Root(spec.Expires.UTC().Truncate(time.Second))
	md.Signed.Version = spec.Version
	md.Signed.ConsistentSnapshot = true
	for role, rk := range map[string]RoleKeys{
		metadata.ROOT: spec.Root, metadata.TARGETS: spec.Targets,
		metadata.SNAPSHOT: spec.Snapshot, metadata.TIMESTAMP: spec.Timestamp,
	} {
		if rk.Threshold == 0 && (role == metadata.SNAPSHOT || role == metadata.TIMESTAMP) {
			rk.Threshold = 1
		}
		for _, k := range rk.Keys {
			c := *k
			if err := md.Signed.AddKey(&c, role); err != nil {
				return nil, fmt.Errorf("add %s key: %w", role, err)
			}
		}
		md.Signed.Roles[role].Threshold = rk.Threshold
	}
	for _, r := range md.Signed.Roles {
		sort.Strings(r.KeyIDs)
	}
	if err := validateRoot(&md.Signed); err != nil {
		return nil, err
	}
	return md.ToBytes(true)
}

// RootSpecOf returns the spec of existing root metadata, to edit for a
// rotation (set Version to the current version + 1 and a new Expires).
func RootSpecOf(rootJSON []byte) (RootSpec, error) {
	md, err := parseRoot(rootJSON)
	if err != nil {
		return RootSpec{}, err
	}
	spec := RootSpec{Version: md.Signed.Version, Expires: md.Signed.Expires}
	get := func(role string) RoleKeys {
		r := md.Signed.Roles[role]
		if r == nil {
			return RoleKeys{}
		}
		rk := RoleKeys{Threshold: r.Threshold}
		for _, id := range r.KeyIDs {
			if k, ok := md.Signed.Keys[id]; ok {
				rk.Keys = append(rk.Keys, k)
			}
		}
		return rk
	}
	spec.Root, spec.Targets = get(metadata.ROOT), get(metadata.TARGETS)
	spec.Snapshot, spec.Timestamp = get(metadata.SNAPSHOT), get(metadata.TIMESTAMP)
	return spec, nil
}

// EmptyTargets returns unsigned targets metadata version 1 with no targets,
// for Init when the first targets metadata should be published with the root.
func EmptyTargets(expires time.Time) ([]byte, error) {
	md := metadata.Targets(expires.UTC().Truncate(time.Second))
	return md.ToBytes(true)
}

// contextSigner is implemented by *signing.Key.
type contextSigner interface {
	WithContext(ctx context.Context) signing.Signer
}

// SignMetadata adds s's signature to root or targets metadata (any existing
// signature by the same key is replaced) and returns the new metadata and the
// signature. It does not check that s is trusted for the role; use
// VerifyMetadata for that.
func SignMetadata(ctx context.Context, data []byte, s signing.Signer) ([]byte, metadata.Signature, error) {
	typ, err := metadataType(data)
	if err != nil {
		return nil, metadata.Signature{}, err
	}
	if cs, ok := s.(contextSigner); ok {
		s = cs.WithContext(ctx)
	}
	switch typ {
	case metadata.ROOT:
		md, err := parseRoot(data)
		if err != nil {
			return nil, metadata.Signature{}, err
		}
		return signInto(md, s)
	case metadata.TARGETS:
		md, err := parseTargets(data)
		if err != nil {
			return nil, metadata.Signature{}, err
		}
		return signInto(md, s)
	}
	return nil, metadata.Signature{}, fmt.Errorf("sign %s metadata: only root and targets are signed offline: %w", typ, ErrInvalidMetadata)
}

func signInto[T metadata.Roles](md *metadata.Metadata[T], s signing.Signer) ([]byte, metadata.Signature, error) {
	id := s.KeyID()
	md.Signatures = slices.DeleteFunc(md.Signatures, func(sig metadata.Signature) bool { return sig.KeyID == id })
	sig, err := md.Sign(s)
	if err != nil {
		return nil, metadata.Signature{}, fmt.Errorf("sign metadata with key %s: %w", id, err)
	}
	b, err := md.ToBytes(true)
	if err != nil {
		return nil, metadata.Signature{}, err
	}
	return b, *sig, nil
}

// VerifyMetadata checks the signatures of root or targets metadata against
// the root metadata rootJSON (for a new root, call it once with the previous
// root and once with the new root itself). The error is report.Err().
func VerifyMetadata(rootJSON, data []byte) (SignatureReport, error) {
	root, err := parseRoot(rootJSON)
	if err != nil {
		return SignatureReport{}, err
	}
	typ, err := metadataType(data)
	if err != nil {
		return SignatureReport{}, err
	}
	var rep SignatureReport
	switch typ {
	case metadata.ROOT:
		md, err := parseRoot(data)
		if err != nil {
			return rep, err
		}
		rep, err = checkSignatures(&root.Signed, typ, md.Signed, md.Signatures)
		if err != nil {
			return rep, err
		}
	case metadata.TARGETS:
		md, err := parseTargets(data)
		if err != nil {
			return rep, err
		}
		rep, err = checkSignatures(&root.Signed, typ, md.Signed, md.Signatures)
		if err != nil {
			return rep, err
		}
	default:
		return rep, fmt.Errorf("verify %s metadata offline: %w", typ, ErrInvalidMetadata)
	}
	return rep, rep.Err()
}

// ChangeKind says how a target differs between two targets metadata.
type ChangeKind string

// Change kinds.
const (
	Added    ChangeKind = "added"
	Removed  ChangeKind = "removed"
	Modified ChangeKind = "modified"
)

// TargetChange is one target that differs.
type TargetChange struct {
	Path    string     `json:"path"`
	Kind    ChangeKind `json:"kind"`
	Details []string   `json:"details"` // human-readable, e.g. "channels: [beta] -> [beta stable]"
}

// TargetsDiff is what a targets draft changes compared to the published targets.
type TargetsDiff struct {
	FromVersion int64          `json:"from_version"` // 0 if nothing was published
	ToVersion   int64          `json:"to_version"`
	Expires     time.Time      `json:"expires"`
	Changes     []TargetChange `json:"changes"`
	// Other lists changes outside the targets map (delegations, unknown fields).
	Other []string `json:"other"`
}

// String renders the diff for a terminal.
func (d TargetsDiff) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "targets version %d -> %d, expires %s\n", d.FromVersion, d.ToVersion, d.Expires.UTC().Format(time.RFC3339))
	if len(d.Changes) == 0 && len(d.Other) == 0 {
		b.WriteString("  no change to targets\n")
	}
	for _, c := range d.Changes {
		fmt.Fprintf(&b, "  %-8s %s\n", c.Kind, c.Path)
		for _, det := range c.Details {
			fmt.Fprintf(&b, "           %s\n", det)
		}
	}
	for _, o := range d.Other {
		fmt.Fprintf(&b, "  other    %s\n", o)
	}
	return b.String()
}

// DiffTargets describes what draft changes compared to published (nil when
// no targets metadata was published yet). It also checks that the draft is
// the next version. Show it to a release engineer before signing.
func DiffTargets(published, draft []byte) (TargetsDiff, error) {
	d := TargetsDiff{Changes: []TargetChange{}, Other: []string{}}
	nw, err := parseTargets(draft)
	if err != nil {
		return d, err
	}
	old := metadata.Targets(time.Time{})
	old.Signed.Version = 0
	if published != nil {
		if old, err = parseTargets(published); err != nil {
			return d, err
		}
	}
	d.FromVersion, d.ToVersion, d.Expires = old.Signed.Version, nw.Signed.Version, nw.Signed.Expires
	if nw.Signed.Version != old.Signed.Version+1 {
		return d, fmt.Errorf("draft version %d does not follow published version %d: %w", nw.Signed.Version, old.Signed.Version, ErrStaleDraft)
	}
	paths := map[string]bool{}
	for p := range old.Signed.Targets {
		paths[p] = true
	}
	for p := range nw.Signed.Targets {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	for _, p := range sorted {
		o, n := old.Signed.Targets[p], nw.Signed.Targets[p]
		switch {
		case o == nil:
			d.Changes = append(d.Changes, TargetChange{Path: p, Kind: Added, Details: describeTarget(n)})
		case n == nil:
			d.Changes = append(d.Changes, TargetChange{Path: p, Kind: Removed, Details: describeTarget(o)})
		default:
			if det := compareTarget(o, n); len(det) > 0 {
				d.Changes = append(d.Changes, TargetChange{Path: p, Kind: Modified, Details: det})
			}
		}
	}
	oj, _ := json.Marshal(old.Signed.Delegations)
	nj, _ := json.Marshal(nw.Signed.Delegations)
	if !bytes.Equal(oj, nj) {
		d.Other = append(d.Other, "delegations changed")
	}
	ou, _ := json.Marshal(old.Signed.UnrecognizedFields)
	nu, _ := json.Marshal(nw.Signed.UnrecognizedFields)
	if len(nw.Signed.UnrecognizedFields) > 0 && !bytes.Equal(ou, nu) {
		d.Other = append(d.Other, "unrecognized fields changed: "+string(nu))
	}
	return d, nil
}

func describeTarget(tf *metadata.TargetFiles) []string {
	det := []string{fmt.Sprintf("length %d sha256 %s", tf.Length, sha256Of(tf))}
	if c, err := ParseCustom(tf); err == nil {
		det = append(det, fmt.Sprintf("version %s channels %v min_version %q allow_downgrade %v", c.Version, c.Channels, c.MinVersion, c.AllowDowngrade))
	} else {
		det = append(det, "custom: "+err.Error())
	}
	for h := range tf.Hashes {
		if h != HashAlgorithm {
			det = append(det, "extra hash "+h)
		}
	}
	return det
}

func compareTarget(o, n *metadata.TargetFiles) []string {
	var det []string
	if o.Length != n.Length {
		det = append(det, fmt.Sprintf("length: %d -> %d", o.Length, n.Length))
	}
	if !o.Hashes.Equal(n.Hashes) || len(o.Hashes) != len(n.Hashes) {
		det = append(det, fmt.Sprintf("CONTENT CHANGED: sha256 %s -> %s", sha256Of(o), sha256Of(n)))
	}
	oc, oerr := ParseCustom(o)
	nc, nerr := ParseCustom(n)
	switch {
	case oerr != nil || nerr != nil:
		var ob, nb []byte
		if o.Custom != nil {
			ob = *o.Custom
		}
		if n.Custom != nil {
			nb = *n.Custom
		}
		if !bytes.Equal(ob, nb) {
			det = append(det, fmt.Sprintf("custom: %s -> %s", ob, nb))
		}
	default:
		if oc.Version != nc.Version {
			det = append(det, fmt.Sprintf("version: %s -> %s", oc.Version, nc.Version))
		}
		if !slices.Equal(oc.Channels, nc.Channels) {
			det = append(det, fmt.Sprintf("channels: %v -> %v", oc.Channels, nc.Channels))
		}
		if oc.MinVersion != nc.MinVersion {
			det = append(det, fmt.Sprintf("min_version: %q -> %q", oc.MinVersion, nc.MinVersion))
		}
		if oc.AllowDowngrade != nc.AllowDowngrade {
			det = append(det, fmt.Sprintf("allow_downgrade: %v -> %v", oc.AllowDowngrade, nc.AllowDowngrade))
		}
	}
	return det
}
