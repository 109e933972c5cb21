package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
)

// HoldWriteFunc makes another connection hold what a write to enrollment_tokens needs (SQLite:
// the database's write lock; PostgreSQL: a lock on the table that lets reads through) until
// release is called.
type HoldWriteFunc func(ctx context.Context) (release func(), err error)

// EnrollRefusesWithoutWriting checks that Enroll refuses an unknown, revoked, expired or used-up
// token with a read alone: while another connection holds the write lock, each is refused with
// ErrTokenInvalid at once, where a write transaction would wait. A good token still enrolls once
// the lock is released. s must be a fresh store.
func EnrollRefusesWithoutWriting(t *testing.T, s server.Store, hold HoldWriteFunc) {
	f := &fixture{t: t, s: s, ctx: t.Context()}
	now := t0.Add(time.Hour)
	mk := func(id string, exp time.Time, maxUses, use int, revoked bool) {
		tok := server.EnrollmentToken{ID: id, Group: server.DefaultGroup, ExpiresAt: exp, MaxUses: maxUses, CreatedAt: t0, CreatedBy: "t", Hash: "hash-" + id}
		if err := s.CreateEnrollmentToken(f.ctx, tok, audit("enrollment-token.create", id)); err != nil {
			t.Fatal(err)
		}
		for i := range use {
			h := server.Host{ID: randomID("h"), Hostname: "used", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0", EnrolledAt: now}
			if _, err := s.Enroll(f.ctx, tok.Hash, now, h, randomID("cred")); err != nil {
				t.Fatalf("use %s (%d): %v", id, i, err)
			}
		}
		if revoked {
			if err := s.RevokeEnrollmentToken(f.ctx, id, audit("enrollment-token.revoke", id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("good", now.Add(time.Hour), 1, 0, false)
	mk("revoked", now.Add(time.Hour), 5, 0, true)
	mk("expired", now.Add(-time.Minute), 5, 0, false)
	mk("usedup", now.Add(time.Hour), 1, 1, false)

	release, err := hold(f.ctx)
	if err != nil {
		t.Fatalf("hold the write lock: %v", err)
	}
	held := true
	defer func() {
		if held {
			release()
		}
	}()
	for _, hash := range []string{"hash-unknown", "hash-revoked", "hash-expired", "hash-usedup"} {
		// Far shorter than SQLite's busy timeout or any lock wait: only a read can answer in time.
		ctx, cancel := context.WithTimeout(f.ctx, 3*time.Second)
		h := server.Host{ID: randomID("h"), Hostname: "bad", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0", EnrolledAt: now}
		_, err := s.Enroll(ctx, hash, now, h, randomID("cred"))
		cancel()
		if !errors.Is(err, server.ErrTokenInvalid) {
			t.Errorf("Enroll with %s while the write lock is held: %v, want ErrTokenInvalid without waiting", hash, err)
		}
	}
	release()
	held = false
	h := server.Host{ID: randomID("h"), Hostname: "good", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0", EnrolledAt: now}
	if _, err := s.Enroll(f.ctx, "hash-good", now, h, randomID("cred")); err != nil {
		t.Fatalf("Enroll with a good token after the lock: %v", err)
	}
}
