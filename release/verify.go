package release

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigilhq/vigil/signing"
)

// Size limits for metadata the repository accepts (go-tuf's client defaults).
const (
	MaxRootSize    = 512000
	MaxTargetsSize = 5000000
)

// SignatureReport describes the signatures on one piece of metadata, checked
// against the keys and threshold a root gives its role.
type SignatureReport struct {
	Role      string   `json:"role"`
	Threshold int      `json:"threshold"`
	Valid     []string `json:"valid"`   // trusted key IDs whose signature verifies
	Invalid   []string `json:"invalid"` // trusted key IDs whose signature does not verify
	Unknown   []string `json:"unknown"` // key IDs the role does not trust
	Missing   []string `json:"missing"` // trusted key IDs that have not signed
}

// ThresholdMet reports whether enough distinct trusted keys signed validly.
func (r SignatureReport) ThresholdMet() bool { return len(r.Valid) >= r.Threshold }

// Err is nil when the threshold is met and every signature is valid and from
// a trusted key; otherwise ErrUnknownKey, ErrBadSignature or
// ErrThresholdNotMet (checked in that order).
func (r SignatureReport) Err() error {
	switch {
	case len(r.Unknown) > 0:
		return fmt.Errorf("%s signed by %v: %w", r.Role, r.Unknown, ErrUnknownKey)
	case len(r.Invalid) > 0:
		return fmt.Errorf("%s signature of %v: %w", r.Role, r.Invalid, ErrBadSignature)
	case !r.ThresholdMet():
		return fmt.Errorf("%s has %d of %d signatures: %w", r.Role, len(r.Valid), r.Threshold, ErrThresholdNotMet)
	}
	return nil
}

// checkSignatures verifies sigs over the canonical form of signed against
// the keys root trusts for role. Keys are counted once per public key, as
// go-tuf's client does.
func checkSignatures(root *metadata.RootType, role string, signed any, sigs []metadata.Signature) (SignatureReport, error) {
	rep := SignatureReport{Role: role, Valid: []string{}, Invalid: []string{}, Unknown: []string{}, Missing: []string{}}
	r, ok := root.Roles[role]
	if !ok {
		return rep, fmt.Errorf("root has no role %q: %w", role, ErrInvalidRoot)
	}
	rep.Threshold = r.Threshold
	payload, err := cjson.EncodeCanonical(signed)
	if err != nil {
		return rep, fmt.Errorf("canonicalize %s: %w", role, err)
	}
	seenKeys := map[string]bool{}
	signedBy := map[string]bool{}
	for _, s := range sigs {
		signedBy[s.KeyID] = true
		if !slices.Contains(r.KeyIDs, s.KeyID) {
			rep.Unknown = append(rep.Unknown, s.KeyID)
			continue
		}
		key, ok := root.Keys[s.KeyID]
		if !ok {
			rep.Unknown = append(rep.Unknown, s.KeyID)
			continue
		}
		fp, err := keyFingerprint(key)
		if err != nil {
			rep.Invalid = append(rep.Invalid, s.KeyID)
			continue
		}
		v, err := signing.Verifier(key)
		if err != nil || v.VerifySignature(bytes.NewReader(s.Signature), bytes.NewReader(payload)) != nil {
			rep.Invalid = append(rep.Invalid, s.KeyID)
			continue
		}
		if !seenKeys[fp] {
			seenKeys[fp] = true
			rep.Valid = append(rep.Valid, s.KeyID)
		}
	}
	for _, id := range r.KeyIDs {
		if !signedBy[id] {
			rep.Missing = append(rep.Missing, id)
		}
	}
	sort.Strings(rep.Valid)
	sort.Strings(rep.Invalid)
	sort.Strings(rep.Unknown)
	sort.Strings(rep.Missing)
	return rep, nil
}

func keyFingerprint(k *metadata.Key) (string, error) {
	pub, err := k.ToPublicKey()
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// topLevelRoles are the roles a root must define, and the only ones.
var topLevelRoles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// validateRoot checks the structure of root metadata: the four roles, each
// with a reachable threshold of distinct, parseable keys whose IDs are their
// TUF key IDs; consistent snapshots; and no key shared between an offline
// role (root, targets) and an online one (snapshot, timestamp).
func validateRoot(root *metadata.RootType) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), ErrInvalidRoot)
	}
	if root.Type != metadata.ROOT {
		return bad("_type %q", root.Type)
	}
	if root.Version < 1 {
		return bad("version %d", root.Version)
	}
	if !root.ConsistentSnapshot {
		return bad("consistent_snapshot must be true")
	}
	if root.Expires.IsZero() {
		return bad("no expiry")
	}
	for id, k := range root.Keys {
		kid, err := k.ID()
		if err != nil {
			return bad("key %s: %v", id, err)
		}
		if kid != id {
			return bad("key listed as %s has key ID %s", id, kid)
		}
		if _, err := signing.Verifier(k); err != nil {
			return bad("key %s: %v", id, err)
		}
	}
	if len(root.Roles) != len(topLevelRoles) {
		return bad("want exactly the roles %v", topLevelRoles)
	}
	for _, name := range topLevelRoles {
		r, ok := root.Roles[name]
		if !ok {
			return bad("no %s role", name)
		}
		if r.Threshold < 1 {
			return bad("%s threshold %d", name, r.Threshold)
		}
		fps := map[string]bool{}
		for _, id := range r.KeyIDs {
			k, ok := root.Keys[id]
			if !ok {
				return bad("%s key %s not in keys", name, id)
			}
			fp, err := keyFingerprint(k)
			if err != nil {
				return bad("key %s: %v", id, err)
			}
			if fps[fp] {
				return bad("%s lists one key twice", name)
			}
			fps[fp] = true
		}
		if len(fps) < r.Threshold {
			return bad("%s threshold %d with %d keys", name, r.Threshold, len(fps))
		}
	}
	offline := map[string]bool{}
	for _, role := range []string{metadata.ROOT, metadata.TARGETS} {
		for _, id := range root.Roles[role].KeyIDs {
			fp, _ := keyFingerprint(root.Keys[id])
			offline[fp] = true
		}
	}
	for _, role := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
		for _, id := range root.Roles[role].KeyIDs {
			if fp, _ := keyFingerprint(root.Keys[id]); offline[fp] {
				return fmt.Errorf("key %s is trusted for the online %s role and an offline role: %w", id, role, ErrOnlineKeys)
			}
		}
	}
	return nil
}

// metadataType returns the "_type" of the signed part of metadata bytes.
func metadataType(data []byte) (string, error) {
	var m struct {
		Signed struct {
			Type string `json:"_type"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return "", fmt.Errorf("parse metadata: %v: %w", err, ErrInvalidMetadata)
	}
	if !slices.Contains(topLevelRoles, m.Signed.Type) {
		return "", fmt.Errorf("metadata _type %q: %w", m.Signed.Type, ErrInvalidMetadata)
	}
	return m.Signed.Type, nil
}

func parseRoot(data []byte) (*metadata.Metadata[metadata.RootType], error) {
	if len(data) > MaxRootSize {
		return nil, fmt.Errorf("root metadata larger than %d bytes: %w", MaxRootSize, ErrInvalidRoot)
	}
	md, err := metadata.Root().FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("parse root: %v: %w", err, ErrInvalidRoot)
	}
	return md, nil
}

func parseTargets(data []byte) (*metadata.Metadata[metadata.TargetsType], error) {
	if len(data) > MaxTargetsSize {
		return nil, fmt.Errorf("targets metadata larger than %d bytes: %w", MaxTargetsSize, ErrInvalidMetadata)
	}
	md, err := metadata.Targets().FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("parse targets: %v: %w", err, ErrInvalidMetadata)
	}
	return md, nil
}

// validateTargetsContent checks targets metadata as Repo writes it: no
// delegations, every target a valid Vigil build entry.
func validateTargetsContent(t *metadata.TargetsType) error {
	if t.Type != metadata.TARGETS || t.Version < 1 || t.Expires.IsZero() {
		return fmt.Errorf("targets _type/version/expires: %w", ErrInvalidMetadata)
	}
	if t.Delegations != nil {
		return fmt.Errorf("targets delegations are not used: %w", ErrInvalidMetadata)
	}
	for p, tf := range t.Targets {
		if _, _, err := validateTarget(p, tf); err != nil {
			return err
		}
	}
	return nil
}
