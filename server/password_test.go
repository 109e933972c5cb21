package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPasswordHash: argon2id in PHC format with the named parameters and a fresh salt each time;
// the right password verifies, a wrong or overlong one does not, and a stored hash asking for
// absurd parameters or of another scheme is refused without hashing.
func TestPasswordHash(t *testing.T) {
	ctx := context.Background()
	hs := newHasher()
	h1, err := hs.hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := hs.hash(ctx, "correct horse battery")
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=19456,t=2,p=1$") || h1 == h2 {
		t.Fatalf("hashes %q and %q: want argon2id with the named parameters and distinct salts", h1, h2)
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false,
		strings.Repeat("x", MaxPasswordLen+1): false} {
		if ok, err := hs.verify(ctx, h1, pw); err != nil || ok != want {
			t.Errorf("verify %.20q = %v, %v; want %v", pw, ok, err, want)
		}
	}
	parts := strings.Split(h1, "$")
	for name, bad := range map[string]string{
		"bcrypt":       "$2a$10$abcdefghijklmnopqrstuuvwxyzabcdefghijklmnopqrstuvwxyz01",
		"huge memory":  strings.Join([]string{"", "argon2id", "v=19", "m=4194304,t=2,p=1", parts[4], parts[5]}, "$"),
		"many passes":  strings.Join([]string{"", "argon2id", "v=19", "m=19456,t=100,p=1", parts[4], parts[5]}, "$"),
		"zero threads": strings.Join([]string{"", "argon2id", "v=19", "m=19456,t=2,p=0", parts[4], parts[5]}, "$"),
		"bad salt":     strings.Join([]string{"", "argon2id", "v=19", "m=19456,t=2,p=1", "!!", parts[5]}, "$"),
		"old version":  strings.Join([]string{"", "argon2id", "v=16", "m=19456,t=2,p=1", parts[4], parts[5]}, "$"),
		"empty":        "",
	} {
		if ok, err := hs.verify(ctx, bad, "correct horse battery"); ok || !errors.Is(err, errBadHash) {
			t.Errorf("%s: verify = %v, %v; want errBadHash", name, ok, err)
		}
	}
	for pw, ok := range map[string]bool{"short": false, strings.Repeat("a", MinPasswordLen): true, strings.Repeat("a", MaxPasswordLen+1): false} {
		if err := ValidatePassword(pw); (err == nil) != ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("ValidatePassword(len %d) = %v", len(pw), err)
		}
	}
}

// TestLoginLimiterWindow: failures older than the window are forgotten; a success forgets the
// account's failures but not the address's.
func TestLoginLimiterWindow(t *testing.T) {
	l := newLoginLimiter(3, 5, time.Minute, 10*time.Minute)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	l.fail("bob", "192.0.2.1", t0)
	l.fail("bob", "192.0.2.1", t0.Add(10*time.Second))
	// Past the window, the count starts again: two more failures do not lock.
	l.fail("bob", "192.0.2.1", t0.Add(2*time.Minute))
	if err := l.fail("bob", "192.0.2.2", t0.Add(2*time.Minute+time.Second)); err != nil {
		t.Fatalf("locked after failures spread over two windows: %v", err)
	}
	if err := l.fail("bob", "192.0.2.2", t0.Add(2*time.Minute+2*time.Second)); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("third failure within the window: %v, want a lockout", err)
	}
	var le *LockedOutError
	if err := l.check("bob", "198.51.100.1", t0.Add(5*time.Minute)); !errors.As(err, &le) || !le.Account ||
		!le.Until.Equal(t0.Add(2*time.Minute+2*time.Second+10*time.Minute)) {
		t.Fatalf("check while locked = %v", err)
	}
	if err := l.check("bob", "198.51.100.1", t0.Add(13*time.Minute)); err != nil {
		t.Fatalf("check after the lockout = %v", err)
	}
	// The address has 3 failures (two windows ago) + 2; a success for alice does not clear it.
	l.succeed("alice")
	for i := 0; i < 4; i++ {
		l.fail("x"+string(rune('a'+i)), "192.0.2.9", t0.Add(20*time.Minute))
	}
	if err := l.check("carol", "192.0.2.9", t0.Add(20*time.Minute)); err != nil {
		t.Fatalf("address locked early: %v", err)
	}
	l.succeed("xa")
	if err := l.fail("xz", "192.0.2.9", t0.Add(20*time.Minute)); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("fifth failure from one address: %v, want a lockout", err)
	}
	if err := l.check("carol", "192.0.2.9", t0.Add(21*time.Minute)); !errors.As(err, &le) || le.Account {
		t.Fatalf("another account from the locked address: %v", err)
	}
}
