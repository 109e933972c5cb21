package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// Secret prefixes make a leaked secret recognisable (and greppable by secret scanners).
const (
	prefixCredential = "vgh_" // host credential
	prefixEnrollment = "vge_" // enrollment token
	prefixAPIToken   = "vgt_" // API token
	prefixSession    = "vgs_" // dashboard session ID (the cookie)
)

// newSecret returns prefix + 256 random bits, base64url.
func newSecret(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux (Go 1.24+ panics instead)
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// newID returns a random 16-byte identifier in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// HashSecret returns the hex SHA-256 of a secret, the only form in which secrets are stored.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}
