package release

import "errors"

// Errors callers branch on. The first group are security refusals.
var (
	// ErrThresholdNotMet: metadata carries fewer valid signatures than its role's threshold.
	ErrThresholdNotMet = errors.New("release: signature threshold not met")
	// ErrBadSignature: a signature does not verify with the key it names.
	ErrBadSignature = errors.New("release: signature does not verify")
	// ErrUnknownKey: a signature names a key that the role does not trust (never
	// listed, or revoked by a root rotation).
	ErrUnknownKey = errors.New("release: signature from a key the role does not trust")
	// ErrInvalidRoot: root metadata is malformed or not acceptable as the next root.
	ErrInvalidRoot = errors.New("release: invalid root metadata")
	// ErrInvalidMetadata: metadata is malformed, of the wrong type or version.
	ErrInvalidMetadata = errors.New("release: invalid metadata")
	// ErrOnlineKeys: the online snapshot/timestamp keys do not match the root,
	// or an online key is trusted for an offline role.
	ErrOnlineKeys = errors.New("release: online keys do not match root")
	// ErrExpired: metadata has already expired.
	ErrExpired = errors.New("release: metadata expired")
	// ErrBlobMismatch: an uploaded or stored file does not have the length or sha256 claimed.
	ErrBlobMismatch = errors.New("release: file length or sha256 mismatch")

	// ErrNotInitialized: the repository has no root yet.
	ErrNotInitialized = errors.New("release: repository not initialized")
	// ErrAlreadyInitialized: Init on a repository that has a root.
	ErrAlreadyInitialized = errors.New("release: repository already initialized")
	// ErrInvalidName: a version, artifact, channel or draft name is malformed.
	ErrInvalidName = errors.New("release: invalid name")
	// ErrReleaseExists: the version is already published.
	ErrReleaseExists = errors.New("release: version already published")
	// ErrUnknownRelease: no published release has that version.
	ErrUnknownRelease = errors.New("release: no such published release")
	// ErrNoDraft: no draft is pending under that name.
	ErrNoDraft = errors.New("release: no such draft")
	// ErrDraftPending: a draft is already pending under that name; discard it first.
	ErrDraftPending = errors.New("release: a draft is already pending")
	// ErrStaleDraft: the draft was made from targets metadata that is no
	// longer current (another change was published first); draft it again.
	ErrStaleDraft = errors.New("release: draft is based on outdated targets metadata")
	// ErrBlobMissing: a staged artifact was not uploaded.
	ErrBlobMissing = errors.New("release: artifact not uploaded")
	// ErrNoChange: a promotion would change nothing.
	ErrNoChange = errors.New("release: nothing to change")
	// ErrBlobTooLarge: an upload is larger than Config.MaxBlobBytes.
	ErrBlobTooLarge = errors.New("release: build larger than the per-build limit")
	// ErrStagingFull: an upload would take the staged (uploaded, unpublished) builds past
	// Config.MaxStagedBytes; publish or discard pending releases first.
	ErrStagingFull = errors.New("release: staging quota exceeded")
	// ErrConflict: Storage refused to replace a published file with different content.
	ErrConflict = errors.New("release: published file exists with different content")
)
