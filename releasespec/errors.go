package releasespec

import "errors"

// Errors callers branch on (errors.Is); messages add the offending value.
var (
	// ErrInvalidVersion: not a version in the one accepted spelling (see ParseVersion).
	ErrInvalidVersion = errors.New("invalid version")
	// ErrInvalidTarget: not a target path "<binary>/<version>/linux-<arch>" of a known binary
	// and architecture.
	ErrInvalidTarget = errors.New("invalid target path")
	// ErrInvalidChannel: not a channel name (see ValidateChannel).
	ErrInvalidChannel = errors.New("invalid channel name")
	// ErrInvalidCustom: a target's custom metadata is missing, too large, malformed, or
	// disagrees with its target path.
	ErrInvalidCustom = errors.New("invalid target custom metadata")
	// ErrBelowFloor: the version is below the signed floor (min_version) of its binary.
	ErrBelowFloor = errors.New("version below the signed floor")
	// ErrDowngrade: the version is below the installed one and its signed metadata does not
	// allow a downgrade.
	ErrDowngrade = errors.New("downgrade not allowed by signed metadata")
)
