package api

import "github.com/vigilhq/vigil/wire"

// ErrorResponse is the body of every error answer: {"error": {"code": "...", "message": "..."}}.
// It is wire's envelope: agents and operators get the same shape.
type ErrorResponse = wire.ErrorResponse

// ErrorBody carries a stable machine-readable code and a human-readable message.
type ErrorBody = wire.ErrorBody

// Error codes of the error envelope. Clients branch on these, never on messages.
const (
	CodeInvalid         = "invalid"                  // 400
	CodeTooLarge        = "too_large"                // 413
	CodeUnauthorized    = "unauthorized"             // 401
	CodeForbidden       = "forbidden"                // 403
	CodeNotFound        = "not_found"                // 404
	CodeConflict        = "conflict"                 // 409
	CodeTokenInvalid    = "enrollment_token_invalid" // 401
	CodeGroupNotEmpty   = "group_not_empty"          // 409
	CodeRateLimited     = "rate_limited"             // 429, with Retry-After
	CodeOverloaded      = "overloaded"               // 503, with Retry-After
	CodeInternal        = "internal"                 // 500
	CodeMethod          = "method_not_allowed"       // 405
	CodeUnsupportedType = "unsupported_media_type"   // 415
	CodeTimeout         = "timeout"                  // 408: the request body did not arrive in time; send again
)

// Error codes of the release repository.
const (
	CodeThresholdNotMet    = "threshold_not_met"    // 409
	CodeBadSignature       = "bad_signature"        // 422
	CodeUnknownKey         = "unknown_key"          // 422
	CodeInvalidRoot        = "invalid_root"         // 400
	CodeInvalidMetadata    = "invalid_metadata"     // 400
	CodeOnlineKeys         = "online_keys_mismatch" // 422
	CodeExpired            = "expired"              // 422
	CodeBlobMismatch       = "blob_mismatch"        // 422
	CodeNotInitialized     = "not_initialized"      // 409
	CodeAlreadyInitialized = "already_initialized"  // 409
	CodeReleaseExists      = "release_exists"       // 409
	CodeUnknownRelease     = "unknown_release"      // 404
	CodeNoDraft            = "no_draft"             // 404
	CodeDraftPending       = "draft_pending"        // 409
	CodeStaleDraft         = "stale_draft"          // 409
	CodeBlobMissing        = "blob_missing"         // 409
	CodeNoChange           = "no_change"            // 409
	CodeRepoConflict       = "repo_conflict"        // 409
	CodeNoTargets          = "no_targets"           // 404
	CodeLengthRequired     = "length_required"      // 411
	CodeStagingFull        = "staging_full"         // 413: uploaded, unpublished builds at their limit
)
