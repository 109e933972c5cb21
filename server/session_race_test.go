package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigilhq/vigil/server"
	"github.com/vigilhq/vigil/server/sqlitestore"
)

type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestSessionFromBeforePasswordChange: a sign-in that was checking the old password while the
// password changed stores its session after the change ended the others; that session must not
// work, or someone who knew the old password keeps a session for up to SessionMax.
func TestSessionFromBeforePasswordChange(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &stepClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	svc, err := server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateUser(ctx, admin, "bob", server.RoleOperator, "bob's old long password")
	if err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute)
	started := clk.now() // the racing sign-in read the user and started verifying here
	clk.add(time.Second)
	if err := svc.SetPassword(ctx, admin, "bob", "", "bob's new long password"); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Second)
	const id = "vgs_racingsignin0000000000000000000000000000"
	if err := st.CreateSession(ctx, server.Session{IDHash: server.HashSecret(id), UserID: u.ID, CreatedAt: started, LastSeen: started}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateSession(ctx, id, "192.0.2.1"); !errors.Is(err, server.ErrUnauthorized) {
		t.Fatalf("a session started before the password change: %v, want ErrUnauthorized", err)
	}
	// A sign-in with the new password works.
	sid, _, err := svc.Login(ctx, "bob", "bob's new long password", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateSession(ctx, sid, "192.0.2.1"); err != nil {
		t.Fatalf("a session started after the change: %v", err)
	}
}

// TestPasswordChangeGuessesLimited: the current-password check of a password change counts as a
// failed sign-in, so a stolen session or token cannot guess the password at hashing speed; an
// admin's reset ends the account's lockout.
func TestPasswordChangeGuessesLimited(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateUser(ctx, admin, "carol", server.RoleViewer, "carol's real long password")
	if err != nil {
		t.Fatal(err)
	}
	carol := server.Principal{Name: "carol", Role: server.RoleViewer, UserID: u.ID, User: "carol", Address: "192.0.2.5"}
	for i := range server.DefaultLoginMaxFailuresUser {
		err := svc.SetPassword(ctx, carol, "carol", fmt.Sprintf("guess %d", i), "a brand new long password")
		if !errors.Is(err, server.ErrForbidden) {
			t.Fatalf("guess %d: %v, want ErrForbidden", i, err)
		}
	}
	err = svc.SetPassword(ctx, carol, "carol", "carol's real long password", "a brand new long password")
	if !errors.Is(err, server.ErrLockedOut) {
		t.Fatalf("the right password after %d wrong ones: %v, want a lockout", server.DefaultLoginMaxFailuresUser, err)
	}
	if _, _, err := svc.Login(ctx, "carol", "carol's real long password", "198.51.100.1"); !errors.Is(err, server.ErrLockedOut) {
		t.Fatalf("sign-in while locked out: %v", err)
	}
	if err := svc.SetPassword(ctx, admin, "carol", "", "reset by an admin, long enough"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Login(ctx, "carol", "reset by an admin, long enough", "198.51.100.1"); err != nil {
		t.Fatalf("sign-in after an admin's reset: %v", err)
	}
}
