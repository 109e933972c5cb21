package server

import "errors"

// Sentinel errors callers branch on. Stores and the Service wrap them with context; httpapi maps
// them to statuses.
var (
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("already exists")
	ErrInvalid       = errors.New("invalid request")
	ErrUnauthorized  = errors.New("unauthorized")
	ErrForbidden     = errors.New("forbidden")
	ErrTokenInvalid  = errors.New("enrollment token invalid, expired or used up")
	ErrGroupNotEmpty = errors.New("group still has hosts")
	ErrOverloaded    = errors.New("server overloaded")
	ErrHostRevoked   = errors.New("host credential revoked")
	// ErrLastAdmin: the change would leave no user with the admin role.
	ErrLastAdmin = errors.New("no admin user would be left")
)
