package server

import (
	"context"
	"errors"
	"fmt"
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

// TestLoginLimiterIPv6Prefix: addresses of one IPv6 /64 count together (a host rotating through
// its /64 is one address); IPv4 addresses count alone.
func TestLoginLimiterIPv6Prefix(t *testing.T) {
	l := newLoginLimiter(100, 3, time.Minute, 10*time.Minute)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"} {
		l.fail("u"+string(rune('a'+i)), a, t0)
	}
	if err := l.check("someone", "2001:db8:1:2::77", t0); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("another address of the same /64: %v, want locked out", err)
	}
	if err := l.check("someone", "2001:db8:1:3::1", t0); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	if got := addrKey("192.0.2.7"); got != "192.0.2.7" {
		t.Errorf("addrKey(IPv4) = %q", got)
	}
}

// TestLoginLimiterFullKeepsLockouts: when the table is full, counts that lock nothing make room;
// a running lockout is never dropped, so flooding the table with names does not lift it.
func TestLoginLimiterFullKeepsLockouts(t *testing.T) {
	l := newLoginLimiter(2, 1<<30, time.Hour, time.Hour)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	l.fail("victim", "", t0)
	l.fail("victim", "", t0)
	for i := range maxLoginTracked + 10 {
		l.fail(fmt.Sprintf("flood-%d", i), "", t0)
	}
	if err := l.check("victim", "", t0.Add(time.Minute)); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("lockout lifted by a flood of names: %v", err)
	}
	if n := len(l.users); n > maxLoginTracked {
		t.Fatalf("table grew to %d entries", n)
	}
}
