package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Password hashing: argon2id with the parameters OWASP's password storage cheat sheet gives as its
// first choice (19 MiB, 2 passes, 1 lane), a 16-byte random salt and a 32-byte key, stored in the
// PHC string format so the parameters can be raised later without breaking stored hashes.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonSaltLen   = 16
	argonKeyLen    = 32

	// MinPasswordLen and MaxPasswordLen bound passwords (in bytes). The upper bound keeps hashing
	// an untrusted input cheap.
	MinPasswordLen = 12
	MaxPasswordLen = 1024

	// maxConcurrentHashes bounds argon2 computations in flight (each takes argonMemoryKiB), so a
	// flood of sign-ins cannot exhaust memory; the rest wait.
	maxConcurrentHashes = 4

	// Bounds on the parameters a stored hash may ask for, so a tampered row cannot make a
	// verification allocate without limit.
	maxArgonMemoryKiB = 1 << 20
	maxArgonTime      = 16
)

// errBadHash means a stored password hash could not be parsed.
var errBadHash = errors.New("unrecognised password hash")

// hasher hashes and verifies passwords, at most maxConcurrentHashes at once. It is safe for
// concurrent use.
type hasher struct {
	sem chan struct{}
	// dummy is verified against when a sign-in names no existing user, so the answer takes as
	// long as for a wrong password and does not reveal which names exist.
	dummy func() string
}

func newHasher() *hasher {
	h := &hasher{sem: make(chan struct{}, maxConcurrentHashes)}
	h.dummy = sync.OnceValue(func() string {
		d, _ := h.hash(context.Background(), "not-a-password-of-anyone")
		return d
	})
	return h
}

func (h *hasher) acquire(ctx context.Context) (func(), error) {
	select {
	case h.sem <- struct{}{}:
		return func() { <-h.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ValidatePassword checks a new password's length.
func ValidatePassword(pw string) error {
	switch {
	case len(pw) < MinPasswordLen:
		return fmt.Errorf("%w: a password needs at least %d characters", ErrInvalid, MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("%w: a password may have at most %d bytes", ErrInvalid, MaxPasswordLen)
	}
	return nil
}

// hashPassword returns the PHC-format argon2id hash of pw.
func (h *hasher) hash(ctx context.Context, pw string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	salt := make([]byte, argonSaltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// verifyPassword reports whether pw matches the stored hash, in constant time in the key.
func (h *hasher) verify(ctx context.Context, stored, pw string) (bool, error) {
	parts := strings.Split(stored, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, errBadHash
	}
	var mem, tm uint32
	var th uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &tm, &th); err != nil ||
		mem == 0 || mem > maxArgonMemoryKiB || tm == 0 || tm > maxArgonTime || th == 0 {
		return false, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false, errBadHash
	}
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	got := argon2.IDKey([]byte(pw), salt, tm, mem, th, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
